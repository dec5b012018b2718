"""Typed configs per stage, combined into the run config saved with every checkpoint (JSON round-trip),
and `resolve_config`: the one place where an option's value is decided (command line > recipe > default).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from gemcli.errors import GemError
from gemcli.schedule import SCHEDULES

if TYPE_CHECKING:
    from gemcli.recipes import Recipe


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model: the base, the embedder and their options."""

    base: str = "fm"
    embedder: str = "lookup"  # a name in the embedder registry (gemcli.nn.embedders): lookup, gcn (GEM), ...
    embedding_size: int = 256
    init_std: float = 0.01
    gcn_layers: int = 1
    gcn_activation: str = "none"
    gcn_dropout: float = 0.0
    gcn_dropout_on: str = "output"  # output (the propagated rows), edges (Â's entries), weights (W's rows)
    gcn_fanout: int = 0  # training reads at most this many sampled neighbours per row of Â (0: all, exact)
    graph: str | None = None  # graph id under RUN_DIR/graphs (GEM only)
    sparse: bool | None = None  # sparse gradients for the embedding tables; None: when the table exceeds 5M values
    base_options: dict[str, Any] = field(default_factory=dict)  # per-base hyper-parameters
    embedder_options: dict[str, Any] = field(default_factory=dict)  # the embedder's own (--embedder-option)
    pretrain: str | None = None  # a finished FM run whose embeddings and linear weights initialise this one

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
    batch_size: int = 4096
    optimizer: str = "adagrad"
    lr: float = 0.05
    adagrad_init: float = 0.1  # Adagrad's initial accumulator; 0.1 is TensorFlow's default (NFM/AFM code)
    l2: float = 0.0
    lr_schedule: str = "none"  # none | cosine | plateau, by epoch (gemcli.schedule)
    weight_decay: float = 0.0  # decoupled (AdamW): theta -= lr * weight_decay * theta each step, before Adam's update
    loss_reduction: str = "sum"  # sum: squared error summed over the batch (TensorFlow's l2_loss, as NFM's code)
    max_grad_norm: float = 0.0  # each step's gradients scaled down to this total L2 norm when above it; 0: never
    epochs: int = 100
    patience: int = 5
    seed: int = 0
    device: str = "auto"
    eval_batch_size: int = 65536  # at most; fewer where the model's widest tensor would pass 128 MiB (train.eval_rows)
    task: str = "auto"  # regression | binary | auto: the one the data's labels imply (gemcli.tasks)
    monitor: str = "auto"  # the validation metric early stopping watches; auto: the task's (rmse, auc)


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
        def build(kind, values):
            known = {f.name for f in fields(kind)}
            return kind(**{k: v for k, v in values.items() if k in known})

        model = dict(d["model"])
        if "embedder" not in model:  # 0.1.0: gem: bool
            model["embedder"] = "gcn" if model.get("gem") else "lookup"
        model["base_options"] = saved_base_options(model)
        return cls(
            model=build(ModelConfig, model),
            train=build(TrainConfig, d["train"]),
            data=d["data"],
            name=d.get("name", ""),
            recipe=d.get("recipe"),
            sources=d.get("sources", {}),
        )


# ---------------------------------------------------------------- options and their precedence

# The options a recipe or the command line may set, by flat name (as `gem train --NAME`, with _ for -).
MODEL_KEYS = (
    "embedding_size",
    "init_std",
    "gcn_layers",
    "gcn_activation",
    "gcn_dropout",
    "gcn_dropout_on",
    "gcn_fanout",
    "graph",
    "sparse",
    "pretrain",
)
TRAIN_KEYS = tuple(f.name for f in fields(TrainConfig))
BASE_KEYS = ("dropout", "mlp", "mlp_dropout", "attention_size", "field_size", "head_init")
OPTION_KEYS = MODEL_KEYS + TRAIN_KEYS + BASE_KEYS
NOT_IN_RECIPES = ("seed", "device", "graph", "pretrain", "eval_batch_size", "task")  # per run, not per model
GCN_KEYS = tuple(k for k in MODEL_KEYS if k.startswith("gcn_")) + ("graph",)


def base_option_defaults(base: str) -> dict[str, Any]:
    """The base's own defaults for its options (from its constructor), e.g. FM: {'dropout': 0.5}."""
    from gemcli.models import MODELS, model_names

    if base not in model_names():
        raise GemError(f"unknown --base {base!r}; known: {', '.join(model_names())}")
    cls = MODELS[base]
    params = inspect.signature(cls.__init__).parameters
    return {k: _plain(params[k].default) for k in getattr(cls, "options", {}) if k in params}


