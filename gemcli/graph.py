"""The feature co-occurrence graph of GEM (paper section 3.2, Figure 1) and its GCN normalisation.

Nodes are all features of the dataset (global ids); an edge joins two features that occur together
in a positive training instance, for the field pairs the graph type allows:

    type a: user-item, user-context, item-context (context = the chosen non-user/item fields)
    type b: user-item only
    --pairs all: every pair of the chosen fields; --pairs star:F: F with each other chosen field
    (any table; data without user/item roles gets `all` unless told)

Features of fields left out are isolated nodes (self-loop only). Neighbour sampling keeps, per node,
a seeded random round(r * degree) of its neighbours; the kept edge set is made symmetric.
Â = D^-1/2 (A + I) D^-1/2 (Kipf & Welling 2017, eq. 5 of the paper).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from gemcli.errors import GemError
from gemcli.meta import DataMeta
from gemcli.rundir import atomic_write_json, data_dir, read_json, staged_dir, write_manifest

GRAPH_TYPES = ("a", "b")
EDGE_SOURCES = ("positive", "all")


@dataclass(frozen=True)
class GraphConfig:
    type: str = "a"
    fields: tuple[str, ...] = ()
    sample_ratio: float = 1.0
    seed: int = 0
    edge_source: str = "positive"
    pairs: str = ""  # "": by type (a/b); "all": every pair of fields; "star:F": F with every other field

    @property
    def graph_id(self) -> str:
        kind = self.pairs.replace(":", "-") if self.pairs else self.type
        gid = f"{kind}-{'-'.join(self.fields)}-r{self.sample_ratio:g}-s{self.seed}"
        return gid + ("-alledges" if self.edge_source == "all" else "")


def field_pairs(graph_type: str, fields: list[str], user: str, item: str, rule: str = "") -> list[tuple[str, str]]:
    """The field pairs that make edges, for a graph type (or a --pairs rule) and a chosen field list."""
    if rule == "all":
        return [(f, g) for i, f in enumerate(fields) for g in fields[i + 1 :]]
    if rule.startswith("star:"):
        centre = rule[5:]
        return [(centre, g) for g in fields if g != centre]
    if graph_type == "b":
        return [(user, item)]
    context = [f for f in fields if f not in (user, item)]
    pairs = [(user, item)] if user in fields and item in fields else []
    for anchor in (user, item):
        if anchor in fields:
            pairs += [(anchor, c) for c in context]
    return pairs


def validate(cfg: GraphConfig, meta: DataMeta) -> None:
    if cfg.type not in GRAPH_TYPES:
        raise GemError(f"--type {cfg.type!r}: expected one of {', '.join(GRAPH_TYPES)}")
    if cfg.edge_source not in EDGE_SOURCES:
        raise GemError(f"--edge-source {cfg.edge_source!r}: expected one of {', '.join(EDGE_SOURCES)}")
    if not 0.0 <= cfg.sample_ratio <= 1.0:
        raise GemError(f"--sample-ratio {cfg.sample_ratio}: must lie in [0, 1]")
    unknown = [f for f in cfg.fields if f not in meta.fields]
    if unknown:
        raise GemError(
            f"--fields: unknown field(s) {', '.join(unknown)}; fields of this data: {', '.join(meta.fields)}"
        )
    if len(set(cfg.fields)) != len(cfg.fields):
        raise GemError("--fields: a field is repeated")
    if cfg.pairs:
        if cfg.pairs != "all" and not (cfg.pairs.startswith("star:") and cfg.pairs[5:] in cfg.fields):
            raise GemError(
                f"--pairs {cfg.pairs!r}: expected all or star:FIELD with FIELD among the graph's fields "
                f"({', '.join(cfg.fields)})"
            )
        if len(cfg.fields) < 2:
            raise GemError("--fields: a graph needs at least two fields")
        return
    if not meta.roles.get("user") or not meta.roles.get("item"):
        raise GemError("--type a/b need user and item roles, which this data has not; use --pairs all|star:FIELD")
    user, item = meta.roles["user"], meta.roles["item"]
    if cfg.type == "b" and not (user in cfg.fields and item in cfg.fields):
        raise GemError(f"--type b needs the user field {user!r} and the item field {item!r} in --fields")
    if cfg.type == "a" and user not in cfg.fields and item not in cfg.fields:
        raise GemError(f"--type a needs the user field {user!r} or the item field {item!r} in --fields")


def normalise(adj: sp.spmatrix) -> sp.csr_matrix:
    """D^-1/2 (A + I) D^-1/2 for a symmetric 0/1 adjacency A without self-loops; float32 CSR."""
    a = sp.csr_matrix(adj, dtype=np.float64) + sp.identity(adj.shape[0], format="csr")
    deg = np.asarray(a.sum(axis=1)).ravel()
    d = sp.diags(1.0 / np.sqrt(deg))
    out = (d @ a @ d).tocsr().astype(np.float32)
    out.sort_indices()
    return out


def sample_neighbours(adj: sp.csr_matrix, ratio: float, seed: int) -> sp.csr_matrix:
    """Each node keeps a seeded random round(ratio * degree) of its neighbours; union made symmetric."""
    if ratio >= 1.0:
        return adj
    coo = adj.tocoo()
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
    n = adj.shape[0]
    if ratio <= 0.0 or len(rows) == 0:
        return sp.csr_matrix((n, n), dtype=adj.dtype)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(rows)), rows))  # random order of neighbours within each row
    rows, cols = rows[order], cols[order]
    deg = np.bincount(rows, minlength=n)
    start = np.concatenate([[0], np.cumsum(deg)[:-1]])
    rank = np.arange(len(rows)) - start[rows]
    keep = rank < np.round(ratio * deg[rows])
    kept = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (rows[keep], cols[keep])), shape=(n, n))
    return kept.maximum(kept.T).tocsr()


def positive_rows(frame: pl.DataFrame, meta: DataMeta, edge_source: str) -> pl.DataFrame:
    """The training rows that make edges: positives (label above the middle of the label range: 1 of 0/1, +1 of
    ±1), or every row (`all`, and data whose labels are all one value: no negatives)."""
    lo, hi = meta.label_range
    if edge_source == "all" or lo == hi:
        return frame
    return frame.filter(pl.col("label") > (lo + hi) / 2)


def build_adjacency(frame: pl.DataFrame, meta: DataMeta, cfg: GraphConfig) -> tuple[sp.csr_matrix, dict[str, int]]:
    """Symmetric 0/1 adjacency (no self-loops) over all n_features nodes, and edge counts per field pair."""
    n = meta.n_features
    user, item = meta.roles.get("user", ""), meta.roles.get("item", "")
    src_parts, dst_parts, pair_counts = [], [], {}
    for f, g in field_pairs(cfg.type, list(cfg.fields), user, item, cfg.pairs):
        pairs = frame.select(pl.col(f).alias("s"), pl.col(g).alias("d"))
        if meta.reserved:  # a field's out-of-vocabulary and missing ids stand for no value: no edges
            pairs = pairs.filter(
                (pl.col("s") - meta.offsets[f] >= meta.reserved) & (pl.col("d") - meta.offsets[g] >= meta.reserved)
            )
        pairs = pairs.unique()
        s, d = pairs["s"].to_numpy().astype(np.int64), pairs["d"].to_numpy().astype(np.int64)
        src_parts.append(s)
        dst_parts.append(d)
        pair_counts[f"{f}-{g}"] = len(s)
    src = np.concatenate(src_parts) if src_parts else np.empty(0, np.int64)
    dst = np.concatenate(dst_parts) if dst_parts else np.empty(0, np.int64)
    a = sp.csr_matrix((np.ones(len(src), np.float32), (src, dst)), shape=(n, n))
    a = a.maximum(a.T).tocsr()
    a.data[:] = 1.0
    return a, pair_counts


def field_of(meta: DataMeta) -> np.ndarray:
    """int[n_features]: the index of the field each global id belongs to."""
    cards = [meta.cardinalities[f] for f in meta.fields]
    return np.repeat(np.arange(len(cards)), cards)


def graph_stats(adj: sp.csr_matrix, meta: DataMeta) -> dict[str, Any]:
    deg = np.diff(adj.indptr)
    fid = field_of(meta)
    upper = sp.triu(adj, k=1).tocoo()
    fa, fb = fid[upper.row], fid[upper.col]
    lo, hi = np.minimum(fa, fb), np.maximum(fa, fb)
    names = meta.fields
    per_pair: dict[str, int] = {}
    if len(lo):
        keys, counts = np.unique(lo * len(names) + hi, return_counts=True)
        per_pair = {
            f"{names[k // len(names)]}-{names[k % len(names)]}": int(c) for k, c in zip(keys, counts, strict=True)
        }
    per_field = {}
    for j, f in enumerate(names):
        d = deg[fid == j]
        per_field[f] = {
            "nodes": int(len(d)),
            "mean_degree": float(d.mean()) if len(d) else 0.0,
            "max_degree": int(d.max()) if len(d) else 0,
            "isolated": int((d == 0).sum()),
        }
    return {
        "nodes": int(adj.shape[0]),
        "edges": int(upper.nnz),
        "edges_per_field_pair": per_pair,
        "degree": {
            "mean": float(deg.mean()),
            "median": float(np.median(deg)),
            "max": int(deg.max(initial=0)),
            "min": int(deg.min(initial=0)),
        },
        "degree_per_field": per_field,
        "isolated_nodes": int((deg == 0).sum()),
    }


def with_default_fields(cfg: GraphConfig, meta: DataMeta) -> GraphConfig:
    """cfg with --fields filled in when empty: the dataset's default; type b uses only its user and item fields."""
    if not cfg.pairs and not (meta.roles.get("user") and meta.roles.get("item")):
        cfg = GraphConfig(**{**asdict(cfg), "pairs": "all"})  # no user/item roles: every pair of fields
    if cfg.fields:
        return cfg
    default = meta.graph_fields if cfg.type != "b" or cfg.pairs else [meta.roles["user"], meta.roles["item"]]
    return GraphConfig(**{**asdict(cfg), "fields": tuple(default)})


