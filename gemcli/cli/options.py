"""The options gem train, tune and sweep share. Those of the option table (gemcli.options: the model's, training's,
the bases' and GEM's GCN's) are not written here: `with_options` adds them to a command from the table, so each is
declared once; given values arrive as one dict (not given: absent, so that the recipe or the default decides:
gemcli.config.resolve_config)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer

from gemcli.console import err
from gemcli.errors import GemError
from gemcli.options import GEMP, MODEL, Option, OptionValue

if TYPE_CHECKING:
    from gemcli.executors import ExecutorSpec

# ---------------------------------------------------------------- the command's own options


def base_choices() -> list[str]:
    """--base's choices: the built-in bases and the plug-ins' entry-point names (nothing imported)."""
    from gemcli.models import builtin_names
    from gemcli.plugins import load_group

    builtin = builtin_names()
    return [*builtin, *(n for n in load_group("gemcli.bases", names_only=True) if n not in builtin)]


def _executor_names() -> tuple[str, ...]:
    from gemcli.executors import executor_names

    return tuple(executor_names())


if TYPE_CHECKING:  # the choices are the registries' names, known when the command line is built
    BaseChoice = str
    ExecutorChoice = str
else:
    BaseChoice = Literal[tuple(base_choices())]
    ExecutorChoice = Literal[tuple(_executor_names())]

Base = Annotated[
    BaseChoice,
    typer.Option(
        "--base",
        rich_help_panel=MODEL,
        help="Base model (plug-ins: the `gemcli.bases` entry points). Its options: --dropout (fm, deepfm, nfm, ifm, "
        "afm, inn), --mlp and --mlp-dropout (wide_deep, deepfm, nfm; --mlp also ifm), --attention-size (afm, inn), "
        "--field-size and --head-init (inn); a plug-in's own are flags too.",
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


TRAIN_GRAPH_HELP = "the latest `gem build-graph` built (never one a sweep or search built for its points)."
POINTS_GRAPH_HELP = (  # a sweep's GEM points, a search's trials
    "the graph of build-graph's default options (type a, every neighbour), built if missing, so that the same "
    "command always means the same graph; `gem train --gem` takes the latest `gem build-graph` built instead, "
    "and the command says so when the two differ."
)
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
    ExecutorChoice,
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
        max=4096,
        help="With --executor ray: CPUs each run reserves (its torch threads).",
        rich_help_panel="Execution",
    ),
]
GpusPerRun = Annotated[
    float,
    typer.Option(
        "--gpus-per-run",
        min=0.0,
        max=64,
        help="With --executor ray: GPUs each run reserves (0: none; 0.5: two runs a GPU).",
        rich_help_panel="Execution",
    ),
]


def executor_of(kind: str, jobs: int, threads: int | None, address: str, cpus: float, gpus: float) -> ExecutorSpec:
    """The executor spec of --executor/--jobs/--threads/--ray-address/--cpus-per-run/--gpus-per-run."""
    from gemcli.executors import ExecutorSpec

    if kind == "local" and (address != "auto" or cpus != 1.0 or gpus != 0.0):
        raise GemError("--ray-address, --cpus-per-run and --gpus-per-run need --executor ray")
    return ExecutorSpec(
        kind=kind,
        jobs=jobs,
        threads=threads,
        ray_address=address,
        cpus_per_run=cpus,
        gpus_per_run=gpus,
    )


# ---------------------------------------------------------------- the option table as parameters


def cli_options() -> list[Option]:
    """The table's options that are flags of gem train, sweep and tune, in the order their help lists them."""
    from gemcli.config import option_table

    return [o for o in option_table().values() if o.cli]


FLAGS = {"sparse": "--sparse/--dense"}  # options with a negative form
HELP = {"graph": "Graph id under RUN_DIR/graphs. Default: "}


def _annotation(o: Option, help_text: str) -> Any:
    """The Typer parameter of option `o`: its type (choices as a Literal, sizes as text), flag and help."""
    kind: Any = {"int": int, "float": float, "bool": bool}.get(o.kind, str)
    if o.choices:
        kind = Literal[o.choices]
    return Annotated[
        kind | None,
        typer.Option(
            FLAGS.get(o.name, o.flag),
            show_default=False,
            rich_help_panel=o.panel,
            metavar="SIZES" if o.kind == "sizes" else None,
            help=help_text,
        ),
    ]


