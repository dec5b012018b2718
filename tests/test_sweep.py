"""gem sweep end to end on generated data; an interrupted sweep trains only what is missing."""

from __future__ import annotations

import csv
import json

import pytest

import gemcli.train as train_mod

SMALL = ["--embedding-size", "8", "--batch-size", "256", "--epochs", "1"]


def test_named_sweep_outputs_agree_with_runs(gem, run):
    gem("sweep", "dropout", "--values", "0.0,0.5", *SMALL)
    root = run / "sweeps" / "dropout"
    rows = list(csv.DictReader((root / "results.csv").open()))
    assert [float(r["gcn_dropout"]) for r in rows] == [0.0, 0.5]
    for r in rows:
        s = json.loads((root / "points" / r["run"] / "summary.json").read_text())
        assert float(r["test_rmse"]) == pytest.approx(s["test_rmse"], abs=1e-6)
        assert s["gem"] is True
    md = (root / "results.md").read_text()
    assert "| 0.5 | 1 |" in md and f"| 0.5 | 1 | {float(rows[1]['test_rmse']):.4f} |" in md  # one seed: no spread shown
    assert (root / "dropout.png").stat().st_size > 1000


def test_graph_type_and_param_grid(gem, run):
    gem("sweep", "graph-type", *SMALL)
    rows = list(csv.DictReader((run / "sweeps/graph-type/results.csv").open()))
    assert [r["variant"] for r in rows] == ["FM", "GEM type b", "GEM type a", "GEM type a + isweekend"]
    gem("sweep", "--param", "lr=0.01,0.05", "--param", "sample_ratio=0,1", "--param", "gem=true", *SMALL)
    root = run / "sweeps/grid-lr-sample_ratio-gem"
    rows = list(csv.DictReader((root / "results.csv").open()))
    assert len(rows) == 4
    md = (root / "results.md").read_text()  # a grid over two keys: each row names both values, not only the first
    assert "| lr sample_ratio | seeds |" in md
    assert all(f"| lr={lr} sample_ratio={r} | 1 |" in md for lr in (0.01, 0.05) for r in (0.0, 1.0))


def test_gem_flag_makes_a_grid_of_gem_points(gem, run):
    """--gem on a grid is --embedder gcn, as on gem train and gem tune: GCN points under GEM+FM's recipe."""
    gem("sweep", "--gem", "--param", "weight_decay=0,0.01", *SMALL, "--name", "wd")
    configs = sorted((run / "sweeps/wd/points").glob("*/config.json"))
    assert len(configs) == 2
    for path in configs:
        cfg = json.loads(path.read_text())
        assert cfg["model"]["embedder"] == "gcn" and cfg["train"]["lr"] == pytest.approx(0.0036569, rel=1e-4)
    res = gem("sweep", "--gem", "--embedder", "sage", "--param", "lr=0.01,0.05", *SMALL, ok=False)
    assert res.exit_code == 2 and "--gem is --embedder gcn" in res.output


def test_interrupted_sweep_trains_only_what_is_missing(gem, run, monkeypatch):
    calls = []
    real_fit = train_mod.fit

    def flaky(*args, **kw):
        calls.append(kw.get("folder") or kw.get("resume"))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed half way
        return real_fit(*args, **kw)

    monkeypatch.setattr(train_mod, "fit", flaky)
    res = gem("sweep", "sampling-ratio", "--values", "0,0.5,1", *SMALL, ok=False)
    assert res.exit_code != 0
    assert len(calls) == 2
    calls.clear()
    monkeypatch.setattr(train_mod, "fit", lambda *a, **kw: (calls.append(1), real_fit(*a, **kw))[1])
    gem("sweep", "sampling-ratio", "--values", "0,0.5,1", *SMALL)
    assert len(calls) == 2  # the first point was finished and is skipped
    assert len(list(csv.DictReader((run / "sweeps/sampling-ratio/results.csv").open()))) == 3