def build_graph(run_dir: Path, cfg: GraphConfig, options: dict[str, Any]) -> dict[str, Any]:
    """Read RUN_DIR/data (training split only), write RUN_DIR/graphs/ID/{adjacency.npz, graph.json}."""
    ddir = data_dir(run_dir)
    from gemcli.rundir import read_meta

    meta = read_meta(run_dir)
    cfg = with_default_fields(cfg, meta)
    validate(cfg, meta)
    t0 = time.perf_counter()
    train = pl.read_parquet(ddir / "train.parquet", glob=False)
    rows = positive_rows(train, meta, cfg.edge_source)
    full, _ = build_adjacency(rows, meta, cfg)
    adj = sample_neighbours(full, cfg.sample_ratio, cfg.seed)
    a_hat = normalise(adj)
    seconds = time.perf_counter() - t0
    info = {
        "format": "gemcli-graph/1",
        "graph_id": cfg.graph_id,
        "dataset_id": meta.dataset_id,
        "config": asdict(cfg),
        "instances_used": rows.height,
        "edges_before_sampling": int(sp.triu(full, k=1).nnz),
        **graph_stats(adj, meta),
        "seconds": round(seconds, 3),
        "created": time.time(),
        "normalisation": "D^-1/2 (A + I) D^-1/2",
    }
    with staged_dir(Path(run_dir) / "graphs" / cfg.graph_id) as tmp:
        sp.save_npz(tmp / "adjacency.npz", a_hat)
        # the degrees of A + I: with Â they give A + I = D^1/2 Â D^1/2 back, and so any other normalisation
        np.save(tmp / "degrees.npy", np.asarray(adj.sum(axis=1)).ravel().astype(np.int64) + 1)
        atomic_write_json(tmp / "graph.json", info)
        write_manifest(
            tmp,
            stage="build-graph",
            options=options,
            inputs={"train.parquet": ddir / "train.parquet", "meta.json": ddir / "meta.json"},
            seed=cfg.seed,
        )
    return info


