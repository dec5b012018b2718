"""--executor ray on a real two-node Ray cluster on this machine, inside a network namespace the test makes
(`unshare -n`: only 127.0.0.1 exists there; `-p -f --mount-proc`: a PID namespace of its own, so every Ray
process ends with the driver, whatever happens), with a worker process killed during a point."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

UNSHARE = ["unshare", "-n", "-p", "-f", "--mount-proc"]


def _namespaces() -> bool:
    try:
        return subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed (gemcli[ray])")
needs_netns = pytest.mark.skipif(not _namespaces(), reason="no network namespaces here (unshare -n)")

POINTS = ["--param", "lr=0.01,0.05", "--param", "embedder=lookup,gcn", "--threads", "1"]
SMALL = ["--embedding-size", "8", "--batch-size", "32", "--epochs", "4", "--patience", "10"]


def _metrics(root: Path) -> dict[tuple[str, str, str], tuple[float, ...]]:
    rows = list(csv.DictReader((root / "results.csv").open()))
    for r in rows:
        r.setdefault("embedder", "lookup")  # a sweep over lr alone
    return {
        (r["lr"], r["embedder"], r["seed"]): tuple(float(r[k]) for k in ("valid_rmse", "test_rmse", "test_mae"))
        for r in rows
    } | {("epochs", r["lr"] + r["embedder"], r["seed"]): (float(r["best_epoch"]),) for r in rows}


@needs_ray
@needs_netns
def test_ray_sweep_survives_a_killed_worker_with_the_local_metrics(gem, graph_run, tmp_path):
    gem("sweep", *POINTS, *SMALL, "--name", "local")
    driver = Path(__file__).with_name("ray_driver.py")
    watch = graph_run / "sweeps" / "on-ray" / "points"
    args = ["sweep", *POINTS, *SMALL, "--name", "on-ray", "--no-adopt"]  # trained again on Ray, not copied
    tune = ["tune", "t", "--gem", "--param", "lr=log:1e-3:1e-1", "--trials", "2", "--pruner", "none", *SMALL]
    stopped = ["sweep", "--param", "lr=0.01,0.05", "--threads", "1", *SMALL, "--name", "ctrl-c", "--no-adopt"]
    res = subprocess.run(
        [*UNSHARE, sys.executable, str(driver), str(graph_run), "--", *args, "--", *tune, "--", *stopped],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_DRIVER_INTERRUPT": "2"},  # Ctrl-C the third command once, then run it again
    )
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    sweep, tuned, interrupted, resumed = got["runs"]
    got.update(sweep)
    assert got["rc"] == 0, got["out"] + got["err"]
    assert got["killed"] is not None and got["killed"]["after_epochs"] < 4, got  # killed during a point
    assert "seen from every node" in got["err"] and "2 nodes" in got["err"]
    ray_root, local_root = graph_run / "sweeps" / "on-ray", graph_run / "sweeps" / "local"
    assert _metrics(ray_root) == _metrics(local_root)  # the same numbers to the 6 decimals results.csv keeps
    rows = list(csv.DictReader((ray_root / "results.csv").open()))
    assert len(rows) == 4 and len({r["run"] for r in rows}) == 4  # every point once, none twice
    killed = json.loads((watch / got["killed"]["point"] / "summary.json").read_text())
    assert killed["status"] == "finished" and killed["epochs_run"] == 4
    assert f"{got['killed']['point']}: finished on" in got["out"]  # where each point ran
    # a search on the cluster: its workers are Ray tasks (one per CPU), sharing the study; 2 distinct trials
    assert tuned["rc"] == 0, tuned["out"] + tuned["err"]
    trials = list(csv.DictReader((graph_run / "tune" / "t" / "results.csv").open()))
    assert len(trials) == 2 and all(t["state"] == "finished" for t in trials)
    assert len({t["folders"] for t in trials}) == 2
    # Ctrl-C on the driver during a point: exit 130 and the words to resume; the same command finishes the sweep
    # with the local executor's numbers
    assert interrupted["rc"] == 130 and "run the same command again" in interrupted["err"], interrupted
    # the driver exits once no worker holds a point any more: the same command run at once finds them all free
    assert interrupted["points"] and interrupted["locked"] == [], interrupted
    assert resumed["rc"] == 0, resumed["out"] + resumed["err"]
    local = {k: v for k, v in _metrics(local_root).items() if "lookup" in k[1]}
    assert _metrics(graph_run / "sweeps" / "ctrl-c") == local


@needs_ray
def test_ray_executor_errors_are_one_line(gem, run, monkeypatch):
    res = gem("sweep", "--param", "lr=0.01", "--ray-address", "127.0.0.1:1", ok=False)
    assert res.exit_code == 2 and "need --executor ray" in res.output
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    res = gem("sweep", "--param", "lr=0.01", "--executor", "ray", "--ray-address", "127.0.0.1:1", *SMALL, ok=False)
    assert res.exit_code == 2 and "--ray-address 127.0.0.1:1: no Ray cluster reached" in res.output
    assert "no Ray cluster reached" in res.output.strip().splitlines()[-1]
    assert not (run / "sweeps" / "grid-lr").exists()  # nothing written
