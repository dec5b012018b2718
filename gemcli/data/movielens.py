"""MovieLens tag applications as personalised tag recommendation (He & Chua 2017; Yu et al. 2019).

Each (user, movie, tag) application is a positive; a negative keeps the user and movie and takes a
tag this user never gave this movie. Fields: user, item (the movie), tag.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import polars as pl

from gemcli.data.download import datasets_root, download
from gemcli.data.table import RawTable, require_columns
from gemcli.errors import GemError
from gemcli.rundir import sha256_file

RELEASES = {
    # release name -> the URL of its zip; only releases that carry tag applications
    "ml-latest": "https://files.grouplens.org/datasets/movielens/ml-latest.zip",
    "ml-latest-small": "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
    "ml-10m": "https://files.grouplens.org/datasets/movielens/ml-10m.zip",
    "ml-20m": "https://files.grouplens.org/datasets/movielens/ml-20m.zip",
    "ml-25m": "https://files.grouplens.org/datasets/movielens/ml-25m.zip",
    "ml-32m": "https://files.grouplens.org/datasets/movielens/ml-32m.zip",
}
FIELDS = ["user", "item", "tag"]
DAT_LINE = r"^([^:]+)::([^:]+)::(.*)::([^:]*)$"
TAG_NORMALISE = {
    "lower-strip": "lowercase, trim, and collapse runs of whitespace to one space (default)",
    "strip": "trim and collapse runs of whitespace, keep case",
    "none": "tags exactly as given",
}


def locate(source: Path | None, release: str) -> Path:
    if source is not None:
        if not Path(source).exists():
            raise GemError(f"{source}: no such file")
        return Path(source)
    if release not in RELEASES:
        raise GemError(f"unknown --release {release!r}; known: {', '.join(RELEASES)}")
    folder = datasets_root() / "movielens"
    for name in (f"{release}.zip", f"{release}/tags.csv", f"{release}/tags.dat"):
        if (folder / name).is_file():
            return folder / name
    return download([RELEASES[release]], folder / f"{release}.zip", None)


def _read_bytes(path: Path) -> tuple[bytes, str, str]:
    """(content, format 'csv'|'dat', name for messages)."""
    if Path(path).is_dir():
        raise GemError(f"{path}: a folder; --source takes tags.csv, tags.dat or a release zip")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                for n in zf.namelist():
                    base = n.rsplit("/", 1)[-1]
                    if base in ("tags.csv", "tags.dat"):
                        return zf.read(n), base[-3:], f"{path}:{n}"
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise GemError(f"{path}: a damaged zip archive ({str(e)[:120] or type(e).__name__})") from None
        raise GemError(f"{path}: archive holds no tags.csv or tags.dat (is this a release with tags?)")
    if Path(path).suffix == ".zip":
        raise GemError(f"{path}: not a readable zip archive (truncated or damaged?)")
    fmt = "dat" if Path(path).suffix == ".dat" else "csv"
    return Path(path).read_bytes(), fmt, str(path)


def _parse_dat(raw: bytes, where: str) -> pl.DataFrame:
    # UserID::MovieID::Tag::Timestamp; a tag may itself hold ':' or ';', so cut the ends off.
    text = raw.decode("utf-8", errors="replace")
    lines = pl.Series("line", text.splitlines(), dtype=pl.String)
    lines = lines.filter(lines.str.strip_chars() != "")
    frame = lines.to_frame().select(
        pl.col("line").str.extract(DAT_LINE, 1).alias("userId"),
        pl.col("line").str.extract(DAT_LINE, 2).alias("movieId"),
        pl.col("line").str.extract(DAT_LINE, 3).alias("tag"),
    )
    bad = frame["userId"].is_null()
    if bad.any():
        first = int(bad.arg_true()[0]) + 1
        raise GemError(f"{where}: line {first}: expected UserID::MovieID::Tag::Timestamp")
    return frame


def read(source: Path | None, release: str = "ml-latest", tag_normalise: str = "lower-strip") -> RawTable:
    if tag_normalise not in TAG_NORMALISE:
        raise GemError(f"unknown --tag-normalise {tag_normalise!r}; known: {', '.join(TAG_NORMALISE)}")
    path = locate(source, release)
    raw, fmt, where = _read_bytes(path)
    if not raw.strip():
        raise GemError(f"{where}: empty file")
    if fmt == "dat":
        frame = _parse_dat(raw, where)
    else:
        try:
            frame = pl.read_csv(io.BytesIO(raw), infer_schema=False, quote_char='"')
        except pl.exceptions.PolarsError as e:
            raise GemError(f"{where}: cannot read as CSV ({str(e).splitlines()[0]})") from None
    require_columns(frame, ["userId", "movieId", "tag"], where)
    n_raw = frame.height
    tag = pl.col("tag").fill_null("")
    if tag_normalise != "none":
        tag = tag.str.replace_all(r"\s+", " ").str.strip_chars()
    if tag_normalise == "lower-strip":
        tag = tag.str.to_lowercase()
    frame = frame.select(
        pl.col("userId").str.strip_chars().alias("user"),
        pl.col("movieId").str.strip_chars().alias("item"),
        tag.alias("tag"),
    )
    if frame["user"].null_count() or frame["item"].null_count():
        raise GemError(f"{where}: empty userId or movieId values")
    frame = frame.filter(pl.col("tag") != "")
    n_nonempty = frame.height
    frame = frame.unique(maintain_order=True)
    if frame.height == 0:
        raise GemError(f"{where}: no tag applications left after normalisation")
    return RawTable(
        dataset="movielens",
        frame=frame,
        user_field="user",
        item_field="item",
        graph_fields=["user", "item", "tag"],
        neg_target="tag",
        neg_group=("user", "item"),
        source={
            "path": str(Path(path).resolve()),
            "sha256": sha256_file(path),
            "release": release if source is None else None,
        },
        notes={
            "protocol": "each (user, movie, tag) application a positive (+1); per positive, k negatives (-1) "
            "with the same user and movie and a tag this user never gave this movie",
            "tag_normalise": tag_normalise,
            "rows_read": n_raw,
            "dropped_empty_tags": n_raw - n_nonempty,
            "dropped_duplicates_after_normalising": n_nonempty - frame.height,
        },
    )
