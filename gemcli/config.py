"""Typed configs per stage, combined into the run config saved with every checkpoint (JSON round-trip),
and `resolve_config`: the one place where an option's value is decided (command line > recipe > default).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from gemcli.errors import GemError
from gemcli.options import (
    BASE_OPTIONS,
    GCN_OPTIONS,
    GEMP,
    OPT,
    RUN,
    Option,
    OptionValue,
    at_least,
    by_name,
    declared_options,
    opt,
    options_of,
)
from gemcli.schedule import SCHEDULES

if TYPE_CHECKING:
    from gemcli.recipes import Recipe


def _device_rule(value: OptionValue) -> str | None:
    ok = value in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d{1,3}", str(value))
    return None if ok else "expected auto, cpu, cuda or cuda:N"


def _task_rule(value: OptionValue) -> str | None:
    from gemcli.tasks import task_names

    return None if value in ("auto", *task_names()) else f"expected one of auto, {', '.join(task_names())}"


def _monitor_rule(value: OptionValue) -> str | None:
    from gemcli.tasks import all_metrics

    return None if value in ("auto", *all_metrics()) else f"expected one of auto, {', '.join(all_metrics())}"


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model: the base, the embedder and their options."""

    base: str = "fm"
    embedder: str = "lookup"  # a name in the embedder registry (gemcli.nn.embedders): lookup, gcn (GEM), ...
    embedding_size: int = opt(
        256, **at_least(1, 65536, what="between 1 and 65536"), help="Embedding size d. Default 256 (the paper's)."
    )
    init_std: float = opt(
        0.01,
        low=0.0,
        low_open=True,
        high=10.0,
        what="a positive standard deviation",
        help="Std of the normal init of embedding tables. Default 0.01.",
    )
    graph: str | None = opt(
        None, recipe=False, panel=GEMP, help="Graph id under RUN_DIR/graphs (GEM only)."
    )  # the CLI's own help per command: cli.options
    sparse: bool | None = opt(
        None,
        panel=OPT,
        help="Row-sparse lookup tables (and linear weights): each step updates only the rows a batch touches. "
        "Default: sparse when the table holds over 5M values (MovieLens), else dense. GEM's W always trains densely.",
    )
    base_options: dict[str, Any] = field(default_factory=dict)  # per-base hyper-parameters
    embedder_options: dict[str, OptionValue] = field(default_factory=dict)  # the embedder's own (also --gcn-*)
    pretrain: str | None = opt(
        None,
        recipe=False,
        help="Start from a finished FM run (name or path) on the same data and embedding size: its embeddings and "
        "linear weights (the paper pre-trains the plain non-FM bases this way).",
    )

    @property
    def gem(self) -> bool:
        """Embeddings from the feature graph: the embedder needs one (gcn, and graph embedders to come)."""
        from gemcli.nn.embedders import needs_graph

        return needs_graph(self.embedder)

    @property
    def label(self) -> str:
        from gemcli.paper import model_label

        return model_label(self.base, self.embedder)


