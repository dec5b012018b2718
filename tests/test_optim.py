"""Row-sparse optimisation equals torch's dense optimiser where it should (Adagrad, SGD)."""

from __future__ import annotations

import pytest
import scipy.sparse as sp
import torch

from gemcli.build import make_optimizer
from gemcli.config import TrainConfig
from gemcli.models import create_model
from gemcli.nn.embedders import create_embedder
from gemcli.train import train_step

N, D, B, NF = 60, 8, 32, 3


def model(kind, sparse, seed=0):
    torch.manual_seed(seed)
    kw = {}
    if kind == "gcn":
        from gemcli.graph import normalise

        a = sp.random(N, N, density=0.08, random_state=2, format="csr")
        a.data[:] = 1
        kw["adjacency"] = normalise(a.maximum(a.T))
    emb = create_embedder(kind, n_features=N, dim=D, sparse=sparse, init_std=0.1, **kw)
    return create_model("fm", embedder=emb, n_features=N, n_fields=NF, dropout=0.0)


@pytest.mark.parametrize("kind", ["lookup", "gcn"])
@pytest.mark.parametrize("opt", ["adagrad", "sgd"])
def test_row_sparse_equals_dense(kind, opt):
    g = torch.Generator().manual_seed(1)
    xs = torch.stack(
        [
            torch.randint(0, 20, (B * 5,), generator=g),
            torch.randint(20, 40, (B * 5,), generator=g),
            torch.randint(40, N, (B * 5,), generator=g),
        ],
        1,
    )
    ys = torch.randn(B * 5, generator=g).sign()
    tcfg = TrainConfig(optimizer=opt, lr=0.05)
    dense, sparse = model(kind, False), model(kind, True)
    od, os_ = make_optimizer(dense, tcfg, False), make_optimizer(sparse, tcfg, True)
    for b in range(5):
        xb, yb = xs[b * B : (b + 1) * B], ys[b * B : (b + 1) * B]
        train_step(dense, od, xb, yb, tcfg)
        train_step(sparse, os_, xb, yb, tcfg)
    for (n1, p1), (_, p2) in zip(dense.named_parameters(), sparse.named_parameters(), strict=True):
        torch.testing.assert_close(p1, p2, rtol=1e-5, atol=1e-6, msg=n1)


def test_row_sparse_adam_touches_only_batch_rows_and_resumes():
    m = model("lookup", True)
    tcfg = TrainConfig(optimizer="adam", lr=0.01)
    opt = make_optimizer(m, tcfg, True)
    before = m.embedder.weight.detach().clone()
    x = torch.tensor([[0, 20, 40], [1, 21, 41]])
    train_step(m, opt, x, torch.tensor([1.0, -1.0]), tcfg)
    changed = (m.embedder.weight.detach() != before).any(dim=1).nonzero().flatten().tolist()
    assert changed == [0, 1, 20, 21, 40, 41]
    state = opt.state_dict()
    opt2 = make_optimizer(model("lookup", True), tcfg, True)
    opt2.load_state_dict(state)
    assert opt2.steps == 1 and torch.equal(opt2.state[0]["m"], opt.state[0]["m"])


def test_row_sparse_l2_is_lazy_on_touched_rows():
    # with a zero learning signal (prediction == label is impossible to force), compare one SGD step
    # with and without L2: touched rows differ by exactly lr * 2 * l2 * w, untouched rows not at all
    x = torch.tensor([[0, 20, 40], [1, 21, 41]])
    y = torch.tensor([1.0, -1.0])
    runs = {}
    for l2 in (0.0, 0.1):
        m = model("lookup", True, seed=3)
        tcfg = TrainConfig(optimizer="sgd", lr=0.05, l2=l2)
        opt = make_optimizer(m, tcfg, True)
        w0 = m.embedder.weight.detach().clone()
        train_step(m, opt, x, y, tcfg)
        runs[l2] = m.embedder.weight.detach()
    diff = runs[0.0] - runs[0.1]
    touched = [0, 1, 20, 21, 40, 41]
    torch.testing.assert_close(diff[touched], 0.05 * 2 * 0.1 * w0[touched], rtol=1e-4, atol=1e-7)
    others = [i for i in range(N) if i not in touched]
    assert torch.equal(diff[others], torch.zeros_like(diff[others]))


