"""`gem tune`: a search over `gem train` options on Optuna (its samplers, pruners and storages).

RUN_DIR/tune/NAME/
  tune.json             what the search was asked: base, embedder, fixed options, recipe, space, metric, seeds
  study.journal         the Optuna study (its journal file; or the database of --storage URL)
  trials/trialNNNN-sS/  a normal run per trial and seed (config.json, model.pt, metrics.jsonl, summary.json, ...)
  results.csv|md        every trial: state, parameters, the objective, test metrics, best or pruned epoch
  best-recipe.toml      the best trial's options as a recipe: gem train --recipe RUN_DIR/tune/NAME/best-recipe.toml
  history.png, importance.png   Optuna's optimisation history and parameter importances (matplotlib)

A trial's value is the mean over its seeds of the validation metric at the best epoch (early stopping
watches the same metric). The pruner hears the first seed's validation metric after every epoch; a pruned
trial leaves a folder whose summary says "pruned". Several `gem tune` processes (or Ray tasks) on one study
share the work: each asks Optuna for a trial only while the study has fewer than --trials trials complete,
pruned or running, so together they finish exactly that many. A trial whose process died (its lock is
free) or was interrupted is asked again with the same parameters and resumes from its folders' checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gemcli import rundir
from gemcli.config import NOT_IN_RECIPES, RunConfig, differing

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from gemcli.executors import ExecutorSpec
    from gemcli.options import OptionValue
from gemcli.errors import GemError

FORMAT = "gemcli-tune/1"
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")
STARTUP_TRIALS = 5  # trials the sampler draws at random and the median pruner waits for before it prunes


@dataclass(frozen=True)
class Dist:
    """One searched option: kind float (uniform), log (log-uniform), int, or choice."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[str, ...] = ()

    def spec(self) -> str:
        if self.kind == "choice":
            return f"{self.key}=choice:{','.join(self.choices)}"
        prefix = {"float": "", "log": "log:", "int": "int:"}[self.kind]
        return f"{self.key}={prefix}{self.low:g}:{self.high:g}"


def parse_space(specs: list[str]) -> list[Dist]:
    """--param NAME=log:LO:HI | LO:HI | int:LO:HI | choice:A,B,C -> the search space, checked."""
    from gemcli.config import recipe_keys
    from gemcli.points import convert as _convert

    space: list[Dist] = []
    for spec in specs:
        if "=" not in spec:
            raise GemError(f"--param {spec!r}: expected NAME=log:LO:HI, NAME=LO:HI, NAME=int:LO:HI or NAME=choice:A,B")
        key, text = (t.strip() for t in spec.split("=", 1))
        key = key.replace("-", "_")
        if key not in recipe_keys():
            allowed = ", ".join(recipe_keys())
            raise GemError(f"--param {key!r}: not an option a search can vary; known: {allowed}")
        if key in {d.key for d in space}:
            raise GemError(f"--param {key}: given twice")
        kind, _, rest = text.partition(":") if text.split(":", 1)[0] in ("log", "int", "choice") else ("", "", text)
        if kind == "choice":
            choices = tuple(v.strip() for v in rest.split(",") if v.strip())
            if len(choices) < 2:
                raise GemError(f"--param {spec!r}: a choice needs two values or more")
            for c in choices:
                _convert(key, c)  # each value checked against the option now, not in trial 40
            space.append(Dist(key, "choice", choices=choices))
            continue
        parts = rest.split(":")
        try:
            lo, hi = (int(p) if kind == "int" else float(p) for p in parts) if len(parts) == 2 else (None, None)
        except ValueError:
            lo = hi = None
        if lo is None or hi is None or not lo < hi:
            raise GemError(f"--param {spec!r}: expected two numbers LO:HI with LO < HI")
        if kind == "log" and lo <= 0:
            raise GemError(f"--param {spec!r}: a log range needs LO > 0")
        _convert(key, parts[0], check_range=False)  # the option takes numbers of this kind
        for bound in parts:  # and each bound is in its range (no trial draws a value the option refuses)
            _convert(key, bound)
        space.append(Dist(key, kind or "float", float(lo), float(hi)))
    if not space:
        raise GemError("give the options to search: --param lr=log:1e-4:1e-1 --param dropout=0:0.5 ...")
    return space


