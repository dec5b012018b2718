"""The model and training options that gem train, tune and sweep share, and how their values become given
options (None: not given, so that the recipe or the default decides: gemcli.config)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer

from gemcli.console import err
from gemcli.errors import GemError

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
        "and --head-init (inn).",
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
HeadInit = Annotated[
    Literal["fm", "random"] | None,
    typer.Option(
        "--head-init",
        show_default=False,
        rich_help_panel=MODEL,
        help="How INN's field-pair weights and dense layer start (inn): fm (r_ij = 1, dense = P: with uniform "
        "attention INN starts as FM, as AFM starts as FM / P) or random (torch's default; gemcli 0.4.3 and "
        "before). Default fm; --pretrain sets them as fm does either way.",
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


def _graph_option(default_is: str) -> Any:
    """--graph ID, for gem train (its default: resolve_graph's) and for sweeps and searches (theirs)."""
    return typer.Option(
        "--graph",
        show_default=False,
        rich_help_panel=GEMP,
        help=f"Graph id under RUN_DIR/graphs. Default: {default_is}",
    )


GraphId = Annotated[
    str | None,
    _graph_option("the latest `gem build-graph` built (never one a sweep or search built for its points)."),
]
PointsGraphId = Annotated[  # a sweep's GEM points, a search's trials
    str | None,
    _graph_option(
        "the graph of build-graph's default options (type a, every neighbour), built if missing, so that the same "
        "command always means the same graph; `gem train --gem` takes the latest `gem build-graph` built instead, "
        "and the command says so when the two differ."
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


def executor_of(kind: str, jobs: int, threads: int | None, address: str, cpus: float, gpus: float) -> Any:
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


def embedder_choice(gem: bool, embedder: str | None, options: list[str] | None) -> tuple[str, dict[str, Any]]:
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
    "head_init",
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


def exit_interrupted(said: str, resumes: str) -> NoReturn:
    """A long command stopped by Ctrl-C or SIGTERM: one line (what is kept, that the same command continues and how),
    then exit 130."""
    err.print(f"{said}; run the same command again to continue ({resumes})", highlight=False, soft_wrap=True)
    raise typer.Exit(130)


def given_from(params: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The train options a command was given, from its parameters (`locals()`): those of GIVEN_OPTIONS it takes,
    but `skip` (a sweep's and a search's --seed is their first seed, not a run's); --mlp as sizes, --device auto
    as not given."""
    kw = {k: params[k] for k in GIVEN_OPTIONS if k in params and k not in skip}
    if "mlp" in kw:
        kw["mlp"] = _mlp(kw["mlp"])
    if kw.get("device") == "auto":
        kw["device"] = None
    return _given(**kw)