@dataclass
class TrainConfig:
    batch_size: int = opt(4096, **at_least(1, 1 << 24), panel=OPT, help="Batch size. Default 4096 (the paper's).")
    optimizer: str = opt(
        "adagrad", choices=("adagrad", "adam", "sgd"), panel=OPT, help="Optimiser. Default: the recipe's."
    )
    lr: float = opt(
        0.05,
        low=0.0,
        low_open=True,
        high=1e3,
        what="a positive learning rate",
        panel=OPT,
        help="Learning rate. Default: the recipe's (fm 0.05, gem-fm 0.00366, fine-tune 0.001).",
    )
    adagrad_init: float = opt(
        0.1, low=0.0, high=1e6, what="a non-negative accumulator", cli=False, help="Adagrad's initial accumulator."
    )  # 0.1 is TensorFlow's default (NFM/AFM code)
    l2: float = opt(
        0.0,
        low=0.0,
        high=1e3,
        what="a non-negative coefficient",
        panel=OPT,
        help="L2 coefficient lambda on all trainable parameters (loss + lambda ||Theta||^2); on row-sparse tables "
        "applied lazily to the rows a batch touches. Default: the recipe's (GEM+FM 1.7e-9), else 0.",
    )
    lr_schedule: str = opt(
        "none",
        choices=SCHEDULES,
        panel=OPT,
        help="The step size by epoch: none; cosine (lr (1 + cos(pi (e-1)/E))/2 over --epochs E); plateau (halved "
        "after more than 2 epochs without a better validation score, as ReduceLROnPlateau). Default none.",
    )
    weight_decay: float = opt(
        0.0,
        low=0.0,
        high=1e3,
        what="a non-negative coefficient",
        panel=OPT,
        help="Decoupled weight decay (AdamW, Loshchilov & Hutter): each step theta -= lr * wd * theta, then Adam's "
        "update; on row-sparse tables the rows a batch touches. Unlike --l2, Adam does not scale it up for rows "
        "a batch rarely reaches. With --optimizer adam only. Default 0.",
    )
    loss_reduction: str = opt(
        "sum",
        choices=("sum", "mean"),
        panel=OPT,
        help="sum: squared error summed over the batch (TensorFlow's l2_loss, as in the NFM/AFM code); mean: "
        "averaged. Default: the recipe's.",
    )
    max_grad_norm: float = opt(
        0.0,
        low=0.0,
        high=1e9,
        what="a non-negative norm (0: no clipping)",
        panel=OPT,
        help="Scale each step's gradients down to this total L2 norm when they exceed it (torch's "
        "clip_grad_norm_, FuxiCTR's max_gradient_norm; the touched rows of row-sparse tables count and are scaled "
        "too). Guards against a step that throws training off. Default 0: no clipping, as the paper.",
    )
    epochs: int = opt(
        100,
        **at_least(1, 1_000_000),
        panel=OPT,
        help="Most epochs. Default: the recipe's (fm 300, gem-fm 150, fine-tune 100).",
    )
    patience: int = opt(
        5,
        **at_least(1, 1_000_000),
        panel=OPT,
        help="Stop after this many epochs without a better validation score (--monitor: RMSE for regression, AUC "
        "for binary). Default: the recipe's (5; gem-fm 8).",
    )
    seed: int = opt(
        0,
        low=0,
        high=2**32 - 1,
        what="between 0 and 2^32-1",
        recipe=False,
        cli=False,  # each command its own: gem train's seed, a sweep's and a search's first seed
        panel=RUN,
        help="Seed of initialisation, batch order and dropout. Default 0.",
    )
    device: str = opt("auto", recipe=False, cli=False, check=_device_rule, help="Where to train: auto, cpu, cuda[:N].")
    eval_batch_size: int = opt(
        65536, **at_least(1, 1 << 24), recipe=False, cli=False, help="Rows per evaluation batch, at most."
    )  # fewer where the model's widest tensor would pass 128 MiB (train.eval_rows)
    task: str = opt(
        "auto",
        recipe=False,
        check=_task_rule,
        panel=OPT,
        help="auto, regression or binary (or a plug-in task). regression: square loss, RMSE/MAE (the paper's ±1 "
        "labels); binary: cross-entropy on logits, "
        "predictions as probabilities, AUC/logloss (0/1 labels, click-through rate). Default auto: binary for data "
        "whose labels are 0/1, else regression.",
    )
    monitor: str = opt(
        "auto",
        check=_monitor_rule,
        panel=OPT,
        help="Validation metric early stopping watches (and by which the best epoch is kept): auto, rmse, mae, "
        "rmse_unclipped, mae_unclipped, auc, logloss (or a plug-in task's). Default auto: the task's (rmse; auc).",
    )