def suggest(trial: optuna.Trial, dist: Dist) -> OptionValue:
    """The trial's value of one option, as the option's type."""
    from gemcli.points import convert as _convert

    if dist.kind == "choice":
        return _convert(dist.key, trial.suggest_categorical(dist.key, list(dist.choices)))
    if dist.kind == "int":
        return _convert(dist.key, str(trial.suggest_int(dist.key, int(dist.low), int(dist.high))))
    value = trial.suggest_float(dist.key, dist.low, dist.high, log=dist.kind == "log")
    return _convert(dist.key, repr(value))


@dataclass(frozen=True)
class TuneSpec:
    """What a search is: saved as tune.json and checked when the search is run again."""

    name: str
    base: str
    embedder: str
    options: dict[str, OptionValue]  # the fixed options given
    recipe: str | None
    space: tuple[str, ...]  # the --param specs, normalised
    metric: str  # valid_<metric>
    seeds: tuple[int, ...]
    sampler: str
    pruner: str
    warmup: int
    sampler_seed: int | None
    trials: int
    storage: str | None  # None: the journal file beside the trials
    task: str = "regression"  # as the data and --task decide (build.finalise_train)
    embedder_options: dict[str, OptionValue] | None = None

    def key(self) -> dict[str, Any]:
        """What must match for a run again to continue the same study (not --trials, nor the sampler seed)."""
        d = self.to_dict()
        for k in ("trials", "sampler_seed", "storage", "name"):
            d.pop(k)
        return d

    def to_dict(self) -> dict[str, Any]:
        plain: dict[str, Any] = json.loads(json.dumps(self.__dict__, default=str))
        return plain


def tune_root(run_dir: Path, name: str) -> Path:
    return Path(run_dir) / "tune" / name


def _storage(spec: TuneSpec, root: Path) -> optuna.storages.BaseStorage:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    if spec.storage:
        try:
            return optuna.storages.RDBStorage(spec.storage, engine_kwargs=_engine_kwargs(spec.storage))
        except Exception as e:  # noqa: BLE001 - SQLAlchemy's many errors: one line naming the URL
            said = rundir.redact(str(e).splitlines()[0] if str(e).strip() else type(e).__name__)
            raise GemError(f"--storage {rundir.redact(spec.storage)}: {said}") from None
    path = root / "study.journal"
    check_journal_file(path)
    # open-lock (a lock file beside the journal): works on the network file systems a cluster shares
    return optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))


DB_TIMEOUT = 20  # seconds a database server has to accept a connection (and, PostgreSQL, to answer a statement)


def _engine_kwargs(url: str) -> dict[str, Any]:
    """Timeouts for a server that accepts and never answers: without them a search would wait for ever."""
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": DB_TIMEOUT, "options": f"-c statement_timeout={DB_TIMEOUT * 1000}"}}
    if url.startswith("mysql"):
        return {"connect_args": {"connect_timeout": DB_TIMEOUT, "read_timeout": DB_TIMEOUT}}
    return {}


def check_journal_file(path: Path) -> None:
    """Every line of a study's journal a complete JSON record: a crash or a full disk during an append leaves a
    damaged line, which Optuna would meet with a traceback. One line naming the first damaged line and how to keep
    the trials recorded before it."""
    if not path.is_file():
        return
    with path.open("rb") as f:
        for i, raw in enumerate(f, 1):
            try:
                record = json.loads(raw)
                ok = isinstance(record, dict) and "op_code" in record
            except (ValueError, RecursionError):
                ok = False
            if not ok:
                raise GemError(
                    f"{path}: line {i} is damaged (not a whole record: a crash or a full disk while it was written); "
                    f"keep the {i - 1} records before it with `head -n {i - 1} {path} > {path}.kept && mv "
                    f"{path}.kept {path}` (trials recorded later are lost and run again), or move it away to start "
                    "the study afresh"
                )


