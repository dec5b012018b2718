"""gem report table1 / curves from finished runs."""

from __future__ import annotations


def test_table1_run_missing_and_curves(gem, frappe_zip, tmp_path):
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "r")
    gem("build-graph", "--type", "a")
    res = gem("report", "table1", "--run-missing", "--bases", "fm,nfm", "--seeds", "1", "--epochs", "1", "--out", "t1.md")
    text = (tmp_path / "t1.md").read_text()
    assert text in res.output.replace("\r", "") or "GEM+FM" in res.output
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()[2:]}
    assert rows["FM"].split("|")[2].strip() == "1" and rows["GEM+NFM"].split("|")[2].strip() == "1"
    assert rows["AFM"].split("|")[2].strip() == "0"  # not asked for
    assert "0.3143" in rows["FM"] and "1.383M" in rows["FM"]  # the paper's figures beside ours
    assert "%" in rows["GEM+FM"].split("|")[-2]
    # the plain NFM was pre-trained from FM, as in the paper
    assert '"pretrain": "table1-fm-s0"' in (tmp_path / "r/models/table1-nfm-s0/config.json").read_text()
    # a second call trains nothing more
    res = gem("report", "table1", "--run-missing", "--bases", "fm,nfm", "--seeds", "1", "--epochs", "1")
    assert "table1-fm-s0" not in res.output.split("|")[0]
    gem("report", "curves", "table1-fm-s0", "table1-gem-fm-s0", "--out", "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
