"""`--executor ray`: sweep points and tune workers as tasks of a Ray cluster (an optional extra:
pip install 'gemcli[ray]'). Ray places the tasks on the nodes, reserves their CPUs/GPUs and runs a task
again when its worker process or node is lost; gemcli keeps its own guarantees on top:

- every node must see the run directory at the same path (shared storage): a probe task on each node
  reads a token the driver wrote there, and the command stops with one line naming a node that cannot;
- a task run again resumes its point from the last checkpoint in the point's folder (train.fit_or_resume),
  and the folder's lock keeps two attempts from writing at once, so each point ends once;
- Ctrl-C on the driver ends its Ray job (Ray stops its workers; each point keeps its last epoch's checkpoint) and
  exits once no worker holds a point; the same command resumes them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from gemcli.errors import GemError
from gemcli.executors import ExecutorSpec, OnDone, Point, register_executor, run_point
from gemcli.rundir import is_locked, run_lock

INSTALL = "--executor ray needs Ray: pip install 'gemcli[ray]' (or pip install 'ray>=2.9') on every node"
RETRIES = 3  # runs of a task again after its worker or node was lost


def _ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise GemError(INSTALL) from None
    return ray


def connect(spec: ExecutorSpec) -> ModuleType:
    """Join (or, for 'local', start) the cluster; Ray's own usage statistics stay off."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = _ray()
    if ray.is_initialized():
        return ray
    address = None if spec.ray_address == "local" else spec.ray_address
    if address not in (None, "auto") and not address.startswith("ray://"):
        _reachable(address)  # Ray itself would wait minutes for a head that is not there
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GemError(
            f"--ray-address {spec.ray_address}: no Ray cluster reached ({first}); start one with `ray start --head` "
            "or give its head as HOST:PORT"
        ) from None
    return ray


def _reachable(address: str, timeout: float = 10.0) -> None:
    """HOST:PORT answers a TCP connection, else one line."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return
    except ValueError:
        raise GemError(f"--ray-address {address}: expected HOST:PORT, auto or local") from None
    except OSError as e:
        raise GemError(
            f"--ray-address {address}: no Ray cluster reached ({e.strerror or e}); start one with "
            "`ray start --head` or give its head as HOST:PORT"
        ) from None


def _where() -> str:
    """This task's place: host name, node IP and process id."""
    ray = _ray()
    return f"{socket.gethostname()} ({ray.util.get_node_ip_address()}, pid {os.getpid()})"


def _probe(path: str, token: str) -> tuple[str, str | None]:
    """On one node: (where, None) if the token file reads back, else (where, why not)."""
    try:
        got = Path(path).read_text().strip()
    except OSError as e:
        return _where(), f"cannot read {path} ({e.strerror or e})"
    return _where(), None if got == token else f"{path} holds another token (not the same storage)"


def check_shared(run_dir: Path) -> int:
    """One probe task per alive node reads a token the driver wrote into the run directory; one line naming
    the first node that cannot. Returns the number of nodes."""
    ray = _ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    run_dir = Path(run_dir).resolve()
    token = secrets.token_hex(8)
    path = run_dir / f".probe-{token}"
    path.write_text(token + "\n")
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        probe = ray.remote(num_cpus=0)(_probe)
        refs = [
            probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=n["NodeID"], soft=False)).remote(
                str(path), token
            )
            for n in nodes
        ]
        for (where, why), node in zip(ray.get(refs, timeout=120), nodes, strict=True):
            if why is not None:
                raise GemError(
                    f"run directory {run_dir} is not visible from Ray node {node.get('NodeManagerAddress')} "
                    f"[{where}]: {why}; put it on storage every node mounts at the same path"
                )
    finally:
        path.unlink(missing_ok=True)
    return len(nodes)


def _point_task(
    run: Callable[..., dict[str, Any]], run_dir: str, cfg: dict[str, Any], folder: str, threads: int | None
) -> tuple[dict[str, Any], str]:
    return run(run_dir, cfg, folder, threads), _where()


def _options(spec: ExecutorSpec) -> dict[str, Any]:
    return {
        "num_cpus": spec.cpus_per_run,
        "num_gpus": spec.gpus_per_run,
        "max_retries": RETRIES,
        "retry_exceptions": False,  # a lost worker or node is run again; an error in gemcli is reported
    }


_CHECKED: set[str] = set()  # run directories this process has probed on the cluster


def start(spec: ExecutorSpec, run_dir: Path) -> ModuleType:
    """Join the cluster and check once that every node sees the run directory; say what the cluster has."""
    from gemcli.console import err

    ray = connect(spec)
    where = str(Path(run_dir).resolve())
    if where in _CHECKED:
        return ray
    n = check_shared(run_dir)
    res = ray.cluster_resources()
    err.print(
        f"Ray cluster: {n} node{'s' if n != 1 else ''}, {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs; "
        f"run directory {where} seen from every node",
        highlight=False,
        soft_wrap=True,
    )
    _CHECKED.add(where)
    return ray


