"""What glibc's allocator settings cost training on the CPU: a run's checkpoint, a step and an evaluation under
gemcli 0.4.3's settings and under today's (not a test).

    python scripts/heap.py RUN_DIR RUN [--steps 8] [--evals 2] [--repeats 2] [--threads 2]

RUN is a run in RUN_DIR/models with a checkpoint.pt. Each measurement is a fresh process set up as `gem` sets itself
up (gemcli/allocator.py's raise_thresholds, then start_compute), in turn `--repeats` times:
  0.4.3: mmap threshold 1 GiB, trim threshold 1 GiB;
  now:   mmap threshold 2 GiB - 1 (mallopt's largest), trimming off (gem's default since).
Each times `--steps` training steps from the checkpoint's state (after one untimed) and then `--evals` evaluations
of the validation and test splits as an epoch ends (scripts/bench.py's checkpoint_steps), counting the process's
minor page faults over each. A step whose freed temporaries exceed the trim threshold gives them back to the
system and faults them in again at the next; a block above the mmap threshold is mapped afresh each time. Prints
seconds and page faults per measurement, then the ratios of the means, and an epoch's estimate (the training
split's steps and one evaluation). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

from gemcli.allocator import NEVER, THRESHOLD

MODES = {"0.4.3": (1 << 30, 1 << 30), "now": (THRESHOLD, NEVER)}  # (mmap, trim threshold) for raise_thresholds


def child(run_dir: Path, run: str, mode: str, steps: int, evals: int, threads: int) -> None:
    """One measurement in this process: print its figures as JSON."""
    from gemcli.allocator import raise_thresholds
    from gemcli.runtime import start_compute

    mmap, trim = MODES[mode]
    if not raise_thresholds(mmap, trim):
        sys.exit("glibc's thresholds not applied (not glibc, or MALLOC_*_THRESHOLD_ / GEM_MALLOC set)")
    start_compute(threads)

    from bench import checkpoint_steps  # scripts/bench.py, beside this file

    print(json.dumps(checkpoint_steps(run_dir, run, steps, evals=evals)))


def main() -> None:
    from bench import checkpoint_or_exit, checkpoint_parser, measurements  # scripts/bench.py, beside this file

    ap = checkpoint_parser(__doc__ or "", list(MODES))
    ap.add_argument("--evals", type=int, default=2)
    a = ap.parse_args()
    if a.child:
        child(a.run_dir, a.run, a.child, a.steps, a.evals, a.threads)
        return
    if a.evals < 1:
        sys.exit("--evals: at least 1")
    checkpoint_or_exit(a)
    print(f"{a.run}: {a.steps} steps and {a.evals} evaluations a measurement, {a.threads} threads")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GEM_MALLOC"}
    got: dict[str, list[dict]] = {m: [] for m in MODES}
    for r, mode, line in measurements(__file__, a, list(MODES), lambda _: env, ("--evals", str(a.evals))):
        m = json.loads(line)
        got[mode].append(m)
        print(
            f"  round {r}: {mode:5} step {m['step_s']:.3f} s, {m['step_faults']:,.0f} page faults; "
            f"evaluation {m['eval_s']:.2f} s, {m['eval_faults']:,.0f} page faults",
            flush=True,
        )
    mean = {mode: {k: statistics.mean(x[k] for x in v) for k in v[0]} for mode, v in got.items()}
    old, now = mean["0.4.3"], mean["now"]
    meta = json.loads((a.run_dir / "data" / "meta.json").read_text())
    cfg = json.loads((a.run_dir / "models" / a.run / "config.json").read_text())
    n_steps = -(-int(meta["counts"]["train"]) // int(cfg["train"]["batch_size"]))
    epoch = {k: n_steps * v["step_s"] + v["eval_s"] for k, v in mean.items()}
    print(
        f"mean: step 0.4.3 {old['step_s']:.3f} s, now {now['step_s']:.3f} s ({old['step_s'] / now['step_s']:.2f}x); "
        f"evaluation 0.4.3 {old['eval_s']:.2f} s, now {now['eval_s']:.2f} s ({old['eval_s'] / now['eval_s']:.2f}x); "
        f"an epoch ({n_steps} steps and an evaluation) 0.4.3 {epoch['0.4.3']:.1f} s, now {epoch['now']:.1f} s "
        f"({epoch['0.4.3'] / epoch['now']:.2f}x)"
    )


if __name__ == "__main__":
    main()
