"""Embedding functions g(x_i): the one place where GEM differs from its base model.

Contract: forward(x: LongTensor[B, F]) -> Tensor[B, F, D]. A base model is handed an embedder and
never builds its own lookup; its linear terms w_i stay plain lookups.

- lookup: v_i = V[i], the plain table of FM (Rendle 2010).
- gcn:    g(x_i) = G_L[i], G_1 = sigma(Â W_1), G_l = sigma(Â G_{l-1} W_l) (GEM, eq. 5; Kipf & Welling 2017).
- sage, gat, lightgcn, transformer: one module each (gemcli/nn/sage.py, ...), registered when first asked for.

Every embedder computes the rows of its table that a batch touches (`rows`), once per distinct
feature; `forward` spreads them to [B, F, D] and `pooled` sums them per instance without ever
materialising [B, F, D] (what FM-style interactions need, and several times faster on a CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar

import scipy.sparse as sp
import torch
from torch import nn

from gemcli.errors import GemError
from gemcli.nn.layers import Dropout, pool_rows
from gemcli.nn.propagate import CachedTable, SparseRows
from gemcli.optim import RowSparse
from gemcli.options import GCN_OPTIONS, Option
from gemcli.plugins import load_group


class HasEmbedderOptions(Protocol):
    """What `Embedder.build` reads of a model config (gemcli.config.ModelConfig), without importing it."""

    embedder_options: dict[str, Any]


ACTIVATIONS = {"none": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh}
DROPOUT_ON = ("output", "edges", "weights")  # where the GCN's dropout acts (GCNEmbedder)
EMBEDDERS: dict[str, type[Embedder]] = {}


E = TypeVar("E", bound="type[Embedder]")


def register_embedder(name: str) -> Callable[[E], E]:
    """Register an Embedder subclass under `name` (the --embedder value). A plug-in is one class: its
    `needs_graph`, its typed `options` (gemcli.options.embedder_option; set with --embedder-option NAME=VALUE)
    and, if its constructor needs more than the table's shape and the options, a `build` classmethod."""

    def deco(cls: E) -> E:
        EMBEDDERS[name] = cls
        cls.registry_name = name
        return cls

    return deco


BUILTIN = ("sage", "gat", "lightgcn", "transformer")  # modules of gemcli.nn, each registering one embedder


def _load_all() -> None:
    """Import the embedders that live in their own modules (each registers itself when imported; they import
    this module, never the other way at import time), then the plug-ins' (entry points `gemcli.embedders`)."""
    import importlib

    for name in BUILTIN:
        importlib.import_module(f"gemcli.nn.{name}")
    for name, cls in load_group("gemcli.embedders").items():
        if name not in EMBEDDERS:
            register_embedder(name)(cls)


def embedder_names() -> list[str]:
    _load_all()
    return list(EMBEDDERS)


def embedder_class(name: str) -> type[Embedder]:
    _load_all()
    if name not in EMBEDDERS:
        raise GemError(f"unknown --embedder {name!r}; known: {', '.join(EMBEDDERS)}")
    return EMBEDDERS[name]


def needs_graph(name: str) -> bool:
    """Whether the embedder `name` takes its embeddings from the feature graph (GEM's embedders do)."""
    return bool(embedder_class(name).needs_graph)


def create_embedder(name: str, **kwargs: Any) -> Embedder:
    return embedder_class(name)(**{k: v for k, v in kwargs.items() if v is not None})