def _sampler(spec: TuneSpec, n: int = 0) -> optuna.samplers.BaseSampler:
    """The study's sampler as it draws trial `n` (the study's trials so far): seeded by --sampler-seed and n, so that
    no two trials draw alike, whether workers share a study (each would otherwise draw the seed's first trial) or
    a study is run again (it would draw its first trials again), and a random study's trials are the same however
    many processes run it. TPE's later trials also depend on which trials had ended when they were asked."""
    import optuna

    seed = None if spec.sampler_seed is None else (spec.sampler_seed * 1_000_003 + n) % 2**32
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS)


def _pruner(spec: TuneSpec, epochs: int) -> optuna.pruners.BasePruner:
    import optuna

    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=spec.warmup)
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, spec.warmup), max_resource=max(2, epochs))
    return optuna.pruners.NopPruner()


def direction(metric: str) -> Literal["minimize", "maximize"]:
    from gemcli.tasks import higher_is_better

    return "maximize" if higher_is_better(metric.removeprefix("valid_")) else "minimize"


def open_study(spec: TuneSpec, root: Path, epochs: int) -> optuna.Study:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    study = optuna.create_study(
        study_name=spec.name,
        storage=_storage(spec, root),
        sampler=_sampler(spec),
        pruner=_pruner(spec, epochs),
        direction=direction(spec.metric),
        load_if_exists=True,
    )
    saved = study.user_attrs.get("gemcli")
    if saved is None:
        study.set_user_attr("gemcli", spec.key())
    else:
        check_same(saved, spec, f"study {spec.name} in {rundir.redact(spec.storage or str(root / 'study.journal'))}")
    return study


def check_same(saved: dict[str, Any], spec: TuneSpec, what: str) -> None:
    """One line naming the settings that differ when a search is run again with others than `saved` (tune.json
    or the study's own record) holds; --trials, the sampler's seed and the storage may change."""
    now = spec.key()
    then = {k: saved.get(k) for k in now}
    if then != now:
        diffs = _flat_diffs(then, now)
        shown = "; ".join(f"{k} then {a!r}, now {b!r}" for k, a, b in diffs[:4]) + ("; ..." if len(diffs) > 4 else "")
        raise GemError(f"{what} was made with other settings ({shown}); give --name NEW for a new study beside it")


def _flat_diffs(then: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(setting, then, now) for each setting that differs, the options given by their own names (epochs, not
    options)."""
    diffs: list[tuple[str, Any, Any]] = []
    for k in dict.fromkeys([*then, *now]):
        a, b = then.get(k), now.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += [(kk, a.get(kk), b.get(kk)) for kk in dict.fromkeys([*a, *b]) if a.get(kk) != b.get(kk)]
        elif a != b:
            diffs.append((k, a, b))
    return diffs


# --- the worker: ask, train, tell, until the study has its trials ---


def _trial_lock(root: Path, number: int) -> Path:
    return root / "trials" / f".trial{number:04d}.lock"


def _folders(root: Path, number: int, seeds: tuple[int, ...]) -> list[Path]:
    return [root / "trials" / f"trial{number:04d}-s{s}" for s in seeds]


def _origin(t: FrozenTrial) -> int:
    """The trial whose folders a trial uses: itself, or the one it resumes."""
    return int(t.user_attrs.get("resumes", t.number))


def _requeue_orphans(study: optuna.Study, root: Path) -> list[int]:
    """Trials left by a process that died (RUNNING, their lock free) or was interrupted (FAIL, marked so),
    not yet asked again: failed (if running) and queued again with their parameters, so that the next
    trial resumes their folders. Returns their numbers. Called under the study's lock."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done: list[int] = []
    for t in trials:
        origin = _origin(t)
        dead = t.state == TrialState.RUNNING and (
            not rundir.is_locked(_trial_lock(root, t.number))
            if "lock" in t.user_attrs
            else _age(t) > UNLOCKED_GRACE_S  # died between being asked for and taking its lock
        )
        interrupted = t.state == TrialState.FAIL and t.user_attrs.get("interrupted")
        if not (dead or interrupted):
            continue
        if any(u.number > t.number and _origin(u) == origin for u in trials):
            continue  # asked again already (if that one ended unfinished too, it is the one to ask again)
        if dead:
            with contextlib.suppress(Exception):  # another process got there first
                study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"resumes": origin}, skip_if_exists=False)
        done.append(t.number)
    return done