def test_row_sparse_adam_equals_torch_adam_when_every_row_is_touched():
    rows = torch.arange(max(20, N - 40))
    x = torch.stack([rows % 20, 20 + rows % 20, 40 + rows % (N - 40)], 1)  # every feature in every batch
    g = torch.Generator().manual_seed(4)
    tcfg = TrainConfig(optimizer="adam", lr=0.01)
    dense, sparse = model("lookup", False), model("lookup", True)
    od, os_ = make_optimizer(dense, tcfg, False), make_optimizer(sparse, tcfg, True)
    for _ in range(4):
        y = torch.randn(len(x), generator=g).sign()
        train_step(dense, od, x, y, tcfg)
        train_step(sparse, os_, x, y, tcfg)
    for (n1, p1), (_, p2) in zip(dense.named_parameters(), sparse.named_parameters(), strict=True):
        torch.testing.assert_close(p1, p2, rtol=1e-4, atol=1e-6, msg=n1)


def test_checkpoint_from_another_table_layout_is_refused_clearly():
    from gemcli.errors import GemError

    tcfg = TrainConfig(optimizer="adam", lr=0.01)
    opt = make_optimizer(model("lookup", True), tcfg, True)
    state = opt.state_dict()
    state["rows"] = state["rows"] + state["rows"]  # as a GEM checkpoint whose W was row-sparse too
    with pytest.raises(GemError, match="another version of gemcli"):
        make_optimizer(model("lookup", True), tcfg, True).load_state_dict(state)


def test_a_row_sparse_table_read_around_its_module_is_refused():
    """A model that reads a row-sparse table directly (F.embedding on its weight) would lose that step: refused."""
    import pytest
    import torch.nn.functional as F

    from gemcli.optim import RowSparseOptimizer

    m = model("lookup", True)
    opt = RowSparseOptimizer(m, "sgd", 0.1)
    x = torch.tensor([[0, 9], [3, 12]])
    m.train()
    opt.zero_grad()
    (m(x).sum() + F.embedding(x, m.embedder.weight).sum()).backward()
    with pytest.raises(RuntimeError, match="row-sparse table got a dense gradient"):
        opt.step()
    assert not hasattr(m.embedder.weight, "_touched")  # pending rows belong to the module, not the Parameter


def test_weight_decay_is_adamw_and_row_sparse_equals_it_when_every_row_is_touched():
    rows = torch.arange(max(20, N - 40))
    x = torch.stack([rows % 20, 20 + rows % 20, 40 + rows % (N - 40)], 1)  # every feature in every batch
    g = torch.Generator().manual_seed(5)
    tcfg = TrainConfig(optimizer="adam", lr=0.01, weight_decay=0.5)
    dense, sparse, plain = model("lookup", False), model("lookup", True), model("lookup", False)
    od, os_ = make_optimizer(dense, tcfg, False), make_optimizer(sparse, tcfg, True)
    assert isinstance(od, torch.optim.AdamW) and od.defaults["weight_decay"] == 0.5
    ref = torch.optim.AdamW(plain.parameters(), lr=0.01, weight_decay=0.5)  # torch's own, unfused
    for _ in range(4):
        y = torch.randn(len(x), generator=g).sign()
        train_step(dense, od, x, y, tcfg)
        train_step(sparse, os_, x, y, tcfg)
        train_step(plain, ref, x, y, tcfg)
    for (n1, p1), (_, p2), (_, p3) in zip(
        dense.named_parameters(), sparse.named_parameters(), plain.named_parameters(), strict=True
    ):
        torch.testing.assert_close(p1, p3, rtol=1e-4, atol=1e-6, msg=n1)
        torch.testing.assert_close(p2, p3, rtol=1e-4, atol=1e-6, msg=n1)


def test_row_sparse_weight_decay_leaves_untouched_rows_and_shrinks_touched_ones():
    x = torch.tensor([[0, 20, 40], [1, 21, 41]])
    y = torch.tensor([1.0, -1.0])
    after = {}
    for wd in (0.0, 2.0):
        m = model("lookup", True, seed=3)
        tcfg = TrainConfig(optimizer="adam", lr=0.05, weight_decay=wd)
        opt = make_optimizer(m, tcfg, True)
        w0 = m.embedder.weight.detach().clone()
        train_step(m, opt, x, y, tcfg)
        after[wd] = m.embedder.weight.detach()
    touched = [0, 1, 20, 21, 40, 41]
    others = [i for i in range(N) if i not in touched]
    assert torch.equal(after[2.0][others], w0[others])
    # the same Adam step, on rows first shrunk by 1 - lr * wd = 0.9
    torch.testing.assert_close(after[2.0][touched] - after[0.0][touched], -0.1 * w0[touched], rtol=1e-4, atol=1e-7)


