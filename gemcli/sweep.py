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
import csv
import io
import itertools
import json
import re
import shutil
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gemcli import rundir
from gemcli.config import (
    OPTION_KEYS,
    RunConfig,
    check_base_keys,
    config_key,
    describe_diff,
    differing,
    resolve_config,
)
from gemcli.console import out
from gemcli.errors import GemError
from gemcli.executors import ExecutorSpec, prepare, run_points
from gemcli.graph import GraphConfig
from gemcli.meta import DataMeta
from gemcli.report import COST_COLUMNS, adopted_entry, at_cap, cost_cells, fmt_mean_std
from gemcli.runs import SAFE_NAME, ended_summary, standing

GRAPH_KEYS = {
    "type": "type",
    "fields": "fields",
    "sample_ratio": "sample_ratio",
    "graph_seed": "seed",
    "edge_source": "edge_source",
}
POINT_KEYS = ("base", "gem", "embedder", *OPTION_KEYS, *GRAPH_KEYS)
NAMED = ("dropout", "sampling-ratio", "graph-type", "embedder")
EMBEDDER_STUDY_BASES = ("fm", "deepfm", "nfm")
FORMAT = "gemcli-sweep/1"


def _convert(key: str, text: str) -> Any:
    """A --param value as the option's type (int, float, bool, sizes like 64-32, fields like a+b)."""
    from gemcli.config import _typed

    if key == "fields":
        return text.replace("+", ",")
    if key == "mlp":
        try:
            return [int(v) for v in text.split("-")]
        except ValueError:
            raise GemError(f"--param mlp: {text!r} is not sizes like 64-32") from None
    if key == "embedder":
        from gemcli.nn.embedders import embedder_class

        return embedder_class(text).registry_name  # type: ignore[attr-defined]
    if key == "gem":
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise GemError(f"--param gem: {text!r} is not true or false")
        return text.lower() in ("1", "true", "yes")
    if key in ("sample_ratio",):
        kind: type = float
    elif key in ("graph_seed",):
        kind = int
    elif key in OPTION_KEYS:
        for kind in (bool, int, float, str):
            try:
                value = {"true": True, "false": False}[text.lower()] if kind is bool else kind(text)
                return _typed(key, value, f"--param {key}")
            except (KeyError, ValueError, GemError):
                continue
        raise GemError(f"--param {key}: {text!r} is not a valid value")
    else:
        return text
    try:
        return kind(text)
    except ValueError:
        raise GemError(f"--param {key}: {text!r} is not a {kind.__name__}") from None


def parse_params(specs: list[str]) -> list[dict[str, Any]]:
    """--param NAME=V1,V2 ... -> the grid of points (cartesian product)."""
    axes = []
    for spec in specs:
        if "=" not in spec:
            raise GemError(f"--param {spec!r}: expected NAME=V1,V2,...")
        key, vals = spec.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in POINT_KEYS:
            raise GemError(f"--param {key!r}: unknown option; known: {', '.join(sorted(POINT_KEYS))}")
        values = [v for v in vals.split(",") if v != ""]
        if not values:
            raise GemError(f"--param {spec!r}: no values")
        axes.append([(key, _convert(key, v)) for v in values])
    return [dict(combo) for combo in itertools.product(*axes)]


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

        kinds = [embedder_class(v.strip()).registry_name for v in values] if values else embedder_names()  # type: ignore[attr-defined]
        return [{"base": b, "embedder": e} for b in EMBEDDER_STUDY_BASES for e in kinds], "embedder"
    raise GemError(f"unknown sweep {name!r}; known: {', '.join(NAMED)}, or use --param NAME=V1,V2")


def label_of(point: dict[str, Any]) -> str:
    """The point's folder name stem: key=value pairs, only characters safe in one path component."""
    parts = []
    for k, v in point.items():
        if k == "variant":
            continue
        v = "-".join(map(str, v)) if isinstance(v, list) else str(v).replace(",", "+")
        parts.append(f"{k}={v}")
    label = re.sub(r"[^A-Za-z0-9._=+-]", "_", "_".join(parts)) or "default"
    return label.replace("..", "_.")


@dataclass
class Point:
    values: dict[str, Any]  # as asked (the x value and what else the point sets)
    config: RunConfig  # resolved, seed of the first run
    graph: GraphConfig | None
    sources: dict[str, str]


