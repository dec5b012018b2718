"""What bounding evaluation batches by a model's widest tensor (gemcli.train.eval_rows) costs and saves: a run's
checkpoint evaluated as an epoch ends, in batches of its eval_batch_size (65,536 rows: gemcli 0.4.3) and in
eval_rows' (not a test).

    python scripts/eval_batch.py RUN_DIR RUN [--evals 2] [--repeats 2] [--threads 2]

RUN is a run in RUN_DIR/models with a checkpoint.pt. Each measurement is a fresh process set up as `gem` sets
itself up (allocator, threads) that loads the checkpoint's weights, evaluates the validation and test splits once
untimed (GEM's table, first touches), then `--evals` times, timed; it reports seconds an evaluation, the resident
set's peak over the timed ones (VmHWM, reset after the untimed one) and the metrics. Modes in turn, `--repeats`
rounds:
  65536:   batches of the config's eval_batch_size (eval_rows' byte bound lifted);
  bounded: eval_rows' batches (gem's default since).
Prints each measurement, then the ratios of the means, and whether the two modes' metrics agree. Run it on an
otherwise idle machine.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

MODES = ("65536", "bounded")


def child(run_dir: Path, run: str, mode: str, evals: int, threads: int) -> None:
    """One measurement in this process: print its figures as JSON."""
    from gemcli.allocator import raise_thresholds
    from gemcli.runtime import set_threads

    raise_thresholds()
    set_threads(threads)

    import torch

    from gemcli import train
    from gemcli.config import RunConfig
    from gemcli.memory import peak_rss_mib, reset_peak
    from gemcli.runs import load_checkpoint

    if mode == "65536":
        train.EVAL_TENSOR_BYTES = 1 << 62  # eval_rows gives the config's eval_batch_size
    folder = run_dir / "models" / run
    cfg = RunConfig.from_dict(json.loads((folder / "config.json").read_text()))
    setup = train._setup(run_dir, cfg, folder, new=False)
    setup.model.load_state_dict(load_checkpoint(folder / "checkpoint.pt", "cpu")["model"])
    setup.model.eval()
    train._evaluate_epoch(setup)
    reset_peak(torch.device("cpu"))
    t0 = time.perf_counter()
    for _ in range(evals):
        valid, test = train._evaluate_epoch(setup)
    rows = train.eval_rows(setup.model, setup.splits["valid"][0].shape[1], cfg.train.eval_batch_size)
    out = {"eval_s": (time.perf_counter() - t0) / evals, "peak_mib": peak_rss_mib(), "rows": rows}
    print(json.dumps(out | {"valid": valid, "test": test}))


def main() -> None:
    from bench import checkpoint_or_exit, checkpoint_parser, measurements  # scripts/bench.py, beside this file

    ap = checkpoint_parser(__doc__ or "", list(MODES))
    ap.add_argument("--evals", type=int, default=2)
    a = ap.parse_args()
    if a.child:
        child(a.run_dir, a.run, a.child, a.evals, a.threads)
        return
    if a.evals < 1:
        sys.exit("--evals: at least 1")
    checkpoint_or_exit(a)
    print(f"{a.run}: {a.evals} evaluations (validation and test splits) a measurement, {a.threads} threads")
    got: dict[str, list[dict]] = {m: [] for m in MODES}
    for r, mode, line in measurements(__file__, a, list(MODES), lambda _: None, ("--evals", str(a.evals))):
        m = json.loads(line)
        got[mode].append(m)
        print(
            f"  round {r}: {mode:7} batches of {m['rows']:,} rows: evaluation {m['eval_s']:.2f} s, "
            f"peak resident set {m['peak_mib']:,.0f} MiB",
            flush=True,
        )
    old, new = ({k: statistics.mean(x[k] for x in got[mode]) for k in ("eval_s", "peak_mib")} for mode in MODES)
    gap = max(
        abs(got["65536"][0][split][k] - got["bounded"][0][split][k])
        for split in ("valid", "test")
        for k in got["65536"][0][split]
    )
    print(
        f"mean: evaluation 65536 {old['eval_s']:.2f} s, bounded {new['eval_s']:.2f} s "
        f"({old['eval_s'] / new['eval_s']:.2f}x); peak 65536 {old['peak_mib']:,.0f} MiB, bounded "
        f"{new['peak_mib']:,.0f} MiB ({old['peak_mib'] / new['peak_mib']:.2f}x); metrics differ by at most {gap:.1e}"
    )


if __name__ == "__main__":
    main()
