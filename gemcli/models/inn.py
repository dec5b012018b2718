"""INN: Interaction-aware Factorization Machines for recommender systems (Hong et al., AAAI 2019)."""

from __future__ import annotations

import torch
from torch import nn

from gemcli.models import register
from gemcli.models.base import BaseModel
from gemcli.nn.embedders import Embedder
from gemcli.nn.layers import Dropout, PairwiseAttention, pair_index, pair_products
from gemcli.options import base_options


@register("inn", paper="Hong et al., Interaction-aware Factorization Machines (INN/IFM-style field weights), AAAI 2019")
class INN(BaseModel):
    """Feature-level attention a_ij (as AFM) times field-pair weights r_{f(i)f(j)} = P (u_f(i) * u_f(j)),
    u the field embeddings [F, k] and P [k -> D]; the weighted sum of pair products goes through a
    dense layer D -> 1:  y = w0 + sum_i w_i + dense(sum_{i<j} a_ij r_ij * (g_i * g_j)).

    Shapes: x [B, F] -> [B].
    """

    embedder: Embedder
    rows: torch.Tensor  # buffers: the field pairs (i, j), i < j
    cols: torch.Tensor

    options = base_options("attention_size", "field_size", "dropout", "head_init")

    def __init__(
        self,
        embedder: Embedder,
        n_features: int,
        n_fields: int,
        attention_size: int = 256,
        field_size: int = 24,
        dropout: float = 0.2,
        head_init: str = "fm",
        **_: object,
    ):
        super().__init__(embedder, n_features)
        dim = embedder.dim
        self.attention = PairwiseAttention(dim, attention_size)
        self.fields = nn.Parameter(torch.randn(n_fields, field_size) * 0.1)
        self.project = nn.Linear(field_size, dim)
        self.drop = Dropout(dropout)
        self.dense = nn.Linear(dim, 1)
        rows, cols = pair_index(n_fields)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        if head_init == "fm":  # after every random draw, so the other parameters start as with "random"
            self.start_from_fm()
        elif head_init != "random":
            raise ValueError(f"head_init must be fm or random, got {head_init!r}")

    def field_weights(self) -> torch.Tensor:
        """r_ij for every field pair [P, D]."""
        return self.project(self.fields[self.rows] * self.fields[self.cols])

    def row_floats(self, n_fields: int) -> int:
        """Floats per input row of the widest tensor a forward makes: the pair products and the attention's
        hidden layer, [P, D] and [P, attention_size] (gemcli.train.eval_rows sizes evaluation batches by it)."""
        return len(self.rows) * max(self.dense.in_features, self.attention.w.out_features)

    def start_from_fm(self) -> None:
        """dense = P * 1 and r_ij = 1, so that with uniform attention the model is FM: after --pretrain, and at
        construction with head_init "fm". From a random start with a random head (head_init "random"), GEM+INN on
        Frappe grew its embeddings to make up for the small head (norm ~4 against ~0.6) and its attention piled
        onto one pair of the 45 (entropy 1.1 nats against log 45 = 3.8; scripts/attention.py), then stalled at
        test RMSE 0.43-0.45 (results/frappe/converged.md)."""
        with torch.no_grad():
            self.project.weight.zero_()
            self.project.bias.fill_(1.0)
            self.dense.weight.fill_(float(len(self.rows)))
            self.dense.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pairs = pair_products(self.embedder(x))  # [B, P, D]
        weighted = pairs * self.field_weights()  # [B, P, D]
        pooled = (self.attention(pairs) * weighted).sum(dim=1)  # [B, D]
        return self.linear(x) + self.dense(self.drop(pooled)).squeeze(-1)
