"""The embedders beyond GCN (sage, gat, lightgcn, transformer) against dense references on a small graph, values
and gradients; a feature without neighbours; the evaluation cache; fanout draws."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from gemcli.graph import operator
from gemcli.nn.embedders import create_embedder, embedder_class, embedder_names

N, D = 12, 8
ISOLATED = 11  # a feature with no neighbour


def graph() -> sp.csr_matrix:
    """A symmetric 0/1 adjacency on N nodes, node ISOLATED without neighbours, node 0 with many."""
    rng = np.random.default_rng(0)
    a = (rng.random((N, N)) < 0.3).astype(np.float64)
    a[0, 1:8] = 1
    a = np.triu(a, 1)
    a = a + a.T
    a[ISOLATED, :] = a[:, ISOLATED] = 0
    return sp.csr_matrix(a)


def make(kind: str, fresh: bool = False, **options):
    """The embedder on graph(); the transformer's gates and type vectors (zero at first) drawn at random, unless
    fresh, so that the comparisons with the references exercise its attention and feed-forward."""
    torch.manual_seed(0)
    adj = operator(graph(), embedder_class(kind).operator)
    emb = create_embedder(kind, n_features=N, dim=D, init_std=0.3, adjacency=adj, **options)
    if kind == "transformer" and not fresh:
        with torch.no_grad():
            emb.kind.normal_(0, 0.3)
            emb.gate.uniform_(0.5, 1.5)
    return emb


def encode(emb, seq: torch.Tensor) -> torch.Tensor:
    """torch's own TransformerEncoder over seq [1, L, D] with each layer's branches gated: its output projections
    (attention's out_proj, the feed-forward's linear2) times the layer's gate, which is the same function."""
    params = dict(emb.encoder.named_parameters())
    for i in range(len(emb.encoder.layers)):
        for name in ("self_attn.out_proj.weight", "self_attn.out_proj.bias", "linear2.weight", "linear2.bias"):
            params[f"layers.{i}.{name}"] = emb.gate[i] * params[f"layers.{i}.{name}"]
    return torch.func.functional_call(emb.encoder, params, (seq,))


def dense(kind: str) -> torch.Tensor:
    return torch.from_numpy(operator(graph(), kind).toarray()).float()


def reference(kind: str, emb, options) -> torch.Tensor:
    """The embedder's table from its equation, dense and by loops, with the embedder's own parameters."""
    w = emb.weight
    if kind == "sage":
        m = dense("mean")
        if options.get("combine", "tables") == "tables":
            return w + m @ emb.neighbour
        return torch.cat([w, m @ w], dim=1) @ emb.mix
    if kind == "lightgcn":
        a, hops = dense("sym"), options.get("hops", 2)
        alphas = (
            [float(v) for v in options["weights"].split(":")] if "weights" in options else [1 / (hops + 1)] * (hops + 1)
        )
        out, p = alphas[0] * w, w
        for k in range(1, hops + 1):
            p = a @ p
            out = out + alphas[k] * p
        return out
    if kind == "gat":
        a = graph().toarray() + np.eye(N)
        h = emb.heads
        dh = D // h
        rows = []
        for u in range(N):
            nbrs = np.flatnonzero(a[u])
            z = F.leaky_relu(w[u] @ emb.left + w[nbrs] @ emb.right, emb.slope).view(len(nbrs), h, -1)
            alpha = torch.softmax((z * emb.att).sum(-1), dim=0)  # over the neighbourhood, per head
            rows.append((alpha.unsqueeze(-1) * w[nbrs].view(len(nbrs), h, dh)).sum(0).reshape(D))
        return torch.stack(rows)
    if kind == "transformer":
        a_off = operator(graph(), "sym-nodiag").toarray()
        rows = []
        for u in range(N):
            nbrs = sorted(np.flatnonzero(a_off[u]), key=lambda j: (-a_off[u, j], j))[: emb.k]
            seq = torch.cat([(w[u] + emb.kind[0]).unsqueeze(0), w[list(nbrs)] + emb.kind[1]]).unsqueeze(0)
            rows.append(encode(emb, seq)[0, 0])  # one sequence, no padding
        return torch.stack(rows)
    raise AssertionError(kind)


CASES = [
    ("sage", {}),
    ("sage", {"combine": "concat"}),
    ("lightgcn", {}),
    ("lightgcn", {"hops": 3, "weights": "0.4:0.3:0.2:0.1"}),
    ("gat", {"heads": 2}),
    ("gat", {"heads": 4, "att_dim": 3}),
    ("transformer", {"neighbours": 3, "heads": 2}),
    ("transformer", {"neighbours": 2, "heads": 1, "layers": 2}),  # the last layer alone at position 0
]


