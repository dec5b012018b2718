"""What every base shares: it is handed an embedder, and its first-order terms w0 + sum_i w_i are a plain lookup
(FeaturesLinear), row-sparse when the embedder trains in sparse mode."""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from gemcli.nn.embedders import Embedder
from gemcli.nn.layers import FeaturesLinear
from gemcli.options import Option


class BaseModel(nn.Module):
    """A base model: `embedder` (g(x_i)) and `linear` (w0 + sum_i w_i), set up here for every base.

    Subclasses declare `options` (typed: gemcli.options; the built-in bases share `base_options(...)`), take them
    as constructor keywords (their defaults are the base's), and define forward(x [B, F]) -> raw scores [B].
    """

    embedder: Embedder
    options: ClassVar[tuple[Option, ...]] = ()
    registry_name: ClassVar[str]
    paper: ClassVar[str]

    def __init__(self, embedder: Embedder, n_features: int):
        super().__init__()
        self.embedder = embedder
        self.linear = FeaturesLinear(n_features, sparse=getattr(embedder, "sparse", False))
