#!/usr/bin/env bash
# FM vs GEM+FM on real MovieLens tags (8:1:1, d=256, batch 4096), seeds 0 1 2, two runs at a time
# (one thread each); each run's wall time and peak memory from /usr/bin/time go to RUN/*.time.
# Usage: results/movielens/fm_vs_gem.sh PATH/tags.dat|tags.csv [RUN_DIR]
set -euo pipefail
SRC=${1:?path to a MovieLens tags file}
RUN=${2:-runs/movielens-results}
GEM=${GEM:-.venv/bin/gem}
TIME="/usr/bin/time -f %e_s_%M_KB"
$TIME -o "$RUN.preprocess.time" $GEM preprocess movielens --source "$SRC" --run-dir "$RUN"
$TIME -o "$RUN.graph.time" $GEM build-graph --type a --run-dir "$RUN"
for seed in 0 1 2; do
  OMP_NUM_THREADS=1 $TIME -o "$RUN/fm-s$seed.time" $GEM train --run-dir "$RUN" --base fm --epochs 150 --seed "$seed" \
      --name "fm-s$seed" > "$RUN/fm-s$seed.log" 2>&1 &
  OMP_NUM_THREADS=1 $TIME -o "$RUN/gem-fm-s$seed.time" $GEM train --run-dir "$RUN" --base fm --gem \
      --optimizer adam --lr 0.005 --loss-reduction mean --dropout 0.3 --patience 8 --epochs 100 --seed "$seed" \
      --name "gem-fm-s$seed" > "$RUN/gem-fm-s$seed.log" 2>&1 &
  wait
done
$GEM compare --run-dir "$RUN"