def test_every_embedder_is_registered():
    assert set(embedder_names()) == {"lookup", "gcn", "sage", "gat", "lightgcn", "transformer"}


@pytest.mark.parametrize(("kind", "options"), CASES)
def test_values_and_gradients_against_a_dense_reference(kind, options):
    emb = make(kind, **options)
    nodes = torch.tensor([0, 3, 5, ISOLATED])
    target = torch.randn(len(nodes), D, generator=torch.Generator().manual_seed(1))
    emb.eval()  # the evaluation's neighbours (transformer: the top K) and the whole table
    torch.testing.assert_close(emb.table(), reference(kind, emb, options), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(emb.rows(nodes), reference(kind, emb, options)[nodes], rtol=1e-4, atol=1e-5)
    if kind == "transformer":  # training draws K neighbours; with K at least every degree, it takes them all
        emb = make(kind, **{**options, "neighbours": N})
        options = {**options, "neighbours": N}
    emb.train()
    got = emb.rows(nodes)
    (got * target).sum().backward()
    grads = {n: p.grad.clone() for n, p in emb.named_parameters()}
    emb.zero_grad()
    want = reference(kind, emb, options)[nodes]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    (want * target).sum().backward()
    for name, p in emb.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-4, atol=1e-5, msg=f"gradient of {name}")


