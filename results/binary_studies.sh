#!/usr/bin/env bash
# The binary (click-through-rate) studies of issue 15, resumable: run it again and every sweep continues where
# it stopped (finished points are skipped, interrupted ones resume from their last epoch).
#   Frappe, the Frappe_x1 protocol (labels 0/1, 7:2:1 split): FM, DeepFM, NFM, Wide&Deep, then IFM, AFM, INN,
#     each with and without GEM, 3 seeds, each model's recipe, early stopping on validation AUC -> runs/frappe-binary
#   MovieLens ml-10m tags, labels 0/1, 8:1:1: FM, DeepFM, NFM with and without GEM, 3 seeds -> runs/movielens-binary
# The two sweeps run side by side, one torch thread each (2 cores). Tables: gem report table1 --sweep NAME.
# Usage: results/binary_studies.sh [frappe|movielens|both]
set -euo pipefail
GEM=${GEM:-$(pwd)/.venv/bin/gem}
FRAPPE=${FRAPPE:-../shared/data/frappe/Mobile_Frappe.zip}
TAGS=${TAGS:-../shared/data/movielens/ml-10m/tags.dat}
WHAT=${1:-both}
mkdir -p runs
frappe() {
  [ -f runs/frappe-binary/data/meta.json ] ||
    $GEM preprocess frappe --source "$FRAPPE" --labels 01 --split 7:2:1 --run-dir runs/frappe-binary
  ls runs/frappe-binary/graphs/*/graph.json >/dev/null 2>&1 || $GEM build-graph --type a --run-dir runs/frappe-binary
  GEM_THREADS=1 $GEM sweep --param base=fm,deepfm,nfm,wide_deep --param embedder=lookup,gcn --seeds 3 \
    --name binary-frappe --run-dir runs/frappe-binary
  # the other three bases join the same sweep (it grows by the points asked): CPU-hours (an AFM epoch ~5 minutes)
  GEM_THREADS=1 $GEM sweep --param base=ifm,afm,inn --param embedder=lookup,gcn --seeds 3 \
    --name binary-frappe --run-dir runs/frappe-binary
  $GEM report table1 --sweep binary-frappe --run-dir runs/frappe-binary --out results/frappe/binary-table.md
}
movielens() {
  [ -f runs/movielens-binary/data/meta.json ] ||
    $GEM preprocess movielens --source "$TAGS" --labels 01 --run-dir runs/movielens-binary
  ls runs/movielens-binary/graphs/*/graph.json >/dev/null 2>&1 || $GEM build-graph --type a --run-dir runs/movielens-binary
  GEM_THREADS=1 $GEM sweep --param base=fm,deepfm,nfm --param embedder=lookup,gcn --seeds 3 \
    --name binary-movielens --run-dir runs/movielens-binary
  $GEM report table1 --sweep binary-movielens --run-dir runs/movielens-binary --out results/movielens/binary-table.md
}
case "$WHAT" in
  frappe) frappe ;;
  movielens) movielens ;;
  both) frappe >> runs/binary-frappe.log 2>&1 & movielens >> runs/binary-movielens.log 2>&1 & wait ;;
esac
