#!/usr/bin/env bash
# The same sweep with --executor local (2 processes) and --executor ray (a 2-node Ray cluster on 127.0.0.1, one
# CPU per node, started in a network+PID namespace by tests/ray_driver.py): wall time of each, and whether every
# point's metrics agree. Run it on an idle machine (it times things).
# Usage: scripts/executor_compare.sh RUN_DIR   (a run directory with data and a graph, e.g. runs/frappe)
set -euo pipefail
RUN=${1:?usage: scripts/executor_compare.sh RUN_DIR}
PY=${PY:-$(pwd)/.venv/bin/python}
GEM=${GEM:-$(pwd)/.venv/bin/gem}
POINTS=(--param lr=0.02,0.05 --param embedder=lookup,gcn --epochs 10 --patience 100 --threads 1)
tag=$(date +%Y%m%d-%H%M%S)
rm -rf "$RUN/sweeps/exec-local-$tag" "$RUN/sweeps/exec-ray-$tag"
t0=$(date +%s.%N)
$GEM sweep "${POINTS[@]}" --jobs 2 --name "exec-local-$tag" --run-dir "$RUN" > /dev/null
t1=$(date +%s.%N)
RAY_DRIVER_KILL=0 unshare -n -p -f --mount-proc "$PY" tests/ray_driver.py "$RUN" \
  -- sweep "${POINTS[@]}" --name "exec-ray-$tag" > "/tmp/exec-ray-$tag.json"
"$PY" - "$RUN" "$tag" "$t0" "$t1" "/tmp/exec-ray-$tag.json" <<'PYEOF'
import csv, json, sys
run, tag, t0, t1, log = sys.argv[1:]
ray = json.load(open(log))["runs"][0]
assert ray["rc"] == 0, ray["out"] + ray["err"]
def rows(name):
    return {(r["lr"], r["embedder"], r["seed"]): r for r in csv.DictReader(open(f"{run}/sweeps/{name}/results.csv"))}
a, b = rows(f"exec-local-{tag}"), rows(f"exec-ray-{tag}")
keys = ("best_epoch", "valid_rmse", "test_rmse", "test_mae")
same = a.keys() == b.keys() and all(a[k][m] == b[k][m] for k in a for m in keys)
print(f"local, 2 processes x 1 thread: {float(t1) - float(t0):.1f} s wall (the gem command)")
print(f"ray, 2 nodes x 1 CPU:          {ray['seconds']:.1f} s wall (the gem command, cluster already up)")
print(f"points: {len(a)}; every point's best epoch, valid RMSE, test RMSE and MAE identical: {same}")
for k in sorted(a):
    print("  ", k, " ".join(f"{m}={a[k][m]}" for m in keys), "| ray:", " ".join(b[k][m] for m in keys))
PYEOF
