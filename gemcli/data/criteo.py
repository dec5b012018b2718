"""Criteo (Kaggle Display Advertising Challenge, `train.txt`): 45,840,617 tab-separated lines without a header,
label, 13 integer features I1-I13, 26 hashed categorical features C1-C26 (empty = missing).

The field treatment of BARS's Criteo_x4 (FuxiCTR): the integers bucketed by floor(ln(x)^2) for x > 2 (the value
itself otherwise, as the 2014 winners did), categorical values seen fewer than 10 times in training share one
out-of-vocabulary id per field, missing values their own id; a seeded 8:1:1 random split (Criteo_x4's ratio; our
rows are drawn afresh, not BARS's). Read through gemcli.data.tabular, streamed.
"""

from __future__ import annotations

from typing import Any

NUMERIC = [f"I{i}" for i in range(1, 14)]
CATEGORICAL = [f"C{i}" for i in range(1, 27)]
COLUMNS = ["label", *NUMERIC, *CATEGORICAL]
PRESET: dict[str, Any] = {
    "dataset": "criteo",
    "label": "label",
    "fields": CATEGORICAL,
    "numeric": NUMERIC,
    "buckets": "log",
    "min_count": 10,
    "split": "8:1:1",
    "separator": "tab",
    "header": False,
    "columns": COLUMNS,
    "task": "binary",
}
# No checksum of train.txt is published with the release that we could verify offline; its line count
# identifies it (45,840,617), and the file's own sha256 is recorded in meta.json and the manifest.
OFFICIAL_ROWS = 45_840_617
# where `gem preprocess criteo` looks without --source (under datasets/), and where the release comes from
# (behind a licence form: no download here)
CACHED = ("criteo/train.txt",)
RELEASE = "Kaggle Display Advertising Challenge, https://ailab.criteo.com/ressources/"