def check_base_keys(base: str, keys: list[str], prefix: str) -> None:
    """One line (exit 2) for a base option (--dropout, --mlp, ...) that `base` does not take; `prefix` is how the
    caller names the option ('--' for --dropout, '--param ' for --param dropout=...)."""
    own = base_option_defaults(base)
    foreign = [k for k in keys if k in BASE_KEYS and k not in own]
    if foreign:
        name = foreign[0].replace("_", "-") if prefix == "--" else foreign[0]
        raise GemError(f"{prefix}{name}: base {base} has no such option (its options: {', '.join(own) or 'none'})")


def _plain(v: Any) -> Any:
    """JSON-like form of an option value (tuples as lists), so that saved and asked configs compare equal."""
    return list(v) if isinstance(v, tuple) else v


def _typed(key: str, value: Any, where: str) -> Any:
    """Check (and widen int -> float) an option value against its field's type; `where` names its origin."""
    defaults: dict[str, Any] = {
        **{f.name: f.default for f in fields(ModelConfig)},
        **{f.name: f.default for f in fields(TrainConfig)},
        "dropout": 0.5,
        "mlp_dropout": 0.2,
        "attention_size": 1,
        "field_size": 1,
        "head_init": "fm",
        "mlp": [1],
    }
    d = defaults.get(key)
    if value is None or d is None and key in ("graph", "sparse", "pretrain"):
        return value
    if isinstance(d, bool):
        ok = isinstance(value, bool)
    elif isinstance(d, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(d, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(d, list):
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value)
        value = list(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise GemError(f"{where}: {key} = {value!r} is not a {type(d).__name__}")
    return value


# option -> (lowest, highest, lowest allowed itself, what it is): checked for every value, whatever its source
RANGES: dict[str, tuple[float, float, bool, str]] = {
    "lr": (0.0, 1e3, False, "a positive learning rate"),
    "l2": (0.0, 1e3, True, "a non-negative coefficient"),
    "weight_decay": (0.0, 1e3, True, "a non-negative coefficient"),
    "max_grad_norm": (0.0, 1e9, True, "a non-negative norm (0: no clipping)"),
    "init_std": (0.0, 10.0, False, "a positive standard deviation"),
    "adagrad_init": (0.0, 1e6, True, "a non-negative accumulator"),
    "dropout": (0.0, 1.0, True, "a probability below 1"),
    "mlp_dropout": (0.0, 1.0, True, "a probability below 1"),
    "gcn_dropout": (0.0, 1.0, True, "a probability below 1"),
    "embedding_size": (1, 65536, True, "between 1 and 65536"),
    "batch_size": (1, 1 << 24, True, "at least 1"),
    "eval_batch_size": (1, 1 << 24, True, "at least 1"),
    "epochs": (1, 1_000_000, True, "at least 1"),
    "patience": (1, 1_000_000, True, "at least 1"),
    "seed": (0, 2**32 - 1, True, "between 0 and 2^32-1"),
    "gcn_layers": (1, 16, True, "between 1 and 16"),
    "gcn_fanout": (0, 1_000_000, True, "0 (all) or a positive count"),
    "attention_size": (1, 65536, True, "at least 1"),
    "field_size": (1, 65536, True, "at least 1"),
}
CHOICES = {
    "gcn_dropout_on": ("output", "edges", "weights"),
    "optimizer": ("adagrad", "adam", "sgd"),
    "lr_schedule": SCHEDULES,
    "loss_reduction": ("sum", "mean"),
    "gcn_activation": ("none", "relu", "tanh"),
    "head_init": ("fm", "random"),
}


def check_option(key: str, value: Any, source: str) -> None:
    """One line naming the option (and where its value came from) when a value is out of its range."""
    import math

    where = f"--{key.replace('_', '-')}" + ("" if source == "option" else f" (from {source})")
    if key in RANGES and value is not None:
        lo, hi, closed, what = RANGES[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value <= hi
        ok = ok and (value >= lo if closed else value > lo)
        if key.endswith("dropout"):
            ok = ok and value < 1.0
        if not ok:
            raise GemError(f"{where} {value!r}: expected {what}")
    if key in CHOICES and value not in CHOICES[key]:
        raise GemError(f"{where} {value!r}: expected one of {', '.join(CHOICES[key])}")
    if key == "mlp" and value is not None and (not value or min(value) < 1 or max(value) > 1 << 20):
        raise GemError(f"{where} {value!r}: expected hidden sizes of at least 1, e.g. 200-200-200")
    if key == "task" and value is not None:
        from gemcli.tasks import task_names

        if value not in ("auto", *task_names()):
            raise GemError(f"{where} {value!r}: expected one of auto, {', '.join(task_names())}")
    if key == "monitor" and value is not None:
        from gemcli.tasks import all_metrics

        if value not in ("auto", *all_metrics()):
            raise GemError(f"{where} {value!r}: expected one of auto, {', '.join(all_metrics())}")
    if key == "device" and not (value in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", str(value))):
        raise GemError(f"{where} {value!r}: expected auto, cpu, cuda or cuda:N")


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
    for k in rec.options:
        if k not in OPTION_KEYS or k in NOT_IN_RECIPES:
            allowed = [o for o in OPTION_KEYS if o not in NOT_IN_RECIPES]
            raise GemError(f"{rec.path}: option {k!r} cannot be set by a recipe; recipe options: {', '.join(allowed)}")
    return {k: _typed(k, v, str(rec.path)) for k, v in rec.options.items()}


def recipe_embedder_options(rec: Recipe, embedder: str) -> dict[str, Any]:
    """A recipe's options for `embedder` ([embedder_options.NAME]), checked: embedders it names exist, each
    option is one of that embedder's (gcn's are the gcn_* options of [options])."""
    from gemcli.nn.embedders import embedder_class, embedder_names

    for name, opts in rec.embedder_options.items():
        if name not in embedder_names():
            known = ", ".join(embedder_names())
            raise GemError(f"{rec.path}: [embedder_options.{name}]: no such embedder; known: {known}")
        if name == "gcn":
            raise GemError(f"{rec.path}: [embedder_options.gcn]: the GCN's options are gcn_* keys of [options]")
        bad = [k for k in opts if k not in embedder_class(name).options]
        if bad:
            raise GemError(
                f"{rec.path}: [embedder_options.{name}] {bad[0]}: embedder {name} has no such option; its options: "
                f"{', '.join(embedder_class(name).options) or 'none'}"
            )
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
    """The flat option values of a run config (the inverse of what resolve_config assembles)."""
    m, t = cfg.model, cfg.train
    vals: dict[str, Any] = {k: getattr(m, k) for k in MODEL_KEYS}
    vals.update({k: getattr(t, k) for k in TRAIN_KEYS})
    vals.update(m.base_options)
    return vals


def relevant_keys(base: str, embedder: str) -> list[str]:
    """Options that change this model: gcn_* only with the gcn embedder, graph only with a graph embedder,
    base options only those the base takes."""
    from gemcli.nn.embedders import needs_graph

    keys = [
        k for k in MODEL_KEYS if k not in GCN_KEYS or (embedder == "gcn" or (k == "graph" and needs_graph(embedder)))
    ]
    return keys + list(TRAIN_KEYS) + list(base_option_defaults(base))


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
    for k, v in cfg.model.embedder_options.items():  # the embedder's own: given, or its recipe's
        groups.setdefault(sources.get(f"embedder_options.{k}", "option"), []).append(f"{cfg.model.embedder}.{k}={v}")
    order = sorted(groups, key=lambda s: (s != "option", s == "default", s))
    return "\n".join(f"  {src + ':':<22} {' '.join(groups[src])}" for src in order)


def resolve_config(
    base: str,
    embedder: str | bool,
    given: dict[str, Any],
    recipe: str | None = None,
    name: str = "",
    embedder_options: dict[str, Any] | None = None,
) -> Resolved:
    """The run config of `gem train`, `gem sweep`, `gem report table1 --run-missing` and the benchmark.

    For each option: the value given (command line, sweep point) wins, else the recipe's (`recipe`: a
    name or a TOML file; default: the model's default recipe), else the global default (the config
    dataclasses, and the base's own defaults for its options). `given` maps flat option names
    (OPTION_KEYS) to values; None means not given.
    """
    from gemcli.nn.embedders import embedder_class
    from gemcli.recipes import default_recipe, find_recipe

    if isinstance(embedder, bool):  # --gem / --no-gem
        embedder = "gcn" if embedder else "lookup"
    emb_cls = embedder_class(embedder)
    unknown = sorted(set(given) - set(OPTION_KEYS))
    if unknown:
        raise GemError(f"unknown option {unknown[0]!r}; known: {', '.join(OPTION_KEYS)}")
    extra = dict(embedder_options or {})
    if embedder == "gcn":  # its options are the --gcn-* options: --embedder-option layers=2 is --gcn-layers 2
        given = {**given, **{f"gcn_{k}": v for k, v in extra.items() if k in emb_cls.options}}
        extra = {k: v for k, v in extra.items() if k not in emb_cls.options}
    bad = [k for k in extra if k not in emb_cls.options]
    if bad:
        raise GemError(
            f"--embedder-option {bad[0]}: embedder {embedder} has no such option; its options: "
            f"{', '.join(emb_cls.options) or 'none'}"
        )
    rec = find_recipe(recipe) if recipe else default_recipe(base, embedder)
    rec_options = recipe_options(rec) if rec is not None else {}
    rec_extra = recipe_embedder_options(rec, embedder) if rec is not None else {}
    emb_sources = {f"embedder_options.{k}": f"recipe {rec.name}" for k in rec_extra} if rec is not None else {}
    emb_sources.update({f"embedder_options.{k}": "option" for k in extra})
    extra = {**rec_extra, **extra}  # --embedder-option wins over the recipe's
    base_defaults = base_option_defaults(base)
    defaults: dict[str, Any] = {
        **{k: getattr(ModelConfig(), k) for k in MODEL_KEYS},
        **{k: getattr(TrainConfig(), k) for k in TRAIN_KEYS},
        **base_defaults,
    }
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for k in OPTION_KEYS:
        if given.get(k) is not None:
            values[k], sources[k] = _typed(k, given[k], "option"), "option"
        elif rec is not None and k in rec_options:
            values[k], sources[k] = rec_options[k], f"recipe {rec.name}"
        elif k in defaults:
            values[k], sources[k] = _plain(defaults[k]), "default"
    check_base_keys(base, [k for k in values if sources[k] == "option"], "--")
    for k, v in values.items():
        check_option(k, v, sources[k])
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


def embedder_of(model: dict[str, Any]) -> str:
    """The embedder named by a saved model config (0.1.0 saved gem: bool)."""
    return str(model.get("embedder") or ("gcn" if model.get("gem") else "lookup"))


def saved_base_options(model: dict[str, Any]) -> dict[str, Any]:
    """A saved model config's base options as the version that wrote it meant them: INN's head_init came in after
    0.4.3, whose INN started its head at random."""
    options = dict(model.get("base_options") or {})
    if model.get("base") == "inn":
        options.setdefault("head_init", "random")
    return options


def config_key(cfg: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same experiment but for the seed: the model and training configs, without
    the seed, device and evaluation batch size; base options completed with the base's defaults (runs saved
    before the configs were complete compare equal to runs saved after), INN's head_init left out when it starts
    from a pretrained FM (start_from_fm sets the head then, whatever head_init says); a pretrain source named by
    seed (NAME-sSEED) counted without it."""
    model = dict(cfg["model"])
    if model.get("pretrain"):  # table1-deepfm-s1 starts from table1-fm-s1: the source's seed follows the run's
        model["pretrain"] = re.sub(r"-s\d+$", "-s*", re.sub(r"^\d{8}-\d{6}-", "", str(model["pretrain"])))
    try:
        model["base_options"] = {
            **base_option_defaults(model["base"]),
            **{k: _plain(v) for k, v in saved_base_options(model).items()},
        }
    except GemError:
        pass
    if model.get("pretrain"):
        model["base_options"] = {k: v for k, v in (model.get("base_options") or {}).items() if k != "head_init"}
    if "embedder" not in model:  # 0.1.0
        model["embedder"] = "gcn" if model.get("gem") else "lookup"
    model.pop("gem", None)
    model.setdefault("embedder_options", {})
    if model["embedder"] == "gcn":
        model.setdefault("gcn_dropout_on", "output")  # runs saved before 0.4.0 dropped the propagated rows
    if model["embedder"] != "gcn":
        for k in GCN_KEYS:
            if k != "graph" or model["embedder"] == "lookup":
                model.pop(k, None)
    train = {k: v for k, v in cfg["train"].items() if k not in ("seed", "device", "eval_batch_size")}
    train.setdefault("weight_decay", 0.0)  # runs saved before 0.4.1 had none
    train.setdefault("lr_schedule", "none")
    train.setdefault("max_grad_norm", 0.0)  # runs saved before it existed were never clipped
    train.setdefault("task", "regression")  # runs saved before tasks existed were regression, stopped on rmse
    train.setdefault("monitor", "rmse" if train["task"] == "regression" else "auc")
    return {"model": model, "train": train}


def differing(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(option, value in a, value in b) for each option of two config dicts (model/train) that differs."""

    def flat(c: dict[str, Any]) -> dict[str, Any]:
        m = dict(c.get("model", {}))
        opts = m.pop("base_options", {}) or {}
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
