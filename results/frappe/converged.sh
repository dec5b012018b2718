#!/usr/bin/env bash
# Issue 18: the paper's protocol, converged. Resumable: run it again and every step continues (finished runs and
# sweep points are skipped, interrupted ones resume from their last epoch). Long: GEM bases from scratch for all
# seven bases (AFM and INN take ~2 minutes an epoch on a 2-core CPU) and 3 placements x 4 dropouts (and 0) x 3 seeds.
# Give a stage as the first argument to run only it: table1 | dropout | studies.
#   table1:  every GEM base from scratch (no --pretrain), 3 seeds, its recipe's early stopping (fine-tune: patience 5)
#            with the epoch cap raised to 500 (no run reaches it), then the GEM rows fine-tuned from GEM+FM beside them
#            (the plain bases start from FM, as the paper's, under the same cap)
#   dropout: the GCN dropout study for each placement (--gcn-dropout-on output|edges|weights), 0.1-0.6 and 0 (the
#            same model for every placement: run once, in dropout-output), 3 seeds,
#            the gem-fm recipe's early stopping (150 epochs, patience 8)
#   studies: graph-type and sampling-ratio, 3 seeds, early stopping only
set -euo pipefail
GEM=${GEM:-$(pwd)/.venv/bin/gem}
RUN=${RUN:-runs/frappe}
OUT=${OUT:-results/frappe}   # where its tables and figures go (RUN elsewhere: OUT too, not to overwrite these)
mkdir -p "$OUT"
FRAPPE=${FRAPPE:-../shared/data/frappe/Mobile_Frappe.zip}
export GEM_THREADS=${GEM_THREADS:-1}
WHAT=${1:-all}
[ -f "$RUN/data/meta.json" ] || $GEM preprocess frappe --source "$FRAPPE" --run-dir "$RUN"
ls "$RUN"/graphs/*/graph.json > /dev/null 2>&1 || $GEM build-graph --type a --run-dir "$RUN"
if [ "$WHAT" = all ] || [ "$WHAT" = table1 ]; then
  # the cheap bases first, AFM and INN (~2 minutes an epoch on one thread) last; the runs from scratch before the
  # fine-tuned GEM rows that stand beside them (the plain bases start from FM either way)
  T="$GEM report table1 --run-missing --seeds 3 --run-dir $RUN"
  # "to early stopping with no cap": every base but FM (whose recipes' caps no run reaches) at most 500 epochs, which
  # patience ends long before; fine-tune's own cap, 100, is reached by GEM+NFM from scratch (the embedder study's gcn
  # points: best epochs 98, 88). The plain bases are trained (from FM) by the first call that needs them.
  $T --gem-start scratch --bases fm
  for bases in nfm,deepfm,wide_deep,ifm afm,inn; do
    $T --gem-start scratch --bases "$bases" --epochs 500
  done
  $T --bases nfm,deepfm,wide_deep,ifm,afm,inn --epochs 500
  $GEM report table1 --run-dir "$RUN" --out "$OUT"/table1-scratch.md   # both GEM rows, labelled
fi
if [ "$WHAT" = all ] || [ "$WHAT" = dropout ]; then
  # at dropout 0 every placement is the same model (nothing is dropped): its point runs once, in dropout-output
  for seeds in 1 3; do  # seed 0 of every placement first: the shapes are comparable before all seeds are in
    for on in output edges weights; do
      values=0.1,0.2,0.4,0.6
      [ "$on" = output ] && values=0,$values
      $GEM sweep dropout --values "$values" --gcn-dropout-on "$on" --seeds $seeds --jobs "${JOBS:-1}" \
        --name "dropout-$on" --run-dir "$RUN"
    done
  done
  # the placements side by side (dropout 0 shared): results/frappe/dropout-placements.md and .png
  "${PY:-$(dirname "$GEM")/python}" scripts/dropout_placements.py "$RUN" "$OUT"/dropout-placements
fi
if [ "$WHAT" = all ] || [ "$WHAT" = studies ]; then
  $GEM sweep graph-type --seeds 3 --jobs "${JOBS:-1}" --name graph-type-converged --run-dir "$RUN"
  $GEM sweep sampling-ratio --seeds 3 --jobs "${JOBS:-1}" --name sampling-ratio-converged --run-dir "$RUN"
fi
