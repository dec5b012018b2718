# Shell helpers the results/ scripts source (`. "$(dirname "$0")/../lib.sh"`); they read GEM and RUN.
# train_once NAME TRAIN_ARGS...: run NAME trained once, whatever stopped the script before: a finished run
# (summary.json says so) is left as it is; an interrupted one (a checkpoint, no finished summary) goes on from its
# last epoch (`gem train --resume`); anything else (nothing, or a run that never saved an epoch) is trained afresh
# with `gem train TRAIN_ARGS --name NAME`.
train_once() {
  local name=$1 dir="$RUN/models/$1"
  shift
  if [ -f "$dir/summary.json" ] && grep -q '"status": "finished"' "$dir/summary.json"; then return 0; fi
  if [ -f "$dir/checkpoint.pt" ]; then
    $GEM train --resume --run "$name" --run-dir "$RUN"
  else
    rm -rf "$dir"
    $GEM train "$@" --name "$name" --run-dir "$RUN"
  fi
}
# train_seeds PREFIX TRAIN_ARGS...: train_once PREFIX-sS TRAIN_ARGS --seed S for seeds 0, 1, 2, JOBS (default 1)
# at a time; fails if any of them failed.
train_seeds() {
  local prefix=$1 pids=() s rc=0 p
  shift
  for s in 0 1 2; do
    train_once "$prefix-s$s" "$@" --seed "$s" &
    pids+=($!)
    if [ ${#pids[@]} -ge "${JOBS:-1}" ]; then wait "${pids[0]}" || rc=1; pids=("${pids[@]:1}"); fi
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}
# keep_study STUDY: what a search and its retraining leave in OUT, to be committed: OUT/STUDY/ (the trials' table
# results.md, best-recipe.toml, Optuna's history.png and importance.png) and OUT/STUDY.md (the retrained runs
# STUDY-sS as `gem report table1 --runs 'STUDY-s*'` shows them).
keep_study() {
  local f
  mkdir -p "$OUT/$1"
  for f in results.md best-recipe.toml history.png importance.png; do
    if [ -f "$RUN/tune/$1/$f" ]; then cp "$RUN/tune/$1/$f" "$OUT/$1/$f"; fi
  done
  $GEM report table1 --runs "$1-s*" --run-dir "$RUN" --out "$OUT/$1.md"
}