UNLOCKED_GRACE_S = 120.0  # a running trial that has not taken its lock after this long lost its worker


def _age(t: FrozenTrial) -> float:
    """Seconds since the trial started."""
    from datetime import datetime

    start = t.datetime_start
    return (datetime.now(start.tzinfo) - start).total_seconds() if start is not None else 0.0


def _count(study: optuna.Study) -> int:
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return sum(t.state in states for t in study.get_trials(deepcopy=False))


def _trial_configs(
    run_dir: Path, spec: TuneSpec, values: dict[str, Any], runs: list[tuple[int, Path]]
) -> list[RunConfig]:
    """The configs of a trial's runs, one per (seed, folder), its searched options at `values`."""
    from gemcli.build import finalise_train
    from gemcli.points import resolve_point

    meta = rundir.read_meta(run_dir)
    pt = resolve_point(
        {**values, "base": spec.base},
        spec.options,
        spec.recipe,
        spec.base,
        meta,
        run_dir,
        spec.embedder,
        spec.embedder_options,
    )
    monitor = spec.metric.removeprefix("valid_")
    return [
        replace(
            pt.config,
            name=folder.name,
            train=finalise_train(replace(pt.config.train, seed=seed, monitor=monitor), meta),
        )
        for seed, folder in runs
    ]


def check_trials_alike(run_dir: Path, spec: TuneSpec, root: Path, space: list[Dist]) -> None:
    """Stop, naming the differences, when a trial already trained was built otherwise than this gemcli would build
    it now from the same searched values (a default that changed between versions, e.g. INN's head_init in
    0.4.4): the study's trials would no longer differ only in what it searches."""
    from gemcli.adopt import wanted
    from gemcli.config import config_key, describe_diff, option_values

    path = next(iter(sorted((root / "trials").glob("trial*-s*/config.json"))), None)
    if path is None:
        return
    saved = rundir.read_json(path)  # any difference (even an edit): one line naming it
    then = RunConfig.from_dict(saved)
    values = {d.key: option_values(then).get(d.key) for d in space}
    (now,) = _trial_configs(run_dir, spec, values, [(then.train.seed, path.parent)])
    diffs = differing(config_key(saved), config_key(wanted(run_dir, now)))
    if diffs:
        raise GemError(
            f"study {spec.name}: {path.parent.name} was trained with other settings than this gemcli gives the "
            f"same trial now ({describe_diff(diffs)}); give --name NEW for a new study beside it"
        )


def _train_trial(
    run_dir: Path, spec: TuneSpec, root: Path, trial: Any, space: list[Dist], threads: int | None
) -> float:
    """Train the trial's runs (one per seed, resuming its folders if it resumes an earlier trial); its value."""
    import optuna

    from gemcli.train import fit_or_resume

    values = {d.key: suggest(trial, d) for d in space}
    origin = _origin(trial)
    summaries = []
    runs = list(zip(spec.seeds, _folders(root, origin, spec.seeds), strict=True))
    for i, ((_, folder), cfg) in enumerate(zip(runs, _trial_configs(run_dir, spec, values, runs), strict=True)):

        def hook(epoch: int, row: dict[str, Any]) -> bool:
            trial.report(row[spec.metric], epoch)
            return bool(trial.should_prune())

        summary = fit_or_resume(run_dir, cfg, folder, quiet=True, threads=threads, on_epoch=hook if i == 0 else None)
        summaries.append(summary)
        status = summary.get("status")
        if status == "interrupted":  # the worker marks the trial so and stops
            raise KeyboardInterrupt
        if status == "pruned":
            trial.set_user_attr("epochs", summary["epochs_run"])
            raise optuna.TrialPruned()
        if status != "finished":
            trial.set_user_attr("diverged", folder.name)
            return float("nan")
    for m in {spec.metric, *(k for k in summaries[0] if k.startswith("test_"))}:
        trial.set_user_attr(m, statistics.fmean(s[m] for s in summaries))
    trial.set_user_attr("best_epochs", [s["best_epoch"] for s in summaries])
    return statistics.fmean(s[spec.metric] for s in summaries)


