"""NFM: Neural Factorization Machines (He & Chua, SIGIR 2017)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gemcli.models import register
from gemcli.nn.embedders import Embedder
from gemcli.nn.layers import MLP, Dropout, FeaturesLinear, bi_interaction_pooled


@register("nfm", paper="He & Chua, Neural Factorization Machines, SIGIR 2017")
class NFM(nn.Module):
    """y = w0 + sum_i w_i + MLP(dropout(bi-interaction pooling of g)).  Shapes: x [B, F] -> [B]."""

    embedder: Embedder

    options = {
        "mlp": "hidden sizes above the bi-interaction pooling (paper 64, 128 or 256; default 64)",
        "mlp_dropout": "dropout after each hidden layer (default 0.2)",
        "dropout": "dropout on the bi-interaction vector (default 0.5)",
    }

    def __init__(
        self,
        embedder: Embedder,
        n_features: int,
        n_fields: int,
        mlp: tuple[int, ...] = (64,),
        mlp_dropout: float = 0.2,
        dropout: float = 0.5,
        **_: Any,
    ):
        super().__init__()
        self.embedder = embedder
        self.linear = FeaturesLinear(n_features, sparse=getattr(embedder, "sparse", False))
        self.drop = Dropout(dropout)
        self.deep = MLP(embedder.dim, list(mlp), mlp_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, q = self.embedder.pooled(x)  # [B, D] each
        return self.linear(x) + self.deep(self.drop(bi_interaction_pooled(s, q)))
