"""gem train / evaluate / compare end to end through the CLI; determinism, checkpoints, resume."""

from __future__ import annotations

import json

import pytest
import torch

from gemcli.config import ModelConfig, RunConfig, TrainConfig
from gemcli.train import fit

SMALL = ["--embedding-size", "8", "--batch-size", "128"]


@pytest.fixture
def run(graph_run):
    """These tests start with a graph built."""
    return graph_run


def summaries(run):
    return [json.loads(p.read_text()) for p in sorted((run / "models").glob("*/summary.json"))]


def test_chain_fm_and_gem(gem, run):
    res = gem("train", "--base", "fm", *SMALL, "--epochs", "3", "--name", "fm")
    assert "best epoch" in res.output
    gem("train", "--base", "fm", "--gem", *SMALL, "--epochs", "3", "--name", "gem")
    for name in ("fm", "gem"):
        folder = run / "models" / name
        for f in ("config.json", "model.pt", "metrics.jsonl", "summary.json", "curves.png", "manifest.json"):
            assert (folder / f).is_file(), f
        assert not (folder / "checkpoint.pt").exists()
        rows = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in rows] == [1, 2, 3]
        s = json.loads((folder / "summary.json").read_text())
        assert s["status"] == "finished" and s["parameters"] > 0
        best = min(rows, key=lambda r: r["valid_rmse"])
        assert s["best_epoch"] == best["epoch"] and s["test_rmse"] == best["test_rmse"]
    cfg = json.loads((run / "models/gem/config.json").read_text())
    assert cfg["model"]["embedder"] == "gcn" and cfg["model"]["graph"].startswith("a-")
    # evaluate the latest run (gem): the reloaded best weights give the metrics recorded in training
    res = gem("evaluate")
    ev = json.loads((run / "models/gem/eval.json").read_text())["test"]
    s = json.loads((run / "models/gem/summary.json").read_text())
    assert ev["metrics"]["rmse"] == pytest.approx(s["test_rmse"], abs=1e-6)
    assert ev["metrics"]["mae"] == pytest.approx(s["test_mae"], abs=1e-6)
    gem("evaluate", "--run", "fm", "--split", "valid")
    ev = json.loads((run / "models/fm/eval.json").read_text())["valid"]
    assert ev["metrics"]["rmse"] == pytest.approx(
        json.loads((run / "models/fm/summary.json").read_text())["valid_rmse"], abs=1e-6
    )
    res = gem("compare")
    assert "GEM+FM" in res.output and "FM" in res.output


def test_same_seed_same_metrics(gem, run):
    for name in ("a", "b"):
        gem("train", "--gem", *SMALL, "--epochs", "2", "--seed", "4", "--gcn-dropout", "0.3", "--name", name)
    rows = {n: (run / f"models/{n}/metrics.jsonl").read_text() for n in ("a", "b")}
    strip = lambda t: [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in t.splitlines()]  # noqa: E731
    assert strip(rows["a"]) == strip(rows["b"])


