#!/usr/bin/env bash
# FM vs GEM+FM on Frappe (8:1:1, d=256, batch 4096), seeds 0 1 2, two runs at a time (one thread each).
# Usage: results/frappe/fm_vs_gem.sh PATH/Mobile_Frappe.zip [RUN_DIR]
set -euo pipefail
SRC=${1:?path to Mobile_Frappe.zip}
RUN=${2:-runs/frappe-results}
GEM=${GEM:-.venv/bin/gem}
EPOCHS=${EPOCHS:-150}
$GEM preprocess frappe --source "$SRC" --run-dir "$RUN"
$GEM build-graph --type a --run-dir "$RUN"
for seed in 0 1 2; do
  OMP_NUM_THREADS=1 $GEM train --run-dir "$RUN" --base fm --epochs "$EPOCHS" --seed "$seed" --name "fm-s$seed" > "$RUN/fm-s$seed.log" 2>&1 &
  OMP_NUM_THREADS=1 $GEM train --run-dir "$RUN" --base fm --gem --optimizer adam --lr 0.005 --loss-reduction mean \
      --epochs "$EPOCHS" --seed "$seed" --name "gem-fm-s$seed" > "$RUN/gem-fm-s$seed.log" 2>&1 &
  wait
done
$GEM compare --run-dir "$RUN"
