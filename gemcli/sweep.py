"""Vary options over runs (the paper's studies: Figures 5-7, or any grid), collect a table, draw the figure.

RUN_DIR/sweeps/NAME/
  sweep.json            what the sweep was asked: the options given, the recipe, its points and seeds
  points/LABEL-sSEED/   a normal run per point and seed (config.json, model.pt, metrics.jsonl, summary.json, ...)
  results.csv           one row per finished run: the parameters, seed, best epoch, valid/test RMSE and MAE, time
  results.md            mean and standard deviation per point, every point of the sweep, sorted by value
  NAME.png              test RMSE and MAE against the parameter, error bars over seeds

Every point's config is resolved as `gem train` resolves it (gemcli.config.resolve_config: the point's
values and the options given win, then the model's recipe, then the defaults). A sweep started again
skips the points whose saved config equals the one asked for and resumes interrupted ones; a saved
config that differs stops the sweep with one line naming the options (--force retrains).
"""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gemcli import rundir
from gemcli.config import (
    RunConfig,
    check_base_keys,
    config_key,
    describe_diff,
    differing,
)
from gemcli.console import out
from gemcli.errors import GemError
from gemcli.executors import ExecutorSpec, prepare, run_points
from gemcli.meta import DataMeta
from gemcli.options import OptionValue
from gemcli.points import (  # noqa: F401  (Point, POINT_KEYS, GRAPH_KEYS: where sweeps' readers knew them)
    GRAPH_KEYS,
    POINT_KEYS,
    Point,
    graph_note,
    label_of,
    parse_params,
    point_embedder,
    resolve_point,
)
from gemcli.report import COST_COLUMNS, adopted_entry, at_cap, cost_cells, fmt_mean_std
from gemcli.results import write_csv, write_page
from gemcli.runs import SAFE_NAME, ended_summary, standing

if TYPE_CHECKING:
    from rich.table import Table

NAMED = ("dropout", "sampling-ratio", "graph-type", "embedder")
EMBEDDER_STUDY_BASES = ("fm", "deepfm", "nfm")
FORMAT = "gemcli-sweep/1"


def named_points(name: str, meta: DataMeta, values: list[str] | None) -> tuple[list[dict[str, Any]], str]:
    """Points of the paper's studies, and the parameter on the x axis."""

    def floats(default: list[float]) -> list[float]:
        try:
            return [float(v) for v in values] if values else default
        except ValueError:
            raise GemError(f"--values {','.join(values or [])!r}: expected numbers") from None

    if name == "dropout":  # Figure 7: GCN dropout
        return [{"gem": True, "gcn_dropout": v} for v in floats([round(0.1 * i, 1) for i in range(10)])], "gcn_dropout"
    if name == "sampling-ratio":  # Figure 6
        return [{"gem": True, "sample_ratio": v} for v in floats([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])], "sample_ratio"
    if name == "graph-type":  # Figure 5: FM, GEM type b, type a, type a with a bad low-cardinality field
        graph_fields = list(meta.graph_fields)
        others = [f for f in meta.fields if f not in graph_fields]
        bad = "isweekend" if "isweekend" in others else min(others, key=lambda f: meta.cardinalities[f], default=None)
        points = [
            {"gem": False, "variant": "FM"},
            {"gem": True, "type": "b", "variant": "GEM type b"},
            {"gem": True, "type": "a", "variant": "GEM type a"},
        ]
        if bad:
            points.append(
                {"gem": True, "type": "a", "fields": ",".join(graph_fields + [bad]), "variant": f"GEM type a + {bad}"}
            )
        return points, "variant"
    if name == "embedder":  # every embedding function on FM, DeepFM and NFM (each point with its model's recipe)
        from gemcli.nn.embedders import embedder_class, embedder_names

        kinds = [embedder_class(v.strip()).registry_name for v in values] if values else embedder_names()
        return [{"base": b, "embedder": e} for b in EMBEDDER_STUDY_BASES for e in kinds], "embedder"
    raise GemError(f"unknown sweep {name!r}; known: {', '.join(NAMED)}, or use --param NAME=V1,V2")


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(d, default=str))
    return plain


