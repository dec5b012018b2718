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
from rich.text import Text
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
            # the message is printed as given: file names and values may hold [brackets]
            err.print(Text.assemble(("error: ", "red"), str(e)), highlight=False, soft_wrap=True)
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
report_app = typer.Typer(cls=GemGroup, name="report", no_args_is_help=True,
                         help="Tables and figures from finished runs: table1 (the paper's Table 1), curves (Figures 3-4).")
app.add_typer(report_app, name="report")


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
    """Frappe app-usage logs with the He & Chua (2017) protocol: 10 fields, every log a positive (+1), NEGATIVES per positive (-1) with the same user and context and an item the user never used.

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
    """MovieLens personalised tag recommendation: 3 fields (user, item = movie, tag); each (user, movie, tag) application a positive, NEGATIVES per positive with the same user and movie and a tag this user never gave this movie.

    Duplicate applications after tag normalisation count once."""
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
    """Import pre-split libfm files (NFM/AFM/IFM literature) as they are: their split, their labels (-1/1 or 0/1), one shared index space, one feature per field per line."""
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
    """Build the feature co-occurrence graph from the training split and save its normalised adjacency D^-1/2 (A + I) D^-1/2 in RUN_DIR/graphs/ID.

    Valid and test instances never reach the graph."""
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


Base = Annotated[str, typer.Option("--base", help="Base model: fm, afm, wide_deep, deepfm, nfm, inn, ifm. "
                                      "Options per base: --dropout (fm, deepfm, nfm, ifm, afm, inn), --mlp and --mlp-dropout "
                                      "(wide_deep, deepfm, nfm; --mlp also ifm), --attention-size (afm, inn), --field-size (inn).")]


RECIPE_DEFAULT = ("Default: the model's recipe in gemcli/recipes.py (FM and plain NFM: adagrad 0.05, sum; GEM+FM: adam 0.005, "
                  "mean; the others: adam 0.001, mean).")


@app.command("train")
def train_cmd(
    base: Base = "fm",
    gem: Annotated[bool, typer.Option("--gem/--no-gem", help="GEM: take embeddings from a GCN over the feature graph "
                                         "(the run directory's latest, or --graph) instead of a plain lookup.")] = False,
    graph: Annotated[str | None, typer.Option("--graph", help="Graph id under RUN_DIR/graphs (default: the latest built).")] = None,
    embedding_size: Annotated[int, typer.Option("--embedding-size", min=1, help="Embedding size d (paper: 256).")] = 256,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Batch size (paper: 4096).")] = 4096,
    optimizer: Annotated[str | None, typer.Option("--optimizer", help="adagrad, adam or sgd. " + RECIPE_DEFAULT, show_default=False)] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate. " + RECIPE_DEFAULT, show_default=False)] = None,
    l2: Annotated[float, typer.Option("--l2", help="L2 coefficient lambda on all trainable parameters (loss + lambda ||Theta||^2); on row-sparse tables applied lazily to the rows a batch touches.")] = 0.0,
    loss_reduction: Annotated[str | None, typer.Option("--loss-reduction", help="sum: squared error summed over the batch "
                                                   "(TensorFlow's l2_loss, as in the NFM/AFM code); mean: averaged. " + RECIPE_DEFAULT, show_default=False)] = None,
    dropout: Annotated[float | None, typer.Option("--dropout", help="The base model's dropout (FM, DeepFM, NFM, IFM: on the interaction vector, "
                                                  "default 0.5, GEM+FM 0.3; AFM, INN: on the pooled vector, default 0.2).")] = None,
    mlp: Annotated[str | None, typer.Option("--mlp", help="Hidden sizes, e.g. 200-200-200 (defaults: wide_deep 1024-512-256, deepfm 200-200-200, "
                                               "nfm 64, ifm 256-256).")] = None,
    mlp_dropout: Annotated[float | None, typer.Option("--mlp-dropout", help="Dropout after each hidden layer (wide_deep, deepfm, nfm; default 0.2).")] = None,
    attention_size: Annotated[int | None, typer.Option("--attention-size", help="Attention size (afm, inn; default 256).")] = None,
    field_size: Annotated[int | None, typer.Option("--field-size", help="Field embedding size (inn; default 24).")] = None,
    pretrain: Annotated[str | None, typer.Option("--pretrain", help="Initialise embeddings and linear weights from a finished FM run "
                                                    "(name or path) on the same data and embedding size.")] = None,
    gcn_layers: Annotated[int, typer.Option("--gcn-layers", min=1, help="GCN layers (GEM); one adds no parameters.")] = 1,
    gcn_activation: Annotated[str, typer.Option("--gcn-activation", help="GCN activation sigma: none, relu or tanh.")] = "none",
    gcn_dropout: Annotated[float, typer.Option("--gcn-dropout", min=0.0, max=0.99, help="Dropout on the propagated embeddings (GEM).")] = 0.0,
    gcn_fanout: Annotated[int, typer.Option("--gcn-fanout", min=0, help="GEM training reads at most K neighbours per row of Â, drawn in proportion to their weights Â(u, j) "
                                            "with replacement, weighted so the propagated row is unbiased (evaluation stays exact). "
                                            "0: all neighbours, exact. Makes hub-heavy graphs (MovieLens tags) cheaper to train, at a cost in accuracy (results/movielens).")] = 0,
    init_std: Annotated[float, typer.Option("--init-std", help="Std of the normal init of embedding tables.")] = 0.01,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Most epochs to train.")] = 100,
    patience: Annotated[int, typer.Option("--patience", min=1, help="Stop after this many epochs without a better validation RMSE.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of initialisation, batch order and dropout.")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    sparse: Annotated[bool | None, typer.Option("--sparse/--dense", help="Row-sparse lookup tables (and linear weights): each step updates only the "
                                                   "rows a batch touches. Default: sparse when the table holds over 5M values (MovieLens), else dense. "
                                                   "GEM's W always trains densely: a batch's neighbours reach most of it.",
                                                   show_default=False)] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name of the run folder under RUN_DIR/models (default: time-base-seed).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run (--run, else the latest unfinished) from its last checkpoint.")] = False,
    run: Annotated[str | None, typer.Option("--run", help="With --resume: the run to continue.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Build the model, print its trainable parameter count, train nothing.")] = False,
    run_dir: RunDir = None,
) -> None:
    """Train one base model, plain or with GEM, with early stopping on validation RMSE.

    Each epoch's train loss and valid/test RMSE and MAE go to RUN_DIR/models/NAME/metrics.jsonl; the best epoch's weights are saved (model.pt) and evaluated. Ctrl-C leaves a run that --resume continues."""
    from gemcli.config import ModelConfig, RunConfig, TrainConfig
    from gemcli.train import build_model, count_parameters, fit, list_runs, resolve_run

    target = rundir.resolve(run_dir)
    if resume:
        if run:
            folder = resolve_run(target, run, finished=False)
        else:
            pending = [r for r in list_runs(target) if (r / "checkpoint.pt").is_file()]
            if not pending:
                raise GemError(f"{target}: no interrupted run to resume")
            folder = pending[-1]
        fit(target, resume=folder)
        return
    mlp_sizes = None
    if mlp is not None:
        try:
            mlp_sizes = [int(v) for v in mlp.split("-") if v]
        except ValueError:
            raise GemError(f"--mlp {mlp!r}: expected sizes like 200-200-200") from None
    from gemcli.recipes import recipe

    m_over, t_over = recipe(base, gem)
    optimizer = optimizer or t_over.get("optimizer", TrainConfig.optimizer)
    lr = lr if lr is not None else t_over.get("lr", TrainConfig.lr)
    loss_reduction = loss_reduction or t_over.get("loss_reduction", TrainConfig.loss_reduction)
    if dropout is None:
        dropout = m_over.get("base_options", {}).get("dropout")
    opts = {"dropout": dropout, "mlp": mlp_sizes, "mlp_dropout": mlp_dropout, "attention_size": attention_size,
            "field_size": field_size}
    base_options = {k: v for k, v in opts.items() if v is not None}
    mcfg = ModelConfig(base=base, gem=gem, embedding_size=embedding_size, init_std=init_std, gcn_layers=gcn_layers,
                       gcn_activation=gcn_activation, gcn_dropout=gcn_dropout, gcn_fanout=gcn_fanout, graph=graph, sparse=sparse,
                       base_options=base_options, pretrain=pretrain)
    tcfg = TrainConfig(batch_size=batch_size, optimizer=optimizer, lr=lr, l2=l2, loss_reduction=loss_reduction,
                       epochs=epochs, patience=patience, seed=seed, device=device)
    if dry_run:
        meta = rundir.read_json(rundir.data_dir(target) / "meta.json")
        model = build_model(target, mcfg, meta)
        out.print(f"{mcfg.label}: {count_parameters(model):,} trainable parameters "
                  f"({meta['n_features']:,} features, d={embedding_size})")
        return
    rundir.remember(target)
    fit(target, RunConfig(model=mcfg, train=tcfg, data={}, name=name or ""))


@app.command("evaluate")
def evaluate_cmd(
    run: Annotated[str | None, typer.Option("--run", help="Run name under RUN_DIR/models or its path (default: the latest finished).")] = None,
    split: Annotated[str, typer.Option("--split", help="test or valid.")] = "test",
    libfm: Annotated[Path | None, typer.Option("--libfm", help="Evaluate on a libfm file instead, mapped through the run's vocabulary.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    run_dir: RunDir = None,
) -> None:
    """Evaluate a trained run's best weights: RMSE and MAE (predictions clipped to the label range, and unclipped), plus logloss and AUC for 0/1 labels.

    Prints a table and writes eval.json in the run."""
    from gemcli.evaluate import evaluate_run

    target = rundir.resolve(run_dir)
    res = evaluate_run(target, run=run, split=split, libfm=libfm, device=device)
    t = Table(title=f"{res['model']} {res['run']} on {res['on']} ({res['instances']:,} instances)")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in res["metrics"].items():
        t.add_row(k, f"{v:.4f}")
    out.print(t)


@app.command("sweep")
def sweep_cmd(
    name: Annotated[str | None, typer.Argument(help="dropout (GCN dropout 0.0-0.9, Figure 7), sampling-ratio (0-1, Figure 6), "
                                                   "graph-type (FM, GEM type b, type a, type a + a bad field, Figure 5); "
                                                   "omit it to sweep a --param grid.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="NAME=V1,V2,... over any train or build-graph option "
                                                        "(e.g. lr=0.01,0.05 or sample_ratio=0,0.5,1); repeat for a grid.")] = None,
    values: Annotated[str | None, typer.Option("--values", help="Comma-separated values for a named sweep (overrides its defaults).")] = None,
    base: Base = "fm",
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Seeds per point (seed, seed+1, ...).")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="First seed.")] = 0,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Most epochs per run.")] = 100,
    embedding_size: Annotated[int, typer.Option("--embedding-size", min=1, help="Embedding size d.")] = 256,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Batch size.")] = 4096,
    optimizer: Annotated[str, typer.Option("--optimizer", help="adagrad, adam or sgd.")] = "adagrad",
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 0.05,
    loss_reduction: Annotated[str, typer.Option("--loss-reduction", help="sum or mean.")] = "sum",
    dropout: Annotated[float | None, typer.Option("--dropout", help="The base model's dropout for every point (see gem train).")] = None,
    patience: Annotated[int, typer.Option("--patience", min=1, help="Early-stopping patience per run.")] = 5,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Points trained in parallel processes.")] = 1,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    run_dir: RunDir = None,
) -> None:
    """Run one of the paper's studies (or a grid) on the run directory's data: each point a normal run in RUN_DIR/sweeps/NAME/points/, then results.csv, results.md (mean ± std per point) and a figure with error bars.

    Started again, a sweep skips finished points and resumes interrupted ones."""
    from gemcli.config import ModelConfig, RunConfig, TrainConfig
    from gemcli.sweep import run_sweep

    target = rundir.resolve(run_dir)
    cfg = RunConfig(model=ModelConfig(base=base, embedding_size=embedding_size,
                                      base_options={"dropout": dropout} if dropout is not None else {}),
                    train=TrainConfig(batch_size=batch_size, optimizer=optimizer, lr=lr, loss_reduction=loss_reduction,
                                      epochs=epochs, patience=patience, seed=seed, device=device), data={})
    root = run_sweep(target, name, param or [], values.split(",") if values else None, cfg, seeds, jobs)
    rundir.remember(target)
    out.print((root / "results.md").read_text(), highlight=False, markup=False)
    out.print(f"saved {root}/results.csv, results.md and the figure")


@report_app.command("table1")
def report_table1(
    run_missing: Annotated[bool, typer.Option("--run-missing", help="Train the base x {plain, GEM} x seed runs that are missing "
                                                 "(recipes in gemcli/recipes.py; non-FM bases start from the FM run of their seed: plain from FM as the paper, GEM from GEM+FM).")] = False,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Seeds wanted per model (with --run-missing).")] = 3,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Most epochs per missing run (default: the recipe's).")] = None,
    bases: Annotated[str | None, typer.Option("--bases", help="Comma-separated bases to train with --run-missing (default: all seven).")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Also write the table to this markdown file.")] = None,
    runs: Annotated[str, typer.Option("--runs", help="Glob over run names to collect (default: the runs --run-missing makes; "
                                      "'*' for every finished run).")] = "table1-*",
    run_dir: RunDir = None,
) -> None:
    """Table 1 from the run directory's finished runs: mean ± std over seeds of test MAE and RMSE, #params, the paper's figures beside them, and the relative change GEM brings to each base."""
    from gemcli.recipes import train_missing
    from gemcli.report import table1_markdown

    target = rundir.resolve(run_dir)
    if run_missing:
        train_missing(target, seeds=seeds, epochs=epochs, bases=bases.split(",") if bases else None)
    text = table1_markdown(target, pattern=runs)
    out.print(text, highlight=False, markup=False)
    if out_path:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        rundir.atomic_write_text(out_path, text)
        out.print(f"saved {out_path}")


@report_app.command("curves")
def report_curves(
    runs: Annotated[list[str], typer.Argument(help="Run names (under RUN_DIR/models) or paths.")],
    out_path: Annotated[Path, typer.Option("--out", help="PNG to write.")] = Path("curves.png"),
    run_dir: RunDir = None,
) -> None:
    """Overlay validation RMSE and MAE per epoch of several runs (FM vs GEM+FM: the paper's Figures 3-4)."""
    from gemcli.report import plot_runs
    from gemcli.train import resolve_run

    target = rundir.resolve(run_dir)
    folders = [resolve_run(target, r, finished=False) for r in runs]
    plot_runs(folders, out_path)
    out.print(f"saved {out_path}")


@app.command("compare")
def compare_cmd(
    run_dir: RunDir = None,
) -> None:
    """Table of the finished runs in the run directory: best epoch, valid and test RMSE / MAE, parameters, grouped by model with mean and standard deviation over seeds."""
    from gemcli.report import compare_table

    target = rundir.resolve(run_dir)
    out.print(compare_table(target))


def main() -> None:
    from gemcli.allocator import raise_thresholds

    raise_thresholds()  # large per-step temporaries reuse their pages (gemcli/allocator.py)
    app()


if __name__ == "__main__":
    main()