@dataclass
class RunConfig:
    model: ModelConfig
    train: TrainConfig
    data: dict[str, Any]  # dataset id, fields, n_features, label range: checked on load
    name: str = ""
    recipe: str | None = None  # the recipe the defaults came from (None: global defaults only)
    sources: dict[str, str] = field(default_factory=dict)  # option -> "option" | "recipe NAME" | "default"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "gemcli-run/1",
            "name": self.name,
            "model": asdict(self.model),
            "train": asdict(self.train),
            "data": self.data,
            "recipe": self.recipe,
            "sources": self.sources,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """A saved config.json of any version (older layouts through `migrate`)."""
        d = migrate(d)

        def build(kind: type[Any], values: dict[str, Any]) -> Any:
            known = {f.name for f in fields(kind)}
            return kind(**{k: v for k, v in values.items() if k in known})

        return cls(
            model=build(ModelConfig, d["model"]),
            train=build(TrainConfig, d["train"]),
            data=d["data"],
            name=d.get("name", ""),
            recipe=d.get("recipe"),
            sources=d.get("sources", {}),
        )


# ---------------------------------------------------------------- older configs


def migrate(cfg: dict[str, Any]) -> dict[str, Any]:
    """A saved config (config.json, or its model/train parts) in today's layout: the one place that knows the
    older ones. 0.1.0 saved `gem: bool` for the embedder; 0.1-0.4 saved GEM's GCN options as model fields
    `gcn_layers`, ... (now the gcn embedder's own `embedder_options`; 0.3 and before had no `gcn_dropout_on`, so
    output); INN's `head_init` came after 0.4.3, whose INN started its head at random. Training options that came
    later read as what their absence meant (no weight decay, schedule or clipping; regression stopped on RMSE)."""
    out = dict(cfg)
    if "model" in cfg:
        model = dict(cfg["model"])
        if "embedder" not in model:  # 0.1.0
            model["embedder"] = "gcn" if model.get("gem") else "lookup"
        model.pop("gem", None)
        legacy = {o.key: model.pop(o.name) for o in GCN_OPTIONS if o.name in model}
        options = dict(model.get("embedder_options") or {})
        if model["embedder"] == "gcn":
            model["embedder_options"] = {**legacy, **options}
        else:
            model["embedder_options"] = options
        base_opts = dict(model.get("base_options") or {})
        if model.get("base") == "inn":
            base_opts.setdefault("head_init", "random")
        model["base_options"] = base_opts
        out["model"] = model
    if "train" in cfg:
        train = dict(cfg["train"])
        train.setdefault("weight_decay", 0.0)  # before 0.4.1
        train.setdefault("lr_schedule", "none")
        train.setdefault("max_grad_norm", 0.0)  # never clipped before it existed
        train.setdefault("task", "regression")  # before tasks, every run was regression, stopped on rmse
        if train["task"] in ("regression", "binary"):
            train.setdefault("monitor", "rmse" if train["task"] == "regression" else "auc")
        out["train"] = train
    return out


def embedder_of(model: dict[str, Any]) -> str:
    """The embedder named by a saved model config (any version)."""
    return str(migrate({"model": model})["model"]["embedder"])


def saved_base_options(model: dict[str, Any]) -> dict[str, Any]:
    """A saved model config's base options as the version that wrote it meant them (`migrate`)."""
    return dict(migrate({"model": model})["model"]["base_options"])


# ---------------------------------------------------------------- the option table and precedence

MODEL_OPTIONS: tuple[Option, ...] = tuple(options_of(ModelConfig, "model"))
TRAIN_OPTIONS: tuple[Option, ...] = tuple(options_of(TrainConfig, "train"))
MODEL_KEYS = tuple(o.name for o in MODEL_OPTIONS)
TRAIN_KEYS = tuple(f.name for f in fields(TrainConfig))
GCN_KEYS = tuple(o.name for o in GCN_OPTIONS)