def grid_name(params: list[str]) -> str:
    """The default name of a --param grid: grid-KEY1-KEY2 (the keys as parse_params reads them)."""
    return "grid-" + "-".join(dict.fromkeys(p.split("=", 1)[0].strip().replace("-", "_") for p in params))


def run_sweep(run_dir: Path, name: str | None, params: list[str], values: list[str] | None, **kw: Any) -> Path:
    """Train the points x seeds of a named study or a --param grid that are not finished with the config
    asked for; write results.csv, results.md and the figure over every finished point of the sweep.
    One command at a time per sweep (a lock in its folder)."""
    sweep_name = kw.get("sweep_name") or name or grid_name(params)
    if not SAFE_NAME.fullmatch(sweep_name):
        raise GemError(f"--name {sweep_name!r}: use letters, digits and . _ = + - only")
    root = Path(run_dir) / "sweeps" / sweep_name
    made = not root.exists()
    try:
        with rundir.locked(root / ".lock", f"sweep {sweep_name}"):
            return _run_sweep(run_dir, name, params, values, **kw)
    except GemError:
        if made and root.is_dir() and {p.name for p in root.iterdir()} <= {".lock"}:
            shutil.rmtree(root, ignore_errors=True)  # nothing was written: leave no folder behind
            with contextlib.suppress(OSError):
                root.parent.rmdir()
        raise


@dataclass
class SweepPlan:
    """What a sweep command is asked and what it will run: its points resolved, its record (sweep.json) and, per
    point and seed, the runs to train (`todo`) and the finished ones that diverged."""

    sweep_name: str
    root: Path
    xkey: str
    asked: list[dict[str, Any]]
    seeds: list[int]  # asked now
    record: dict[str, Any]
    points: list[Point] = field(default_factory=list)  # every point of the sweep, in its record's order
    todo: list[tuple[RunConfig, Path]] = field(default_factory=list)
    diverged: int = 0


def _asked(
    run_dir: Path, name: str | None, params: list[str], values: list[str] | None, meta: DataMeta, base: str
) -> tuple[list[dict[str, Any]], str, str]:
    """(the points asked, the x key, the study's name) of a named sweep or a --param grid."""
    if name is not None and params:
        raise GemError("give a named sweep or --param, not both")
    if name is None and not params:
        raise GemError(f"name a sweep ({', '.join(NAMED)}) or give --param NAME=V1,V2")
    if name is not None:
        asked, xkey = named_points(name, meta, values)
        return asked, xkey, name
    asked = parse_params(params)
    for point in asked:  # named as the user wrote it (--param dropout), before resolve_config's --dropout
        check_base_keys(str(point.get("base", base)), list(point), "--param ")
    return asked, next(iter(asked[0])), grid_name(params)


def _record(
    root: Path,
    study: str,
    xkey: str,
    base: str,
    options: dict[str, OptionValue],
    recipe: str | None,
    asked: list[Any],
    seeds: list[int],
    force: bool,
) -> dict[str, Any]:
    """The sweep's record (sweep.json) once this command has run: a new one, or the saved one grown by the points
    and seeds asked now. Saved with other options: one line (or, with --force, its points are deleted)."""
    record = {
        "format": FORMAT,
        "study": study,
        "xkey": xkey,
        "base": base,
        "options": options,
        "recipe": recipe,
        "points": _jsonable({"p": asked})["p"],
        "seeds": seeds,
    }
    old = rundir.read_json(root / "sweep.json") if (root / "sweep.json").is_file() else None
    points = root / "points"
    if old is None or not (points.is_dir() and any(p.is_dir() for p in points.iterdir())):
        return record  # nothing trained under the old record (a sweep stopped before its first point): replaced
    then = {"base": old.get("base"), "x": old.get("xkey"), "recipe": old.get("recipe"), **(old.get("options") or {})}
    now = {"base": base, "x": xkey, "recipe": recipe, **options}
    if then != now:
        if not force:
            diff = differing({"model": then}, {"model": now})
            raise GemError(
                f"sweep {root.name} was run with other options ({describe_diff(diff, 'then', 'now')}); "
                f"pass --force to retrain it with these, or --name NEW for a new sweep beside it"
            )
        shutil.rmtree(root / "points", ignore_errors=True)
        return record
    labels = {label_of(p) for p in record["points"]}  # same options: the sweep grows by the points and seeds asked
    record["points"] = [p for p in old["points"] if label_of(p) not in labels] + record["points"]
    record["seeds"] = sorted(set(old.get("seeds", [])) | set(seeds))
    return record


