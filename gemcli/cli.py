"""The `gem` command line: each command parses its options and calls one stage function.

Commands chain through a run directory (--run-dir, $GEM_RUN_DIR, or the one found from the working
directory; see gemcli.rundir.resolve):

    gem preprocess frappe|movielens|libfm   raw data -> negatives -> split -> RUN_DIR/data
    gem build-graph --type a                training positives -> RUN_DIR/graphs/ID
    gem train --base fm --gem               -> RUN_DIR/models/NAME (config resolved by gemcli.config)
    gem evaluate                            the latest finished run on the test split
    gem compare | gem runs                  tables of the runs
    gem sweep dropout|sampling-ratio|graph-type|embedder|--param   studies and grids -> RUN_DIR/sweeps/NAME
    gem report table1|curves                the paper's Table 1, Figures 3-4
    gem recipes | gem embedders             what the recipes and embedders are
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from gemcli import __version__, rundir
from gemcli.console import err, out
from gemcli.errors import GemError
from gemcli.report import plain


class GemGroup(TyperGroup):
    """Turns a GemError anywhere below into one line on stderr and exit status 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except GemError as e:
            # the message is printed as given: file names and values may hold [brackets]
            err.print(Text.assemble(("error: ", "red"), str(e)), highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except OSError as e:  # a full disk, a read-only or missing folder, a file where a folder should be
            where = f"{e.filename}: " if e.filename else ""
            err.print(Text.assemble(("error: ", "red"), f"{where}{e.strerror or e}"), highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else None
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            known = ", ".join(self.list_commands(ctx))
            noun = "dataset" if self.name == "preprocess" else "command"
            ctx.fail(f"unknown {noun} {name!r}; known: {known}")
        return super().resolve_command(ctx, args)


def _plain_metavars() -> None:
    """--help shows TEXT / INTEGER / FLOAT / PATH and the choices as [a|b], nothing for flags, instead of
    typer's <str> / <int> / <bool> (an option's own metavar still wins)."""
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_gem", False):
        return

    def display(self: Any, ctx: Any) -> str | None:
        if self.metavar is not None:
            return str(self.metavar)
        if self.is_flag:
            return None
        text = original(self, ctx)
        if not text or not (text.startswith("<") and ">" in text):
            return text
        inner, rest = text[1:].split(">", 1)
        names = {
            "str": "TEXT",
            "int": "INTEGER",
            "int range": "INTEGER",
            "float": "FLOAT",
            "float range": "FLOAT",
            "path": "PATH",
            "file": "PATH",
            "directory": "DIR",
        }
        return (f"[{inner}]" if "|" in inner else names.get(inner, inner.upper())) + rest

    display._gem = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display  # type: ignore[method-assign]


_plain_metavars()
app = typer.Typer(
    cls=GemGroup,
    rich_markup_mode="markdown",  # help paragraphs are reflowed; `code` shown as code
    help="GEM: factorization machines and their variants with graph-convolved feature embeddings.\n\n"
    "Commands chain through a run directory: `gem preprocess frappe`, `gem build-graph --type a`, "
    "`gem train --base fm --gem`, `gem evaluate`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
preprocess_app = typer.Typer(
    cls=GemGroup,
    rich_markup_mode="markdown",
    name="preprocess",
    help="Raw data -> negative sampling -> split -> encoded splits in RUN_DIR/data. "
    "Datasets: frappe, movielens, libfm.",
    no_args_is_help=True,
)
app.add_typer(preprocess_app, name="preprocess")
report_app = typer.Typer(
    cls=GemGroup,
    rich_markup_mode="markdown",
    name="report",
    no_args_is_help=True,
    help="Tables and figures from finished runs: table1 (the paper's Table 1), curves (Figures 3-4).",
)
app.add_typer(report_app, name="report")


def _version(value: bool) -> None:
    if value:
        out.print(f"gemcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


RUN = "Run"
RunDir = Annotated[
    Path | None,
    typer.Option(
        "--run-dir",
        envvar=rundir.RUN_DIR_ENV,
        help="Run directory shared by the chained commands. Default: $GEM_RUN_DIR, else the one found from the "
        "working directory (itself, ./NAME or ./runs/NAME; the most recently used of several). Every command "
        "says which it used.",
        show_default=False,
        rich_help_panel=RUN,
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        envvar="GEM_THREADS",
        min=1,
        show_default=False,
        rich_help_panel=RUN,
        help="CPU threads for torch. Default: the cores not kept busy by other processes when the command starts, 1 "
        "to 4. "
        "torch's threads slow several-fold when they compete for cores with other processes; use 1 per run when "
        "several share the machine.",
    ),
]
Adopt = Annotated[
    bool,
    typer.Option(
        "--adopt/--no-adopt",
        rich_help_panel=RUN,
        help="Copy a run that already finished elsewhere in the run directory with the same config, seed and data "
        "(by this minor version of gemcli) instead of training it again; the copy names its source "
        "(adopted_from). --no-adopt trains every missing run.",
    ),
]
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace data already in the run directory even when it differs "
        "(the runs and graphs made from the old data are named, and no longer usable).",
    ),
]
Seed = Annotated[int, typer.Option("--seed", min=0, help="Random seed (negative sampling; the split uses seed+1).")]
Negatives = Annotated[int, typer.Option("--negatives", min=0, help="Negatives sampled per positive.")]
Split = Annotated[
    str, typer.Option("--split", help="train:valid:test ratio, e.g. 8:1:1 (the paper) or 7:2:1 (NFM/BARS).")
]
Device = Annotated[
    str, typer.Option("--device", help="auto (cuda when available), cpu, cuda or cuda:N.", rich_help_panel=RUN)
]
Verify = Annotated[
    bool,
    typer.Option(
        "--verify",
        rich_help_panel=RUN,
        help="Hash every file read against its stage's manifest, "
        "also those over 512 MiB (smaller ones always are; sizes always). Also GEM_VERIFY=1.",
    ),
]


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

    def work(target: Path) -> dict:
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

    def work(target: Path) -> dict:
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

    def work(target: Path) -> dict:
        return preprocess_table(resolved, target, options=opts, force=force)

    _preprocess(resolved.dataset, run_dir, work)


def _preset_cmd(module: Any, source: Path | None, given: dict[str, Any], force: bool, run_dir: Path | None) -> None:
    from gemcli.data.tabular import locate_release, preprocess_table, release_info, resolve_spec

    path = locate_release(source, module.CACHED, module.RELEASE, module.PRESET["dataset"])
    spec = resolve_spec(None, {**given, "source": str(path)}, preset=module.PRESET)
    derive = module.derive() if hasattr(module, "derive") else None
    opts = _options(**{k: v for k, v in given.items() if v is not None}, source=path)

    def work(target: Path) -> dict:
        info = release_info(path, module.OFFICIAL_ROWS)
        return preprocess_table(spec, target, options=opts, force=force, derive=derive, source_info=info)

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
    )

    def work(target: Path) -> dict:
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
    t = Table(title=f"graph {info['graph_id']} ({info['seconds']:.2f} s)")
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
    out.print(f"saved {target}/graphs/{info['graph_id']}/adjacency.npz")


# ---------------------------------------------------------------- model and training options
# Options that take part in precedence default to None (not given): resolve_config fills them from the
# model's recipe, else the global default.

MODEL, GEMP, OPT = "Model", "GEM embedder", "Optimisation"
BaseName = Literal["fm", "afm", "wide_deep", "deepfm", "nfm", "inn", "ifm"]
Base = Annotated[
    BaseName,
    typer.Option(
        "--base",
        rich_help_panel=MODEL,
        help="Base model. Its options: --dropout (fm, deepfm, nfm, ifm, afm, inn), "
        "--mlp and --mlp-dropout (wide_deep, deepfm, nfm; --mlp also ifm), --attention-size (afm, inn), --field-size "
        "(inn).",
    ),
]
RecipeOpt = Annotated[
    str | None,
    typer.Option(
        "--recipe",
        rich_help_panel=MODEL,
        show_default=False,
        help="Recipe for the options not given: a built-in name or a TOML file (`gem recipes` lists them). "
        "Default: the model's own (FM, plain NFM: fm; GEM+FM: gem-fm; the others: fine-tune).",
    ),
]
EmbeddingSize = Annotated[
    int | None,
    typer.Option(
        "--embedding-size",
        min=1,
        show_default=False,
        rich_help_panel=MODEL,
        help="Embedding size d. Default 256 (the paper's).",
    ),
]
InitStd = Annotated[
    float | None,
    typer.Option(
        "--init-std",
        show_default=False,
        rich_help_panel=MODEL,
        help="Std of the normal init of embedding tables. Default 0.01.",
    ),
]
Dropout = Annotated[
    float | None,
    typer.Option(
        "--dropout",
        show_default=False,
        rich_help_panel=MODEL,
        help="The base's dropout (FM, DeepFM, NFM, IFM: on the interaction vector; "
        "AFM, INN: on the pooled vector). Default: the recipe's (GEM+FM 0.083), else the base's (0.5; AFM, INN 0.2).",
    ),
]
Mlp = Annotated[
    str | None,
    typer.Option(
        "--mlp",
        show_default=False,
        rich_help_panel=MODEL,
        help="Hidden sizes, e.g. 200-200-200. "
        "Default: wide_deep 1024-512-256, deepfm 200-200-200, nfm 64, ifm 256-256.",
    ),
]
MlpDropout = Annotated[
    float | None,
    typer.Option(
        "--mlp-dropout",
        show_default=False,
        rich_help_panel=MODEL,
        help="Dropout after each hidden layer (wide_deep, deepfm, nfm). Default 0.2.",
    ),
]
AttentionSize = Annotated[
    int | None,
    typer.Option(
        "--attention-size", show_default=False, rich_help_panel=MODEL, help="Attention size (afm, inn). Default 256."
    ),
]
FieldSize = Annotated[
    int | None,
    typer.Option(
        "--field-size", show_default=False, rich_help_panel=MODEL, help="Field embedding size (inn). Default 24."
    ),
]
Pretrain = Annotated[
    str | None,
    typer.Option(
        "--pretrain",
        show_default=False,
        rich_help_panel=MODEL,
        help="Start from a finished FM run (name or path) on the same data "
        "and embedding size: its embeddings and linear weights (the paper pre-trains the plain non-FM bases this way).",
    ),
]
Gem = Annotated[
    bool,
    typer.Option(
        "--gem/--no-gem",
        rich_help_panel=GEMP,
        help="GEM: take embeddings from a GCN over the feature graph "
        "(the run directory's latest, or --graph) instead of a plain lookup.",
    ),
]
EmbedderName = Annotated[
    str | None,
    typer.Option(
        "--embedder",
        rich_help_panel=GEMP,
        show_default=False,
        help="Embedding function: lookup (FM's table), gcn (GEM; --gem is its short form), sage (GraphSAGE), gat "
        "(graph attention, GATv2), lightgcn (multi-hop, no transforms), transformer (a feature and its neighbours "
        "through a Transformer), or any registered embedder (`gem embedders` lists them and their options). "
        "Default: lookup.",
    ),
]
EmbedderOption = Annotated[
    list[str] | None,
    typer.Option(
        "--embedder-option",
        metavar="KEY=VALUE",
        rich_help_panel=GEMP,
        show_default=False,
        help="KEY=VALUE for the embedder's own options; repeat for several (gcn's are the --gcn-* options).",
    ),
]
GraphId = Annotated[
    str | None,
    typer.Option(
        "--graph",
        show_default=False,
        rich_help_panel=GEMP,
        help="Graph id under RUN_DIR/graphs. Default: the latest built.",
    ),
]
GcnLayers = Annotated[
    int | None,
    typer.Option(
        "--gcn-layers",
        min=1,
        show_default=False,
        rich_help_panel=GEMP,
        help="GCN layers; one adds no parameters. Default 1.",
    ),
]
GcnActivation = Annotated[
    Literal["none", "relu", "tanh"] | None,
    typer.Option(
        "--gcn-activation", show_default=False, rich_help_panel=GEMP, help="GCN activation sigma. Default none."
    ),
]
GcnDropout = Annotated[
    float | None,
    typer.Option(
        "--gcn-dropout",
        min=0.0,
        max=0.99,
        show_default=False,
        rich_help_panel=GEMP,
        help="GCN dropout (where: --gcn-dropout-on). Default: the recipe's (GEM+FM 0.017), else 0.",
    ),
]
GcnDropoutOn = Annotated[
    Literal["output", "edges", "weights"] | None,
    typer.Option(
        "--gcn-dropout-on",
        show_default=False,
        rich_help_panel=GEMP,
        help="Where --gcn-dropout acts (the paper says only 'dropout in the GCN layer'): output (the propagated "
        "embeddings, GEM's rows; the default), edges (Â's entries, message dropout, rescaled), weights (W's rows, "
        "node dropout as in Kipf & Welling's featureless input, rescaled).",
    ),
]
GcnFanout = Annotated[
    int | None,
    typer.Option(
        "--gcn-fanout",
        min=0,
        show_default=False,
        rich_help_panel=GEMP,
        help="Training reads at most K neighbours per row of Â, drawn in proportion to Â(u, j) with replacement and "
        "weighted so the propagated row is unbiased (evaluation stays exact). Default 0: all neighbours, exact. "
        "Makes hub-heavy graphs (MovieLens tags) cheaper to train, at a cost in accuracy (results/movielens).",
    ),
]
Optimizer = Annotated[
    Literal["adagrad", "adam", "sgd"] | None,
    typer.Option("--optimizer", show_default=False, rich_help_panel=OPT, help="Optimiser. Default: the recipe's."),
]
Lr = Annotated[
    float | None,
    typer.Option(
        "--lr",
        show_default=False,
        rich_help_panel=OPT,
        help="Learning rate. Default: the recipe's (fm 0.05, gem-fm 0.00366, fine-tune 0.001).",
    ),
]
L2 = Annotated[
    float | None,
    typer.Option(
        "--l2",
        show_default=False,
        rich_help_panel=OPT,
        help="L2 coefficient lambda on all trainable parameters (loss + lambda ||Theta||^2); "
        "on row-sparse tables applied lazily to the rows a batch touches. "
        "Default: the recipe's (GEM+FM 1.7e-9), else 0.",
    ),
]
LrSchedule = Annotated[
    Literal["none", "cosine", "plateau"] | None,
    typer.Option(
        "--lr-schedule",
        show_default=False,
        rich_help_panel=OPT,
        help="The step size by epoch: none; cosine (lr (1 + cos(pi (e-1)/E))/2 over --epochs E); plateau (halved "
        "after more than 2 epochs without a better validation score, as ReduceLROnPlateau). Default none.",
    ),
]
WeightDecay = Annotated[
    float | None,
    typer.Option(
        "--weight-decay",
        show_default=False,
        rich_help_panel=OPT,
        help="Decoupled weight decay (AdamW, Loshchilov & Hutter): each step theta -= lr * wd * theta, then Adam's "
        "update; on row-sparse tables the rows a batch touches. Unlike --l2, Adam does not scale it up for rows "
        "a batch rarely reaches. With --optimizer adam only. Default 0.",
    ),
]
MaxGradNorm = Annotated[
    float | None,
    typer.Option(
        "--max-grad-norm",
        show_default=False,
        rich_help_panel=OPT,
        help="Scale each step's gradients down to this total L2 norm when they exceed it (torch's "
        "clip_grad_norm_, FuxiCTR's max_gradient_norm; the touched rows of row-sparse tables count and are scaled "
        "too). Guards against a step that throws training off. Default 0: no clipping, as the paper.",
    ),
]
LossReduction = Annotated[
    Literal["sum", "mean"] | None,
    typer.Option(
        "--loss-reduction",
        show_default=False,
        rich_help_panel=OPT,
        help="sum: squared error summed over the batch (TensorFlow's l2_loss, as in the NFM/AFM code); mean: "
        "averaged. Default: the recipe's.",
    ),
]
TaskOpt = Annotated[
    Literal["auto", "regression", "binary"] | None,
    typer.Option(
        "--task",
        show_default=False,
        rich_help_panel=OPT,
        help="regression: square loss, RMSE/MAE (the paper's ±1 labels); binary: cross-entropy on logits, "
        "predictions as probabilities, AUC/logloss (0/1 labels, click-through rate). Default auto: binary for data "
        "whose labels are 0/1, else regression.",
    ),
]
Monitor = Annotated[
    Literal["auto", "rmse", "mae", "rmse_unclipped", "mae_unclipped", "auc", "logloss"] | None,
    typer.Option(
        "--monitor",
        show_default=False,
        rich_help_panel=OPT,
        help="Validation metric early stopping watches (and by which the best epoch is kept). "
        "Default auto: the task's (rmse; auc).",
    ),
]
BatchSize = Annotated[
    int | None,
    typer.Option(
        "--batch-size", min=1, show_default=False, rich_help_panel=OPT, help="Batch size. Default 4096 (the paper's)."
    ),
]
Epochs = Annotated[
    int | None,
    typer.Option(
        "--epochs",
        min=1,
        show_default=False,
        rich_help_panel=OPT,
        help="Most epochs. Default: the recipe's (fm 300, gem-fm 150, fine-tune 100).",
    ),
]
Patience = Annotated[
    int | None,
    typer.Option(
        "--patience",
        min=1,
        show_default=False,
        rich_help_panel=OPT,
        help="Stop after this many epochs without a better validation RMSE. Default: the recipe's (5; gem-fm 8).",
    ),
]
RunsIn = Annotated[
    Path | None,
    typer.Option(
        "--runs-in",
        show_default=False,
        help="Read the runs in this folder instead of RUN_DIR/models: a sweep's points (RUN_DIR/sweeps/NAME/points) "
        "or a search's trials (RUN_DIR/tune/NAME/trials).",
    ),
]
ExecutorOpt = Annotated[
    Literal["local", "ray"],
    typer.Option(
        "--executor",
        help="Where runs execute: local (this machine; --jobs processes) or ray (the tasks of a Ray cluster, "
        "pip install 'gemcli[ray]'; the run directory must be on storage every node sees at the same path).",
        rich_help_panel="Execution",
    ),
]
RayAddress = Annotated[
    str,
    typer.Option(
        "--ray-address",
        help="With --executor ray: the cluster to join, HOST:PORT of its head, 'auto' (the cluster this machine "
        "belongs to, or $RAY_ADDRESS) or 'local' (start a one-machine cluster for this command).",
        rich_help_panel="Execution",
    ),
]
CpusPerRun = Annotated[
    float,
    typer.Option(
        "--cpus-per-run",
        min=0.01,
        help="With --executor ray: CPUs each run reserves (its torch threads).",
        rich_help_panel="Execution",
    ),
]
GpusPerRun = Annotated[
    float,
    typer.Option(
        "--gpus-per-run",
        min=0.0,
        help="With --executor ray: GPUs each run reserves (0: none; 0.5: two runs a GPU).",
        rich_help_panel="Execution",
    ),
]


def _executor(kind: str, jobs: int, threads: int | None, address: str, cpus: float, gpus: float) -> Any:
    """The executor spec of --executor/--jobs/--threads/--ray-address/--cpus-per-run/--gpus-per-run."""
    from gemcli.executors import ExecutorSpec

    if kind == "local" and (address != "auto" or cpus != 1.0 or gpus != 0.0):
        raise GemError("--ray-address, --cpus-per-run and --gpus-per-run need --executor ray")
    return ExecutorSpec(
        kind="ray" if kind == "ray" else "local",
        jobs=jobs,
        threads=threads,
        ray_address=address,
        cpus_per_run=cpus,
        gpus_per_run=gpus,
    )


Sparse = Annotated[
    bool | None,
    typer.Option(
        "--sparse/--dense",
        show_default=False,
        rich_help_panel=OPT,
        help="Row-sparse lookup tables (and linear weights): each step updates only the rows a batch touches. "
        "Default: sparse when the table holds over 5M values (MovieLens), else dense. GEM's W always trains densely.",
    ),
]


def _mlp(mlp: str | None) -> list[int] | None:
    if mlp is None:
        return None
    try:
        sizes = [int(v) for v in mlp.split("-") if v]
    except ValueError:
        raise GemError(f"--mlp {mlp!r}: expected sizes like 200-200-200") from None
    if not sizes or min(sizes) < 1:
        raise GemError(f"--mlp {mlp!r}: expected sizes like 200-200-200")
    return sizes


def _embedder(gem: bool, embedder: str | None, options: list[str] | None) -> tuple[str, dict[str, Any]]:
    """(embedder name, its options) from --gem, --embedder and --embedder-option KEY=VALUE."""
    from gemcli.nn.embedders import embedder_class

    if gem and embedder not in (None, "gcn"):
        raise GemError(f"--gem is --embedder gcn; it cannot go with --embedder {embedder}")
    name = embedder_class("gcn" if gem else embedder or "lookup").registry_name  # type: ignore[attr-defined]
    parsed: dict[str, Any] = {}
    for spec in options or []:
        key, sep, text = spec.partition("=")
        if not sep or not key.strip():
            raise GemError(f"--embedder-option {spec!r}: expected KEY=VALUE")
        value: Any = text
        for kind in (int, float):
            try:
                value = kind(text)
                break
            except ValueError:
                continue
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        parsed[key.strip().replace("-", "_")] = value
    return name, parsed


def _given(**kw: Any) -> dict[str, Any]:
    """The options given on the command line (None: not given)."""
    return {k: v for k, v in kw.items() if v is not None}


# The train options a command may take, by parameter name, in the order gem train lists them.
GIVEN_OPTIONS = (
    "embedding_size",
    "init_std",
    "dropout",
    "mlp",
    "mlp_dropout",
    "attention_size",
    "field_size",
    "pretrain",
    "graph",
    "gcn_layers",
    "gcn_activation",
    "gcn_dropout",
    "gcn_dropout_on",
    "gcn_fanout",
    "optimizer",
    "lr",
    "l2",
    "weight_decay",
    "lr_schedule",
    "max_grad_norm",
    "loss_reduction",
    "task",
    "monitor",
    "batch_size",
    "epochs",
    "patience",
    "sparse",
    "seed",
    "device",
)


def _exit_interrupted(said: str, resumes: str) -> NoReturn:
    """A long command stopped by Ctrl-C or SIGTERM: one line (what is kept, that the same command continues and how),
    then exit 130."""
    err.print(
        f"{said}; run the same command again to continue ({resumes})", highlight=False, markup=False, soft_wrap=True
    )
    raise typer.Exit(130)


def _given_from(params: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The train options a command was given, from its parameters (`locals()`): those of GIVEN_OPTIONS it takes,
    but `skip` (a sweep's and a search's --seed is their first seed, not a run's); --mlp as sizes, --device auto
    as not given."""
    kw = {k: params[k] for k in GIVEN_OPTIONS if k in params and k not in skip}
    if "mlp" in kw:
        kw["mlp"] = _mlp(kw["mlp"])
    if kw.get("device") == "auto":
        kw["device"] = None
    return _given(**kw)


@app.command("train")
def train_cmd(
    base: Base = "fm",
    gem: Gem = False,
    embedder: EmbedderName = None,
    embedder_option: EmbedderOption = None,
    recipe: RecipeOpt = None,
    embedding_size: EmbeddingSize = None,
    init_std: InitStd = None,
    dropout: Dropout = None,
    mlp: Mlp = None,
    mlp_dropout: MlpDropout = None,
    attention_size: AttentionSize = None,
    field_size: FieldSize = None,
    pretrain: Pretrain = None,
    graph: GraphId = None,
    gcn_layers: GcnLayers = None,
    gcn_activation: GcnActivation = None,
    gcn_dropout: GcnDropout = None,
    gcn_dropout_on: GcnDropoutOn = None,
    gcn_fanout: GcnFanout = None,
    optimizer: Optimizer = None,
    lr: Lr = None,
    l2: L2 = None,
    weight_decay: WeightDecay = None,
    max_grad_norm: MaxGradNorm = None,
    lr_schedule: LrSchedule = None,
    loss_reduction: LossReduction = None,
    task: TaskOpt = None,
    monitor: Monitor = None,
    batch_size: BatchSize = None,
    epochs: Epochs = None,
    patience: Patience = None,
    sparse: Sparse = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            rich_help_panel=RUN,
            show_default=False,
            help="Seed of initialisation, batch order and dropout. Default 0.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            rich_help_panel=RUN,
            show_default=False,
            help="Name of the run folder under RUN_DIR/models. Default: TIME-BASE-sSEED (TIME-gem-BASE-sSEED with "
            "GEM), "
            "which commands also accept without the time (`fm-s0`).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            rich_help_panel=RUN,
            help="Continue an interrupted run (--run, else the latest unfinished) from its last checkpoint.",
        ),
    ] = False,
    run: Annotated[
        str | None,
        typer.Option("--run", rich_help_panel=RUN, show_default=False, help="With --resume: the run to continue."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            rich_help_panel=RUN,
            help="Resolve the config, build the model, print its trainable parameter count; train nothing.",
        ),
    ] = False,
    device: Device = "auto",
    threads: Threads = None,
    verify: Verify = False,
    run_dir: RunDir = None,
) -> None:
    """Train one base model, plain or with GEM, with early stopping on a validation metric (RMSE for regression,
    AUC for 0/1 labels; --task, --monitor).

    Options not given come from the model's recipe (`gem recipes`), else the defaults; the resolved config is
    printed first and saved with the run (config.json). Each epoch's metrics go to
    RUN_DIR/models/NAME/metrics.jsonl; the best epoch's weights are saved (model.pt) and evaluated. Ctrl-C leaves a
    run that --resume continues.

    Plain `gem train --base deepfm` (or any non-FM base) trains from scratch with the fine-tune recipe: on Frappe
    DeepFM ends at 0.3289 test RMSE (seed 0), against 0.3073 for Table 1's DeepFM. Table 1's models start from an FM
    run: `gem train --base deepfm --pretrain fm-s0`, or `gem report table1 --run-missing`."""
    from gemcli.build import build_model, count_parameters
    from gemcli.config import resolve_config
    from gemcli.runs import ended_summary, list_runs, resolve_run
    from gemcli.runtime import set_threads
    from gemcli.train import fit
    from gemcli.train import resume as resume_run

    target = rundir.resolve(run_dir)
    rundir.FULL_VERIFY["on"] |= verify
    n_threads = set_threads(threads, announce=not dry_run)
    if resume:
        if run:
            folder = resolve_run(target, run, finished=False)
        else:
            pending = [r for r in list_runs(target) if ended_summary(r) is None]
            if not pending:
                raise GemError(f"{target}: no interrupted run to resume")
            folder = pending[-1]
        _check_ended(resume_run(target, folder, threads=n_threads))
        return
    given = _given_from(locals())
    emb_name, emb_options = _embedder(gem, embedder, embedder_option)
    if emb_name != "gcn":
        from gemcli.nn.embedders import needs_graph

        stray = [k for k in given if k.startswith("gcn_") or (k == "graph" and not needs_graph(emb_name))]
        if stray:
            raise GemError(f"--{stray[0].replace('_', '-')} needs --gem (it is an option of the GCN embedder)")
    resolved = resolve_config(base, emb_name, given, recipe, name=name or "", embedder_options=emb_options)
    out.print(f"config of {resolved.config.model.label} (option > recipe > default):", highlight=False, markup=False)
    out.print(resolved.describe(), highlight=False, markup=False)
    cfg = resolved.config
    if dry_run:
        meta = rundir.read_meta(target)
        model = build_model(target, cfg.model, meta)
        out.print(
            f"{cfg.model.label}: {count_parameters(model):,} trainable parameters "
            f"({meta.n_features:,} features, d={cfg.model.embedding_size})",
            highlight=False,
            markup=False,  # GEM[gat]+FM is a name, not rich markup
        )
        return
    _check_ended(fit(target, cfg, threads=n_threads))


def _check_ended(summary: dict[str, Any]) -> None:
    """A diverged run is an error (exit 2); an interrupted one exits 130, as interrupted commands do."""
    if summary.get("status") == "interrupted":
        raise typer.Exit(130)
    if summary.get("status") == "diverged":
        raise GemError(
            f"run {summary['name']} diverged (non-finite loss after epoch {summary['epochs_run']}); "
            "try a smaller --lr, --loss-reduction mean or another --optimizer"
        )


@app.command("recipes")
def recipes_cmd() -> None:
    """The built-in training recipes: what each sets, which models take it by default, and the result it was chosen
    on."""
    from gemcli.recipes import builtin_recipes

    t = Table(title="recipes (gemcli/recipes/*.toml; `gem train --recipe NAME|FILE`)", show_lines=True)
    for col in ("recipe", "default for", "options", "chosen on"):
        t.add_column(col, overflow="fold")
    for r in builtin_recipes().values():
        t.add_row(
            *plain(
                r.name,
                "\n".join(r.defaults_for),
                "\n".join(
                    [f"{k} = {v}" for k, v in r.options.items()]
                    + [f"{e}.{k} = {v}" for e, opts in r.embedder_options.items() for k, v in opts.items()]
                ),
                r.chosen_on,
            )
        )
    out.print(t)


@app.command("embedders")
def embedders_cmd() -> None:
    """The registered embedding functions: whether each needs the feature graph, and its own options
    (--embedder-option)."""
    from gemcli.nn.embedders import EMBEDDERS, embedder_names

    t = Table(title="embedders (gem train --embedder NAME --embedder-option KEY=VALUE)")
    for col in ("embedder", "graph", "options", "what"):
        t.add_column(col, overflow="fold")
    for name in embedder_names():
        cls = EMBEDDERS[name]
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        t.add_row(
            *plain(
                name,
                "yes" if cls.needs_graph else "no",
                "\n".join(f"{k}: {v}" for k, v in cls.options.items()) or "-",
                doc,
            )
        )
    out.print(t)


@app.command("evaluate")
def evaluate_cmd(
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            show_default=False,
            help="Run name (or its short name without the time, or a path). Default: the latest finished.",
        ),
    ] = None,
    split: Annotated[Literal["test", "valid"], typer.Option("--split", help="Split to evaluate.")] = "test",
    libfm: Annotated[
        Path | None,
        typer.Option("--libfm", help="Evaluate on a libfm file instead, mapped through the run's vocabulary."),
    ] = None,
    device: Device = "auto",
    threads: Threads = None,
    verify: Verify = False,
    run_dir: RunDir = None,
) -> None:
    """Evaluate a trained run's best weights by its task's metrics: regression RMSE and MAE (predictions clipped to
    the label range, and unclipped; plus logloss and AUC for 0/1 labels), binary AUC and logloss.

    Prints a table and writes eval.json in the run."""
    from gemcli.evaluate import evaluate_run
    from gemcli.runtime import set_threads

    target = rundir.resolve(run_dir)
    rundir.FULL_VERIFY["on"] |= verify
    set_threads(threads)
    res = evaluate_run(target, run=run, split=split, libfm=libfm, device=device)
    t = Table(
        title=escape(f"{res['model']} {res['run']} ({res['task']}) on {res['on']} ({res['instances']:,} instances)")
    )
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in res["metrics"].items():
        t.add_row(k, f"{v:.4f}")
    out.print(t)


@app.command("tune")
def tune_cmd(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The study: its folder RUN_DIR/tune/NAME and its name.")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            show_default=False,
            help="An option to search, repeat for more: NAME=log:LO:HI (log-uniform), NAME=LO:HI (uniform), "
            "NAME=int:LO:HI, NAME=choice:A,B,C. Any option of gem train, e.g. lr=log:1e-4:1e-1, gcn_dropout=0:0.5, "
            "mlp=choice:64,128,256.",
        ),
    ] = None,
    trials: Annotated[
        int,
        typer.Option(
            "--trials",
            min=1,
            help="Trials the study should have (complete or pruned); a study run again goes on "
            "to this many, and several processes on one study stop together at this many.",
        ),
    ] = 20,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            show_default=False,
            help="What the search optimises, on the validation split: valid_rmse, "
            "valid_auc, valid_logloss, ... (early stopping watches it too). Default: the task's (valid_rmse; "
            "valid_auc for binary labels).",
        ),
    ] = None,
    sampler: Annotated[
        Literal["tpe", "random"],
        typer.Option("--sampler", help="Optuna's sampler: tpe (Bayesian, after 5 random trials) or random."),
    ] = "tpe",
    pruner: Annotated[
        Literal["median", "hyperband", "none"],
        typer.Option(
            "--pruner",
            help="Stop poor trials early from their per-epoch validation metric (first seed): median "
            "(worse than the median of earlier trials at the same epoch, after 5 trials), hyperband, or none.",
        ),
    ] = "median",
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Epochs a trial runs before it can be pruned.")] = 5,
    sampler_seed: Annotated[
        int | None,
        typer.Option("--sampler-seed", show_default=False, help="Seed of the sampler (one process: the same trials)."),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            show_default=False,
            help="The study's database, e.g. sqlite:///tune.db or "
            "postgresql://user@host/db. Default: Optuna's journal file RUN_DIR/tune/NAME/study.journal.",
        ),
    ] = None,
    seeds: Annotated[
        int, typer.Option("--seeds", min=1, help="Seeds per trial (seed, seed+1, ...); the objective is their mean.")
    ] = 1,
    seed: Annotated[int, typer.Option("--seed", min=0, help="First seed.")] = 0,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            min=1,
            help="Workers side by side, each asking the study for trials (local processes; with "
            "--executor ray, Ray tasks; default there: as many as the cluster's CPUs take).",
            rich_help_panel="Execution",
        ),
    ] = 1,
    executor: ExecutorOpt = "local",
    ray_address: RayAddress = "auto",
    cpus_per_run: CpusPerRun = 1.0,
    gpus_per_run: GpusPerRun = 0.0,
    base: Base = "fm",
    gem_flag: Gem = False,
    embedder: EmbedderName = None,
    embedder_option: EmbedderOption = None,
    recipe: RecipeOpt = None,
    embedding_size: EmbeddingSize = None,
    init_std: InitStd = None,
    dropout: Dropout = None,
    mlp: Mlp = None,
    mlp_dropout: MlpDropout = None,
    attention_size: AttentionSize = None,
    field_size: FieldSize = None,
    gcn_layers: GcnLayers = None,
    gcn_activation: GcnActivation = None,
    gcn_dropout: GcnDropout = None,
    gcn_dropout_on: GcnDropoutOn = None,
    gcn_fanout: GcnFanout = None,
    optimizer: Optimizer = None,
    lr: Lr = None,
    l2: L2 = None,
    weight_decay: WeightDecay = None,
    max_grad_norm: MaxGradNorm = None,
    lr_schedule: LrSchedule = None,
    loss_reduction: LossReduction = None,
    task: TaskOpt = None,
    batch_size: BatchSize = None,
    epochs: Epochs = None,
    patience: Patience = None,
    device: Device = "auto",
    threads: Threads = None,
    run_dir: RunDir = None,
) -> None:
    """Search gem train's options with Optuna: each trial a normal run folder in RUN_DIR/tune/NAME/trials/
    (gem evaluate --run PATH, gem runs/compare --runs-in and gem report curves work on them), then results.csv/md
    of every trial, best-recipe.toml (gem train --recipe FILE) and Optuna's history and importance figures.

    Each trial takes the model's recipe as gem train does; the options given stay fixed, the --param ones are
    searched. Run again, a study continues (to --trials in all); a trial that was interrupted or whose worker died
    resumes from its last epoch. Several gem tune processes on one study share its trials."""
    from gemcli.report import markdown_table
    from gemcli.tune import run_tune

    target = rundir.resolve(run_dir)
    given = _given_from(locals(), skip=("seed",))
    try:
        emb_name, emb_options = _embedder(gem_flag, embedder, embedder_option)
        root, _ = run_tune(
            target,
            name,
            param or [],
            given=given,
            base=base,
            embedder=emb_name,
            embedder_options=emb_options,
            recipe=recipe,
            trials=trials,
            metric=metric,
            sampler=sampler,
            pruner=pruner,
            warmup=warmup,
            sampler_seed=sampler_seed,
            storage=storage,
            seeds=seeds,
            first_seed=seed,
            executor=_executor(executor, jobs, threads, ray_address, cpus_per_run, gpus_per_run),
        )
    except KeyboardInterrupt:
        _exit_interrupted(
            f"tune {name} interrupted; its finished trials are in the study",
            "the interrupted trial resumes from its last epoch",
        )
    out.print(markdown_table((root / "results.md").read_text(), f"tune {name} ({root}/results.md)"))
    best = [line for line in (root / "results.md").read_text().splitlines() if line.startswith("Best:")]
    for line in best:
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    out.print(
        f"saved {root}/results.csv, results.md, best-recipe.toml and the figures", highlight=False, soft_wrap=True
    )


@app.command("sweep")
def sweep_cmd(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="STUDY",
            help="dropout (GCN dropout 0.0-0.9, Figure 7), sampling-ratio (0-1, Figure 6), "
            "graph-type (FM, GEM type b, type a, type a + a bad field, Figure 5), embedder (every embedding "
            "function, or --values, on FM, DeepFM and NFM); omit it to sweep a --param grid.",
            show_default=False,
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="NAME=V1,V2",
            show_default=False,
            help="NAME=V1,V2,... over any train or build-graph option "
            "(e.g. lr=0.01,0.05 or sample_ratio=0,0.5,1); repeat for a grid.",
        ),
    ] = None,
    values: Annotated[
        str | None,
        typer.Option(
            "--values", show_default=False, help="Comma-separated values for a named sweep (overrides its defaults)."
        ),
    ] = None,
    sweep_name: Annotated[
        str | None,
        typer.Option(
            "--name", show_default=False, help="Folder under RUN_DIR/sweeps. Default: the study's name (or grid-KEYS)."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Retrain points whose saved config differs from the one asked for (default: stop and name the "
            "options).",
        ),
    ] = False,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Seeds per point (seed, seed+1, ...).")] = 1,
    seed: Annotated[int, typer.Option("--seed", min=0, help="First seed.")] = 0,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            min=1,
            help="Points trained in parallel processes (each gets cores/jobs threads unless --threads); with "
            "--executor ray, the most points running at once (default: as many as the cluster takes).",
            rich_help_panel="Execution",
        ),
    ] = 1,
    executor: ExecutorOpt = "local",
    ray_address: RayAddress = "auto",
    cpus_per_run: CpusPerRun = 1.0,
    gpus_per_run: GpusPerRun = 0.0,
    base: Base = "fm",
    embedder: EmbedderName = None,
    embedder_option: EmbedderOption = None,
    recipe: RecipeOpt = None,
    embedding_size: EmbeddingSize = None,
    init_std: InitStd = None,
    dropout: Dropout = None,
    mlp: Mlp = None,
    mlp_dropout: MlpDropout = None,
    attention_size: AttentionSize = None,
    field_size: FieldSize = None,
    gcn_layers: GcnLayers = None,
    gcn_activation: GcnActivation = None,
    gcn_dropout: GcnDropout = None,
    gcn_dropout_on: GcnDropoutOn = None,
    gcn_fanout: GcnFanout = None,
    optimizer: Optimizer = None,
    lr: Lr = None,
    l2: L2 = None,
    weight_decay: WeightDecay = None,
    max_grad_norm: MaxGradNorm = None,
    lr_schedule: LrSchedule = None,
    loss_reduction: LossReduction = None,
    task: TaskOpt = None,
    monitor: Monitor = None,
    batch_size: BatchSize = None,
    epochs: Epochs = None,
    patience: Patience = None,
    device: Device = "auto",
    threads: Threads = None,
    adopt: Adopt = True,
    run_dir: RunDir = None,
) -> None:
    """Run one of the paper's studies (or a grid) on the run directory's data: each point a normal run in
    RUN_DIR/sweeps/NAME/points/, then results.csv, results.md (mean ± std per point, sorted by value) and a figure
    with error bars.

    Every point takes its model's recipe as `gem train` does (GEM points: gem-fm), and the options given win.
    Started again with the same options, a sweep skips finished points, resumes interrupted ones and adds new
    --values; a point saved with another config stops it (--force retrains, --name starts a new sweep). Ctrl-C stops
    the whole sweep (exit 130); unfinished points never enter the results."""
    from gemcli.executors import PointInterrupted
    from gemcli.sweep import results_table, run_sweep

    target = rundir.resolve(run_dir)
    given = _given_from(locals(), skip=("seed",))
    try:
        emb_name, emb_options = _embedder(False, embedder, embedder_option)
        root = run_sweep(
            target,
            name,
            param or [],
            values.split(",") if values else None,
            given=given,
            recipe=recipe,
            base=base,
            seeds=seeds,
            first_seed=seed,
            executor=_executor(executor, jobs, threads, ray_address, cpus_per_run, gpus_per_run),
            force=force,
            sweep_name=sweep_name,
            embedder=emb_name,
            embedder_options=emb_options,
            adopt=adopt,
        )
    except (PointInterrupted, KeyboardInterrupt) as e:
        where = f" at {e}" if isinstance(e, PointInterrupted) else ""
        _exit_interrupted(
            f"sweep interrupted{where}; the finished points are in its results",
            "interrupted points resume from their last epoch",
        )
    out.print(results_table(root))
    out.print(f"saved {root}/results.csv, results.md and the figure", highlight=False, soft_wrap=True)


@report_app.command("table1")
def report_table1(
    run_missing: Annotated[
        bool,
        typer.Option(
            "--run-missing",
            help="Train the base x {plain, GEM} x seed runs that are missing, named table1-BASE-sSEED and "
            "table1-gem-BASE-sSEED "
            "(each with its model's recipe; non-FM bases start from the FM run of their seed: plain from FM as the "
            "paper, GEM from GEM+FM).",
        ),
    ] = False,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Seeds wanted per model (with --run-missing).")] = 3,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", show_default=False, help="Most epochs per missing run. Default: the recipe's."),
    ] = None,
    bases: Annotated[
        str | None,
        typer.Option(
            "--bases", show_default=False, help="Comma-separated bases to train with --run-missing. Default: all seven."
        ),
    ] = None,
    gem_start: Annotated[
        Literal["fine-tune", "scratch"],
        typer.Option(
            "--gem-start",
            help="With --run-missing, where the GEM bases other than GEM+FM start: fine-tune (from the GEM+FM run of "
            "their seed, table1-gem-BASE-sSEED) or scratch (as the paper trains them, table1-scratch-gem-BASE-sSEED). "
            "The table shows both rows, labelled, where both kinds of run exist.",
        ),
    ] = "fine-tune",
    out_path: Annotated[Path | None, typer.Option("--out", help="Also write the table to this markdown file.")] = None,
    runs: Annotated[
        str,
        typer.Option(
            "--runs",
            help="Glob over run names to collect: the default is the runs --run-missing makes; "
            "'*' takes every finished run (runs of one model must then share their config).",
        ),
    ] = "table1-*",
    sweep: Annotated[
        str | None,
        typer.Option(
            "--sweep",
            show_default=False,
            help="Read the finished points of this sweep (RUN_DIR/sweeps/NAME, e.g. a --param base=... --param "
            "embedder=lookup,gcn grid) instead of RUN_DIR/models.",
        ),
    ] = None,
    threads: Threads = None,
    adopt: Adopt = True,
    run_dir: RunDir = None,
) -> None:
    """Table 1 from the run directory's finished runs: mean ± std over seeds of the test metrics (MAE and RMSE; AUC
    and logloss for the binary task), #params, the paper's (or BARS's) figures beside them, and the change GEM brings
    to each base."""
    from gemcli.paper import BASES
    from gemcli.report import markdown_table, table1_markdown, table1_selection
    from gemcli.runtime import set_threads
    from gemcli.table1 import train_missing

    target = rundir.resolve(run_dir)
    if run_missing:
        set_threads(threads, announce=True)
        chosen = [b.strip() for b in bases.split(",") if b.strip()] if bases else None
        unknown = [b for b in chosen or [] if b not in BASES]
        if unknown:
            raise GemError(f"--bases: unknown base {unknown[0]!r}; known: {', '.join(BASES)}")
        from gemcli.executors import PointInterrupted

        try:
            train_missing(target, seeds=seeds, epochs=epochs, bases=chosen, gem_start=gem_start, adopt=adopt)
        except PointInterrupted as e:
            _exit_interrupted(f"Table 1's runs interrupted at {e}", "an interrupted run resumes from its last epoch")
    if sweep:
        from gemcli.report import sweep_selection

        summaries, notes = sweep_selection(target, sweep)
    else:
        summaries, notes = table1_selection(target, runs)
    text = table1_markdown(target, runs=summaries)
    out.print(markdown_table(text, f"Table 1 from {target}"))
    for note in notes:
        err.print(note, highlight=False, markup=False, soft_wrap=True)
    if out_path:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        rundir.atomic_write_text(out_path, text)
        out.print(f"saved {out_path}", highlight=False, soft_wrap=True)


@report_app.command("sweep")
def report_sweep(
    name: Annotated[str, typer.Argument(help="The sweep (RUN_DIR/sweeps/NAME).", show_default=False)],
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            metavar="KEY=VALUE",
            help="The reference point of each group: embedder=gcn (each embedder against GCN on the same base), "
            "gcn_dropout=0 (each dropout against none), ... Without it: the sweep's own table (results.md).",
            show_default=False,
        ),
    ] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Also write the table to this markdown file.")] = None,
    run_dir: RunDir = None,
) -> None:
    """A sweep's finished points, and where each unfinished one stands (read from its folder now, so a sweep still
    training can be watched). With --against, each point against a reference point: mean ± std of the test metrics
    over seeds, the change of the first metric's mean against the reference of its group (the points equal in every
    other swept key), and that change over the pooled seed spread (beyond ~2-3 in magnitude, more than seed noise
    explains)."""
    from gemcli.report import known_sweeps, markdown_table, sweep_comparison, sweep_own_table

    target = rundir.resolve(run_dir)
    root = target / "sweeps" / name
    if not (root / "sweep.json").is_file():
        raise GemError(f"no sweep {name!r} in {root.parent} (known: {known_sweeps(target)})")
    if against is None:
        text, notes = sweep_own_table(root)
        out.print(markdown_table(text, f"sweep {name} ({root}/results.md)"))
    else:
        text, notes = sweep_comparison(root, against)
        out.print(markdown_table(text, f"sweep {name} against {against}"))
    for note in notes:
        err.print(note, highlight=False, markup=False, soft_wrap=True)
    if out_path:
        rundir.atomic_write_text(out_path, text)
        out.print(f"saved {out_path}", highlight=False, soft_wrap=True)


@report_app.command("curves")
def report_curves(
    runs: Annotated[
        list[str],
        typer.Argument(
            metavar="RUN...",
            help="Run names (or short names without the time: fm-s0, gem-fm-s0; `gem runs` lists them) or paths.",
        ),
    ],
    out_path: Annotated[Path, typer.Option("--out", help="PNG to write.")] = Path("curves.png"),
    run_dir: RunDir = None,
) -> None:
    """Overlay validation RMSE and MAE per epoch of several runs, each run's best epoch marked (FM vs GEM+FM: the
    paper's Figures 3-4)."""
    from gemcli.report import plot_runs
    from gemcli.runs import resolve_run

    target = rundir.resolve(run_dir)
    folders = [resolve_run(target, r, finished=False) for r in runs]
    plot_runs(folders, out_path)
    out.print(f"saved {out_path} ({', '.join(f.name for f in folders)})", highlight=False, soft_wrap=True)