def option_table() -> dict[str, Option]:
    """Every option by its flat name: the model's and training's, the bases' (built-in and plug-in), GEM's GCN's
    (--gcn-*). An option declared twice is an error."""
    from gemcli.models import plugin_base_options

    return by_name([*MODEL_OPTIONS, *GCN_OPTIONS, *TRAIN_OPTIONS, *BASE_OPTIONS.values(), *plugin_base_options()])


def option_keys() -> tuple[str, ...]:
    return tuple(option_table())


def recipe_keys() -> tuple[str, ...]:
    """The options a recipe (or a search) may set."""
    return tuple(k for k, o in option_table().items() if o.recipe)


# the built-in names (the table with plug-ins: option_keys())
OPTION_KEYS = MODEL_KEYS + GCN_KEYS + TRAIN_KEYS + tuple(BASE_OPTIONS)
NOT_IN_RECIPES = tuple(o.name for o in (*MODEL_OPTIONS, *TRAIN_OPTIONS) if not o.recipe)


def base_option_table(base: str) -> dict[str, Option]:
    """The options base `base` takes, each with the base's own default (from its constructor)."""
    from gemcli.models import MODELS, model_names

    if base not in model_names():
        raise GemError(f"unknown --base {base!r}; known: {', '.join(model_names())}")
    cls = MODELS[base]
    params = inspect.signature(cls.__init__).parameters
    table = {}
    for o in declared_options(getattr(cls, "options", ()), owner="base"):
        default = params[o.name].default if o.name in params else o.default
        table[o.name] = o.with_default(None if default is inspect.Parameter.empty else _plain(default))
    return table


def base_option_defaults(base: str) -> dict[str, Any]:
    """The base's own defaults for its options (from its constructor), e.g. FM: {'dropout': 0.5}."""
    return {k: o.default for k, o in base_option_table(base).items()}


def embedder_option_table(embedder: str) -> dict[str, Option]:
    """The options embedder `embedder` takes, by their key in embedder_options, each with its declared default
    (an untyped plug-in option declares none: its constructor's applies, and configs leave it out)."""
    from gemcli.nn.embedders import embedder_class

    cls = embedder_class(embedder)
    return {o.key or o.name: o for o in declared_options(cls.options, owner=f"embedder:{embedder}")}


def embedder_defaults(embedder: str) -> dict[str, Any]:
    """An embedder's options at their defaults (those it declares one for)."""
    return {k: o.default for k, o in embedder_option_table(embedder).items() if o.default is not None}


def embedder_values(model: ModelConfig) -> dict[str, Any]:
    """A model's embedder options, complete: those it was given or its recipe set, the declared defaults for the
    rest."""
    return {**embedder_defaults(model.embedder), **model.embedder_options}


def source_key(embedder: str, key: str) -> str:
    """Where `sources` records an embedder option: its flag's name (gcn_dropout) or embedder_options.KEY."""
    alias = next((o.name for o in GCN_OPTIONS if o.key == key), None) if embedder == "gcn" else None
    return alias or f"embedder_options.{key}"


def check_base_keys(base: str, keys: list[str], prefix: str) -> None:
    """One line (exit 2) for a base option (--dropout, --mlp, ...) that `base` does not take; `prefix` is how the
    caller names the option ('--' for --dropout, '--param ' for --param dropout=...)."""
    own = base_option_table(base)
    base_keys = {k for k, o in option_table().items() if o.owner == "base"}
    foreign = [k for k in keys if k in base_keys and k not in own]
    if foreign:
        name = foreign[0].replace("_", "-") if prefix == "--" else foreign[0]
        raise GemError(f"{prefix}{name}: base {base} has no such option (its options: {', '.join(own) or 'none'})")


def _plain(v: Any) -> Any:
    """JSON-like form of an option value (tuples as lists), so that saved and asked configs compare equal."""
    return list(v) if isinstance(v, tuple) else v


def _where(key: str, source: str) -> str:
    return f"--{key.replace('_', '-')}" + ("" if source == "option" else f" (from {source})")