GRACE = 30.0  # seconds an interrupted command waits for Ray to stop the workers holding its points


def _wait_all(
    ray: ModuleType,
    refs: list[Any],
    limit: int,
    submit: Callable[[], Any | None],
    done: Callable[[Any], None],
    locks: Callable[[Any], Path | None] = lambda ref: None,
) -> None:
    """Keep at most `limit` tasks in flight (0: all), hand each finished one to done(ref). Ctrl-C (or SIGTERM, or
    an error) on the driver ends its Ray job, and Ray stops the job's workers (their points keep their last epoch's
    checkpoint); the driver waits (GRACE seconds at most) until no task left holds its point's lock (`locks(ref)`),
    so that the same command run at once finds every point free.

    Not ray.cancel: Ray 2.60 can abort the driver when a cancelled task's reply crosses the cancellation ("Check
    failed: ... Tried to complete task that was not pending"), and a cancelled task's result is ready before its
    worker has stopped."""
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            done(ready[0])
            nxt = submit() if limit else None
            if nxt is not None:
                pending.append(nxt)
    except BaseException:
        held = [p for p in map(locks, pending) if p is not None]
        with contextlib.suppress(BaseException):  # a second Ctrl-C stops the wait, not the first error
            ray.shutdown()
            _wait_unlocked(held, GRACE)
        raise


def _wait_unlocked(paths: list[Path], timeout: float) -> None:
    """Until no command holds any of the lock files, or `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while any(is_locked(p) for p in paths) and time.monotonic() < deadline:
        time.sleep(0.05)


def run_points_on_ray(
    run_dir: Path, points: Sequence[Point], spec: ExecutorSpec, on_done: OnDone, run: Callable[..., dict[str, Any]]
) -> None:
    """Each point a Ray task running run(run_dir, cfg, folder, threads) with the spec's resources; on_done on the
    driver as each one returns."""
    ray = start(spec, run_dir)
    task = ray.remote(_point_task).options(**_options(spec))
    threads = ray_threads(spec)
    root = str(Path(run_dir).resolve())
    queue = list(points)
    folders: dict[Any, Path] = {}

    def submit() -> Any | None:
        if not queue:
            return None
        cfg, folder = queue.pop(0)
        ref = task.remote(run, root, cfg.to_dict(), str(Path(folder).resolve()), threads)
        folders[ref] = Path(folder)
        return ref

    limit = spec.jobs if spec.jobs > 1 else 0
    first = [submit() for _ in range(min(limit or len(queue), len(queue)))]

    def done(ref: Any) -> None:
        summary, where = ray.get(ref)
        on_done(folders[ref], summary, where)

    def lock(ref: Any) -> Path | None:
        return run_lock(folders[ref]) if ref in folders else None

    _wait_all(ray, [r for r in first if r is not None], limit, submit, done, lock)


def run_workers_on_ray(fn: Callable[..., Any], args: tuple[Any, ...], n: int, spec: ExecutorSpec) -> None:
    """n tasks each running fn(*args) (gem tune's workers: each pulls trials until the study has enough)."""
    run_dir = Path(args[0])
    ray = start(spec, run_dir)
    task = ray.remote(fn).options(**_options(spec))
    if n <= 0:
        n = max(1, int(ray.cluster_resources().get("CPU", 1) // max(spec.cpus_per_run, 0.01)))
    _wait_all(ray, [task.remote(*args) for _ in range(n)], 0, lambda: None, ray.get)


def ray_threads(spec: ExecutorSpec) -> int:
    """torch's threads in a Ray task: as given, else the CPUs each run reserves."""
    return spec.threads or max(1, int(spec.cpus_per_run))


@register_executor("ray")
class RayExecutor:
    """Points and workers as tasks of a Ray cluster (`--executor ray`)."""

    def __init__(self, spec: ExecutorSpec):
        self.spec = spec

    def describe(self) -> str:
        s = self.spec
        gpus = f" and {s.gpus_per_run:g} GPU" if s.gpus_per_run else ""
        return f"Ray cluster at {s.ray_address}, {s.cpus_per_run:g} CPU{gpus} per run"

    def run_threads(self) -> int | None:
        return ray_threads(self.spec)

    def prepare(self, run_dir: Path) -> None:
        start(self.spec, run_dir)

    def run_points(self, run_dir: Path, points: Sequence[Point], on_done: OnDone) -> None:
        run_points_on_ray(run_dir, points, self.spec, on_done, run_point)

    def run_workers(self, fn: Callable[..., Any], args: tuple[Any, ...], n: int) -> None:
        run_workers_on_ray(fn, args, n, self.spec)
