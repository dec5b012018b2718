"""Regression on the paper's ±1 labels: square loss (eq. 8 without the L2 term), RMSE and MAE on predictions
clipped to the label range (and unclipped)."""

from __future__ import annotations

import torch

from gemcli.metrics import regression_metrics
from gemcli.tasks import Task, register_task


@register_task("regression")
class Regression(Task):
    metrics = ("rmse", "mae", "rmse_unclipped", "mae_unclipped")
    headline = ("rmse", "mae")
    monitor = "rmse"
    train_loss = "mse"
    finite = "rmse_unclipped"
    summary = "square loss; RMSE, MAE (the paper's protocol, ±1 labels)"

    def loss(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(ŷ - y)^2 [B]."""
        return (scores - y).square()

    def evaluate(self, pred: torch.Tensor, y: torch.Tensor, label_range: tuple[float, float]) -> dict[str, float]:
        return regression_metrics(pred, y, *label_range)
