"""Where runs execute: executors as objects behind one protocol, registered by name (`--executor NAME`).

Built in: `local` (this process, or `--jobs N` local processes: gemcli.executors.local) and `ray` (the tasks of a Ray
cluster: gemcli.executors.ray_cluster); every module of this package is imported when the registry is first asked,
so a Slurm or Dask executor is one file here (`@register_executor("slurm")`, its name added to BUILTIN for
--executor's choices), or a package of your own through the entry-point group `gemcli.executors` (NAME =
"module:Class", a class taking an `ExecutorSpec`).
Sweeps hand over their points, `gem tune` its workers; every executor keeps the same guarantees:

- a point is a normal run folder brought to its end by train.fit_or_resume, so a point started again
  (a lost worker, a Ctrl-C'd sweep run again) resumes from its last checkpoint;
- one point, one folder, one lock: a second writer stops at once, so no result is written twice;
- `on_done(folder, summary, where)` is called on the driver once per point that ended.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gemcli.errors import GemError
from gemcli.plugins import load_group

if TYPE_CHECKING:
    from gemcli.config import RunConfig

Point = tuple["RunConfig", Path]
OnDone = Callable[[Path, dict[str, Any], str], None]
BUILTIN = ("local", "ray")


class PointInterrupted(Exception):
    """A point stopped before its end (Ctrl-C): the caller stops; nothing unfinished enters its results."""


@dataclass(frozen=True)
class ExecutorSpec:
    """Which executor and its resources, as the command line gives them."""

    kind: str = "local"  # a registered executor's name
    jobs: int = 1  # local: processes side by side (1: in this process); ray: most tasks at once (0: no limit)
    threads: int | None = None  # torch threads per run (local; ray: cpus_per_run)
    ray_address: str = "auto"
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0

    def run_threads(self) -> int | None:
        return executor(self).run_threads()

    def describe(self) -> str:
        return executor(self).describe()


class Executor(Protocol):
    """What runs points and workers. `run_points` calls `on_done` on the driver once per point that ended (a point
    that stops unfinished raises PointInterrupted); `run_workers` runs fn(*args) n times side by side."""

    spec: ExecutorSpec

    def describe(self) -> str: ...

    def run_threads(self) -> int | None: ...

    def prepare(self, run_dir: Path) -> None: ...

    def run_points(self, run_dir: Path, points: Sequence[Point], on_done: OnDone) -> None: ...

    def run_workers(self, fn: Callable[..., Any], args: tuple[Any, ...], n: int) -> None: ...


EXECUTORS: dict[str, Callable[[ExecutorSpec], Executor]] = {}


def register_executor(name: str) -> Callable[[Any], Any]:
    """Register an executor class (constructed from an ExecutorSpec) under `name`."""

    def deco(cls: Any) -> Any:
        EXECUTORS[name] = cls
        return cls

    return deco


def _load_all() -> None:
    """Every module of this package (each registers its executors; importing ray_cluster does not import ray), then
    the plug-ins' (entry points `gemcli.executors`)."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    for name, cls in load_group("gemcli.executors").items():
        EXECUTORS.setdefault(name, cls)


def executor_names() -> list[str]:
    """The executors --executor takes, without importing any (the built-ins and the entry points' names)."""
    return [*BUILTIN, *(n for n in load_group("gemcli.executors", names_only=True) if n not in BUILTIN)]


def executor(spec: ExecutorSpec) -> Executor:
    _load_all()
    if spec.kind not in EXECUTORS:
        raise GemError(f"unknown --executor {spec.kind!r}; known: {', '.join(EXECUTORS)}")
    return EXECUTORS[spec.kind](spec)


def run_point(run_dir: str, cfg: dict[str, Any], folder: str, threads: int | None) -> dict[str, Any]:
    """Bring one point to its end (a fresh run, or resumed from its checkpoint); its summary. What every executor
    runs, wherever it runs it."""
    from gemcli import train
    from gemcli.config import RunConfig
    from gemcli.runtime import start_compute

    start_compute(threads)
    return train.fit_or_resume(Path(run_dir), RunConfig.from_dict(cfg), Path(folder), quiet=True)


def ended_or_stop(on_done: OnDone) -> OnDone:
    """on_done for points that ended; PointInterrupted for one that stopped unfinished."""

    from gemcli.runs import ENDED

    def ended(folder: Path, summary: dict[str, Any], where: str) -> None:
        if summary.get("status") not in ENDED:
            raise PointInterrupted(folder.name)
        on_done(folder, summary, where)

    return ended


def default_threads(jobs: int) -> int | None:
    """torch's threads in each of `jobs` local runs side by side: the cores shared out; one run: the default."""
    return max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None


# ---------------------------------------------------------------- what sweeps and searches call


def prepare(run_dir: Path, spec: ExecutorSpec) -> None:
    """Reach the executor before anything is written (ray: join the cluster, check every node sees the run
    directory); one line if it cannot be reached."""
    executor(spec).prepare(Path(run_dir))


def run_points(run_dir: Path, points: Sequence[Point], spec: ExecutorSpec, on_done: OnDone) -> None:
    """Bring every point to its end on the executor; on_done once per ended point. A point that stops
    unfinished raises PointInterrupted (the others already ended stay reported)."""
    if points:
        executor(spec).run_points(Path(run_dir), points, ended_or_stop(on_done))


def run_workers(fn: Callable[..., Any], args: tuple[Any, ...], n: int, spec: ExecutorSpec) -> None:
    """Run fn(*args) n times side by side (gem tune's workers, each pulling trials from the study until it
    has enough)."""
    executor(spec).run_workers(fn, args, n)
