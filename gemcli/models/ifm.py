"""IFM: Input-aware Factorization Machines (Yu et al., IJCAI 2019)."""

from __future__ import annotations

import torch
from torch import nn

from gemcli.models import register
from gemcli.models.base import BaseModel
from gemcli.nn.embedders import Embedder
from gemcli.nn.layers import MLP, Dropout, bi_interaction, concat_linear
from gemcli.options import base_options


@register("ifm", paper="Yu et al., Input-aware Factorization Machines, IJCAI 2019")
class IFM(BaseModel):
    """A factor-estimating network m(x) = F * softmax(MLP([g_1; ...; g_F])) [B, F] re-weights each field's
    embedding and linear weight per input, then FM:  y = w0 + sum_i m_i w_i + sum_f dropout(bi(m * g))_f.

    Shapes: x [B, F] -> [B].
    """

    embedder: Embedder

    options = base_options("mlp", "dropout")

    def __init__(
        self,
        embedder: Embedder,
        n_features: int,
        n_fields: int,
        mlp: tuple[int, ...] = (256, 256),
        dropout: float = 0.5,
        **_: object,
    ):
        super().__init__(embedder, n_features)
        dim = embedder.dim
        self.fen = MLP(n_fields * dim, list(mlp), 0.0, output=False)
        self.fen_out = nn.Linear(mlp[-1], n_fields)
        self.drop = Dropout(dropout)
        self.n_fields = n_fields

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, inverse = self.embedder.distinct(x)  # g(x) = r[inverse]
        h = self.fen.tail(concat_linear(self.fen.first, r, inverse))  # = self.fen(g(x).flatten(1))
        m = self.n_fields * torch.softmax(self.fen_out(h), dim=1)  # [B, F]
        e = r[inverse]  # [B, F, D]
        w = self.linear.weights(x)  # [B, F] (through the row-sparse path in sparse training)
        first = self.linear.bias + (m * w).sum(dim=1)
        return first + self.drop(bi_interaction(e * m.unsqueeze(-1))).sum(dim=1)
