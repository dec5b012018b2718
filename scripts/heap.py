"""What glibc's heap trimming costs a training step on the CPU: a run's checkpoint, trimmed at 1 GiB and never
(not a test).

    python scripts/heap.py RUN_DIR RUN [--steps 8] [--repeats 2] [--threads 2]

RUN is a run in RUN_DIR/models with a checkpoint.pt. Each measurement is a fresh process set up as `gem` sets itself
up (gemcli/allocator.py's mmap threshold of 1 GiB, then set_threads), with the trim threshold at 1 GiB (gemcli up to
0.4.3) or never (gem's now), the two in turn `--repeats` times. Each times `--steps` training steps from the
checkpoint's state (after one untimed; scripts/bench.py's checkpoint_steps) and counts the process's minor page
faults over them. A step whose freed temporaries exceed the trim threshold gives them back to the system and faults
them in again at the next step. Prints seconds and page faults a step per measurement and the ratio of the mean
seconds. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

MODES = {"1GiB": 1 << 30, "never": -1}  # the trim threshold given to mallopt (-1: glibc's never)


def child(run_dir: Path, run: str, mode: str, steps: int, threads: int) -> None:
    """One measurement in this process: print seconds and minor page faults a step."""
    from gemcli.allocator import raise_thresholds
    from gemcli.runtime import set_threads

    if not raise_thresholds(trim=MODES[mode]):
        sys.exit("glibc's thresholds not applied (not glibc, or MALLOC_*_THRESHOLD_ / GEM_MALLOC set)")
    set_threads(threads)

    from bench import checkpoint_steps  # scripts/bench.py, beside this file

    seconds, faults = checkpoint_steps(run_dir, run, steps)
    print(f"{seconds:.4f} {faults:.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("run")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", choices=list(MODES), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.run_dir, a.run, a.child, a.steps, a.threads)
        return
    path = a.run_dir / "models" / a.run / "checkpoint.pt"
    if not path.is_file():
        sys.exit(f"{path}: no checkpoint (a finished run keeps none; take an unfinished or interrupted one)")
    print(f"{a.run}: {a.steps} steps a measurement, {a.threads} threads")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GEM_MALLOC"}
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for r in range(a.repeats):
        for mode in MODES:
            cmd = [sys.executable, __file__, str(a.run_dir), a.run, "--child", mode]
            cmd += ["--steps", str(a.steps), "--threads", str(a.threads)]
            seconds, faults = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.split()
            times[mode].append(float(seconds))
            print(f"  round {r + 1}: trim {mode:5} {float(seconds):.3f} s a step, {int(faults):,} page faults a step")
    mean = {m: statistics.mean(v) for m, v in times.items()}
    print(
        f"mean s a step: trimmed at 1 GiB {mean['1GiB']:.3f}, never trimmed {mean['never']:.3f}; "
        f"1 GiB / never {mean['1GiB'] / mean['never']:.2f}"
    )


if __name__ == "__main__":
    main()
