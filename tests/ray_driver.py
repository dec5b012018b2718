"""Run inside a network namespace of its own (`unshare -n`, started by tests/test_cluster.py): bring up a
two-node Ray cluster on 127.0.0.1 (a head and a second node, one CPU each), run a gem command on it with
`--executor ray`, SIGKILL the worker process of the first point that has finished an epoch (its pid is in
the point's lock file), wait for the command, and stop the cluster whatever happens. Prints one JSON line:
the command's exit status and output, and what was killed.

usage: python ray_driver.py RUN_DIR WATCH_DIR -- GEM_ARGS...   (WATCH_DIR: the folder of the points)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PORT = "6390"


def main() -> None:
    run_dir, watch = sys.argv[1], Path(sys.argv[2])
    gem_args = sys.argv[sys.argv.index("--") + 1 :]
    bindir = Path(sys.executable).parent
    # Ray runs its workers at nice 15 by default: on a busy machine they would wait behind everything else
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": "0"}
    node = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--object-store-memory", str(80 << 20)]
    node += ["--disable-usage-stats"]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    result: dict = {"killed": None}
    try:
        for cmd in (["--head", "--port", PORT, "--include-dashboard=false"], ["--address", f"127.0.0.1:{PORT}"]):
            subprocess.run([bindir / "ray", "start", *cmd, *node], check=True, capture_output=True, env=env, timeout=120)
        proc = subprocess.Popen(
            [bindir / "gem", *gem_args, "--executor", "ray", "--ray-address", f"127.0.0.1:{PORT}", "--run-dir", run_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        while proc.poll() is None and result["killed"] is None:
            for metrics in sorted(watch.glob("*/metrics.jsonl")):
                folder = metrics.parent
                lock = folder.parent / f".{folder.name}.lock"
                done = (folder / "summary.json").is_file()
                try:
                    epochs = len(metrics.read_text().splitlines())
                    pid = int(lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    continue
                if epochs >= 1 and not done and pid:
                    os.kill(pid, signal.SIGKILL)  # the Ray worker process training this point
                    result["killed"] = {"point": folder.name, "pid": pid, "after_epochs": epochs}
                    break
            time.sleep(0.02)
        out, err = proc.communicate(timeout=240)
        result.update(rc=proc.returncode, out=out, err=err)
    finally:
        subprocess.run([bindir / "ray", "stop", "--force"], capture_output=True, env=env, timeout=120)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
