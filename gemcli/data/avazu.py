"""Avazu (Kaggle Click-Through Rate Prediction, `train.csv` or `train.gz`): 40,428,967 rows with a header, id,
click, hour (YYMMDDHH), then 21 categorical columns.

The field treatment of BARS's Avazu_x4 (FuxiCTR): `id` dropped, `hour` split into the hour of day (`hour`) and
the day of the week (`weekday`) and whether that is a weekend (`weekend`); categorical values seen fewer than
2 times in training share one out-of-vocabulary id per field; a seeded 8:1:1 random split (Avazu_x4's ratio;
our rows are drawn afresh). Read through gemcli.data.tabular, streamed.
"""

from __future__ import annotations

from typing import Any

import polars as pl

CATEGORICAL = [
    "C1",
    "banner_pos",
    "site_id",
    "site_domain",
    "site_category",
    "app_id",
    "app_domain",
    "app_category",
    "device_id",
    "device_ip",
    "device_model",
    "device_type",
    "device_conn_type",
    *[f"C{i}" for i in range(14, 22)],
]
FIELDS = ["hour", "weekday", "weekend", *CATEGORICAL]
PRESET: dict[str, Any] = {
    "dataset": "avazu",
    "label": "click",
    "fields": FIELDS,
    "numeric": [],
    "min_count": 2,
    "split": "8:1:1",
    "separator": ",",
    "task": "binary",
}
OFFICIAL_ROWS = 40_428_967
CACHED = ("avazu/train.csv", "avazu/train.gz", "avazu/train.csv.gz")
RELEASE = "https://www.kaggle.com/c/avazu-ctr-prediction/data"


def checks() -> list[tuple[str, str, pl.Expr, str]]:
    """hour must be a YYMMDDHH time stamp (a real day, an hour 00-23): after `derive`, its day gives the weekday
    (none for a day that does not exist) and its last two digits the hour."""
    bad = pl.col("weekday").is_null() | ~pl.col("hour").str.contains(r"^([01][0-9]|2[0-3])$")
    return [("avazu_hour", "hour", bad, "not a YYMMDDHH time stamp (its hour of day: {v!r})")]


def derive() -> list[pl.Expr]:
    """hour YYMMDDHH -> hour (HH), weekday (0 = Monday), weekend (0/1); other columns as they are."""
    stamp = pl.col("hour").str.strip_chars()
    day = ("20" + stamp.str.slice(0, 6)).str.to_date("%Y%m%d", strict=False)
    return [
        day.dt.weekday().sub(1).cast(pl.String).alias("weekday"),
        (day.dt.weekday() >= 6).cast(pl.Int8).cast(pl.String).alias("weekend"),
        stamp.str.slice(6, 2).alias("hour"),
    ]
