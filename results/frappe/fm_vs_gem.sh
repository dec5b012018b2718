#!/usr/bin/env bash
# FM vs GEM+FM on Frappe (8:1:1 split seed 2020, d=256, batch 4096), seeds 0 1 2; one lane per model
# (one thread each), as the runs in results/frappe/fm_vs_gem.md were made.
# Usage: results/frappe/fm_vs_gem.sh PATH/Mobile_Frappe.zip [RUN_DIR]
set -euo pipefail
SRC=${1:?path to Mobile_Frappe.zip}
RUN=${2:-runs/frappe-results}
GEM=${GEM:-.venv/bin/gem}
$GEM preprocess frappe --source "$SRC" --run-dir "$RUN"          # default --seed 2019 (split seed 2020)
$GEM build-graph --type a --run-dir "$RUN"                      # a-user-item-country-city-r1-s0
GRAPH=a-user-item-country-city-r1-s0
(for s in 0 1 2; do   # FM: the toolkit's default recipe (Adagrad 0.05, summed square loss, dropout 0.5)
  OMP_NUM_THREADS=1 $GEM train --run-dir "$RUN" --base fm --epochs 300 --seed $s --name fm-s$s > "$RUN/fm-s$s.log" 2>&1
done) &
(for s in 0 1 2; do   # GEM+FM: Adam 0.005 on the mean square loss, FM dropout 0.3 (see exploration.md): the hand recipe,
  # gem-fm-hand (gem-fm, the default since 0.4.2, is gem tune's: tune-gem-fm.md)
  OMP_NUM_THREADS=1 $GEM train --run-dir "$RUN" --base fm --gem --recipe gem-fm-hand --graph $GRAPH --optimizer adam --lr 0.005 \
    --loss-reduction mean --dropout 0.3 --epochs 150 --patience 8 --seed $s --name gem-fm-s$s > "$RUN/gem-fm-s$s.log" 2>&1
done) &
wait
# the same recipe as GEM+FM for FM, seed 0: the controlled comparison
OMP_NUM_THREADS=1 $GEM train --run-dir "$RUN" --base fm --optimizer adam --lr 0.005 --loss-reduction mean --dropout 0.3 \
  --epochs 150 --patience 8 --seed 0 --name fm-adam-s0 > "$RUN/fm-adam-s0.log" 2>&1
$GEM compare --run-dir "$RUN"
