#!/usr/bin/env bash
# Issue 18's converged Table 1 for the bases too slow for this CPU (AFM, INN: ~46 s an AFM epoch on 2 threads; plain
# and fine-tuned runs 30-40 epochs, GEM+AFM from scratch: best epochs 111, 133, 118 on seeds 0-2, ~100 min a run;
# AFM's are all done on the CPU, INN's from scratch remain) on a lent GPU, in one command, after
# scripts/gpu_check.sh (which a session with a device runs first):
#   here:   scripts/gpu_wheels.sh
#   device: run(command="DEADLINE=S bash scripts/gpu_table1.sh inn", carry=[".whl", ".gpudata"], timeout_s=T)
#           with T the device time left (at most 600) and S about T - 120 (a run may go on 60 s past S, then the
#           table and the copies)
# The runs `converged.sh table1-BASE` makes (`gem report table1 --run-missing`), with the same names and options, but
# one lane a seed, the three lanes at once on the one GPU: lane S trains table1-fm-sS and table1-gem-fm-sS (FM and
# GEM+FM, their recipes), then per base GEM from scratch (table1-scratch-gem-BASE-sS), plain from FM
# (table1-BASE-sS) and GEM fine-tuned from GEM+FM (table1-gem-BASE-sS), each to early stopping with the cap at
# EPOCHS (500, as converged.sh). A lane starts no run after DEADLINE seconds (default 480) and every run still going
# then (DEADLINE + 60 s) is stopped (SIGTERM: it saves its epoch); whatever happened, the table (`gem report table1`, which names
# every run left unfinished and how far it got) and each run's config, summary and epochs come back in $OUT.
# Numbers are the card's, not this CPU's: say which card beside them.
# Usage: bash scripts/gpu_table1.sh BASE...   (env: DATA, RUN, OUT, EPOCHS, DEADLINE, EXTRA: more `gem train` options)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
RUN=${RUN:-/tmp/gem-table1}
DATA=${DATA:-.gpudata/Mobile_Frappe.zip}
EPOCHS=${EPOCHS:-500}
DEADLINE=${DEADLINE:-480}
read -r -a EXTRA <<< "${EXTRA:-}"
[ $# -ge 1 ] || { echo "usage: scripts/gpu_table1.sh BASE... (afm inn)" >&2; exit 2; }
if [ -z "${GEM:-}" ]; then
  if ls .whl/*.whl > /dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
  fi
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
  GEM="python3 -m gemcli.cli"
fi
export PYTHONUNBUFFERED=1 GEM_THREADS=${GEM_THREADS:-4}
start=$(date +%s)
log() { echo "[$(( $(date +%s) - start )) s] $*"; }
[ -f "$RUN/data/meta.json" ] || $GEM preprocess frappe --source "$DATA" --run-dir "$RUN" > "$OUT/preprocess.txt" 2>&1 \
  || { tail -3 "$OUT/preprocess.txt"; exit 2; }
ls "$RUN"/graphs/*/graph.json > /dev/null 2>&1 || $GEM build-graph --type a --run-dir "$RUN" > "$OUT/graph.txt" 2>&1 \
  || { tail -3 "$OUT/graph.txt"; exit 2; }
. results/lib.sh  # train_once: finished with this config, skipped; interrupted, resumed; another config, an error
train() {  # train NAME OPTIONS...: train_once, unless the deadline has passed (then the lane stops)
  local name=$1
  shift
  local elapsed=$(( $(date +%s) - start ))
  if [ "$elapsed" -ge "$DEADLINE" ]; then log "$name: not started (deadline)"; return 1; fi
  log "$name"
  # past DEADLINE + 60 s a run is stopped (SIGTERM: it saves its epoch; SIGKILL 30 s later if it has not ended)
  GEM="timeout -s TERM -k 30 $(( DEADLINE + 60 - elapsed )) $GEM" train_once "$name" "$@" "${EXTRA[@]}" \
    > "$OUT/$name.txt" 2>&1
  local rc=$?
  log "$name: exit $rc, $(tail -1 "$OUT/$name.txt")"
  return $rc
}
lane() {  # lane SEED BASE...
  local s=$1 base
  shift
  train "table1-fm-s$s" --base fm --seed "$s" || return
  train "table1-gem-fm-s$s" --base fm --gem --seed "$s" || return
  for base in "$@"; do
    train "table1-scratch-gem-$base-s$s" --base "$base" --gem --seed "$s" --epochs "$EPOCHS" || return
    train "table1-$base-s$s" --base "$base" --pretrain "table1-fm-s$s" --seed "$s" --epochs "$EPOCHS" || return
    train "table1-gem-$base-s$s" --base "$base" --gem --pretrain "table1-gem-fm-s$s" --seed "$s" --epochs "$EPOCHS" \
      || return
  done
}
pids=()
for s in 0 1 2; do lane "$s" "$@" & pids+=($!); done
wait "${pids[@]}"
log "lanes done"
$GEM report table1 --run-dir "$RUN" --out "$OUT/table1-gpu.md" > "$OUT/report.txt" 2>&1
cat "$OUT/report.txt"
for d in "$RUN"/models/*/; do  # each run's record, small: config, summary, every epoch's metrics
  mkdir -p "$OUT/models/$(basename "$d")"
  cp "$d"config.json "$d"summary.json "$d"metrics.jsonl "$OUT/models/$(basename "$d")/" 2> /dev/null
done
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2> /dev/null || echo "no GPU"; } \
  > "$OUT/card.txt"
log "done: $OUT/table1-gpu.md ($(cat "$OUT/card.txt"))"
