#!/usr/bin/env bash
# The long studies of issues 17 and 18 as units that each fit one session on this 2-core machine (a session's run
# directory may not outlive it: a new checkout has no runs/). Each unit leaves its results in results/, to be
# committed; `results/queue.sh` runs, in order, every unit whose kept file is not there yet (JOBS points at a time,
# default 2, one thread each; JOBS=1: one point on both cores). A unit stopped part-way resumes if runs/ is still
# there, else starts again (but for what it keeps as it goes: notes (8), (9)).
#   unit             kept file                                   command                               cost on 2 cores
#   ml10m            results/movielens/embedder-vs-gcn.md       embedders.sh ml10m (18 runs)          2 h 6 min (1)
#   dropout-output   results/frappe/dropout-output.csv          converged.sh dropout-output (15)      ~1 h (2)
#   dropout-edges    results/frappe/dropout-edges.csv           converged.sh dropout-edges (12)       27 min (1)
#   dropout-weights  results/frappe/dropout-weights.csv         converged.sh dropout-weights (12)     42 min (1)
#   graph-type       results/frappe/graph-type-converged.md     converged.sh graph-type (12)          ~1.5 h (2)
#   sampling-ratio   results/frappe/sampling-ratio-converged.md converged.sh sampling-ratio (18)      ~1.5 h (2)
#   table1-nfm       results/frappe/table1-converged-nfm.md     converged.sh table1-nfm (15)          ~1 h (3)
#   table1-deepfm    results/frappe/table1-converged-deepfm.md  converged.sh table1-deepfm (15)       ~1 h (3)
#   table1-ifm       results/frappe/table1-converged-ifm.md     converged.sh table1-ifm (15)          ~1.5 h (3)
#   table1-wide_deep results/frappe/table1-converged-wide_deep.md converged.sh table1-wide_deep (15)  ~2 h (3)
#   gap-fm           results/frappe/gap-fm.md                   gap.sh fm (30 trials + 3 runs)        ~1.5 h (4)
#   tune-scratch-deepfm results/frappe/gem-deepfm-scratch.md     tune-scratch.sh deepfm (25 trials + 3) ~2 h (5)
#   tune-scratch-wide_deep results/frappe/gem-wide_deep-scratch.md  tune-scratch.sh wide_deep (25 + 3)  2 h 50 min (5)
#   gap-fm256        results/frappe/gap-fm256.md                gap.sh fm256 (30 trials + 3 runs)     ~2 h (4)
#   table1-ft-afm    results/frappe/table1-converged-afm.md     converged.sh table1-ft-afm (12)       ~2.5 h (7)
#   table1-ft-inn    results/frappe/table1-converged-inn.md     converged.sh table1-ft-inn (12)       ~3.5 h (7)
#   table1-afm       results/frappe/table1-converged-afm.md     converged.sh table1-afm (15)          4.6 h (7)
#   table1-inn       results/frappe/table1-converged-inn.md     converged.sh table1-inn (15)          ~7 h (7)
#     (table1-ft-inn and table1-inn: by name only since 2026-12-01, longer than a session from an empty runs/; INN's
#     plain and fine-tuned rows are in table1-converged-afm.md, its runs from scratch the units below)
#   inn-scratch-s0   results/frappe/runs/table1-scratch-gem-inn-s0/  converged.sh scratch-inn-s0 (1)  ~1-2 h (9)
#   inn-scratch-s1   results/frappe/runs/table1-scratch-gem-inn-s1/  converged.sh scratch-inn-s1 (1)  ~1-2 h (9)
#   inn-scratch-s2   results/frappe/runs/table1-scratch-gem-inn-s2/  converged.sh scratch-inn-s2 (1)  ~1-2 h (9)
#   tune-scratch-inn results/frappe/gem-inn-scratch.md         tune-scratch.sh inn (10 trials + 3)   3-4 sessions (8)
#     (tune-scratch-inn: by name only since 0.4.4, whose INN starts its head as FM's; its kept study's trial ran
#     with 0.4.3's random head, see (8))
#   gap-gem-fm       results/frappe/gap-gem-fm.md               gap.sh gem-fm (30 trials + 3 + 12)    1 h 16 min (10)
# (1) measured 2026-11-30 beside other jobs; (2) estimated from those runs' epochs and times an epoch; (3) estimated
# from table1.md's times an epoch, one run at a time on 2 threads (FM and GEM+FM, the pre-training, ~40 min of it);
# (4) gap-fm measured: 28 of 30 trials in 1 h 45 min, two or three at a time (about half pruned; d = 512 trials ~3 s an
# epoch); the others estimated from it; (5) estimated from table1-deepfm's GEM+DeepFM runs from scratch (30-45
# epochs, ~3.5 s an epoch on 2 threads), 2 trials at a time, about half pruned; tune-scratch-wide_deep measured
# 2026-11-30, alone: two sessions, 6 of 25 trials finished, 50-65 epochs at ~20 s an epoch on one thread, 2 at a time.
# (7) measured 2026-11-30 (gemcli 0.4.3, one run at a time on 2 threads, nothing beside it): ~46 s an AFM epoch
# (table1-afm-s0 from FM, still improving at epoch 39; the 3-4 minutes of table1.md were an older gemcli, two runs at
# a time on one thread each); INN's capped runs took ~1.25x AFM's. Plain AFM from FM and GEM+AFM fine-tuned from
# GEM+FM: 30-40 epochs a run (table1-ft-BASE, its first six runs; it keeps nothing of its own, so it is skipped once
# table1-BASE's table is there and otherwise finds its runs finished); GEM+AFM from scratch under the fine-tune recipe
# descends slowly (valid RMSE 0.464 at epoch 36, still improving; GEM+NFM from scratch took ~110 epochs): 116, 138 and
# 123 epochs run on seeds 0-2 (best 111, 133, 118; ~100 min a run; table1-afm done 2026-12-01 01:50 UTC, 377 epochs at
# ~44 s), so the ft units go first, for both bases, and the runs from scratch after them, several sessions each, each
# continuing the last (interrupted runs resume from their last epoch); table1-inn estimated from AFM's epochs at INN's
# ~51 s. On a lent GPU after gpu_check.sh, `scripts/gpu_table1.sh inn` trains the same runs, three seeds at once, until
# its deadline.
# Side by side does not pay here: GEM+AFM and GEM+INN from scratch on one thread each (T1_THREADS=1, 2026-11-30,
# 22:25 UTC) took 96 s and 108 s an epoch, ~5% less work an hour than one run at a time on 2 threads (46 s, 51 s).
# (8) [0.4.3, random INN head] GEM+INN from scratch under the fine-tune recipe stalls: seed 0 stopped early at valid RMSE 0.4514 (best epoch 64
# of 69, train MSE 0.13; plain INN from FM: 0.289), so its recipe is searched from scratch as GEM+DeepFM's and
# GEM+Wide&Deep's were, with 10 trials capped at 40 epochs so that a trial fits a session (measured 2026-12-01: one
# worker on 2 threads, JOBS=1, 52-70 s an epoch, 41 min a trial; the first 5 trials run unpruned, then median pruning
# after 5 epochs stops the slow ones), the best retrained to 500 (estimated). KEEP_RUNS=1: the study's state and each retrained run are kept in
# results/frappe/gem-inn-scratch/ and results/frappe/runs/ as they end, so each session continues the last one's
# (results/lib.sh's save_study, restore_study, keep_run); a trial cut by a session's end trains again from its start.
# (9) table1-inn's runs from scratch, one seed a unit, kept in results/frappe/runs/ (a new checkout, 2026-12-01, had
# lost runs/ and with it seed 0's run and the FM runs table1-inn starts with). Under 0.4.3's random INN head, seed 1
# took 2026-12-01 04:05-05:30 UTC (62 epochs; 1-11 on one thread beside other runs, ~130 s an epoch, then 2
# threads, 60-86 s) and stalled as seed 0 had: its record moved to results/frappe/runs-head-random/ when 0.4.4 gave
# INN an FM head, so these units train seeds 0-2 anew with it (converged.md).
# gap-gem-fm last: GEM+FM's gap is closed (tune-gem-fm), this searches what that search did not (weight decay,
# schedule, d; the dropout placement has its own study), then a grid over the weight decay at d = 256.
# (10) measured 2026-12-02, JOBS=2 alone: the study 37 min (10 trials finished, 20 pruned), its retraining 10 min
# (d = 512, ~3.7 s an epoch), the grid 25 min (12 runs, ~3.3 min each at d = 256).
# (11) the searches of GEM+DeepFM's and GEM+Wide&Deep's recipes from scratch again, unpruned (12 trials each to early
# stopping): the median rule had stopped the trials that end best. deepfm measured 2026-12-02, JOBS=2 alone: 37 min of
# trials (~7 min each, one thread), 14 min of retraining; wide_deep not run yet (~20 s an epoch: estimated ~2.5 h).
#   tune-scratch-deepfm-none    results/frappe/gem-deepfm-scratch-none.md     51 min
#   tune-scratch-wide_deep-none results/frappe/gem-wide_deep-scratch-none.md  ~2.5 h (estimated)
# Usage: results/queue.sh [--print] [UNIT ...]   (default: every unit not done; log in runs/queue.log; --print:
# each unit's command, nothing run)
# Stop: kill -TERM the `gem` processes (ps -eo pid,args | grep 'bin/gem '): each saves its epoch and exits, and the
# queue ends. A queue already running (its lock, runs/.queue.lock, held) is not started twice.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
export JOBS GEM_THREADS=${GEM_THREADS:-$((JOBS > 1 ? 1 : 2))}  # a point's threads: 1 beside another, else both cores
export ML_JOBS=$JOBS  # the ml10m unit's runs at a time, as every other unit's
declare -A KEPT=(
  [ml10m]=results/movielens/embedder-vs-gcn.md
  [dropout-output]=results/frappe/dropout-output.csv
  [dropout-edges]=results/frappe/dropout-edges.csv
  [dropout-weights]=results/frappe/dropout-weights.csv
  [graph-type]=results/frappe/graph-type-converged.md
  [sampling-ratio]=results/frappe/sampling-ratio-converged.md
  [table1-nfm]=results/frappe/table1-converged-nfm.md
  [table1-deepfm]=results/frappe/table1-converged-deepfm.md
  [table1-ifm]=results/frappe/table1-converged-ifm.md
  [table1-wide_deep]=results/frappe/table1-converged-wide_deep.md
  [gap-fm]=results/frappe/gap-fm.md
  [tune-scratch-deepfm]=results/frappe/gem-deepfm-scratch.md
  [tune-scratch-wide_deep]=results/frappe/gem-wide_deep-scratch.md
  [gap-fm256]=results/frappe/gap-fm256.md
  [table1-ft-afm]=results/frappe/table1-converged-afm.md
  [table1-ft-inn]=results/frappe/table1-converged-inn.md
  [table1-afm]=results/frappe/table1-converged-afm.md
  [table1-inn]=results/frappe/table1-converged-inn.md
  [inn-scratch-s0]=results/frappe/runs/table1-scratch-gem-inn-s0/summary.json
  [inn-scratch-s1]=results/frappe/runs/table1-scratch-gem-inn-s1/summary.json
  [inn-scratch-s2]=results/frappe/runs/table1-scratch-gem-inn-s2/summary.json
  [tune-scratch-inn]=results/frappe/gem-inn-scratch.md
  [gap-gem-fm]=results/frappe/gap-gem-fm.md
  [tune-scratch-deepfm-none]=results/frappe/gem-deepfm-scratch-none.md
  [tune-scratch-wide_deep-none]=results/frappe/gem-wide_deep-scratch-none.md
)
ORDER=(ml10m dropout-output dropout-edges dropout-weights graph-type gap-fm sampling-ratio table1-nfm table1-deepfm
  table1-ifm table1-wide_deep tune-scratch-deepfm tune-scratch-wide_deep gap-fm256
  table1-ft-afm table1-afm inn-scratch-s0 inn-scratch-s1 inn-scratch-s2 gap-gem-fm tune-scratch-deepfm-none
  tune-scratch-wide_deep-none)
