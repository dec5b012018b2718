"""The task registry: what a model's raw score means, the loss it trains on, the metrics it is judged by.

A task is one file and a registration (`@register_task(NAME)`): `regression` (the paper's square loss on
±1 labels, RMSE/MAE) and `binary` (click-through rate: cross-entropy on logits, AUC/logloss). The task of a
run is decided once (`resolve_task`): the one given (`gem train --task`), else the one the data's labels
imply (meta.json's `task`, written by `gem preprocess`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from gemcli.errors import GemError

HIGHER_IS_BETTER = frozenset({"auc"})


class Task:
    """name: the registry key. metrics: what `evaluate` returns per split. headline: the two metrics tables and
    figures show. monitor: the default early-stopping metric. train_loss: the name of the per-sample training
    loss as reported ('mse', 'logloss'). finite: the metric whose non-finite value means the run diverged."""

    name: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    headline: ClassVar[tuple[str, str]]
    monitor: ClassVar[str]
    train_loss: ClassVar[str]
    finite: ClassVar[str]
    summary: ClassVar[str]

    def check_labels(self, y: np.ndarray, where: str | Path) -> None:
        """Stop with one line when labels cannot serve this task."""

    def loss(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample training loss [B] of raw scores [B] against labels [B]."""
        raise NotImplementedError

    def predictions(self, scores: torch.Tensor) -> torch.Tensor:
        """What a raw score [n] predicts (the label itself, or a probability)."""
        return scores

    def evaluate(self, pred: torch.Tensor, y: torch.Tensor, label_range: tuple[float, float]) -> dict[str, float]:
        """Metrics of predictions [n] against labels [n]."""
        raise NotImplementedError


TASKS: dict[str, type[Task]] = {}


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    def deco(cls: type[Task]) -> type[Task]:
        cls.name = name
        TASKS[name] = cls
        return cls

    return deco


def task_names() -> list[str]:
    _load_all()
    return list(TASKS)


def get_task(name: str) -> Task:
    _load_all()
    if name not in TASKS:
        raise GemError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]()


def all_metrics() -> list[str]:
    """Every metric some task reports (the choices of --monitor)."""
    _load_all()
    seen: dict[str, None] = {}
    for cls in TASKS.values():
        seen.update(dict.fromkeys(cls.metrics))
    return list(seen)


def higher_is_better(metric: str) -> bool:
    return metric in HIGHER_IS_BETTER


def labels_task(labels: np.ndarray) -> str:
    """The task labels imply: binary for labels all 0 or 1 (both present), regression otherwise."""
    values = np.unique(labels)
    return "binary" if len(values) == 2 and set(values.tolist()) == {0.0, 1.0} else "regression"


def resolve_task(given: str | None, data_task: str) -> str:
    """The run's task: the one given ('auto' or None: the data's)."""
    name = data_task if given in (None, "auto") else given
    get_task(str(name))
    return str(name)


def resolve_monitor(given: str | None, task: str) -> str:
    """The early-stopping metric: the one given ('auto' or None: the task's own); it must be one the task reports."""
    t = get_task(task)
    if given in (None, "auto"):
        return t.monitor
    if given not in t.metrics:
        raise GemError(f"--monitor {given!r}: the {task} task reports {', '.join(t.metrics)}")
    return str(given)


def task_of(summary_or_config: dict[str, Any]) -> str:
    """The task of a run from its summary.json or config.json; runs saved before tasks existed (no task, or a
    config read back as "auto") were regression."""
    task = summary_or_config.get("task") or (summary_or_config.get("train") or {}).get("task") or "regression"
    return "regression" if task == "auto" else str(task)


def headline_of(summary_or_config: dict[str, Any]) -> tuple[str, str]:
    """The two headline metrics of a run from its summary.json or config.json (older runs: regression)."""
    return get_task(task_of(summary_or_config)).headline


def _load_all() -> None:
    """The built-in tasks, then the plug-ins' (entry points `gemcli.tasks`: NAME = "module:TaskClass")."""
    from gemcli.plugins import load_group
    from gemcli.tasks import binary, regression  # noqa: F401

    for name, cls in load_group("gemcli.tasks").items():
        if name not in TASKS:
            register_task(name)(cls)
