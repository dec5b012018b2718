"""Your own data and the click-through-rate task (issue 15): `gem preprocess table|criteo|avazu`, `--task binary`,
graphs for any table, and one clear line for each kind of bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gemcli.synthetic import AVAZU_COLUMNS, write_avazu, write_criteo, write_table

SMALL = ["--embedding-size", "8", "--batch-size", "128"]


def meta(run_dir: Path) -> dict:
    return json.loads((run_dir / "data" / "meta.json").read_text())


def summary(run_dir: Path, name: str) -> dict:
    return json.loads((run_dir / "models" / name / "summary.json").read_text())


@pytest.fixture
def table(env) -> Path:
    path = env / "clicks.csv"
    write_table(path)
    return path


def test_table_fields_vocabulary_and_splits(gem, table, env):
    gem(
        "preprocess",
        "table",
        table,
        "--label",
        "click",
        "--fields",
        "user,item,city",
        "--numeric",
        "price",
        "--min-count",
        "3",
        "--run-dir",
        "t",
    )
    m = meta(env / "t")
    assert m["task"] == "binary" and m["fields"] == ["user", "item", "city", "price"]
    assert m["counts"] == {"train": 2400, "valid": 300, "test": 300}
    vocab = pl.read_parquet(env / "t" / "data" / "vocab.parquet")
    for f in m["fields"]:
        values = vocab.filter(pl.col("field") == f)["value"].to_list()
        assert values[:2] == ["<oov>", "<missing>"] and m["cardinalities"][f] == len(values)
    assert m["cardinalities"]["city"] == 2 + 5 and m["cardinalities"]["price"] == 2 + 10  # quantile:10
    train = pl.read_parquet(env / "t" / "data" / "train.parquet")
    o = m["offsets"]["price"]
    assert (train["price"] == o + 1).sum() > 0  # 2% missing prices: the missing id
    assert set(train["label"].unique().to_list()) == {0.0, 1.0}
    assert m["spec"]["min_count"] == 3 and m["encoding"]["vocabulary_from"] == "training split"


def test_min_count_moves_rare_values_to_oov(gem, env):
    rows = (
        ["y,a"]
        + [f"{i % 2},common" for i in range(40)]
        + ["1,rare1", "0,rare2"]
        + [f"{i % 2},common" for i in range(8)]
    )
    (env / "f.csv").write_text("\n".join(rows) + "\n")
    gem(
        "preprocess",
        "table",
        "f.csv",
        "--label",
        "y",
        "--fields",
        "a",
        "--min-count",
        "2",
        "--split",
        "1:1:1",
        "--run-dir",
        "m",
    )
    m = meta(env / "m")
    assert m["cardinalities"]["a"] == 3  # <oov>, <missing>, common
    ids = pl.concat([pl.read_parquet(env / "m" / "data" / f"{s}.parquet") for s in ("train", "valid", "test")])["a"]
    assert set(ids.to_list()) <= {0, 2} and (ids == 0).sum() == 2


def test_given_files_time_split_and_spec_file(gem, table, env):
    df = pl.read_csv(table)
    unseen = df[2500:].with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("new")).otherwise("user").alias("user")
    )
    for name, part in (("tr", df[:2000]), ("va", df[2000:2500]), ("te", unseen)):
        part.write_csv(env / f"{name}.tsv", separator="\t")
    gem(
        "preprocess",
        "table",
        "--train",
        "tr.tsv",
        "--valid",
        "va.tsv",
        "--test",
        "te.tsv",
        "--label",
        "click",
        "--fields",
        "user,item",
        "--run-dir",
        "g",
    )
    assert meta(env / "g")["counts"] == {"train": 2000, "valid": 500, "test": 500}
    test_users = pl.read_parquet(env / "g" / "data" / "test.parquet")["user"]
    assert test_users[0] == meta(env / "g")["offsets"]["user"]  # a value never seen in training: the <oov> id
    assert (test_users == 0).sum() == 1
    (env / "data.toml").write_text(
        'source = "clicks.csv"\nlabel = "click"\nfields = ["user", "item"]\nnumeric = ["price"]\nbuckets = "log"\n'
        'split = "8:1:1"\nsplit_by = "ts"\n'
    )
    gem("preprocess", "table", "--spec", "data.toml", "--run-dir", "s")
    m = meta(env / "s")
    assert m["spec"]["split_by"] == "ts" and m["spec"]["buckets"] == "log"
    test = pl.read_parquet(env / "s" / "data" / "test.parquet")
    assert len(test) == 300  # the latest 300 rows by ts
    vocab = pl.read_parquet(env / "s" / "data" / "vocab.parquet").filter(pl.col("field") == "price")["value"]
    assert any(v.startswith("log2:") for v in vocab.to_list())  # floor(ln(x)^2) buckets
    # the option given beats the spec file
    gem(
        "preprocess",
        "table",
        "--spec",
        "data.toml",
        "--split-by",
        "click",
        "--buckets",
        "quantile:4",
        "--run-dir",
        "s2",
    )
    assert meta(env / "s2")["spec"]["buckets"] == "quantile:4"


def test_parquet_and_gzip_inputs(gem, table, env):
    pl.read_csv(table).write_parquet(env / "c.parquet")
    with gzip.open(env / "c.csv.gz", "wb") as fh:
        fh.write(table.read_bytes())
    gem("preprocess", "table", "c.parquet", "--label", "click", "--fields", "user,item", "--run-dir", "p")
    gem("preprocess", "table", "c.csv.gz", "--label", "click", "--fields", "user,item", "--run-dir", "z")
    a, b = (pl.read_parquet(env / d / "data" / "train.parquet") for d in ("p", "z"))
    assert a.equals(b)


def test_implicit_feedback_takes_negatives(gem, env):
    rng = np.random.default_rng(0)
    rows = ["user,item,ctx"] + [
        f"u{rng.integers(0, 20)},i{rng.integers(0, 50)},c{rng.integers(0, 3)}" for _ in range(400)
    ]
    (env / "pos.csv").write_text("\n".join(rows) + "\n")
    gem(
        "preprocess",
        "table",
        "pos.csv",
        "--fields",
        "user,item,ctx",
        "--negatives",
        "2",
        "--user-field",
        "user",
        "--item-field",
        "item",
        "--run-dir",
        "n",
    )
    m = meta(env / "n")
    assert m["task"] == "binary" and m["negatives"] == 2 * m["positives"]
    gem("build-graph", "--type", "a", "--run-dir", "n")  # user/item roles: the paper's graph types apply


def test_planted_interaction_binary_auc_well_above_shuffled(gem, table, env):
    """FM and GEM+FM with --task binary learn the planted user x item parity interaction; the same data with
    shuffled labels stays near AUC 0.5."""
    gem("preprocess", "table", table, "--label", "click", "--fields", "user,item,city", "--run-dir", "b")
    gem("build-graph", "--pairs", "all", "--run-dir", "b")
    graph = json.loads(next((env / "b" / "graphs").glob("*/graph.json")).read_text())
    assert graph["config"]["pairs"] == "all" and set(graph["edges_per_field_pair"]) >= {"user-item", "user-city"}
    common = [
        *SMALL,
        "--epochs",
        "40",
        "--lr",
        "0.02",
        "--optimizer",
        "adam",
        "--loss-reduction",
        "mean",
        "--run-dir",
        "b",
    ]
    gem("train", "--base", "fm", "--task", "binary", "--name", "fm", "--dropout", "0", *common)
    gem("train", "--base", "fm", "--gem", "--name", "gem", *common)
    df = pl.read_csv(table)
    df.with_columns(pl.Series("click", np.random.default_rng(1).permutation(df["click"].to_numpy()))).write_csv(
        env / "shuffled.csv"
    )
    gem("preprocess", "table", "shuffled.csv", "--label", "click", "--fields", "user,item,city", "--run-dir", "sh")
    gem("train", "--base", "fm", "--name", "fm", "--dropout", "0", *common[:-1], "sh")
    fm, gemfm, shuffled = summary(env / "b", "fm"), summary(env / "b", "gem"), summary(env / "sh", "fm")
    assert fm["task"] == "binary" and fm["monitor"] == "auc"
    assert fm["test_auc"] > 0.8 and gemfm["test_auc"] > 0.75, (fm["test_auc"], gemfm["test_auc"])
    assert shuffled["test_auc"] < 0.62
    out = gem("evaluate", "--run", "fm", "--run-dir", "b").output
    assert "auc" in out and "logloss" in out and "rmse" not in out
    out = gem("compare", "--run-dir", "b").output
    assert "test AUC" in out and "test LOGLOSS" in out


def test_criteo_format(gem, env):
    write_criteo(env / "train.txt", 3000, chunk=1000, cards=[40, 40] + [300] * 24)
    gem("preprocess", "criteo", "--source", "train.txt", "--min-count", "2", "--run-dir", "c")
    m = meta(env / "c")
    assert m["fields"] == [f"C{i}" for i in range(1, 27)] + [f"I{i}" for i in range(1, 14)]
    assert m["task"] == "binary" and sum(m["counts"].values()) == 3000
    assert m["spec"]["buckets"] == "log" and m["source"]["official_rows"] == 45_840_617
    assert "warning" in m["source"]  # not the release's row count
    vocab = pl.read_parquet(env / "c" / "data" / "vocab.parquet")
    i1 = vocab.filter(pl.col("field") == "I1")["value"].to_list()
    assert "v:0" in i1 and "v:2" in i1 and "log2:1" in i1  # ln(3)^2 = 1.2 -> 1; values <= 2 as they are
    c1 = vocab.filter(pl.col("field") == "C1")["value"].to_list()
    assert all(len(v) == 8 for v in c1[2:])


def test_avazu_format(gem, env):
    write_avazu(env / "train.gz", 2000, gz=True)
    gem("preprocess", "avazu", "--source", "train.gz", "--run-dir", "a")
    m = meta(env / "a")
    assert m["fields"][:3] == ["hour", "weekday", "weekend"] and "id" not in m["fields"]
    assert len(m["fields"]) == len(AVAZU_COLUMNS) - 3 + 3  # id, click, hour out; hour, weekday, weekend in
    assert m["cardinalities"]["hour"] == 2 + 24 and m["cardinalities"]["weekday"] == 2 + 7
    assert m["spec"]["min_count"] == 2 and m["task"] == "binary"


def test_frappe_labels_01_serves_the_binary_task(gem, frappe_zip, env):
    gem("preprocess", "frappe", "--source", frappe_zip, "--labels", "01", "--split", "7:2:1", "--run-dir", "f")
    m = meta(env / "f")
    assert m["task"] == "binary" and m["labels"] == "01"
    gem("train", "--base", "fm", *SMALL, "--epochs", "2", "--name", "b", "--run-dir", "f")
    s = summary(env / "f", "b")
    assert s["task"] == "binary" and "test_auc" in s and "test_rmse" not in s
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "pm")
    res = gem("train", "--base", "fm", *SMALL, "--epochs", "1", "--task", "binary", "--run-dir", "pm", ok=False)
    assert res.exit_code == 2 and "label -1 under the binary task" in res.output and "--labels 01" in res.output


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing written


BAD = {
    "non-binary label": ("click,user\n1,a\n2,b\n0,c\n", ["--task", "binary"], "line 3, column 'click': label '2'"),
    "missing label": ("click,user\n1,a\n,b\n0,c\n", [], "line 3, column 'click': the label is missing"),
    "unknown column": ("click,user\n1,a\n0,b\n", ["--fields", "user,nope"], "no column 'nope'"),
    "duplicated header": ("click,user,user\n1,a,b\n0,b,c\n", [], "column 'user' appears twice"),
    "duplicated field": ("click,user\n1,a\n0,b\n", ["--fields", "user,user"], "column 'user' is named twice"),
    "numeric text": (
        "click,user,x\n1,a,1.5\n0,b,abc\n",
        ["--numeric", "x"],
        "line 3, column 'x': 'abc' is not a number",
    ),
    "all missing": ("click,user,x\n1,a,\n0,b,\n", ["--fields", "user,x"], "column 'x' is empty in every row"),
    "empty split": ("click,user\n1,a\n0,b\n", ["--split", "8:1:1"], "the valid split of 2 instances would be empty"),
    "empty time split": (
        "click,user,t\n1,a,1\n0,b,2\n1,c,3\n",
        ["--split-by", "t", "--split", "8:1:1"],
        "split is empty",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_table_input(gem, env, case):
    text, extra, message = BAD[case]
    (env / "bad.csv").write_text(text)
    args = ["preprocess", "table", "bad.csv", "--label", "click", "--run-dir", "x"]
    if "--fields" not in extra:
        args += ["--fields", "user"]
    res = gem(*args, *extra, ok=False)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip() and not ln.startswith("run directory")]
    assert len(lines) == 1 and message in lines[0], lines
    assert "bad.csv" in lines[0] or case == "duplicated field", lines  # an option's fault names the option
    assert not (env / "x" / "data").exists()
    assert not [p for p in env.rglob("*") if p.name.startswith(".") and "tmp" in p.name]


def test_bad_spec_file(gem, env, table):
    (env / "s.toml").write_text('label = "click"\nfields = ["user"]\ncolour = "blue"\n')
    res = gem("preprocess", "table", table, "--spec", "s.toml", "--run-dir", "x", ok=False)
    assert res.exit_code == 2 and "s.toml: unknown key 'colour'" in res.output
    assert not (env / "x").exists() or not (env / "x" / "data").exists()


def test_runs_says_running_while_a_command_holds_the_run(gem, frappe_zip, env):
    """A run folder whose lock a command holds is `running`, not `interrupted`, in `gem runs`."""
    from gemcli import rundir
    from gemcli.report import run_infos

    gem("preprocess", "frappe", "--source", frappe_zip, "--labels", "01", "--run-dir", "w")
    gem("train", "--base", "fm", *SMALL, "--epochs", "1", "--name", "a", "--run-dir", "w")
    (env / "w" / "models" / "a" / "summary.json").unlink()  # as while training: no summary yet
    assert {i.folder.name: i.status for i in run_infos(env / "w")}["a"] == "started"
    with rundir.locked(env / "w" / "models" / ".a.lock", "run a"):
        assert {i.folder.name: i.status for i in run_infos(env / "w")}["a"] == "running"


def test_a_table_under_a_path_with_brackets(gem, table, env):
    """Polars reads such a path as the file it names, not as a glob pattern; its fields print as text."""
    where = env / "raw [2026]"
    where.mkdir()
    pl.read_csv(table).write_parquet(where / "c[1].parquet")
    (where / "c[1].csv").write_bytes(table.read_bytes())
    for name, run in (("c[1].parquet", "p"), ("c[1].csv", "c")):
        res = gem("preprocess", "table", where / name, "--label", "click", "--fields", "user,item", "--run-dir", run)
        assert f"-> {run}/data" in res.output
    a, b = (pl.read_parquet(env / d / "data" / "train.parquet") for d in ("p", "c"))
    assert a.equals(b)
