"""Every registered base x embedder: forward/backward, shapes, zero-neighbour GEM = lookup, #params, pairwise parts."""

from __future__ import annotations

import itertools

import pytest
import scipy.sparse as sp
import torch

from gemcli.models import create_model, model_names
from gemcli.nn.embedders import create_embedder, embedder_class, embedder_names

N, D, B, NF = 40, 8, 16, 5
PAPER_PARAMS = {
    "fm": 1.383e6,
    "afm": 1.449e6,
    "wide_deep": 4.662e6,
    "deepfm": 1.975e6,
    "nfm": 1.399e6,
    "inn": 1.457e6,
    "ifm": 2.109e6,
}


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, 8, (B,), generator=g) + 8 * f for f in range(NF)], dim=1)


def random_adjacency() -> sp.csr_matrix:
    """A symmetric 0/1 adjacency on N nodes without self-loops (each graph embedder makes its own operator of it)."""
    a = sp.random(N, N, density=0.1, random_state=1, format="csr")
    a.data[:] = 1
    a = a.maximum(a.T).tolil()
    a.setdiag(0)
    return a.tocsr()


def embedder(kind, n=N, d=D, adjacency=None):
    """An embedder of the registry; a graph embedder gets the operator it asks for of the 0/1 adjacency given
    (default: no edges)."""
    from gemcli.graph import operator

    cls = embedder_class(kind)
    a = adjacency if adjacency is not None else sp.csr_matrix((n, n))
    kw = {"adjacency": operator(a, cls.operator)} if cls.needs_graph else {}
    return create_embedder(kind, n_features=n, dim=d, init_std=0.3, **kw)


def small_opts(name):
    return (
        {"mlp": [16, 8]}
        if name in ("wide_deep", "deepfm", "nfm", "ifm")
        else {"attention_size": 4}
        if name in ("afm", "inn")
        else {}
    )


def test_registry_is_complete():
    assert set(model_names()) == set(PAPER_PARAMS)
    assert set(embedder_names()) == {"lookup", "gcn", "sage", "gat", "lightgcn", "transformer"}


@pytest.mark.parametrize("kind", embedder_names())  # every registered embedder, whatever its module
@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_forward_backward(name, kind):
    torch.manual_seed(0)
    a = random_adjacency()
    model = create_model(name, embedder=embedder(kind, adjacency=a), n_features=N, n_fields=NF, **small_opts(name))
    out = model(batch())
    assert out.shape == (B,) and torch.isfinite(out).all()
    out.square().sum().backward()
    g = model.embedder.weight.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_zero_neighbour_gem_equals_lookup(name):
    torch.manual_seed(1)
    plain = create_model(name, embedder=embedder("lookup"), n_features=N, n_fields=NF, **small_opts(name))
    gem = create_model(name, embedder=embedder("gcn"), n_features=N, n_fields=NF, **small_opts(name))
    gem.load_state_dict(plain.state_dict())
    x = batch(3)
    for mode in (False, True):
        plain.train(mode)
        gem.train(mode)
        torch.manual_seed(5)
        a = plain(x)
        torch.manual_seed(5)
        b = gem(x)
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_parameter_counts_match_the_paper(name):
    n = 5382  # Frappe features, 10 fields, d=256, defaults
    counts = {}
    for kind in ("lookup", "gcn"):
        m = create_model(name, embedder=embedder(kind, n=n, d=256), n_features=n, n_fields=10)
        counts[kind] = sum(p.numel() for p in m.parameters() if p.requires_grad)
    assert counts["lookup"] == counts["gcn"]  # one GCN layer adds no parameter
    assert abs(counts["lookup"] / PAPER_PARAMS[name] - 1) < 0.01


