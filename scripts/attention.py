"""How concentrated an AFM or INN run's pair attention is (not a test): the softmax over the P field pairs, on
validation rows, from the run's checkpoint.pt (its last epoch) or model.pt (its best).

    python scripts/attention.py RUN_DIR RUN [RUN ...] [--weights checkpoint|best] [--rows 4096]

Prints per run: its epoch, the attention's mean entropy in nats (uniform attention: log P; one pair: 0), the mean
weight of each row's largest pair (uniform: 1/P), and the mean L2 norm of the embeddings g_i the pairs multiply.
With uniform attention AFM and INN are FM with a re-weighting; attention piled onto one pair a row uses one
interaction of the 45 (Frappe) and passes little gradient to the others.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def concentration(run_dir: Path, run: str, weights: str, rows: int) -> dict:
    """{epoch, entropy, log_p, top, norm} of run RUN_DIR/models/RUN's attention on its first `rows` validation rows."""
    import torch

    from bench import run_setup  # scripts/bench.py, beside this file
    from gemcli.nn.layers import pair_products
    from gemcli.runs import load_checkpoint

    base = json.loads((run_dir / "models" / run / "config.json").read_text())["model"]["base"]
    if base not in ("afm", "inn"):
        raise SystemExit(f"{run}: base {base} has no pair attention (afm, inn have)")
    setup, folder = run_setup(run_dir, run)
    path = folder / ("checkpoint.pt" if weights == "checkpoint" else "model.pt")
    if not path.is_file():
        raise SystemExit(f"{path}: missing (a finished run keeps model.pt only: --weights best)")
    saved = load_checkpoint(path, "cpu")
    setup.model.load_state_dict(saved["model"] if "model" in saved else saved)
    model = setup.model.eval()
    x = setup.splits["valid"][0][:rows]
    with torch.no_grad():
        e = model.embedder(x)  # [B, F, D]
        a = model.attention(pair_products(e)).squeeze(-1)  # [B, P]
        entropy = -(a * a.clamp_min(1e-30).log()).sum(dim=1)
    return {
        "epoch": saved.get("epoch", "best") if isinstance(saved, dict) else "best",
        "entropy": float(entropy.mean()),
        "log_p": math.log(a.shape[1]),
        "top": float(a.max(dim=1).values.mean()),
        "uniform": 1 / a.shape[1],
        "norm": float(e.norm(dim=-1).mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--weights", choices=["checkpoint", "best"], default="checkpoint")
    ap.add_argument("--rows", type=int, default=4096)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    for run in a.runs:
        c = concentration(a.run_dir, run, a.weights, a.rows)
        print(
            f"{run} (epoch {c['epoch']}): attention entropy {c['entropy']:.2f} nats (uniform {c['log_p']:.2f}), "
            f"largest pair's weight {c['top']:.3f} (uniform {c['uniform']:.3f}), embedding norm {c['norm']:.2f}"
        )


if __name__ == "__main__":
    main()
