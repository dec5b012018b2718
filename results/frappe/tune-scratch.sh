#!/usr/bin/env bash
# Issue 18, "if a base does not train from scratch under its recipe, search its recipe on the validation split":
# GEM+BASE from scratch (no --pretrain) under the fine-tune recipe (Adam 0.001, mean loss, patience 5) ends behind
# the plain base that starts from FM (GEM+DeepFM from scratch: test RMSE 0.3388 ± 0.0106 over seeds 0-2, the
# embedder study's gcn points; DeepFM from FM: 0.3073 ± 0.0022). For each base given (default: deepfm):
#   1. gem tune gem-BASE-scratch on the validation split (seed 0): Adam's lr, L2, FM dropout, the MLP's dropout
#      (those of the two the base has: Wide&Deep only the MLP's);
#      TPE (sampler seed 0), median pruning after 5 epochs, 25 trials, each to early stopping (patience 8, at most 300
#      epochs, a cap meant not to be reached: fine-tune's 100 is, by GEM+NFM; TRIALS=N for another count;
#      TUNE_EPOCHS=N caps the trials at N epochs instead, for a base whose epochs are slow, as tune-gem-fm's were
#      capped at 80)
#   2. the best trial's recipe retrained with seeds 0-2 (gem-BASE-scratch-sS, JOBS at a time), test RMSE beside
#      the others (with TUNE_EPOCHS: at most 500 epochs, a cap not meant to be reached)
#   3. kept in OUT (results/frappe): gem-BASE-scratch.md (the retrained runs) and gem-BASE-scratch/ (the trials'
#      results.md, best-recipe.toml, history.png, importance.png)
# Resumable: run it again and the study continues to 25 trials; finished retrainings are skipped, interrupted ones
# resume from their last epoch. JOBS (1) processes share the study. With KEEP_RUNS=1, for a search longer than a
# session (whose run directory may not outlive it), it goes on in the next session's new checkout too: the study's
# state is kept in OUT/STUDY/state after each call (results/lib.sh's save_study) and put back before the next
# (restore_study), each retrained run is kept in OUT/runs as it finishes and not trained again, and OUT/STUDY.md
# tables the kept runs (scripts/kept_runs.py).
# PRUNER=none|hyperband: the same search under another pruner, as study gem-BASE-scratch-PRUNER (median pruning after
# 5 epochs stops trials whose first epochs are slow, which GEM bases from scratch are: converged.md, "GEM+FM: what its
# search left out").
# Usage: results/frappe/tune-scratch.sh [BASE ...]
set -euo pipefail
GEM=${GEM:-$(pwd)/.venv/bin/gem}
RUN=${RUN:-runs/frappe}
OUT=${OUT:-results/frappe}
FRAPPE=${FRAPPE:-../shared/data/frappe/Mobile_Frappe.zip}
export GEM_THREADS=${GEM_THREADS:-1}
[ -f "$RUN/data/meta.json" ] || $GEM preprocess frappe --source "$FRAPPE" --run-dir "$RUN"
ls "$RUN"/graphs/*/graph.json > /dev/null 2>&1 || $GEM build-graph --type a --run-dir "$RUN"
. "$(dirname "$0")/../lib.sh"
for base in "${@:-deepfm}"; do
  study=gem-$base-scratch${PRUNER:+-$PRUNER}
  case $base in  # the dropouts the base has (gemcli.config.base_option_defaults): FM dropout, the MLP's, or both
    wide_deep) drops=(--param mlp_dropout=0:0.6) ;;
    fm | ifm | afm | inn) drops=(--param dropout=0:0.6) ;;
    *) drops=(--param dropout=0:0.6 --param mlp_dropout=0:0.6) ;;
  esac
  if [ "${KEEP_RUNS:-0}" = 1 ]; then
    restore_study "$study"
    trap 'save_study "$study"' EXIT  # whatever ends the script (a signal to it as well: below) keeps the study
    trap 'exit 130' INT
    trap 'exit 143' TERM
  fi
  rc=0
  $GEM tune "$study" --base "$base" --gem \
    --param lr=log:3e-4:1e-2 --param l2=log:1e-12:1e-7 "${drops[@]}" \
    --epochs "${TUNE_EPOCHS:-300}" --patience 8 --trials "${TRIALS:-25}" --pruner "${PRUNER:-median}" --warmup 5 --sampler-seed 0 --jobs "${JOBS:-1}" \
    --run-dir "$RUN" || rc=$?
  [ "${KEEP_RUNS:-0}" = 1 ] && save_study "$study"
  [ "$rc" = 0 ] || exit "$rc"
  train_seeds "$study" --base "$base" --gem --recipe "$RUN/tune/$study/best-recipe.toml" ${TUNE_EPOCHS:+--epochs 500}
  keep_study "$study"
done