@pytest.mark.parametrize(("kind", "options"), CASES)
def test_a_feature_without_neighbours_is_a_lookup(kind, options):
    emb = make(kind, **options).eval()
    row = emb.rows(torch.tensor([ISOLATED]))[0]
    w = emb.weight[ISOLATED]
    if kind == "transformer":  # a lookup of the table Enc(W + s): its own row alone decides it
        expect = encode(emb, (w + emb.kind[0]).view(1, 1, D))[0, 0]
    elif kind == "sage" and options.get("combine") == "concat":
        expect = w @ emb.mix[:D]
    else:
        expect = w
    torch.testing.assert_close(row, expect, rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # and no other row moves it
        emb.train()
        emb.weight[:ISOLATED] += 1.0
        emb.eval()
    torch.testing.assert_close(emb.rows(torch.tensor([ISOLATED]))[0], row, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("kind", "options"), CASES)
def test_evaluation_computes_the_table_once(kind, options, monkeypatch):
    emb = make(kind, **options).eval()
    calls = {"n": 0}
    real = type(emb).table

    def counted(self):
        calls["n"] += 1
        return real(self)

    monkeypatch.setattr(type(emb), "table", counted)
    a = emb.rows(torch.tensor([0, 1]))
    b = emb.rows(torch.tensor([2, 0]))
    assert calls["n"] == 1 and torch.equal(a[0], b[1])
    emb.train()
    emb.rows(torch.tensor([0]))
    emb.eval()
    emb.rows(torch.tensor([0]))
    assert calls["n"] == 2  # a training step drops the cache
    emb.double()  # moving or casting the module (what .to("cuda") does) drops it too (found on a GPU)
    assert emb.rows(torch.tensor([0])).dtype == torch.float64 and calls["n"] == 3


@pytest.mark.parametrize("kind", ["sage", "lightgcn"])
def test_fanout_draws_are_unbiased(kind):
    exact = make(kind).train()
    sampled = make(kind, fanout=2).train()
    node = torch.tensor([0])  # node 0 has more than 2 neighbours
    with torch.no_grad():
        want = exact.rows(node)
        torch.manual_seed(3)
        mean = torch.stack([sampled.rows(node) for _ in range(4000)]).mean(0)
        one = sampled.rows(node)
    assert not torch.allclose(one, want, atol=1e-4)  # a single draw is not the exact row
    torch.testing.assert_close(mean, want, rtol=0.05, atol=0.02)


def test_the_transformer_starts_as_fm_s_lookup():
    """Its residual branches' gates start at zero: g = W + s = W at initialisation, at the table's scale (a plain
    encoder adds values of order 1 to rows of scale init_std: Frappe's first epoch had a training MSE of ~6e4)."""
    for options in ({"neighbours": 3, "heads": 2}, {"neighbours": 2, "heads": 1, "layers": 2}):
        emb = make("transformer", fresh=True, **options)
        torch.testing.assert_close(emb.eval().table(), emb.weight.detach(), rtol=0, atol=0)
        emb.train()
        torch.testing.assert_close(emb.rows(torch.arange(N)), emb.weight[torch.arange(N)], rtol=0, atol=0)
        out = emb.rows(torch.arange(N))
        out.sum().backward()  # and the gates learn from the first step
        assert (emb.gate.grad != 0).all()


def test_transformer_training_draws_at_most_k_neighbours_in_proportion():
    emb = make("transformer", neighbours=2, heads=2).train()
    torch.manual_seed(0)
    seq = torch.cat([emb.sequences(torch.tensor([0]), draw=True) for _ in range(3000)])
    assert seq.shape == (3000, 2) and (seq >= 0).all()
    a_off = operator(graph(), "sym-nodiag").toarray()[0]
    freq = torch.bincount(seq.flatten(), minlength=N).double() / seq.numel()
    torch.testing.assert_close(freq, torch.from_numpy(a_off / a_off.sum()).double(), rtol=0, atol=0.03)


def test_bad_embedder_options_are_one_line():
    from gemcli.errors import GemError

    for kind, options, msg in [
        ("gat", {"heads": 3}, "must split into heads"),
        ("transformer", {"heads": 3}, "must split into heads"),
        ("sage", {"combine": "max"}, "combine='max'"),
        ("lightgcn", {"hops": 2, "weights": "0.5:0.5"}, "expected 3 numbers"),
    ]:
        with pytest.raises(GemError, match=msg):
            make(kind, **options)


@pytest.mark.parametrize(
    ("kind", "options"),
    [("sage", []), ("gat", ["heads=2"]), ("lightgcn", ["hops=2"]), ("transformer", ["neighbours=4", "heads=2"])],
)
def test_each_embedder_trains_evaluates_and_says_its_options(gem, graph_run, kind, options):
    opts = [a for o in options for a in ("--embedder-option", o)]
    gem(
        "train",
        "--embedder",
        kind,
        *opts,
        "--embedding-size",
        "8",
        "--batch-size",
        "256",
        "--epochs",
        "2",
        "--name",
        kind,
    )
    summary = json.loads((graph_run / "models" / kind / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["embedder"] == kind
    assert "rmse" in gem("evaluate", "--run", kind).output
    assert kind in gem("embedders").output


@pytest.mark.parametrize("where", ["output", "edges", "weights"])
def test_gcn_dropout_placements_are_unbiased_and_off_when_evaluating(where):
    torch.manual_seed(0)
    a_hat = operator(graph(), "sym")
    emb = create_embedder("gcn", n_features=N, dim=D, init_std=0.3, adjacency=a_hat, dropout=0.5, dropout_on=where)
    nodes = torch.tensor([0, 3, ISOLATED])
    exact = torch.from_numpy(a_hat.toarray()).float() @ emb.weight
    emb.eval()
    torch.testing.assert_close(emb.rows(nodes), exact[nodes].detach())  # no dropout when evaluating
    emb.train()
    with torch.no_grad():
        torch.manual_seed(1)
        draws = torch.stack([emb.rows(nodes) for _ in range(3000)])
    assert not torch.allclose(draws[0], exact[nodes], atol=1e-4)  # a draw drops something
    torch.testing.assert_close(draws.mean(0), exact[nodes].detach(), rtol=0.1, atol=0.03)  # unbiased


def test_gcn_edge_dropout_gradient_is_the_masked_operator_s():
    torch.manual_seed(0)
    a_hat = operator(graph(), "sym")
    emb = create_embedder("gcn", n_features=N, dim=D, init_std=0.3, adjacency=a_hat, dropout=0.4, dropout_on="edges")
    nodes = torch.tensor([0, 2, 5])
    cols, weights, offsets, _ = emb.adj.entries(nodes, 0)
    torch.manual_seed(9)
    keep = torch.rand(len(weights)) >= 0.4  # the draw propagate makes right after reading the entries
    lens = torch.diff(offsets, append=offsets.new_tensor([len(cols)]))
    row = torch.repeat_interleave(torch.arange(len(nodes)), lens)
    s = torch.zeros(len(nodes), N).index_put_((row, cols), weights * keep / 0.6, accumulate=True)
    target = torch.randn(len(nodes), D)
    torch.manual_seed(9)
    got = emb.train().rows(nodes)
    (got * target).sum().backward()
    grad = emb.weight.grad.clone()
    emb.weight.grad = None
    want = s @ emb.weight
    (want * target).sum().backward()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, emb.weight.grad, rtol=1e-5, atol=1e-6)


def test_gcn_dropout_on_is_an_option_saved_and_older_runs_read_as_output(gem, graph_run):
    from gemcli.config import config_key

    gem("train", "--gem", "--gcn-dropout", "0.2", "--gcn-dropout-on", "weights", "--epochs", "1", "--name", "w")
    cfg = json.loads((graph_run / "models" / "w" / "config.json").read_text())
    assert cfg["model"]["embedder_options"]["dropout_on"] == "weights"
    old = json.loads(json.dumps(cfg))
    old["model"].pop("embedder_options")  # a run saved by 0.3.0: gcn_* fields, no gcn_dropout_on
    old["model"]["gcn_dropout"] = 0.2
    new = json.loads(json.dumps(cfg))
    new["model"]["embedder_options"]["dropout_on"] = "output"
    assert config_key(old) == config_key(new)
    res = gem("train", "--gem", "--gcn-dropout-on", "nodes", "--epochs", "1", ok=False)
    assert res.exit_code == 2 and "--gcn-dropout-on" in res.output


def test_a_transformer_saved_before_the_gates_loads_as_plain_layers():
    """gemcli 0.4.1 saved no gates; its layers were torch's plain ones, which are gates of 1."""
    old = make("transformer", neighbours=3, heads=2).eval()
    state = {k: v for k, v in old.state_dict().items() if k != "gate"}
    new = make("transformer", fresh=True, neighbours=3, heads=2)
    new.load_state_dict(state)
    assert (new.gate == 1).all()
    w = new.weight[ISOLATED]
    plain = new.encoder((w + new.kind[0]).view(1, 1, D))[0, 0]  # torch's own layers, ungated
    torch.testing.assert_close(new.eval().rows(torch.tensor([ISOLATED]))[0], plain, rtol=1e-5, atol=1e-6)


def test_inn_head_init_is_saved_older_inn_runs_read_as_random_and_pretrain_makes_it_moot(gem, run):
    """--head-init is saved in the run's config; a config saved before it (0.4.3) rebuilds and compares as random, the
    head it had; from a pretrained FM the head starts as FM's whatever head_init says, so it is left out of the key."""
    from gemcli.config import RunConfig, config_key

    gem("train", "--base", "inn", "--embedding-size", "8", "--epochs", "1", "--name", "i")
    cfg = json.loads((run / "models" / "i" / "config.json").read_text())
    assert cfg["model"]["base_options"]["head_init"] == "fm"
    old = json.loads(json.dumps(cfg))
    old["model"]["base_options"].pop("head_init")  # a run saved by 0.4.3
    assert RunConfig.from_dict(old).model.base_options["head_init"] == "random"
    random = json.loads(json.dumps(cfg))
    random["model"]["base_options"]["head_init"] = "random"
    assert config_key(old) == config_key(random) != config_key(cfg)
    for c in (old, cfg):
        c["model"]["pretrain"] = "fm8"
    assert config_key(old) == config_key(cfg)
    res = gem("train", "--base", "fm", "--head-init", "fm", "--dry-run", ok=False)
    assert res.exit_code == 2 and "--head-init: base fm has no such option" in res.output


def _rewrite_config(folder, cfg):
    """config.json replaced as an older gemcli wrote it, its manifest entry with it (as that version's would be)."""
    import hashlib

    text = json.dumps(cfg, indent=2)
    (folder / "config.json").write_text(text)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["outputs"]["config.json"] = hashlib.sha256(text.encode()).hexdigest()
    manifest["output_sizes"]["config.json"] = len(text.encode())
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("layout", ["0.4.4", "0.1.0"])
def test_gem_runs_saved_with_gcn_fields_evaluate_compare_and_count_as_the_same_run(gem, graph_run, layout):
    """GEM's GCN options moved from the model fields gcn_* (0.1.0-0.4.4; 0.1.0 also said gem: true, not the
    embedder) to embedder_options. A run saved the old way evaluates to the same metrics, shows in compare as
    GEM+FM, and is the same experiment as the same command today (run again: nothing trained)."""
    from gemcli.config import RunConfig, config_key

    args = ["train", "--gem", "--gcn-dropout", "0.2", "--embedding-size", "8", "--epochs", "1", "--name", "g"]
    gem(*args)
    folder = graph_run / "models" / "g"
    new = json.loads((folder / "config.json").read_text())
    assert new["model"]["embedder_options"]["dropout"] == 0.2 and "gcn_dropout" not in new["model"]
    before = gem("evaluate", "--run", "g").output
    old = json.loads(json.dumps(new))
    options = old["model"].pop("embedder_options")
    old["model"].update(
        {
            "gcn_layers": 1,
            "gcn_activation": "none",
            "gcn_dropout": options["dropout"],
            "gcn_dropout_on": "output",
            "gcn_fanout": 0,
            "embedder_options": {},
        }
    )
    if layout == "0.1.0":
        del old["model"]["embedder"], old["model"]["embedder_options"], old["model"]["gcn_dropout_on"]
        old["model"]["gem"] = True
    _rewrite_config(folder, old)
    assert config_key(old) == config_key(new)
    assert RunConfig.from_dict(old).model.embedder_options["dropout"] == 0.2
    assert gem("evaluate", "--run", "g").output.splitlines()[-4:] == before.splitlines()[-4:]
    assert "GEM+FM" in gem("compare").output
    res = gem(*args)
    assert "has finished already with this config" in res.output and "nothing trained" in res.output
    assert json.loads((folder / "config.json").read_text()) == old  # kept as it was saved