def test_afm_attention_against_loops():
    torch.manual_seed(2)
    model = create_model("afm", embedder=embedder("lookup"), n_features=N, n_fields=NF, attention_size=3).eval()
    x = batch(4)
    e = model.embedder(x)
    expect = []
    for b in range(B):
        scores, prods = [], []
        for i, j in itertools.combinations(range(NF), 2):
            p = e[b, i] * e[b, j]
            prods.append(p)
            scores.append(model.attention.h(torch.relu(model.attention.w(p))).squeeze())
        a = torch.softmax(torch.stack(scores), 0)
        pooled = sum(a[k] * prods[k] for k in range(len(prods)))
        expect.append(model.linear(x[b : b + 1])[0] + pooled @ model.p)
    torch.testing.assert_close(model(x), torch.stack(expect), rtol=1e-5, atol=1e-6)


def test_inn_field_weights_against_loops():
    torch.manual_seed(3)
    model = create_model(
        "inn", embedder=embedder("lookup"), n_features=N, n_fields=NF, attention_size=3, field_size=4
    ).eval()
    for p in (model.project.weight, model.project.bias, model.dense.weight):  # away from the FM-like start
        torch.nn.init.normal_(p)
    x = batch(5)
    e = model.embedder(x)
    expect = []
    for b in range(B):
        scores, terms = [], []
        for i, j in itertools.combinations(range(NF), 2):
            p = e[b, i] * e[b, j]
            r = model.project(model.fields[i] * model.fields[j])
            scores.append(model.attention.h(torch.relu(model.attention.w(p))).squeeze())
            terms.append(r * p)
        a = torch.softmax(torch.stack(scores), 0)
        pooled = sum(a[k] * terms[k] for k in range(len(terms)))
        expect.append(model.linear(x[b : b + 1])[0] + model.dense(pooled).squeeze())
    torch.testing.assert_close(model(x), torch.stack(expect), rtol=1e-5, atol=1e-6)


def test_ifm_weights_sum_to_field_count():
    torch.manual_seed(4)
    model = create_model("ifm", embedder=embedder("lookup"), n_features=N, n_fields=NF, mlp=[8])
    e = model.embedder(batch())
    m = NF * torch.softmax(model.fen_out(model.fen(e.flatten(1))), dim=1)
    torch.testing.assert_close(m.sum(1), torch.full((B,), float(NF)))


