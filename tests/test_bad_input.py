"""Bad input: one clear error line naming what is at fault, non-zero exit, nothing in the run directory."""

from __future__ import annotations

import pytest
from conftest import make_frappe_csv


def fails(gem, tmp_path, *args, expect: str):
    res = gem(*args, "--run-dir", "bad", ok=False)
    assert res.exit_code != 0
    assert expect in res.output, res.output
    assert not (tmp_path / "bad").exists(), "a failed command left something in the run directory"
    return res


def test_missing_file(gem, tmp_path):
    fails(gem, tmp_path, "preprocess", "frappe", "--source", "nope.zip", expect="nope.zip: no such file")


def test_empty_file(gem, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    fails(gem, tmp_path, "preprocess", "frappe", "--source", "empty.csv", expect="empty.csv: empty file")
    (tmp_path / "head.csv").write_text("userId,movieId,tag,timestamp\n")
    fails(gem, tmp_path, "preprocess", "movielens", "--source", "head.csv", expect="no data rows")


def test_missing_columns(gem, tmp_path):
    csv = make_frappe_csv(tmp_path / "f.csv")
    lines = csv.read_text().splitlines()
    cut = ["\t".join(line.split("\t")[:-1]) for line in lines]  # drop city
    (tmp_path / "nocity.csv").write_text("\n".join(cut) + "\n")
    res = fails(gem, tmp_path, "preprocess", "frappe", "--source", "nocity.csv", expect="missing column(s) city")
    assert "nocity.csv" in res.output
    (tmp_path / "t.csv").write_text("userId,movie,tag\n1,2,x\n")
    fails(gem, tmp_path, "preprocess", "movielens", "--source", "t.csv", expect="missing column(s) movieId")


def test_bad_split(gem, tmp_path):
    csv = make_frappe_csv(tmp_path / "f.csv")
    for bad in ("8:1", "a:b:c", "8:-1:1", "0:1:1"):
        fails(gem, tmp_path, "preprocess", "frappe", "--source", csv, "--split", bad, expect="--split")


def test_unknown_dataset(gem, tmp_path):
    res = gem("preprocess", "kdd12", ok=False)
    assert res.exit_code != 0
    assert "unknown dataset 'kdd12'" in res.output and "frappe, movielens, table, criteo, avazu" in " ".join(
        res.output.split()
    )


def libfm_files(tmp_path, train_text):
    (tmp_path / "tr.libfm").write_text(train_text)
    (tmp_path / "va.libfm").write_text("1 0:1 5:1\n")
    (tmp_path / "te.libfm").write_text("-1 1:1 6:1\n")
    return ["--train", "tr.libfm", "--valid", "va.libfm", "--test", "te.libfm"]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("1 0:1 5:1\n-1 1:1 x6\n", "tr.libfm: line 2: malformed feature 'x6'"),
        ("1 0:1 5:1\n\nfoo 1:1 6:1\n", "tr.libfm: line 3: label 'foo' is not a number"),
        ("1 0:1 5:1\n-1 1:1 6:1 9:1\n", "tr.libfm: line 2: 3 features, but line 1 has 2"),
        ("", "tr.libfm: empty file"),
        ("1 0:1 5:1\n-1 5:1 0:1\n", "not in a fixed field order"),
    ],
)
def test_bad_libfm(gem, tmp_path, text, expect):
    fails(gem, tmp_path, "preprocess", "libfm", *libfm_files(tmp_path, text), expect=expect)


def test_libfm_missing_file(gem, tmp_path):
    args = libfm_files(tmp_path, "1 0:1 5:1\n")
    args[3] = "missing.libfm"
    fails(gem, tmp_path, "preprocess", "libfm", *args, expect="missing.libfm: no such file")


def test_no_run_dir_yet(gem):
    # nothing preprocessed and nothing remembered: say what to run first
    from gemcli import rundir
    from gemcli.errors import GemError

    with pytest.raises(GemError, match="gem preprocess"):
        rundir.resolve(None)
