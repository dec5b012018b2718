"""NFM: Neural Factorization Machines (He & Chua, SIGIR 2017)."""

from __future__ import annotations

import torch

from gemcli.models import register
from gemcli.models.base import BaseModel
from gemcli.nn.embedders import Embedder
from gemcli.nn.layers import MLP, Dropout, bi_interaction_pooled
from gemcli.options import base_options


@register("nfm", paper="He & Chua, Neural Factorization Machines, SIGIR 2017")
class NFM(BaseModel):
    """y = w0 + sum_i w_i + MLP(dropout(bi-interaction pooling of g)).  Shapes: x [B, F] -> [B]."""

    embedder: Embedder

    options = base_options("mlp", "mlp_dropout", "dropout")

    def __init__(
        self,
        embedder: Embedder,
        n_features: int,
        n_fields: int,
        mlp: tuple[int, ...] = (64,),
        mlp_dropout: float = 0.2,
        dropout: float = 0.5,
        **_: object,
    ):
        super().__init__(embedder, n_features)
        self.drop = Dropout(dropout)
        self.deep = MLP(embedder.dim, list(mlp), mlp_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, q = self.embedder.pooled(x)  # [B, D] each
        return self.linear(x) + self.deep(self.drop(bi_interaction_pooled(s, q)))