def test_resume_equals_uninterrupted(gem, run, interrupt_after):
    def cfg(name):
        return RunConfig(
            model=ModelConfig(base="fm", embedder="gcn", embedding_size=8, embedder_options={"dropout": 0.2}),
            train=TrainConfig(batch_size=128, epochs=4, patience=10, seed=1),
            data={},
            name=name,
        )

    full = fit(run, cfg("full"), quiet=True)
    patch = interrupt_after(2)
    part = fit(run, cfg("part"), quiet=True)
    patch.undo()
    assert part["status"] == "interrupted" and part["epochs_run"] == 2 and (run / "models/part/checkpoint.pt").is_file()
    # the CLI resumes the latest interrupted run
    gem("train", "--resume")
    done = json.loads((run / "models/part/summary.json").read_text())
    assert done["status"] == "finished" and done["epochs_run"] == 4
    for key in ("best_epoch", "test_rmse", "test_mae", "valid_rmse"):
        assert done[key] == full[key], key
    a = torch.load(run / "models/full/model.pt", weights_only=True)["model"]
    b = torch.load(run / "models/part/model.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_dry_run_and_errors(gem, run):
    res = gem("train", "--base", "fm", "--dry-run")
    assert "trainable parameters" in res.output
    res = gem("train", "--base", "nosuch", "--dry-run", ok=False)
    assert res.exit_code != 0 and "'nosuch' is not one of" in res.output
    res = gem("train", "--optimizer", "lbfgs", *SMALL, "--epochs", "1", ok=False)
    assert res.exit_code != 0 and "--optimizer" in res.output
    res = gem("train", "--gem", "--graph", "nope", "--dry-run", ok=False)
    assert "no such graph" in res.output
    res = gem("evaluate", "--run", "missing", ok=False)
    assert res.exit_code != 0 and "no such run" in res.output


def test_pretrain_from_fm(gem, run):
    gem("train", "--base", "fm", *SMALL, "--epochs", "2", "--name", "fm8")
    gem("train", "--base", "deepfm", *SMALL, "--mlp", "16-8", "--epochs", "1", "--pretrain", "fm8", "--name", "dfm")
    assert json.loads((run / "models/dfm/config.json").read_text())["model"]["pretrain"] == "fm8"
    res = gem("train", "--base", "nfm", "--embedding-size", "16", "--pretrain", "fm8", "--dry-run", ok=False)
    assert res.exit_code != 0 and "embedding size 8 differs from 16" in res.output
    from gemcli import rundir
    from gemcli.build import build_model, count_parameters
    from gemcli.config import resolve_config

    meta = rundir.read_meta(run)
    afm = build_model(run, resolve_config("afm", False, {}).config.model, meta)
    res = gem("train", "--base", "afm", "--dry-run")
    assert f"AFM: {count_parameters(afm):,} trainable parameters" in res.output
    # the DeepFM above started from fm8's table and linear weights
    fm8 = torch.load(run / "models/fm8/model.pt", weights_only=True)["model"]
    cfg = resolve_config("deepfm", False, {"embedding_size": 8, "mlp": [16, 8], "pretrain": "fm8"}).config
    start = build_model(run, cfg.model, meta)
    torch.testing.assert_close(start.embedder.weight, fm8["embedder.weight"])
    torch.testing.assert_close(start.linear.weight, fm8["linear.weight"])


def test_gem_pretrain_from_gem_fm_starts_from_its_embeddings(gem, run):
    import torch

    from gemcli import rundir
    from gemcli.build import build_model, load_trained
    from gemcli.config import ModelConfig

    gem("train", "--base", "fm", "--gem", *SMALL, "--epochs", "1", "--name", "gfm")
    meta = rundir.read_meta(run)
    source, _, _ = load_trained(run, run / "models/gfm", meta)
    g_model = build_model(
        run, ModelConfig(base="nfm", embedder="gcn", embedding_size=8, pretrain="gfm", base_options={"mlp": [4]}), meta
    )
    torch.testing.assert_close(g_model.embedder.weight, source.embedder.weight)
    p_model = build_model(
        run, ModelConfig(base="nfm", embedding_size=8, pretrain="gfm", base_options={"mlp": [4]}), meta
    )
    torch.testing.assert_close(p_model.embedder.weight, source.eval().embedder.table())


def test_evaluate_libfm_file_with_auc_and_logloss(gem, tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)

    def write(path, n):
        lines = []
        for _ in range(n):
            u, i = int(rng.integers(20)), 20 + int(rng.integers(30))
            label = int((u + i) % 3 == 0)  # 0/1 labels with structure
            lines.append(f"{label} {u}:1 {i}:1")
        path.write_text("\n".join(lines) + "\n")

    for name, n in (("tr", 600), ("va", 100), ("te", 100)):
        write(tmp_path / f"{name}.libfm", n)
    gem(
        "preprocess",
        "libfm",
        "--train",
        "tr.libfm",
        "--valid",
        "va.libfm",
        "--test",
        "te.libfm",
        "--fields",
        "user,item",
        "--run-dir",
        "l",
    )
    gem("train", "--embedding-size", "8", "--batch-size", "64", "--epochs", "3", "--name", "m")
    res = gem("evaluate", "--run", "m", "--libfm", "te.libfm")
    ev = json.loads((tmp_path / "l/models/m/eval.json").read_text())["te.libfm"]
    from gemcli import rundir
    from gemcli.build import load_trained
    from gemcli.evaluate import libfm_through_vocab
    from gemcli.train import predict

    meta = rundir.read_meta(tmp_path / "l")
    model, _, _ = load_trained(tmp_path / "l", tmp_path / "l/models/m", meta)
    x, y = libfm_through_vocab(tmp_path / "te.libfm", meta)
    assert meta.task == "binary" and ev["task"] == "binary"  # 0/1 labels: the binary task, scores are logits
    p = torch.sigmoid(predict(model, x, 1024, torch.device("cpu"))).double().numpy()
    yy = y.numpy()
    pos, neg = p[yy == 1], p[yy == 0]
    brute_auc = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        len(pos) * len(neg)
    )
    q = np.clip(p, 1e-7, 1 - 1e-7)
    brute_logloss = -(yy * np.log(q) + (1 - yy) * np.log(1 - q)).mean()
    assert ev["metrics"]["auc"] == pytest.approx(brute_auc, abs=1e-9)
    assert ev["metrics"]["logloss"] == pytest.approx(brute_logloss, abs=1e-9)
    assert "auc" in res.output and "logloss" in res.output


