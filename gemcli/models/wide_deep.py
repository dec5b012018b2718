"""Wide&Deep (Cheng et al., DLRS 2016): a linear (wide) part plus an MLP over the concatenated embeddings."""

from __future__ import annotations

import torch

from gemcli.models import register
from gemcli.models.base import BaseModel
from gemcli.nn.embedders import Embedder
from gemcli.nn.layers import MLP, concat_linear
from gemcli.options import base_options


@register("wide_deep", paper="Cheng et al., Wide & Deep Learning for Recommender Systems, DLRS 2016")
class WideDeep(BaseModel):
    """y = w0 + sum_i w_i + MLP([g_1; ...; g_F]).  Shapes: x [B, F] -> [B]."""

    embedder: Embedder

    options = base_options("mlp", "mlp_dropout")

    def __init__(
        self,
        embedder: Embedder,
        n_features: int,
        n_fields: int,
        mlp: tuple[int, ...] = (1024, 512, 256),
        mlp_dropout: float = 0.2,
        **_: object,
    ):
        super().__init__(embedder, n_features)
        self.deep = MLP(n_fields * embedder.dim, list(mlp), mlp_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, inverse = self.embedder.distinct(x)  # g(x) = r[inverse]
        return self.linear(x) + self.deep.tail(concat_linear(self.deep.first, r, inverse))
