"""What bounding evaluation batches by a model's widest tensor (gemcli.train.eval_rows) costs and saves: a run's
checkpoint evaluated as an epoch ends, in batches of its eval_batch_size (65,536 rows: gemcli 0.4.3) and in
eval_rows' under each byte bound given (not a test).

    python scripts/eval_batch.py RUN_DIR RUN [--mib 64,128,256,...] [--evals 2] [--repeats 2] [--threads 2]

RUN is a run in RUN_DIR/models with a checkpoint.pt. Each measurement is a fresh process set up as `gem` sets
itself up (allocator, threads) that loads the checkpoint's weights, evaluates the validation and test splits once
untimed (GEM's table, first touches), then `--evals` times, timed; it reports seconds an evaluation, the resident
set's peak over the timed ones (VmHWM, reset after the untimed one) and the metrics. Settings in turn, `--repeats`
rounds:
  65536:  batches of the config's eval_batch_size (eval_rows' byte bound lifted);
  N MiB:  eval_rows' batches with the widest tensor under N MiB (default: gem's own, train.EVAL_TENSOR_BYTES).
Prints each measurement, then each setting's means against 65536's, and whether the settings' metrics agree. Run
it on an otherwise idle machine.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

UNBOUNDED = "65536"


def child(run_dir: Path, run: str, mode: str, evals: int, threads: int) -> None:
    """One measurement in this process: print its figures as JSON."""
    from gemcli.allocator import raise_thresholds
    from gemcli.runtime import start_compute

    raise_thresholds()
    start_compute(threads)

    import torch

    from bench import run_setup  # scripts/bench.py, beside this file
    from gemcli import train
    from gemcli.memory import peak_rss_mib, reset_peak
    from gemcli.runs import load_checkpoint

    train.EVAL_TENSOR_BYTES = 1 << 62 if mode == UNBOUNDED else int(mode) << 20  # 1 << 62: eval_batch_size rows
    setup, folder = run_setup(run_dir, run)
    cfg = setup.cfg
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
    from gemcli.train import EVAL_TENSOR_BYTES

    ap = checkpoint_parser(__doc__ or "", None)
    ap.add_argument("--mib", default=str(EVAL_TENSOR_BYTES >> 20), help="byte bounds to measure, MiB, comma-separated")
    ap.add_argument("--evals", type=int, default=2)
    a = ap.parse_args()
    if a.child:
        child(a.run_dir, a.run, a.child, a.evals, a.threads)
        return
    if a.evals < 1:
        sys.exit("--evals: at least 1")
    try:
        bounds = [str(int(m)) for m in a.mib.split(",")]
    except ValueError:
        sys.exit(f"--mib {a.mib!r}: expected whole MiB, comma-separated, e.g. 64,128")
    checkpoint_or_exit(a)
    modes = [UNBOUNDED, *bounds]
    print(f"{a.run}: {a.evals} evaluations (validation and test splits) a measurement, {a.threads} threads")
    got: dict[str, list[dict]] = {m: [] for m in modes}
    for r, mode, line in measurements(__file__, a, modes, lambda _: None, ("--evals", str(a.evals))):
        m = json.loads(line)
        got[mode].append(m)
        label = "65536 rows" if mode == UNBOUNDED else f"{mode} MiB"
        print(
            f"  round {r}: {label:>10}: batches of {m['rows']:,} rows, evaluation {m['eval_s']:.2f} s, "
            f"peak resident set {m['peak_mib']:,.0f} MiB",
            flush=True,
        )
    mean = {mode: {k: statistics.mean(x[k] for x in got[mode]) for k in ("eval_s", "peak_mib")} for mode in modes}
    base = mean[UNBOUNDED]
    print(f"mean, 65536 rows: evaluation {base['eval_s']:.2f} s, peak {base['peak_mib']:,.0f} MiB")
    for mode in bounds:
        gap = max(
            abs(got[UNBOUNDED][0][split][k] - got[mode][0][split][k])
            for split in ("valid", "test")
            for k in got[UNBOUNDED][0][split]
        )
        print(
            f"mean, {mode} MiB ({got[mode][0]['rows']:,} rows): evaluation {mean[mode]['eval_s']:.2f} s "
            f"({base['eval_s'] / mean[mode]['eval_s']:.2f}x 65536's speed), peak {mean[mode]['peak_mib']:,.0f} MiB "
            f"({base['peak_mib'] / mean[mode]['peak_mib']:.2f}x less); metrics differ from 65536's by at most {gap:.1e}"
        )


if __name__ == "__main__":
    main()