def point_embedder(point: dict[str, Any], default: str = "lookup") -> str:
    """A point's embedder: `embedder`, else gcn for gem=true (the paper's studies), lookup for gem=false."""
    if "embedder" in point:
        return str(point["embedder"])
    if "gem" in point:
        return "gcn" if point["gem"] else "lookup"
    return default


def resolve_point(
    point: dict[str, Any],
    given: dict[str, Any],
    recipe: str | None,
    base: str,
    meta: DataMeta,
    run_dir: Path,
    embedder: str = "lookup",
    embedder_options: dict[str, Any] | None = None,
) -> Point:
    """The point's run config as `gem train` would resolve it, with the point's values given."""
    from gemcli.graph import resolve_graph, with_default_fields

    opts = {k: v for k, v in point.items() if k in OPTION_KEYS}
    resolved = resolve_config(
        point.get("base", base),
        point_embedder(point, embedder),
        {**given, **opts},
        recipe,
        embedder_options=embedder_options,
    )
    for k in opts:
        resolved.sources[k] = "sweep point"
    gcfg = None
    cfg = resolved.config
    if cfg.model.gem:
        g = {GRAPH_KEYS[k]: v for k, v in point.items() if k in GRAPH_KEYS}
        if "fields" in g:
            g["fields"] = tuple(f.strip() for f in str(g["fields"]).split(",") if f.strip())
        if cfg.model.graph is not None:  # named (--graph, or a point's graph=): that graph, built already
            if g:
                raise GemError(
                    f"--graph {cfg.model.graph}: point {label_of(point)} builds its own graph ({', '.join(g)}); "
                    "give one or the other"
                )
            resolve_graph(run_dir, cfg.model.graph)  # a graph named by an option must exist
            return Point(values=point, config=cfg, graph=None, sources=resolved.sources)
        gcfg = with_default_fields(GraphConfig(**g), meta)
        cfg.model.graph = gcfg.graph_id
        resolved.sources["graph"] = "sweep point" if g else BUILD_GRAPH_DEFAULTS
    return Point(values=point, config=cfg, graph=gcfg, sources=resolved.sources)


BUILD_GRAPH_DEFAULTS = "build-graph defaults"  # the source of a point's graph that no option names


def graph_note(run_dir: Path, pt: Point) -> str | None:
    """A GEM point (or trial) whose graph no option names is on the graph of build-graph's default options (type a,
    every neighbour): one line when `gem train --gem` would take another one here (the latest `gem build-graph`
    built, graph.resolve_graph), naming it and --graph, so that the two are not taken for the same."""
    from gemcli.graph import resolve_graph

    if pt.graph is None or pt.sources.get("graph") != BUILD_GRAPH_DEFAULTS:
        return None
    try:
        latest = resolve_graph(run_dir, None).name
    except GemError:  # no graph built yet, or only studies' graphs: nothing else to take
        return None
    if latest == pt.graph.graph_id:
        return None
    return (
        f"  note: not {latest}, the graph `gem train --gem` takes here (the latest `gem build-graph`); "
        f"--graph {latest} for that one"
    )


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(d, default=str))


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


