"""Paper blocks shared by the base models; each forward states its shapes."""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from gemcli.optim import RowSparse


def pool_rows(r: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
    """Sum per instance of gathered rows: r [U, D], inv [B, F] (row ids) -> [B, D].

    An embedding bag over the batch's distinct rows, so [B, F, D] is never materialised and the
    backward scatters into [U, D] rather than into the whole table.
    """
    b, f = inv.shape
    offsets = torch.arange(0, b * f, f, device=inv.device)
    return F.embedding_bag(inv.reshape(-1), r, offsets, mode="sum")


class Dropout(nn.Module):
    """Inverted dropout whose CPU mask comes from 16-bit slices of 64-bit random words.

    torch's CPU Bernoulli sampler costs ~13 ms for a [4096, 256] mask on two cores, more than the rest
    of an FM step; drawing a quarter as many int64 words and comparing their 16-bit lanes with a
    threshold costs ~2 ms. p is quantised to a multiple of 1/65536. On CUDA, torch's own dropout.
    """

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {p}")
        self.p = p

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return h
        if h.device.type != "cpu":
            return F.dropout(h, self.p, training=True)
        n = h.numel()
        words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), 2**63 - 1)
        lanes = words.view(torch.int16)[:n].view(h.shape)
        keep = lanes >= int(round(self.p * 65536)) - 32768
        return h * (keep.to(h.dtype) * (1.0 / (1.0 - self.p)))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class FeaturesLinear(RowSparse, nn.Module):
    """w0 + sum_i w_i x_i for one-hot fields (Rendle 2010, eq. 1, first two terms).

    Shapes: x [B, F] -> [B].
    """

    def __init__(self, n_features: int, sparse: bool = False):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(()))
        self.weight = nn.Parameter(torch.zeros(n_features, 1))
        self.sparse = self.row_sparse = sparse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.sparse and self.training):
            return self.bias + F.embedding(x, self.weight).sum(dim=(1, 2))
        nodes, inverse = torch.unique(x, return_inverse=True)
        return self.bias + self.touch_rows(nodes, True)[inverse].sum(dim=(1, 2))

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The per-feature weights w_{x} [B, F] (IFM re-weights them per input); row-sparse in sparse training."""
        if not (self.sparse and self.training):
            return torch.nn.functional.embedding(x, self.weight).squeeze(-1)
        nodes, inverse = torch.unique(x, return_inverse=True)
        return self.touch_rows(nodes, True)[inverse].squeeze(-1)


def bi_interaction_pooled(s: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The same from pooled sums: s = sum_i e_i, q = sum_i e_i^2, both [B, D] -> [B, D]."""
    return 0.5 * (s * s - q)


def bi_interaction(e: torch.Tensor) -> torch.Tensor:
    """sum_{i<j} e_i * e_j element-wise in O(F D): 1/2 [(sum_i e_i)^2 - sum_i e_i^2] (Rendle 2010, eq. 2).

    Shapes: e [B, F, D] -> [B, D]. Summing over D gives FM's pairwise term; NFM pools this vector.
    """
    s = e.sum(dim=1)
    return 0.5 * (s * s - (e * e).sum(dim=1))