def worker(run_dir: str, spec_dict: dict[str, Any], space_specs: list[str], threads: int | None, epochs: int) -> int:
    """Ask the study for trials and train them until it has spec.trials trials complete, pruned or running.
    Returns the number of trials this worker finished (a local process or a Ray task)."""
    import optuna
    from optuna.trial import TrialState

    from gemcli.runtime import start_compute

    start_compute(threads)
    spec = TuneSpec(**{**spec_dict, "seeds": tuple(spec_dict["seeds"]), "space": tuple(spec_dict["space"])})
    space = parse_space(space_specs)
    root = tune_root(Path(run_dir), spec.name)
    study = open_study(spec, root, epochs)
    finished = 0
    while True:
        with _study_lock(root):
            _requeue_orphans(study, root)
            if _count(study) >= spec.trials:
                return finished
            if spec.sampler_seed is not None:  # the n-th trial of its own (a resumed one draws nothing)
                study.sampler = _sampler(spec, len({_origin(t) for t in study.get_trials(deepcopy=False)}))
            trial = study.ask()
        lock = _trial_lock(root, trial.number)
        with rundir.locked(lock, f"trial {trial.number} of study {spec.name}"):
            trial.set_user_attr("lock", lock.name)
            try:
                value = _train_trial(Path(run_dir), spec, root, trial, space, threads)
            except optuna.TrialPruned:
                study.tell(trial, state=TrialState.PRUNED)
            except KeyboardInterrupt:
                trial.set_user_attr("interrupted", True)
                study.tell(trial, state=TrialState.FAIL)
                raise
            except Exception:
                study.tell(trial, state=TrialState.FAIL)
                raise
            else:
                if math.isfinite(value):
                    study.tell(trial, value)
                else:
                    study.tell(trial, state=TrialState.FAIL)
        finished += 1
        with _study_lock(root):
            write_results(study, spec, root)


def _study_lock(root: Path) -> contextlib.AbstractContextManager[Any]:
    """One process at a time asks for a trial or writes the results (waiting for the others)."""
    return rundir.locked(root / ".study.lock", f"study in {root}", wait=True)


# --- what a search leaves: the table, the recipe, the figures ---


def _state(t: FrozenTrial, trials: list[FrozenTrial]) -> str:
    """finished, pruned, running, waiting; interrupted (Ctrl-C), lost (its worker died), diverged, failed; an
    interrupted or lost trial says which later trial resumed its folders."""
    name: str = t.state.name.lower()
    if name != "fail":
        return {"complete": "finished"}.get(name, name)
    if t.user_attrs.get("diverged"):
        return "diverged"
    later = [u.number for u in trials if u.number > t.number and _origin(u) == _origin(t)]
    what = "interrupted" if t.user_attrs.get("interrupted") else "lost" if later else "failed"
    return what + (f", resumed by {later[0]}" if later else "")


def write_results(study: optuna.Study, spec: TuneSpec, root: Path) -> None:
    """results.csv and results.md (every trial), best-recipe.toml, history.png and importance.png."""
    from gemcli.results import write_csv, write_page
    from gemcli.tasks import get_task

    trials = study.get_trials(deepcopy=False)
    check_journal(trials, spec, root)
    keys = [s.split("=", 1)[0].strip().replace("-", "_") for s in spec.space]
    tests = [f"test_{m}" for m in get_task(spec.task).headline]
    rows = [_trial_row(t, trials, spec, root, keys, tests) for t in trials]
    write_csv(root / "results.csv", ["trial", "state", *keys, spec.metric, *tests, "epochs", "folders"], rows, "tune")
    best = None
    with contextlib.suppress(ValueError):
        best = study.best_trial
    table = [
        "| trial | state | " + " | ".join(keys) + f" | {spec.metric} | " + " | ".join(tests) + " | epochs |",
        "|---:|---|" + "---:|" * len(keys) + "---:|" + "---:|" * len(tests) + "---:|",
    ]
    for r in rows:
        params = [_fmt(v) for v in r[2 : 2 + len(keys)]]
        nums = [f"{float(v):.4f}" if v != "" else "-" for v in r[2 + len(keys) : 5 + len(keys)]]
        table.append(f"| {r[0]} | {r[1]} | " + " | ".join(params + nums) + f" | {r[5 + len(keys)]} |")
    notes = []
    if best is not None:
        notes.append(
            f"Best: trial {best.number}, {spec.metric} {best.value:.4f} "
            + f"({', '.join(f'{k}={_fmt(v)}' for k, v in best.params.items())}); "
            + "its options are in best-recipe.toml (`gem train --recipe "
            + f"{root / 'best-recipe.toml'}`)."
        )
        write_recipe(root / "best-recipe.toml", spec, best)
    intro = (
        f"{spec.base} ({spec.embedder}), {direction(spec.metric)} {spec.metric} (mean over seeds {list(spec.seeds)}), "
        f"{spec.sampler} sampler, {spec.pruner} pruner; {len(trials)} trials. Each trial's runs are in "
        "`trials/`; their configs in each folder's config.json."
    )
    write_page(root / "results.md", f"gem tune {spec.name}", intro, table, notes, stage="tune")
    from gemcli.figures import plot_study

    plot_study(study, root, spec.metric)


