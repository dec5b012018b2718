"""DeepFM (Guo et al., IJCAI 2017): FM and an MLP over the same embeddings, summed."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gemcli.models import register
from gemcli.nn.embedders import Embedder, pooled_sums
from gemcli.nn.layers import MLP, Dropout, FeaturesLinear, bi_interaction_pooled, concat_linear


@register("deepfm", paper="Guo et al., DeepFM, IJCAI 2017")
class DeepFM(nn.Module):
    """y = w0 + sum_i w_i + sum_f dropout(bi(g))_f + MLP([g_1; ...; g_F]).  Shapes: x [B, F] -> [B]."""

    embedder: Embedder

    options = {
        "mlp": "hidden sizes of the deep part (default 200-200-200)",
        "mlp_dropout": "dropout after each hidden layer (default 0.2)",
        "dropout": "dropout on FM's interaction vector (default 0.5)",
    }

    def __init__(
        self,
        embedder: Embedder,
        n_features: int,
        n_fields: int,
        mlp: tuple[int, ...] = (200, 200, 200),
        mlp_dropout: float = 0.2,
        dropout: float = 0.5,
        **_: Any,
    ):
        super().__init__()
        self.embedder = embedder
        self.linear = FeaturesLinear(n_features, sparse=getattr(embedder, "sparse", False))
        self.drop = Dropout(dropout)
        self.deep = MLP(n_fields * embedder.dim, list(mlp), mlp_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, inverse = self.embedder.distinct(x)  # g(x) = r[inverse]: r [U, D], inverse [B, F]
        s, q = pooled_sums(r, inverse)
        deep = self.deep.tail(concat_linear(self.deep.first, r, inverse))  # = self.deep(g(x).flatten(1))
        return self.linear(x) + self.drop(bi_interaction_pooled(s, q)).sum(dim=1) + deep
