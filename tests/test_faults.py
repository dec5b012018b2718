"""Faults and untrusted files: nothing executed, nothing written outside the run directory, interrupts that
say so (issue 13, first items)."""

from __future__ import annotations

import json

import pytest
import torch

import gemcli.train as train_mod

SMALL = ["--embedding-size", "8", "--batch-size", "256", "--epochs", "2"]


@pytest.fixture
def run(gem, frappe_zip, tmp_path):
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "r")
    return tmp_path / "r"


class Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("which", ["model.pt", "checkpoint.pt"])
def test_code_in_a_checkpoint_is_never_run(gem, run, tmp_path, which):
    gem("train", *SMALL, "--name", "fm")
    path = run / "models/fm" / which
    torch.save({"model": Payload()}, path)
    if which == "model.pt":
        res = gem("evaluate", "--run", "fm", ok=False)
    else:
        (run / "models/fm/summary.json").unlink()
        res = gem("train", "--resume", "--run", "fm", ok=False)
    assert res.exit_code == 2 and f"{which}: not a gemcli checkpoint that can be read as data" in res.output
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("name", ["../escaped", "/tmp/abs-run", ".hidden", "a/b"])
def test_run_names_stay_inside_the_run_directory(gem, run, tmp_path, name):
    res = gem("train", *SMALL, "--name", name, ok=False)
    assert res.exit_code == 2 and f"--name {name!r}" in res.output
    assert not (tmp_path / "escaped").exists() and not (run / "models" / ".hidden").exists()
    assert not any((run / "models").glob("*")) if (run / "models").exists() else True


def test_interrupted_train_exits_130_and_resumes_as_printed(gem, run, monkeypatch):
    calls = {"n": 0}
    real = train_mod.train_step

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 8:  # in the second epoch (1,440 rows / 256 = 6 batches an epoch)
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(train_mod, "train_step", flaky)
    res = gem("train", *SMALL, "--name", "cut", ok=False)
    assert res.exit_code == 130 and "gem train --resume --run cut" in res.output
    res = gem("evaluate", ok=False)  # the only run is unfinished: not "the latest finished"
    assert res.exit_code == 2 and "no finished run" in res.output
    monkeypatch.setattr(train_mod, "train_step", real)
    gem("train", "--resume", "--run", "cut")
    assert json.loads((run / "models/cut/summary.json").read_text())["status"] == "finished"
    gem("evaluate")


def test_a_diverged_run_stops_with_one_line_and_reports_go_on(gem, run):
    gem("train", *SMALL, "--name", "ok")
    res = gem("train", *SMALL, "--lr", "1e10", "--optimizer", "sgd", "--name", "boom", ok=False)
    assert res.exit_code == 2 and "run boom diverged" in res.output
    assert json.loads((run / "models/boom/summary.json").read_text())["status"] == "diverged"
    res = gem("compare")
    assert "boom (diverged)" in res.output
    assert "diverged" in gem("runs").output