def test_bad_sweeps(gem, run):
    res = gem("sweep", "nosuch", ok=False)
    assert res.exit_code != 0 and "unknown sweep 'nosuch'" in res.output
    res = gem("sweep", "--param", "nonsense=1,2", ok=False)
    assert res.exit_code != 0 and "unknown option" in res.output
    for args, msg in [  # an option the point's base does not take, named as written, before anything is written
        (["--base", "wide_deep", "--param", "dropout=0.1,0.2"], "--param dropout: base wide_deep has no such option"),
        (["--param", "base=fm,nfm", "--param", "mlp_dropout=0.1"], "--param mlp_dropout: base fm has no such option"),
    ]:
        res = gem("sweep", *args, ok=False)
        assert res.exit_code == 2 and msg in res.output and not (run / "sweeps").exists(), res.output


def test_parallel_sweep_gives_the_sequential_results(gem, run):
    gem("sweep", "dropout", "--values", "0.0,0.5", *SMALL, "--jobs", "2", "--threads", "1", "--name", "par")
    gem("sweep", "dropout", "--values", "0.0,0.5", *SMALL, "--threads", "1", "--name", "seq")
    par = list(csv.DictReader((run / "sweeps/par/results.csv").open()))
    seq = list(csv.DictReader((run / "sweeps/seq/results.csv").open()))
    assert [r["test_rmse"] for r in par] == [r["test_rmse"] for r in seq] and len(par) == 2


def test_embedder_study_runs_every_embedder_on_three_bases(gem, graph_run):
    gem("sweep", "embedder", "--values", "lookup,sage,lightgcn", "--epochs", "1", "--embedding-size", "8")
    root = graph_run / "sweeps" / "embedder"
    rows = list(csv.DictReader((root / "results.csv").open()))
    assert sorted((r["base"], r["embedder"]) for r in rows) == sorted(
        (b, e) for b in ("fm", "deepfm", "nfm") for e in ("lookup", "sage", "lightgcn")
    )
    md = (root / "results.md").read_text()
    assert "| base embedder | seeds |" in md and "| base=deepfm embedder=sage | 1 |" in md
    assert "| parameters | s/epoch | min/run | peak MiB |" in md
    points = [line.split("|") for line in md.splitlines() if line.startswith("| base=")]
    assert len(points) == 9 and all(cells[-6].strip() == "1*" for cells in points)  # best epoch 1 of 1: the cap
    assert "best epoch at the epoch cap: that run was still improving" in md
    sage = next(r for r in rows if r["base"] == "fm" and r["embedder"] == "sage")
    lookup = next(r for r in rows if r["base"] == "fm" and r["embedder"] == "lookup")
    assert int(sage["parameters"]) > int(lookup["parameters"])  # sage's own and neighbour tables
    assert all(float(r["peak_rss_mib"]) > 50 for r in rows)  # a process with torch loaded, at least
    assert (root / "embedder.png").stat().st_size > 1000
    res = gem("report", "sweep", "embedder", "--against", "embedder=lookup")  # reads the sweep's own results.csv
    assert "base=deepfm embedder=sage" in res.output and res.output.count("reference") == 3  # one per base


def test_a_grid_over_bases_and_embedders_plots_one_series_per_base():
    from gemcli.sweep import Point, plot_groups

    grid = [Point({"base": b, "embedder": e}, None, None, {}) for b in ("fm", "nfm") for e in ("lookup", "gcn")]  # type: ignore[arg-type]
    assert plot_groups(grid, "embedder") == ["base=fm", "base=fm", "base=nfm", "base=nfm"]
    one = [Point({"gcn_dropout": v}, None, None, {}) for v in (0.0, 0.2)]  # type: ignore[arg-type]
    assert plot_groups(one, "gcn_dropout") is None  # one key: one series
    # graph-type's variants each fix gem, type and fields: those follow the x key, one series (not one per variant)
    variants = [
        Point({"variant": "FM", "gem": False}, None, None, {}),  # type: ignore[arg-type]
        Point({"variant": "GEM type b", "gem": True, "type": "b"}, None, None, {}),  # type: ignore[arg-type]
        Point({"variant": "GEM type a", "gem": True, "type": "a"}, None, None, {}),  # type: ignore[arg-type]
    ]
    assert plot_groups(variants, "variant") is None
