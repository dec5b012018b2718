"""AFM: Attentional Factorization Machines (Xiao et al., IJCAI 2017)."""

from __future__ import annotations

import torch
from torch import nn

from gemcli.models import register
from gemcli.models.base import BaseModel
from gemcli.nn.embedders import Embedder
from gemcli.nn.layers import (
    Dropout,
    PairwiseAttention,
    pair_products,
    pair_weighted_sum,
)
from gemcli.options import base_options


@register("afm", paper="Xiao et al., Attentional Factorization Machines, IJCAI 2017")
class AFM(BaseModel):
    """y = w0 + sum_i w_i + p^T sum_{i<j} a_ij (g_i * g_j), a = softmax_ij(h^T relu(W (g_i * g_j) + b)).

    Shapes: x [B, F] -> [B].
    """

    embedder: Embedder

    options = base_options("attention_size", "dropout")

    def __init__(
        self,
        embedder: Embedder,
        n_features: int,
        n_fields: int,
        attention_size: int = 256,
        dropout: float = 0.2,
        **_: object,
    ):
        super().__init__(embedder, n_features)
        dim = embedder.dim
        self.attention = PairwiseAttention(dim, attention_size)
        self.drop = Dropout(dropout)
        self.p = nn.Parameter(torch.ones(dim))
        self.n_pairs = n_fields * (n_fields - 1) // 2

    def row_floats(self, n_fields: int) -> int:
        """Floats per input row of the widest tensor a forward makes: the pair products and the attention's
        hidden layer, [P, D] and [P, attention_size] (gemcli.train.eval_rows sizes evaluation batches by it)."""
        return self.n_pairs * max(self.p.numel(), self.attention.w.out_features)

    def start_from_fm(self) -> None:
        """After --pretrain: p = P * 1, so that with uniform attention (a_ij = 1/P) the model is FM."""
        with torch.no_grad():
            self.p.fill_(float(self.n_pairs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embedder(x)  # [B, F, D]
        a = self.attention(pair_products(e)).squeeze(-1)  # [B, P]
        pooled = pair_weighted_sum(e, a)  # [B, D]
        return self.linear(x) + self.drop(pooled) @ self.p
