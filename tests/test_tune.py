"""gem tune on Optuna: a small study with pruning on generated data, a restart that continues it, two processes
sharing one journal file, an interrupted and a killed trial resumed, the best recipe, bad input."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("optuna")

SMALL = ["--embedding-size", "8", "--batch-size", "64", "--epochs", "6", "--patience", "10", "--threads", "1"]
SPACE = ["--param", "lr=log:1e-6:0.3", "--param", "dropout=0:0.5"]


def rows(root: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((root / "results.csv").open()))


def epochs_of(folder: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_study_with_pruning_continues_when_run_again(gem, run):
    gem("tune", "s", *SPACE, "--trials", "10", "--warmup", "1", "--sampler", "random", "--sampler-seed", "0", *SMALL)
    root = run / "tune" / "s"
    first = rows(root)
    assert len(first) == 10 and {r["state"] for r in first} <= {"finished", "pruned"}
    pruned = [r for r in first if r["state"] == "pruned"]
    assert pruned, first  # lr down to 1e-6 learns nothing: the median pruner stops such trials
    for r in pruned:  # a pruned trial leaves an ended folder that says so, stopped before the epoch cap
        s = json.loads((root / "trials" / r["folders"] / "summary.json").read_text())
        assert (
            s["status"] == "pruned" and s["epochs_run"] < 6 and (root / "trials" / r["folders"] / "model.pt").is_file()
        )
    for r in first:  # each finished trial's value is its run's validation RMSE at the best epoch
        if r["state"] == "finished":
            s = json.loads((root / "trials" / r["folders"] / "summary.json").read_text())
            assert float(r["valid_rmse"]) == pytest.approx(s["valid_rmse"], abs=1e-6)
            assert float(r["lr"]) == pytest.approx(s["config"]["train"]["lr"])
    finished = [r for r in first if r["state"] == "finished"]
    best = min(finished, key=lambda r: float(r["valid_rmse"]))
    assert f"Best: trial {best['trial']}," in (root / "results.md").read_text()
    assert (root / "history.png").stat().st_size > 1000 and (root / "importance.png").stat().st_size > 1000
    # run again with more trials: the study goes on; the first ten stay as they were
    res = gem(
        "tune", "s", *SPACE, "--trials", "12", "--warmup", "1", "--sampler", "random", "--sampler-seed", "0", *SMALL
    )
    assert "10 of 12 trials there already" in res.output
    again = rows(root)
    assert len(again) == 12 and again[:10] == first
    assert len({r["folders"] for r in again}) == 12
    assert len({r["lr"] for r in again}) == 12  # run again, the seeded sampler does not draw its first trials again
    # the best recipe trains with gem train --recipe, to the trial's own numbers
    recipe = root / "best-recipe.toml"
    assert "lr = " in recipe.read_text() and "dropout = " in recipe.read_text()
    best = min((r for r in again if r["state"] == "finished"), key=lambda r: float(r["valid_rmse"]))
    gem("train", "--recipe", recipe, "--name", "from-tune", "--threads", "1")
    s = json.loads((run / "models" / "from-tune" / "summary.json").read_text())
    assert s["valid_rmse"] == pytest.approx(float(best["valid_rmse"]), abs=1e-6)
    # trials are runs: gem runs / compare read them, gem evaluate takes one
    res = gem("runs", "--runs-in", root / "trials")
    assert "pruned" in res.output and "trial0000-s0" in res.output
    res = gem("compare", "--runs-in", root / "trials")
    title = " ".join(res.output.split())  # rich wraps the title
    assert f"finished runs in {root / 'trials'} (regression)" in title and "trial0000-s0" in title
    gem("evaluate", "--run", root / "trials" / best["folders"])


def test_two_processes_share_one_study_without_repeating_a_trial(gem, run, env):
    args = [sys.executable, "-c", "from gemcli.cli import main; main()", "tune", "shared", *SPACE, "--trials", "6"]
    args += ["--pruner", "none", "--sampler-seed", "0", *SMALL, "--run-dir", str(run)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    got = rows(run / "tune" / "shared")
    assert len(got) == 6 and all(r["state"] == "finished" for r in got), got
    assert sorted(int(r["trial"]) for r in got) == list(range(6))
    assert len({(r["lr"], r["dropout"]) for r in got}) == 6  # one sampler seed, two processes: no draw twice
    folders = sorted((run / "tune" / "shared" / "trials").glob("trial*"))
    assert len(folders) == 6 and all(epochs_of(f) == list(range(1, 7)) for f in folders)  # each trained once


def test_an_interrupted_trial_resumes_from_its_last_epoch(gem, run, interrupt_after):
    arm = interrupt_after(2)
    res = gem("tune", "i", *SPACE, "--trials", "2", "--pruner", "none", *SMALL, ok=False)
    assert res.exit_code == 130 and "run the same command again" in res.output
    arm.undo()
    root = run / "tune" / "i"
    assert epochs_of(root / "trials" / "trial0000-s0") == [1, 2]
    res = gem("tune", "i", *SPACE, "--trials", "2", "--pruner", "none", *SMALL)
    assert "1 interrupted, to resume: [0]" in res.output
    got = rows(root)
    assert [r["state"] for r in got] == ["interrupted, resumed by 1", "finished", "finished"]
    assert got[1]["folders"] == "trial0000-s0" and got[1]["lr"] == got[0]["lr"]  # the same parameters, same folder
    assert epochs_of(root / "trials" / "trial0000-s0") == list(range(1, 7))  # resumed, no epoch twice


def test_a_killed_worker_s_trial_is_run_again_and_resumes(gem, run):
    args = [sys.executable, "-c", "from gemcli.cli import main; main()", "tune", "k", *SPACE, "--trials", "1"]
    slow = ["--embedding-size", "8", "--batch-size", "32", "--epochs", "15", "--patience", "15", "--threads", "1"]
    args += ["--pruner", "none", *slow, "--run-dir", str(run)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = run / "tune" / "k" / "trials" / "trial0000-s0" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.is_file() and metrics.read_text().count("\n") >= 1):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # the worker dies mid-trial: its trial stays "running" in the study
    proc.wait()
    assert 1 <= len(epochs_of(metrics.parent)) < 15
    res = gem("tune", "k", *SPACE, "--trials", "1", "--pruner", "none", *slow)
    assert "1 interrupted, to resume: [0]" in res.output
    got = rows(run / "tune" / "k")
    assert [r["state"] for r in got] == ["lost, resumed by 1", "finished"]
    assert got[1]["folders"] == "trial0000-s0" and got[1]["lr"] == got[0]["lr"]  # same parameters, same folder
    assert epochs_of(metrics.parent) == list(range(1, len(epochs_of(metrics.parent)) + 1))  # no epoch twice


def test_bad_tune_input_is_one_line_and_writes_nothing(gem, run):
    cases = [
        (["--param", "lr=log:0:1"], "a log range needs LO > 0"),
        (["--param", "lr=0.5:0.1"], "LO < HI"),
        (["--param", "colour=0:1"], "not an option a search can vary"),
        (["--param", "mlp=choice:64"], "a choice needs two values"),
        (["--param", "lr=0.01:0.1", "--lr", "0.01"], "--lr is both given and searched"),
        (["--base", "wide_deep", "--param", "dropout=0:0.5"], "--param dropout: base wide_deep has no such option"),
        (["--param", "lr=0.01:0.1", "--metric", "test_rmse"], "validation split"),
        (["--param", "lr=0.01:0.1", "--metric", "valid_colour"], "colour"),
    ]
    for extra, msg in cases:
        res = gem("tune", "bad", *extra, ok=False)
        assert res.exit_code == 2 and msg in res.output, (extra, res.output)
        assert not (run / "tune" / "bad").exists()
    gem("tune", "one", "--param", "lr=0.01:0.1", "--trials", "1", *SMALL)
    res = gem("tune", "one", "--param", "lr=0.01:0.2", "--trials", "2", *SMALL, ok=False)
    assert res.exit_code == 2 and "other settings" in res.output and "--name NEW" in res.output


def test_a_study_in_a_database_continues_from_there(gem, run, tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    gem("tune", "db", *SPACE, "--trials", "2", "--storage", url, "--pruner", "none", *SMALL)
    assert not (run / "tune" / "db" / "study.journal").exists() and (tmp_path / "studies.db").is_file()
    res = gem("tune", "db", *SPACE, "--trials", "3", "--storage", url, "--pruner", "none", *SMALL)
    assert "2 of 3 trials there already" in res.output
    assert [r["trial"] for r in rows(run / "tune" / "db")] == ["0", "1", "2"]
    res = gem("tune", "db2", *SPACE, "--storage", "nosuch://x", *SMALL, ok=False)
    assert res.exit_code == 2 and "--storage nosuch://x" in res.output
    assert not (run / "tune" / "db2").exists()


def test_best_recipe_carries_the_embedders_own_options(gem, graph_run):
    gem(
        "tune",
        "e",
        "--embedder",
        "sage",
        "--embedder-option",
        "combine=concat",
        "--param",
        "lr=log:1e-3:1e-2",
        "--trials",
        "2",
        "--pruner",
        "none",
        *SMALL,
    )
    root = graph_run / "tune" / "e"
    text = (root / "best-recipe.toml").read_text()
    assert "[embedder_options.sage]" in text and 'combine = "concat"' in text
    res = gem("train", "--recipe", root / "best-recipe.toml", "--embedder", "sage", *SMALL[:4], "--epochs", "1")
    assert "recipe best-recipe:" in res.output and "sage.combine=concat" in res.output


def test_a_study_whose_trials_this_gemcli_would_build_otherwise_stops(gem, run):
    """Run again after a default changed (a trial saved by 0.4.3 has no INN head_init and read as random; 0.4.4 gives
    fm), the study stops in one line naming the option: its trials would no longer differ only in what it searches.
    Unchanged, it goes on."""
    head = ["tune", "inn-s", "--base", "inn", "--attention-size", "4", "--param", "lr=log:1e-3:1e-2", *SMALL]
    gem(*head, "--trials", "1", "--sampler-seed", "0")
    res = gem(*head, "--trials", "2", "--sampler-seed", "0")
    assert "1 of 2 trials there already" in res.output
    path = run / "tune" / "inn-s" / "trials" / "trial0000-s0" / "config.json"
    cfg = json.loads(path.read_text())
    del cfg["model"]["base_options"]["head_init"]  # as 0.4.3 wrote it
    path.write_text(json.dumps(cfg))
    res = gem(*head, "--trials", "3", "--sampler-seed", "0", ok=False)
    assert res.exit_code == 2
    assert (
        "study inn-s: trial0000-s0 was trained with other settings than this gemcli gives the same trial" in res.output
    )
    assert "head_init" in res.output and len(rows(run / "tune" / "inn-s")) == 2


def test_a_seeded_search_interrupted_and_resumed_draws_as_one_that_was_not(gem, run, interrupt_after):
    """With --sampler-seed, trial k of a study interrupted and run again draws what trial k of an uninterrupted
    study draws (0.4.4 seeded by the count of trials so far, which the resumed trial's second entry shifted)."""
    args = [*SPACE, "--trials", "3", "--pruner", "none", "--sampler", "random", "--sampler-seed", "7", *SMALL]
    gem("tune", "whole", *args)
    arm = interrupt_after(1)
    res = gem("tune", "cut", *args, ok=False)
    assert res.exit_code == 130
    arm.undo()
    gem("tune", "cut", *args)
    whole = [(r["lr"], r["dropout"]) for r in rows(run / "tune" / "whole")]
    cut = [(r["lr"], r["dropout"]) for r in rows(run / "tune" / "cut") if r["state"] == "finished"]
    assert len(whole) == 3 and cut == whole
