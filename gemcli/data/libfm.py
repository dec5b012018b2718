"""Import already-split libfm files (`label idx:value ...`) of the NFM/AFM/IFM literature as they are."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from gemcli.data.encode import SPLITS, write_data
from gemcli.errors import GemError
from gemcli.rundir import sha256_file

TOKEN = r"^(\d+):([-+0-9.eE]+)$"


def parse_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels float32[n], raw feature indices int64[n, F], line numbers int64[n]) of one libfm file.

    Every line must hold the same number F of `idx:1` features; blank lines are skipped.
    """
    from gemcli.rundir import input_file

    path = input_file(path, "libfm file")
    text = path.read_text(errors="replace")
    lines = pl.Series("line", text.splitlines(), dtype=pl.String).str.strip_chars()
    frame = pl.DataFrame({"line": lines, "lineno": np.arange(1, len(lines) + 1)}).filter(pl.col("line") != "")
    if frame.height == 0:
        raise GemError(f"{path}: empty file")
    toks = frame["line"].str.replace_all(r"\s+", " ").str.split(" ")
    lens = toks.list.len().to_numpy()
    linenos = frame["lineno"].to_numpy()
    width = int(lens[0])
    if width < 2:
        raise GemError(f"{path}: line {linenos[0]}: expected `label idx:value ...`")
    odd = np.flatnonzero(lens != width)
    if len(odd):
        i = odd[0]
        raise GemError(f"{path}: line {linenos[i]}: {lens[i] - 1} features, but line {linenos[0]} has {width - 1}")
    arr = toks.list.to_array(width)
    labels = arr.arr.get(0).cast(pl.Float64, strict=False)
    if labels.null_count():
        i = int(labels.is_null().arg_true()[0])
        raise GemError(f"{path}: line {linenos[i]}: label {arr[i][0]!r} is not a number")
    idx = np.empty((frame.height, width - 1), dtype=np.int64)
    for j in range(1, width):
        col = arr.arr.get(j)
        parts = col.str.extract_groups(TOKEN)
        raw_idx = parts.struct.field("1").cast(pl.Int64, strict=False)
        raw_val = parts.struct.field("2").cast(pl.Float64, strict=False)
        bad = raw_idx.is_null() | raw_val.is_null()
        if bad.any():
            i = int(bad.arg_true()[0])
            raise GemError(f"{path}: line {linenos[i]}: malformed feature {col[i]!r} (expected idx:value)")
        not_one = raw_val != 1.0
        if not_one.any():
            i = int(not_one.arg_true()[0])
            raise GemError(
                f"{path}: line {linenos[i]}: feature {col[i]!r} has a value other than 1; only one-hot features are "
                "supported"
            )
        idx[:, j - 1] = raw_idx.to_numpy()
    return labels.to_numpy().astype(np.float32), idx, linenos


