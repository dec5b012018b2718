"""Base models: a registry by name; every base is handed an embedder and returns raw scores [B].

The built-in bases are the modules of this package, each named as its base (`builtin_names`: found on disk, in the
paper's order first); a package outside gemcli adds its own through the entry-point group `gemcli.bases`
(NAME = "module:Class", the class decorated `@register(NAME, paper=...)` or not).
This module does not import torch: the command line reads the bases' options without building one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from gemcli.errors import GemError
from gemcli.plugins import load_group

if TYPE_CHECKING:
    from torch import nn

    from gemcli.options import Option

MODELS: dict[str, type[nn.Module]] = {}
PAPER_ORDER = ("fm", "afm", "wide_deep", "deepfm", "nfm", "inn", "ifm")  # --base lists these first
NOT_BASES = ("base",)  # modules of this package that are not a base
C = TypeVar("C", bound=type)


def register(name: str, paper: str = "") -> Callable[[C], C]:
    """Register a base model class under `name` (the --base value)."""

    def deco(cls: C) -> C:
        MODELS[name] = cls
        cls.registry_name = name  # type: ignore[attr-defined]
        cls.paper = paper  # type: ignore[attr-defined]
        return cls

    return deco


@cache
def builtin_names() -> tuple[str, ...]:
    """The built-in bases: this package's modules (but NOT_BASES), without importing them."""
    import pkgutil

    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and m.name not in NOT_BASES}
    return (*(n for n in PAPER_ORDER if n in found), *sorted(found - set(PAPER_ORDER)))


def _load_all() -> None:
    """The built-in bases, then the plug-ins' (entry points `gemcli.bases`), each registered once."""
    import importlib

    for name in builtin_names():
        importlib.import_module(f"gemcli.models.{name}")
    for name, cls in load_group("gemcli.bases").items():
        if name not in MODELS:
            register(name, getattr(cls, "paper", ""))(cls)


def plugin_base_options() -> list[Option]:
    """The typed options that plug-in bases (entry points) declare beyond the built-in bases' shared ones, for
    the command line. Nothing is imported when no plug-in is installed (`gem --help` stays quick)."""
    from gemcli.options import BASE_OPTIONS, Option

    if not load_group("gemcli.bases", names_only=True) and not set(MODELS) - set(builtin_names()):
        return []
    _load_all()
    found: dict[str, Option] = {}
    for cls in MODELS.values():
        for o in getattr(cls, "options", ()):
            if isinstance(o, Option) and o.name not in BASE_OPTIONS and o.name not in found:
                found[o.name] = o
    return list(found.values())


def create_model(name: str, *, embedder: nn.Module, n_features: int, n_fields: int, **hparams: Any) -> nn.Module:
    """Build base `name` around `embedder`; options left as None keep the base's defaults."""
    _load_all()
    if name not in MODELS:
        raise GemError(f"unknown --base {name!r}; known: {', '.join(MODELS)}")
    from gemcli.options import declared_options

    cls = MODELS[name]
    accepted = {o.name for o in declared_options(getattr(cls, "options", ()), owner="base")}
    kwargs = {k: v for k, v in hparams.items() if v is not None and k in accepted}
    return cls(embedder=embedder, n_features=n_features, n_fields=n_fields, **kwargs)


def model_names() -> list[str]:
    _load_all()
    return list(MODELS)