def check_weight_decay(optimizer: str, weight_decay: float) -> None:
    """--weight-decay is AdamW's decoupled decay: refused with another optimiser (one line), when options are
    resolved and when an optimiser is built."""
    if weight_decay > 0 and optimizer != "adam":
        raise GemError(
            f"--weight-decay {weight_decay:g}: decoupled weight decay is Adam's (AdamW); with --optimizer "
            f"{optimizer} use --l2"
        )


def recipe_options(rec: Recipe) -> dict[str, Any]:
    """A recipe's options, checked: names a recipe may set, values of the option's type (one line naming the
    recipe file otherwise)."""
    table, allowed = option_table(), recipe_keys()
    for k in rec.options:
        if k not in allowed:
            raise GemError(f"{rec.path}: option {k!r} cannot be set by a recipe; recipe options: {', '.join(allowed)}")
    return {k: table[k].typed(v, str(rec.path)) for k, v in rec.options.items()}


def recipe_embedder_options(rec: Recipe, embedder: str) -> dict[str, Any]:
    """A recipe's options for `embedder` ([embedder_options.NAME], and for gcn the gcn_* keys of [options]),
    checked: embedders it names exist, each option is one of that embedder's, of its type."""
    from gemcli.nn.embedders import embedder_names

    for name, opts in rec.embedder_options.items():
        if name not in embedder_names():
            known = ", ".join(embedder_names())
            raise GemError(f"{rec.path}: [embedder_options.{name}]: no such embedder; known: {known}")
        table = embedder_option_table(name)
        for k, v in opts.items():
            if k not in table:
                raise GemError(
                    f"{rec.path}: [embedder_options.{name}] {k}: embedder {name} has no such option; its options: "
                    f"{', '.join(table) or 'none'}"
                )
            table[k].typed(v, f"{rec.path}: [embedder_options.{name}]")
    return dict(rec.embedder_options.get(embedder, {}))


@dataclass
class Resolved:
    """A run config with, for each option, where its value came from."""

    config: RunConfig
    sources: dict[str, str]

    def describe(self) -> str:
        """One line per source: the options that matter for this model and where their values came from."""
        return describe_sources(self.config, self.sources)


def option_values(cfg: RunConfig) -> dict[str, Any]:
    """The flat option values of a run config (the inverse of what resolve_config assembles): GEM's GCN's under
    their flag names (gcn_dropout), at their defaults where the config leaves them out."""
    m, t = cfg.model, cfg.train
    vals: dict[str, Any] = {k: getattr(m, k) for k in MODEL_KEYS}
    if m.embedder == "gcn":
        options = embedder_values(m)
        vals.update({o.name: options.get(o.key) for o in GCN_OPTIONS})
    vals.update({k: getattr(t, k) for k in TRAIN_KEYS})
    vals.update(m.base_options)
    return vals


def relevant_keys(base: str, embedder: str) -> list[str]:
    """Options that change this model: gcn_* only with the gcn embedder, graph only with a graph embedder,
    base options only those the base takes."""
    from gemcli.nn.embedders import needs_graph

    keys = [k for k in MODEL_KEYS if k != "graph" or needs_graph(embedder)]
    if embedder == "gcn":
        keys += list(GCN_KEYS)
    return keys + list(TRAIN_KEYS) + list(base_option_table(base))


def describe_sources(cfg: RunConfig, sources: dict[str, str], exclude: set[str] | frozenset[str] = frozenset()) -> str:
    """Lines 'SOURCE: key=value ...' for the options that matter to this model (but `exclude`)."""
    vals = option_values(cfg)
    groups: dict[str, list[str]] = {}
    for k in relevant_keys(cfg.model.base, cfg.model.embedder):
        if k in ("eval_batch_size", *exclude) or (k in ("pretrain", "graph", "sparse") and vals.get(k) is None):
            continue
        v = vals.get(k)
        v = "-".join(map(str, v)) if isinstance(v, list) else v
        groups.setdefault(sources.get(k, "default"), []).append(f"{k}={v}")
    if cfg.model.embedder != "gcn":  # the embedder's own: given, its recipe's, or its declared defaults
        for k, v in {**embedder_defaults(cfg.model.embedder), **cfg.model.embedder_options}.items():
            src = sources.get(f"embedder_options.{k}", "option" if k in cfg.model.embedder_options else "default")
            groups.setdefault(src, []).append(f"{cfg.model.embedder}.{k}={v}")
    order = sorted(groups, key=lambda s: (s != "option", s == "default", s))
    return "\n".join(f"  {src + ':':<22} {' '.join(groups[src])}" for src in order)