def test_the_same_train_command_again_resumes_skips_or_names_what_differs(gem, run, interrupt_after):
    """`gem train ... --name N` run again: N interrupted resumes (the result of an uninterrupted run), N finished
    with this config trains nothing, N trained with another config stops with one line naming the difference."""
    args = ["--embedding-size", "8", "--batch-size", "128", "--epochs", "3", "--patience", "10", "--seed", "1"]
    gem("train", *args, "--name", "full")
    patch = interrupt_after(1)
    res = gem("train", *args, "--name", "part", ok=False)
    patch.undo()
    assert res.exit_code == 130
    res = gem("train", *args, "--name", "part")  # the same command again: resumed from epoch 1
    assert "epoch   1 " not in res.output and "epoch   2 " in res.output
    full, part = (json.loads((run / f"models/{n}/summary.json").read_text()) for n in ("full", "part"))
    assert part["status"] == "finished" and part["epochs_run"] == 3 and part["test_rmse"] == full["test_rmse"]
    before = (run / "models/part/model.pt").read_bytes()
    res = gem("train", *args, "--name", "part")
    assert res.exit_code == 0 and "run part has finished already with this config" in res.output
    assert "nothing trained" in res.output and (run / "models/part/model.pt").read_bytes() == before
    res = gem("train", *args, "--lr", "0.5", "--name", "part", ok=False)
    assert res.exit_code == 2 and "trained with another config than asked now (lr saved" in res.output
    assert (run / "models/part/model.pt").read_bytes() == before


def test_default_names_in_the_same_second_do_not_collide(gem, run, monkeypatch):
    """Two runs with default names started within one second: the second takes the next second's name instead of
    stopping with 'exists already' (a test trained two so fast that it failed)."""
    import time as time_mod

    frozen = time_mod.localtime()
    real = time_mod.strftime
    calls = {"n": 0}

    def strftime(fmt, t=None):  # the first two run names asked for fall in the same second
        if fmt != "%Y%m%d-%H%M%S":
            return real(fmt) if t is None else real(fmt, t)
        calls["n"] += 1
        return real(fmt, frozen) if calls["n"] <= 2 else real(fmt, time_mod.localtime(time_mod.time() + 1))

    monkeypatch.setattr(time_mod, "strftime", strftime)
    small = ["--embedding-size", "8", "--batch-size", "256", "--epochs", "1"]
    gem("train", *small)
    gem("train", *small)
    assert len(list((run / "models").glob("2*-fm-s0"))) == 2
