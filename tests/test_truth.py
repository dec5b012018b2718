"""What commands print must be true: recipes everywhere, sweeps and comparisons that cannot mix runs,
run directories that cannot be confused (issue 12)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from gemcli.config import resolve_config
from gemcli.recipes import builtin_recipes, find_recipe

GEM_FM = find_recipe("gem-fm").options  # the tuned recipe (gem tune's study); the tests check it is applied

SMALL = ["--embedding-size", "8", "--batch-size", "256", "--epochs", "1"]


@pytest.fixture
def run(graph_run):
    """These tests start with a graph built."""
    return graph_run


def config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


# ---------------------------------------------------------------- 1, 2: one resolution of option > recipe > default


def test_resolution_option_then_recipe_then_default():
    gem_fm = resolve_config("fm", True, {}).config
    assert (gem_fm.train.optimizer, gem_fm.train.lr, gem_fm.train.loss_reduction) == ("adam", GEM_FM["lr"], "mean")
    assert (gem_fm.train.epochs, gem_fm.train.patience, gem_fm.model.base_options["dropout"]) == (
        150,
        8,
        GEM_FM["dropout"],
    )
    assert (gem_fm.train.l2, gem_fm.model.embedder_options["dropout"]) == (
        GEM_FM["l2"],
        GEM_FM["gcn_dropout"],
    ) and GEM_FM["l2"] > 0
    fm = resolve_config("fm", False, {})
    assert (fm.config.train.epochs, fm.config.train.optimizer, fm.config.model.base_options["dropout"]) == (
        300,
        "adagrad",
        0.5,
    )
    assert fm.sources["epochs"] == "recipe fm" and fm.sources["dropout"] == "default" and fm.config.recipe == "fm"
    given = resolve_config("fm", True, {"lr": 0.01, "epochs": 3})
    assert (given.config.train.lr, given.config.train.epochs, given.config.train.patience) == (0.01, 3, 8)
    assert given.sources["lr"] == "option" and given.sources["patience"] == "recipe gem-fm"
    deepfm = resolve_config("deepfm", False, {}).config
    assert deepfm.recipe == "fine-tune" and deepfm.model.base_options["mlp"] == [200, 200, 200]
    assert resolve_config("nfm", False, {}).config.recipe == "fm"
    other = resolve_config("fm", False, {}, recipe="gem-fm-hand").config  # the hand recipe gem-fm replaced
    assert (other.train.optimizer, other.train.epochs, other.model.base_options["dropout"]) == ("adam", 150, 0.3)
    assert (other.train.lr, other.train.l2) == (0.005, 0.0)


def test_a_recipe_carries_an_embedders_own_options(tmp_path):
    from gemcli.errors import GemError

    rec = tmp_path / "emb.toml"
    rec.write_text('chosen_on = "a test"\n[options]\nlr = 0.002\n[embedder_options.gat]\nfanout = 4\nheads = 2\n')
    gat = resolve_config("fm", "gat", {}, recipe=str(rec))
    assert gat.config.model.embedder_options == {"fanout": 4, "heads": 2} and gat.config.train.lr == 0.002
    assert gat.sources["embedder_options.fanout"] == "recipe emb" and "gat.fanout=4" in gat.describe()
    given = resolve_config("fm", "gat", {}, recipe=str(rec), embedder_options={"fanout": 2})
    assert given.config.model.embedder_options == {"fanout": 2, "heads": 2}  # --embedder-option wins
    assert given.sources["embedder_options.fanout"] == "option" and given.sources["embedder_options.heads"] != "option"
    assert resolve_config("fm", "sage", {}, recipe=str(rec)).config.model.embedder_options == {}  # another's
    rec.write_text('chosen_on = "x"\n[embedder_options.gat]\nwidth = 4\n')
    with pytest.raises(GemError, match=r"emb.toml: \[embedder_options.gat\] width: embedder gat has no such option"):
        resolve_config("fm", "sage", {}, recipe=str(rec))
    rec.write_text('chosen_on = "x"\n[embedder_options.gcn]\nlayers = 2\n')  # GEM's GCN: an ordinary embedder
    assert resolve_config("fm", "gcn", {}, recipe=str(rec)).config.model.embedder_options == {"layers": 2}
    rec.write_text('chosen_on = "x"\n[embedder_options.gcn]\nlayers = "two"\n')
    with pytest.raises(GemError, match=r"emb.toml: \[embedder_options.gcn\]: gcn_layers = 'two' is not a int"):
        resolve_config("fm", "gcn", {}, recipe=str(rec))
    rec.write_text('chosen_on = "x"\nembedder_options = 3\n')
    with pytest.raises(GemError, match="must be tables of option = value"):
        resolve_config("fm", "gat", {}, recipe=str(rec))


def test_train_prints_and_saves_the_resolved_config(gem, run, tmp_path):
    res = gem("train", "--gem", "--embedding-size", "8", "--batch-size", "256", "--epochs", "1", "--name", "g")
    assert "recipe gem-fm:" in res.output and "patience=8" in res.output and "optimizer=adam" in res.output
    saved = config(run / "models/g")
    assert saved["recipe"] == "gem-fm" and saved["train"]["patience"] == 8 and saved["train"]["epochs"] == 1
    assert saved["sources"]["epochs"] == "option" and saved["sources"]["lr"] == "recipe gem-fm"
    assert saved["model"]["base_options"] == {"dropout": GEM_FM["dropout"]}
    # a recipe file of one's own
    (tmp_path / "mine.toml").write_text(
        'chosen_on = "a test"\n[options]\noptimizer = "sgd"\nlr = 0.01\npatience = 2\nloss_reduction = "mean"\n'
    )
    gem("train", "--recipe", str(tmp_path / "mine.toml"), *SMALL, "--name", "m")
    assert config(run / "models/m")["train"]["optimizer"] == "sgd" and config(run / "models/m")["train"]["lr"] == 0.01
    (tmp_path / "bad.toml").write_text('chosen_on = "x"\n[options]\nlearning_rate = 0.5\n')
    res = gem("train", "--recipe", str(tmp_path / "bad.toml"), "--dry-run", ok=False)
    assert res.exit_code == 2 and "bad.toml: option 'learning_rate' cannot be set by a recipe" in res.output
    res = gem("train", "--recipe", "nosuch", "--dry-run", ok=False)
    assert res.exit_code == 2 and f"no such recipe; built-in: {', '.join(builtin_recipes())} (" in res.output
    res = gem("train", "--gcn-dropout", "0.2", "--dry-run", ok=False)
    assert res.exit_code == 2 and "--gcn-dropout needs --gem" in res.output
    res = gem("recipes")
    assert "gem-fm" in res.output and "fm/gcn" in res.output


def test_sweep_takes_the_recipe(gem, run):
    gem("sweep", "dropout", "--values", "0.0", *SMALL)
    cfg = config(run / "sweeps/dropout/points/gem=True_gcn_dropout=0.0-s0")
    t = cfg["train"]
    assert (t["optimizer"], t["lr"], t["loss_reduction"], t["patience"]) == ("adam", GEM_FM["lr"], "mean", 8)
    assert cfg["model"]["base_options"]["dropout"] == GEM_FM["dropout"] and cfg["recipe"] == "gem-fm"
    assert cfg["sources"]["gcn_dropout"] == "sweep point" and cfg["sources"]["epochs"] == "option"


def test_table1_run_missing_uses_the_recipes(gem, run):
    gem("report", "table1", "--run-missing", "--bases", "fm", "--seeds", "1", "--epochs", "1")
    assert config(run / "models/table1-gem-fm-s0")["train"]["patience"] == 8
    assert config(run / "models/table1-fm-s0")["train"]["optimizer"] == "adagrad"


# ---------------------------------------------------------------- 4: sweeps cannot mix runs


def test_sweep_rerun_with_other_options_stops(gem, run):
    gem("sweep", "dropout", "--values", "0.5,0.0", *SMALL)
    res = gem("sweep", "dropout", "--values", "0.5,0.0", *SMALL, "--lr", "0.01", ok=False)
    assert res.exit_code == 2 and "sweep dropout was run with other options" in res.output and "lr" in res.output
    assert "--force" in res.output
    # a new sweep beside it, or --force to retrain with the new options
    gem("sweep", "dropout", "--values", "0.0", *SMALL, "--lr", "0.01", "--name", "dropout-lr01")
    assert config(run / "sweeps/dropout-lr01/points/gem=True_gcn_dropout=0.0-s0")["train"]["lr"] == 0.01
    res = gem("sweep", "dropout", "--values", "0.0", *SMALL, "--lr", "0.01", "--force")
    # its twin finished in dropout-lr01: copied, not trained again
    assert "0 finished already with this config, 1 adopted from finished twins, 0 to run" in res.output
    assert config(run / "sweeps/dropout/points/gem=True_gcn_dropout=0.0-s0")["train"]["lr"] == 0.01


def test_sweep_point_saved_with_another_config_is_not_reused(gem, run):
    gem("sweep", "dropout", "--values", "0.0", *SMALL)
    path = run / "sweeps/dropout/points/gem=True_gcn_dropout=0.0-s0/config.json"
    cfg = json.loads(path.read_text())
    cfg["train"]["optimizer"] = "adagrad"  # e.g. trained by an older version with another recipe
    path.write_text(json.dumps(cfg))
    res = gem("sweep", "dropout", "--values", "0.0", *SMALL, ok=False)
    assert (
        res.exit_code == 2 and "was trained with another config (optimizer saved 'adagrad', asked 'adam')" in res.output
    )
    res = gem("sweep", "dropout", "--values", "0.0", *SMALL, "--force")
    assert "1 to run" in res.output and config(path.parent)["train"]["optimizer"] == "adam"


def test_sweep_results_list_every_point_sorted(gem, run):
    gem("sweep", "dropout", "--values", "0.5,0.0", *SMALL)
    res = gem("sweep", "dropout", "--values", "0.2", *SMALL)
    assert "0 finished already with this config, 1 to run" in res.output
    root = run / "sweeps/dropout"
    rows = list(csv.DictReader((root / "results.csv").open()))
    assert [float(r["gcn_dropout"]) for r in rows] == [0.0, 0.2, 0.5]
    md = (root / "results.md").read_text()
    assert [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| 0.")] == ["0.0", "0.2", "0.5"]
    assert "one seed per point" in md
    assert "sweep dropout" in res.output and "0.2" in res.output and "|---" not in res.output  # a table, not markdown


# ---------------------------------------------------------------- 5: compare groups by config


def test_compare_groups_by_config_not_by_label(gem, run):
    gem("train", *SMALL, "--name", "a")
    gem("train", *SMALL, "--name", "b")  # the same config and seed again
    gem("train", *SMALL, "--seed", "1", "--name", "c")
    gem("train", *SMALL, "--lr", "0.01", "--name", "d")
    res = gem("compare")
    rows = [line for line in res.output.splitlines() if line.startswith("│ FM")]
    assert len(rows) == 2, res.output
    same = next(r for r in rows if "lr=0.05" in r)
    other = next(r for r in rows if "lr=0.01" in r)
    assert same.split("│")[3].strip() == "2 (0, 1)" and "b, c" in same and " a" not in same.split("│")[-2]
    assert other.split("│")[3].strip() == "1 (0)"  # the seeds column: how many, then which (not a bare "0")
    assert "seed repeated; counted once (the latest run), left out: a" in res.output


# ---------------------------------------------------------------- 6: what table1 read, gem runs, short names


def test_table1_says_what_it_read_and_runs_lists_runs(gem, run):
    gem("train", *SMALL)  # a default name: TIME-fm-s0
    gem("train", "--gem", *SMALL)
    res = gem("report", "table1")
    assert "read 0 of the 2 finished runs" in res.output and "--runs '*'" in res.output
    res = gem("report", "table1", "--runs", "*")
    assert "read 2 of the 2 finished runs" in res.output
    res = gem("runs")
    names = sorted(p.name for p in (run / "models").iterdir() if not p.name.startswith("."))  # not lock files
    assert all(n in res.output for n in names) and "finished" in res.output and "gem-fm" in res.output
    res = gem("report", "curves", "fm-s0", "gem-fm-s0", "--out", "c.png")  # the README's example, as written
    assert Path("c.png").stat().st_size > 1000
    gem("train", *SMALL)
    res = gem("report", "curves", "fm-s0", ok=False)
    assert res.exit_code == 2 and "'fm-s0' is ambiguous" in res.output


def test_table1_refuses_to_mix_configs(gem, run):
    gem("train", *SMALL, "--name", "x1")
    gem("train", *SMALL, "--lr", "0.01", "--seed", "1", "--name", "x2")
    res = gem("report", "table1", "--runs", "x*", ok=False)
    assert res.exit_code == 2 and "would mix runs of different configs" in res.output and "lr" in res.output


# ---------------------------------------------------------------- 7: preprocess over existing data


def test_preprocess_refuses_to_replace_other_data(gem, run, frappe_zip):
    gem("train", *SMALL, "--name", "old")
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "r")  # identical data: fine
    res = gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "r", "--seed", "7", ok=False)
    assert res.exit_code == 2 and "holds other data already" in res.output and "--force" in res.output
    res = gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "r", "--seed", "7", "--force")
    assert "no longer usable" in res.output and "old" in res.output
    res = gem("compare", ok=False)
    assert res.exit_code == 2 and "trained on other data" in res.output


# ---------------------------------------------------------------- 8: the run directory comes from the working directory


def test_run_dir_found_from_the_working_directory(gem, frappe_zip, tmp_path, monkeypatch):
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "runs/one")
    time.sleep(0.05)
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "runs/two")
    res = gem("build-graph")
    assert "run directory: runs/two (the most recently used of 2" in res.output
    assert (tmp_path / "runs/two/graphs").is_dir() and not (tmp_path / "runs/one/graphs").exists()
    os.utime(tmp_path / "runs/one/.gemcli-run")  # used last now
    res = gem("build-graph")
    assert "run directory: runs/one" in res.output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    res = gem("compare", ok=False)  # nothing here: no run directory of another project
    assert res.exit_code == 2 and "no run directory in" in res.output
    assert not list(elsewhere.iterdir())
    # a run directory outside the working directory is found again from where it was used
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", str(tmp_path / "far/away"))
    res = gem("build-graph")
    assert f"run directory: {tmp_path / 'far/away'}" in res.output and (tmp_path / "far/away/graphs").is_dir()
    monkeypatch.chdir(tmp_path)
    assert "run directory: runs/one" in gem("build-graph").output


# ---------------------------------------------------------------- 9, 10: threads, a failed download


def test_threads_option_and_env(gem, run, monkeypatch):
    import torch

    gem("train", "--threads", "1", "--dry-run")
    assert torch.get_num_threads() == 1
    monkeypatch.setenv("GEM_THREADS", "2")
    gem("train", "--dry-run")
    assert torch.get_num_threads() == 2
    monkeypatch.setenv("GEM_THREADS", "many")
    res = gem("train", "--dry-run", ok=False)
    assert res.exit_code == 2 and "GEM_THREADS" in res.output


def test_failed_download_leaves_no_folder(gem, env, monkeypatch):
    import urllib.request

    def offline(*a, **kw):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    res = gem("preprocess", "frappe", "--run-dir", "r", ok=False)
    assert res.exit_code == 2 and "could not download" in res.output
    assert not (env / "datasets-cache").exists() and not (env / "r").exists()


def test_download_verifies_and_renames(tmp_path, monkeypatch, capsys):
    """A download is written under a temporary name, checked against its sha256, then renamed; a wrong
    digest leaves nothing (the progress bar, on stderr, prints nothing to stdout)."""
    import hashlib
    import io
    import urllib.request

    from gemcli.data.download import download
    from gemcli.errors import GemError

    body = b"x" * 3_000_000

    class Response(io.BytesIO):
        headers = {"Content-Length": str(len(body))}

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Response(body))
    dest = tmp_path / "d [1]" / "a.zip"
    assert download(["file:///a"], dest, hashlib.sha256(body).hexdigest()) == dest
    assert dest.read_bytes() == body and os.listdir(dest.parent) == ["a.zip"]
    with pytest.raises(GemError, match="sha256 .* does not match the published 00"):
        download(["file:///b"], tmp_path / "e" / "b.zip", "00" * 32)
    assert not (tmp_path / "e").exists() and capsys.readouterr().out == ""


# ---------------------------------------------------------------- 11: output to a pipe does not wrap


def test_output_to_a_pipe_keeps_long_lines(gem, run):
    name = "a-run-with-a-rather-long-name-so-that-eighty-columns-would-split-it"
    gem("train", *SMALL, "--name", name)
    res = gem("runs")
    assert name in res.output


def test_config_key_ignores_the_seed_and_a_seeded_pretrain_source():
    from gemcli.config import config_key, differing

    def cfg(seed, pretrain, lr=0.001):
        c = resolve_config("deepfm", False, {"seed": seed, "pretrain": pretrain, "lr": lr}).config.to_dict()
        return config_key(c)

    assert cfg(0, "table1-fm-s0") == cfg(1, "table1-fm-s1")
    assert cfg(0, "20261128-101010-fm-s0") == cfg(2, "20261129-111111-fm-s2")
    assert differing(cfg(0, "a"), cfg(0, "b")) == [("pretrain", "a", "b")]
    assert [k for k, _, _ in differing(cfg(0, "x"), cfg(0, "x", lr=0.01))] == ["lr"]


def test_runs_written_by_0_1_0_still_evaluate_resume_and_compare(gem, run, interrupt_after):
    """Folders in the 0.1.0 format: config.json without recipe/sources and with partial base options,
    manifest.json without output_sizes."""
    import hashlib

    def to_old(folder):
        cfg = config(folder)
        for k in ("recipe", "sources"):
            cfg.pop(k)
        cfg["model"]["base_options"] = {}
        (folder / "config.json").write_text(json.dumps(cfg))
        mpath = folder / "manifest.json"
        if mpath.is_file():
            m = json.loads(mpath.read_text())
            m.pop("output_sizes")
            m["outputs"]["config.json"] = hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()
            mpath.write_text(json.dumps(m))

    gem("train", *SMALL, "--epochs", "2", "--name", "old")
    to_old(run / "models/old")
    gem("train", *SMALL, "--epochs", "2", "--seed", "1", "--name", "new")
    res = gem("evaluate", "--run", "old")
    assert "rmse" in res.output
    res = gem("compare")
    rows = [line for line in res.output.splitlines() if line.startswith("│ FM")]
    assert len(rows) == 1 and "0, 1" in rows[0]  # the same config: one row
    from gemcli.config import RunConfig, resolve_config
    from gemcli.train import fit

    cfg = resolve_config("fm", False, {"embedding_size": 8, "batch_size": 256, "epochs": 3}, name="oldpart").config
    patch = interrupt_after(1)
    fit(run, cfg, quiet=True)
    patch.undo()
    to_old(run / "models/oldpart")
    assert RunConfig.from_dict(config(run / "models/oldpart")).recipe is None
    gem("train", "--resume", "--run", "oldpart")
    assert json.loads((run / "models/oldpart/summary.json").read_text())["status"] == "finished"


def test_paths_with_brackets_are_printed_whole(gem, frappe_zip, tmp_path, interrupt_after):
    """Paths are text, not rich markup: `[1]` is not swallowed as a tag, `[/x]` does not crash the print."""
    where = tmp_path / "exp [1]" / "[/x]"
    src = tmp_path / "[b]f[i].zip"  # not the official archive: the warning names it
    shutil.copy(frappe_zip, src)
    res = gem("preprocess", "frappe", "--source", src, "--run-dir", where)
    assert f"warning: {src}: " in res.output and "│ total " in res.output, res.output
    assert f"frappe -> {where}/data\n" in res.output, res.output  # the title on one line, whole
    res = gem("build-graph", "--type", "a", "--run-dir", where)
    assert f"saved {where}/graphs/" in res.output
    res = gem("train", *SMALL, "--name", "ok", "--run-dir", where)
    assert f"saved {where}/models/ok" in res.output and "\nok: FM on frappe (" in res.output
    res = gem("report", "curves", "ok", "--out", where / "c [2].png", "--run-dir", where)
    assert f"saved {where}/c [2].png" in res.output
    interrupt_after(1)
    res = gem("train", *SMALL[:-2], "--epochs", "3", "--name", "cut", "--run-dir", where, ok=False)
    assert res.exit_code == 130 and f"--run-dir '{where}'`" in res.output, res.output
    assert "interrupted after epoch 1; resume with `gem train --resume --run cut" in res.output, res.output


def test_consoles_print_strings_as_text(capsys):
    """Every print through the shared consoles is text: a name or path that looks like markup prints whole."""
    from gemcli.console import err, out

    out.print("GEM[b]toy[/b]+FM saved runs/[1]/x", highlight=False)
    err.print("exp [/x]", highlight=False)
    got = capsys.readouterr()
    assert got.out == "GEM[b]toy[/b]+FM saved runs/[1]/x\n" and got.err == "exp [/x]\n"