def with_options(graph_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add every flag of the option table to a command (`def cmd(own options..., **given)`): Typer sees them as
    ordinary parameters, the command receives those given (not None) in `given`, sizes read as lists. An option
    the command also declares itself is an error here, so no option is declared twice. `graph_help` says which
    graph the command takes by default."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        names = {p.name for p in own}
        table = cli_options()
        twice = [o.name for o in table if o.name in names]
        if twice:
            raise TypeError(f"{fn.__name__}: {', '.join(twice)} declared by the command and by the option table")
        extra = [
            inspect.Parameter(
                o.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=_annotation(o, HELP["graph"] + graph_help if o.name == "graph" else o.help),
            )
            for o in table
        ]
        by_name = {o.name: o for o in table}

        @functools.wraps(fn)
        def wrapper(**kw: Any) -> Any:
            given = {}
            for name, o in by_name.items():
                value = kw.pop(name, None)
                if value is not None:
                    given[name] = o.parse(value, o.flag) if o.kind == "sizes" else value
            return fn(**kw, **given)

        params = sorted([*own, *extra], key=lambda p: p.kind)  # keyword-only after the others, as Python wants
        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        hints = {p.name: p.annotation for p in params}
        wrapper.__annotations__ = {**hints, "return": None}
        return wrapper

    return deco


def table_params(fn: Callable[..., Any]) -> list[str]:
    """The option-table parameters a command built by `with_options` takes (for the test that no option is
    declared twice)."""
    return [name for name in inspect.signature(fn).parameters if name in {o.name for o in cli_options()}]


def embedder_choice(gem: bool, embedder: str | None, options: list[str] | None) -> tuple[str, dict[str, Any]]:
    """(embedder name, its options) from --gem, --embedder and --embedder-option KEY=VALUE, each value read as the
    embedder declares it (one line naming the option otherwise)."""
    from gemcli.config import embedder_option_table
    from gemcli.nn.embedders import embedder_class

    if gem and embedder not in (None, "gcn"):
        raise GemError(f"--gem is --embedder gcn; it cannot go with --embedder {embedder}")
    name = embedder_class("gcn" if gem else embedder or "lookup").registry_name
    table = embedder_option_table(name)
    parsed: dict[str, Any] = {}
    for spec in options or []:
        key, sep, text = spec.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise GemError(f"--embedder-option {spec!r}: expected KEY=VALUE")
        if key not in table:
            raise GemError(
                f"--embedder-option {key}: embedder {name} has no such option; its options: "
                f"{', '.join(table) or 'none'}"
            )
        parsed[key] = table[key].parse(text, f"--embedder-option {key}")
    return name, parsed


def check_embedder_flags(embedder: str, given: dict[str, OptionValue]) -> None:
    """One line for a flag of another embedder's (--gcn-dropout without --gem) or --graph without a graph
    embedder."""
    from gemcli.nn.embedders import needs_graph

    table = {o.name: o for o in cli_options()}
    for k in given:
        owner = table[k].embedder if k in table else None
        if owner is not None and owner != embedder:
            needs = "--gem" if owner == "gcn" else f"--embedder {owner}"
            raise GemError(f"{table[k].flag} needs {needs} (it is an option of the {owner} embedder)")
        if k == "graph" and not needs_graph(embedder):
            raise GemError("--graph needs --gem or a graph embedder (--embedder): a lookup table reads no graph")


def run_given(given: dict[str, OptionValue], seed: int | None = None, device: str = "auto") -> dict[str, Any]:
    """The options a command was given (its table flags), with its own --seed and --device where they are a run's
    (not given: absent; --device auto is not given)."""
    extra: dict[str, Any] = {"seed": seed} if seed is not None else {}
    if device != "auto":
        extra["device"] = device
    return {**given, **extra}


def exit_interrupted(said: str, resumes: str) -> NoReturn:
    """A long command stopped by Ctrl-C or SIGTERM: one line (what is kept, that the same command continues and how),
    then exit 130."""
    err.print(f"{said}; run the same command again to continue ({resumes})", highlight=False, soft_wrap=True)
    raise typer.Exit(130)
