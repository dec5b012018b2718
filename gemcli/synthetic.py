"""Generated tables in the raw formats gemcli reads (a plain CSV, Criteo's train.txt, Avazu's train.csv), with a
planted interaction so that models have something to learn. Shared by the tests and the benchmark scripts (which
import it from here, never from tests/)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import polars as pl

from gemcli.data import avazu


def _hexes(n: int, salt: int) -> np.ndarray:
    """n distinct 8-hex-digit strings, as Criteo's hashed categorical values look."""
    ids = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761) + np.uint64(salt)) % np.uint64(1 << 32)
    return np.array([f"{int(v):08x}" for v in ids], dtype="U8")


def criteo_chunk(rng: np.random.Generator, rows: int, cards: list[int], tables: list[np.ndarray]) -> pl.DataFrame:
    """One chunk of Criteo-format rows: label, I1-I13 (integers, some missing), C1-C26 (hex, some missing); the
    label's log-odds grow when C1 and C2 fall in the same half of their vocabularies, and with I1."""
    cols: dict[str, pl.Series] = {}
    # half the draws from a heavy-tailed (Zipf) head, half uniform over the field's values: the long tail that
    # survives a min-count cut as in real logs
    codes = [
        np.where(rng.random(rows) < 0.5, np.minimum(rng.zipf(1.25, rows) - 1, card - 1), rng.integers(0, card, rows))
        for card in cards
    ]
    same = (codes[0] % 2) == (codes[1] % 2)
    ints = rng.poisson(5.0, size=(13, rows)).astype(np.int64) - (rng.random((13, rows)) < 0.02)
    logit = np.where(same, 1.5, -1.5) + 0.1 * (ints[0] - 5) - 0.8
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    cols["label"] = pl.Series("label", label)
    for i in range(13):
        name = f"I{i + 1}"
        cols[name] = pl.Series(name, ints[i]).scatter(np.flatnonzero(rng.random(rows) < 0.1), None)
    for j in range(26):
        name = f"C{j + 1}"
        cols[name] = pl.Series(name, tables[j][codes[j]]).scatter(np.flatnonzero(rng.random(rows) < 0.05), None)
    return pl.DataFrame(list(cols.values()))


# 39 fields' worth: after Criteo's min-count 10 on 8M training rows, ~500k features (4 fields of 100k values)
CRITEO_CARDS = [40, 40] + [2_000] * 10 + [50] * 6 + [100_000] * 4 + [20_000] * 4


def write_criteo(path: Path, rows: int, seed: int = 0, chunk: int = 1_000_000, cards: list[int] | None = None) -> None:
    """A Criteo-format train.txt (tab-separated, no header, empty = missing) of `rows` lines."""
    rng = np.random.default_rng(seed)
    cards = cards or CRITEO_CARDS
    tables = [_hexes(c, 7919 * (j + 1)) for j, c in enumerate(cards)]
    with open(path, "wb") as fh:
        for start in range(0, rows, chunk):
            df = criteo_chunk(rng, min(chunk, rows - start), cards, tables)
            df.write_csv(fh, separator="\t", include_header=False)


AVAZU_COLUMNS = ["id", "click", "hour", *avazu.CATEGORICAL]  # the release's header


def write_avazu(path: Path, rows: int, seed: int = 0, gz: bool = False) -> None:
    """An Avazu-format train.csv: header, id, click, hour YYMMDDHH (21-30 Oct 2014), 21 categorical columns."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {"id": [str(10**18 + i) for i in range(rows)]}
    day = rng.integers(21, 31, rows)
    hour = rng.integers(0, 24, rows)
    site = rng.integers(0, 30, rows)
    app = rng.integers(0, 30, rows)
    logit = np.where(site % 2 == app % 2, 1.5, -1.5) - 0.5
    cols["click"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    cols["hour"] = [f"1410{d:02d}{h:02d}" for d, h in zip(day, hour, strict=True)]
    for c in AVAZU_COLUMNS[3:]:
        if c == "site_id":
            cols[c] = [f"s{v:x}" for v in site]
        elif c == "app_id":
            cols[c] = [f"a{v:x}" for v in app]
        else:
            cols[c] = [f"{c[:2]}{v}" for v in rng.integers(0, 12, rows)]
    df = pl.DataFrame(cols)
    if gz:
        with gzip.open(path, "wb") as fh:
            df.write_csv(fh)  # type: ignore[call-overload]  # a binary file object: polars takes it
    else:
        df.write_csv(path)


def write_table(path: Path, rows: int = 3000, seed: int = 0) -> None:
    """A plain CSV: click (0/1), user, item, city (categorical), price (numeric, 2% missing), ts (time); the click's
    log-odds +2 when user and item parity agree, -2 otherwise."""
    rng = np.random.default_rng(seed)
    user, item = rng.integers(0, 40, rows), rng.integers(0, 60, rows)
    logit = np.where(user % 2 == item % 2, 2.0, -2.0)
    click = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    price = np.round(rng.exponential(10, rows), 2).astype(str)
    price[rng.random(rows) < 0.02] = ""
    pl.DataFrame(
        {
            "click": click,
            "user": [f"u{v}" for v in user],
            "item": [f"i{v}" for v in item],
            "city": [f"c{v}" for v in rng.integers(0, 5, rows)],
            "price": price,
            "ts": np.arange(rows),
        }
    ).write_csv(path)
