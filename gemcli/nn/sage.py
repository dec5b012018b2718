"""GraphSAGE (Hamilton et al. 2017) as a GEM embedder, with H0 = I (a feature's input is its one-hot row, so the
first layer's weights are a table), mean aggregator over the neighbours:

    combine=tables (default):  g(u) = W[u] + (M N)[u]           W, N [n_features, D]: own and neighbour tables
    combine=concat:            g(u) = [W[u] || (M W)[u]] P      P [2D, D], initialised [I; I]

M = D_A^-1 A, the mean over u's neighbours (no self-loop; a node without neighbours has an empty row, so
g(u) = W[u], a lookup, with tables; W[u] P_top with concat). Parameters beyond FM's table: another N x D table
(tables: 2 N D in all), or 2 D^2 (concat). Training reads only the batch's rows of M (an embedding bag,
gemcli/nn/propagate.py), with `fanout` K neighbours drawn per row on large graphs; evaluation computes the
table once (the cache) so that inference costs a lookup.
"""

from __future__ import annotations

import scipy.sparse as sp
import torch
from torch import nn

from gemcli.errors import GemError
from gemcli.nn.embedders import GraphEmbedder, check_graph, register_embedder
from gemcli.nn.propagate import SparseRows
from gemcli.options import FANOUT, embedder_option

COMBINE = ("tables", "concat")


@register_embedder("sage")
class SAGEEmbedder(GraphEmbedder):
    """GraphSAGE, mean aggregator, H0 = I: g(u) = W[u] + (M N)[u] (tables) or [W[u] || (M W)[u]] P (concat)."""

    operator = "mean"  # D_A^-1 A (gemcli.graph.load_operator)
    options = (
        embedder_option(
            "combine",
            "str",
            "tables",
            "tables (own + neighbour table, 2ND parameters) or concat ([self || mean] P, ND + 2D^2)",
            choices=COMBINE,
        ),
        embedder_option("fanout", "int", 0, "neighbours drawn per row in training, 0 = all", **FANOUT),
    )

    def __init__(
        self,
        n_features: int,
        dim: int,
        adjacency: sp.csr_matrix,
        combine: str = "tables",
        fanout: int = 0,
        init_std: float = 0.01,
        sparse: bool = False,
        **_: object,
    ):
        super().__init__()
        if combine not in COMBINE:
            raise GemError(f"--embedder-option combine={combine!r}: known: {', '.join(COMBINE)}")
        check_graph(adjacency, n_features)
        self.combine, self.fanout, self.sparse = combine, int(fanout), sparse
        self.weight = nn.Parameter(torch.randn(n_features, dim) * init_std)  # W: own rows
        if combine == "tables":
            self.neighbour = nn.Parameter(torch.randn(n_features, dim) * init_std)  # N
        else:
            self.mix = nn.Parameter(torch.cat([torch.eye(dim), torch.eye(dim)]))  # P [2D, D]
        self.adj = SparseRows(adjacency)
        self.init_cache()

    def compute(self, nodes: torch.Tensor, training: bool) -> torch.Tensor:
        """g(nodes) [U, D]; fanout draws while training."""
        fanout = self.fanout if training else 0
        if self.combine == "tables":
            return self.weight[nodes] + self.adj.propagate(nodes, self.neighbour, fanout)
        mean = self.adj.propagate(nodes, self.weight, fanout)
        return torch.cat([self.weight[nodes], mean], dim=1) @ self.mix
