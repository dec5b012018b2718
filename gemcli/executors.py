"""Where runs execute: `--executor local` (this machine: in this process, or `--jobs N` processes) or
`--executor ray` (the tasks of a Ray cluster, gemcli.cluster). Sweeps hand over their points, `gem tune`
its workers; both get the same behaviour whatever the executor:

- a point is a normal run folder brought to its end by train.fit_or_resume, so a point started again
  (a lost worker, a Ctrl-C'd sweep run again) resumes from its last checkpoint;
- one point, one folder, one lock: a second writer stops at once, so no result is written twice;
- `on_done(folder, summary, where)` is called on the driver once per point that ended.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

from gemcli.config import RunConfig
from gemcli.runs import ENDED

EXECUTORS = ("local", "ray")


class PointInterrupted(Exception):
    """A point stopped before its end (Ctrl-C): the caller stops; nothing unfinished enters its results."""


@dataclass(frozen=True)
class ExecutorSpec:
    """How runs are spread: the executor's name and its resources."""

    kind: Literal["local", "ray"] = "local"
    jobs: int = 1  # local: processes side by side (1: in this process); ray: most tasks at once (0: no limit)
    threads: int | None = None  # torch threads per run (local; ray: cpus_per_run)
    ray_address: str = "auto"
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0

    def run_threads(self) -> int | None:
        """torch's threads in each run: as given, else cores/jobs for parallel local runs, else the default."""
        if self.threads:
            return self.threads
        if self.kind == "ray":
            return max(1, int(self.cpus_per_run))
        return max(1, (os.cpu_count() or 1) // self.jobs) if self.jobs > 1 else None

    def describe(self) -> str:
        if self.kind == "ray":
            return (
                f"Ray cluster at {self.ray_address}, {self.cpus_per_run:g} CPU"
                + (f" and {self.gpus_per_run:g} GPU" if self.gpus_per_run else "")
                + " per run"
            )
        return f"{self.jobs} local processes" if self.jobs > 1 else "this process"


Point = tuple[RunConfig, Path]
OnDone = Callable[[Path, dict[str, Any], str], None]


def run_point(run_dir: str, cfg: dict[str, Any], folder: str, threads: int | None) -> dict[str, Any]:
    """Bring one point to its end (a fresh run, or resumed from its checkpoint); its summary."""
    from gemcli import train
    from gemcli.runtime import set_threads

    set_threads(threads)
    return train.fit_or_resume(Path(run_dir), RunConfig.from_dict(cfg), Path(folder), quiet=True)


def _in_worker(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) in a pool worker; a worker SIGTERM interrupted ends once fn has saved its work (its driver is
    stopping or gone: nothing more should start in it)."""
    from gemcli.runtime import terminated

    try:
        return fn(*args)
    finally:
        if terminated():
            os._exit(143)


def _die_with_parent() -> None:
    """Worker initialiser: SIGTERM interrupts the worker's point as Ctrl-C does (saved, resumable), and (Linux) the
    worker gets SIGTERM when the driver's process dies, however it dies."""
    import ctypes
    import signal

    from gemcli.runtime import stop_on_sigterm

    stop_on_sigterm()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def _local_pool(n: int) -> ProcessPoolExecutor:
    """n fresh worker processes (spawned: no torch state inherited) that end when the driver does."""
    return ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"), initializer=_die_with_parent)


def _stop_workers(pool: ProcessPoolExecutor, grace: float = 5.0) -> None:
    """The driver was interrupted: workers a Ctrl-C reached too have `grace` seconds to save their points; the
    others (the driver alone got SIGTERM, or SIGINT is ignored as in a background job) get SIGTERM, which
    interrupts their points the same way. Then no point waits for a worker."""
    import time

    procs = list((getattr(pool, "_processes", None) or {}).values())
    deadline = time.monotonic() + grace
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def prepare(run_dir: Path, spec: ExecutorSpec) -> None:
    """Reach the executor before anything is written (ray: join the cluster, check every node sees the run
    directory); one line if it cannot be reached."""
    if spec.kind == "ray":
        from gemcli.cluster import start

        start(spec, Path(run_dir))


def run_points(run_dir: Path, points: Sequence[Point], spec: ExecutorSpec, on_done: OnDone) -> None:
    """Bring every point to its end on the executor; on_done once per ended point. A point that stops
    unfinished raises PointInterrupted (the others already ended stay reported)."""
    if not points:
        return
    threads = spec.run_threads()

    def ended(folder: Path, summary: dict[str, Any], where: str) -> None:
        if summary.get("status") not in ENDED:
            raise PointInterrupted(folder.name)
        on_done(folder, summary, where)

    if spec.kind == "ray":
        from gemcli.cluster import run_points_on_ray

        run_points_on_ray(Path(run_dir), points, spec, ended, run_point)
        return
    if spec.jobs <= 1:
        for cfg, folder in points:
            ended(folder, run_point(str(run_dir), cfg.to_dict(), str(folder), threads), "this process")
        return
    with _local_pool(spec.jobs) as pool:
        futures = {
            pool.submit(_in_worker, run_point, str(run_dir), cfg.to_dict(), str(folder), threads): folder
            for cfg, folder in points
        }
        try:
            for fut in as_completed(futures):
                ended(futures[fut], fut.result(), "a local process")
        except KeyboardInterrupt:
            _stop_workers(pool)
            raise


def run_workers(fn: Callable[..., Any], args: tuple[Any, ...], n: int, spec: ExecutorSpec) -> None:
    """Run fn(*args) n times side by side (gem tune's workers, each pulling trials from the study until it
    has enough): in this process when n is 1 locally, else in local processes or Ray tasks."""
    if spec.kind == "ray":
        from gemcli.cluster import run_workers_on_ray

        run_workers_on_ray(fn, args, n, spec)
        return
    if n <= 1:
        fn(*args)
        return
    with _local_pool(n) as pool:
        try:
            for fut in as_completed([pool.submit(_in_worker, fn, *args) for _ in range(n)]):
                fut.result()
        except KeyboardInterrupt:
            _stop_workers(pool)
            raise
