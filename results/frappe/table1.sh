#!/usr/bin/env bash
# Table 1 on Frappe as results/frappe/table1.md was made: on the run directory of fm_vs_gem.sh, whose
# FM and GEM+FM runs (seeds 0-2) become table1-fm-sS / table1-gem-fm-sS, the other six bases with and
# without GEM, 3 seeds each, under per-base epoch caps; two lanes of one thread each.
# (`make reproduce-frappe` does the same from the raw archive, training the FM runs itself.)
# Usage: results/frappe/table1.sh [RUN_DIR]   (after results/frappe/fm_vs_gem.sh)
set -euo pipefail
RUN=${1:-runs/frappe-results}
GEM=${GEM:-.venv/bin/gem}
export OMP_NUM_THREADS=1
for s in 0 1 2; do
  [ -d "$RUN/models/table1-fm-s$s" ] || cp -r "$RUN/models/fm-s$s" "$RUN/models/table1-fm-s$s"
  [ -d "$RUN/models/table1-gem-fm-s$s" ] || cp -r "$RUN/models/gem-fm-s$s" "$RUN/models/table1-gem-fm-s$s"
done
T="$GEM report table1 --run-missing --seeds 3 --run-dir $RUN"
(   $T --bases nfm --epochs 30;  $T --bases deepfm --epochs 15;  $T --bases wide_deep --epochs 8;  $T --bases afm --epochs 3 ) &
(   $T --bases ifm --epochs 12;  $T --bases inn --epochs 3 ) &
wait
$GEM report table1 --run-dir "$RUN"   # the table in table1.md
