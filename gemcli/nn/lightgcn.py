"""Multi-hop propagation without transforms (LightGCN, He et al. 2020) as a GEM embedder:

    G = sum_{k=0..K} a_k Â^k W,   g(u) = G[u]

on GEM's Â = D^-1/2 (A + I) D^-1/2 (with self-loops, unlike LightGCN's Â without them), a_k = 1/(K+1) (the
hops' mean) unless `weights` gives them. W [n_features, D] is FM's table: no parameter is added. Exact for the
batch's rows: P_0 = W and P_k = Â P_{k-1} over the whole graph for k < K, then the last hop (Â P_{K-1})[nodes]
for the batch's rows only (with `fanout` draws on large graphs). A node without neighbours has Â[u, u] = 1, so
every hop gives W[u] and g(u) = (sum_k a_k) W[u]: a lookup when the weights sum to 1. Evaluation computes G once.
"""

from __future__ import annotations

import scipy.sparse as sp
import torch
from torch import nn

from gemcli.errors import GemError
from gemcli.nn.embedders import GraphEmbedder, check_graph, register_embedder
from gemcli.nn.propagate import SparseRows
from gemcli.options import FANOUT, embedder_option


def hop_weights(hops: int, weights: str | float | None) -> list[float]:
    """a_0..a_K from 'a0:a1:...' (K+1 numbers), default uniform 1/(K+1)."""
    if hops < 1:
        raise GemError(f"--embedder-option hops={hops}: at least 1")
    if weights in (None, "", "uniform"):
        return [1.0 / (hops + 1)] * (hops + 1)
    try:
        got = [float(v) for v in str(weights).split(":")]
    except ValueError:
        got = []
    if len(got) != hops + 1:
        raise GemError(f"--embedder-option weights={weights!r}: expected {hops + 1} numbers a0:a1:... (hops={hops})")
    return got


@register_embedder("lightgcn")
class LightGCNEmbedder(GraphEmbedder):
    """G = sum_k a_k Â^k W (k = 0..K), no transforms, no parameters beyond W."""

    operator = "sym"
    options = (
        embedder_option("hops", "int", 2, "K, propagation hops (default 2)", low=1, high=16),
        embedder_option("weights", "str", None, "a_0..a_K as a0:a1:... (default uniform, 1/(K+1) each)", nullable=True),
        embedder_option(
            "fanout", "int", 0, "neighbours drawn per row in the last hop while training, 0 = all", **FANOUT
        ),
    )

    def __init__(
        self,
        n_features: int,
        dim: int,
        adjacency: sp.csr_matrix,
        hops: int = 2,
        weights: str | None = None,
        fanout: int = 0,
        init_std: float = 0.01,
        sparse: bool = False,
        **_: object,
    ):
        super().__init__()
        check_graph(adjacency, n_features)
        self.hops, self.fanout, self.sparse = int(hops), int(fanout), sparse
        self.alphas = hop_weights(self.hops, weights)
        self.weight = nn.Parameter(torch.randn(n_features, dim) * init_std)
        self.adj = SparseRows(adjacency)
        self.init_cache()

    def compute(self, nodes: torch.Tensor, training: bool) -> torch.Tensor:
        """G[nodes] [U, D]: the hops below the last over the whole graph, the last for `nodes` only (fanout
        draws while training)."""
        fanout = self.fanout if training else 0
        every = torch.arange(self.weight.shape[0], device=self.weight.device)
        out = self.alphas[0] * self.weight[nodes]
        p: torch.Tensor = self.weight
        for k in range(1, self.hops + 1):
            if k < self.hops:
                p = self.adj.propagate(every, p)
                out = out + self.alphas[k] * p[nodes]
            else:
                out = out + self.alphas[k] * self.adj.propagate(nodes, p, fanout)
        return out