def _embedder_given(
    embedder: str, given: dict[str, OptionValue], options: dict[str, OptionValue], where: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the flat options given but GEM's GCN's --gcn-*, the embedder's options given) from `given` and
    --embedder-option's `options`, each checked against the embedder's declarations (one line naming it)."""
    table = embedder_option_table(embedder)
    mine = {o.key: given[o.name] for o in GCN_OPTIONS if given.get(o.name) is not None and embedder == "gcn"}
    flat = {k: v for k, v in given.items() if k not in GCN_KEYS}
    for k, v in options.items():
        if k not in table:
            raise GemError(
                f"{where} {k}: embedder {embedder} has no such option; its options: {', '.join(table) or 'none'}"
            )
        mine[k] = v
    checked = {}
    for k, v in mine.items():
        o = table[k]
        name = o.flag if o.name != k else f"{where} {k}"
        checked[k] = o.typed(v, name)
        o.validate(checked[k], name)
    return flat, checked


def resolve_config(
    base: str,
    embedder: str | bool,
    given: dict[str, OptionValue],
    recipe: str | None = None,
    name: str = "",
    embedder_options: dict[str, OptionValue] | None = None,
) -> Resolved:
    """The run config of `gem train`, `gem sweep`, `gem tune`, `gem report table1 --run-missing` and the benchmark.

    For each option: the value given (command line, sweep point) wins, else the recipe's (`recipe`: a
    name or a TOML file; default: the model's default recipe), else the global default (the config
    dataclasses, the base's own defaults for its options, the embedder's for its own). `given` maps flat option
    names (option_table(); GEM's GCN's as gcn_*) to values; None means not given. The embedder's options
    (`embedder_options`, --embedder-option) are stored as given or set by the recipe; defaults are left out.
    """
    from gemcli.recipes import default_recipe, find_recipe

    if isinstance(embedder, bool):  # --gem / --no-gem
        embedder = "gcn" if embedder else "lookup"
    table = option_table()
    unknown = sorted(set(given) - set(table))
    if unknown:
        raise GemError(f"unknown option {unknown[0]!r}; known: {', '.join(table)}")
    given = {k: v for k, v in given.items() if v is not None}
    given, extra = _embedder_given(embedder, given, dict(embedder_options or {}), "--embedder-option")
    rec = find_recipe(recipe) if recipe else default_recipe(base, embedder)
    rec_options = recipe_options(rec) if rec is not None else {}
    _, rec_extra = (
        _embedder_given(embedder, rec_options, recipe_embedder_options(rec, embedder), f"{rec.path}:")
        if rec is not None
        else ({}, {})
    )
    rec_options = {k: v for k, v in rec_options.items() if k not in GCN_KEYS}
    emb_sources = {source_key(embedder, k): f"recipe {rec.name}" for k in rec_extra} if rec is not None else {}
    emb_sources.update({source_key(embedder, k): "option" for k in extra})
    extra = {**rec_extra, **extra}  # given wins over the recipe's
    base_defaults = base_option_defaults(base)
    defaults: dict[str, Any] = {
        **{k: getattr(ModelConfig(), k) for k in MODEL_KEYS},
        **{k: getattr(TrainConfig(), k) for k in TRAIN_KEYS},
        **base_defaults,
    }
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for k in table:
        if k in GCN_KEYS:
            continue
        if k in given:
            values[k], sources[k] = table[k].typed(given[k], "option"), "option"
        elif k in rec_options:
            values[k], sources[k] = rec_options[k], f"recipe {rec.name if rec else ''}"
        elif k in defaults:
            values[k], sources[k] = _plain(defaults[k]), "default"
    check_base_keys(base, [k for k in values if sources[k] == "option"], "--")
    for k, v in values.items():
        table[k].validate(v, _where(k, sources[k]))
    check_weight_decay(values["optimizer"], values["weight_decay"])
    model = ModelConfig(
        base=base,
        embedder=embedder,
        base_options={k: values[k] for k in base_defaults},
        embedder_options=extra,
        **{k: values[k] for k in MODEL_KEYS},
    )
    train = TrainConfig(**{k: values[k] for k in TRAIN_KEYS})
    kept = {k: v for k, v in sources.items() if k in relevant_keys(base, embedder)} | emb_sources
    cfg = RunConfig(model=model, train=train, data={}, name=name, recipe=rec.name if rec else None, sources=kept)
    return Resolved(config=cfg, sources=kept)


def config_key(cfg: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same experiment but for the seed: the model and training configs (in today's layout,
    `migrate`), without the seed, device and evaluation batch size; base and embedder options completed with their
    defaults (runs saved before the configs were complete compare equal to runs saved after), INN's head_init left
    out when it starts from a pretrained FM (start_from_fm sets the head then, whatever head_init says); a pretrain
    source named by seed (NAME-sSEED) counted without it."""
    cfg = migrate(cfg)
    model = dict(cfg["model"])
    if model.get("pretrain"):  # table1-deepfm-s1 starts from table1-fm-s1: the source's seed follows the run's
        model["pretrain"] = re.sub(r"-s\d+$", "-s*", re.sub(r"^\d{8}-\d{6}-", "", str(model["pretrain"])))
    try:
        model["base_options"] = {
            **base_option_defaults(model["base"]),
            **{k: _plain(v) for k, v in model["base_options"].items()},
        }
    except GemError:
        pass
    if model.get("pretrain"):
        model["base_options"] = {k: v for k, v in (model.get("base_options") or {}).items() if k != "head_init"}
    try:
        model["embedder_options"] = {
            **embedder_defaults(model["embedder"]),
            **{k: _plain(v) for k, v in model["embedder_options"].items()},
        }
    except GemError:
        pass
    if model["embedder"] == "lookup":
        model.pop("graph", None)
    train = {k: v for k, v in cfg["train"].items() if k not in ("seed", "device", "eval_batch_size")}
    return {"model": model, "train": train}


