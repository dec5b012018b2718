"""Vary options over runs (the paper's studies: Figures 5-7, or any grid), collect a table, draw the figure.

RUN_DIR/sweeps/NAME/
  points/LABEL-sSEED/   a normal run per point and seed (config.json, model.pt, metrics.jsonl, summary.json, ...)
  results.csv           one row per run: the parameters, seed, best epoch, valid/test RMSE and MAE, time
  results.md            mean and standard deviation per point
  NAME.png              test RMSE and MAE against the parameter, error bars over seeds

A sweep started again skips finished points and resumes interrupted ones.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, fields, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gemcli import rundir
from gemcli.config import ModelConfig, RunConfig, TrainConfig
from gemcli.console import out
from gemcli.errors import GemError
from gemcli.graph import GraphConfig
from gemcli.report import fmt_mean_std
from gemcli.train import finished_summary

GRAPH_KEYS = {"type": "type", "fields": "fields", "sample_ratio": "sample_ratio", "graph_seed": "seed",
              "edge_source": "edge_source"}
BASE_KEYS = {"dropout", "mlp", "mlp_dropout", "attention_size", "field_size"}
NAMED = ("dropout", "sampling-ratio", "graph-type")


def _convert(key: str, text: str) -> Any:
    defaults = {**{f.name: f.default for f in fields(ModelConfig)}, **{f.name: f.default for f in fields(TrainConfig)},
                "sample_ratio": 1.0, "graph_seed": 0, "dropout": 0.5, "mlp_dropout": 0.2, "attention_size": 1,
                "field_size": 1}
    if key == "fields":
        return text.replace("+", ",")
    if key == "mlp":
        return [int(v) for v in text.split("-")]
    d = defaults.get(key)
    try:
        if isinstance(d, bool):
            return text.lower() in ("1", "true", "yes")
        if isinstance(d, int):
            return int(text)
        if isinstance(d, float):
            return float(text)
    except ValueError:
        raise GemError(f"--param {key}: {text!r} is not a {type(d).__name__}") from None
    return text


def parse_params(specs: list[str]) -> list[dict[str, Any]]:
    """--param NAME=V1,V2 ... -> the grid of points (cartesian product)."""
    known = {f.name for f in fields(ModelConfig)} | {f.name for f in fields(TrainConfig)} | set(GRAPH_KEYS) | BASE_KEYS
    axes = []
    for spec in specs:
        if "=" not in spec:
            raise GemError(f"--param {spec!r}: expected NAME=V1,V2,...")
        key, vals = spec.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in known:
            raise GemError(f"--param {key!r}: unknown option; known: {', '.join(sorted(known))}")
        values = [v for v in vals.split(",") if v != ""]
        if not values:
            raise GemError(f"--param {spec!r}: no values")
        axes.append([(key, _convert(key, v)) for v in values])
    return [dict(combo) for combo in itertools.product(*axes)]


def named_points(name: str, meta: dict, values: list[str] | None) -> tuple[list[dict[str, Any]], str]:
    """Points of the paper's studies, and the parameter on the x axis."""
    if name == "dropout":  # Figure 7: GCN dropout
        vals = [float(v) for v in values] if values else [round(0.1 * i, 1) for i in range(10)]
        return [{"gem": True, "gcn_dropout": v} for v in vals], "gcn_dropout"
    if name == "sampling-ratio":  # Figure 6
        vals = [float(v) for v in values] if values else [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        return [{"gem": True, "sample_ratio": v} for v in vals], "sample_ratio"
    if name == "graph-type":  # Figure 5: FM, GEM type b, type a, type a with a bad low-cardinality field
        graph_fields = list(meta["graph_fields"])
        others = [f for f in meta["fields"] if f not in graph_fields]
        bad = "isweekend" if "isweekend" in others else min(others, key=lambda f: meta["cardinalities"][f], default=None)
        points = [{"gem": False, "variant": "FM"}, {"gem": True, "type": "b", "variant": "GEM type b"},
                  {"gem": True, "type": "a", "variant": "GEM type a"}]
        if bad:
            points.append({"gem": True, "type": "a", "fields": ",".join(graph_fields + [bad]), "variant": f"GEM type a + {bad}"})
        return points, "variant"
    raise GemError(f"unknown sweep {name!r}; known: {', '.join(NAMED)}, or use --param NAME=V1,V2")


def label_of(point: dict[str, Any]) -> str:
    parts = []
    for k, v in point.items():
        if k == "variant":
            continue
        v = "-".join(map(str, v)) if isinstance(v, list) else str(v).replace(",", "+")
        parts.append(f"{k}={v}")
    return "_".join(parts) or "default"


def point_config(point: dict[str, Any], base_cfg: RunConfig) -> tuple[RunConfig, GraphConfig | None]:
    mfields = {f.name for f in fields(ModelConfig)}
    tfields = {f.name for f in fields(TrainConfig)}
    m = {k: v for k, v in point.items() if k in mfields}
    t = {k: v for k, v in point.items() if k in tfields}
    b = {k: v for k, v in point.items() if k in BASE_KEYS}
    g = {GRAPH_KEYS[k]: v for k, v in point.items() if k in GRAPH_KEYS}
    mcfg = replace(base_cfg.model, **m, base_options={**base_cfg.model.base_options, **b})
    tcfg = replace(base_cfg.train, **t)
    gcfg = None
    if mcfg.gem:
        if "fields" in g:
            g["fields"] = tuple(f.strip() for f in str(g["fields"]).split(",") if f.strip())
        gcfg = GraphConfig(**g)
    return RunConfig(model=mcfg, train=tcfg, data={}), gcfg


def _run_point(run_dir: str, cfg: dict, folder: str, threads: int | None) -> dict:
    import torch

    from gemcli import train

    if threads:  # parallel jobs share the cores; a single job keeps torch's (or OMP_NUM_THREADS') setting
        torch.set_num_threads(threads)
    return train.fit_or_resume(Path(run_dir), RunConfig.from_dict(cfg), Path(folder), quiet=True)


def run_sweep(run_dir: Path, name: str | None, params: list[str], values: list[str] | None, base_cfg: RunConfig,
              seeds: int, jobs: int) -> Path:
    from gemcli.graph import build_graph, list_graphs, with_default_fields

    meta = rundir.read_json(rundir.data_dir(run_dir) / "meta.json")
    if name is not None and params:
        raise GemError("give a named sweep or --param, not both")
    if name is None and not params:
        raise GemError(f"name a sweep ({', '.join(NAMED)}) or give --param NAME=V1,V2")
    if name is not None:
        points, xkey = named_points(name, meta, values)
    else:
        points = parse_params(params)
        xkey = next(iter(points[0]))
        name = "grid-" + "-".join(dict.fromkeys(k for p in points for k in p))
    root = Path(run_dir) / "sweeps" / name
    (root / "points").mkdir(parents=True, exist_ok=True)
    known_graphs = {g["graph_id"] for g in list_graphs(run_dir)}
    todo, rows = [], []
    for point in points:
        cfg, gcfg = point_config(point, base_cfg)
        if gcfg is not None:
            gcfg = with_default_fields(gcfg, meta)
            if gcfg.graph_id not in known_graphs:
                build_graph(run_dir, gcfg, {"sweep": name, **asdict(gcfg)})
                known_graphs.add(gcfg.graph_id)
            cfg.model.graph = gcfg.graph_id
        for s in range(seeds):
            c = RunConfig(model=replace(cfg.model), train=replace(cfg.train, seed=base_cfg.train.seed + s), data={},
                          name=f"{label_of(point)}-s{base_cfg.train.seed + s}")
            folder = root / "points" / c.name
            done = finished_summary(folder)
            if done is not None:
                rows.append((point, done))
                continue
            todo.append((point, c, folder))
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    out.print(f"sweep {name}: {len(points)} points x {seeds} seeds; {len(rows)} finished already, {len(todo)} to run")
    with Progress(TextColumn("sweep {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=out) as progress:
        task = progress.add_task(name, total=len(todo))
        if jobs <= 1:
            for point, c, folder in todo:
                rows.append((point, _run_point(str(run_dir), c.to_dict(), str(folder), threads)))
                progress.advance(task)
                write_results(root, name, xkey, rows)
        else:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(_run_point, str(run_dir), c.to_dict(), str(folder), threads): point
                           for point, c, folder in todo}
                for fut in as_completed(futures):
                    rows.append((futures[fut], fut.result()))
                    progress.advance(task)
                    write_results(root, name, xkey, rows)
    write_results(root, name, xkey, rows)
    return root


def _x(point: dict[str, Any], xkey: str) -> Any:
    v = point.get(xkey)
    return "-".join(map(str, v)) if isinstance(v, list) else v


def write_results(root: Path, name: str, xkey: str, rows: list[tuple[dict, dict]]) -> None:
    metrics = ("valid_rmse", "valid_mae", "test_rmse", "test_mae")
    keys = list(dict.fromkeys(k for p, _ in rows for k in p))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([*keys, "seed", "best_epoch", *metrics, "train_seconds", "run"])
    order = {label_of(p): i for i, (p, _) in enumerate(rows)}
    for p, s in sorted(rows, key=lambda r: (order[label_of(r[0])], r[1]["seed"])):
        w.writerow([_x(p, k) for k in keys] + [s["seed"], s["best_epoch"], *(f"{s[m]:.6f}" for m in metrics),
                                               s["train_seconds"], s["name"]])
    rundir.atomic_write_text(root / "results.csv", buf.getvalue())
    groups: dict[str, list[dict]] = {}
    xs: dict[str, Any] = {}
    for p, s in rows:
        groups.setdefault(label_of(p), []).append(s)
        xs[label_of(p)] = _x(p, xkey)
    command = " ".join(["gem", *sys.argv[1:]])
    lines = [f"# sweep {name}", "", f"Made by `{command}` (the last call that wrote this file).", "",
             f"x: `{xkey}`; mean ± standard deviation over seeds (test split at the best validation epoch).", "",
             f"| {xkey} | seeds | test RMSE | test MAE | valid RMSE | valid MAE |", "|---|---:|---:|---:|---:|---:|"]
    for label, ss in groups.items():
        cells = [fmt_mean_std([s[m] for s in ss]) for m in ("test_rmse", "test_mae", "valid_rmse", "valid_mae")]
        lines.append(f"| {xs[label]} | {len(ss)} | " + " | ".join(cells) + " |")
    rundir.atomic_write_text(root / "results.md", "\n".join(lines) + "\n")
    plot_sweep(root / f"{name}.png", name, xkey, [(xs[label], groups[label]) for label in groups])


def plot_sweep(path: Path, name: str, xkey: str, series: list[tuple[Any, list[dict]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _ in series)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, m in zip(axes, ("test_rmse", "test_mae"), strict=True):
        xs = [x for x, _ in series]
        pos = xs if numeric else list(range(len(xs)))
        mu = [statistics.fmean(s[m] for s in ss) for _, ss in series]
        sd = [statistics.stdev([s[m] for s in ss]) if len(ss) > 1 else 0.0 for _, ss in series]
        order = sorted(range(len(pos)), key=lambda i: pos[i])
        ax.errorbar([pos[i] for i in order], [mu[i] for i in order], yerr=[sd[i] for i in order], marker="o", capsize=3,
                    linestyle="-" if numeric else "none")  # no line between unordered categories
        if not numeric:
            ax.set_xticks(pos, [str(x) for x in xs], rotation=20, fontsize=7)
        ax.set_xlabel(xkey)
        ax.set_ylabel(m.replace("_", " ").upper())
        ax.grid(alpha=0.3)
    fig.suptitle(f"sweep {name} (mean ± std over seeds)", fontsize=9)
    fig.tight_layout()
    rundir.save_figure(fig, path)