class MLP(nn.Module):
    """Linear -> ReLU -> Dropout per hidden layer, then an optional linear output.

    Shapes: [B, in] -> [B, sizes[-1]] (or [B] with output=True). `tail(z)` continues from the first
    layer's pre-activation z [B, sizes[0]], for callers that compute the first layer themselves.
    """

    def __init__(self, in_dim: int, sizes: list[int], dropout: float = 0.0, output: bool = True):
        super().__init__()
        dims = [in_dim, *sizes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.drop = Dropout(dropout)
        self.out = nn.Linear(dims[-1], 1) if output else None

    @property
    def first(self) -> nn.Linear:
        """The first layer (callers that compute its product themselves, e.g. concat_linear)."""
        return cast(nn.Linear, self.layers[0])

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.tail(self.layers[0](h))

    def tail(self, z: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(z))
        for layer in self.layers[1:]:
            h = self.drop(torch.relu(layer(h)))
        return self.out(h).squeeze(-1) if self.out is not None else h


def concat_linear(layer: nn.Linear, r: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """layer([g_1; ...; g_F]) without building the [B, F*D] concatenation.

    W [g_1; ...; g_F] = sum_f W_f g_f, and g_f is a row of r: each row is multiplied by its field's
    block W_f once, then the products are gathered per instance. r's rows are the batch's distinct
    features in id order, and each field owns a contiguous id range, so field f's rows form the slice
    r[lo_f:hi_f] (lo_f, hi_f the least and greatest row that column f uses); exact for any slices.
    The first layer then costs sum_f (hi_f - lo_f) * D * H instead of B * F * D * H multiply-adds
    (U * D * H when the fields' slices are disjoint: ~8x fewer on Frappe, 1.6x on MovieLens).
    Shapes: r [U, D], inverse [B, F] -> [B, H].
    """
    b, f = inverse.shape
    lo, hi = inverse.min(dim=0).values.tolist(), (inverse.max(dim=0).values + 1).tolist()
    if sum(h - low for low, h in zip(lo, hi, strict=True)) >= b * f:  # overlapping slices: the plain product
        return layer(r.index_select(0, inverse.reshape(-1)).view(b, -1))
    w = layer.weight.view(layer.out_features, f, -1)  # [H, F, D]
    z: torch.Tensor = layer.bias
    for j in range(f):
        z = z + (r[lo[j] : hi[j]] @ w[:, j, :].T).index_select(0, inverse[:, j] - lo[j])
    return z


def pair_index(n_fields: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices of the P = F(F-1)/2 field pairs i < j."""
    rows, cols = torch.triu_indices(n_fields, n_fields, offset=1)
    return rows, cols


class _PairProducts(torch.autograd.Function):
    """Pair products built one field at a time (e_i * e_{i+1..F}), in pair_index's order.

    Indexing e[:, rows] * e[:, cols] costs two gathers forward and two scatter-adds backward over
    [B, P, D]; slicing writes the products once, and the hand-written backward accumulates
    grad_i = sum_j g_ij * e_j block by block without the zero-filled slice gradients autograd makes.
    """

    @staticmethod
    def forward(ctx: Any, e: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(e)
        f = e.shape[1]
        return torch.cat([e[:, i : i + 1] * e[:, i + 1 :] for i in range(f - 1)], dim=1)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (e,) = ctx.saved_tensors
        f = e.shape[1]
        grad = torch.zeros_like(e)
        start = 0
        for i in range(f - 1):
            gi = g[:, start : start + f - 1 - i]  # [B, F-1-i, D]: d/d(e_i * e_j) for j > i
            grad[:, i] += torch.einsum("bnd,bnd->bd", gi, e[:, i + 1 :])
            grad[:, i + 1 :] += gi * e[:, i : i + 1]
            start += f - 1 - i
        return grad


def pair_products(e: torch.Tensor) -> torch.Tensor:
    """Element-wise products of every embedding pair i < j, in pair_index's order.

    Shapes: e [B, F, D] -> [B, P, D].
    """
    if e.shape[1] < 2:
        return e[:, :0]
    return _PairProducts.apply(e)


def pair_weighted_sum(e: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """sum_{i<j} a_ij (e_i * e_j) without a second pass over the [B, P, D] pair products.

    With A the strictly upper-triangular [B, F, F] matrix of a, z = A e gives z_i = sum_{j>i} a_ij e_j
    and the sum is sum_i e_i * z_i: a [B, F, F] x [B, F, D] product instead of [B, P, D] work.
    Shapes: e [B, F, D], a [B, P] (pair_index order) -> [B, D].
    """
    b, f, _ = e.shape
    rows, cols = pair_index(f)
    weights = e.new_zeros(b, f, f)
    weights[:, rows, cols] = a
    return (e * torch.bmm(weights, e)).sum(dim=1)


class PairwiseAttention(nn.Module):
    """AFM's attention over pair products (Xiao et al. 2017): a_ij = softmax_ij(h^T relu(W p_ij + b)).

    Shapes: pairs [B, P, D] -> weights [B, P, 1].
    """

    def __init__(self, dim: int, attention_size: int):
        super().__init__()
        self.w = nn.Linear(dim, attention_size)
        self.h = nn.Linear(attention_size, 1, bias=False)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.h(torch.relu(self.w(pairs))), dim=1)
