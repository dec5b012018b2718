"""Formula tests: FM's O(dm) interaction against brute force, GEM with no neighbours equals FM."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from gemcli.models import create_model
from gemcli.nn.embedders import GCNEmbedder, LookupEmbedder, create_embedder
from gemcli.nn.layers import Dropout, bi_interaction, pool_rows

N, D, B, NF = 40, 8, 16, 5


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    # one feature per field, fields occupy consecutive id ranges of 8
    return torch.stack([torch.randint(0, 8, (B,), generator=g) + 8 * f for f in range(NF)], dim=1)


def random_graph(seed=0, n=N):
    a = sp.random(n, n, density=0.15, random_state=seed, format="csr")
    a.data[:] = 1
    a = a.maximum(a.T).tocsr()
    a.setdiag(0)
    a.eliminate_zeros()
    from gemcli.graph import normalise

    return normalise(a)


def brute_fm(x, w0, w, v):
    out = []
    for row in x.tolist():
        y = w0 + sum(w[i] for i in row)
        for i, j in itertools.combinations(row, 2):
            y += float(v[i] @ v[j])
        out.append(y)
    return torch.tensor(out, dtype=torch.float64)


def test_fm_interaction_equals_pairwise_sum():
    torch.manual_seed(0)
    emb = LookupEmbedder(N, D, init_std=0.5)
    model = create_model("fm", embedder=emb, n_features=N, n_fields=NF, dropout=0.0)
    with torch.no_grad():
        model.linear.weight.normal_()
        model.linear.bias.fill_(0.3)
    x = batch()
    got = model(x).double()
    expect = brute_fm(x, 0.3, model.linear.weight.detach().squeeze(1).double(), emb.weight.detach().double())
    torch.testing.assert_close(got, expect, rtol=1e-5, atol=1e-5)
    e = emb(x)
    pair = sum(e[:, i] * e[:, j] for i, j in itertools.combinations(range(NF), 2))
    torch.testing.assert_close(bi_interaction(e), pair, rtol=1e-5, atol=1e-6)


def test_pool_rows_matches_gather_and_sum_with_gradients():
    torch.manual_seed(1)
    r1 = torch.randn(30, 6, requires_grad=True)
    r2 = r1.detach().clone().requires_grad_(True)
    inv = torch.randint(0, 30, (12, 4))
    g = torch.randn(12, 6)
    (pool_rows(r1, inv) * g).sum().backward()
    (r2[inv].sum(dim=1) * g).sum().backward()
    torch.testing.assert_close(r1.grad, r2.grad)
    torch.testing.assert_close(pool_rows(r1, inv), r2[inv].sum(dim=1))


def test_gcn_rows_equal_dense_propagation():
    torch.manual_seed(2)
    adj = random_graph(3)
    emb = GCNEmbedder(N, D, adjacency=adj, activation="tanh", init_std=0.3)
    dense = torch.tanh(torch.from_numpy(adj.toarray()).double() @ emb.weight.detach().double())
    x = batch(1)
    torch.testing.assert_close(emb(x).double(), dense[x], rtol=1e-5, atol=1e-6)
    emb.eval()  # the cached table gives the same
    torch.testing.assert_close(emb(x).double(), dense[x], rtol=1e-5, atol=1e-6)
    # two layers: G2 = tanh(Â G1 W2)
    emb2 = GCNEmbedder(N, D, adjacency=adj, layers=2, activation="tanh", init_std=0.3)
    a = torch.from_numpy(adj.toarray()).double()
    g1 = torch.tanh(a @ emb2.weight.detach().double())
    g2 = torch.tanh(a @ g1 @ emb2.deeper[0].detach().double())
    torch.testing.assert_close(emb2(x).double(), g2[x], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layers,symmetric", [(1, True), (2, True), (1, False)])
def test_gcn_gradients_equal_dense_propagation(layers, symmetric):
    """The propagation's hand-written backward (S^T grad from Â^T's rows) against autograd on dense Â."""
    torch.manual_seed(7)
    adj = random_graph(5)
    if not symmetric:  # the backward must read Â^T, not Â
        adj = sp.csr_matrix(adj.toarray() * np.random.default_rng(1).uniform(0.5, 1.5, (N, N)), dtype=np.float32)
        assert (adj != adj.T).nnz
    emb = GCNEmbedder(N, D, adjacency=adj, layers=layers, activation="tanh", init_std=0.3)
    x = batch(2)
    g = torch.randn(B, NF, D)
    (emb(x) * g).sum().backward()
    a = torch.from_numpy(adj.toarray()).double()
    w = [emb.weight.detach().double().requires_grad_(True)] + [
        p.detach().double().requires_grad_(True) for p in emb.deeper
    ]
    h = torch.tanh(a @ w[0])
    for wl in w[1:]:
        h = torch.tanh(a @ h @ wl)
    (h[x] * g.double()).sum().backward()
    assert emb.weight.grad.abs().sum() > 0
    torch.testing.assert_close(emb.weight.grad.double(), w[0].grad, rtol=1e-4, atol=1e-6)
    for p, ref in zip(emb.deeper, w[1:], strict=True):
        torch.testing.assert_close(p.grad.double(), ref.grad, rtol=1e-4, atol=1e-6)


def test_propagate_gradcheck():
    """The sorted-column backward (used when --gcn-fanout samples the rows)."""
    from gemcli.nn.propagate import Propagate

    torch.manual_seed(8)
    table = torch.randn(9, 3, dtype=torch.float64, requires_grad=True)
    cols = torch.tensor([4, 0, 4, 8, 2, 2, 7, 1])  # repeated columns, one empty bag, unused rows
    weights = torch.rand(8, dtype=torch.float64)
    offsets = torch.tensor([0, 3, 3, 6])
    assert torch.autograd.gradcheck(lambda t: Propagate.apply(t, cols, weights, offsets, None), (table,))


def test_gcn_fanout_is_unbiased_and_exact_when_wide_enough():
    torch.manual_seed(5)
    adj = random_graph(4)
    degree = np.diff(adj.indptr)
    exact = torch.from_numpy(adj.toarray()).double()
    nodes = torch.arange(N)
    emb = GCNEmbedder(N, D, adjacency=adj, init_std=0.3, fanout=int(degree.max()))
    dense = exact @ emb.weight.detach().double()
    torch.testing.assert_close(emb.rows(nodes).double(), dense, rtol=1e-5, atol=1e-6)  # K >= every degree: exact
    k = 10
    assert (degree > k).any() and (degree <= k).any()
    emb.fanout = k
    first = emb.rows(nodes).detach().double()
    small = torch.from_numpy(degree <= k)
    torch.testing.assert_close(first[small], dense[small], rtol=1e-5, atol=1e-6)  # rows within K: exact
    assert not torch.allclose(first[~small], dense[~small])  # wide rows: sampled
    # unbiased: over M independent draws, every entry's mean is within 5 standard errors of the exact row
    # (a z-test per entry; for the N x D = 320 entries the chance that a correct sampler fails is ~2e-4)
    m = 400
    draws = torch.stack([emb.rows(nodes).detach().double() for _ in range(m)])  # [M, N, D]
    se = draws.std(dim=0) / m**0.5
    assert ((draws.mean(dim=0) - dense).abs() <= 5 * se + 1e-6).all()  # 1e-6: float32 rounding of exact rows
    emb.eval()  # evaluation never samples
    torch.testing.assert_close(emb.rows(nodes).double(), dense, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("train_mode", [False, True])
def test_zero_neighbour_gem_equals_fm(train_mode):
    torch.manual_seed(3)
    lookup = create_embedder("lookup", n_features=N, dim=D)
    gcn = create_embedder("gcn", n_features=N, dim=D, adjacency=sp.identity(N, format="csr"))
    fm = create_model("fm", embedder=lookup, n_features=N, n_fields=NF, dropout=0.3)
    gem = create_model("fm", embedder=gcn, n_features=N, n_fields=NF, dropout=0.3)
    gem.load_state_dict(fm.state_dict())
    assert sum(p.numel() for p in fm.parameters()) == sum(p.numel() for p in gem.parameters())
    fm.train(train_mode)
    gem.train(train_mode)
    x = batch(2)
    torch.manual_seed(9)
    a = fm(x)
    torch.manual_seed(9)
    b = gem(x)
    assert torch.equal(a, b)


def test_dropout_rate_and_scale():
    torch.manual_seed(0)
    d = Dropout(0.3)
    h = torch.ones(200, 500)
    out = d(h)
    kept = (out != 0).float().mean().item()
    assert abs(kept - 0.7) < 0.01
    assert torch.allclose(out[out != 0], torch.full_like(out[out != 0], 1 / 0.7))
    d.eval()
    assert torch.equal(d(h), h)


def test_gem_fm_parameter_count_frappe_size():
    n = 5382
    fm = create_model("fm", embedder=create_embedder("lookup", n_features=n, dim=256), n_features=n, n_fields=10)
    adj = sp.identity(n, format="csr")
    gem = create_model(
        "fm", embedder=create_embedder("gcn", n_features=n, dim=256, adjacency=adj), n_features=n, n_fields=10
    )
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(fm) == count(gem) == 1_383_175  # the paper's 1.383M
    assert np.isclose(count(fm) / 1e6, 1.383, atol=5e-4)