def check_journal(trials: list[FrozenTrial], spec: TuneSpec, root: Path) -> None:
    """The study's record of each finished trial (its value, its runs' mean test metrics and best epochs) against
    the trial's own runs: their summaries, each checked against its run's manifest. One line naming the study's
    storage when they differ (the journal changed after the trial ended), before anything is written from it."""
    from optuna.trial import TrialState

    from gemcli.runs import finished_summary

    where = rundir.redact(spec.storage) if spec.storage else str(root / "study.journal")
    for t in trials:
        if t.state != TrialState.COMPLETE or t.value is None:
            continue
        summaries = [finished_summary(f) for f in _folders(root, _origin(t), spec.seeds)]
        if any(s is None for s in summaries):
            continue  # a trial whose folders were moved away: nothing to check it against
        runs = [s for s in summaries if s is not None]
        recorded = {spec.metric: t.value, **{k: v for k, v in t.user_attrs.items() if k.startswith("test_")}}
        for key, value in recorded.items():
            if not all(key in s for s in runs):
                continue
            mean = statistics.fmean(s[key] for s in runs)
            if not math.isclose(float(value), mean, rel_tol=1e-9, abs_tol=1e-12):
                raise GemError(
                    f"{where}: trial {t.number} records {key} {float(value):.6g}, its runs' summaries say {mean:.6g}; "
                    "the study's record was changed after the trial ended: restore it, or start a new study (another "
                    "NAME)"
                )
        if t.user_attrs.get("best_epochs") not in (None, [s["best_epoch"] for s in runs]):
            raise GemError(f"{where}: trial {t.number} records best epochs its runs' summaries do not say")


def _trial_row(
    t: FrozenTrial, trials: list[FrozenTrial], spec: TuneSpec, root: Path, keys: list[str], tests: list[str]
) -> list[Any]:
    """A trial's row of results.csv: number, state, parameters, objective, test metrics, best epochs, folders."""
    folders = [f.name for f in _folders(root, _origin(t), spec.seeds)]
    epochs = t.user_attrs.get("best_epochs") or (
        [t.user_attrs["epochs"]]
        if "epochs" in t.user_attrs
        else (max(t.intermediate_values) if t.intermediate_values else "")
    )
    return [
        t.number,
        _state(t, trials),
        *(t.params.get(k, "") for k in keys),
        "" if t.value is None else f"{t.value:.6f}",
        *(f"{t.user_attrs[m]:.6f}" if m in t.user_attrs else "" for m in tests),
        epochs if not isinstance(epochs, list) else " ".join(map(str, epochs)),
        " ".join(folders),
    ]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_recipe(path: Path, spec: TuneSpec, best: FrozenTrial) -> None:
    """The best trial's options (the resolved config of its first run: recipe, fixed and searched options)."""
    from gemcli.config import GCN_KEYS, embedder_values, option_values, relevant_keys
    from gemcli.recipes import recipe_text
    from gemcli.runs import read_run_config

    folder = _folders(path.parent, _origin(best), spec.seeds)[0]
    cfg: RunConfig = read_run_config(folder)
    vals = option_values(cfg)
    keep = {
        k: vals[k]
        for k in relevant_keys(cfg.model.base, cfg.model.embedder)
        if k not in NOT_IN_RECIPES and k not in GCN_KEYS and vals.get(k) is not None
    }  # GEM's GCN's options go with the embedder's own, in [embedder_options.gcn]
    emb_options = embedder_values(cfg.model) if cfg.model.embedder == "gcn" else cfg.model.embedder_options

    searched = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
    text = recipe_text(
        f"written by gem tune {spec.name}: trial {best.number} of the study, the best {spec.metric}",
        f"gem tune {spec.name}: best of the study ({spec.metric} {best.value:.4f}; {searched})",
        f"validation split, {spec.metric} mean over seeds {list(spec.seeds)}, trial {best.number} "
        f"({folder.parent.parent})" + (f", on graph {cfg.model.graph}" if cfg.model.gem else ""),
        keep,
        cfg.model.embedder,
        emb_options,
    )
    rundir.atomic_write_text(path, text)