def test_weight_decay_needs_adam():
    from gemcli.errors import GemError

    with pytest.raises(GemError, match="--weight-decay 0.1: decoupled weight decay is Adam's"):
        make_optimizer(model("lookup", False), TrainConfig(optimizer="adagrad", lr=0.05, weight_decay=0.1), False)


def test_weight_decay_option_is_saved_older_runs_read_as_none_and_adagrad_is_refused(gem, run):
    import json

    from gemcli.config import config_key

    gem("train", "--optimizer", "adam", "--lr", "0.01", "--weight-decay", "0.01", "--epochs", "1", "--name", "wd")
    cfg = json.loads((run / "models" / "wd" / "config.json").read_text())
    assert cfg["train"]["weight_decay"] == 0.01 and cfg["sources"]["weight_decay"] == "option"
    old = json.loads(json.dumps(cfg))
    old["train"].pop("weight_decay")  # a run saved by 0.4.0
    new = json.loads(json.dumps(cfg))
    new["train"]["weight_decay"] = 0.0
    assert config_key(old) == config_key(new)
    res = gem("train", "--optimizer", "adagrad", "--weight-decay", "0.01", "--epochs", "1", "--name", "x", ok=False)
    assert res.exit_code == 2 and "--weight-decay 0.01: decoupled weight decay is Adam's" in res.output
    assert not (run / "models" / "x").exists()


@pytest.mark.parametrize("kind", ["lookup", "gcn"])
def test_max_grad_norm_is_torch_clipping_and_row_sparse_clips_the_same(kind):
    xs = torch.tensor([[i % 20, 20 + (3 * i) % 20, 40 + (7 * i) % (N - 40)] for i in range(B)])
    ys = torch.linspace(-1, 1, B)
    tcfg = TrainConfig(optimizer="sgd", lr=0.05, max_grad_norm=0.5)
    dense, sparse, plain, unclipped = (model(kind, s) for s in (False, True, False, False))
    od, os_ = make_optimizer(dense, tcfg, False), make_optimizer(sparse, tcfg, True)
    ref = torch.optim.SGD(plain.parameters(), lr=0.05)
    off = TrainConfig(optimizer="sgd", lr=0.05)
    ou = make_optimizer(unclipped, off, False)
    norms = []
    for _ in range(3):
        train_step(dense, od, xs, ys, tcfg)
        train_step(sparse, os_, xs, ys, tcfg)
        train_step(unclipped, ou, xs, ys, off)
        ref.zero_grad()
        ((plain(xs) - ys) ** 2).sum().backward()  # the square loss summed, as loss_reduction=sum
        norms.append(float(torch.nn.utils.clip_grad_norm_(plain.parameters(), 0.5)))
        ref.step()
    assert min(norms) > 0.5  # the clipping acted on every step
    for (n1, p1), (_, p2), (_, p3) in zip(
        dense.named_parameters(), sparse.named_parameters(), plain.named_parameters(), strict=True
    ):
        torch.testing.assert_close(p1, p3, rtol=1e-5, atol=1e-6, msg=n1)
        torch.testing.assert_close(p2, p3, rtol=1e-5, atol=1e-6, msg=n1)
    assert not torch.allclose(dense.embedder.weight, unclipped.embedder.weight)


def test_max_grad_norm_is_saved_older_runs_read_as_unclipped_and_negative_is_refused(gem, run):
    import json

    from gemcli.config import config_key

    gem("train", "--max-grad-norm", "5", "--epochs", "1", "--name", "clip")
    cfg = json.loads((run / "models" / "clip" / "config.json").read_text())
    assert cfg["train"]["max_grad_norm"] == 5.0 and cfg["sources"]["max_grad_norm"] == "option"
    old, new = json.loads(json.dumps(cfg)), json.loads(json.dumps(cfg))
    old["train"].pop("max_grad_norm")  # a run saved by 0.4.2
    new["train"]["max_grad_norm"] = 0.0
    assert config_key(old) == config_key(new) != config_key(cfg)
    res = gem("train", "--max-grad-norm", "-1", "--epochs", "1", "--name", "x", ok=False)
    assert res.exit_code == 2 and "--max-grad-norm -1.0: expected a non-negative norm" in res.output
    assert not (run / "models" / "x").exists()
