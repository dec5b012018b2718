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