def list_graphs(run_dir: Path) -> list[dict[str, Any]]:
    """All graphs of a run directory (graph.json, with its path), oldest first."""
    from gemcli.rundir import listing

    infos = []
    for g in listing(Path(run_dir) / "graphs", "graph.json"):
        info = read_json(g / "graph.json")
        info["path"] = str(g)
        infos.append(info)
    return infos


def built_for_study(graph_dir: Path) -> str | None:
    """The sweep or search that built this graph for its points ("sweep NAME", "tune NAME"), from its manifest;
    None for a graph `gem build-graph` built (or one whose manifest cannot be read)."""
    from gemcli.rundir import read_json

    try:
        options = read_json(Path(graph_dir) / "manifest.json").get("options") or {}
    except (OSError, ValueError, GemError):
        return None
    for kind in ("sweep", "tune"):
        if kind in options:
            return f"{kind} {options[kind]}"
    return None


def resolve_graph(run_dir: Path, graph: str | None) -> Path:
    """--graph ID (or a path), else the default: the latest graph `gem build-graph` built in the run directory.

    Graphs a sweep or search built for its points (graph-type's, sampling-ratio's) are never the default, so a
    study run in between does not change what a later `gem train --gem` trains on; where `gem build-graph` built
    none, the default is the graph it would build (type a over the dataset's graph fields, every neighbour), if a
    study built that one."""
    if graph:
        for cand in (Path(graph), Path(run_dir) / "graphs" / graph):
            if (cand / "adjacency.npz").is_file():
                return cand
        known = ", ".join(i["graph_id"] for i in list_graphs(run_dir)) or "none"
        raise GemError(f"--graph {graph!r}: no such graph in {run_dir}/graphs (known: {known})")
    graphs = list_graphs(run_dir)
    if not graphs:
        raise GemError(f"{run_dir}: no graph built; run `gem build-graph --type a` first (or train without --gem)")
    built = [g for g in graphs if built_for_study(Path(g["path"])) is None]
    if built:
        return Path(built[-1]["path"])
    from gemcli.rundir import read_meta

    default = with_default_fields(GraphConfig(), read_meta(run_dir)).graph_id
    for g in graphs:
        if g["graph_id"] == default:
            return Path(g["path"])
    known = ", ".join(f"{g['graph_id']} ({built_for_study(Path(g['path']))})" for g in graphs)
    raise GemError(
        f"{run_dir}: no graph built by `gem build-graph`, only studies' graphs ({known}); name one with --graph or "
        "run `gem build-graph --type a`"
    )


