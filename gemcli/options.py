"""The option table: every option of `gem train`, `gem sweep` and `gem tune` declared once, typed.

An `Option` is a name (the flat name `--param NAME=`, recipes' `[options]` and the flag `--NAME` use, `_` as `-`),
a kind (int, float, str, bool, sizes), a default, a range or choices, a help text, and the part that owns it:

- `train` and `model`: the fields of `config.TrainConfig` and `config.ModelConfig`, declared there with `opt(...)`
  (the field is the declaration: its name, type and default; `opt` adds the range, choices and help);
- `base`: a base model's hyper-parameter (its default is the base's own, read from its constructor); the
  built-in bases share the declarations of `BASE_OPTIONS` below, a plug-in base declares its own `Option`s;
- `embedder:NAME`: an embedder's own option, stored in `ModelConfig.embedder_options` under `key`; GEM's GCN
  declares `GCN_OPTIONS` below, whose flags `--gcn-layers`, ... are aliases of `--embedder-option layers=...`.

The command-line parameters (gemcli.cli.options.with_options), config defaults, range checks and the parsing of
`--param`, `--embedder-option` and recipe values all come from here, so an option's rules cannot drift apart.
This module imports neither torch nor the models: `gem --help` builds its options without them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, TypeVar

from gemcli.errors import GemError

T = TypeVar("T")
OptionValue = int | float | str | bool | list[int] | None  # what an option holds (sizes: a list of ints)
KINDS = ("int", "float", "str", "bool", "sizes", "any")  # sizes: 200-200-200; any: an untyped plug-in option
MODEL, GEMP, OPT, RUN = "Model", "GEM embedder", "Optimisation", "Run"


@dataclass(frozen=True)
class Option:
    """One option: what it is, which values it takes, who owns it and how the command line shows it."""

    name: str
    kind: str  # one of KINDS
    default: OptionValue = None
    help: str = ""
    owner: str = "train"  # train | model | base | embedder:NAME
    low: float | None = None  # range, when numeric
    high: float | None = None
    low_open: bool = False  # the lowest value itself is refused (a learning rate of 0)
    high_open: bool = False  # the highest value itself is refused (a dropout of 1)
    what: str = ""  # the range in words, for the error line ("a positive learning rate")
    choices: tuple[str, ...] = ()
    nullable: bool = False  # None is a value of its own (graph, sparse, pretrain: decided later)
    recipe: bool = True  # a recipe may set it (seed, device, graph, ... are per run, not per model)
    panel: str = MODEL
    cli: bool = True  # a flag of gem train, sweep and tune
    key: str = ""  # an embedder's option: its key in embedder_options (gcn_layers -> layers)
    check: Callable[[OptionValue], str | None] | None = (
        None  # a further rule: None when the value is fine, else "expected ..."
    )

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def embedder(self) -> str | None:
        """The embedder that owns this option, or None."""
        return self.owner.split(":", 1)[1] if self.owner.startswith("embedder:") else None

    def with_default(self, default: OptionValue) -> Option:
        from dataclasses import replace

        return replace(self, default=default)

    # ------------------------------------------------------------ values

    def typed(self, value: object, where: str) -> OptionValue:
        """`value` as this option's kind (int widened to float, tuples of sizes as lists); one line naming `where`
        and the option otherwise."""
        if value is None and (self.nullable or self.default is None):
            return None
        kind = self.kind
        real = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind == "any" and isinstance(value, (int, float, str, bool, list)):
            return value  # a plug-in's untyped option: as given
        if kind == "bool" and isinstance(value, bool):
            return value
        if kind == "float" and real and isinstance(value, (int, float)):
            return float(value)
        if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind == "sizes" and isinstance(value, (list, tuple)):
            sizes = [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
            if len(sizes) == len(value):
                return sizes
        if kind == "str" and isinstance(value, str):
            return value
        shown = {"sizes": "list of sizes"}.get(kind, kind)
        raise GemError(f"{where}: {self.name} = {value!r} is not a {shown}")

    def validate(self, value: OptionValue, where: str) -> None:
        """One line naming `where` (e.g. '--lr', '--lr (from recipe fm)') when `value` is out of range or choices."""
        if value is None:
            return
        if self.low is not None or self.high is not None:
            ok = False
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
                ok = ok and (self.high is None or (value < self.high if self.high_open else value <= self.high))
            if not ok:
                too_big = isinstance(value, (int, float)) and self.high is not None and value >= self.high
                bound = f" (at most {self.high:g})" if too_big and self.what and not self.high_open else ""
                raise GemError(f"{where} {value!r}: expected {self.what or self._range_words()}{bound}")
        if self.choices and value not in self.choices:
            raise GemError(f"{where} {value!r}: expected one of {', '.join(self.choices)}")
        if self.kind == "sizes" and not (
            isinstance(value, list) and value and 1 <= min(value) <= max(value) <= 1 << 20
        ):
            raise GemError(f"{where} {value!r}: expected hidden sizes of at least 1, e.g. 200-200-200")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise GemError(f"{where} {value!r}: {problem}")

    def _range_words(self) -> str:
        lo = "" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = "" if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        return "a number " + " and ".join(p for p in (lo, hi) if p)

    def parse(self, text: str, where: str) -> OptionValue:
        """A value written as text (--param, --embedder-option, a sweep's --values) as this option's kind, checked:
        one line naming `where` and the text otherwise."""
        raw = text.strip()
        value: OptionValue
        try:
            if self.nullable and raw.lower() in ("none", "null"):
                return None
            if self.kind == "any":  # a plug-in's untyped option: the first of int, float, bool, text that reads it
                return _guess(raw)
            if self.kind == "bool":
                words = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
                value = words[raw.lower()]
            elif self.kind == "int":
                if not re.fullmatch(r"[+-]?\d{1,18}", raw):
                    raise ValueError
                value = int(raw)
            elif self.kind == "float":
                if len(raw) > 40:
                    raise ValueError
                value = float(raw)
            elif self.kind == "sizes":
                if not re.fullmatch(r"\d{1,9}(-\d{1,9})*", raw):
                    raise ValueError
                value = [int(v) for v in raw.split("-")]
            else:
                if not raw:
                    raise ValueError
                value = raw
        except (KeyError, ValueError):
            shown = {"sizes": "sizes like 64-32", "bool": "true or false"}.get(
                self.kind, f"a value of type {self.kind}"
            )
            raise GemError(f"{where}: {text!r} is not {shown}") from None
        self.validate(value, where)
        return value

    def show(self, value: OptionValue) -> str:
        """A value as the command line writes it (sizes as 200-200-200)."""
        return "-".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _guess(text: str) -> OptionValue:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def opt(default: T, **spec: Any) -> T:
    """A config dataclass field that is an option: `lr: float = opt(0.05, low=0, low_open=True, help=...)`. The
    field's name and type are the option's; `spec` holds the rest of `Option` (help, range, choices, panel, ...)."""
    return field(default=default, metadata={"option": spec})


def _kind_of(annotation: str) -> tuple[str, bool]:
    """(kind, nullable) of a field's annotation as written (`float`, `str | None`, `list[int]`)."""
    text = annotation.replace(" ", "")
    nullable = "|None" in text or "None|" in text or text.startswith("Optional[")
    text = text.replace("|None", "").replace("None|", "")
    if text.startswith(("list[int]", "tuple[int")):
        return "sizes", nullable
    for kind in ("bool", "int", "float", "str"):
        if text == kind:
            return kind, nullable
    raise TypeError(f"option of unsupported type {annotation!r}")


def options_of(cls: type, owner: str) -> list[Option]:
    """The options declared by a config dataclass's `opt(...)` fields, in field order."""
    found = []
    for f in fields(cls):
        spec = f.metadata.get("option")
        if spec is None:
            continue
        kind, nullable = _kind_of(f.type if isinstance(f.type, str) else f.type.__name__)
        found.append(Option(name=f.name, kind=kind, default=_field_default(f), owner=owner, nullable=nullable, **spec))
    return found


def _field_default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


def probability(**spec: Any) -> dict[str, Any]:
    return {"low": 0.0, "high": 1.0, "high_open": True, "what": "a probability below 1", **spec}


def at_least(n: int, high: float, **spec: Any) -> dict[str, Any]:
    return {"low": n, "high": high, "what": f"at least {n}", **spec}


# ---------------------------------------------------------------- the built-in bases' hyper-parameters
# Shared by the bases that take them (each base lists the ones it takes; their defaults are the base's own).
BASE_OPTIONS: dict[str, Option] = {
    o.name: o
    for o in (
        Option(
            "dropout",
            "float",
            help="The base's dropout (FM, DeepFM, NFM, IFM: on the interaction vector; AFM, INN: on the pooled "
            "vector). Default: the recipe's (GEM+FM 0.083), else the base's (0.5; AFM, INN 0.2).",
            owner="base",
            **probability(),
        ),
        Option(
            "mlp",
            "sizes",
            help="Hidden sizes, e.g. 200-200-200. Default: wide_deep 1024-512-256, deepfm 200-200-200, nfm 64, "
            "ifm 256-256.",
            owner="base",
        ),
        Option(
            "mlp_dropout",
            "float",
            help="Dropout after each hidden layer (wide_deep, deepfm, nfm). Default 0.2.",
            owner="base",
            **probability(),
        ),
        Option(
            "attention_size",
            "int",
            help="Attention size (afm, inn). Default 256.",
            owner="base",
            **at_least(1, 65536),
        ),
        Option("field_size", "int", help="Field embedding size (inn). Default 24.", owner="base", **at_least(1, 65536)),
        Option(
            "head_init",
            "str",
            help="How INN's field-pair weights and dense layer start (inn): fm (r_ij = 1, dense = P: with uniform "
            "attention INN starts as FM, as AFM starts as FM / P) or random (torch's default; gemcli 0.4.3 and "
            "before). Default fm; --pretrain sets them as fm does either way.",
            owner="base",
            choices=("fm", "random"),
        ),
    )
}


def base_options(*names: str) -> tuple[Option, ...]:
    """The shared declarations a built-in base takes (`options = base_options("dropout", "mlp")`)."""
    return tuple(BASE_OPTIONS[n] for n in names)


# ---------------------------------------------------------------- GEM's GCN embedder
# Its options live in embedder_options like every embedder's; --gcn-NAME are flags for --embedder-option NAME=.
GCN_OPTIONS: tuple[Option, ...] = (
    Option(
        "gcn_layers",
        "int",
        1,
        "GCN layers; one adds no parameters. Default 1.",
        owner="embedder:gcn",
        key="layers",
        panel=GEMP,
        **at_least(1, 16, what="between 1 and 16"),
    ),
    Option(
        "gcn_activation",
        "str",
        "none",
        "GCN activation sigma. Default none.",
        owner="embedder:gcn",
        key="activation",
        panel=GEMP,
        choices=("none", "relu", "tanh"),
    ),
    Option(
        "gcn_dropout",
        "float",
        0.0,
        "GCN dropout (where: --gcn-dropout-on). Default: the recipe's (GEM+FM 0.017), else 0.",
        owner="embedder:gcn",
        key="dropout",
        panel=GEMP,
        **probability(),
    ),
    Option(
        "gcn_dropout_on",
        "str",
        "output",
        "Where --gcn-dropout acts (the paper says only 'dropout in the GCN layer'): output (the propagated "
        "embeddings, GEM's rows; the default), edges (Â's entries, message dropout, rescaled), weights (W's rows, "
        "node dropout as in Kipf & Welling's featureless input, rescaled).",
        owner="embedder:gcn",
        key="dropout_on",
        panel=GEMP,
        choices=("output", "edges", "weights"),
    ),
    Option(
        "gcn_fanout",
        "int",
        0,
        "Training reads at most K neighbours per row of Â, drawn in proportion to Â(u, j) with replacement and "
        "weighted so the propagated row is unbiased (evaluation stays exact). Default 0: all neighbours, exact. "
        "Makes hub-heavy graphs (MovieLens tags) cheaper to train, at a cost in accuracy (results/movielens).",
        owner="embedder:gcn",
        key="fanout",
        panel=GEMP,
        low=0,
        high=1_000_000,
        what="0 (all) or a positive count",
    ),
)


def embedder_option(key: str, kind: str, default: OptionValue, help: str, **spec: Any) -> Option:
    """A plug-in embedder's typed option (its `options` tuple): `key` as `--embedder-option KEY=VALUE` sets it."""
    return Option(key, kind, default, help, owner="embedder", key=key, cli=False, **spec)


def declared_options(options: Any, owner: str) -> list[Option]:
    """A base's or an embedder's `options` as typed declarations: a tuple of `Option`, or (plug-ins before 0.5)
    a dict name -> help, whose names take the shared declaration of that name where one exists, else any value."""
    if isinstance(options, dict):
        known = {**BASE_OPTIONS} if owner == "base" else {}
        return [
            known.get(k) or Option(k, "any", None, str(h), owner=owner, key=k, cli=False) for k, h in options.items()
        ]
    return list(options)


FANOUT: dict[str, Any] = {"low": 0, "high": 1_000_000, "what": "0 (all) or a positive count"}


def by_name(options: Iterable[Option]) -> dict[str, Option]:
    table: dict[str, Option] = {}
    for o in options:
        if o.name in table:
            raise GemError(f"option {o.name!r} is declared twice ({table[o.name].owner} and {o.owner})")
        table[o.name] = o
    return table