def pooled_sums(r: torch.Tensor, inverse: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum_f r[inverse[:, f]], sum_f r[inverse[:, f]]^2), each [B, D], in one embedding bag."""
    d = r.shape[1]
    both = pool_rows(torch.cat([r, r * r], dim=1), inverse)
    return both[:, :d], both[:, d:]


class Embedder(nn.Module):
    """Base: subclasses define rows(nodes[U]) -> [U, D] (differentiable) and table() -> [N, D].

    sparse: the model trains in sparse mode (its linear weights go row-sparse too);
    row_sparse: this embedder's own `weight` is updated row by row (gemcli/optim.py).
    """

    weight: nn.Parameter
    sparse: bool = False
    row_sparse: bool = False
    needs_graph: bool = False  # built over the run directory's graph
    operator: str = (
        "sym"  # the graph as it wants it (gemcli.graph.load_operator): sym = Â, rw = D^-1 (A + I), adjacency
    )
    # its own options (--embedder-option KEY=VALUE), typed: gemcli.options.embedder_option; plug-ins written before
    # 0.5 may still give a dict name -> help (values then read as int, float, true/false or text)
    options: ClassVar[tuple[Option, ...] | dict[str, str]] = ()
    registry_name: ClassVar[str]

    @classmethod
    def build(
        cls,
        *,
        n_features: int,
        dim: int,
        init_std: float,
        sparse: bool,
        adjacency: sp.csr_matrix | None,
        model_config: HasEmbedderOptions,
    ) -> Embedder:
        """The embedder of a model config: the table's shape, and its options (`embedder_options`)."""
        extra = {"adjacency": adjacency} if cls.needs_graph else {}
        return cls(
            n_features=n_features, dim=dim, init_std=init_std, sparse=sparse, **extra, **model_config.embedder_options
        )

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    def rows(self, nodes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def table(self) -> torch.Tensor:
        raise NotImplementedError

    def distinct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, F] -> (rows of the batch's distinct features r [U, D], inverse [B, F]): g(x) = r[inverse]."""
        nodes, inverse = torch.unique(x, return_inverse=True)
        return self.rows(nodes), inverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, F] -> [B, F, D]."""
        r, inverse = self.distinct(x)
        return r[inverse]

    def pooled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, F] -> (sum_i g(x_i) [B, D], sum_i g(x_i)^2 [B, D])."""
        return pooled_sums(*self.distinct(x))


def check_graph(adjacency: sp.csr_matrix, n_features: int) -> None:
    """A graph embedder's operator has one row and column per feature of the data."""
    if adjacency.shape != (n_features, n_features):
        raise GemError(f"graph has {adjacency.shape[0]} nodes but the data has {n_features} features")


class GraphEmbedder(CachedTable, Embedder):
    """What the graph embedders beyond GCN share: the graph's shape checked, training rows computed fresh
    (`compute(nodes, training=True)`: fanout draws, dropout), evaluation rows from the cached table (the whole
    table once, `compute(every node, training=False)`, in chunks of `chunk` rows when set, to bound the
    temporaries)."""

    needs_graph = True
    chunk: int | None = None

    @staticmethod
    def check_heads(heads: int, dim: int) -> None:
        """Attention heads must split the embedding size."""
        if heads < 1 or dim % heads:
            raise GemError(f"--embedder-option heads={heads}: the embedding size {dim} must split into heads")

    def compute(self, nodes: torch.Tensor, training: bool) -> torch.Tensor:
        """g(nodes) [U, D]."""
        raise NotImplementedError

    def rows(self, nodes: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.drop_cache()
            return self.compute(nodes, True)
        return self.cached_rows(nodes)

    def table(self) -> torch.Tensor:
        every = torch.arange(self.weight.shape[0], device=self.weight.device)
        parts = every.split(self.chunk) if self.chunk else [every]
        return torch.cat([self.compute(part, False) for part in parts])


@register_embedder("lookup")
class LookupEmbedder(RowSparse, Embedder):
    """A table V[n_features, D]: g(x_i) = V[x_i]."""

    def __init__(self, n_features: int, dim: int, init_std: float = 0.01, sparse: bool = False, **_: object):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_features, dim) * init_std)
        self.sparse = self.row_sparse = sparse

    def rows(self, nodes: torch.Tensor) -> torch.Tensor:
        return self.touch_rows(nodes, self.sparse and self.training)

    def table(self) -> torch.Tensor:
        return self.weight