def load_adjacency(graph_dir: Path) -> sp.csr_matrix:
    """Â of a built graph, checked against its manifest; a damaged file stops with one line."""
    from gemcli.rundir import verify

    path = verify(Path(graph_dir) / "adjacency.npz")
    try:
        adj = sp.load_npz(path).tocsr()
    except Exception as e:  # zipfile, numpy and scipy each raise their own errors for damaged files
        raise GemError(
            f"{path}: not a readable adjacency matrix ({str(e)[:160] or type(e).__name__}); run `gem build-graph` again"
        ) from None
    return adj


OPERATORS = ("sym", "rw", "mean", "adjacency", "sym-nodiag")


def operator(adj: sp.spmatrix, kind: str = "sym") -> sp.csr_matrix:
    """The graph as the operator an embedder asks for, from its symmetric 0/1 adjacency A (no self-loops):
    sym = Â = D^-1/2 (A + I) D^-1/2 (GCN), rw = D^-1 (A + I) (mean over the neighbourhood and itself),
    mean = D_A^-1 A (mean over the neighbours only; a node without neighbours has an empty row), adjacency = A,
    sym-nodiag = Â without its diagonal (the neighbours' weights in Â); D the degrees of A + I, D_A those of A.
    float32 CSR, indices sorted."""
    if kind not in OPERATORS:
        raise GemError(f"unknown graph operator {kind!r}; known: {', '.join(OPERATORS)}")
    a = sp.csr_matrix(adj, dtype=np.float64)
    a.eliminate_zeros()
    if kind in ("sym", "sym-nodiag"):
        out = normalise(a)
        if kind == "sym-nodiag":
            out = (out - sp.diags(out.diagonal())).tocsr()
            out.eliminate_zeros()
    else:
        deg = np.asarray(a.sum(axis=1)).ravel()
        if kind == "rw":
            out = sp.diags(1.0 / (deg + 1.0)) @ (a + sp.identity(a.shape[0], format="csr"))
        elif kind == "mean":
            out = sp.diags(np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)) @ a
        else:
            out = a
    out = sp.csr_matrix(out, dtype=np.float32)
    out.sort_indices()
    return out


def load_operator(graph_dir: Path, kind: str = "sym") -> sp.csr_matrix:
    """gemcli.graph.operator of a built graph (its A recovered from Â and the degrees of A + I). Graphs built
    before 0.2.0 hold only Â (sym)."""
    a_hat = load_adjacency(graph_dir)
    if kind == "sym":
        return a_hat
    if kind not in OPERATORS:
        raise GemError(f"unknown graph operator {kind!r}; known: {', '.join(OPERATORS)}")
    from gemcli.rundir import verify

    path = Path(graph_dir) / "degrees.npy"
    if not path.is_file():
        raise GemError(
            f"{graph_dir}: built before degrees were stored; run `gem build-graph` again for a {kind} operator"
        )
    deg = np.load(verify(path)).astype(np.float64)
    root = sp.diags(np.sqrt(deg))
    a_plus_i = (root @ a_hat.astype(np.float64) @ root).tocsr()
    a_plus_i.data = np.rint(a_plus_i.data)  # exactly 0/1 again
    a = (a_plus_i - sp.identity(a_hat.shape[0], format="csr")).tocsr()
    a.eliminate_zeros()
    return operator(a, kind)
