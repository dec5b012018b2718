"""Frappe (Baltrunas et al. 2015): context-aware app usage logs, read from the official archive."""

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

SHA256 = "4adc616de57170f282397f6e6e30215f97fa7ad1b7f40bd12ef5dceaaf3e9b4e"
# sha256 of frappe.csv inside that archive, for users who pass the extracted file
CSV_SHA256 = "409edc12f4e2153c5dd58ae171938735911d9b0f70961d5f1086b241656b2cb5"
URLS = [
    "https://www.baltrunas.info/_files/archives/be17b7_474755a5e9684a749a012516d04fb456.zip?dn=Mobile_Frappe.zip",
    "https://github.com/irecsys/CARSKit/raw/master/context-aware_data_sets/Mobile_Frappe.zip",
]
# He & Chua (2017): cnt is dropped, the other ten columns are fields.
FIELDS = ["user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city"]
RAW_COLUMNS = ["user", "item", "cnt", *FIELDS[2:]]
GRAPH_FIELDS = ["user", "item", "country", "city"]


def locate(source: Path | None) -> Path:
    """--source, else datasets/frappe/Mobile_Frappe.zip, else download it there."""
    if source is not None:
        if not Path(source).exists():
            raise GemError(f"{source}: no such file")
        return Path(source)
    cached = datasets_root() / "frappe" / "Mobile_Frappe.zip"
    if cached.is_file():
        return cached
    return download(URLS, cached, SHA256)


def _csv_bytes(path: Path) -> bytes:
    if Path(path).is_dir():
        raise GemError(f"{path}: a folder; --source takes Mobile_Frappe.zip or frappe.csv")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.endswith("frappe.csv") and "/." not in n]
                if not names:
                    raise GemError(f"{path}: archive holds no frappe.csv")
                return zf.read(names[0])
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
            raise GemError(f"{path}: a damaged zip archive ({str(e)[:120] or type(e).__name__})") from None
    if Path(path).suffix == ".zip":
        raise GemError(f"{path}: not a readable zip archive (truncated or damaged?)")
    return Path(path).read_bytes()


def read(source: Path | None) -> RawTable:
    path = locate(source)
    digest = sha256_file(path)
    raw = _csv_bytes(path)
    if not raw.strip():
        raise GemError(f"{path}: empty file")
    try:
        frame = pl.read_csv(io.BytesIO(raw), separator="\t", infer_schema=False)
    except pl.exceptions.PolarsError as e:
        raise GemError(f"{path}: cannot read as tab-separated frappe.csv ({str(e).splitlines()[0]})") from None
    require_columns(frame, RAW_COLUMNS, path)
    frame = frame.select(FIELDS)
    nulls = frame.null_count().row(0)
    if any(nulls):
        bad = [f for f, n in zip(FIELDS, nulls, strict=True) if n]
        raise GemError(f"{path}: empty values in column(s) {', '.join(bad)}")
    source_info = {"path": str(Path(path).resolve()), "sha256": digest, "expected_sha256": SHA256}
    if digest not in (SHA256, CSV_SHA256):
        source_info["warning"] = (
            f"{path}: sha256 {digest[:12]}... is neither the official archive's ({SHA256[:12]}...) "
            f"nor its frappe.csv's ({CSV_SHA256[:12]}...); results may not match the paper"
        )
    return RawTable(
        dataset="frappe",
        frame=frame,
        user_field="user",
        item_field="item",
        graph_fields=GRAPH_FIELDS,
        neg_target="item",
        neg_group=("user",),
        source=source_info,
        notes={
            "protocol": "He & Chua 2017: each log a positive (+1); per positive, k negatives (-1) "
            "with the same user and context and an item this user never used in any context"
        },
    )