@register_embedder("gcn")
class GCNEmbedder(CachedTable, Embedder):
    """GCN over the feature graph: G_1 = sigma(Â W_1), G_l = sigma(Â G_{l-1} W_l); g(x_i) = G_L[i].

    W_1 [n_features, D] has the shape of FM's table, so one layer adds no parameters; W_l [D, D].
    Training computes only the rows of G_L that the batch uses: (Â W_1)[u] = sum_j Â[u, j] W_1[j]
    as one weighted embedding bag (exact for one layer; deeper layers compute the layers below over
    the whole graph). Evaluation computes G_L once and caches it until the next training step, so
    inference costs what a lookup costs. Dropout (p = --gcn-dropout) acts where --gcn-dropout-on says:
    output, on the propagated rows G_L[u] (the default; GEM's reading); edges, on Â's entries (message
    dropout, each entry kept with probability 1-p and scaled by 1/(1-p)); weights, on W_1's rows (node
    dropout: a feature's whole row zeroed for the step, the others scaled by 1/(1-p)). Each is the identity
    when evaluating and unbiased while training.

    W_1's gradient is dense (zero outside the neighbours the batch reaches) and the optimiser updates
    the whole of W_1 with torch's fused kernel, also in sparse mode (row_sparse stays False): a batch of
    4,096 on the full-size MovieLens graph reaches 79k of its 90k rows, and the fused step over all rows
    (12 ms) costs a fraction of gathering and scattering the reached rows (~100 ms). This is Adam as the
    paper's dense implementation runs it, the same rule as on Frappe.
    """

    needs_graph = True
    options = GCN_OPTIONS  # keys layers, activation, dropout, dropout_on, fanout; flags --gcn-* (gemcli.options)

    def __init__(
        self,
        n_features: int,
        dim: int,
        adjacency: sp.csr_matrix,
        layers: int = 1,
        activation: str = "none",
        dropout: float = 0.0,
        init_std: float = 0.01,
        sparse: bool = False,
        fanout: int = 0,
        dropout_on: str = "output",
        **_: object,
    ):
        super().__init__()
        if dropout_on not in DROPOUT_ON:
            raise GemError(f"unknown --gcn-dropout-on {dropout_on!r}; known: {', '.join(DROPOUT_ON)}")
        check_graph(adjacency, n_features)
        if activation not in ACTIVATIONS:
            raise GemError(f"unknown --gcn-activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
        if layers < 1:
            raise GemError("--gcn-layers must be at least 1")
        self.weight = nn.Parameter(torch.randn(n_features, dim) * init_std)  # W_1
        self.deeper = nn.ParameterList(
            [nn.Parameter(torch.eye(dim) + torch.randn(dim, dim) * init_std) for _ in range(layers - 1)]
        )
        self.adj = SparseRows(adjacency)  # Â: a batch's rows, the transposed backward, fanout draws
        self.act = ACTIVATIONS[activation]()
        self.drop = Dropout(dropout if dropout_on == "output" else 0.0)
        self.dropout_on, self.p = dropout_on, float(dropout)
        self.sparse = sparse  # the model's linear weights go row-sparse; W_1 does not (see above)
        self.fanout = fanout
        self.init_cache()

    def _propagate(self, nodes: torch.Tensor, table: torch.Tensor, fanout: int = 0) -> torch.Tensor:
        """(Â table)[nodes] [U, D] (gemcli/nn/propagate.py); with dropout on edges, Â's entries dropped while
        training (message dropout)."""
        p = self.p if self.training and self.dropout_on == "edges" else 0.0
        return self.adj.propagate(nodes, table, fanout, edge_dropout=p)

    def _input(self) -> torch.Tensor:
        """W_1, or while training with dropout on weights, W_1 with whole rows dropped (node dropout: a feature's
        row is zero for this step, the kept rows scaled by 1/(1-p))."""
        if not (self.training and self.dropout_on == "weights" and self.p > 0):
            return self.weight
        keep = torch.rand(self.weight.shape[0], 1, device=self.weight.device) >= self.p
        return self.weight * keep / (1.0 - self.p)

    def _layers(self, nodes: torch.Tensor) -> torch.Tensor:
        """G_L[nodes] [U, D], before dropout on the output."""
        if not self.deeper:
            return self.act(self._propagate(nodes, self._input(), self.fanout if self.training else 0))
        every = torch.arange(self.weight.shape[0], device=self.weight.device)
        g = self.act(self._propagate(every, self._input()))
        for w in self.deeper[:-1]:
            g = self.act(self._propagate(every, g) @ w)
        return self.act(self._propagate(nodes, g, fanout=self.fanout if self.training else 0) @ self.deeper[-1])

    def table(self) -> torch.Tensor:
        return self._layers(torch.arange(self.weight.shape[0], device=self.weight.device))

    def rows(self, nodes: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.drop_cache()
            return self.drop(self._layers(nodes))
        return self.cached_rows(nodes)
