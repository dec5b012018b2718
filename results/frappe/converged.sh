#!/usr/bin/env bash
# Issue 18: the paper's protocol, converged. Resumable: run it again and every step continues (finished runs and
# sweep points are skipped, interrupted ones resume from their last epoch). Long: GEM bases from scratch for all
# seven bases (an AFM epoch ~46 s on 2 threads, INN's ~1.25x) and 3 placements x 4 dropouts (and 0) x 3 seeds.
# A session's run directory may not outlive it (a new checkout has no runs/), so the work is cut into units that each
# fit a session on 2 cores and leave their results in OUT (results/frappe), to be committed; give one as the first
# argument to run only it:
#   table1:          every GEM base from scratch (no --pretrain), 3 seeds, its recipe's early stopping (fine-tune:
#                    patience 5) with the epoch cap raised to 500 (no run reaches it), beside the GEM rows fine-tuned
#                    from GEM+FM (trained first; the plain bases start from FM, as the paper's, under the same cap)
#   table1-BASE:     one base of that table in a session (nfm, deepfm, wide_deep, ifm; afm and inn take longer): FM
#                    and GEM+FM (the pre-training, 3 seeds each), then BASE as table1 trains it, one run at a time on
#                    T1_THREADS threads (default 2); the table kept as OUT/table1-converged-BASE.md
#   scratch-BASE-sS: one run of table1-BASE's from scratch (table1-scratch-gem-BASE-sS, as `report table1` names
#                    and configures it), T1_THREADS threads, kept in OUT/runs/ by results/lib.sh's keep_run: the
#                    unit for a base whose runs from scratch take a session each (INN: ~1 h on 2 threads)
#   table1-ft-BASE:  the first part of table1-BASE alone: FM and GEM+FM, then BASE's plain rows and GEM rows
#                    fine-tuned from GEM+FM (not those from scratch); keeps nothing (table1-BASE's table has them)
#   dropout-output, dropout-edges, dropout-weights: the GCN dropout study for one placement (--gcn-dropout-on), 0.1-0.6
#                    (and 0 with output: at 0 every placement is the same model, run once), 3 seeds, the gem-fm
#                    recipe's early stopping (150 epochs, patience 8); its results.csv kept as OUT/dropout-P.csv and
#                    the placements' table and figure (scripts/dropout_placements.py) redrawn from the kept files
#   dropout:         the three placements, one after another
#   graph-type, sampling-ratio: the study, 3 seeds, early stopping only (the epoch cap raised to 300; sweep
#                    NAME-converged; its results.md, .csv and figure kept as OUT/NAME-converged.*); studies: both
set -euo pipefail
GEM=${GEM:-$(pwd)/.venv/bin/gem}
RUN=${RUN:-runs/frappe}
OUT=${OUT:-results/frappe}   # where its tables and figures go (RUN elsewhere: OUT too, not to overwrite these)
mkdir -p "$OUT"
FRAPPE=${FRAPPE:-../shared/data/frappe/Mobile_Frappe.zip}
export GEM_THREADS=${GEM_THREADS:-1}
WHAT=${1:-all}
T1="$GEM report table1 --run-missing --seeds 3 --threads ${T1_THREADS:-2} --run-dir $RUN"
[ -f "$RUN/data/meta.json" ] || $GEM preprocess frappe --source "$FRAPPE" --run-dir "$RUN"
ls "$RUN"/graphs/*/graph.json > /dev/null 2>&1 || $GEM build-graph --type a --run-dir "$RUN"
. "$(dirname "$0")/../lib.sh"
table1_ft() {  # table1_ft BASES: FM and GEM+FM (3 seeds each, the pre-training), then BASES' plain rows (from FM,
  # the paper's pre-training) and GEM rows fine-tuned from GEM+FM; one run at a time on T1_THREADS threads (default
  # 2). "To early stopping with no cap": every base but FM (whose recipes' caps no run reaches) at most 500 epochs,
  # which patience ends long before; fine-tune's own cap, 100, is reached by GEM+NFM from scratch (the embedder
  # study's gcn points: best epochs 98, 88).
  $T1 --gem-start scratch --bases fm
  $T1 --bases "$1" --epochs 500
}
table1_rows() {  # table1_rows BASES: table1_ft, then BASES' GEM rows from scratch (last: they take longest, GEM+AFM
  # from scratch was still improving at epoch 36 with valid RMSE 0.464)
  table1_ft "$1"
  $T1 --gem-start scratch --bases "$1" --epochs 500
}
if [ "$WHAT" = all ] || [ "$WHAT" = table1 ]; then
  table1_rows nfm,deepfm,wide_deep,ifm  # the cheap bases first, AFM and INN (an AFM epoch ~46 s on 2 threads) last
  table1_rows afm,inn
  $GEM report table1 --run-dir "$RUN" --out "$OUT"/table1-scratch.md   # both GEM rows, labelled
fi
case "$WHAT" in
  scratch-*-s[0-9]*)
    spec=${WHAT#scratch-}
    name=table1-scratch-gem-${spec%-s*}-s${spec##*-s}
    train_once "$name" --base "${spec%-s*}" --gem --seed "${spec##*-s}" --epochs 500 --threads "${T1_THREADS:-2}"
    keep_run "$name" ;;
  table1-ft-*) table1_ft "${WHAT#table1-ft-}" ;;  # keeps nothing: table1-BASE's table, later, has these rows
  table1-*)
    table1_rows "${WHAT#table1-}"
    $GEM report table1 --run-dir "$RUN" --out "$OUT/table1-converged-${WHAT#table1-}.md" ;;
esac
dropout_placement() {  # dropout_placement P: one placement's sweep, kept in OUT, and the placements redrawn
  local values=0.1,0.2,0.4,0.6
  [ "$1" = output ] && values=0,$values
  $GEM sweep dropout --values "$values" --gcn-dropout-on "$1" --seeds 3 --jobs "${JOBS:-1}" \
    --name "dropout-$1" --run-dir "$RUN"
  cp "$RUN/sweeps/dropout-$1/results.csv" "$OUT/dropout-$1.csv"
  "${PY:-$(dirname "$GEM")/python}" scripts/dropout_placements.py "$OUT" "$OUT"/dropout-placements
}
study() {  # study NAME: a paper's study to early stopping, 3 seeds, kept in OUT as NAME-converged.*
  # the epoch cap raised to STUDY_EPOCHS (300; the gem-fm recipe's 150 was reached by one run of graph-type's
  # type a + isweekend, still improving; FM's recipe has 300): a point that reaches it is marked in the table
  $GEM sweep "$1" --seeds 3 --epochs "${STUDY_EPOCHS:-300}" --jobs "${JOBS:-1}" --name "$1-converged" --run-dir "$RUN"
  keep_sweep "$1-converged"
}
for on in output edges weights; do
  case "$WHAT" in all | dropout | "dropout-$on") dropout_placement "$on" ;; esac
done
for name in graph-type sampling-ratio; do
  case "$WHAT" in all | studies | "$name") study "$name" ;; esac
done
