# Shell helpers the results/ scripts source (`. "$(dirname "$0")/../lib.sh"`); they read GEM and RUN.
# train_once NAME TRAIN_ARGS...: run NAME trained once, whatever stopped the script before: `gem train TRAIN_ARGS
# --name NAME` run again brings NAME to its end if it was trained with that config (finished: nothing trained;
# interrupted: resumed from its last epoch; never saved an epoch: trained afresh) and stops with one line naming the
# differences if it was trained with another (a run left by an older version or other options is never kept as
# this one).
train_once() {
  local name=$1
  shift
  $GEM train "$@" --name "$name" --run-dir "$RUN"
}
# train_seeds PREFIX TRAIN_ARGS...: train_once PREFIX-sS TRAIN_ARGS --seed S for seeds 0, 1, 2, JOBS (default 1)
# at a time; fails if any of them failed. With KEEP_RUNS=1 (a unit that spans sessions) each run is kept by keep_run
# as soon as it finishes, and a seed whose record OUT/runs/PREFIX-sS is kept already is not trained again.
train_seeds() {
  local prefix=$1 pids=() s rc=0 p
  shift
  for s in 0 1 2; do
    if [ "${KEEP_RUNS:-0}" = 1 ]; then
      [ -f "$OUT/runs/$prefix-s$s/summary.json" ] && continue
      { train_once "$prefix-s$s" "$@" --seed "$s" && keep_run "$prefix-s$s"; } &
    else
      train_once "$prefix-s$s" "$@" --seed "$s" &
    fi
    pids+=($!)
    if [ ${#pids[@]} -ge "${JOBS:-1}" ]; then wait "${pids[0]}" || rc=1; pids=("${pids[@]:1}"); fi
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}
# keep_sweep SWEEP: what a sweep leaves in OUT, to be committed: OUT/SWEEP.md, .csv and .png (its results.md,
# results.csv and figure).
keep_sweep() {
  local src=$RUN/sweeps/$1
  cp "$src/results.md" "$OUT/$1.md"
  cp "$src/results.csv" "$OUT/$1.csv"
  cp "$src/$1.png" "$OUT/$1.png"
}
# keep_study STUDY: what a search and its retraining leave in OUT, to be committed: OUT/STUDY/ (the trials' table
# results.md, best-recipe.toml, Optuna's history.png and importance.png) and OUT/STUDY.md (the retrained runs
# STUDY-sS as `gem report table1 --runs 'STUDY-s*'` shows them; with KEEP_RUNS=1 their kept records, which may
# come from several sessions, as scripts/kept_runs.py tables them).
keep_study() {
  local f
  mkdir -p "$OUT/$1"
  for f in results.md best-recipe.toml history.png importance.png; do
    if [ -f "$RUN/tune/$1/$f" ]; then cp "$RUN/tune/$1/$f" "$OUT/$1/$f"; fi
  done
  if [ "${KEEP_RUNS:-0}" = 1 ]; then
    "${PY:-$(dirname "$GEM")/python}" "$(dirname "${BASH_SOURCE[0]}")/../scripts/kept_runs.py" "$OUT/runs" "$1-s*" --out "$OUT/$1.md"
  else
    $GEM report table1 --runs "$1-s*" --run-dir "$RUN" --out "$OUT/$1.md"
  fi
}
# save_study STUDY / restore_study STUDY: a search that takes several sessions, each a new checkout without runs/.
# save_study keeps the study's state in OUT/STUDY/state (tune.json, Optuna's journal, each ended trial's config.json,
# summary.json and metrics.jsonl, not its weights) and the trials' table so far in OUT/STUDY/results.md;
# restore_study puts the state back in RUN/tune/STUDY when the run directory has no such study, so `gem tune` goes
# on from the trials the journal holds (one interrupted is asked again and, its checkpoint gone, trains afresh).
save_study() {
  local src="$RUN/tune/$1" dst="$OUT/$1/state" t
  [ -f "$src/study.journal" ] || return 0
  rm -rf "$dst.tmp" && mkdir -p "$dst.tmp/trials"
  cp "$src/tune.json" "$src/study.journal" "$dst.tmp/"
  for t in "$src"/trials/*/; do
    grep -qE '"status": "(finished|pruned|diverged)"' "$t/summary.json" 2> /dev/null || continue
    copy_record "$t" "$dst.tmp/trials/$(basename "$t")"
  done
  rm -rf "$dst" && mv "$dst.tmp" "$dst"
  if [ -f "$src/results.md" ]; then cp "$src/results.md" "$OUT/$1/results.md"; fi
}
restore_study() {
  local src="$OUT/$1/state" dst="$RUN/tune/$1"
  if [ -f "$src/study.journal" ] && [ ! -e "$dst/study.journal" ]; then mkdir -p "$dst" && cp -r "$src"/. "$dst"/; fi
}
# keep_run NAME: a finished run's record kept in OUT/runs/NAME, to be committed: its config.json, summary.json (what
# it reached at its best epoch) and metrics.jsonl (every epoch), not its weights. A new checkout has no runs/, so a
# unit that keeps its runs so is done once, whatever session ran it; scripts/kept_runs.py tables the kept records.
keep_run() {
  local src="$RUN/models/$1" dst="$OUT/runs/$1"
  grep -q '"status": "finished"' "$src/summary.json" 2> /dev/null || { echo "keep_run: $src has not finished" >&2; return 1; }
  rm -rf "$dst.tmp" && copy_record "$src" "$dst.tmp"
  rm -rf "$dst" && mv "$dst.tmp" "$dst"
}
# copy_record SRC DST: a run folder's record (config.json, summary.json, metrics.jsonl; not its weights) into DST.
copy_record() {
  mkdir -p "$2" && cp "$1/config.json" "$1/summary.json" "$1/metrics.jsonl" "$2/"
}
