"""Faults and untrusted files: nothing executed, nothing written outside the run directory, interrupts that
say so (issue 13, first items)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import torch

import gemcli.build as build_mod
import gemcli.train as train_mod

SMALL = ["--embedding-size", "8", "--batch-size", "256", "--epochs", "2"]


class Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("which", ["model.pt", "checkpoint.pt"])
def test_code_in_a_checkpoint_is_never_run(gem, run, tmp_path, which):
    gem("train", *SMALL, "--name", "fm")
    path = run / "models/fm" / which
    torch.save({"model": Payload()}, path)
    res = gem("evaluate", "--run", "fm", ok=False)
    if which == "model.pt":  # the manifest catches the change first
        assert res.exit_code == 2 and "model.pt has changed since `gem" in res.output
    (run / "models/fm/manifest.json").unlink()  # unverified: the file itself must still not run
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
    assert res.exit_code == 130
    printed = re.search(r"resume with `gem ([^`]+)`", res.output)  # the whole command, as a shell would split it
    args = shlex.split(printed.group(1)) if printed else []
    assert args[:5] == ["train", "--resume", "--run", "cut", "--run-dir"] and Path(args[5]).resolve() == run.resolve()
    res = gem("evaluate", ok=False)  # the only run is unfinished: not "the latest finished"
    assert res.exit_code == 2 and "no finished run" in res.output
    monkeypatch.setattr(train_mod, "train_step", real)
    gem(*args)
    assert json.loads((run / "models/cut/summary.json").read_text())["status"] == "finished"
    gem("evaluate")


def test_the_printed_resume_command_survives_a_shell():
    cmd = train_mod.resume_command("r=1", Path("/tmp/my runs/[x]"))
    assert shlex.split(cmd)[1:] == ["train", "--resume", "--run", "r=1", "--run-dir", "/tmp/my runs/[x]"]


def test_a_diverged_run_stops_with_one_line_and_reports_go_on(gem, run):
    gem("train", *SMALL, "--name", "ok")
    res = gem("train", *SMALL, "--lr", "100", "--optimizer", "sgd", "--name", "boom", ok=False)
    assert res.exit_code == 2 and "run boom diverged" in res.output
    assert json.loads((run / "models/boom/summary.json").read_text())["status"] == "diverged"
    res = gem("compare")
    assert "boom (diverged)" in res.output
    assert "diverged" in gem("runs").output


@pytest.mark.parametrize(
    "args",
    [
        ["--lr", "-0.1"],
        ["--lr", "nan"],
        ["--lr", "inf"],
        ["--dropout", "1.5"],
        ["--dropout", "-0.5"],
        ["--dropout", "1.0"],
        ["--base", "deepfm", "--mlp-dropout", "2"],
        ["--base", "inn", "--field-size", "-1"],
        ["--seed", "-1"],
        ["--l2", "-1"],
        ["--init-std", "-1"],
        ["--mlp", "0", "--base", "deepfm"],
        ["--base", "afm", "--attention-size", "0"],
        ["--device", "tpu"],
        ["--embedding-size", "1000000000"],
        ["--base", "fm", "--mlp", "16"],
    ],
)
def test_bad_train_options_one_line_nothing_left(gem, run, args):
    res = gem("train", *SMALL, *args, ok=False)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert not (run / "models").exists() or not any((run / "models").iterdir())


@pytest.mark.parametrize(
    "args",
    [
        ["dropout", "--values", "abc"],
        ["--param", "mlp=a-b"],
        ["--param", "lr=-1"],
        ["--param", "optimizer=rmsprop"],
        ["--param", "gem=maybe"],
        ["--param", "graph=x/../../victim", "--param", "gem=true"],
    ],
)
def test_bad_sweep_options_one_line_nothing_left(gem, run, args):
    res = gem("sweep", *args, *SMALL, ok=False)
    assert res.exit_code == 2, res.output
    assert not (run / "sweeps").exists() or not any((run / "sweeps").iterdir())


def import_libfm(gem, train, valid, test, *extra):
    """`gem preprocess libfm` into run directory s, expected to fail."""
    return gem(
        "preprocess", "libfm", "--train", train, "--valid", valid, "--test", test, "--run-dir", "s", *extra, ok=False
    )


def test_split_and_libfm_labels_are_checked(gem, frappe_zip, tmp_path):
    res = gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "s", "--split", "1:0:0", ok=False)
    assert res.exit_code == 2 and "--split '1:0:0'" in res.output and not (tmp_path / "s").exists()
    res = gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "s", "--split", "inf:1:1", ok=False)
    assert res.exit_code == 2
    for label, expect in (("5", "label 5 is not -1, 0 or 1"), ("nan", "label nan is not"), ("0.5", "label 0.5 is not")):
        (tmp_path / "tr.libfm").write_text(f"1 0:1 3:1\n{label} 1:1 4:1\n-1 2:1 5:1\n")
        (tmp_path / "va.libfm").write_text("1 0:1 4:1\n")
        res = import_libfm(gem, "tr.libfm", "va.libfm", "va.libfm")
        assert res.exit_code == 2 and "tr.libfm: line 2: " + expect in res.output, res.output
    (tmp_path / "tr.libfm").write_text("1 0:1 3:1\n0 1:1 4:1\n")
    (tmp_path / "va.libfm").write_text("-1 0:1 4:1\n1 1:1 3:1\n")
    res = import_libfm(gem, "tr.libfm", "va.libfm", "va.libfm")
    assert res.exit_code == 2 and "va.libfm: labels -1/1, but tr.libfm has 0/1" in res.output


def test_a_stage_swap_killed_half_way_is_recovered(gem, run):
    """staged_dir renames data -> .data.old, then the new folder -> data: a kill between leaves only .data.old."""
    import os

    os.replace(run / "data", run / ".data.old")
    res = gem("train", *SMALL, "--name", "after")
    assert "recovered" in res.output and (run / "data/meta.json").is_file() and not (run / ".data.old").exists()
    (run / "graphs").mkdir(exist_ok=True)
    gem("build-graph")
    gid = next(p.name for p in (run / "graphs").iterdir())
    (run / "graphs" / f".{gid}.old").mkdir()  # a finished swap whose clean-up was killed
    gem("runs")
    assert not (run / "graphs" / f".{gid}.old").exists() and (run / "graphs" / gid / "adjacency.npz").is_file()


def test_a_second_command_on_the_same_sweep_or_run_stops(gem, run):
    import fcntl
    import os

    for lockfile, args, what in (
        (run / "sweeps/dropout/.lock", ["sweep", "dropout", "--values", "0"], "sweep dropout"),
        (run / "models/.busy.lock", ["train", "--name", "busy"], "run busy"),
    ):
        lockfile.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lockfile, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)  # held as another command would (flock: per open file)
        os.write(fd, b"4242\n")
        try:
            res = gem(*args, *SMALL, ok=False)
        finally:
            os.close(fd)
        assert res.exit_code == 2 and f"{what} is in use by another command (pid 4242)" in res.output
    assert not (run / "models/busy").exists()


def test_sweep_workers_die_with_their_parent(frappe_zip, tmp_path):
    """SIGKILL of a --jobs 2 sweep's process: its workers end too (they do not finish the queue orphaned)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    env = {**os.environ, "GEM_STATE_DIR": str(tmp_path / "state"), "GEM_THREADS": "1"}
    gem_cmd = [sys.executable, "-m", "gemcli.cli"]
    subprocess.run(
        [*gem_cmd, "preprocess", "frappe", "--source", str(frappe_zip), "--run-dir", "r"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    parent = subprocess.Popen(
        [
            *gem_cmd,
            "sweep",
            "dropout",
            "--values",
            "0,0.1,0.2,0.3",
            "--jobs",
            "2",
            "--embedding-size",
            "8",
            "--batch-size",
            "64",
            "--epochs",
            "50",
            "--patience",
            "50",
            "--run-dir",
            "r",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def children(pid: int) -> list[int]:
        kids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(stat.parent.name))
        return kids

    deadline = time.time() + 60
    while time.time() < deadline and not list((tmp_path / "r/sweeps/dropout/points").glob("*/config.json")):
        time.sleep(0.2)
    workers = children(parent.pid)
    assert workers, "the sweep started no workers"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 20
    alive = workers
    while alive and time.time() < deadline:
        time.sleep(0.2)
        alive = [
            w
            for w in alive
            if Path(f"/proc/{w}").exists()
            and "Z" not in Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0]
        ]
    for w in alive:  # do not leave them behind when the test fails
        os.kill(w, signal.SIGKILL)
    assert not alive, f"workers still running after their parent died: {alive}"


def _flip(path, n=64, at=None):
    data = bytearray(path.read_bytes())
    start = at if at is not None else len(data) // 2
    for i in range(start, start + n):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "tamper",
    [
        "flip model.pt",
        "gem model over fm",
        "negate test labels",
        "swap valid and test",
        "edit meta label_range",
        "flip adjacency",
    ],
)
def test_files_are_checked_against_their_manifest(gem, run, tamper):
    import polars as pl

    gem("build-graph")
    gem("train", *SMALL, "--name", "fm")
    gem("train", "--gem", *SMALL, "--name", "gfm")
    run_name, expect = "fm", None
    if tamper == "flip model.pt":
        _flip(run / "models/fm/model.pt")
        expect = "models/fm/model.pt has changed since"
    elif tamper == "gem model over fm":
        (run / "models/fm/model.pt").write_bytes((run / "models/gfm/model.pt").read_bytes())
        expect = "models/fm/model.pt has changed since"
    elif tamper == "negate test labels":
        t = pl.read_parquet(run / "data/test.parquet")
        t.with_columns(-pl.col("label")).write_parquet(run / "data/test.parquet")
        expect = "data/test.parquet has changed since"
    elif tamper == "swap valid and test":
        v, t = (run / "data/valid.parquet").read_bytes(), (run / "data/test.parquet").read_bytes()
        (run / "data/valid.parquet").write_bytes(t)
        (run / "data/test.parquet").write_bytes(v)
        expect = "data/test.parquet has changed since"
    elif tamper == "edit meta label_range":
        meta = json.loads((run / "data/meta.json").read_text())
        meta["label_range"] = [-2.0, 2.0]
        (run / "data/meta.json").write_text(json.dumps(meta))
        expect = "data/meta.json has changed since"
    elif tamper == "flip adjacency":
        path = next((run / "graphs").glob("*/adjacency.npz"))
        _flip(path, at=len(path.read_bytes()) - 200)
        run_name, expect = "gfm", "adjacency.npz has changed since"
    res = gem("evaluate", "--run", run_name, ok=False)
    assert res.exit_code == 2 and expect in res.output, res.output
    assert len(res.output.strip().splitlines()[-1]) > 0 and "Traceback" not in res.output


def test_sweep_interrupted_inside_a_point_exits_130_without_an_unfinished_row(gem, run, monkeypatch):
    import csv

    calls = {"n": 0}
    real = train_mod.train_step

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 21:  # in the second point's second epoch (2 epochs x 6 batches each)
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(train_mod, "train_step", flaky)
    res = gem("sweep", "dropout", "--values", "0,0.5", *SMALL, ok=False)
    assert res.exit_code == 130 and "sweep interrupted" in res.output
    rows = list(csv.DictReader((run / "sweeps/dropout/results.csv").open()))
    assert [float(r["gcn_dropout"]) for r in rows] == [0.0]
    text = " ".join((run / "sweeps/dropout/results.md").read_text().split())
    assert "(left out): gem=True_gcn_dropout=0.5-s0 (epoch 1 of at most 2, best 1: valid rmse" in text  # how far
    monkeypatch.setattr(train_mod, "train_step", real)
    gem("sweep", "dropout", "--values", "0,0.5", *SMALL)
    rows = list(csv.DictReader((run / "sweeps/dropout/results.csv").open()))
    assert [float(r["gcn_dropout"]) for r in rows] == [0.0, 0.5]


def test_a_run_stopped_in_its_first_epoch_starts_again_and_temporaries_go(gem, run, monkeypatch):
    calls = {"n": 0}
    real = train_mod.train_step

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # before the first epoch ends: no checkpoint yet
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(train_mod, "train_step", flaky)
    gem("train", *SMALL, "--name", "early", ok=False)
    assert not (run / "models/early/checkpoint.pt").exists()
    left = run / "models/early/.model.pt.999999999.abcdefgh.tmp.pt"  # as a SIGKILL leaves it (a pid that is gone)
    left.write_bytes(b"x")
    monkeypatch.setattr(train_mod, "train_step", real)
    res = gem("train", "--resume")  # plain --resume finds it; it starts again
    assert "had not finished an epoch; starting it again" in res.output
    assert json.loads((run / "models/early/summary.json").read_text())["status"] == "finished"
    manifest = json.loads((run / "models/early/manifest.json").read_text())
    assert not left.exists() and all(not k.startswith(".") for k in manifest["outputs"])
    res = gem("train", "--resume", ok=False)
    assert res.exit_code == 2 and "no interrupted run to resume" in res.output


def test_runs_are_named_inside_the_run_directory(gem, run, tmp_path):
    gem("train", *SMALL, "--name", "fm")
    (tmp_path / "fm").mkdir()  # a folder of the same name in the working directory is not that run
    (tmp_path / "fm/config.json").write_text("{}")
    res = gem("evaluate", "--run", "fm")
    assert "FM fm" in res.output or "fm on test" in res.output
    res = gem("evaluate", "--run", "./fm", ok=False)  # given as a path, it is taken as one
    assert res.exit_code == 2


def test_damaged_inputs_and_folders_one_line(gem, frappe_zip, tmp_path):
    (tmp_path / "adir").mkdir()
    res = gem("preprocess", "frappe", "--source", "adir", "--run-dir", "s", ok=False)
    assert res.exit_code == 2 and "error: adir: " in res.output and len(res.output.strip().splitlines()) == 2
    whole = frappe_zip.read_bytes()
    (tmp_path / "cut.zip").write_bytes(whole[: len(whole) // 2])
    res = gem("preprocess", "frappe", "--source", "cut.zip", "--run-dir", "s", ok=False)
    assert res.exit_code == 2 and "cut.zip: not a readable zip archive" in res.output
    (tmp_path / "afile").write_text("x")
    res = gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "afile/r", ok=False)
    assert res.exit_code == 2 and "Traceback" not in res.output
    for bad in ("--fields", "a/b,c"), ("--fields", "u=0-5,i=3-9"):
        (tmp_path / "t.libfm").write_text("1 0:1 6:1\n-1 1:1 7:1\n")
        res = import_libfm(gem, "t.libfm", "t.libfm", "t.libfm", *bad)
        assert res.exit_code == 2 and "--fields" in res.output


def test_a_damaged_model_or_config_one_line(gem, run):
    gem("train", *SMALL, "--name", "fm")
    (run / "models/fm/manifest.json").unlink()  # no manifest: the loaders themselves must say what is wrong
    cfg = json.loads((run / "models/fm/config.json").read_text())
    cfg["model"]["embedding_size"] = 16
    (run / "models/fm/config.json").write_text(json.dumps(cfg))
    res = gem("evaluate", "--run", "fm", ok=False)
    assert res.exit_code == 2 and "model.pt: its tensors do not fit the run's config.json" in res.output
    (run / "models/fm/model.pt").write_bytes(b"")
    res = gem("evaluate", "--run", "fm", ok=False)
    assert res.exit_code == 2 and "model.pt: not a gemcli checkpoint" in res.output


def _tree(root):
    """Every path under root with its size, but the marker whose time each command touches."""
    return sorted(
        (str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1)
        for p in root.rglob("*")
        if p.name != ".gemcli-run" and not p.name.endswith(".lock")
    )


BAD_OPTIONS = [
    ["preprocess", "frappe", "--negatives", "-1"],
    ["preprocess", "frappe", "--split", "nan:1:1"],
    ["preprocess", "frappe", "--split", "1e308:1e308:1"],
    ["preprocess", "frappe", "--split", "8:1"],
    ["preprocess", "frappe", "--seed", "-1"],
    ["preprocess", "movielens", "--tag-normalise", "upper"],
    ["preprocess", "movielens", "--release", "ml-1b"],
    ["preprocess", "nosuch"],
    ["build-graph", "--sample-ratio", "-1"],
    ["build-graph", "--sample-ratio", "nan"],
    ["build-graph", "--seed", "-1"],
    ["build-graph", "--type", "c"],
    ["build-graph", "--fields", "user,planet"],
    ["build-graph", "--edge-source", "some"],
    ["train", "--base", "nosuch"],
    ["train", "--optimizer", "rmsprop"],
    ["train", "--loss-reduction", "median"],
    ["train", "--gcn-activation", "gelu", "--gem"],
    ["train", "--gcn-layers", "0", "--gem"],
    ["train", "--batch-size", "0"],
    ["train", "--epochs", "0"],
    ["train", "--patience", "-3"],
    ["train", "--recipe", "../../etc/passwd"],
    ["train", "--pretrain", "nosuch"],
    ["train", "--resume", "--run", "nosuch"],
    ["train", "--threads", "0"],
    ["evaluate", "--split", "train"],
    ["evaluate", "--run", "../x"],
    ["evaluate", "--libfm", "nosuch.libfm"],
    ["evaluate", "--device", "cuda:7"],
    ["sweep", "nosuch"],
    ["sweep", "dropout", "--seeds", "0"],
    ["sweep", "dropout", "--name", "../x"],
    ["sweep", "--param", "lr"],
    ["sweep", "--param", "lr="],
    ["report", "table1", "--seeds", "0"],
    ["report", "table1", "--bases", "fm,nosuch", "--run-missing"],
    ["report", "curves", "nosuch"],
    ["train", "--embedding-size", "20000000"],
]


@pytest.mark.parametrize("args", BAD_OPTIONS, ids=[" ".join(a) for a in BAD_OPTIONS])
def test_hostile_options_one_line_exit_2_nothing_changed(gem, run, frappe_zip, args):
    gem("train", *SMALL, "--name", "fm")
    before = _tree(run)
    extra = ["--source", str(frappe_zip)] if args[0] == "preprocess" and args[1] == "frappe" else []
    extra += ["--run-dir", str(run)] if args[0] == "preprocess" and args[1] != "nosuch" else []
    res = gem(*args, *extra, ok=False)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert _tree(run) == before


def test_a_diverged_sweep_point_is_shown_as_such_and_not_retrained(gem, run):
    gem("sweep", "--param", "lr=0.0001,100", "--optimizer", "sgd", *SMALL)
    md = (run / "sweeps/grid-lr/results.md").read_text()
    assert "| 100.0 | 0 | - | - | - | - | diverged |" in md and "lr=100.0-s0 (diverged)" in md
    assert "| 0.0001 | 1 |" in md
    res = gem("sweep", "--param", "lr=0.0001,100", "--optimizer", "sgd", *SMALL)
    assert "2 finished already with this config (1 of them diverged), 0 to run" in res.output
    res = gem("report", "table1", "--runs", "*")
    assert "read 0 of the 0 finished runs" in res.output


def test_a_model_that_cannot_fit_is_refused_before_allocating(gem, run, monkeypatch):
    monkeypatch.setattr(build_mod, "available_memory", lambda: 1 << 20)  # 1 MiB left
    res = gem("train", "--embedding-size", "4096", "--dry-run", ok=False)
    assert res.exit_code == 2 and "--embedding-size 4096: the embedding table of" in res.output and "GiB" in res.output


def test_meta_json_without_a_field_or_with_garbage_one_line(gem, run):
    import pytest as _pytest

    from gemcli.errors import GemError
    from gemcli.meta import DataMeta

    meta = json.loads((run / "data/meta.json").read_text())
    typed = DataMeta.from_dict(meta)
    assert typed.fields == meta["fields"] and typed.n_features == meta["n_features"] and typed.user == "user"
    with _pytest.raises(GemError, match="no 'fields'"):
        DataMeta.from_dict({k: v for k, v in meta.items() if k != "fields"})
    with _pytest.raises(GemError, match="not a gemcli meta.json"):
        DataMeta.from_dict({**meta, "label_range": "x"})


def test_sigterm_stops_train_as_ctrl_c_does(run, env):
    """`kill PID` (a scheduler's SIGTERM, or a background job's only way to be interrupted: a shell without job
    control starts it with SIGINT ignored) ends the epoch's work as Ctrl-C does: exit 130, resumable as printed."""
    import signal
    import subprocess
    import sys
    import time

    args = [sys.executable, "-c", "from gemcli.cli import main; main()", "train", "--embedding-size", "8"]
    args += ["--batch-size", "16", "--epochs", "400", "--patience", "400", "--name", "t", "--run-dir", str(run)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (run / "models/t/checkpoint.pt").is_file() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0]
    printed = f"`gem train --resume --run t --run-dir {shlex.quote(str(run))}`"
    assert proc.returncode == 130 and printed in out, out[-500:]
    assert json.loads((run / "models/t/summary.json").read_text())["status"] == "interrupted"


def test_sigterm_stops_a_parallel_sweep_without_waiting_for_its_points(run, env):
    """The driver alone gets SIGTERM (a background job, a scheduler): its workers' points are interrupted too, as
    Ctrl-C interrupts them (saved, marked, resumable), not trained to their end first; the sweep exits 130."""
    import signal
    import subprocess
    import sys
    import time

    args = [sys.executable, "-c", "from gemcli.cli import main; main()", "sweep", "--param", "lr=0.01,0.02"]
    args += ["--embedding-size", "8", "--batch-size", "16", "--epochs", "400", "--patience", "400", "--jobs", "2"]
    args += ["--threads", "1", "--run-dir", str(run)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    points = run / "sweeps" / "grid-lr" / "points"
    deadline = time.time() + 120
    while len(list(points.glob("*/checkpoint.pt"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=90)[0]
    assert proc.returncode == 130, out[-800:]
    assert time.time() - t0 < 60  # 400 epochs a point would take far longer
    folders = [f for f in points.iterdir() if f.is_dir()]
    assert len(folders) == 2
    for folder in folders:
        epochs = len((folder / "metrics.jsonl").read_text().splitlines())
        assert 1 <= epochs < 400 and (folder / "checkpoint.pt").is_file()
        assert json.loads((folder / "summary.json").read_text())["status"] == "interrupted"


# ---------------------------------------------------------------- issue 44, class 1: nothing shown unchecked


def _edit_json(path: Path, **changes: object) -> None:
    """A hand edit of a JSON file a stage wrote (its manifest left as it was)."""
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2))


@pytest.mark.parametrize(
    "command",
    [
        ["runs"],
        ["compare"],
        ["report", "table1", "--bases", "fm", "--seeds", "1"],
        ["report", "curves", "fm"],
    ],
)
def test_reports_refuse_an_edited_summary_or_metrics(gem, run, command):
    """gem runs, compare, report table1 and curves read summary.json, config.json and metrics.jsonl only as their
    run's manifest records them (0.4.4 printed a hand-edited test RMSE, and curves plotted an edited epoch)."""
    gem("train", *SMALL, "--name", "fm")
    gem("train", *SMALL, "--name", "table1-fm-s0")
    folder = run / "models" / ("table1-fm-s0" if command[0] == "report" and command[1] == "table1" else "fm")
    if command[:2] == ["report", "curves"]:
        metrics = folder / "metrics.jsonl"
        metrics.write_text(metrics.read_text().replace('"epoch": 1', '"epoch": 1, "x": 0', 1))
        edited = "metrics.jsonl"
    else:
        _edit_json(folder / "summary.json", test_rmse=0.0123)
        edited = "summary.json"
    res = gem(*command, ok=False)
    assert res.exit_code == 2 and f"models/{folder.name}/{edited} has changed since" in res.output, res.output
    assert "0.0123" not in res.output and "Traceback" not in res.output


def test_a_sweep_run_again_refuses_an_edited_point(gem, run):
    """A sweep run again reads its points' summaries as their manifests record them (0.4.4 copied an edited
    summary.json into results.csv and results.md, exit 0); `gem report sweep` checks results.csv and results.md."""
    gem("sweep", "--param", "dropout=0.1,0.3", *SMALL)
    root = run / "sweeps" / "grid-dropout"
    _edit_json(root / "points" / "dropout=0.1-s0" / "summary.json", test_rmse=0.0123)
    res = gem("sweep", "--param", "dropout=0.1,0.3", *SMALL, ok=False)
    assert res.exit_code == 2 and "dropout=0.1-s0/summary.json has changed since" in res.output, res.output
    assert "0.0123" not in (root / "results.csv").read_text()
    csv_path = root / "results.csv"
    csv_path.write_text(csv_path.read_text().replace("0.", "0.9", 1))
    res = gem("report", "sweep", "grid-dropout", ok=False)
    assert res.exit_code == 2 and "results.csv has changed since" in res.output, res.output


def test_a_search_refuses_a_journal_edited_after_its_trials(gem, run):
    """An edited trial value in study.journal is caught against the trial's own runs before results.csv and
    best-recipe.toml are written from it (0.4.4 wrote the edited value into both)."""
    gem("tune", "j", "--param", "dropout=0:0.5", "--trials", "2", "--sampler", "random", "--sampler-seed", "1", *SMALL)
    root = run / "tune" / "j"
    journal = root / "study.journal"
    lines = _replace_value(journal)
    assert lines != journal.read_text().splitlines(), "no finished trial's value in the journal"
    journal.write_text("\n".join(lines) + "\n")
    before = (root / "best-recipe.toml").read_text()
    res = gem(
        "tune",
        "j",
        "--param",
        "dropout=0:0.5",
        "--trials",
        "2",
        "--sampler",
        "random",
        "--sampler-seed",
        "1",
        *SMALL,
        ok=False,
    )
    assert res.exit_code == 2 and "study.journal: trial" in res.output and "changed after the trial ended" in res.output
    assert (root / "best-recipe.toml").read_text() == before and "0.0123" not in (root / "results.csv").read_text()


def _replace_value(journal: Path) -> list[str]:
    """The journal's lines with the first finished trial's value replaced by 0.0123."""
    out, done = [], False
    for line in journal.read_text().splitlines():
        op = json.loads(line)
        if not done and op.get("values"):
            op["values"], done = [0.0123], True
            line = json.dumps(op)
        out.append(line)
    return out


# ---------------------------------------------------------------- issue 44, classes 2, 3 and 5


@pytest.mark.parametrize("cut", ["truncated", "garbled"])
def test_a_damaged_journal_is_one_line_naming_the_line_and_the_way_back(gem, run, cut):
    """What a crash or a full disk during an append leaves in study.journal: one line naming the damaged line and
    how to keep the records before it (0.4.4: JSONDecodeError or 'AssertionError: Should not reach.')."""
    args = ["tune", "d", "--param", "dropout=0:0.5", *SMALL]
    gem(*args, "--trials", "1")
    journal = run / "tune" / "d" / "study.journal"
    lines = journal.read_text().splitlines()
    if cut == "truncated":
        journal.write_text("\n".join(lines) + "\n" + lines[-1][: len(lines[-1]) // 2])
        bad = len(lines) + 1
    else:
        lines[1] = lines[1].replace('"', "'", 3)
        journal.write_text("\n".join(lines) + "\n")
        bad = 2
    res = gem(*args, "--trials", "2", ok=False)
    assert res.exit_code == 2 and f"study.journal: line {bad} is damaged" in res.output, res.output
    assert f"head -n {bad - 1}" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("name", ["..", "."])
def test_dot_names_are_no_run_names(gem, run, name):
    """(0.4.4, once RUN_DIR/models existed: 'run r/models/.. exists already', the name rule never reached.)"""
    gem("train", *SMALL, "--name", "first")
    res = gem("train", *SMALL, "--name", name, ok=False)
    assert res.exit_code == 2 and f"--name {name!r}: use letters" in res.output, res.output


def test_files_read_whole_are_bounded(gem, run, tmp_path):
    """A recipe (or any JSON/TOML file read whole) larger than it can be, an endless device, or nested past the
    parser's depth is one line (0.4.4 read /dev/zero until the OOM killer ended it; 5,000 levels were a traceback)."""
    res = gem("train", "--recipe", "/dev/zero", "--dry-run", ok=False)
    assert res.exit_code == 2 and "/dev/zero: larger than" in res.output
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    res = gem("train", "--recipe", deep, "--dry-run", ok=False)
    assert res.exit_code == 2 and "nested too deeply" in res.output and "Traceback" not in res.output
    meta = run / "data" / "meta.json"
    meta.write_text("[" * 100_000 + "]" * 100_000)
    res = gem("train", *SMALL, ok=False)
    assert res.exit_code == 2 and "Traceback" not in res.output


@pytest.mark.parametrize(
    "args",
    [
        ["--threads", "100000000000000000000"],
        ["--seeds", "100000000000000000000"],
        ["--seeds", "inf"],
        ["--jobs", "99999999999"],
        ["--executor", "ray", "--cpus-per-run", "1e20"],
        ["--executor", "ray", "--cpus-per-run", "inf"],
        ["--executor", "ray", "--gpus-per-run", "nan"],
    ],
)
def test_huge_counts_stop_before_anything_runs(gem, run, args):
    """--threads, --seeds, --jobs and a run's resources beyond any machine: refused by the command line (0.4.4:
    overflow tracebacks, and Ray aborted with a C++ fatal log on --cpus-per-run 1e20)."""
    res = gem("sweep", "--param", "lr=0.01", *args, *SMALL, ok=False)
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert f"Invalid value for '{[a for a in args if a.startswith('--') and a != '--executor'][0]}'" in res.output
    assert not (run / "sweeps").exists()


def test_too_large_values_say_the_bound(gem, run):
    res = gem("train", "--lr", "1e300", "--dry-run", ok=False)
    assert res.exit_code == 2 and "expected a positive learning rate (at most 1000)" in res.output


def test_a_search_run_again_with_other_options_names_them(gem, run):
    """(0.4.4 said 'made with other settings ()': the difference list came out empty.)"""
    gem("tune", "o", "--param", "dropout=0:0.5", "--trials", "1", *SMALL)
    res = gem("tune", "o", "--param", "dropout=0:0.5", "--trials", "1", *SMALL[:-1], "3", ok=False)
    assert res.exit_code == 2 and "(epochs then 2, now 3)" in res.output, res.output


def test_a_sweep_stopped_before_its_first_point_does_not_block_its_name(gem, run):
    """sweep.json written, then the sweep stopped before any point's folder existed: the same name with other
    options starts afresh (0.4.4: 'was run with other options' for ever after)."""
    root = run / "sweeps" / "s"
    root.mkdir(parents=True)
    (root / "sweep.json").write_text(
        json.dumps(
            {
                "format": "gemcli-sweep/1",
                "study": "grid-lr",
                "xkey": "lr",
                "base": "fm",
                "options": {"l2": 1.0},
                "recipe": None,
                "points": [{"lr": 0.1}],
                "seeds": [0],
            }
        )
    )
    (root / "points").mkdir()
    res = gem("sweep", "--param", "lr=0.01", *SMALL, "--name", "s")
    assert "1 to run" in res.output and json.loads((root / "sweep.json").read_text())["options"].get("l2") is None


def test_escape_sequences_a_file_holds_are_printed_escaped(gem, tmp_path):
    """A CSV header with a terminal escape (one that sets the window title): the error line naming the columns
    shows it escaped, never raw (0.4.4 changed the window's title)."""
    path = tmp_path / "esc.csv"
    path.write_text("label,u\x1b]0;PWNED\x07,i\n1,a,b\n0,c,d\n1,a,d\n0,c,b\n")
    res = gem("preprocess", "table", path, "--label", "label", "--fields", "nosuch,i", "--run-dir", "e", ok=False)
    assert res.exit_code == 2 and "no column 'nosuch'" in res.output
    assert "\x1b" not in res.output and "\x07" not in res.output and "\\x1b]0;PWNED\\x07" in res.output


def test_a_storage_password_is_never_printed_or_stored(gem, run):
    """--storage with a password: the error line and anything written show it as ***. (0.4.4 printed it in every
    error and saved it as typed in tune.json, results.md and the trials' manifests.)"""
    url = "postgresql://user:s3cret@127.0.0.1:1/db"
    res = gem("tune", "p", "--param", "dropout=0:0.5", "--trials", "1", "--storage", url, *SMALL, ok=False)
    assert res.exit_code == 2 and "s3cret" not in res.output and "user:***@127.0.0.1" in res.output, res.output
    written = [p.read_text(errors="replace") for p in run.rglob("*") if p.is_file() and p.suffix in (".json", ".md")]
    assert not any("s3cret" in t for t in written)
    from gemcli.rundir import redact

    assert redact("gem tune x --storage mysql://a:b@h/db") == "gem tune x --storage mysql://a:***@h/db"


# ---------------------------------------------------------------- issue 44, class 4: malformed data


def _criteo_lines(env, n=400):
    from gemcli.synthetic import write_criteo

    write_criteo(env / "train.txt", n, chunk=n, cards=[40, 40] + [300] * 24)
    return (env / "train.txt").read_text().splitlines()


@pytest.mark.parametrize(
    "damage, said",
    [
        (lambda f: f[:20], "line 7: 20 columns, where the table has 40"),
        (lambda f: [*f, "x"], "line 7: 41 columns, where the table has 40"),
        (lambda f: [f[0], "nan", *f[2:]], "line 7, column 'I1': 'nan' is not a number"),
        (lambda f: [f[0], "9" * 400, *f[2:]], "is not a number"),
    ],
)
def test_malformed_criteo_lines_are_named(gem, env, damage, said):
    """A Criteo line cut short or with a field too many, a numeric field 'nan' or 400 digits long: one line naming
    the line (0.4.4 filled short lines with missing values in silence; nan and huge integers gave tracebacks)."""
    lines = _criteo_lines(env)
    lines[6] = "\t".join(damage(lines[6].split("\t")))
    (env / "train.txt").write_text("\n".join(lines) + "\n")
    res = gem("preprocess", "criteo", "--source", "train.txt", "--min-count", "2", "--run-dir", "c", ok=False)
    assert res.exit_code == 2 and "train.txt" in res.output and said in res.output, res.output
    assert "Traceback" not in res.output and not (env / "c" / "data").exists()


def test_a_parquet_list_column_is_one_line(gem, env):
    import polars as pl

    pl.DataFrame({"label": [1, 0, 1, 0], "u": ["a", "b", "a", "b"], "tags": [[1], [2, 3], [], [4]]}).write_parquet(
        env / "t.parquet"
    )
    res = gem("preprocess", "table", "t.parquet", "--label", "label", "--fields", "u,tags", "--run-dir", "p", ok=False)
    assert res.exit_code == 2 and "column 'tags' holds List" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("stamp", ["99999999", "14103125", "141021", "1410x100"])
def test_an_avazu_hour_that_is_no_time_stamp_is_named(gem, env, stamp):
    """Avazu's hour must be a YYMMDDHH stamp of a real day and hour (0.4.4 accepted 99999999)."""
    from gemcli.synthetic import write_avazu

    write_avazu(env / "train.csv", 300)
    lines = (env / "train.csv").read_text().splitlines()
    cells = lines[5].split(",")
    cells[2] = stamp
    lines[5] = ",".join(cells)
    (env / "train.csv").write_text("\n".join(lines) + "\n")
    res = gem("preprocess", "avazu", "--source", "train.csv", "--run-dir", "a", ok=False)
    assert res.exit_code == 2 and "train.csv: line 6, column 'hour': not a YYMMDDHH time stamp" in res.output, (
        res.output
    )


def test_a_device_given_as_an_input_says_so(gem, env):
    """/dev/null as a libfm or table file: 'not a regular file', not the misleading 'no such file' of 0.4.4."""
    res = gem("preprocess", "libfm", "--train", "/dev/null", "--valid", "/dev/null", "--test", "/dev/null", ok=False)
    assert res.exit_code == 2 and "/dev/null: not a regular file" in res.output
    res = gem("preprocess", "table", "/dev/null", "--label", "y", "--fields", "a", "--run-dir", "t", ok=False)
    assert res.exit_code == 2 and "/dev/null: not a regular file" in res.output


def test_ctrl_c_before_a_run_folder_exists_says_so(gem, run, monkeypatch):
    """Ctrl-C while a run is being set up (no folder yet): exit 130 with a line saying nothing was saved (0.4.4
    exited 130 in silence)."""

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "_setup", stop)
    res = gem("train", *SMALL, "--name", "early", ok=False)
    assert res.exit_code == 130 and "interrupted (Ctrl-C) before this command saved anything" in res.output


def test_a_full_disk_while_training_is_one_line_and_leaves_no_half_run(gem, run):
    """torch.save failing as it does on a full disk ('PytorchStreamWriter failed writing file'): one line naming the
    file, exit 2, and no folder holding only config.json (0.4.4: a RuntimeError traceback and a half-made run)."""

    def full(obj, path):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file")

    with pytest.MonkeyPatch.context() as mp:  # its own patch: undoing it leaves the test's working directory alone
        mp.setattr(train_mod.torch, "save", full)
        res = gem("train", *SMALL, "--name", "d", ok=False)
    assert res.exit_code == 2 and ".pt: could not be written" in res.output and "MiB free" in res.output
    assert "Traceback" not in res.output and not (run / "models" / "d").exists()
    gem("train", *SMALL, "--name", "d")  # the same command, with room again: trained afresh


def test_a_gzip_table_is_decompressed_as_a_stream(gem, env, monkeypatch):
    """A gzip input is decompressed a megabyte at a time into the staged folder, never handed whole to polars (0.4.4:
    a file expanding 400x peaked at 1.8 GB); the scratch copy is gone afterwards, and the data are the same."""
    import polars as pl

    from gemcli.synthetic import write_avazu

    write_avazu(env / "train.gz", 500, gz=True)
    write_avazu(env / "train.csv", 500)
    read: list[str] = []
    real = pl.scan_csv

    def spy(source, *a, **k):
        read.append(str(source))
        return real(source, *a, **k)

    monkeypatch.setattr(pl, "scan_csv", spy)
    gem("preprocess", "avazu", "--source", "train.gz", "--run-dir", "g")
    gem("preprocess", "avazu", "--source", "train.csv", "--run-dir", "c")
    assert read and not any(p.endswith(".gz") for p in read), read
    assert not list((env / "g").rglob("_gunzip_*"))
    assert (
        json.loads((env / "g/data/meta.json").read_text())["dataset_id"]
        == json.loads((env / "c/data/meta.json").read_text())["dataset_id"]
    )


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MiB tmpfs (needs the right to mount, as root in a container; skipped otherwise), unmounted after."""
    import subprocess

    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()[:80]}")
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(where: Path, leave: int) -> None:
    """Fill the file system of `where` but `leave` bytes."""
    import os

    st = os.statvfs(where)
    free = st.f_bavail * st.f_frsize
    with open(where / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def test_a_full_disk_under_preprocess_and_train_is_one_line_and_keeps_what_was_there(gem, frappe_zip, small_disk):
    """On a really full disk (a small tmpfs): `preprocess --force` and `train` each stop with one line, exit 2; the
    data preprocessed before are intact and usable, no staged folder or half-made run is left (0.4.4: polars' and
    torch's tracebacks, and a run folder holding only config.json)."""
    run = small_disk / "r"
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", run)
    before = (run / "data" / "meta.json").read_text()
    _fill(small_disk, 40_000)
    res = gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", run, "--seed", "3", "--force", ok=False)
    assert res.exit_code == 2 and "No space left on device" in res.output and "Traceback" not in res.output, res.output
    assert (run / "data" / "meta.json").read_text() == before
    assert not [p for p in run.iterdir() if p.name.startswith(".data")]
    res = gem("train", "--embedding-size", "64", "--epochs", "1", "--name", "full", "--run-dir", run, ok=False)
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert "No space left on device" in res.output or "could not be written" in res.output, res.output
    assert not (run / "models" / "full").exists()
    (small_disk / "filler").unlink()
    gem("train", "--embedding-size", "8", "--epochs", "1", "--name", "full", "--run-dir", run)  # room again


def _sigint_state() -> str:
    import signal

    return "default" if signal.getsignal(signal.SIGINT) is signal.default_int_handler else "other"


def test_local_workers_are_born_deaf_to_ctrl_c_until_set_up():
    """Workers are spawned with SIGINT ignored (a Ctrl-C while one still imports gemcli printed its traceback in
    0.4.4) and take Ctrl-C again once their initialiser has run; the driver's own handler is left as it was."""
    import signal

    from gemcli.executors.local import worker_pool

    before = signal.getsignal(signal.SIGINT)
    seen = []
    real = signal.signal

    def spy(sig, handler):
        seen.append((sig, handler))
        return real(sig, handler)

    mp = pytest.MonkeyPatch()
    mp.setattr(signal, "signal", spy)
    try:
        with worker_pool(1) as pool:
            fut = pool.submit(_sigint_state)
    finally:
        mp.undo()
    assert fut.result() == "default"
    assert (signal.SIGINT, signal.SIG_IGN) in seen and signal.getsignal(signal.SIGINT) is before