def _point_runs(
    run_dir: Path, plan: SweepPlan, pt: Point, is_asked: bool, meta: DataMeta, force: bool, known_graphs: set[str]
) -> None:
    """A point's runs (one per seed) into the plan: to train when asked and not ended; a run saved with another
    config stops the sweep (one line), or with --force is deleted and trained again."""
    from gemcli.build import finalise_model, finalise_train

    final_model = None  # the model config as a run saves it, worked out once per point
    for s in plan.seeds if is_asked else plan.record["seeds"]:
        folder = plan.root / "points" / f"{label_of(pt.values)}-s{s}"
        cfg = replace(pt.config, name=folder.name, train=replace(pt.config.train, seed=s))
        if (folder / "config.json").is_file() and (pt.graph is None or pt.graph.graph_id in known_graphs):
            saved = rundir.read_json(folder / "config.json")  # any difference (even an edit) means: retrain
            final_model = final_model or finalise_model(run_dir, cfg.model, meta)
            want = replace(cfg, model=final_model, train=finalise_train(cfg.train, meta)).to_dict()
            diffs = differing(config_key(saved), config_key(want))
            if diffs:
                if not force:
                    raise GemError(
                        f"sweep {plan.sweep_name}: point {folder.name} was trained with another config "
                        f"({describe_diff(diffs)}); pass --force to retrain it, or --name NEW for a new sweep"
                    )
                shutil.rmtree(folder)
        ended = ended_summary(folder) if is_asked else None
        if is_asked and ended is None:
            plan.todo.append((cfg, folder))
        elif ended is not None and ended["status"] == "diverged":
            plan.diverged += 1


def plan_sweep(
    run_dir: Path,
    name: str | None,
    params: list[str],
    values: list[str] | None,
    *,
    given: dict[str, OptionValue],
    recipe: str | None = None,
    base: str = "fm",
    seeds: int = 1,
    first_seed: int = 0,
    executor: ExecutorSpec | None = None,
    force: bool = False,
    sweep_name: str | None = None,
    embedder: str = "lookup",
    embedder_options: dict[str, OptionValue] | None = None,
) -> SweepPlan:
    """Every point resolved and checked before anything is written, then the record saved and the runs to train
    listed (the graphs the asked points need built); the models' configs and graphs announced."""
    from gemcli.graph import build_graph, list_graphs

    meta = rundir.read_meta(run_dir)
    asked, xkey, study = _asked(run_dir, name, params, values, meta, base)
    sweep_name = sweep_name or study  # checked by run_sweep
    root = Path(run_dir) / "sweeps" / sweep_name
    given = {k: v for k, v in given.items() if v is not None}
    resolved: dict[str, Point] = {}  # label -> the point resolved (each once)

    def point_of(values_: dict[str, OptionValue]) -> Point:
        label = label_of(values_)
        if label not in resolved:
            resolved[label] = resolve_point(values_, given, recipe, base, meta, run_dir, embedder, embedder_options)
        return resolved[label]

    for point in asked:  # every point's config (and a graph it names) is checked before anything is written
        point_of(point)
    if given.get("graph") and not any(point_of(p).config.model.gem for p in asked):
        raise GemError(f"--graph {given['graph']}: no point of this sweep is GEM (a graph embedder); drop --graph")
    prepare(run_dir, executor or ExecutorSpec())  # a cluster that cannot be reached stops it before any write
    options = _jsonable(
        {
            **given,
            **({"embedder": embedder} if embedder != "lookup" else {}),
            **({"embedder_options": embedder_options} if embedder_options else {}),
        }
    )
    seed_list = list(range(first_seed, first_seed + seeds))
    record = _record(root, study, xkey, base, options, recipe, asked, seed_list, force)
    (root / "points").mkdir(parents=True, exist_ok=True)
    rundir.atomic_write_json(root / "sweep.json", record)
    plan = SweepPlan(sweep_name, root, xkey, asked, seed_list, record)
    known_graphs = {g["graph_id"] for g in list_graphs(run_dir)}
    asked_labels = {label_of(p) for p in asked}
    shown: set[tuple[str, str]] = set()
    for values_ in record["points"]:
        pt = point_of(values_)
        plan.points.append(pt)
        is_asked = label_of(values_) in asked_labels
        if is_asked and pt.graph is not None and pt.graph.graph_id not in known_graphs:
            build_graph(run_dir, pt.graph, {"sweep": sweep_name, **asdict(pt.graph)})
            known_graphs.add(pt.graph.graph_id)
        if is_asked and (pt.config.model.base, pt.config.model.embedder) not in shown:
            shown.add((pt.config.model.base, pt.config.model.embedder))
            _announce(run_dir, pt, asked, base, embedder)
        _point_runs(run_dir, plan, pt, is_asked, meta, force, known_graphs)
    return plan


