"""gem build-graph: Â against a dense computation, sampling, type a/b, isolation, no leakage."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from gemcli.graph import load_adjacency, normalise, sample_neighbours


def graph(gem, run, *args):
    gem("build-graph", *args)  # chained: the run directory is remembered from preprocess
    infos = sorted((run / "graphs").glob("*/graph.json"), key=lambda p: json.loads(p.read_text())["created"])
    g = infos[-1].parent
    return load_adjacency(g), json.loads((g / "graph.json").read_text())


def edges_of(a_hat):
    a = sp.triu(a_hat, k=1).tocoo()
    return set(zip(a.row.tolist(), a.col.tolist(), strict=True))


def test_normalise_matches_dense():
    rng = np.random.default_rng(0)
    dense = (rng.random((30, 30)) < 0.15).astype(np.float64)
    dense = np.triu(dense, 1)
    dense = dense + dense.T
    a_tilde = dense + np.eye(30)
    d = np.diag(1 / np.sqrt(a_tilde.sum(1)))
    expect = d @ a_tilde @ d
    got = normalise(sp.csr_matrix(dense)).toarray()
    np.testing.assert_allclose(got, expect, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got, got.T)


def test_sampling_extremes_and_symmetry():
    rng = np.random.default_rng(1)
    m = sp.random(50, 50, density=0.2, random_state=1, format="csr")
    m.data[:] = 1
    a = m.maximum(m.T).tocsr()
    a.setdiag(0)
    a.eliminate_zeros()
    assert sample_neighbours(a, 0.0, 0).nnz == 0
    assert (sample_neighbours(a, 1.0, 0) != a).nnz == 0
    half = sample_neighbours(a, 0.5, 3)
    assert (half != half.T).nnz == 0
    assert ((half - a) > 0).nnz == 0  # a subset of the full graph
    # every node kept at least round(0.5 * degree) of its neighbours
    deg, kept = np.diff(a.indptr), np.diff(half.indptr)
    assert (kept >= np.round(0.5 * deg)).all()
    assert (sample_neighbours(a, 0.5, 3) != half).nnz == 0
    del rng


def test_full_graph_properties(gem, run):
    meta = json.loads((run / "data/meta.json").read_text())
    a_hat, info = graph(gem, run, "--type", "a")
    n = meta["n_features"]
    assert a_hat.shape == (n, n) and (abs(a_hat - a_hat.T) > 1e-7).nnz == 0
    assert info["config"]["fields"] == ["user", "item", "country", "city"]
    # every edge comes from a positive training instance, for an allowed field pair
    train = pl.read_parquet(run / "data/train.parquet").filter(pl.col("label") > 0)
    allowed = set()
    for f, g in [("user", "item"), ("user", "country"), ("user", "city"), ("item", "country"), ("item", "city")]:
        for s, d in zip(train[f].to_list(), train[g].to_list(), strict=True):
            allowed.add((min(s, d), max(s, d)))
    assert edges_of(a_hat) == allowed
    # fields left out of the graph are isolated: a self-loop of weight 1
    off = meta["offsets"]["isweekend"]
    for i in range(off, off + meta["cardinalities"]["isweekend"]):
        row = a_hat.getrow(i)
        assert row.nnz == 1 and row[0, i] == pytest.approx(1.0)
    assert info["edges"] == len(allowed)


def test_no_leakage_from_valid_test_or_negatives(gem, run):
    a_hat, _ = graph(gem, run, "--type", "b")
    frames = {s: pl.read_parquet(run / f"data/{s}.parquet") for s in ("train", "valid", "test")}
    train_pos = {(u, i) for u, i, y in frames["train"].select("user", "item", "label").iter_rows() if y > 0}
    for u, i in edges_of(a_hat):
        assert (u, i) in train_pos
    # some valid/test/negative pairs exist that are not training positives, and none of them is an edge
    others = {(u, i) for s in ("valid", "test") for u, i in frames[s].select("user", "item").iter_rows()}
    others |= {(u, i) for u, i, y in frames["train"].select("user", "item", "label").iter_rows() if y < 0}
    others -= train_pos
    assert others and not (others & edges_of(a_hat))


def test_type_b_subset_of_a_and_ratio(gem, run):
    a, _ = graph(gem, run, "--type", "a")
    b, info_b = graph(gem, run, "--type", "b")
    assert info_b["config"]["fields"] == ["user", "item"]
    assert edges_of(b) and edges_of(b) < edges_of(a)
    zero, info0 = graph(gem, run, "--type", "a", "--sample-ratio", "0")
    assert (zero != sp.identity(zero.shape[0], format="csr")).nnz == 0 and info0["edges"] == 0
    one, _ = graph(gem, run, "--type", "a", "--sample-ratio", "1")
    assert (one != a).nnz == 0
    half, _ = graph(gem, run, "--type", "a", "--sample-ratio", "0.5", "--seed", "1")
    assert edges_of(half) < edges_of(a)
    assert len(list((run / "graphs").iterdir())) == 4  # several graphs live side by side


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--fields", "user,item,planet"], "unknown field(s) planet"),
        (["--type", "b", "--fields", "user,country"], "--type b needs"),
        (["--sample-ratio", "1.5"], "--sample-ratio 1.5"),
        (["--type", "c"], "'c' is not one of 'a', 'b'"),
    ],
)
def test_bad_graph_options(gem, run, args, expect):
    res = gem("build-graph", *args, ok=False)
    assert res.exit_code != 0 and expect in res.output
    assert not (run / "graphs").exists()


def test_graph_before_preprocess(gem, tmp_path):
    res = gem("build-graph", "--run-dir", "empty", ok=False)
    assert res.exit_code != 0 and "run `gem preprocess" in res.output
    assert not (tmp_path / "empty").exists()


def test_the_graph_gives_every_operator_an_embedder_may_ask_for(gem, run):
    import numpy as np

    from gemcli.graph import load_operator

    gem("build-graph", "--type", "a")
    gdir = next((run / "graphs").iterdir())
    a_hat = load_operator(gdir, "sym").toarray().astype(np.float64)
    a = load_operator(gdir, "adjacency").toarray().astype(np.float64)
    assert set(np.unique(a)) <= {0.0, 1.0} and not np.diag(a).any() and (a == a.T).all()
    d = a.sum(axis=1) + 1
    np.testing.assert_allclose(a_hat, (a + np.eye(len(a))) / np.sqrt(np.outer(d, d)), rtol=1e-5, atol=1e-7)
    rw = load_operator(gdir, "rw").toarray()
    np.testing.assert_allclose(rw.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(rw, (a + np.eye(len(a))) / d[:, None], rtol=1e-5, atol=1e-7)


def test_a_study_graph_never_becomes_the_default(gem, run):
    """`gem train --gem` without --graph trains on the latest graph `gem build-graph` built, not on one a sweep
    built for its points afterwards (a sampling-ratio study once turned Table 1's GEM rows into ratio-0.8 runs)."""
    gem("build-graph", "--type", "a")
    gem("sweep", "sampling-ratio", "--values", "0.5", "--epochs", "1", "--name", "sr")
    assert (run / "graphs" / "a-user-item-country-city-r0.5-s0").is_dir()  # the sweep's, built after type a's
    gem("train", "--gem", "--epochs", "1", "--name", "t")
    assert json.loads((run / "models" / "t" / "config.json").read_text())["model"]["graph"] == (
        "a-user-item-country-city-r1-s0"
    )


def test_without_a_built_graph_the_default_is_the_one_build_graph_would_build(gem, run):
    gem("sweep", "sampling-ratio", "--values", "0.5", "--epochs", "1", "--name", "half")
    res = gem("train", "--gem", "--epochs", "1", ok=False)  # only a study's ratio-0.5 graph: named, not taken
    assert res.exit_code == 2
    assert "only studies' graphs (a-user-item-country-city-r0.5-s0 (sweep half))" in res.output
    assert not (run / "models").exists() or not any((run / "models").iterdir())
    gem("sweep", "sampling-ratio", "--values", "1", "--epochs", "1", "--name", "full")
    gem("train", "--gem", "--epochs", "1", "--name", "t")
    assert json.loads((run / "models" / "t" / "config.json").read_text())["model"]["graph"] == (
        "a-user-item-country-city-r1-s0"
    )


def test_a_sweep_names_its_graph_and_the_one_gem_train_would_take(gem, run):
    """A GEM point no graph option names is on build-graph's default graph (type a); after `gem build-graph --type
    b`, `gem train --gem` takes b, and the sweep says so, with the --graph that puts its points there."""
    gem("build-graph", "--type", "b")
    res = gem("sweep", "dropout", "--values", "0.5", "--epochs", "1", "--name", "d")
    lines = res.output.splitlines()
    assert any(line.split() == ["build-graph", "defaults:", "graph=a-user-item-country-city-r1-s0"] for line in lines)
    assert "note: not b-user-item-r1-s0, the graph `gem train --gem` takes here" in res.output
    assert "--graph b-user-item-r1-s0 for that one" in res.output
    point = run / "sweeps" / "d" / "points" / "gem=True_gcn_dropout=0.5-s0" / "config.json"
    assert json.loads(point.read_text())["model"]["graph"] == "a-user-item-country-city-r1-s0"  # as it said
    res = gem("sweep", "dropout", "--values", "0.5", "--epochs", "1", "--name", "db", "--graph", "b-user-item-r1-s0")
    assert "note:" not in res.output and "graph=b-user-item-r1-s0" in res.output
    point = run / "sweeps" / "db" / "points" / "gem=True_gcn_dropout=0.5-s0" / "config.json"
    assert json.loads(point.read_text())["model"]["graph"] == "b-user-item-r1-s0"
    res = gem("tune", "t", "--gem", "--param", "lr=0.01:0.1", "--trials", "1", "--epochs", "1")
    assert "fm (gcn on a-user-item-country-city-r1-s0)" in res.output and "note: not b-user-item-r1-s0" in res.output
    res = gem("tune", "tb", "--gem", "--graph", "b-user-item-r1-s0", "--param", "lr=0.01:0.1", "--trials", "1",
              "--epochs", "1")  # fmt: skip
    assert "fm (gcn on b-user-item-r1-s0)" in res.output and "note:" not in res.output
    trial = run / "tune" / "tb" / "trials" / "trial0000-s0" / "config.json"
    assert json.loads(trial.read_text())["model"]["graph"] == "b-user-item-r1-s0"
    assert ", on graph b-user-item-r1-s0" in (run / "tune" / "tb" / "best-recipe.toml").read_text()  # not in options
    graphs = sorted(p.name for p in (run / "graphs").iterdir())
    for args, msg in [  # one line, exit 2, nothing written
        (["sweep", "dropout", "--graph", "nosuch", "--name", "x"], "--graph 'nosuch': no such graph"),
        (["sweep", "sampling-ratio", "--graph", "b-user-item-r1-s0", "--name", "x"], "builds its own graph"),
        (["sweep", "--param", "lr=0.1,0.2", "--graph", "b-user-item-r1-s0", "--name", "x"], "no point of this sweep"),
        (["tune", "x", "--param", "lr=0.01:0.1", "--graph", "b-user-item-r1-s0"], "the search is not GEM"),
        (["tune", "x", "--gem", "--param", "lr=0.01:0.1", "--graph", "nosuch"], "--graph 'nosuch': no such graph"),
    ]:
        res = gem(*args, ok=False)
        assert res.exit_code == 2 and msg in res.output, (args, res.output)
        assert not (run / "sweeps" / "x").exists() and not (run / "tune" / "x").exists()
    assert sorted(p.name for p in (run / "graphs").iterdir()) == graphs