def parse_fields(spec: str | None, width: int) -> tuple[list[str], list[tuple[int, int]] | None]:
    """--fields: names by position (`user,item,...`) or index ranges (`user=0-956,item=957-5038,...`)."""
    if not spec:
        return [f"f{j}" for j in range(width)], None
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if len(parts) != width:
        raise GemError(f"--fields names {len(parts)} fields but the files have {width} features per line")

    def check_name(name: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name == "label":
            raise GemError(f"--fields: {name!r} is not a field name (letters, digits, _; not 'label')")
        return name

    if all("=" not in p for p in parts):
        if len(set(parts)) != len(parts):
            raise GemError(f"--fields {spec!r}: a name is repeated")
        return [check_name(p) for p in parts], None
    names, ranges = [], []
    for p in parts:
        try:
            name, rng = p.split("=")
            lo, hi = (int(v) for v in rng.split("-"))
        except ValueError:
            raise GemError(f"--fields: {p!r} is not NAME=FIRST-LAST") from None
        if lo > hi or lo < 0:
            raise GemError(f"--fields: {p!r}: FIRST-LAST must be an increasing range of indices")
        names.append(check_name(name))
        ranges.append((lo, hi))
    if len(set(names)) != len(names):
        raise GemError(f"--fields {spec!r}: a name is repeated")
    spans = sorted(zip(ranges, names, strict=True))
    for ((lo_a, hi_a), a), ((lo_b, _), b) in zip(spans, spans[1:], strict=False):
        if lo_b <= hi_a:
            raise GemError(f"--fields: the ranges of {a} ({lo_a}-{hi_a}) and {b} (from {lo_b}) overlap")
    return names, ranges


def check_labels(parsed: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], paths: tuple[Path, ...]) -> None:
    """Labels are -1/1 or 0/1, the same convention in every file; else one line naming the file and line."""
    first: tuple[str, Path] | None = None
    for (y, _, linenos), path in zip(parsed.values(), paths, strict=True):
        bad = ~np.isin(y, (-1.0, 0.0, 1.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise GemError(
                f"{path}: line {linenos[i]}: label {y[i]:g} is not -1, 0 or 1 "
                "(the libfm files of this literature are labelled -1/1 or 0/1)"
            )
        if (y == -1).any() and (y == 0).any():
            i = int(np.flatnonzero(y == 0)[0])
            raise GemError(f"{path}: line {linenos[i]}: label 0 in a file that also holds -1 (one of -1/1 or 0/1)")
        if (y == -1).any() or (y == 0).any():
            mine = "-1/1" if (y == -1).any() else "0/1"
            if first is not None and first[0] != mine:
                raise GemError(
                    f"{path}: labels {mine}, but {first[1]} has {first[0]}: the three files must use one convention"
                )
            first = first or (mine, path)


def _in_field_order(
    idx: np.ndarray, ranges: list[tuple[int, int]], width: int, linenos: np.ndarray, where: Path
) -> np.ndarray:
    """Each line's feature indices [N, width] put in field order by the --fields index ranges; one line naming the
    first line whose features do not fall one per field."""
    starts = np.array([r[0] for r in ranges])
    fid = np.searchsorted(starts, idx, side="right") - 1
    his = np.array([r[1] for r in ranges])
    ok = (fid >= 0) & (idx <= his[np.maximum(fid, 0)])
    order = np.argsort(fid, axis=1, kind="stable")
    fid_sorted = np.take_along_axis(fid, order, axis=1)
    good = ok.all(axis=1) & (fid_sorted == np.arange(width)).all(axis=1)
    if not good.all():
        i = int(np.flatnonzero(~good)[0])
        raise GemError(f"{where}: line {linenos[i]}: features do not fall one per field in the --fields ranges")
    return np.take_along_axis(idx, order, axis=1)


def _field_vocabularies(all_idx: np.ndarray, width: int) -> list[np.ndarray]:
    """One shared index space: each field's vocabulary is the raw indices seen at its position; an index seen at
    two positions means the lines are not in a fixed field order (one line)."""
    vocab_int = [np.unique(all_idx[:, j]) for j in range(width)]
    seen: dict[int, int] = {}
    for j, v in enumerate(vocab_int):
        clash = np.intersect1d(v, np.fromiter(seen.keys(), dtype=np.int64, count=len(seen)))
        if len(clash):
            raise GemError(
                f"feature index {int(clash[0])} occurs at positions {seen[int(clash[0])] + 1} and {j + 1}; "
                "the lines are not in a fixed field order: give --fields NAME=FIRST-LAST,..."
            )
        seen.update(dict.fromkeys(v.tolist(), j))
    return vocab_int


def import_libfm(
    run_dir: Path,
    *,
    train: Path,
    valid: Path,
    test: Path,
    fields: str | None,
    user_field: str | None,
    item_field: str | None,
    graph_fields: str | None,
    options: dict[str, Any],
    force: bool = False,
    labels: str = "as-given",
) -> dict[str, Any]:
    """The three files imported as they are (their split, one shared index space); `labels` "01" maps -1/1 labels
    to 0/1 (the binary task's), recorded in meta.json; "as-given" keeps them."""
    parsed = {s: parse_file(p) for s, p in zip(SPLITS, (train, valid, test), strict=True)}
    widths = {s: v[1].shape[1] for s, v in parsed.items()}
    if len(set(widths.values())) != 1:
        raise GemError(f"the files have different numbers of features per line: {widths}")
    width = widths["train"]
    names, ranges = parse_fields(fields, width)
    if ranges is not None:  # put each line's features in field order, by index range
        for s, (y, idx, linenos) in parsed.items():
            where = (train, valid, test)[SPLITS.index(s)]
            parsed[s] = (y, _in_field_order(idx, ranges, width, linenos, where), linenos)
    vocab_int = _field_vocabularies(np.concatenate([v[1] for v in parsed.values()]), width)
    splits = {
        s: (np.stack([np.searchsorted(vocab_int[j], idx[:, j]) for j in range(width)], axis=1), y)
        for s, (y, idx, _) in parsed.items()
    }
    user = user_field or names[0]
    item = item_field or names[min(1, width - 1)]
    for role, f in (("--user-field", user), ("--item-field", item)):
        if f not in names:
            raise GemError(f"{role} {f!r} is not a field; fields: {', '.join(names)}")
    gfields = [g.strip() for g in graph_fields.split(",")] if graph_fields else [user, item]
    for g in gfields:
        if g not in names:
            raise GemError(f"--graph-fields: {g!r} is not a field; fields: {', '.join(names)}")
    from gemcli.tasks import labels_task

    check_labels(parsed, (train, valid, test))
    mapped = labels == "01" and any((v[0] == -1).any() for v in parsed.values())
    if mapped:  # -1/1 -> 0/1: the negatives' label, as `--labels 01` does for Frappe and MovieLens
        parsed = {s: (np.where(y == -1, 0.0, y), idx, n) for s, (y, idx, n) in parsed.items()}
        splits = {s: (x, np.where(y == -1, 0.0, y)) for s, (x, y) in splits.items()}
    values = np.unique(np.concatenate([v[0] for v in parsed.values()]))
    meta_extra = {
        "dataset": "libfm",
        "roles": {"user": user, "item": item},
        "graph_fields": gfields,
        "protocol": {"text": "imported libfm files, split and labels kept as given"},
        "label_values": values.tolist() if len(values) <= 10 else None,
        "labels": {"asked": labels, "mapped": "-1 -> 0" if mapped else None},
        "split": {
            "ratio": None,
            "seed": None,
            "files": {s: str(Path(p).resolve()) for s, p in zip(SPLITS, (train, valid, test), strict=True)},
        },
        "source": {"files": {s: sha256_file(p) for s, p in zip(SPLITS, (train, valid, test), strict=True)}},
        "task": labels_task(values),
    }
    return write_data(
        run_dir,
        fields=names,
        vocab={n: [str(v) for v in vocab_int[j].tolist()] for j, n in enumerate(names)},
        splits=splits,
        meta_extra=meta_extra,
        options=options,
        inputs={"train": Path(train), "valid": Path(valid), "test": Path(test)},
        seed=None,
        force=force,
    )
