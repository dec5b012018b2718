#!/usr/bin/env bash
# Issue 17: which embedding function helps which base? Resumable: run it again and every step continues (finished
# sweep points are skipped, interrupted ones resume from their last epoch). Give a stage to run only it:
#   recipes:  each graph embedder's recipe for FM, chosen on the validation split (seed 0) by a small grid over
#             Adam's lr (0.002, 0.005) and FM's dropout (0.1, 0.3: gem tune's GCN study, tune-gem-fm.md, found
#             FM dropouts near 0.1 best; mean loss, early stopping at patience 8, 150 epochs at most); gat with
#             att_dim=16 and fanout=16, transformer with its defaults (K=8, 4 heads, 1 layer), whose CPU cost
#             allows 2 points each (lr 0.002, 0.005 at dropout 0.1). The winners become built-in recipes
#             gemcli/recipes/gem-E.toml (scripts/pick_recipe.py writes them, with what they were chosen on; gat's
#             att_dim and fanout reach DeepFM and NFM through a */gat recipe: fine-tune's options and gat's own).
#   study:    gem sweep embedder, 3 seeds: {lookup, gcn, sage, gat, lightgcn, transformer} x {FM, DeepFM, NFM},
#             each point with its model's recipe (FM: the ones above; DeepFM, NFM: fine-tune, from scratch)
#   uncapped: the study with the epoch cap raised to 500 (sweep embedder-uncapped): every point of `study` that
#             early stopping ended within it is adopted (gemcli/adopt.py: the same run under the higher cap), so only
#             the points that reached their recipe's cap (NFM with gcn, gat and the transformer under fine-tune's
#             100) train again, on to early stopping; run alone, it trains all 54. Its table and figure are the
#             study's results in results/frappe
#   ml10m:    FM with every embedder on MovieLens ml-10m (runs/movielens, from ML_SRC, the ml-10m tags.dat), 3 seeds,
#             time and peak memory; ML_JOBS runs at a time (default 1: times of runs alone beside one other job)
set -euo pipefail
GEM=${GEM:-$(pwd)/.venv/bin/gem}
RUN=${RUN:-runs/frappe}
OUT=${OUT:-results/frappe}   # where its tables and figures go (RUN elsewhere: OUT too, not to overwrite these)
ML_OUT=${ML_OUT:-results/movielens}
mkdir -p "$OUT" "$ML_OUT"
ML=${ML:-runs/movielens}
JOBS=${JOBS:-2}
export GEM_THREADS=${GEM_THREADS:-1}
WHAT=${1:-all}
FRAPPE=${FRAPPE:-../shared/data/frappe/Mobile_Frappe.zip}
[ -f "$RUN/data/meta.json" ] || $GEM preprocess frappe --source "$FRAPPE" --run-dir "$RUN"
ls "$RUN"/graphs/*/graph.json > /dev/null 2>&1 || $GEM build-graph --type a --run-dir "$RUN"
FIXED="--optimizer adam --loss-reduction mean --epochs 150 --patience 8"
if [ "$WHAT" = all ] || [ "$WHAT" = recipes ]; then
  for e in sage lightgcn; do
    $GEM sweep --base fm --embedder $e --param lr=0.002,0.005 --param dropout=0.1,0.3 $FIXED \
      --jobs "$JOBS" --name "emb-recipe-$e" --run-dir "$RUN"
  done
  $GEM sweep --base fm --embedder gat --embedder-option att_dim=16 --embedder-option fanout=16 \
    --param lr=0.002,0.005 --dropout 0.1 $FIXED --jobs "$JOBS" --name emb-recipe-gat --run-dir "$RUN"
  $GEM sweep --base fm --embedder transformer --param lr=0.002,0.005 --dropout 0.1 $FIXED \
    --jobs "$JOBS" --name emb-recipe-transformer --run-dir "$RUN"
fi
if [ "$WHAT" = all ] || [ "$WHAT" = study ]; then
  $GEM sweep embedder --seeds 3 --jobs "$JOBS" --run-dir "$RUN"
  $GEM report sweep embedder --against embedder=gcn --run-dir "$RUN" --out "$OUT"/embedder-vs-gcn.md
  cp "$RUN/sweeps/embedder/embedder.png" "$OUT"/embedders.png   # test RMSE and MAE, mean ± sd, per base
fi
if [ "$WHAT" = all ] || [ "$WHAT" = uncapped ]; then
  $GEM sweep embedder --seeds 3 --epochs 500 --jobs "$JOBS" --name embedder-uncapped --run-dir "$RUN"
  $GEM report sweep embedder-uncapped --against embedder=gcn --run-dir "$RUN" --out "$OUT"/embedder-vs-gcn.md
  cp "$RUN/sweeps/embedder-uncapped/embedder-uncapped.png" "$OUT"/embedders.png
fi
if [ "$WHAT" = all ] || [ "$WHAT" = ml10m ]; then
  ML_SRC=${ML_SRC:-../shared/data/movielens/ml-10m/tags.dat}
  [ -f "$ML/data/meta.json" ] || $GEM preprocess movielens --source "$ML_SRC" --run-dir "$ML"
  ls "$ML"/graphs/*/graph.json > /dev/null 2>&1 || $GEM build-graph --type a --run-dir "$ML"
  $GEM sweep --base fm --param embedder=lookup,gcn,sage,lightgcn,gat,transformer --seeds 3 --jobs "${ML_JOBS:-1}" \
    --name fm-embedders --run-dir "$ML"
  $GEM report sweep fm-embedders --against embedder=gcn --run-dir "$ML" --out "$ML_OUT"/embedder-vs-gcn.md
  cp "$ML/sweeps/fm-embedders/fm-embedders.png" "$ML_OUT"/embedders.png
fi