# --- the driver: `gem tune` ---


@dataclass(frozen=True)
class TunePlan:
    """A search checked and resolved before anything is written: its spec (tune.json), its space, the point every
    trial starts from (the model, recipe and options given, resolved) and the training config of its trials."""

    spec: TuneSpec
    space: list[Dist]
    point: Any  # points.Point
    train: Any  # config.TrainConfig, finalised for the data


def plan_tune(
    run_dir: Path,
    name: str,
    space_specs: list[str],
    *,
    given: dict[str, OptionValue],
    base: str,
    embedder: str = "lookup",
    embedder_options: dict[str, OptionValue] | None = None,
    recipe: str | None = None,
    trials: int,
    metric: str | None = None,
    sampler: str = "tpe",
    pruner: str = "median",
    warmup: int = 5,
    sampler_seed: int | None = None,
    storage: str | None = None,
    seeds: int = 1,
    first_seed: int = 0,
) -> TunePlan:
    """Every option and the space checked, the trials' base point resolved: one line and nothing written on bad
    input."""
    from gemcli.build import finalise_train
    from gemcli.config import check_base_keys
    from gemcli.points import resolve_point
    from gemcli.runs import SAFE_NAME

    try:
        import optuna  # noqa: F401
    except ImportError:
        raise GemError("gem tune needs Optuna: pip install 'optuna>=4'") from None
    if not SAFE_NAME.fullmatch(name):
        raise GemError(f"tune name {name!r}: use letters, digits and . _ = + - only")
    if sampler not in SAMPLERS:
        raise GemError(f"--sampler {sampler!r}: known: {', '.join(SAMPLERS)}")
    if pruner not in PRUNERS:
        raise GemError(f"--pruner {pruner!r}: known: {', '.join(PRUNERS)}")
    space = parse_space(space_specs)
    meta = rundir.read_meta(run_dir)
    given = {k: v for k, v in given.items() if v is not None}
    fixed = [d.key for d in space if d.key in given]
    if fixed:
        raise GemError(f"--{fixed[0].replace('_', '-')} is both given and searched (--param {fixed[0]}=...); give one")
    check_base_keys(base, [d.key for d in space], "--param ")  # not in trial 1, each trial failing
    pt = resolve_point({"base": base}, given, recipe, base, meta, run_dir, embedder, embedder_options)
    if given.get("graph") and not pt.config.model.gem:
        raise GemError(f"--graph {given['graph']}: the search is not GEM (give --gem or a graph embedder)")
    monitor = metric.removeprefix("valid_") if metric else pt.config.train.monitor
    if metric and not metric.startswith("valid_"):
        raise GemError(f"--metric {metric!r}: a search is judged on the validation split: valid_{monitor}")
    if metric and given.get("monitor") not in (None, monitor):
        raise GemError(f"--monitor {given['monitor']} and --metric {metric}: a search's trials stop on its metric")
    tcfg = finalise_train(replace(pt.config.train, monitor=monitor), meta)
    spec = TuneSpec(
        name=name,
        base=pt.config.model.base,
        embedder=pt.config.model.embedder,
        options=json.loads(json.dumps(given, default=str)),
        recipe=recipe,
        space=tuple(d.spec() for d in space),
        metric=f"valid_{tcfg.monitor}",
        seeds=tuple(range(first_seed, first_seed + seeds)),
        sampler=sampler,
        pruner=pruner,
        warmup=warmup,
        sampler_seed=sampler_seed,
        trials=trials,
        storage=storage,
        task=tcfg.task,
        embedder_options=embedder_options,
    )
    return TunePlan(spec, space, pt, tcfg)


