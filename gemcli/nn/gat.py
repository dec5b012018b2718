"""Graph attention (GATv2, Brody et al. 2022) as a GEM embedder, with H0 = I (the inputs are one-hot, so the
input transform is FM's table W [n_features, D]):

    e_uj^h  = a_h . LeakyReLU(L W[u] + R W[j])_h          for j in N(u) ∪ {u}, head h of H
    α_uj^h  = exp(e_uj^h) / sum_{j' in N(u) ∪ {u}} exp(e_uj'^h)
    g(u)_h  = sum_j α_uj^h W[j]_h                          head h's D/H slice of W; heads concatenated: g(u) [D]

L, R [D, H A] score in A dimensions per head (`att_dim`, default D/H, GATv2's own width; smaller is cheaper), a
[H, A]: 2 D H A + H A parameters beyond FM's table (2 D^2 + D at the default). The scores cost E x H A per batch
(E: the entries read); the messages are one weighted embedding bag per head, never an [E, D] tensor. The
softmax runs over each of the batch's rows' own neighbourhood only (the entries of those rows,
gemcli/nn/propagate.py); on large graphs `fanout` K neighbours are drawn per row while training (uniformly,
with replacement). A node without neighbours attends
to itself alone: α = 1 and g(u) = W[u], a lookup. Evaluation computes the table once, in chunks (the cache).
"""

from __future__ import annotations

import math

import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from gemcli.errors import GemError
from gemcli.nn.embedders import GraphEmbedder, check_graph, register_embedder
from gemcli.nn.propagate import SparseRows, bag_index
from gemcli.options import FANOUT, embedder_option

CHUNK = 4096  # rows per step when the whole table is computed (bounds the [E, D] temporaries)


def segment_softmax(scores: torch.Tensor, segment: torch.Tensor, n: int) -> torch.Tensor:
    """Softmax of scores [E, H] within each segment (segment [E] in 0..n-1); [E, H]."""
    top = torch.full((n, scores.shape[1]), -math.inf, dtype=scores.dtype, device=scores.device)
    top = top.scatter_reduce(0, segment.unsqueeze(1).expand_as(scores), scores.detach(), "amax")
    p = torch.exp(scores - top[segment])
    total = torch.zeros_like(top).index_add(0, segment, p)
    return p / total[segment]


@register_embedder("gat")
class GATEmbedder(GraphEmbedder):
    """GATv2 attention over each feature's neighbours and itself; messages are the neighbours' own rows."""

    operator = "rw"
    chunk = CHUNK  # D^-1 (A + I): its pattern is the neighbourhood with the node itself (weights unused)
    options = (
        embedder_option("heads", "int", 4, "attention heads H (D divisible by H; default 4)", low=1, high=4096),
        embedder_option(
            "att_dim", "int", None, "scoring dimensions per head A (default D/H)", nullable=True, low=1, high=65536
        ),
        embedder_option("slope", "float", 0.2, "LeakyReLU's negative slope (default 0.2)", low=0.0, high=1.0),
        embedder_option("fanout", "int", 0, "neighbours drawn per row in training, 0 = all", **FANOUT),
    )

    def __init__(
        self,
        n_features: int,
        dim: int,
        adjacency: sp.csr_matrix,
        heads: int = 4,
        slope: float = 0.2,
        fanout: int = 0,
        att_dim: int | None = None,
        init_std: float = 0.01,
        sparse: bool = False,
        **_: object,
    ):
        super().__init__()
        check_graph(adjacency, n_features)
        self.check_heads(heads, dim)
        a = int(att_dim) if att_dim else dim // heads
        if a < 1:
            raise GemError(f"--embedder-option att_dim={att_dim}: at least 1")
        self.heads, self.slope, self.fanout, self.sparse = int(heads), float(slope), int(fanout), sparse
        self.weight = nn.Parameter(torch.randn(n_features, dim) * init_std)
        self.left = nn.Parameter(torch.randn(dim, heads * a) / math.sqrt(dim))  # L
        self.right = nn.Parameter(torch.randn(dim, heads * a) / math.sqrt(dim))  # R
        self.att = nn.Parameter(torch.randn(heads, a) / math.sqrt(a))  # a
        self.adj = SparseRows(adjacency)
        self.init_cache()

    def compute(self, nodes: torch.Tensor, training: bool) -> torch.Tensor:
        """g(nodes) [U, D]; fanout draws while training."""
        cols, _, offsets, _ = self.adj.entries(nodes, self.fanout if training else 0)
        u, e = len(nodes), len(cols)
        row = bag_index(offsets, e)
        # R W[j] once per distinct neighbour (a row is the neighbour of many), not once per entry
        reached, at = torch.unique(cols, return_inverse=True)
        z = F.leaky_relu((self.weight[nodes] @ self.left)[row] + (self.weight[reached] @ self.right)[at], self.slope)
        h = self.heads
        alpha = segment_softmax((z.view(e, h, -1) * self.att).sum(-1), row, u)  # [E, H]
        heads = self.weight.view(self.weight.shape[0], h, -1)  # [N, H, D/H]
        return torch.cat(  # head by head: sum_j α_uj^h W[j]_h as a weighted embedding bag
            [F.embedding_bag(cols, heads[:, k], offsets, mode="sum", per_sample_weights=alpha[:, k]) for k in range(h)],
            dim=1,
        )
