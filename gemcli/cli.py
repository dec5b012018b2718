"""The `gem` command line: each command parses its options and calls one stage function.

Commands chain through a run directory (--run-dir, $GEM_RUN_DIR, or the last one used):

    gem preprocess frappe        raw logs -> negatives -> split -> RUN_DIR/data
    gem build-graph --type a     training positives -> RUN_DIR/graphs/ID
    gem train --base fm --gem    -> RUN_DIR/models/ID
    gem evaluate                 the latest model on the test split
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from gemcli import __version__, rundir
from gemcli.console import err, out
from gemcli.errors import GemError


class GemGroup(TyperGroup):
    """Turns a GemError anywhere below into one line on stderr and exit status 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except GemError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else None
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            known = ", ".join(self.list_commands(ctx))
            noun = "dataset" if self.name == "preprocess" else "command"
            ctx.fail(f"unknown {noun} {name!r}; known: {known}")
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=GemGroup,
    help="GEM: factorization machines and their variants with graph-convolved feature embeddings.\n\n"
    "Commands chain through a run directory: `gem preprocess frappe`, `gem build-graph --type a`, "
    "`gem train --base fm --gem`, `gem evaluate`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
preprocess_app = typer.Typer(
    cls=GemGroup,
    name="preprocess",
    help="Raw data -> negative sampling -> split -> encoded splits in RUN_DIR/data. Datasets: frappe, movielens, libfm.",
    no_args_is_help=True,
)
app.add_typer(preprocess_app, name="preprocess")