@pytest.mark.parametrize("layout", ["fields own id ranges", "overlapping slices", "few repeats"])
def test_concat_linear_equals_linear_on_concatenation(layout):
    from gemcli.nn.layers import concat_linear

    torch.manual_seed(6)
    layer = torch.nn.Linear(NF * D, 7)
    if layout == "fields own id ranges":  # as real batches: column f uses rows [5f, 5f + 5) of r
        n_rows, inv = 5 * NF, torch.randint(0, 5, (B, NF)) + 5 * torch.arange(NF)
    elif layout == "overlapping slices":  # every column uses rows 0..19: the slices overlap, still exact
        n_rows, inv = 20, torch.randint(0, 20, (B, NF))
    else:  # nearly every slot its own row: the plain product on the gathered concatenation
        n_rows, inv = B * NF, torch.randperm(B * NF).view(B, NF)
    r1 = torch.randn(n_rows, D, requires_grad=True)
    r2 = r1.detach().clone().requires_grad_(True)
    a = concat_linear(layer, r1, inv)
    b = layer(r2[inv].flatten(1))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    g = torch.randn(B, 7)
    (a * g).sum().backward()
    (b * g).sum().backward()
    torch.testing.assert_close(r1.grad, r2.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fields", [1, 2, 5])
def test_pair_products_and_weighted_sum_against_loops(fields):
    from gemcli.nn.layers import pair_products, pair_weighted_sum

    torch.manual_seed(6)
    e = torch.randn(3, fields, 4, dtype=torch.float64, requires_grad=True)
    pairs = list(itertools.combinations(range(fields), 2))
    a = torch.randn(3, len(pairs), dtype=torch.float64, requires_grad=True)
    expect_p = torch.stack([e[:, i] * e[:, j] for i, j in pairs], 1) if pairs else e[:, :0]
    torch.testing.assert_close(pair_products(e), expect_p)
    expect_s = sum(
        (a[:, k : k + 1] * e[:, i] * e[:, j] for k, (i, j) in enumerate(pairs)), torch.zeros(3, 4, dtype=torch.float64)
    )
    torch.testing.assert_close(pair_weighted_sum(e, a), expect_s)
    if pairs:  # the hand-written backward of pair_products, and the gradients of the weighted sum
        assert torch.autograd.gradcheck(pair_products, (e,))
        assert torch.autograd.gradcheck(pair_weighted_sum, (e, a))


@pytest.mark.parametrize("name", ["afm", "inn"])
def test_start_from_fm_with_uniform_attention_is_fm(name):
    torch.manual_seed(7)
    emb = embedder("lookup")
    fm = create_model("fm", embedder=emb, n_features=N, n_fields=NF, dropout=0.0).eval()
    model = create_model(name, embedder=emb, n_features=N, n_fields=NF, attention_size=3, dropout=0.0).eval()
    model.linear.load_state_dict(fm.linear.state_dict())
    model.start_from_fm()
    torch.nn.init.zeros_(model.attention.h.weight)  # uniform attention: a_ij = 1 / P
    x = batch(8)
    torch.testing.assert_close(model(x), fm(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", embedder_names())
@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_sparse_mode_updates_every_touched_table_as_the_dense_step(name, kind):
    """Row-sparse training: one SGD step changes the touched rows of every table (embeddings and linear
    weights, IFM's included) exactly as the dense step does; untouched rows stay as they were."""
    from gemcli.graph import operator
    from gemcli.optim import RowSparseOptimizer

    a = random_adjacency()
    cls = embedder_class(kind)
    adj = operator(a, cls.operator) if cls.needs_graph else None
    models = []
    for sparse in (False, True):
        torch.manual_seed(0)
        kw = {"adjacency": adj} if cls.needs_graph else {}
        emb = create_embedder(kind, n_features=N, dim=D, init_std=0.3, sparse=sparse, **kw)
        models.append(
            create_model(
                name, embedder=emb, n_features=N, n_fields=NF, dropout=0.0, mlp_dropout=0.0, **small_opts(name)
            )
        )
    dense, sparse_m = models
    sparse_m.load_state_dict(dense.state_dict())
    x = batch()
    opt_d = torch.optim.SGD(dense.parameters(), lr=0.1)
    opt_s = RowSparseOptimizer(sparse_m, "sgd", 0.1)
    assert any(t is sparse_m.linear.weight for t in opt_s.tables)  # the linear weights train row by row
    before = {k: v.clone() for k, v in sparse_m.state_dict().items()}
    for model, opt in ((dense, opt_d), (sparse_m, opt_s)):
        model.train()
        opt.zero_grad()
        torch.manual_seed(7)  # the same draws (transformer's neighbours) in both
        model(x).square().sum().backward()
        opt.step()
    after_d, after_s = dense.state_dict(), sparse_m.state_dict()
    for k in after_d:
        torch.testing.assert_close(after_s[k], after_d[k], rtol=1e-5, atol=1e-6, msg=f"{name}/{kind}: {k}")
    touched = torch.unique(x)
    lin = after_s["linear.weight"]
    assert (lin[touched] != before["linear.weight"][touched]).all(), f"{name}: linear weights of the batch did not move"
    untouched = torch.tensor(sorted(set(range(N)) - set(touched.tolist())))
    torch.testing.assert_close(lin[untouched], before["linear.weight"][untouched])


class _WidestPerRow(torch.utils._python_dispatch.TorchDispatchMode):
    """The most floats per row among the float tensors an op makes whose first dimension is the batch's."""

    def __init__(self, rows: int):
        super().__init__()
        self.rows, self.widest = rows, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.is_floating_point() and t.dim() and t.shape[0] == self.rows:
                self.widest = max(self.widest, t.numel() // self.rows)
        return out


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_eval_rows_bound_the_widest_tensor(name, monkeypatch):
    """Evaluation batches are sized by each base's widest per-row tensor (Frappe's shapes, default options): the width
    eval_rows assumes is at least what a forward makes, and predict's batches keep under the byte bound and give
    the scores one batch gives."""
    from gemcli import train

    n, rows = 5382, 7
    torch.manual_seed(0)
    model = create_model(name, embedder=embedder("lookup", n=n, d=256), n_features=n, n_fields=10).eval()
    x = torch.stack([torch.randint(0, 500, (rows,)) + 500 * f for f in range(10)], dim=1)
    with torch.no_grad(), _WidestPerRow(rows) as seen:
        whole = model(x)
    per_row = train.EVAL_TENSOR_BYTES // 4 // train.eval_rows(model, 10, 1 << 24)
    assert seen.widest <= per_row * 1.001, (seen.widest, per_row)  # the bound's rows keep tensors under it
    assert train.eval_rows(model, 10, 3) == 3  # the config's eval_batch_size stays the most
    sizes: list[int] = []
    monkeypatch.setattr(train, "EVAL_TENSOR_BYTES", 4 * per_row * 2)  # two rows a batch
    model.register_forward_pre_hook(lambda _, args: sizes.append(len(args[0])))
    torch.testing.assert_close(train.predict(model, x, 65536, torch.device("cpu")), whole, rtol=1e-5, atol=1e-6)
    assert sizes == [2, 2, 2, 1]


def test_eval_rows_of_inn_on_frappe():
    """INN's pair products on Frappe (45 pairs, D = 256) take 46 KB a row: 2,912 rows a batch (65,536 made 3 GB
    tensors); FM's embeddings (10 x 256) 13,107."""
    from gemcli.train import eval_rows

    n = 5382
    inn = create_model("inn", embedder=embedder("lookup", n=n, d=256), n_features=n, n_fields=10)
    fm = create_model("fm", embedder=embedder("lookup", n=n, d=256), n_features=n, n_fields=10)
    assert (eval_rows(inn, 10, 65536), eval_rows(fm, 10, 65536), eval_rows(torch.nn.Linear(2, 1), 10, 9)) == (
        2912,
        13107,
        9,
    )


def test_inn_head_init_fm_starts_as_fm_and_random_keeps_the_old_start():
    """head_init fm (the default): INN built from scratch is FM under uniform attention with no start_from_fm call;
    random: every other parameter drawn as with fm (same seed), r_ij and the dense layer at torch's default."""
    emb = embedder("lookup")
    fm = create_model("fm", embedder=emb, n_features=N, n_fields=NF, dropout=0.0).eval()
    built = {}
    for head in ("fm", "random"):
        torch.manual_seed(9)
        built[head] = create_model(
            "inn", embedder=emb, n_features=N, n_fields=NF, attention_size=3, dropout=0.0, head_init=head
        ).eval()
    model = built["fm"]
    model.linear.load_state_dict(fm.linear.state_dict())
    torch.nn.init.zeros_(model.attention.h.weight)  # uniform attention: a_ij = 1 / P
    x = batch(8)
    torch.testing.assert_close(model(x), fm(x), rtol=1e-5, atol=1e-5)
    fm_head, random_head = built["fm"].state_dict(), built["random"].state_dict()
    head = {"project.weight", "project.bias", "dense.weight", "dense.bias"}
    for k, v in random_head.items():
        if k in head:
            assert not torch.equal(v, fm_head[k]), k
        elif not k.startswith(("attention.h", "linear")):  # changed above
            assert torch.equal(v, fm_head[k]), k
    with pytest.raises(ValueError, match="head_init"):
        create_model("inn", embedder=emb, n_features=N, n_fields=NF, head_init="ones")
