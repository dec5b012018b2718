"""A Transformer over a feature and its neighbours, as a GEM embedder (the paper's conclusion names it as
future work):

    tokens  t_0 = W[u] + s,   t_k = W[n_k] + r   (k = 1..K)     s, r [D]: learned type vectors (self, neighbour)
    g(u)    = Enc(t_0, t_1, ..., t_K)[0]                           the output at the feature's own position

n_1..n_K are u's neighbours in the graph (Â without its diagonal): while training, K of them drawn with replacement
in proportion to Â[u, j] (all of them when u has at most K); when evaluating, the K with the largest Â[u, j] (ties:
the lower id). Enc is `layers` pre-norm Transformer encoder layers with gated branches (below) (`heads` heads, feed-
forward 2D, no dropout); padding positions are masked. Parameters beyond FM's table W: 2D for s, r and per layer
4D^2 + 4D (attention) + 4D^2 + 3D (feed-forward) + 4D (norms). A feature without neighbours is the sequence t_0
alone and g(u) = Enc(W[u] + s)[0]: a function of its own row only, i.e. a lookup of the table Enc(W + s).

Each layer's two residual branches (attention, feed-forward) are scaled by a learned gate a_l that starts at 0
(ReZero, Bachlechner et al. 2020): x <- x + a_l Attn(LN(x)), x <- x + a_l FF(LN(x)), so that at initialisation g(u)
= W[u] + s = W[u], FM's lookup, and the encoder's share grows at the pace the optimiser moves a_l. (With torch's
plain layers the branches add values of order 1, LayerNorm's scale, to rows of scale init_std = 0.01; on Frappe the
first epoch's training MSE was ~6e4. Zero-initialised output projections alone did not help: under Adam a 256-wide
projection of unit-scale inputs moves each output by ~0.5 a step, and the first epoch's MSE was ~1e5.) Parameters:
one gate per layer besides the counts above.

Evaluation computes the table once, in chunks (the cache), so inference costs a lookup. The last layer is computed
for position 0 only (`block(own_only=True)`): the same values, about a third of the work; with one layer (the
default) no neighbour's key or value is projected: scores and values are taken through the projections' transposes
(`one_layer`), a quarter less work than projecting the distinct neighbours' keys and values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from gemcli.errors import GemError
from gemcli.nn.embedders import GraphEmbedder, check_graph, register_embedder
from gemcli.nn.propagate import SparseRows, bag_index
from gemcli.options import embedder_option

CHUNK = 4096  # rows per step when the whole table is computed


def top_neighbours(adjacency: sp.csr_matrix, k: int) -> np.ndarray:
    """[N, K] the K neighbours of largest weight per row (ties: lower id first), -1 where a row has fewer."""
    adj = sp.csr_matrix(adjacency)
    adj.sort_indices()
    n = adj.shape[0]
    row = np.repeat(np.arange(n), np.diff(adj.indptr))
    order = np.lexsort((adj.indices, -adj.data, row))  # by row, then weight descending, then id
    pos = np.arange(adj.nnz) - adj.indptr[row[order]]
    keep = pos < k
    out = np.full((n, k), -1, dtype=np.int64)
    out[row[order][keep], pos[keep]] = adj.indices[order][keep]
    return out


@register_embedder("transformer")
class TransformerEmbedder(GraphEmbedder):
    """Enc(W[u] + s, W[n_1] + r, ..., W[n_K] + r)[0] over a feature and K of its neighbours."""

    top: torch.Tensor

    operator = "sym-nodiag"
    chunk = CHUNK  # Â's weights between distinct features: whom to draw, and the evaluation's top K
    options = (
        embedder_option(
            "neighbours", "int", 8, "K, neighbours in each feature's sequence (default 8)", low=1, high=4096
        ),
        embedder_option("heads", "int", 4, "attention heads (D divisible by them; default 4)", low=1, high=4096),
        embedder_option("layers", "int", 1, "encoder layers (default 1)", low=1, high=64),
    )

    def __init__(
        self,
        n_features: int,
        dim: int,
        adjacency: sp.csr_matrix,
        neighbours: int = 8,
        heads: int = 4,
        layers: int = 1,
        init_std: float = 0.01,
        sparse: bool = False,
        **_: object,
    ):
        super().__init__()
        check_graph(adjacency, n_features)
        self.check_heads(heads, dim)
        if neighbours < 1 or layers < 1:
            raise GemError("--embedder-option neighbours and layers: at least 1")
        self.k, self.sparse = int(neighbours), sparse
        self.weight = nn.Parameter(torch.randn(n_features, dim) * init_std)
        self.kind = nn.Parameter(torch.zeros(2, dim))  # s (self), r (neighbour)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)  # its layers' modules
        self.gate = nn.Parameter(torch.zeros(layers))  # a_l, ReZero: g = W + s at initialisation (docstring)
        self.adj = SparseRows(adjacency)
        self.register_buffer("top", torch.from_numpy(top_neighbours(adjacency, self.k)), persistent=False)
        self.init_cache()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        """A model saved by gemcli 0.4.1 or earlier has no gates: its layers were plain, i.e. every gate 1."""
        state_dict.setdefault(prefix + "gate", torch.ones_like(self.gate))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def sequences(self, nodes: torch.Tensor, draw: bool) -> torch.Tensor:
        """[U, K] neighbour ids per row, -1 for padding: drawn in proportion to Â (draw) or the top K."""
        if not draw:
            return self.top[nodes]
        cols, _, offsets, _ = self.adj.entries(nodes, self.k)
        row = bag_index(offsets, len(cols))
        pos = torch.arange(len(cols), device=nodes.device) - offsets[row]
        out = torch.full((len(nodes), self.k), -1, dtype=torch.int64, device=nodes.device)
        out[row, pos] = cols
        return out

    def compute(self, nodes: torch.Tensor, training: bool) -> torch.Tensor:
        """Enc over [u, n_1..n_K] for each row (neighbours drawn while training, the top K otherwise); the
        output at position 0, [U, D]."""
        neigh = self.sequences(nodes, draw=training)
        pad = neigh < 0
        if len(self.encoder.layers) == 1:
            return self.one_layer(nodes, neigh, pad)
        tokens = torch.cat(
            [
                (self.weight[nodes] + self.kind[0]).unsqueeze(1),
                self.weight[neigh.clamp(min=0)] + self.kind[1],
            ],
            dim=1,
        )
        mask = torch.cat([pad.new_zeros(len(nodes), 1), pad], dim=1)  # True: padding, not attended
        *first, last = self.encoder.layers
        for i, layer in enumerate(first):
            tokens = self.block(layer, tokens, mask, self.gate[i])
        return self.block(last, tokens, mask, self.gate[-1], own_only=True)[:, 0]

    @staticmethod
    def block(
        layer: nn.TransformerEncoderLayer, x: torch.Tensor, mask: torch.Tensor, a: torch.Tensor, own_only: bool = False
    ) -> torch.Tensor:
        """One pre-norm layer with gated branches, x + a Attn(LN1(x)), then + a FF(LN2(.)): [U, K+1, D] from
        x [U, K+1, D], or with own_only [U, 1, D], position 0 alone: its query, attention output and feed-forward
        for that one token (keys and values for all). The same values as the full block's position 0 at about a
        third of the work for K = 8 (per token 2D^2 for keys and values instead of 8D^2); the last layer takes it,
        since nothing reads the other positions' outputs."""
        h = layer.norm1(x)
        q = h[:, :1] if own_only else h
        y = x[:, : q.shape[1]] + a * layer.self_attn(q, h, h, key_padding_mask=mask, need_weights=False)[0]
        return TransformerEmbedder.feed_forward(layer, y, a)

    @staticmethod
    def feed_forward(layer: nn.TransformerEncoderLayer, y: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """y + a FF(LN2(y)), the layer's gated feed-forward branch, for y [..., D]."""
        return y + a * layer.linear2(layer.activation(layer.linear1(layer.norm2(y))))

    def one_layer(self, nodes: torch.Tensor, neigh: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """[U, D] a one-layer encoder's output at position 0, without projecting any neighbour's key or value.
        With h_j = LN1(t_j) [D] and, per head, q^h = W_q^h h_0 + b_q^h [D/H], k_j^h = W_k^h h_j + b_k^h:

            q^h . k_j^h = (W_k^h' q^h) . h_j + q^h . b_k^h   the second term: the same for every j (softmax drops it)
            sum_j a_j^h v_j^h = W_v^h (sum_j a_j^h h_j) + b_v^h   (the weights a^h sum to 1)

        so the scores are dot products of qk^h = W_k^h' q^h [D] with the K+1 normalised tokens, and the values are
        projected once per row after mixing: the projections' work is 4 U D^2 (q, qk, values, output) instead of
        (4 U + 2 R) D^2 for keys and values of the R distinct neighbours, and the gathered tokens are D wide, not 2D.
        The same values as block's position 0 (and so as the encoder's) up to rounding; b_k gets no gradient here (in
        the encoder its gradient is zero up to rounding: the softmax does not see it)."""
        layer = self.encoder.layers[0]
        att = layer.self_attn
        d, h = self.weight.shape[1], att.num_heads
        e = d // h
        w_q, w_k, w_v = att.in_proj_weight.chunk(3)
        b_q, _, b_v = att.in_proj_bias.chunk(3)
        own = self.weight[nodes] + self.kind[0]  # [U, D]
        reached, at = torch.unique(neigh.clamp(min=0), return_inverse=True)  # at [U, K]
        h_own, h_nb = layer.norm1(own), layer.norm1(self.weight[reached] + self.kind[1])
        tokens = torch.cat([h_own.unsqueeze(1), h_nb[at]], dim=1)  # [U, K+1, D]
        u = len(nodes)
        q = F.linear(h_own, w_q, b_q).view(u, h, e) / e**0.5  # [U, H, D/H]
        qk = torch.einsum("uhe,hed->uhd", q, w_k.view(h, e, d))  # [U, H, D]
        mask = torch.cat([pad.new_zeros(u, 1), pad], dim=1).unsqueeze(1)  # [U, 1, K+1], True: padding
        weights = torch.bmm(qk, tokens.transpose(1, 2)).masked_fill(mask, float("-inf")).softmax(-1)  # [U, H, K+1]
        mixed = torch.bmm(weights, tokens)  # [U, H, D]
        out = torch.einsum("uhd,hed->uhe", mixed, w_v.view(h, e, d)).reshape(u, d) + b_v  # [U, D]
        return self.feed_forward(layer, own + self.gate[0] * att.out_proj(out), self.gate[0])
