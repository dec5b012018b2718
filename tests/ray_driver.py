"""Run inside network and PID namespaces of its own (`unshare -n -p -f --mount-proc`, started by
tests/test_cluster.py): bring up a two-node Ray cluster on 127.0.0.1 (a head and a second node, one CPU each),
run gem commands on it with `--executor ray`, one after another; during the first, SIGKILL the worker process
of the first point that has finished an epoch (its pid is in the point's lock file); with
RAY_DRIVER_INTERRUPT=I, press Ctrl-C (SIGINT to the gem process) during command I once a point has finished an
epoch, then run the same command again. The cluster is stopped whatever happens (and every process of the
namespace ends with this one). Prints one JSON line: each command's exit status, output and wall time, and
what was killed; after each command, the status its started points were left in and which are still locked.

usage: python ray_driver.py RUN_DIR -- GEM_ARGS... [-- GEM_ARGS...]   (sweeps: their points in RUN_DIR/sweeps/NAME)
       RAY_DRIVER_KILL=0: kill nothing. CPUS=N: CPUs of each of the two nodes (default 1).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gemcli.rundir import is_locked, run_lock

PORT = "6390"
KILL = os.environ.get("RAY_DRIVER_KILL", "1") != "0"  # 0: no worker killed (scripts/executor_compare.sh times it)
INTERRUPT = int(os.environ.get("RAY_DRIVER_INTERRUPT", "-1"))  # the command to Ctrl-C once, then run again


def commands(argv: list[str]) -> list[list[str]]:
    out: list[list[str]] = []
    for a in argv:
        if a == "--":
            out.append([])
        else:
            out[-1].append(a)
    return out


def points_of(run_dir: str, args: list[str]) -> Path:
    name = args[args.index("--name") + 1] if "--name" in args else "?"
    return Path(run_dir) / "sweeps" / name / "points"


def running_point(watch: Path) -> tuple[Path, int, int] | None:
    """(folder, pid training it, epochs done) of the first point with an epoch done and no summary yet."""
    for metrics in sorted(watch.glob("*/metrics.jsonl")):
        folder = metrics.parent
        lock = folder.parent / f".{folder.name}.lock"
        try:
            epochs = len(metrics.read_text().splitlines())
            pid = int(lock.read_text().strip() or 0)
        except (OSError, ValueError):
            continue
        if epochs >= 1 and pid and not (folder / "summary.json").is_file():
            return folder, pid, epochs
    return None


def _status(folder: Path) -> str | None:
    try:
        return json.loads((folder / "summary.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return None


def kill_a_worker(watch: Path) -> dict | None:
    """SIGKILL the Ray worker process training a point that has an epoch done."""
    found = running_point(watch)
    if found is None:
        return None
    folder, pid, epochs = found
    os.kill(pid, signal.SIGKILL)
    return {"point": folder.name, "pid": pid, "after_epochs": epochs}


def main() -> None:
    run_dir = sys.argv[1]
    cmds = commands(sys.argv[sys.argv.index("--") :])
    bindir = Path(sys.executable).parent
    # Ray runs its workers at nice 15 by default: on a busy machine they would wait behind everything else
    # token authentication off: this cluster is reached on 127.0.0.1 of a namespace of its own, and a token file left
    # in ~/.ray by an earlier local Ray makes the head ask for a token the joining node does not send
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": "0", "RAY_AUTH_MODE": "disabled"}
    node = [
        "--node-ip-address",
        "127.0.0.1",
        "--num-cpus",
        os.environ.get("CPUS", "1"),
        "--object-store-memory",
        str(80 << 20),
    ]
    node += ["--disable-usage-stats"]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    result: dict = {"killed": None, "runs": []}
    try:
        for cmd in (["--head", "--port", PORT, "--include-dashboard=false"], ["--address", f"127.0.0.1:{PORT}"]):
            ray_start = [bindir / "ray", "start", *cmd, *node]
            subprocess.run(ray_start, check=True, capture_output=True, env=env, timeout=120)
        executor = ["--executor", "ray", "--ray-address", f"127.0.0.1:{PORT}", "--run-dir", run_dir]

        def run(args: list[str], kill: bool = False, interrupt: bool = False) -> dict:
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [bindir / "gem", *args, *executor], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            )
            while (kill and result["killed"] is None) or interrupt:
                if proc.poll() is not None:
                    break
                if kill:
                    result["killed"] = kill_a_worker(points_of(run_dir, args))
                elif running_point(points_of(run_dir, args)) is not None:
                    proc.send_signal(signal.SIGINT)  # Ctrl-C on the driver
                    interrupt = False
                time.sleep(0.02)
            out, err = proc.communicate(timeout=240)
            got = {"rc": proc.returncode, "out": out, "err": err, "seconds": round(time.perf_counter() - t0, 1)}
            # each started point's status as the command left it (None: no summary.json), and those whose lock a
            # process (a Ray worker still stopping) holds still
            started = [m.parent for m in points_of(run_dir, args).glob("*/metrics.jsonl")]
            got["points"] = {f.name: _status(f) for f in started}
            got["locked"] = [f.name for f in started if is_locked(run_lock(f))]
            return got

        for i, args in enumerate(cmds):
            if i == INTERRUPT:
                result["runs"].append(run(args, interrupt=True))
            result["runs"].append(run(args, kill=i == 0 and KILL))
    finally:
        subprocess.run([bindir / "ray", "stop", "--force"], capture_output=True, env=env, timeout=120)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
