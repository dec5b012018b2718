"""Binary classification (click-through rate): the raw score is a logit; binary cross-entropy on logits,
predictions sigmoid(score), AUC and logloss (BARS, FuxiCTR, DeepCTR-Torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gemcli.errors import GemError
from gemcli.metrics import classification_metrics
from gemcli.tasks import Task, register_task


@register_task("binary")
class Binary(Task):
    metrics = ("auc", "logloss")
    headline = ("auc", "logloss")
    monitor = "auc"
    train_loss = "logloss"
    finite = "logloss"
    summary = "cross-entropy on logits; AUC, logloss (0/1 labels, click-through rate)"

    def check_labels(self, y: np.ndarray, where: str | Path) -> None:
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise GemError(
                f"{where}: row {i + 1}: label {y[i]:g} under the binary task, which needs labels 0 or 1 "
                "(`gem preprocess frappe|movielens|libfm ... --labels 01` gives 0/1 labels; or train with --task "
                "regression)"
            )

    def loss(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """-[y log σ(s) + (1 - y) log(1 - σ(s))] [B], computed stably from the logits."""
        return F.binary_cross_entropy_with_logits(scores, y, reduction="none")

    def predictions(self, scores: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(scores)

    def evaluate(self, pred: torch.Tensor, y: torch.Tensor, label_range: tuple[float, float]) -> dict[str, float]:
        return classification_metrics(pred, y)
