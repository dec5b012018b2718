"""DeepFM (Guo et al., IJCAI 2017): FM and an MLP over the same embeddings, summed."""

from __future__ import annotations

import torch

from gemcli.models import register
from gemcli.models.base import BaseModel
from gemcli.nn.embedders import Embedder, pooled_sums
from gemcli.nn.layers import MLP, Dropout, bi_interaction_pooled, concat_linear
from gemcli.options import base_options


@register("deepfm", paper="Guo et al., DeepFM, IJCAI 2017")
class DeepFM(BaseModel):
    """y = w0 + sum_i w_i + sum_f dropout(bi(g))_f + MLP([g_1; ...; g_F]).  Shapes: x [B, F] -> [B]."""

    embedder: Embedder

    options = base_options("mlp", "mlp_dropout", "dropout")

    def __init__(
        self,
        embedder: Embedder,
        n_features: int,
        n_fields: int,
        mlp: tuple[int, ...] = (200, 200, 200),
        mlp_dropout: float = 0.2,
        dropout: float = 0.5,
        **_: object,
    ):
        super().__init__(embedder, n_features)
        self.drop = Dropout(dropout)
        self.deep = MLP(n_fields * embedder.dim, list(mlp), mlp_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, inverse = self.embedder.distinct(x)  # g(x) = r[inverse]: r [U, D], inverse [B, F]
        s, q = pooled_sums(r, inverse)
        deep = self.deep.tail(concat_linear(self.deep.first, r, inverse))  # = self.deep(g(x).flatten(1))
        return self.linear(x) + self.drop(bi_interaction_pooled(s, q)).sum(dim=1) + deep
