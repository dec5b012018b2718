"""What denormal floats cost a training step on the CPU: a run's checkpoint, with them kept and flushed (not a test).

    python scripts/denormals.py RUN_DIR RUN [--steps 8] [--repeats 2] [--threads 2]

RUN is a run in RUN_DIR/models with a checkpoint.pt (an unfinished or interrupted run: its weights and its
optimiser's moments after its last epoch). Each measurement is a fresh process (the flag is per thread and
inherited by the threads torch starts, so it must be set before them): GEM_DENORMALS=keep, then =flush (`gem`'s
default), then the same model freshly initialised (no denormals yet), `--repeats` times in turn. Each times
`--steps` training steps (after one untimed) on the first batches of a seeded shuffle of the run's training
split (scripts/bench.py's), from the checkpoint's state. Prints the denormal values in the checkpoint, seconds a
step per measurement, and the ratios of the means. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

MODES = ("keep", "flush", "fresh")


def child(run_dir: Path, run: str, mode: str, steps: int, threads: int) -> None:
    """One measurement in this process: print seconds a step."""
    from gemcli.runtime import start_compute

    start_compute(threads)  # flushes denormals (or not: GEM_DENORMALS) before torch starts its threads

    from bench import checkpoint_steps  # scripts/bench.py, beside this file

    print(f"{checkpoint_steps(run_dir, run, steps, from_checkpoint=mode != 'fresh')['step_s']:.4f}")


def denormal_counts(ck: dict) -> list[str]:
    """'name: n of m' for each tensor of a checkpoint's model and optimiser holding denormal values."""
    import torch

    tiny = torch.finfo(torch.float32).tiny
    out: list[str] = []

    def walk(obj: object, name: str) -> None:
        if isinstance(obj, torch.Tensor) and obj.is_floating_point():
            n = int(((obj.abs() < tiny) & (obj != 0)).sum())
            if n:
                out.append(f"{name}: {n:,} of {obj.numel():,}")
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{name}.{k}" if name else str(k))
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(v, f"{name}[{i}]")

    walk({"model": ck["model"], "optimizer": ck["optimizer"]}, "")
    return out


def main() -> None:
    from bench import checkpoint_or_exit, checkpoint_parser, measurements  # scripts/bench.py, beside this file

    a = checkpoint_parser(__doc__ or "", list(MODES)).parse_args()
    if a.child:
        child(a.run_dir, a.run, a.child, a.steps, a.threads)
        return
    from gemcli.runs import load_checkpoint

    ck = load_checkpoint(checkpoint_or_exit(a), "cpu")
    print(f"{a.run} after epoch {ck['epoch']}; {a.steps} steps a measurement, {a.threads} threads")
    counts = denormal_counts(ck)
    print("denormal values in the checkpoint: " + ("; ".join(counts) if counts else "none"))
    times: dict[str, list[float]] = {m: [] for m in MODES}

    def env_of(mode: str) -> dict[str, str]:
        return {**os.environ, "GEM_DENORMALS": "keep" if mode == "keep" else "flush"}

    for r, mode, line in measurements(__file__, a, list(MODES), env_of):
        times[mode].append(float(line))
        print(f"  round {r}: {mode:5} {times[mode][-1]:.3f} s a step", flush=True)
    mean = {m: statistics.mean(v) for m, v in times.items()}
    print(
        f"mean s a step: kept {mean['keep']:.3f}, flushed {mean['flush']:.3f}, fresh model {mean['fresh']:.3f}; "
        f"kept / flushed {mean['keep'] / mean['flush']:.2f}, flushed / fresh {mean['flush'] / mean['fresh']:.2f}"
    )


if __name__ == "__main__":
    main()