command_of() {  # the command line of unit $1 (VAR=VALUE words first: run through env)
  case "$1" in
    ml10m) echo results/frappe/embedders.sh ml10m ;;
    gap-*) echo results/frappe/gap.sh "${1#gap-}" ;;
    tune-scratch-inn) echo KEEP_RUNS=1 TRIALS=10 TUNE_EPOCHS=40 results/frappe/tune-scratch.sh inn ;;  # see (8)
    tune-scratch-*-none) b=${1#tune-scratch-} && echo PRUNER=none TRIALS=12 KEEP_RUNS=1 results/frappe/tune-scratch.sh "${b%-none}" ;;  # (11)
    tune-scratch-*) echo results/frappe/tune-scratch.sh "${1#tune-scratch-}" ;;
    inn-scratch-*) echo results/frappe/converged.sh "scratch-inn-${1#inn-scratch-}" ;;  # see (9)
    *) echo results/frappe/converged.sh "$1" ;;
  esac
}
print=0
if [ "${1:-}" = --print ]; then print=1; shift; fi  # --print [UNIT ...]: each unit's command, nothing run
units=("${@:-${ORDER[@]}}")
for u in "${units[@]}"; do
  [ -n "${KEPT[$u]:-}" ] || { echo "results/queue.sh: unknown unit $u; known: ${ORDER[*]}" >&2; exit 2; }
done
if [ $print = 1 ]; then
  for u in "${units[@]}"; do echo "$u: $(command_of "$u")"; done
  exit 0
fi
mkdir -p runs
exec 9> runs/.queue.lock
flock -n 9 || { echo "results/queue.sh: already running (runs/.queue.lock)" >&2; exit 2; }
for u in "${units[@]}"; do
  if [ $# -eq 0 ] && [ -f "${KEPT[$u]}" ]; then continue; fi  # done in an earlier session (asked by name: again)
  echo "== $u ($(date -u +%H:%M) UTC)"
  # shellcheck disable=SC2046  # the command's words, split on purpose
  env $(command_of "$u") || { echo "== $u stopped (exit $?)"; exit 1; }
  if [ -f "${KEPT[$u]}" ]; then echo "== $u done: ${KEPT[$u]} ($(date -u +%H:%M) UTC)"
  else echo "== $u done ($(date -u +%H:%M) UTC)"; fi
done
