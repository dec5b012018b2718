"""Learning-rate schedules, by epoch (`--lr-schedule`): the step size of epoch e from the run's own history, so
that a resumed run takes the same steps as an uninterrupted one (nothing beyond metrics.jsonl is needed).

    none     lr_e = lr
    cosine   lr_e = lr * (1 + cos(pi (e - 1) / E)) / 2          E: --epochs (the cap); e = 1..E
    plateau  lr halves after each run of more than PLATEAU_PATIENCE epochs without a better validation score
             (the early-stopping metric), as torch's ReduceLROnPlateau(factor=0.5, patience=2, threshold=0)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from gemcli.optim import RowSparseOptimizer

SCHEDULES = ("none", "cosine", "plateau")
PLATEAU_FACTOR = 0.5
PLATEAU_PATIENCE = 2


def lr_at(schedule: str, lr: float, epoch: int, epochs: int, scores: list[float]) -> float:
    """The step size of `epoch` (1-based); `scores` are the earlier epochs' monitored validation scores, lower
    better (AUC negated), in order."""
    if schedule == "cosine":
        return lr * (1 + math.cos(math.pi * (epoch - 1) / max(epochs, 1))) / 2
    if schedule == "plateau":
        best, bad = math.inf, 0
        for s in scores[: epoch - 1]:
            if s < best:
                best, bad = s, 0
            else:
                bad += 1
                if bad > PLATEAU_PATIENCE:
                    lr, bad = lr * PLATEAU_FACTOR, 0
        return lr
    return lr


def set_lr(optimizer: torch.optim.Optimizer | RowSparseOptimizer, lr: float) -> None:
    """Give every parameter group of a torch optimiser (and a row-sparse optimiser's tables) the step size."""
    from gemcli.optim import RowSparseOptimizer

    if not isinstance(optimizer, RowSparseOptimizer):
        for g in optimizer.param_groups:
            g["lr"] = lr
    else:  # its tables, and torch's on the rest
        optimizer.lr = lr
        if optimizer.dense is not None:
            set_lr(optimizer.dense, lr)