def _version(value: bool) -> None:
    if value:
        out.print(f"gemcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    pass


RunDir = Annotated[
    Path | None,
    typer.Option(
        "--run-dir",
        envvar=rundir.RUN_DIR_ENV,
        help="Run directory shared by the chained commands. Default: $GEM_RUN_DIR, else the last one used "
        "(preprocess: runs/DATASET).",
        show_default=False,
    ),
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (negative sampling; the split uses seed+1).")]
Negatives = Annotated[int, typer.Option("--negatives", min=0, help="Negatives sampled per positive.")]
Split = Annotated[str, typer.Option("--split", help="train:valid:test ratio, e.g. 8:1:1 (the paper) or 7:2:1 (NFM/BARS).")]


def _options(**kw: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in kw.items()}


def _print_data_summary(run_dir: Path, meta: dict, seconds: float) -> None:
    t = Table(title=f"{meta['dataset']} -> {run_dir}/data", show_lines=False)
    t.add_column("field")
    t.add_column("features", justify="right")
    t.add_column("global ids", justify="right")
    for f in meta["fields"]:
        c, o = meta["cardinalities"][f], meta["offsets"][f]
        t.add_row(f, f"{c:,}", f"{o}..{o + c - 1}")
    t.add_row("[b]total[/b]", f"[b]{meta['n_features']:,}[/b]", "")
    out.print(t)
    counts = meta["counts"]
    n = sum(counts.values())
    line = "  ".join(f"{s} {counts[s]:,}" for s in ("train", "valid", "test"))
    extra = f" ({meta['positives']:,} positive, {meta['negatives']:,} negative)" if "positives" in meta else ""
    out.print(f"instances {n:,}{extra}; {line}; {seconds:.2f} s")
    warning = meta.get("source", {}).get("warning")
    if warning:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def _preprocess(dataset: str, run_dir: Path | None, fn) -> None:
    target = rundir.resolve(run_dir, default=Path("runs") / dataset)
    t0 = time.perf_counter()
    meta = fn(target)
    rundir.remember(target)
    _print_data_summary(target, meta, time.perf_counter() - t0)


@preprocess_app.command("frappe")
def preprocess_frappe(
    source: Annotated[Path | None, typer.Option("--source", help="The official Mobile_Frappe.zip or an extracted frappe.csv. "
                                                  "Default: datasets/frappe/Mobile_Frappe.zip, downloaded (and sha256-verified) if absent.")] = None,
    negatives: Negatives = 2,
    split: Split = "8:1:1",
    seed: Seed = 2019,
    run_dir: RunDir = None,
) -> None:
    """Frappe app-usage logs with the He & Chua (2017) protocol: 10 fields, every log a positive (+1),
    NEGATIVES per positive (-1) with the same user and context and an item the user never used.
    On the official archive: 288,609 instances, 5,382 features."""
    from gemcli.data import encode, frappe
    from gemcli.data.split import parse_ratio

    ratio = parse_ratio(split)
    opts = _options(dataset="frappe", source=source, negatives=negatives, split=split, seed=seed)

    def work(target: Path) -> dict:
        raw = frappe.read(source)
        return encode.preprocess_raw(raw, target, negatives=negatives, ratio=ratio, seed=seed, options=opts)

    _preprocess("frappe", run_dir, work)


@preprocess_app.command("movielens")
def preprocess_movielens(
    source: Annotated[Path | None, typer.Option("--source", help="A MovieLens tags.csv / tags.dat (ml-10m, '::'-separated) or a release zip. "
                                                  "Default: datasets/movielens/RELEASE.zip, downloaded from GroupLens if absent.")] = None,
    release: Annotated[str, typer.Option("--release", help="Release to download when no --source: ml-latest (nearest to the paper), "
                                            "ml-latest-small, ml-10m, ml-20m, ml-25m, ml-32m.")] = "ml-latest",
    tag_normalise: Annotated[str, typer.Option("--tag-normalise", help="How tags are normalised before counting as one tag: "
                                                  "lower-strip (lowercase, trim, collapse whitespace), strip (trim and collapse, keep case), none.")] = "lower-strip",
    negatives: Negatives = 2,
    split: Split = "8:1:1",
    seed: Seed = 2019,
    run_dir: RunDir = None,
) -> None:
    """MovieLens personalised tag recommendation: 3 fields (user, item = movie, tag); each (user, movie, tag)
    application a positive, NEGATIVES per positive with the same user and movie and a tag this user never
    gave this movie. Duplicate applications after tag normalisation count once."""
    from gemcli.data import encode, movielens
    from gemcli.data.split import parse_ratio

    ratio = parse_ratio(split)
    opts = _options(dataset="movielens", source=source, release=release, tag_normalise=tag_normalise,
                    negatives=negatives, split=split, seed=seed)

    def work(target: Path) -> dict:
        raw = movielens.read(source, release=release, tag_normalise=tag_normalise)
        return encode.preprocess_raw(raw, target, negatives=negatives, ratio=ratio, seed=seed, options=opts)

    _preprocess("movielens", run_dir, work)


@preprocess_app.command("libfm")
def preprocess_libfm(
    train: Annotated[Path, typer.Option("--train", help="Training file, `label idx:value ...` per line.")],
    valid: Annotated[Path, typer.Option("--valid", help="Validation file.")],
    test: Annotated[Path, typer.Option("--test", help="Test file.")],
    fields: Annotated[str | None, typer.Option("--fields", help="Field names by position (user,item,...) or index ranges "
                                                  "(user=0-956,item=957-5038,...). Default: f0, f1, ... by position.")] = None,
    user_field: Annotated[str | None, typer.Option("--user-field", help="Which field holds users (default: the first).")] = None,
    item_field: Annotated[str | None, typer.Option("--item-field", help="Which field holds items (default: the second).")] = None,
    graph_fields: Annotated[str | None, typer.Option("--graph-fields", help="Default fields of the co-occurrence graph (default: user and item fields).")] = None,
    run_dir: RunDir = None,
) -> None:
    """Import pre-split libfm files (NFM/AFM/IFM literature) as they are: their split, their labels
    (-1/1 or 0/1), one shared index space, one feature per field per line."""
    from gemcli.data.libfm import import_libfm

    opts = _options(dataset="libfm", train=train, valid=valid, test=test, fields=fields,
                    user_field=user_field, item_field=item_field, graph_fields=graph_fields)

    def work(target: Path) -> dict:
        return import_libfm(target, train=train, valid=valid, test=test, fields=fields, user_field=user_field,
                            item_field=item_field, graph_fields=graph_fields, options=opts)

    _preprocess("libfm", run_dir, work)


@app.command("build-graph")
def build_graph_cmd(
    type_: Annotated[str, typer.Option("--type", help="a: user-item, user-context and item-context edges (Figure 1a); "
                                          "b: user-item edges only (Figure 1b).")] = "a",
    fields: Annotated[str | None, typer.Option("--fields", help="Comma-separated fields taking part in the graph. "
                                                  "Default from the data's meta.json (Frappe: user,item,country,city; MovieLens: user,item,tag).")] = None,
    sample_ratio: Annotated[float, typer.Option("--sample-ratio", help="Fraction of each node's neighbours kept (seeded); 0 leaves self-loops only.")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the neighbour sampling.")] = 0,
    edge_source: Annotated[str, typer.Option("--edge-source", help="Training instances that make edges: positive (default) or all.")] = "positive",
    run_dir: RunDir = None,
) -> None:
    """Build the feature co-occurrence graph from the training split and save its normalised adjacency
    D^-1/2 (A + I) D^-1/2 in RUN_DIR/graphs/ID. Valid and test instances never reach the graph."""
    from gemcli.graph import GraphConfig, build_graph

    target = rundir.resolve(run_dir)
    field_list = tuple(f.strip() for f in fields.split(",") if f.strip()) if fields else ()
    cfg = GraphConfig(type=type_, fields=field_list, sample_ratio=sample_ratio, seed=seed, edge_source=edge_source)
    info = build_graph(target, cfg, _options(type=type_, fields=fields, sample_ratio=sample_ratio, seed=seed,
                                             edge_source=edge_source))
    rundir.remember(target)
    t = Table(title=f"graph {info['graph_id']} ({info['seconds']:.2f} s)")
    for col in ("field", "nodes", "mean degree", "max degree", "isolated"):
        t.add_column(col, justify="left" if col == "field" else "right")
    for f, d in info["degree_per_field"].items():
        t.add_row(f, f"{d['nodes']:,}", f"{d['mean_degree']:.1f}", f"{d['max_degree']:,}", f"{d['isolated']:,}")
    out.print(t)
    pairs = ", ".join(f"{k} {v:,}" for k, v in info["edges_per_field_pair"].items()) or "none"
    out.print(f"edges {info['edges']:,} (of {info['edges_before_sampling']:,} before sampling): {pairs}; "
              f"isolated nodes {info['isolated_nodes']:,} of {info['nodes']:,}")
    out.print(f"saved {target}/graphs/{info['graph_id']}/adjacency.npz")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
