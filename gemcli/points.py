"""Points: what a sweep's grid point or a search's trial sets (options of the table, base, embedder, a graph's
options), read from text (`--param NAME=...`), named (`label_of`) and resolved as `gem train` resolves a run
(`resolve_point`). Sweeps (gemcli.sweep) and searches (gemcli.tune) both import this module; neither imports
the other for it."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gemcli.config import OPTION_KEYS, RunConfig, option_keys, option_table, resolve_config
from gemcli.errors import GemError
from gemcli.graph import GraphConfig
from gemcli.meta import DataMeta
from gemcli.options import Option, OptionValue

GRAPH_KEYS = {
    "type": "type",
    "fields": "fields",
    "sample_ratio": "sample_ratio",
    "graph_seed": "seed",
    "edge_source": "edge_source",
}
POINT_KEYS = ("base", "gem", "embedder", *OPTION_KEYS, *GRAPH_KEYS)  # the built-in ones: point_key_names()


def point_key_names() -> tuple[str, ...]:
    """What a point may set: base, embedder (gem), every option of the table (plug-ins' too), a graph's options."""
    from gemcli.config import option_keys

    return ("base", "gem", "embedder", *option_keys(), *GRAPH_KEYS)


def convert(key: str, text: str, check_range: bool = True) -> OptionValue:
    """A --param value as the option's type (the option table's rules: int, float, bool, sizes like 64-32), or as a
    point key's (embedder, gem, a graph's fields like a+b, sample_ratio, graph_seed); one line naming it otherwise.
    `check_range=False` reads a search's bound, which the option's range checks as a bound (tune.parse_space)."""
    if key == "fields":
        return text.replace("+", ",")
    if key == "embedder":
        from gemcli.nn.embedders import embedder_class

        return embedder_class(text).registry_name
    if key == "gem":
        return Option("gem", "bool").parse(text, "--param gem")
    point_keys = {
        "sample_ratio": Option("sample_ratio", "float", low=0.0, high=1.0),
        "graph_seed": Option("graph_seed", "int", low=0, high=2**32 - 1),
    }
    table = option_table()
    option = table.get(key) or point_keys.get(key)
    if option is None:
        return text
    if not check_range:
        option = replace(option, low=None, high=None, choices=(), check=None)
    return option.parse(text, f"--param {key}")


def parse_params(specs: list[str]) -> list[dict[str, Any]]:
    """--param NAME=V1,V2 ... -> the grid of points (cartesian product)."""
    axes = []
    for spec in specs:
        if "=" not in spec:
            raise GemError(f"--param {spec!r}: expected NAME=V1,V2,...")
        key, vals = spec.split("=", 1)
        key = key.strip().replace("-", "_")
        point_keys = point_key_names()
        if key not in point_keys:
            raise GemError(f"--param {key!r}: unknown option; known: {', '.join(sorted(point_keys))}")
        values = [v for v in vals.split(",") if v != ""]
        if not values:
            raise GemError(f"--param {spec!r}: no values")
        axes.append([(key, convert(key, v)) for v in values])
    return [dict(combo) for combo in itertools.product(*axes)]


def label_of(point: dict[str, OptionValue]) -> str:
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


def point_embedder(point: dict[str, OptionValue], default: str = "lookup") -> str:
    """A point's embedder: `embedder`, else gcn for gem=true (the paper's studies), lookup for gem=false."""
    if "embedder" in point:
        return str(point["embedder"])
    if "gem" in point:
        return "gcn" if point["gem"] else "lookup"
    return default


def resolve_point(
    point: dict[str, OptionValue],
    given: dict[str, OptionValue],
    recipe: str | None,
    base: str,
    meta: DataMeta,
    run_dir: Path,
    embedder: str = "lookup",
    embedder_options: dict[str, OptionValue] | None = None,
) -> Point:
    """The point's run config as `gem train` would resolve it, with the point's values given."""
    from gemcli.graph import resolve_graph, with_default_fields

    keys = option_keys()
    opts = {k: v for k, v in point.items() if k in keys}
    resolved = resolve_config(
        str(point.get("base", base)),
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
        g: dict[str, Any] = {GRAPH_KEYS[k]: v for k, v in point.items() if k in GRAPH_KEYS}
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
