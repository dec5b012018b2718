#!/usr/bin/env bash
# The long studies of issues 17 and 18 in their order, on this 2-core machine: one command that a session starts and
# the next session starts again. Every stage is resumable (finished points and trials are skipped, interrupted ones
# resume from their last epoch), so a lane stopped anywhere continues where it stopped; a stage that fails or is
# interrupted ends its lane (nothing runs on a half-finished stage).
#   lane 17: embedders.sh recipes -> the transformer's recipe written (scripts/pick_recipe.py, once) -> embedders.sh
#            uncapped (the study, 54 runs, under a 500-epoch cap; the points of the first study, capped at the
#            recipes' epochs, that early stopping ended are adopted) -> embedders.sh ml10m (18 runs, one at a time:
#            their time and peak memory are reported)
#   lane 18: converged.sh dropout -> converged.sh studies -> gap.sh -> converged.sh table1 -> tune-scratch.sh
#            (GEM+DeepFM from scratch: its recipe searched, issue 18's step for a base that trails from scratch)
# Usage: results/queue.sh [17|18]   (logs in runs/lane-17.log, runs/lane-18.log)
#   default: issue 17 first, on both cores (two points at a time, one thread each) up to its ml-10m stage, which runs
#            one run at a time beside lane 18; then lane 18 goes on alone
#   17, 18:  that lane alone, JOBS points at a time (default 1)
# Stop: kill -TERM the `gem` processes (ps -eo pid,args | grep 'bin/gem '): each saves its epoch and exits, and the
# lane ends. A lane already running (its lock, runs/.lane-N.lock, held) is not started twice.
set -uo pipefail
cd "$(dirname "$0")/.."
export GEM_THREADS=1
PY=${PY:-.venv/bin/python}

frappe_17() {
  results/frappe/embedders.sh recipes || return
  if [ ! -f gemcli/recipes/gem-transformer.toml ]; then
    $PY scripts/pick_recipe.py runs/frappe/sweeps/emb-recipe-transformer gem-transformer "fm/transformer" || return
  fi
  results/frappe/embedders.sh uncapped  # supersedes `study` (stopped 2026-11-29 23:50 with 51 of its 54 runs)
}

ml10m_17() {
  results/frappe/embedders.sh ml10m
}

lane_17() {
  frappe_17 || return
  ml10m_17
}

lane_18() {
  results/frappe/converged.sh dropout || return
  results/frappe/converged.sh studies || return
  results/frappe/gap.sh || return
  results/frappe/converged.sh table1 || return
  results/frappe/tune-scratch.sh deepfm
}

lane() {  # lane N [STEP]: STEP (default lane_N) under lane N's lock
  exec 9> "runs/.lane-$1.lock"
  flock -n 9 || { echo "results/queue.sh: lane $1 is already running" >&2; return 2; }
  "${2:-lane_$1}"
}

mkdir -p runs
case "${1:-both}" in
  17 | 18) JOBS=${JOBS:-1} lane "$1" ;;
  both)
    rm -f runs/.lane-17-frappe-done
    (
      JOBS=2 lane 17 frappe_17 || exit
      touch runs/.lane-17-frappe-done
      JOBS=1 lane 17 ml10m_17
    ) > runs/lane-17.log 2>&1 &
    first=$!
    (  # lane 18 takes the other core once lane 17's Frappe part is done; not if it was stopped or failed
      while kill -0 $first 2> /dev/null && [ ! -f runs/.lane-17-frappe-done ]; do sleep 30; done
      [ -f runs/.lane-17-frappe-done ] && JOBS=1 lane 18
    ) > runs/lane-18.log 2>&1 &
    wait
    ;;
  *) echo "usage: results/queue.sh [17|18]" >&2; exit 2 ;;
esac
