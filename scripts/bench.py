"""Training throughput of gemcli's FM and GEM+FM against pytorch-fm (torchfm) on the same tensors.

Not a test: it prints figures and writes bench/results.md. Usage (after `make install`):

    python scripts/bench.py [--frappe PATH/Mobile_Frappe.zip] [--steps 40] [--threads N]

Every model trains on the same Frappe training tensors, same batches (4096), d=256, in this one
process; samples/s is measured over `--steps` optimiser steps after 5 warm-up steps.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def prepare_frappe(source: Path | None, work: Path) -> tuple[Path, float]:
    from typer.testing import CliRunner

    from gemcli.cli import app

    args = ["preprocess", "frappe", "--run-dir", str(work)] + (["--source", str(source)] if source else [])
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, args)
    seconds = time.perf_counter() - t0
    if res.exit_code != 0:
        sys.exit(res.output)
    res = CliRunner().invoke(app, ["build-graph", "--type", "a", "--run-dir", str(work)])
    if res.exit_code != 0:
        sys.exit(res.output)
    return work, seconds


def time_steps(step, n_batches: int, steps: int) -> float:
    """samples/s over `steps` calls of step(b) after 5 warm-up calls."""
    for b in range(5):
        step(b % n_batches)
    t0 = time.perf_counter()
    for b in range(5, 5 + steps):
        step(b % n_batches)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frappe", type=Path, default=None)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from gemcli import rundir
    from gemcli.config import ModelConfig, TrainConfig
    from gemcli.train import build_model, load_split, make_optimizer, train_step

    work = Path(tempfile.mkdtemp(prefix="gem-bench-"))
    run, prep_s = prepare_frappe(args.frappe, work / "frappe")
    meta = rundir.read_json(run / "data" / "meta.json")
    x, y = load_split(run, "train", meta)
    bs = args.batch_size
    n_batches = len(y) // bs
    perm = torch.from_numpy(np.random.default_rng(0).permutation(len(y)))
    batches = [(x[perm[b * bs:(b + 1) * bs]], y[perm[b * bs:(b + 1) * bs]]) for b in range(n_batches)]
    rows: list[tuple[str, float]] = []

    tcfg = TrainConfig()
    for label, gem in (("gemcli FM", False), ("gemcli GEM+FM", True)):
        torch.manual_seed(0)
        mcfg = ModelConfig(base="fm", gem=gem, embedding_size=args.dim)
        model = build_model(run, mcfg, meta)
        opt = make_optimizer(model, tcfg, False)
        rate = time_steps(lambda b, m=model, o=opt: train_step(m, o, *batches[b], tcfg), n_batches, args.steps)
        rows.append((label, rate * bs))
        print(f"{label:28s} {rate * bs:12,.0f} samples/s", flush=True)

    try:
        np.long = np.int64  # torchfm 0.7.0 uses np.long, removed in NumPy 1.24
        from torchfm.model.fm import FactorizationMachineModel
    except ImportError:
        FactorizationMachineModel = None
        print("torchfm not installed (pip install -e '.[bench]'); skipping the peer")
    if FactorizationMachineModel is not None:
        cards = [meta["cardinalities"][f] for f in meta["fields"]]
        offsets = torch.tensor([meta["offsets"][f] for f in meta["fields"]])
        local = [(xb - offsets, (yb + 1) / 2) for xb, yb in batches]  # torchfm adds its own offsets; sigmoid output
        torch.manual_seed(0)
        peer = FactorizationMachineModel(np.array(cards), args.dim)
        popt = torch.optim.Adam(peer.parameters(), lr=1e-3)
        mse = torch.nn.MSELoss()

        def peer_step(b: int) -> None:
            xb, yb = local[b]
            loss = mse(peer(xb), yb)
            popt.zero_grad()
            loss.backward()
            popt.step()

        rate = time_steps(peer_step, n_batches, args.steps)
        rows.append(("pytorch-fm FM (torchfm 0.7.0)", rate * bs))
        print(f"{'pytorch-fm FM':28s} {rate * bs:12,.0f} samples/s", flush=True)

    rates = dict(rows)
    lines = [
        "# gemcli training throughput (Frappe)",
        "",
        f"Command: `python scripts/bench.py --steps {args.steps}`; batch {bs}, d={args.dim}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs.",
        "",
        f"Frappe preprocessing end to end (read archive, sample negatives, split, write): {prep_s:.2f} s",
        "",
        "| model | samples/s | vs pytorch-fm FM |",
        "|---|---:|---:|",
    ]
    peer_rate = rates.get("pytorch-fm FM (torchfm 0.7.0)")
    for label, r in rows:
        lines.append(f"| {label} | {r:,.0f} | {r / peer_rate:.2f}x |" if peer_rate else f"| {label} | {r:,.0f} | - |")
    lines += ["", f"GEM+FM time per sample / FM time per sample: {rates['gemcli FM'] / rates['gemcli GEM+FM']:.2f}"]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
