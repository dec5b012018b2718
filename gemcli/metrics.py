"""Metrics of this literature: RMSE and MAE on predictions clipped to the label range (and unclipped);
logloss and AUC for 0/1 labels."""

from __future__ import annotations

import numpy as np
import torch


def regression_metrics(pred: torch.Tensor, y: torch.Tensor, lo: float, hi: float) -> dict[str, float]:
    """pred, y [n] -> rmse, mae (clipped to [lo, hi]) and their unclipped values."""
    pred, y = pred.double(), y.double()
    err = pred.clamp(lo, hi) - y
    raw = pred - y
    return {
        "rmse": float(err.square().mean().sqrt()),
        "mae": float(err.abs().mean()),
        "rmse_unclipped": float(raw.square().mean().sqrt()),
        "mae_unclipped": float(raw.abs().mean()),
    }


def auc(score: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum formula, ties averaged."""
    from scipy.stats import rankdata

    pos = y > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_metrics(pred: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """For 0/1 labels: the raw score read as a probability after clipping to [eps, 1 - eps]."""
    p = pred.double().clamp(1e-7, 1 - 1e-7).numpy()
    t = y.double().numpy()
    return {"logloss": float(-(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()), "auc": auc(p, t)}
