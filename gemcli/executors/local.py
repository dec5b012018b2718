"""`--executor local`: points and workers in this process (`--jobs 1`) or in N local processes it owns.

The processes are spawned (no torch state inherited), report their process ids when they start, get SIGTERM when
the driver dies however it dies (Linux), and take SIGTERM as Ctrl-C (their point is saved, resumable). Interrupted,
the driver gives workers a grace period to save, then ends the rest: no point waits for a worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemcli.executors import ExecutorSpec, OnDone, Point, default_threads, register_executor, run_point
from gemcli.rundir import pid_alive

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

GRACE = 5.0  # seconds interrupted workers have to save their points before SIGTERM


def _in_worker(fn: Callable[..., Any], *args: object) -> Any:
    """fn(*args) in a worker; a worker SIGTERM interrupted ends once fn has saved its work (its driver is
    stopping or gone: nothing more should start in it)."""
    from gemcli.runtime import RUNTIME

    try:
        return fn(*args)
    finally:
        if RUNTIME.terminated:
            os._exit(143)


def _start_worker(pids: Queue[int]) -> None:
    """Worker initialiser: report this process's id to the driver; SIGTERM interrupts the worker's point as Ctrl-C
    does (saved, resumable); (Linux) SIGTERM when the driver's process dies."""
    import ctypes

    from gemcli.runtime import stop_on_sigterm

    stop_on_sigterm()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # born ignoring it (WorkerPool.submit): Ctrl-C again
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)
    pids.put(os.getpid())


class WorkerPool:
    """n spawned worker processes whose ids this pool knows (reported by each worker as it starts)."""

    def __init__(self, n: int):
        ctx = get_context("spawn")
        self.pid_queue = ctx.Queue()
        self.pids: set[int] = set()
        self.pool = ProcessPoolExecutor(
            max_workers=n, mp_context=ctx, initializer=_start_worker, initargs=(self.pid_queue,)
        )

    def submit(self, fn: Callable[..., Any], *args: object) -> Future[Any]:
        """fn(*args) in a worker. Workers are spawned here, with SIGINT ignored until their initialiser has run: a
        Ctrl-C while a worker is still importing gemcli would otherwise print that worker's traceback (the driver
        stops it with SIGTERM instead, `stop`)."""
        if threading.current_thread() is not threading.main_thread():
            return self.pool.submit(_in_worker, fn, *args)
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return self.pool.submit(_in_worker, fn, *args)
        finally:
            signal.signal(signal.SIGINT, previous)

    def _collect_pids(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                self.pids.add(self.pid_queue.get_nowait())

    def stop(self, grace: float = GRACE) -> None:
        """The driver was interrupted: workers a Ctrl-C reached too have `grace` seconds to save their points; the
        others (the driver alone got SIGTERM, or SIGINT is ignored as in a background job) get SIGTERM, which
        interrupts their points the same way."""
        self._collect_pids()
        deadline = time.monotonic() + grace
        while any(pid_alive(p) for p in self.pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for p in self.pids:
            if pid_alive(p):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGTERM)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.pid_queue.close()


@contextlib.contextmanager
def worker_pool(n: int) -> Iterator[WorkerPool]:
    """A pool for the block; Ctrl-C in the block stops its workers as `WorkerPool.stop` says, then goes on up."""
    pool = WorkerPool(n)
    try:
        yield pool
    except KeyboardInterrupt:
        pool.stop()
        raise
    finally:
        pool.close()


class InProcess:
    """Every point, one after another, in this process (`--executor local --jobs 1`)."""

    def __init__(self, spec: ExecutorSpec):
        self.spec = spec

    def describe(self) -> str:
        return "this process"

    def run_threads(self) -> int | None:
        return self.spec.threads or None

    def prepare(self, run_dir: Path) -> None:
        pass

    def run_points(self, run_dir: Path, points: Sequence[Point], on_done: OnDone) -> None:
        for cfg, folder in points:
            on_done(folder, run_point(str(run_dir), cfg.to_dict(), str(folder), self.run_threads()), "this process")

    def run_workers(self, fn: Callable[..., Any], args: tuple[Any, ...], n: int) -> None:
        if n > 1:
            LocalProcesses(self.spec).run_workers(fn, args, n)
        else:
            fn(*args)


class LocalProcesses(InProcess):
    """Points in `--jobs N` local processes side by side, each with its share of the cores."""

    def describe(self) -> str:
        return f"{self.spec.jobs} local processes"

    def run_threads(self) -> int | None:
        return self.spec.threads or default_threads(self.spec.jobs)

    def run_points(self, run_dir: Path, points: Sequence[Point], on_done: OnDone) -> None:
        with worker_pool(self.spec.jobs) as pool:
            futures = {
                pool.submit(run_point, str(run_dir), cfg.to_dict(), str(folder), self.run_threads()): folder
                for cfg, folder in points
            }
            for fut in as_completed(futures):
                on_done(futures[fut], fut.result(), "a local process")

    def run_workers(self, fn: Callable[..., Any], args: tuple[Any, ...], n: int) -> None:
        if n <= 1:
            fn(*args)
            return
        with worker_pool(n) as pool:
            for fut in as_completed([pool.submit(fn, *args) for _ in range(n)]):
                fut.result()


@register_executor("local")
def local(spec: ExecutorSpec) -> InProcess:
    """This process for one job, else local processes."""
    return LocalProcesses(spec) if spec.jobs > 1 else InProcess(spec)
