"""FM: Factorization Machines (Rendle, ICDM 2010), with dropout after the interaction (He & Chua 2017)."""

from __future__ import annotations

import torch

from gemcli.models import register
from gemcli.models.base import BaseModel
from gemcli.nn.embedders import Embedder
from gemcli.nn.layers import Dropout, bi_interaction_pooled
from gemcli.options import base_options


@register("fm", paper="Rendle, Factorization Machines, ICDM 2010")
class FM(BaseModel):
    """y = w0 + sum_i w_i + sum_f dropout(1/2 [(sum_i g_if)^2 - sum_i g_if^2]).

    With a lookup embedder g(x_i) = v_i this is FM; with a GCN embedder it is GEM+FM (eq. 3-4).
    Shapes: x [B, F] -> [B].
    """

    embedder: Embedder

    options = base_options("dropout")

    def __init__(self, embedder: Embedder, n_features: int, n_fields: int, dropout: float = 0.5, **_: object):
        super().__init__(embedder, n_features)
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, q = self.embedder.pooled(x)  # [B, D] each: sum_i g(x_i), sum_i g(x_i)^2
        return self.linear(x) + self.drop(bi_interaction_pooled(s, q)).sum(dim=1)