def run_tune(
    run_dir: Path, name: str, space_specs: list[str], *, executor: ExecutorSpec | None = None, **kw: Any
) -> tuple[Path, optuna.Study]:
    """Check everything (`plan_tune`), reach the executor, then run the workers until the study has its trials;
    write the results. Returns (the study's folder, the study). One line and nothing written on bad input."""
    from gemcli.console import out
    from gemcli.executors import ExecutorSpec, prepare, run_workers
    from gemcli.graph import build_graph, list_graphs
    from gemcli.points import graph_note

    plan = plan_tune(run_dir, name, space_specs, **kw)
    spec, pt = plan.spec, plan.point
    ex = executor or ExecutorSpec()
    root = tune_root(run_dir, name)
    if (root / "tune.json").is_file():
        check_same(rundir.read_json(root / "tune.json"), spec, f"tune {name}")
        check_trials_alike(run_dir, spec, root, plan.space)
    if spec.storage:
        _storage(spec, root)  # a database that cannot be opened stops here, before anything is written
    prepare(run_dir, ex)  # before anything is written
    if pt.graph is not None and pt.graph.graph_id not in {g["graph_id"] for g in list_graphs(run_dir)}:
        build_graph(run_dir, pt.graph, {"tune": name})
    (root / "trials").mkdir(parents=True, exist_ok=True)
    record = {"format": FORMAT, **spec.to_dict(), "storage": rundir.redact(spec.storage) if spec.storage else None}
    rundir.atomic_write_json(root / "tune.json", record)  # never a password
    study = open_study(spec, root, plan.train.epochs)
    with _study_lock(root):
        requeued = _requeue_orphans(study, root)
    before = _count(study)
    n_workers = ex.jobs if ex.kind == "local" else (ex.jobs if ex.jobs > 1 else 0)
    on_graph = f" on {pt.config.model.graph}" if pt.config.model.gem else ""
    out.print(
        f"study {name}: {spec.base} ({spec.embedder}{on_graph}), {direction(spec.metric)} {spec.metric}; "
        f"{before} of {spec.trials} trials there already"
        + (f" ({len(requeued)} interrupted, to resume: {requeued})" if requeued else "")
        + f"; {ex.describe()}",
        highlight=False,
        soft_wrap=True,
    )
    note = graph_note(run_dir, pt)
    if note:
        out.print(note, highlight=False, soft_wrap=True)
    args = (str(run_dir), spec.to_dict(), space_specs, ex.run_threads(), plan.train.epochs)
    with _progress(study, spec.trials):
        run_workers(worker, args, n_workers, ex)
    with _study_lock(root):
        write_results(study, spec, root)
    return root, study


@contextlib.contextmanager
def _progress(study: optuna.Study, total: int) -> Iterator[None]:
    """A progress bar of the study's ended trials, polled from its storage (the workers may be elsewhere)."""
    import threading

    from optuna.trial import TrialState
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from gemcli.console import out

    stop = threading.Event()
    with Progress(
        TextColumn("trials", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as progress:
        task = progress.add_task("tune", total=total, completed=0, info="")

        def poll() -> None:
            while not stop.wait(2.0):
                with contextlib.suppress(Exception):
                    ts = study.get_trials(deepcopy=False)
                    ended = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in ts)
                    running = sum(t.state == TrialState.RUNNING for t in ts)
                    best = study.best_value if ended else None
                    info = f"{running} running" + (f", best {best:.4f}" if best is not None else "")
                    progress.update(task, completed=ended, info=info)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)