def _announce(run_dir: Path, pt: Point, asked: list[dict[str, Any]], base: str, embedder: str) -> None:
    """A model's recipe and options (as the sweep resolved them), and the graph its points take."""
    model_id = (pt.config.model.base, pt.config.model.embedder)
    out.print(
        f"{pt.config.model.label}: {'recipe ' + pt.config.recipe if pt.config.recipe else 'no recipe'}", highlight=False
    )
    mine = [p for p in asked if (p.get("base", base), point_embedder(p, embedder)) == model_id]
    out.print(describe_point(pt, mine), highlight=False)
    note = graph_note(run_dir, pt)
    if note:
        out.print(note, highlight=False)


def _run_sweep(
    run_dir: Path,
    name: str | None,
    params: list[str],
    values: list[str] | None,
    *,
    executor: ExecutorSpec | None = None,
    adopt: bool = True,
    **kw: Any,
) -> Path:
    """Plan the sweep (`plan_sweep`), adopt finished twins, then run what is left on the executor, the results
    written as each point ends and once more at the end, however it ends."""
    from gemcli.adopt import adopt_twins

    spec = executor or ExecutorSpec()
    plan = plan_sweep(run_dir, name, params, values, executor=spec, **kw)
    root, sweep_name, xkey, points = plan.root, plan.sweep_name, plan.xkey, plan.points
    n_runs = len(plan.asked) * len(plan.seeds)
    done = n_runs - len(plan.todo)
    left = adopt_twins(run_dir, plan.todo) if adopt else plan.todo
    adopted = f", {len(plan.todo) - len(left)} adopted from finished twins" if len(left) < len(plan.todo) else ""
    if adopted and left:  # finished points: in the results now, not once the first trained point ends (finally)
        write_results(root, sweep_name, xkey, points, plan.record["seeds"])
    diverged = f" ({plan.diverged} of them diverged)" if plan.diverged else ""
    out.print(
        f"sweep {sweep_name}: {len(plan.asked)} points x {len(plan.seeds)} seeds; {done} finished already with "
        f"this config{diverged}{adopted}, {len(left)} to run"
        + (f" ({spec.describe()})" if left and (spec.kind != "local" or spec.jobs > 1) else "")
    )
    try:
        with Progress(
            TextColumn("sweep {task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        ) as progress:
            task = progress.add_task(sweep_name, total=len(left))

            def point_done(folder: Path, summary: dict[str, Any], where: str) -> None:
                progress.advance(task)
                if spec.kind == "ray":  # where each point ran
                    progress.console.print(f"{folder.name}: {summary['status']} on {where}", highlight=False)
                write_results(root, sweep_name, xkey, points, plan.record["seeds"])

            run_points(run_dir, left, spec, point_done)
    finally:
        write_results(root, sweep_name, xkey, points, plan.record["seeds"])
    return root


def describe_point(pt: Point, asked: list[dict[str, Any]]) -> str:
    """The resolved config shared by a model's points, and what the points vary, with their values."""
    from gemcli.config import describe_sources

    varied = {
        k: list(dict.fromkeys(str(_x(p, k)) for p in asked if k in p))
        for k in dict.fromkeys(k for p in asked for k in p if k not in ("gem", "embedder", "variant", "base"))
    }
    exclude = {*varied, "seed", *(k for k, v in pt.sources.items() if v == "sweep point")}
    vary = " ".join(f"{k}={','.join(v)}" for k, v in varied.items())
    return describe_sources(pt.config, pt.sources, exclude) + (f"\n  {'sweep points:':<22} {vary}" if vary else "")


def _x(point: dict[str, OptionValue], xkey: str) -> Any:
    v = point.get(xkey)
    return "-".join(map(str, v)) if isinstance(v, list) else v


def varied_keys(points: list[Point]) -> list[str]:
    """The keys whose value differs between the points (variant aside), in the points' order."""
    keys = dict.fromkeys(k for p in points for k in p.values if k != "variant")
    return [k for k in keys if len({str(_x(p.values, k)) for p in points}) > 1]


def x_axis(points: list[Point], xkey: str) -> tuple[str, list[Any]]:
    """The table's first column and each point's value in it: the x key's value, or, when a grid varies
    more than one key (base=fm,deepfm x embedder=lookup,gcn), every varied key's as `k=v k=v`."""
    keys = varied_keys(points)
    if xkey == "variant" or len(keys) <= 1:
        return xkey, [_x(p.values, xkey) for p in points]
    return " ".join(keys), [" ".join(f"{k}={_x(p.values, k)}" for k in keys) for p in points]


def _sorted_points(points: list[Point], xkey: str) -> list[Point]:
    """By the x value when every point's is a number, else in the study's order."""
    xs = [_x(p.values, xkey) for p in points]
    if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
        return [p for _, p in sorted(zip(xs, points, strict=True), key=lambda t: t[0])]
    return points


def collect(
    root: Path, points: list[Point], seeds: list[int]
) -> tuple[list[tuple[Point, list[dict[str, Any]]]], list[str]]:
    """(point, finished summaries) for every point of the sweep, and the runs not finished (diverged ones named so)."""
    rows, missing = [], []
    for p in points:
        got = []
        for s in seeds:
            folder = root / "points" / f"{label_of(p.values)}-s{s}"
            summary = ended_summary(folder)
            if summary is not None and summary["status"] == "finished":
                got.append(summary)
            else:
                state = standing(folder)
                missing.append(folder.name + (f" ({state})" if state else ""))
        rows.append((p, got))
    return rows, missing


SweepRows = list[tuple[Point, list[dict[str, Any]]]]  # (point, its finished runs' summaries)


def write_results(root: Path, name: str, xkey: str, points: list[Point], seeds: list[int]) -> None:
    """results.csv (a row per finished run), results.md (a row per point) and the figure, over every point."""
    from gemcli.tasks import headline_of

    rows, missing = collect(root, _sorted_points(points, xkey), seeds)
    first = next((ss[0] for _, ss in rows if ss), {})
    a, b = headline_of(first)  # the task's two metrics (rmse, mae / auc, logloss); one data, one task
    _results_csv(root, rows, (f"valid_{a}", f"valid_{b}", f"test_{a}", f"test_{b}"))
    xname, xs = x_axis([p for p, _ in rows], xkey)
    _results_page(root, name, xname, xs, rows, missing, (a, b))
    groups = plot_groups([p for p, _ in rows], xkey)
    series: list[tuple[Any, list[dict[str, Any]], str | None]] = [
        (x, ss, None) if groups is None else (_x(p.values, xkey), ss, groups[i])
        for i, (x, (p, ss)) in enumerate(zip(xs, rows, strict=True))
        if ss and f"test_{a}" in ss[0]
    ]
    if series:
        from gemcli.figures import plot_sweep

        plot_sweep(root / f"{name}.png", name, xname if groups is None else xkey, series, (a, b))


def _results_csv(root: Path, rows: SweepRows, metrics: tuple[str, ...]) -> None:
    keys = list(dict.fromkeys(k for p, _ in rows for k in p.values))
    header = [*keys, "seed", "best_epoch", "epochs_run", *metrics, "train_seconds", "parameters", "peak_rss_mib", "run"]
    write_csv(
        root / "results.csv",
        header,
        (
            [_x(p.values, k) for k in keys]
            + [
                s["seed"],
                s["best_epoch"],
                s.get("epochs_run", ""),
                *(f"{s[m]:.6f}" if m in s else "" for m in metrics),
                s["train_seconds"],
                s.get("parameters", ""),
                s.get("peak_rss_mib") or "",  # runs of 0.4.0 have none
                s["name"],
            ]
            for p, ss in rows
            for s in sorted(ss, key=lambda s: s["seed"])
        ),
        "sweep",
    )


def _results_page(
    root: Path, name: str, xname: str, xs: list[Any], rows: SweepRows, missing: list[str], headline: tuple[str, str]
) -> None:
    a, b = headline
    max_seeds = max((len(ss) for _, ss in rows), default=0)
    spread = "mean ± standard deviation over seeds" if max_seeds > 1 else "one seed per point"
    table = [
        f"| {xname} | seeds | test {a.upper()} | test {b.upper()} | valid {a.upper()} | valid {b.upper()} "
        f"| best epochs | {COST_COLUMNS} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    capped = False  # a run's best epoch at its epoch cap: still improving when it stopped
    for x, (p, ss) in zip(xs, rows, strict=True):
        if not ss:
            mine = [m for m in missing if m.startswith(f"{label_of(p.values)}-s")]
            state = "diverged" if mine and all(m.endswith("(diverged)") for m in mine) else "not finished"
            table.append(f"| {x} | 0 | - | - | - | - | {state} | - | - | - | - |")
            continue
        cells = [
            fmt_mean_std([s[m] for s in ss]) if all(m in s for s in ss) else "-"
            for m in (f"test_{a}", f"test_{b}", f"valid_{a}", f"valid_{b}")
        ]
        capped = capped or any(at_cap(s) for s in ss)
        by_seed = sorted(ss, key=lambda s: s["seed"])
        epochs = ", ".join(f"{s['best_epoch']}" + ("*" if at_cap(s) else "") for s in by_seed)
        peaks = [s["peak_rss_mib"] for s in ss if s.get("peak_rss_mib")]
        seconds, epochs_run = [s["train_seconds"] for s in ss], [s.get("epochs_run") or 1 for s in ss]
        cost = cost_cells(ss[0].get("parameters"), seconds, epochs_run, peaks)
        table.append(f"| {x} | {len(ss)} | " + " | ".join(cells) + f" | {epochs} | " + cost)
    adopted = [adopted_entry(s["name"], s) for _, ss in rows for s in ss if s.get("adopted_from")]
    notes = [
        *(["\\* best epoch at the epoch cap: that run was still improving when it stopped."] if capped else []),
        *([f"Not finished or diverged (left out): {', '.join(missing)}."] if missing else []),
        *(
            [f"Adopted (copies of identical finished runs, not trained again): {', '.join(adopted)}."]
            if adopted
            else []
        ),
    ]
    intro = (
        "Every point's config is in its run folder (`points/*/config.json`).\n\n"
        f"x: `{xname}`; {spread} (test split at the best validation epoch); every point of the sweep, sorted by value."
    )
    write_page(root / "results.md", f"sweep {name}", intro, table, notes, stage="sweep")


def plot_groups(points: list[Point], xkey: str) -> list[str] | None:
    """The figure's series when a grid varies the x key and others (the embedder study: base x embedder): each
    point's `k=v` of the other varied keys, one line per value; None when only the x key varies (keys whose value
    follows from the x key's, as graph-type's gem and type from its variant, do not count)."""
    from gemcli.report import keys_following

    varied = [k for k in varied_keys(points) if k != xkey]
    others = [k for k in varied if k not in keys_following([p.values for p in points], xkey, varied)]
    if not others or any(xkey not in p.values for p in points):
        return None
    return [" ".join(f"{k}={_x(p.values, k)}" for k in others) for p in points]


def results_table(root: Path) -> Table:
    """results.md's table as a rich Table, for the terminal."""
    from gemcli.report import markdown_table

    return markdown_table((root / "results.md").read_text(), f"sweep {root.name} ({root}/results.md)")
