"""gem report table1 / curves from finished runs."""

from __future__ import annotations


def test_table1_run_missing_and_curves(gem, frappe_zip, tmp_path):
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "r")
    gem("build-graph", "--type", "a")
    res = gem(
        "report", "table1", "--run-missing", "--bases", "fm,nfm", "--seeds", "1", "--epochs", "1", "--out", "t1.md"
    )
    text = (tmp_path / "t1.md").read_text()
    assert "│ GEM+NFM" in res.output and "|---" not in res.output  # a table on the terminal, markdown in the file
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()[2:] if line.startswith("|")}
    # one epoch each: every run stopped by its cap, so marked (still improving), and named below the table
    assert rows["FM"].split("|")[2].strip() == "1\\*" and rows["GEM+NFM"].split("|")[2].strip() == "1\\*"
    assert rows["AFM"].split("|")[2].strip() == "0"  # not asked for
    note = "best epoch at the epoch cap, still improving when it stopped: table1-fm-s0, table1-gem-fm-s0"
    assert f"\\* {note}" in text
    assert f"* {note}" in res.output
    assert " 1* │" in res.output
    assert "0.3143" in rows["FM"] and "1.383M" in rows["FM"]  # the paper's figures beside ours
    assert "%" in rows["GEM+FM"].split("|")[-3] and rows["GEM+FM"].split("|")[-2].strip() == "-"  # one seed: no spread
    # the plain NFM was pre-trained from FM, as in the paper; GEM+NFM from GEM+FM
    assert '"pretrain": "table1-fm-s0"' in (tmp_path / "r/models/table1-nfm-s0/config.json").read_text()
    assert '"pretrain": "table1-gem-fm-s0"' in (tmp_path / "r/models/table1-gem-nfm-s0/config.json").read_text()
    # runs not made for the table are left out unless asked for; runs of one model must share a config
    gem("train", "--base", "fm", "--epochs", "1", "--seed", "1", "--lr", "0.01", "--name", "extra")
    res = gem("report", "table1")
    assert "│ FM  " in res.output and "read 4 of the 5 finished runs" in res.output
    fm_row = next(line for line in res.output.splitlines() if line.startswith("│ FM "))
    assert fm_row.split("│")[2].strip() == "1*"  # one epoch: at its cap
    res = gem("report", "table1", "--runs", "*", ok=False)
    assert res.exit_code == 2 and "would mix runs of different configs" in res.output
    # a second call trains nothing more: no run folder is new and no model file is written again
    models = tmp_path / "r/models"
    before = {p.name: p.stat().st_mtime_ns for p in models.glob("*/model.pt")}
    gem("report", "table1", "--run-missing", "--bases", "fm,nfm", "--seeds", "1", "--epochs", "1")
    assert {p.name: p.stat().st_mtime_ns for p in models.glob("*/model.pt")} == before
    gem("report", "curves", "table1-fm-s0", "table1-gem-fm-s0", "--out", "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_table1_change_in_seed_spread(tmp_path):
    import json

    from gemcli import report

    (tmp_path / "data").mkdir()
    (tmp_path / "data/meta.json").write_text(json.dumps({"dataset": "frappe"}))
    runs = [
        {"base": "fm", "gem": g, "test_rmse": r, "test_mae": 0.1, "parameters": 10}
        for g, vals in ((False, (0.30, 0.31, 0.32)), (True, (0.28, 0.29, 0.30)))
        for r in vals
    ]
    rows = {
        line.split("|")[1].strip(): line.split("|")
        for line in report.table1_markdown(tmp_path, runs=runs).splitlines()[2:]
    }
    assert rows["GEM+FM"][-2].strip() == "-2.0"  # (0.29 - 0.31) / 0.01
    assert rows["GEM+FM"][4].strip() == "0.2900 ± 0.0100"
    assert rows["GEM+FM"][2].strip() == "3"  # no config in these summaries: never marked as stopped by a cap
    for i, r in enumerate(runs):
        r.update(name=f"r{i}", best_epoch=10 if i == 4 else 7, config={"train": {"epochs": 10}})
    text = report.table1_markdown(tmp_path, runs=runs)
    rows = {line.split("|")[1].strip(): line.split("|") for line in text.splitlines()[2:] if line.startswith("|")}
    assert rows["GEM+FM"][2].strip() == "3\\*" and rows["FM"][2].strip() == "3"
    assert text.endswith("\n\n\\* best epoch at the epoch cap, still improving when it stopped: r4.\n")


def test_table1_gem_bases_from_scratch_beside_the_fine_tuned_ones(gem, frappe_zip, tmp_path):
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "r")
    gem("build-graph", "--type", "a")
    common = ["report", "table1", "--run-missing", "--bases", "fm,nfm", "--seeds", "1", "--epochs", "1"]
    gem(*common)
    res = gem(*common, "--gem-start", "scratch", "--out", "t1.md")
    cfg = (tmp_path / "r/models/table1-scratch-gem-nfm-s0/config.json").read_text()
    assert '"pretrain": null' in cfg  # the paper's way: no pre-training for the GEM base
    text = (tmp_path / "t1.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()[2:] if line.startswith("|")}
    assert rows["GEM+NFM (fine-tuned from GEM+FM)"].split("|")[2].strip() == "1\\*"  # 1 epoch: at the cap
    assert rows["GEM+NFM (from scratch)"].split("|")[2].strip() == "1\\*"
    assert "NFM" in rows and "GEM+FM" in rows  # the plain rows as before, GEM+FM once (it has no pre-training)
    assert "GEM+NFM (from scratch)" in res.output


def test_report_sweep_against_a_reference_point(gem, run, tmp_path):
    import json
    import statistics

    root = run / "sweeps" / "emb"
    root.mkdir(parents=True)
    (root / "sweep.json").write_text("{}")
    head = (  # as sweep.write_results writes it
        "base,embedder,seed,best_epoch,epochs_run,valid_rmse,valid_mae,test_rmse,test_mae,train_seconds,"
        "parameters,peak_rss_mib,run"
    )
    rmse = {("fm", "gcn"): (0.30, 0.32), ("fm", "sage"): (0.29, 0.31), ("nfm", "gcn"): (0.40, 0.40)}
    rows = [
        f"{b},{e},{s},5,6,0.3,0.1,{v:.6f},0.1{s},12.0,1000,500.0,{b}_{e}-s{s}"
        for (b, e), vs in rmse.items()
        for s, v in enumerate(vs)
    ]
    (root / "results.csv").write_text("\n".join([head, *rows]) + "\n")
    # what is still training is said below the table: a point two epochs in, and those not started
    (root / "sweep.json").write_text(json.dumps({"points": [{}] * 4, "seeds": [0, 1]}))
    running = root / "points" / "nfm_sage-s0"
    running.mkdir(parents=True)
    (running / "config.json").write_text(json.dumps({"train": {"monitor": "rmse", "epochs": 9}}))
    (running / "metrics.jsonl").write_text('{"epoch": 1, "valid_rmse": 0.5}\n{"epoch": 2, "valid_rmse": 0.6}\n')
    res = gem("report", "sweep", "emb", "--against", "embedder=gcn", "--out", "cmp.md")
    assert (
        "not finished, left out: nfm_sage-s0 (epoch 2 of at most 9, best 1: valid rmse 0.5000); 1 more not started"
        in " ".join(res.output.split())
    )
    # without --against: the sweep's own table, and the same note on what is still training
    (root / "results.md").write_text("| base embedder | seeds |\n|---|---:|\n| base=fm embedder=gcn | 2 |\n")
    res = gem("report", "sweep", "emb")
    assert "base=fm embedder=gcn" in res.output and "nfm_sage-s0 (epoch 2 of at most 9" in " ".join(res.output.split())
    lines = {line.split("|")[1].strip(): line.split("|") for line in (tmp_path / "cmp.md").read_text().splitlines()[2:]}
    sage = lines["base=fm embedder=sage"]
    assert sage[2].strip() == "2" and sage[5].strip() == "-0.0100"  # 0.30 against 0.31, on the same base
    pooled = statistics.stdev([0.29, 0.31])  # both points have the same spread
    assert sage[6].strip() == f"{-0.01 / pooled:+.1f}"
    assert lines["base=fm embedder=gcn"][5].strip() == "reference"
    assert lines["base=nfm embedder=gcn"][3].strip() == "0.4000 ± 0.0000"  # NFM's own reference, not FM's
    assert sage[7:11] == [" 1,000 ", " 2.0 ", " 0.20 ", " 500 "]  # 12 s over 6 epochs: 2 s an epoch, 0.2 min a run
    for bad, says in (
        (["--against", "embedder"], "expected KEY=VALUE"),
        (["--against", "lr=0.1"], "'lr' is not a key of sweep emb (base, embedder)"),
        (["--against", "embedder=gat"], "no finished point of sweep emb has embedder=gat"),
    ):
        res = gem("report", "sweep", "emb", *bad, ok=False)
        assert res.exit_code == 2 and says in res.output, res.output
    res = gem("report", "sweep", "nope", "--against", "embedder=gcn", ok=False)
    assert res.exit_code == 2 and "no sweep 'nope'" in res.output and "known: emb" in res.output


def test_report_sweep_against_a_variant_compares_across_the_keys_it_fixes(gem, run, tmp_path):
    """graph-type's points are variants, each fixing gem, type and fields: --against variant=... compares every
    variant with the reference (those keys follow the variant; they make no groups of their own)."""
    root = run / "sweeps" / "gt"
    root.mkdir(parents=True)
    (root / "sweep.json").write_text("{}")
    head = (
        "gem,variant,type,fields,seed,best_epoch,epochs_run,valid_rmse,valid_mae,test_rmse,test_mae,train_seconds,"
        "parameters,peak_rss_mib,run"
    )
    rmse = {("False", "FM", "", ""): (0.32, 0.34), ("True", "GEM type a", "a", ""): (0.30, 0.30)}
    rmse[("True", "GEM type b", "b", "")] = (0.31, 0.31)
    rows = [
        f'{g},{v},{t},"{f}",{s},5,6,0.3,0.1,{x:.6f},0.1,12.0,1000,500.0,r{i}-s{s}'
        for i, ((g, v, t, f), xs) in enumerate(rmse.items())
        for s, x in enumerate(xs)
    ]
    (root / "results.csv").write_text("\n".join([head, *rows]) + "\n")
    res = gem("report", "sweep", "gt", "--against", "variant=GEM type a", "--out", "cmp.md")
    assert "gem, type follow variant" in " ".join(res.output.split())
    lines = {line.split("|")[1].strip(): line.split("|") for line in (tmp_path / "cmp.md").read_text().splitlines()[2:]}
    assert lines["variant=FM"][5].strip() == "+0.0300"  # against type a, though its gem and type differ
    assert lines["variant=GEM type b"][5].strip() == "+0.0100"
    assert lines["variant=GEM type a"][5].strip() == "reference"


def test_finished_twins_are_adopted_not_trained_again(gem, graph_run, tmp_path):
    import json

    gem("sweep", "--param", "embedder=lookup,gcn", "--epochs", "1", "--name", "emb")
    points = graph_run / "sweeps/emb/points"
    res = gem("report", "table1", "--run-missing", "--bases", "fm", "--seeds", "2", "--epochs", "1")
    out = " ".join(res.output.split())
    assert "table1-fm-s0: adopted sweeps/emb/points/embedder=lookup-s0" in out
    assert "table1-gem-fm-s0: adopted sweeps/emb/points/embedder=gcn-s0" in out
    assert "table1-fm-s1: adopted" not in out  # no twin of seed 1: trained
    models = graph_run / "models"
    for run, point in (("table1-fm-s0", "embedder=lookup-s0"), ("table1-gem-fm-s0", "embedder=gcn-s0")):
        assert (models / run / "model.pt").read_bytes() == (points / point / "model.pt").read_bytes()
        summary = json.loads((models / run / "summary.json").read_text())
        twin = json.loads((points / point / "summary.json").read_text())
        assert summary["adopted_from"] == f"sweeps/emb/points/{point}" and summary["name"] == run
        assert summary["test_rmse"] == twin["test_rmse"] and summary["best_epoch"] == twin["best_epoch"]
        assert json.loads((models / run / "config.json").read_text())["name"] == run
        manifest = json.loads((models / run / "manifest.json").read_text())
        assert manifest["adopted_from"] == f"sweeps/emb/points/{point}" and manifest["stage"] == "train"
    assert json.loads((models / "table1-fm-s1/summary.json").read_text()).get("adopted_from") is None
    gem("evaluate", "--run", "table1-gem-fm-s0")  # the copy passes its manifest's checks
    assert "adopted (copies of identical finished runs, not trained again): table1-fm-s0 from" in " ".join(
        gem("report", "table1").output.split()
    )
    listed = {line.split("│")[1].strip(): line for line in gem("runs").output.splitlines() if "table1-" in line}
    assert "finished (adopted)" in listed["table1-fm-s0"] and "adopted" not in listed["table1-fm-s1"]
    # --no-adopt trains; a twin trained by another minor version of gemcli is not adopted
    res = gem("sweep", "--param", "embedder=lookup", "--epochs", "1", "--name", "again", "--no-adopt")
    assert "adopted" not in res.output and "1 to run" in res.output
    manifest = json.loads((points / "embedder=gcn-s0/manifest.json").read_text())
    manifest["versions"]["gemcli"] = "0.0.1"
    (points / "embedder=gcn-s0/manifest.json").write_text(json.dumps(manifest))
    res = gem("sweep", "--param", "embedder=lookup,gcn", "--epochs", "1", "--name", "third")
    out = " ".join(res.output.split())
    assert "embedder=lookup-s0: adopted sweeps/again/points/embedder=lookup-s0" in out  # the first twin found
    assert "embedder=gcn-s0: adopted" not in out and "1 adopted from finished twins, 1 to run" in out
    results = " ".join((graph_run / "sweeps/third/results.md").read_text().split())
    assert (
        "Adopted (copies of identical finished runs, not trained again): embedder=lookup-s0 from sweeps/again"
        in results
    )
    # adopting takes the run's lock, as training does: a folder another command works on is left to it
    import pytest

    from gemcli import rundir
    from gemcli.adopt import adopt_twins
    from gemcli.errors import GemError
    from gemcli.runs import read_run_config

    cfg, folder = read_run_config(points / "embedder=lookup-s0"), models / "copy-s0"
    with rundir.locked(rundir.run_lock(folder), "run copy-s0"), pytest.raises(GemError, match="in use"):
        adopt_twins(graph_run, [(cfg, folder)])
    assert not folder.exists() and adopt_twins(graph_run, [(cfg, folder)]) == []
    assert json.loads((folder / "summary.json").read_text())["name"] == "copy-s0"


def test_a_twin_the_epoch_cap_never_mattered_to_is_adopted_under_another_cap(gem, graph_run):
    import json

    models, points = graph_run / "models", graph_run / "sweeps/raised/points"
    gem("train", "--base", "fm", "--epochs", "30", "--patience", "1", "--name", "cap30")
    first = json.loads((models / "cap30/summary.json").read_text())
    assert first["epochs_run"] < 30 and first["epochs_run"] - first["best_epoch"] == 1  # ended by early stopping
    # asked with a higher cap (and a lower one it never reached): adopted as the run under that cap
    for cap in ("40", str(first["epochs_run"])):
        res = gem("sweep", "--param", "embedder=lookup", "--epochs", cap, "--patience", "1", "--name", f"raised{cap}")
        out = " ".join(res.output.split())
        assert (
            f"embedder=lookup-s0: adopted models/cap30 (the same config but for its epoch cap, 30, which it never "
            f"reached: early stopping ended it after epoch {first['epochs_run']}, as it would under {cap}" in out
        ), out
    points = graph_run / "sweeps/raised40/points"
    config = json.loads((points / "embedder=lookup-s0/config.json").read_text())
    summary = json.loads((points / "embedder=lookup-s0/summary.json").read_text())
    manifest = json.loads((points / "embedder=lookup-s0/manifest.json").read_text())
    assert config["train"]["epochs"] == summary["config"]["train"]["epochs"] == 40
    assert summary["adopted_epoch_cap"] == manifest["adopted_epoch_cap"] == 30
    assert "embedder=lookup-s0 from models/cap30 (trained under --epochs 30, never reached)" in " ".join(
        (graph_run / "sweeps/raised40/results.md").read_text().split()
    )
    # ... and it is that run: trained under the cap of 40, the same epochs, scores and weights
    gem("train", "--base", "fm", "--epochs", "40", "--patience", "1", "--name", "cap40")
    real = json.loads((models / "cap40/summary.json").read_text())
    for key in ("best_epoch", "epochs_run", "test_rmse", "valid_rmse", "test_mae"):
        assert summary[key] == real[key], key
    assert (points / "embedder=lookup-s0/model.pt").stat().st_size == (models / "cap40/model.pt").stat().st_size
    gem("evaluate", "--run", "cap30")
    # not adopted: a cap below the epochs it ran; a twin that ran to its cap; a cosine schedule, which reads the cap
    res = gem("sweep", "--param", "embedder=lookup", "--epochs", str(first["epochs_run"] - 1), "--patience", "1")
    assert "adopted" not in res.output and "1 to run" in res.output
    gem("train", "--base", "fm", "--epochs", "2", "--patience", "5", "--name", "ran-to-cap", "--seed", "1")
    res = gem("sweep", "--param", "embedder=lookup", "--epochs", "3", "--patience", "5", "--seeds", "2", "--name", "s1")
    assert "adopted" not in res.output and "2 to run" in res.output
    gem("train", "--base", "fm", "--epochs", "30", "--patience", "1", "--lr-schedule", "cosine", "--name", "cos")
    res = gem(
        "sweep",
        "--param",
        "embedder=lookup",
        "--epochs",
        "40",
        "--patience",
        "1",
        "--lr-schedule",
        "cosine",
        "--name",
        "cos40",
    )
    assert "adopted" not in res.output and "1 to run" in res.output


def test_a_sweep_s_adopted_points_are_in_its_results_before_its_first_trained_point_ends(gem, graph_run, monkeypatch):
    import csv

    import gemcli.sweep as sweep_mod

    gem("sweep", "--param", "embedder=lookup", "--epochs", "1", "--name", "first")
    seen = {}
    real = sweep_mod.run_points

    def run_points(run_dir, todo, spec, done):
        seen["rows"] = list(csv.DictReader((graph_run / "sweeps/second/results.csv").open()))
        return real(run_dir, todo, spec, done)

    monkeypatch.setattr(sweep_mod, "run_points", run_points)
    res = gem("sweep", "--param", "embedder=lookup,gcn", "--epochs", "1", "--name", "second")
    assert "1 adopted from finished twins, 1 to run" in res.output
    assert [r["embedder"] for r in seen["rows"]] == ["lookup"]  # the adopted point, while gcn trains


def test_table1_refuses_a_run_trained_with_another_config_than_asked(gem, graph_run):
    gem("report", "table1", "--run-missing", "--bases", "fm", "--seeds", "1", "--epochs", "1")
    res = gem("report", "table1", "--run-missing", "--bases", "fm", "--seeds", "1", "--epochs", "2", ok=False)
    assert res.exit_code == 2, res.output
    assert "table1-fm-s0: trained with another config than asked now (epochs saved 1, asked 2)" in " ".join(
        res.output.split()
    )
    gem("report", "table1", "--run-missing", "--bases", "fm", "--seeds", "1", "--epochs", "1")  # as trained: fine


def test_table1_stops_on_ctrl_c_and_says_how_far_an_unfinished_run_got(gem, graph_run, interrupt_after):
    import json
    import re

    run = graph_run
    patch = interrupt_after(2)
    res = gem("report", "table1", "--run-missing", "--bases", "fm", "--seeds", "1", "--epochs", "5", ok=False)
    assert res.exit_code == 130 and "interrupted at table1-fm-s0; run the same command again" in " ".join(
        res.output.split()
    )
    assert not (run / "models/table1-gem-fm-s0").exists()  # Ctrl-C stops the command, not just the run
    patch.undo()
    out = " ".join(gem("report", "table1").output.split())
    got = re.search(
        r"not finished, left out: table1-fm-s0 \(interrupted, epoch 2 of at most 5, best (\d): valid rmse", out
    )
    assert got and got.group(1) in "12", out
    # as printed: the same command again resumes the run from its last epoch, then trains the rest
    gem("report", "table1", "--run-missing", "--bases", "fm", "--seeds", "1", "--epochs", "5")
    epochs = [
        json.loads(line)["epoch"] for line in (run / "models/table1-fm-s0/metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) > 2
    assert (run / "models/table1-gem-fm-s0/summary.json").is_file()