def differing(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(option, value in a, value in b) for each option of two config dicts (model/train) that differs."""

    def flat(c: dict[str, Any]) -> dict[str, Any]:
        m = dict(c.get("model", {}))
        opts = m.pop("base_options", {}) or {}
        if m.get("embedder") == "gcn":  # GEM's GCN's options by their flags' names
            emb = dict(m.pop("embedder_options", {}) or {})
            opts = {**opts, **{o.name: emb.pop(o.key) for o in GCN_OPTIONS if o.key in emb}}
            if emb:
                m["embedder_options"] = emb
        return {**m, **opts, **c.get("train", {})}

    fa, fb = flat(a), flat(b)
    return [(k, fa.get(k), fb.get(k)) for k in dict.fromkeys([*fa, *fb]) if _plain(fa.get(k)) != _plain(fb.get(k))]


def describe_diff(diffs: list[tuple[str, Any, Any]], then: str = "saved", now: str = "asked") -> str:
    """``differing``'s list in words for an error line: 'OPTION THEN VALUE, NOW VALUE; ...' (at most six)."""

    def show(v: Any) -> str:
        return "not given" if v is None else repr(v)

    return "; ".join(f"{k} {then} {show(a)}, {now} {show(b)}" for k, a, b in diffs[:6]) + (
        "; ..." if len(diffs) > 6 else ""
    )
