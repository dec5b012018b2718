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
    res = gem("train", *SMALL, "--lr", "100", "--optimizer", "sgd", "--name", "boom", ok=False)
    assert res.exit_code == 2 and "run boom diverged" in res.output
    assert json.loads((run / "models/boom/summary.json").read_text())["status"] == "diverged"
    res = gem("compare")
    assert "boom (diverged)" in res.output
    assert "diverged" in gem("runs").output


@pytest.mark.parametrize("args", [
    ["--lr", "-0.1"], ["--lr", "nan"], ["--lr", "inf"], ["--dropout", "1.5"], ["--dropout", "-0.5"], ["--dropout", "1.0"],
    ["--base", "deepfm", "--mlp-dropout", "2"], ["--base", "inn", "--field-size", "-1"], ["--seed", "-1"],
    ["--l2", "-1"], ["--init-std", "-1"], ["--mlp", "0", "--base", "deepfm"], ["--base", "afm", "--attention-size", "0"],
    ["--device", "tpu"], ["--embedding-size", "1000000000"], ["--base", "fm", "--mlp", "16"],
])
def test_bad_train_options_one_line_nothing_left(gem, run, args):
    res = gem("train", *SMALL, *args, ok=False)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert not (run / "models").exists() or not any((run / "models").iterdir())


@pytest.mark.parametrize("args", [
    ["dropout", "--values", "abc"], ["--param", "mlp=a-b"], ["--param", "lr=-1"], ["--param", "optimizer=rmsprop"],
    ["--param", "gem=maybe"], ["--param", "graph=x/../../victim", "--param", "gem=true"],
])
def test_bad_sweep_options_one_line_nothing_left(gem, run, args):
    res = gem("sweep", *args, *SMALL, ok=False)
    assert res.exit_code == 2, res.output
    assert not (run / "sweeps").exists() or not any((run / "sweeps").iterdir())


def test_split_and_libfm_labels_are_checked(gem, frappe_zip, tmp_path):
    res = gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "s", "--split", "1:0:0", ok=False)
    assert res.exit_code == 2 and "--split '1:0:0'" in res.output and not (tmp_path / "s").exists()
    res = gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "s", "--split", "inf:1:1", ok=False)
    assert res.exit_code == 2
    for label, expect in (("5", "label 5 is not -1, 0 or 1"), ("nan", "label nan is not"), ("0.5", "label 0.5 is not")):
        (tmp_path / "tr.libfm").write_text(f"1 0:1 3:1\n{label} 1:1 4:1\n-1 2:1 5:1\n")
        (tmp_path / "va.libfm").write_text("1 0:1 4:1\n")
        res = gem("preprocess", "libfm", "--train", "tr.libfm", "--valid", "va.libfm", "--test", "va.libfm",
                  "--run-dir", "s", ok=False)
        assert res.exit_code == 2 and "tr.libfm: line 2: " + expect in res.output, res.output
    (tmp_path / "tr.libfm").write_text("1 0:1 3:1\n0 1:1 4:1\n")
    (tmp_path / "va.libfm").write_text("-1 0:1 4:1\n1 1:1 3:1\n")
    res = gem("preprocess", "libfm", "--train", "tr.libfm", "--valid", "va.libfm", "--test", "va.libfm",
              "--run-dir", "s", ok=False)
    assert res.exit_code == 2 and "va.libfm: labels -1/1, but tr.libfm has 0/1" in res.output
