"""gem preprocess (frappe, movielens, table, criteo, avazu, libfm) and gem build-graph."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.text import Text

from gemcli import rundir
from gemcli.cli.app import Force, Negatives, RunDir, Seed, Split, app, preprocess_app
from gemcli.console import err, out, titled


def _options(**kw: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in kw.items()}


Labels = Annotated[
    Literal["pm1", "01"],
    typer.Option(
        "--labels",
        help="Labels of positives/negatives: pm1 = +1/-1 (the paper's regression, RMSE/MAE); 01 = 1/0 (the binary "
        "task: AUC/logloss, as the BARS/FuxiCTR Frappe_x1 benchmark). `gem train` picks the task from them.",
    ),
]


def _print_data_summary(run_dir: Path, meta: dict[str, Any], seconds: float) -> None:
    t = titled(f"{meta['dataset']} -> {run_dir}/data")
    t.add_column("field")
    t.add_column("features", justify="right")
    t.add_column("global ids", justify="right")
    for f in meta["fields"]:
        c, o = meta["cardinalities"][f], meta["offsets"][f]
        t.add_row(f, f"{c:,}", f"{o}..{o + c - 1}")
    t.add_row(Text("total", style="bold"), Text(f"{meta['n_features']:,}", style="bold"), "")
    out.print(t)
    counts = meta["counts"]
    n = sum(counts.values())
    line = "  ".join(f"{s} {counts[s]:,}" for s in ("train", "valid", "test"))
    extra = f" ({meta['positives']:,} positive, {meta['negatives']:,} negative)" if "positives" in meta else ""
    out.print(f"instances {n:,}{extra}; {line}; {seconds:.2f} s")
    warning = meta.get("source", {}).get("warning")
    if warning:
        err.print(Text.assemble(("warning:", "yellow"), " ", warning), highlight=False)


def _preprocess(dataset: str, run_dir: Path | None, fn: Callable[[Path], dict[str, Any]]) -> None:
    target = rundir.resolve(run_dir, default=Path("runs") / dataset)
    t0 = time.perf_counter()
    meta = fn(target)
    rundir.remember(target)
    _print_data_summary(target, meta, time.perf_counter() - t0)


@preprocess_app.command("frappe")
def preprocess_frappe(
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="The official Mobile_Frappe.zip or an extracted frappe.csv. "
            "Default: datasets/frappe/Mobile_Frappe.zip, downloaded (and sha256-verified) if absent.",
        ),
    ] = None,
    negatives: Negatives = 2,
    split: Split = "8:1:1",
    labels: Labels = "pm1",
    seed: Seed = 2019,
    force: Force = False,
    run_dir: RunDir = None,
) -> None:
    """Frappe app-usage logs with the He & Chua (2017) protocol: 10 fields, every log a positive (+1), NEGATIVES per
    positive (-1) with the same user and context and an item the user never used.

    On the official archive: 288,609 instances, 5,382 features."""
    from gemcli.data import encode, frappe
    from gemcli.data.split import parse_ratio

    ratio = parse_ratio(split)
    opts = _options(dataset="frappe", source=source, negatives=negatives, split=split, labels=labels, seed=seed)

    def work(target: Path) -> dict[str, Any]:
        raw = frappe.read(source)
        return encode.preprocess_raw(
            raw, target, negatives=negatives, ratio=ratio, seed=seed, options=opts, force=force, labels=labels
        )

    _preprocess("frappe", run_dir, work)


@preprocess_app.command("movielens")
def preprocess_movielens(
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="A MovieLens tags.csv / tags.dat (ml-10m, '::'-separated) or a release zip. "
            "Default: datasets/movielens/RELEASE.zip, downloaded from GroupLens if absent.",
        ),
    ] = None,
    release: Annotated[
        Literal["ml-latest", "ml-latest-small", "ml-10m", "ml-20m", "ml-25m", "ml-32m"],
        typer.Option(
            "--release", help="Release to download when no --source (ml-latest is the nearest to the paper's data)."
        ),
    ] = "ml-latest",
    tag_normalise: Annotated[
        Literal["lower-strip", "strip", "none"],
        typer.Option(
            "--tag-normalise",
            help="How tags are normalised before counting as one tag: "
            "lower-strip (lowercase, trim, collapse whitespace), strip (trim and collapse, keep case), none.",
        ),
    ] = "lower-strip",
    negatives: Negatives = 2,
    split: Split = "8:1:1",
    labels: Labels = "pm1",
    seed: Seed = 2019,
    force: Force = False,
    run_dir: RunDir = None,
) -> None:
    """MovieLens personalised tag recommendation: 3 fields (user, item = movie, tag); each (user, movie, tag)
    application a positive, NEGATIVES per positive with the same user and movie and a tag this user never gave this
    movie.

    Duplicate applications after tag normalisation count once."""
    from gemcli.data import encode, movielens
    from gemcli.data.split import parse_ratio

    ratio = parse_ratio(split)
    opts = _options(
        dataset="movielens",
        source=source,
        release=release,
        tag_normalise=tag_normalise,
        negatives=negatives,
        split=split,
        labels=labels,
        seed=seed,
    )

    def work(target: Path) -> dict[str, Any]:
        raw = movielens.read(source, release=release, tag_normalise=tag_normalise)
        return encode.preprocess_raw(
            raw, target, negatives=negatives, ratio=ratio, seed=seed, options=opts, force=force, labels=labels
        )

    _preprocess("movielens", run_dir, work)


@preprocess_app.command("table")
def preprocess_table_cmd(
    source: Annotated[
        Path | None,
        typer.Argument(
            show_default=False,
            help="One CSV, TSV or Parquet file (.gz too), split by --split or --split-by; "
            "or use --train/--valid/--test.",
        ),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", show_default=False, help="The label column: 0/1 (binary) or a number.")
    ] = None,
    fields: Annotated[
        str | None, typer.Option("--fields", show_default=False, help="Categorical feature columns, a,b,c.")
    ] = None,
    numeric: Annotated[
        str | None,
        typer.Option("--numeric", show_default=False, help="Numeric feature columns, bucketed (--buckets), x,y."),
    ] = None,
    buckets: Annotated[
        str | None,
        typer.Option(
            "--buckets",
            show_default=False,
            help="How numeric fields become categories: quantile:N (N buckets at the training split's quantiles) or "
            "log (floor(ln(x)^2) for x > 2, the value itself otherwise: the Criteo winners' rule). "
            "Default quantile:10.",
        ),
    ] = None,
    min_count: Annotated[
        int | None,
        typer.Option(
            "--min-count",
            min=1,
            show_default=False,
            help="Values seen fewer times in training share the field's out-of-vocabulary id. Default 1.",
        ),
    ] = None,
    train: Annotated[Path | None, typer.Option("--train", show_default=False, help="Given training file.")] = None,
    valid: Annotated[Path | None, typer.Option("--valid", show_default=False, help="Given validation file.")] = None,
    test: Annotated[Path | None, typer.Option("--test", show_default=False, help="Given test file.")] = None,
    split: Annotated[
        str | None,
        typer.Option("--split", show_default=False, help="train:valid:test ratio of FILE, seeded. Default 8:1:1."),
    ] = None,
    split_by: Annotated[
        str | None,
        typer.Option(
            "--split-by",
            show_default=False,
            help="Split FILE by time: rows ordered by this column, the latest to test.",
        ),
    ] = None,
    negatives: Annotated[
        int | None,
        typer.Option(
            "--negatives",
            min=0,
            show_default=False,
            help="Implicit feedback (every row a positive, no label): K negatives per positive, same user and context, "
            "an item the user never had (the Frappe/MovieLens protocol; needs --user-field, --item-field).",
        ),
    ] = None,
    user_field: Annotated[str | None, typer.Option("--user-field", show_default=False, help="The user field.")] = None,
    item_field: Annotated[str | None, typer.Option("--item-field", show_default=False, help="The item field.")] = None,
    graph_fields: Annotated[
        str | None,
        typer.Option("--graph-fields", show_default=False, help="Default fields of `gem build-graph`. Default: all."),
    ] = None,
    separator: Annotated[
        str | None,
        typer.Option("--separator", show_default=False, help="Column separator (tab: 'tab'). Default by extension."),
    ] = None,
    no_header: Annotated[
        bool | None,
        typer.Option("--no-header", show_default=False, help="The file has no header line (name them: --columns)."),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option("--columns", show_default=False, help="Column names of a header-less file, in order."),
    ] = None,
    task: Annotated[
        Literal["auto", "binary", "regression"] | None,
        typer.Option(
            "--task", show_default=False, help="binary needs labels 0/1; auto: binary when they are. Default auto."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", show_default=False, help="The dataset's name in tables. Default table.")
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            show_default=False,
            help="A TOML file with these choices, named as the options with _ for - (label = 'click', fields = ['a', "
            "'b'], min_count = 10, header = false, dataset = NAME for --name, source/train/valid/test relative to the "
            "file); options given here win.",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, show_default=False, help="Seed. Default 2019.")] = None,
    force: Force = False,
    run_dir: RunDir = None,
) -> None:
    """Your own table: categorical and numeric columns and a label (0/1 click, or a number), in CSV, TSV or
    Parquet; streamed in bounded memory.

    Vocabularies come from the training split: per field id 0 is out of vocabulary (rarer than --min-count, or
    unseen in training) and id 1 missing. Every choice lands in RUN_DIR/data/meta.json; the vocabulary in
    vocab.parquet."""
    from gemcli.data.tabular import names, preprocess_table, resolve_spec

    given = {
        "source": str(source) if source else None,
        "train": str(train) if train else None,
        "valid": str(valid) if valid else None,
        "test": str(test) if test else None,
        "label": label,
        "fields": names(fields),
        "numeric": names(numeric),
        "buckets": buckets,
        "min_count": min_count,
        "split": split,
        "split_by": split_by,
        "seed": seed,
        "negatives": negatives,
        "user_field": user_field,
        "item_field": item_field,
        "graph_fields": names(graph_fields),
        "separator": separator,
        "header": False if no_header else None,
        "columns": names(columns),
        "task": task,
        "dataset": name,
    }
    resolved = resolve_spec(spec, given)
    opts = _options(**{k: v for k, v in given.items() if v is not None}, spec=spec)

    def work(target: Path) -> dict[str, Any]:
        return preprocess_table(resolved, target, options=opts, force=force)

    _preprocess(resolved.dataset, run_dir, work)


def _preset_cmd(module: Any, source: Path | None, given: dict[str, Any], force: bool, run_dir: Path | None) -> None:
    from gemcli.data.tabular import locate_release, preprocess_table, release_info, resolve_spec

    path = locate_release(source, module.CACHED, module.RELEASE, module.PRESET["dataset"])
    spec = resolve_spec(None, {**given, "source": str(path)}, preset=module.PRESET)
    derive = module.derive() if hasattr(module, "derive") else None
    checks = module.checks() if hasattr(module, "checks") else None
    opts = _options(**{k: v for k, v in given.items() if v is not None}, source=path)

    def work(target: Path) -> dict[str, Any]:
        info = release_info(path, module.OFFICIAL_ROWS)
        return preprocess_table(spec, target, options=opts, force=force, derive=derive, source_info=info, checks=checks)

    _preprocess(spec.dataset, run_dir, work)


PresetSplit = Annotated[
    str | None, typer.Option("--split", show_default=False, help="train:valid:test, seeded. Default 8:1:1.")
]


@preprocess_app.command("criteo")
def preprocess_criteo(
    source: Annotated[
        Path | None,
        typer.Option(
            "--source", show_default=False, help="The release's train.txt. Default: datasets/criteo/train.txt."
        ),
    ] = None,
    split: PresetSplit = None,
    min_count: Annotated[
        int | None, typer.Option("--min-count", min=1, show_default=False, help="Default 10 (BARS Criteo_x4).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, show_default=False, help="Default 2019.")] = None,
    force: Force = False,
    run_dir: RunDir = None,
) -> None:
    """Criteo (Kaggle Display Advertising Challenge train.txt: label, I1-I13, C1-C26, tab-separated): the integers
    bucketed by floor(ln(x)^2) for x > 2, min-count 10, missing values their own id, 8:1:1 seeded split (BARS's
    Criteo_x4 treatment; rows drawn afresh). Binary task: AUC, logloss."""
    from gemcli.data import criteo

    _preset_cmd(criteo, source, {"split": split, "min_count": min_count, "seed": seed}, force, run_dir)


@preprocess_app.command("avazu")
def preprocess_avazu(
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            show_default=False,
            help="The release's train.csv (or train.gz). Default: datasets/avazu/train.csv.",
        ),
    ] = None,
    split: PresetSplit = None,
    min_count: Annotated[
        int | None, typer.Option("--min-count", min=1, show_default=False, help="Default 2 (BARS Avazu_x4).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, show_default=False, help="Default 2019.")] = None,
    force: Force = False,
    run_dir: RunDir = None,
) -> None:
    """Avazu (Kaggle CTR Prediction train.csv): id dropped, hour YYMMDDHH split into hour of day, weekday and
    weekend, 21 categorical fields, min-count 2, 8:1:1 seeded split (BARS's Avazu_x4 treatment; rows drawn afresh).
    Binary task: AUC, logloss."""
    from gemcli.data import avazu

    _preset_cmd(avazu, source, {"split": split, "min_count": min_count, "seed": seed}, force, run_dir)


@preprocess_app.command("libfm")
def preprocess_libfm(
    train: Annotated[Path, typer.Option("--train", help="Training file, `label idx:value ...` per line.")],
    valid: Annotated[Path, typer.Option("--valid", help="Validation file.")],
    test: Annotated[Path, typer.Option("--test", help="Test file.")],
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            help="Field names by position (user,item,...) or index ranges "
            "(user=0-956,item=957-5038,...). Default: f0, f1, ... by position.",
        ),
    ] = None,
    user_field: Annotated[
        str | None, typer.Option("--user-field", help="Which field holds users (default: the first).")
    ] = None,
    item_field: Annotated[
        str | None, typer.Option("--item-field", help="Which field holds items (default: the second).")
    ] = None,
    graph_fields: Annotated[
        str | None,
        typer.Option(
            "--graph-fields", help="Default fields of the co-occurrence graph (default: user and item fields)."
        ),
    ] = None,
    labels: Annotated[
        Literal["as-given", "01"],
        typer.Option(
            "--labels",
            help="as-given: the files' labels (-1/1 for the paper's regression, or 0/1); 01: -1/1 mapped to 0/1 for "
            "the binary task (AUC/logloss), recorded in meta.json.",
        ),
    ] = "as-given",
    force: Force = False,
    run_dir: RunDir = None,
) -> None:
    """Import pre-split libfm files (NFM/AFM/IFM literature) as they are: their split, their labels (-1/1 or 0/1),
    one shared index space, one feature per field per line."""
    from gemcli.data.libfm import import_libfm

    opts = _options(
        dataset="libfm",
        train=train,
        valid=valid,
        test=test,
        fields=fields,
        user_field=user_field,
        item_field=item_field,
        graph_fields=graph_fields,
        labels=labels,
    )

    def work(target: Path) -> dict[str, Any]:
        return import_libfm(
            target,
            train=train,
            valid=valid,
            test=test,
            fields=fields,
            user_field=user_field,
            item_field=item_field,
            graph_fields=graph_fields,
            options=opts,
            force=force,
            labels=labels,
        )

    _preprocess("libfm", run_dir, work)


@app.command("build-graph")
def build_graph_cmd(
    type_: Annotated[
        Literal["a", "b"],
        typer.Option(
            "--type",
            help="a: user-item, user-context and item-context edges (Figure 1a); b: user-item edges only (Figure 1b).",
        ),
    ] = "a",
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            help="Comma-separated fields taking part in the graph. "
            "Default from the data's meta.json (Frappe: user,item,country,city; MovieLens: user,item,tag).",
        ),
    ] = None,
    sample_ratio: Annotated[
        float,
        typer.Option(
            "--sample-ratio", help="Fraction of each node's neighbours kept (seeded); 0 leaves self-loops only."
        ),
    ] = 1.0,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the neighbour sampling.")] = 0,
    edge_source: Annotated[
        Literal["positive", "all"],
        typer.Option(
            "--edge-source",
            help="Training instances that make edges: the positives (label 1 / +1; every row when the data has no "
            "negatives), or all.",
        ),
    ] = "positive",
    pairs: Annotated[
        str | None,
        typer.Option(
            "--pairs",
            show_default=False,
            help="Field pairs that make edges, for any table: all (every pair of --fields) or star:FIELD (FIELD with "
            "each other field). Default: by --type where the data has user and item roles, else all.",
        ),
    ] = None,
    run_dir: RunDir = None,
) -> None:
    """Build the feature co-occurrence graph from the training split and save its normalised adjacency D^-1/2 (A +
    I) D^-1/2 in RUN_DIR/graphs/ID.

    Valid and test instances never reach the graph."""
    from gemcli.graph import GraphConfig, build_graph

    target = rundir.resolve(run_dir)
    field_list = tuple(f.strip() for f in fields.split(",") if f.strip()) if fields else ()
    cfg = GraphConfig(
        type=type_, fields=field_list, sample_ratio=sample_ratio, seed=seed, edge_source=edge_source, pairs=pairs or ""
    )
    info = build_graph(
        target,
        cfg,
        _options(type=type_, fields=fields, sample_ratio=sample_ratio, seed=seed, edge_source=edge_source, pairs=pairs),
    )
    rundir.remember(target)
    t = titled(f"graph {info['graph_id']} ({info['seconds']:.2f} s)")
    for col in ("field", "nodes", "mean degree", "max degree", "isolated"):
        t.add_column(col, justify="left" if col == "field" else "right")
    for f, d in info["degree_per_field"].items():
        t.add_row(f, f"{d['nodes']:,}", f"{d['mean_degree']:.1f}", f"{d['max_degree']:,}", f"{d['isolated']:,}")
    out.print(t)
    pairs = ", ".join(f"{k} {v:,}" for k, v in info["edges_per_field_pair"].items()) or "none"
    out.print(
        f"edges {info['edges']:,} (of {info['edges_before_sampling']:,} before sampling): {pairs}; "
        f"isolated nodes {info['isolated_nodes']:,} of {info['nodes']:,}"
    )
    out.print(f"saved {target}/graphs/{info['graph_id']}/adjacency.npz", highlight=False, soft_wrap=True)