def _run_sweep(
    run_dir: Path,
    name: str | None,
    params: list[str],
    values: list[str] | None,
    *,
    given: dict[str, Any],
    recipe: str | None = None,
    base: str = "fm",
    seeds: int = 1,
    first_seed: int = 0,
    executor: ExecutorSpec | None = None,
    force: bool = False,
    sweep_name: str | None = None,
    embedder: str = "lookup",
    embedder_options: dict[str, Any] | None = None,
    adopt: bool = True,
) -> Path:
    from gemcli.adopt import adopt_twins
    from gemcli.build import finalise_model, finalise_train
    from gemcli.graph import build_graph, list_graphs

    meta = rundir.read_meta(run_dir)
    if name is not None and params:
        raise GemError("give a named sweep or --param, not both")
    if name is None and not params:
        raise GemError(f"name a sweep ({', '.join(NAMED)}) or give --param NAME=V1,V2")
    if name is not None:
        asked, xkey = named_points(name, meta, values)
    else:
        asked = parse_params(params)
        for point in asked:  # named as the user wrote it (--param dropout), before resolve_config's --dropout
            check_base_keys(str(point.get("base", base)), list(point), "--param ")
        xkey = next(iter(asked[0]))
        name = grid_name(params)
    sweep_name = sweep_name or name  # checked by run_sweep
    root = Path(run_dir) / "sweeps" / sweep_name
    given = {k: v for k, v in given.items() if v is not None}
    resolved: dict[str, Point] = {}  # label -> the point resolved (each once)

    def point_of(values_: dict[str, Any]) -> Point:
        label = label_of(values_)
        if label not in resolved:
            resolved[label] = resolve_point(values_, given, recipe, base, meta, run_dir, embedder, embedder_options)
        return resolved[label]

    for point in asked:  # every point's config (and a graph it names) is checked before anything is written
        point_of(point)
    if given.get("graph") and not any(point_of(p).config.model.gem for p in asked):
        raise GemError(f"--graph {given['graph']}: no point of this sweep is GEM (a graph embedder); drop --graph")
    spec = executor or ExecutorSpec()
    prepare(run_dir, spec)  # a cluster that cannot be reached stops the sweep before anything is written
    seed_list = list(range(first_seed, first_seed + seeds))
    record = {
        "format": FORMAT,
        "study": name,
        "xkey": xkey,
        "base": base,
        "options": _jsonable(
            {
                **given,
                **({"embedder": embedder} if embedder != "lookup" else {}),
                **({"embedder_options": embedder_options} if embedder_options else {}),
            }
        ),
        "recipe": recipe,
        "points": _jsonable({"p": asked})["p"],
        "seeds": seed_list,
    }
    old = rundir.read_json(root / "sweep.json") if (root / "sweep.json").is_file() else None
    if old is not None:
        then = {
            "base": old.get("base"),
            "x": old.get("xkey"),
            "recipe": old.get("recipe"),
            **(old.get("options") or {}),
        }
        now = {"base": base, "x": xkey, "recipe": recipe, **record["options"]}
        if then != now:
            if not force:
                diff = differing({"model": then}, {"model": now})
                raise GemError(
                    f"sweep {sweep_name} was run with other options ({describe_diff(diff, 'then', 'now')}); "
                    f"pass --force to retrain it with these, or --name NEW for a new sweep beside it"
                )
            shutil.rmtree(root / "points", ignore_errors=True)
        else:  # same options: the sweep grows by the points and seeds asked now
            labels = {label_of(p) for p in record["points"]}
            record["points"] = [p for p in old["points"] if label_of(p) not in labels] + record["points"]
            record["seeds"] = sorted(set(old.get("seeds", [])) | set(seed_list))
    (root / "points").mkdir(parents=True, exist_ok=True)
    rundir.atomic_write_json(root / "sweep.json", record)

    known_graphs = {g["graph_id"] for g in list_graphs(run_dir)}
    asked_labels = {label_of(p) for p in asked}
    todo: list[tuple[RunConfig, Path]] = []
    points: list[Point] = []
    shown: set[tuple[str, str]] = set()
    diverged = 0
    for values_ in record["points"]:
        pt = point_of(values_)
        points.append(pt)
        is_asked = label_of(values_) in asked_labels
        if is_asked and pt.graph is not None and pt.graph.graph_id not in known_graphs:
            build_graph(run_dir, pt.graph, {"sweep": sweep_name, **asdict(pt.graph)})
            known_graphs.add(pt.graph.graph_id)
        model_id = (pt.config.model.base, pt.config.model.embedder)
        if is_asked and model_id not in shown:
            shown.add(model_id)
            out.print(
                f"{pt.config.model.label}: {'recipe ' + pt.config.recipe if pt.config.recipe else 'no recipe'}",
                highlight=False,
            )
            mine = [p for p in asked if (p.get("base", base), point_embedder(p, embedder)) == model_id]
            out.print(describe_point(pt, mine), highlight=False)
            note = graph_note(run_dir, pt)
            if note:
                out.print(note, highlight=False)
        final_model = None  # the model config as a run saves it, worked out once per point
        for s in seed_list if is_asked else record["seeds"]:
            folder = root / "points" / f"{label_of(values_)}-s{s}"
            cfg = replace(pt.config, name=folder.name, train=replace(pt.config.train, seed=s))
            if (folder / "config.json").is_file() and (pt.graph is None or pt.graph.graph_id in known_graphs):
                saved = rundir.read_json(folder / "config.json")
                final_model = final_model or finalise_model(run_dir, cfg.model, meta)
                want = replace(cfg, model=final_model, train=finalise_train(cfg.train, meta)).to_dict()
                diffs = differing(config_key(saved), config_key(want))
                if diffs:
                    if not force:
                        raise GemError(
                            f"sweep {sweep_name}: point {folder.name} was trained with another config "
                            f"({describe_diff(diffs)}); pass --force to retrain it, or --name NEW for a new sweep"
                        )
                    shutil.rmtree(folder)
            ended = ended_summary(folder) if is_asked else None
            if is_asked and ended is None:
                todo.append((cfg, folder))
            elif ended is not None and ended["status"] == "diverged":
                diverged += 1
    n_runs = len(asked) * len(seed_list)
    done = n_runs - len(todo)
    left = adopt_twins(run_dir, todo) if adopt else todo
    adopted = f", {len(todo) - len(left)} adopted from finished twins" if len(left) < len(todo) else ""
    if adopted and left:  # finished points: in the results now, not once the first trained point ends (finally)
        write_results(root, sweep_name, xkey, points, record["seeds"])
    todo = left
    out.print(
        f"sweep {sweep_name}: {len(asked)} points x {len(seed_list)} seeds; {done} finished already with "
        f"this config{f' ({diverged} of them diverged)' if diverged else ''}{adopted}, {len(todo)} to run"
        + (f" ({spec.describe()})" if todo and (spec.kind != "local" or spec.jobs > 1) else "")
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
            task = progress.add_task(sweep_name, total=len(todo))

            def point_done(folder: Path, summary: dict[str, Any], where: str) -> None:
                progress.advance(task)
                if spec.kind == "ray":  # where each point ran
                    progress.console.print(f"{folder.name}: {summary['status']} on {where}", highlight=False)
                write_results(root, sweep_name, xkey, points, record["seeds"])

            run_points(run_dir, todo, spec, point_done)
    finally:
        write_results(root, sweep_name, xkey, points, record["seeds"])
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


def _x(point: dict[str, Any], xkey: str) -> Any:
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


def collect(root: Path, points: list[Point], seeds: list[int]) -> tuple[list[tuple[Point, list[dict]]], list[str]]:
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


def write_results(root: Path, name: str, xkey: str, points: list[Point], seeds: list[int]) -> None:
    from gemcli.tasks import headline_of

    rows, missing = collect(root, _sorted_points(points, xkey), seeds)
    xname, xs = x_axis([p for p, _ in rows], xkey)
    first = next((ss[0] for _, ss in rows if ss), {})
    a, b = headline_of(first)  # the task's two metrics (rmse, mae / auc, logloss); one data, one task
    metrics = (f"valid_{a}", f"valid_{b}", f"test_{a}", f"test_{b}")
    keys = list(dict.fromkeys(k for p, _ in rows for k in p.values))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [*keys, "seed", "best_epoch", "epochs_run", *metrics, "train_seconds", "parameters", "peak_rss_mib", "run"]
    )
    for p, ss in rows:
        for s in sorted(ss, key=lambda s: s["seed"]):
            w.writerow(
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
            )
    rundir.atomic_write_text(root / "results.csv", buf.getvalue())
    command = " ".join(["gem", *sys.argv[1:]])
    max_seeds = max((len(ss) for _, ss in rows), default=0)
    spread = "mean ± standard deviation over seeds" if max_seeds > 1 else "one seed per point"
    lines = [
        f"# sweep {name}",
        "",
        f"Made by `{command}` (the last call that wrote this file); every point's "
        "config is in its run folder (`points/*/config.json`).",
        "",
        f"x: `{xname}`; {spread} (test split at the best validation epoch); every point of the sweep, sorted by value.",
        "",
        f"| {xname} | seeds | test {a.upper()} | test {b.upper()} | valid {a.upper()} | valid {b.upper()} "
        f"| best epochs | {COST_COLUMNS} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    capped = False  # a run's best epoch at its epoch cap: still improving when it stopped
    for x, (p, ss) in zip(xs, rows, strict=True):
        if not ss:
            label = label_of(p.values)
            mine = [m for m in missing if m.startswith(f"{label}-s")]
            state = "diverged" if mine and all(m.endswith("(diverged)") for m in mine) else "not finished"
            lines.append(f"| {x} | 0 | - | - | - | - | {state} | - | - | - | - |")
            continue
        cells = [
            fmt_mean_std([s[m] for s in ss]) if all(m in s for s in ss) else "-"
            for m in (f"test_{a}", f"test_{b}", f"valid_{a}", f"valid_{b}")
        ]
        capped = capped or any(at_cap(s) for s in ss)
        epochs = ", ".join(
            f"{s['best_epoch']}" + ("*" if at_cap(s) else "") for s in sorted(ss, key=lambda s: s["seed"])
        )
        peaks = [s["peak_rss_mib"] for s in ss if s.get("peak_rss_mib")]
        seconds, epochs_run = [s["train_seconds"] for s in ss], [s.get("epochs_run") or 1 for s in ss]
        lines.append(
            f"| {x} | {len(ss)} | "
            + " | ".join(cells)
            + f" | {epochs} | "
            + cost_cells(ss[0].get("parameters"), seconds, epochs_run, peaks)
        )
    if capped:
        lines += ["", "\\* best epoch at the epoch cap: that run was still improving when it stopped."]
    if missing:
        lines += ["", f"Not finished or diverged (left out): {', '.join(missing)}."]
    adopted = [adopted_entry(s["name"], s) for _, ss in rows for s in ss if s.get("adopted_from")]
    if adopted:
        lines += ["", f"Adopted (copies of identical finished runs, not trained again): {', '.join(adopted)}."]
    rundir.atomic_write_text(root / "results.md", "\n".join(lines) + "\n")
    groups = plot_groups([p for p, _ in rows], xkey)
    series: list[tuple[Any, list[dict], str | None]] = [
        (x, ss, None) if groups is None else (_x(p.values, xkey), ss, groups[i])
        for i, (x, (p, ss)) in enumerate(zip(xs, rows, strict=True))
        if ss and f"test_{a}" in ss[0]
    ]
    if series:
        plot_sweep(root / f"{name}.png", name, xname if groups is None else xkey, series, (a, b))


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


def results_table(root: Path) -> Any:
    """results.md's table as a rich Table, for the terminal."""
    from gemcli.report import markdown_table

    return markdown_table((root / "results.md").read_text(), f"sweep {root.name} ({root}/results.md)")


def plot_sweep(
    path: Path,
    name: str,
    xkey: str,
    series: list[tuple[Any, list[dict], str | None]],
    metrics: tuple[str, str] = ("rmse", "mae"),
) -> None:
    """The sweep's figure: test metrics (the task's two) against the swept value, mean ± std over seeds. Series
    items are (x, summaries, group): one line (or marker set, for categories) per group, the groups' markers side
    by side; group None when there is one."""
    from gemcli.report import mean_std

    keys = (f"test_{metrics[0]}", f"test_{metrics[1]}")
    points = []
    for x, ss, g in series:
        stats = {}
        for m in keys:
            vals = [s[m] for s in ss if m in s]
            if vals:
                stats[m] = mean_std(vals)
        points.append((x, g, stats))
    n = sorted({len(ss) for _, ss, _ in series})
    seeds = f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"
    what = "mean ± std over " + seeds + " seeds" if n[-1] > 1 else "one seed per point, no error bars"
    plot_points(path, f"sweep {name} ({what})", xkey, points, keys)


def plot_points(
    path: Path,
    title: str,
    xlabel: str,
    points: list[tuple[Any, str | None, dict[str, tuple[float, float]]]],
    metrics: tuple[str, str],
) -> None:
    """Two panels (one per metric key, e.g. test_rmse): each point is (x, group, {metric: (mean, sd)}), a metric it
    lacks left out of that panel. Numeric x draws one line per group; categorical x draws marker sets, the groups
    side by side at each category. Used by plot_sweep and by figures drawn from recorded means
    (scripts/plot_embedders.py)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _, _ in points)
    groups = list(dict.fromkeys(g for _, g, _ in points))
    xs = list(dict.fromkeys(x for x, _, _ in points))
    fig, axes = plt.subplots(1, 2, figsize=(9 if len(xs) <= 8 else 12, 3.4))
    for ax, m in zip(axes, metrics, strict=True):
        for g_i, g in enumerate(groups):
            mine = [(x, st[m]) for x, g_, st in points if g_ == g and m in st]
            shift = (g_i - (len(groups) - 1) / 2) * 0.12 if not numeric else 0.0
            pos = [x if numeric else xs.index(x) + shift for x, _ in mine]
            order = sorted(range(len(pos)), key=lambda i: pos[i])
            ax.errorbar(
                [pos[i] for i in order],
                [mine[i][1][0] for i in order],
                yerr=[mine[i][1][1] for i in order],
                marker="o",
                capsize=3,
                linestyle="-" if numeric else "none",
                label=g,
            )  # no line between unordered categories
        if not numeric:
            ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=20, fontsize=7)
        if groups != [None]:
            ax.legend(fontsize=7)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(m.replace("_", " ").upper())
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    rundir.save_figure(fig, path)
