"""Base models: a registry by name; every base is handed an embedder and returns raw scores [B]."""

from __future__ import annotations

from typing import Any

from torch import nn

from gemcli.errors import GemError

MODELS: dict[str, type[nn.Module]] = {}


def register(name: str, paper: str):
    """Register a base model class under `name` (the --base value)."""

    def deco(cls):
        MODELS[name] = cls
        cls.registry_name = name
        cls.paper = paper
        return cls

    return deco


def _load_all() -> None:
    from gemcli.models import afm, deepfm, fm, ifm, inn, nfm, wide_deep  # noqa: F401


def create_model(name: str, *, embedder: nn.Module, n_features: int, n_fields: int, **hparams: Any) -> nn.Module:
    """Build base `name` around `embedder`; options left as None keep the base's defaults."""
    _load_all()
    if name not in MODELS:
        raise GemError(f"unknown --base {name!r}; known: {', '.join(MODELS)}")
    cls = MODELS[name]
    accepted = getattr(cls, "options", {})
    kwargs = {k: v for k, v in hparams.items() if v is not None and k in accepted}
    return cls(embedder=embedder, n_features=n_features, n_fields=n_fields, **kwargs)


def model_names() -> list[str]:
    _load_all()
    return list(MODELS)