@app.command("compare")
def compare_cmd(
    runs_in: RunsIn = None,
    run_dir: RunDir = None,
) -> None:
    """The finished runs grouped by their config except the seed: one row per config with its seeds, mean ± std of
    the task's test/valid metrics (RMSE and MAE; AUC and logloss), best epochs and run names; one table per task.

    Runs of one model that differ in any option are separate rows, labelled by the options they differ in; a seed
    run twice counts once (the latest)."""
    from gemcli.report import compare_table

    target = rundir.resolve(run_dir)
    if runs_in is not None and not runs_in.is_dir():
        raise GemError(f"--runs-in {runs_in}: no such folder")
    tables, notes = compare_table(target, runs_in)
    for table in tables:
        out.print(table)
    for note in notes:
        err.print(note, highlight=False, markup=False, soft_wrap=True)


@app.command("runs")
def runs_cmd(
    runs_in: RunsIn = None,
    run_dir: RunDir = None,
) -> None:
    """Every run in the run directory: name, model, seed, status (finished, interrupted, diverged, ...), best epoch,
    test and valid metrics, recipe."""
    from gemcli.report import runs_table

    if runs_in is not None and not runs_in.is_dir():
        raise GemError(f"--runs-in {runs_in}: no such folder")
    out.print(runs_table(rundir.resolve(run_dir), runs_in))


def main() -> None:
    from gemcli.allocator import raise_thresholds
    from gemcli.runtime import stop_on_sigterm

    raise_thresholds()  # large per-step temporaries reuse their pages (gemcli/allocator.py)
    stop_on_sigterm()  # SIGTERM stops a command as Ctrl-C does: saved, resumable
    app()


if __name__ == "__main__":
    main()
