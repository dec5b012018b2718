"""A researcher's own table (CSV, TSV, Parquet, gzip too) -> encoded splits, in bounded memory.

    gem preprocess table FILE --label click --fields a,b,c --numeric x,y [--spec data.toml]

The choices (`TableSpec`) come from the command line, else a spec file (`--spec`, TOML, the same names),
else the defaults (`resolve_spec`, the one place that decides them). The file is read lazily by polars and
streamed through four passes, never whole in Python lists:

1. checks: the label (present, numeric, 0/1 under the binary task), numeric fields (numbers), no column
   all missing; one line naming the file, line and column otherwise;
2. rows: numeric fields bucketed (`log`: floor(ln(x)^2) for x > 2, as the Criteo winners did; `quantile:N`:
   N buckets cut at the training split's quantiles), each row given its split (given files, a seeded
   ratio, or by time: `--split-by COL`, the latest rows to test), written to a temporary Parquet file;
3. vocabularies from the training split only: per field, id 0 = out of vocabulary (values rarer than
   `--min-count`, and values never seen in training), id 1 = missing, then the values (natural order);
4. each split encoded (global ids int32, the label float32) and sunk to RUN_DIR/data/SPLIT.parquet.

Implicit feedback (rows are positives, no label column) takes the negative sampling of the Frappe /
MovieLens protocol instead (`--negatives K --user-field U --item-field I`), in memory, through
gemcli.data.encode like Frappe.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from rich.text import Text

from gemcli.errors import GemError

OOV, MISSING = "<oov>", "<missing>"
SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}


@dataclass
class TableSpec:
    """Every choice of `gem preprocess table`; saved in meta.json (`spec`)."""

    source: str | None = None  # one file, split by --split or --split-by
    train: str | None = None  # or three given files
    valid: str | None = None
    test: str | None = None
    label: str | None = None  # 0/1 (binary) or a number (regression); none with --negatives
    fields: list[str] = field(default_factory=list)  # categorical
    numeric: list[str] = field(default_factory=list)  # bucketed, then categorical
    buckets: str = "quantile:10"  # quantile:N | log
    min_count: int = 1  # values seen fewer times in training go to the field's out-of-vocabulary id
    split: str = "8:1:1"  # train:valid:test, seeded (or by time with split_by)
    split_by: str | None = None  # a column: rows sorted by it, the latest to test
    seed: int = 2019
    negatives: int = 0  # implicit feedback: K negatives per positive row
    user_field: str | None = None
    item_field: str | None = None
    graph_fields: list[str] = field(default_factory=list)
    separator: str | None = None  # default: tab for .tsv/.txt, comma otherwise
    header: bool = True
    columns: list[str] = field(default_factory=list)  # names of a header-less file's columns
    task: str = "auto"  # auto | binary | regression
    dataset: str = "table"  # the name shown and saved


SPEC_KEYS = tuple(f.name for f in fields(TableSpec))


def read_spec_file(path: Path) -> dict[str, Any]:
    """The choices written in a TOML spec file; unknown keys and wrong types stop with one line."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise GemError(f"--spec {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise GemError(f"{path}: not a TOML spec file ({str(e).splitlines()[0]})") from None
    defaults = TableSpec()
    for k, v in data.items():
        if k not in SPEC_KEYS:
            raise GemError(f"{path}: unknown key {k!r}; known: {', '.join(SPEC_KEYS)}")
        d = getattr(defaults, k)
        ok = (
            isinstance(v, list) and all(isinstance(x, str) for x in v)
            if isinstance(d, list)
            else isinstance(v, bool)
            if isinstance(d, bool)
            else isinstance(v, int) and not isinstance(v, bool)
            if isinstance(d, int)
            else isinstance(v, str)
        )
        if not ok:
            want = "a list of names" if isinstance(d, list) else type(d).__name__ if d is not None else "str"
            raise GemError(f"{path}: {k} = {v!r} is not {want}")
    base = Path(path).parent
    for k in ("source", "train", "valid", "test"):  # file names relative to the spec file
        if isinstance(data.get(k), str) and not Path(data[k]).is_absolute():
            data[k] = str(base / data[k])
    return data


def resolve_spec(spec_file: Path | None, given: dict[str, Any], preset: dict[str, Any] | None = None) -> TableSpec:
    """The one place the table's choices are decided: given (command line) > spec file > preset > default."""
    values: dict[str, Any] = dict(preset or {})
    if spec_file is not None:
        values.update(read_spec_file(spec_file))
    values.update({k: v for k, v in given.items() if v is not None})
    spec = TableSpec(**values)
    _check_spec(spec)
    return spec


def names(text: str | None) -> list[str] | None:
    """'a, b,c' -> ['a', 'b', 'c'] (None stays None: not given)."""
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _check_spec(spec: TableSpec) -> None:
    given_files = [spec.train, spec.valid, spec.test]
    if spec.source and any(given_files):
        raise GemError("give one FILE (split by --split/--split-by) or --train/--valid/--test, not both")
    if not spec.source and not all(given_files):
        raise GemError("no data: give FILE, or all three of --train/--valid/--test")
    if not spec.fields and not spec.numeric:
        raise GemError("--fields/--numeric: no field chosen; name the columns that are features")
    chosen = spec.fields + spec.numeric
    seen: set[str] = set()
    for c in chosen:
        if c in seen:
            raise GemError(f"--fields/--numeric: column {c!r} is named twice")
        seen.add(c)
    if spec.label in seen:
        raise GemError(f"--label {spec.label!r} is also a feature field")
    if spec.negatives < 0 or spec.min_count < 1:
        raise GemError("--negatives must be >= 0 and --min-count >= 1")
    if spec.negatives > 0:
        if spec.label:
            raise GemError("--negatives is for implicit feedback (every row a positive): drop --label")
        if not (spec.user_field and spec.item_field):
            raise GemError(
                "--negatives needs --user-field and --item-field (the negative keeps the user, draws an item)"
            )
        if spec.split_by or not spec.source:
            raise GemError(
                "--negatives takes one FILE split by a seeded ratio (--split), not --split-by or given files"
            )
    elif not spec.label:
        raise GemError("--label: name the label column (or --negatives K for rows that are all positives)")
    for role, f in (("--user-field", spec.user_field), ("--item-field", spec.item_field)):
        if f is not None and f not in spec.fields:
            raise GemError(f"{role} {f!r} must be one of --fields ({', '.join(spec.fields)})")
    for g in spec.graph_fields:
        if g not in chosen:
            raise GemError(f"--graph-fields: {g!r} is not a feature field ({', '.join(chosen)})")
    from gemcli.tasks import task_names

    if spec.task not in ("auto", *task_names()):
        raise GemError(f"--task {spec.task!r}: expected auto, {' or '.join(task_names())}")
    parse_buckets(spec.buckets)
    from gemcli.data.split import parse_ratio

    parse_ratio(spec.split)


def parse_buckets(text: str) -> tuple[str, int]:
    if text == "log":
        return "log", 0
    kind, _, n = text.partition(":")
    if kind == "quantile" and n.isdigit() and 2 <= int(n) <= 10_000:
        return "quantile", int(n)
    raise GemError(f"--buckets {text!r}: expected log or quantile:N (2 <= N <= 10000)")


# ---------------------------------------------------------------- reading


def _separator(path: Path, spec: TableSpec) -> str:
    if spec.separator:
        return {"tab": "\t", "\\t": "\t"}.get(spec.separator, spec.separator)
    name = path.name.lower().removesuffix(".gz")
    return "\t" if name.endswith((".tsv", ".txt")) else ","


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith((".parquet", ".pq"))


def _header(path: Path, sep: str) -> list[str]:
    """The header line's names, read directly (polars would rename duplicates silently)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            line = fh.readline().rstrip("\r\n")
    except (OSError, EOFError) as e:
        raise GemError(f"{path}: cannot be read ({e})") from None
    return [c.strip().strip('"') for c in line.split(sep)]


def scan(path: Path, spec: TableSpec, scratch: Path | None = None) -> tuple[pl.LazyFrame, int]:
    """A lazy frame of every column as text (numbers cast later), and the line number of the first data row
    (2 with a header; for Parquet files row numbers count from 1). A gzip file is decompressed as a stream into
    `scratch` when given (bounded memory; polars would hold the whole decompressed text), else read by polars."""
    from gemcli.rundir import input_file

    path = input_file(path, "table file")
    if scratch is not None and path.name.lower().endswith(".gz"):
        return _scan_text(path, spec, _gunzip(path, scratch))
    if path.stat().st_size == 0:
        raise GemError(f"{path}: empty file")
    if _is_parquet(path):
        try:
            lf = pl.scan_parquet(path, glob=False)
            schema = lf.collect_schema()
        except Exception as e:
            raise GemError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:160]})") from None
        nested = [c for c, t in schema.items() if t.is_nested() or t == pl.Object]
        if nested:
            raise GemError(
                f"{path}: column {nested[0]!r} holds {schema[nested[0]]} values; a table's columns hold one value "
                "per row (flatten or drop it)"
            )
        return lf.select(pl.col(c).cast(pl.String) for c in schema.names()), 1
    return _scan_text(path, spec, path)


def _gunzip(path: Path, scratch: Path) -> Path:
    """`path` decompressed into `scratch` (same name without .gz), a megabyte at a time."""
    out = Path(scratch) / f"_gunzip_{path.name[: -len('.gz')]}"
    try:
        with gzip.open(path, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, EOFError) as e:
        out.unlink(missing_ok=True)
        raise GemError(f"{path}: not a readable gzip file ({e})") from None
    return out


def _scan_text(path: Path, spec: TableSpec, read: Path) -> tuple[pl.LazyFrame, int]:
    """scan() of a text table: `path` as the user named it (in messages), `read` the file read (the same, or its
    decompressed copy)."""
    sep = _separator(path, spec)
    if spec.header:
        cols = _header(read, sep)
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            raise GemError(f"{path}: line 1: column {dup[0]!r} appears twice in the header")
        new_columns = None
    else:
        if not spec.columns:
            raise GemError(f"{path}: a file without a header needs --columns (its column names, in order)")
        new_columns = spec.columns
    try:
        lf = pl.scan_csv(
            read,
            separator=sep,
            has_header=spec.header,
            new_columns=new_columns,
            infer_schema=False,
            quote_char='"',
            missing_columns="insert",
            glob=False,
        )
        cols = lf.collect_schema().names()
    except Exception as e:
        raise GemError(f"{path}: cannot be read as a table ({str(e).splitlines()[0][:160]})") from None
    _check_widths(read, sep, len(cols), spec.header, path)
    return lf, 2 if spec.header else 1


def _check_widths(path: Path, sep: str, width: int, header: bool, shown: Path | None = None) -> None:
    """Every line of a text table has the columns of the first (one line naming the first that does not): a line
    cut short, or one with a field too many, would otherwise be filled with missing values or misread in silence.
    Lines with quotes (a quoted separator) and compressed files are left to the parser."""
    if path.name.lower().endswith(".gz"):
        return
    line = pl.col("line")
    try:
        bad = (
            pl.scan_csv(
                path,
                separator="\x1f",
                has_header=False,
                new_columns=["line"],
                quote_char=None,
                infer_schema=False,
                skip_rows=1 if header else 0,
                glob=False,
            )
            .with_row_index("i")
            .filter(
                line.is_not_null()
                & ~line.str.contains('"', literal=True)
                & (line.str.count_matches(sep, literal=True) != width - 1)
            )
            .head(1)
            .collect(engine="streaming")
        )
    except Exception:  # noqa: BLE001 - what polars cannot read this way, the parser reads and checks
        return
    if not bad.is_empty():
        n = int(bad["i"][0]) + (2 if header else 1)
        got = str(bad["line"][0]).count(sep) + 1
        raise GemError(f"{shown or path}: line {n}: {got} columns, where the table has {width}")


def check_input(lf: pl.LazyFrame, path: Path, first_line: int, spec: TableSpec, extra: Sequence[Check] = ()) -> int:
    """Check one input file against the spec in one streamed pass; returns its number of rows. One line per fault,
    naming the file, line (row for Parquet) and column; the first fault in the file's order is reported."""
    where = "line" if first_line == 2 or not _is_parquet(Path(path)) else "row"
    wanted = _wanted(spec)  # present: _open_inputs checked them
    # each check: (name, column, condition that marks a faulty row, message)
    checks: list[tuple[str, str, pl.Expr, str]] = list(extra)  # a preset's own rules (its fields' formats) first
    if spec.label:
        lab = pl.col(spec.label)
        num = lab.str.strip_chars().cast(pl.Float64, strict=False)
        checks.append(("label_missing", spec.label, lab.is_null(), "the label is missing"))
        checks.append(
            ("label_text", spec.label, num.is_null() | num.is_nan() | num.is_infinite(), "label {v!r} is not a number")
        )
        if spec.task == "binary":
            checks.append(
                (
                    "label_binary",
                    spec.label,
                    ~num.is_in([0.0, 1.0]),
                    "label {v!r} under --task binary, which needs 0 or 1",
                )
            )
    for c in spec.numeric:
        v = pl.col(c).str.strip_chars()
        checks.append(
            (
                f"numeric_{c}",
                c,
                v.is_not_null()
                & (v != "")
                & (
                    v.cast(pl.Float64, strict=False).is_null()
                    | v.cast(pl.Float64, strict=False).is_nan()
                    | v.cast(pl.Float64, strict=False).is_infinite()
                ),
                "{v!r} is not a number (a --numeric field; list it under --fields to treat it as categories)",
            )
        )
    row = pl.col("_row")
    stats = (
        lf.with_row_index("_row")
        .select(
            pl.len().alias("_n"),
            *[pl.col(c).is_null().sum().alias(f"null_{c}") for c in wanted],
            *[row.filter(cond).min().alias(name) for name, _, cond, _ in checks],
        )
        .collect(engine="streaming")
    )
    n = int(stats["_n"][0])
    if n == 0:
        raise GemError(f"{path}: no data rows")
    for c in wanted:
        if int(stats[f"null_{c}"][0]) == n:
            raise GemError(f"{path}: column {c!r} is empty in every row")
    faults = [(int(stats[name][0]), col, msg) for name, col, _, msg in checks if stats[name][0] is not None]
    if faults:
        r, col, msg = min(faults, key=lambda f: f[0])
        value = lf.select(pl.col(col)).slice(r, 1).collect()[col][0]
        raise GemError(f"{path}: {where} {r + first_line}, column {col!r}: {msg.format(v=value)}")
    return n


# ---------------------------------------------------------------- rows, vocabularies, encoding


def _numeric(c: str) -> pl.Expr:
    return pl.col(c).str.strip_chars().cast(pl.Float64, strict=False)


LOG_BUCKET = 1000  # log buckets as codes LOG_BUCKET + floor(ln(x)^2); values x <= 2 keep floor(x) (always < 1000)
BATCH_CELLS = 40_000_000  # rows per batch x columns: about 1M rows of a 40-column table (~1 GiB of text)
STREAMING: Literal["streaming"] = "streaming"  # polars' engine for the counting pass: bounded memory


@dataclass
class Part:
    """One input's rows as they are processed: its (lazy, Parquet-backed) frame, row count, and each row's split
    (an array of split codes, or one code for a given file)."""

    frame: pl.LazyFrame
    rows: int
    split: np.ndarray | int

    def splits(self, start: int, stop: int) -> np.ndarray:
        if isinstance(self.split, int):
            return np.full(stop - start, self.split, dtype=np.uint8)
        return self.split[start:stop]


def rows_frame(parts: list[Part], exprs: list[pl.Expr]) -> pl.LazyFrame:
    """The rows of every part in file order as one lazy frame, with `_split` (each row's split code) and `exprs`
    applied (label as a number, numeric fields as bucket codes). Queries on it run on polars' streaming engine
    (STREAMING): what bounds the memory of a large table."""
    frames = [
        p.frame.with_columns(pl.lit(pl.Series("_split", p.splits(0, p.rows), dtype=pl.UInt8))).with_columns(exprs)
        for p in parts
    ]
    return pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]


def batches(parts: list[Part], spec: TableSpec, exprs: list[pl.Expr], what: str = "") -> Iterator[pl.DataFrame]:
    """The rows of every part in file order, in batches of bounded size, each with `_split` and `exprs` applied
    (label as a number, numeric fields as bucket codes): what bounds the memory of a large table. With `what`, a
    progress bar of that name on stderr (rows done of all)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from gemcli.console import err

    width = max(1, len(_wanted(spec)))
    size = max(10_000, BATCH_CELLS // width)
    total = sum(p.rows for p in parts)
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True, disable=not what or total < 4 * size) as progress:
        task = progress.add_task(what, total=total)
        for part in parts:
            for start in range(0, part.rows, size):
                df = part.frame.slice(start, size).collect()
                split = part.splits(start, start + df.height)
                yield df.with_columns(pl.Series("_split", split, dtype=pl.UInt8)).with_columns(exprs)
                progress.advance(task, df.height)


def bucket_exprs(spec: TableSpec, parts: list[Part]) -> tuple[list[pl.Expr], dict[str, Any]]:
    """The numeric fields as integer bucket codes (cheap to count and map; `bucket_label` names them), and what was
    decided (quantile edges, from the training rows, one column at a time)."""
    kind, n = parse_buckets(spec.buckets)
    exprs: list[pl.Expr] = []
    decided: dict[str, Any] = {"buckets": spec.buckets}
    if kind == "log":
        for c in spec.numeric:
            v = _numeric(c)
            exprs.append(
                pl.when(v > 2).then((v.log() ** 2).floor() + LOG_BUCKET).otherwise(v.floor()).cast(pl.Int64).alias(c)
            )
        return exprs, decided
    qs = [i / n for i in range(1, n)]
    edges: dict[str, list[float]] = {}
    for c in spec.numeric:
        values = []
        for part in parts:
            col = part.frame.select(_numeric(c)).collect().to_series().to_numpy()
            train = part.splits(0, part.rows) == SPLIT_CODES["train"]
            values.append(col[train])
        train_values = np.concatenate(values) if values else np.empty(0)
        train_values = train_values[~np.isnan(train_values)]
        cut: Any = np.quantile(train_values, qs, method="lower") if len(train_values) else []
        edges[c] = sorted({float(v) for v in cut})
        v = _numeric(c)
        bucket = pl.lit(pl.Series(edges[c], dtype=pl.Float64)).search_sorted(v, side="left")  # edges below v
        exprs.append(pl.when(v.is_null()).then(None).otherwise(bucket.cast(pl.Int64)).alias(c))
    decided["quantile_edges"] = edges
    return exprs, decided


def bucket_label(spec: TableSpec, code: int) -> str:
    """A numeric field's bucket code as the vocabulary shows it: log2:K (floor(ln(x)^2) = K), v:X (x <= 2, floor X),
    qK (the K-th quantile bucket)."""
    if spec.buckets == "log":
        return f"log2:{code - LOG_BUCKET}" if code >= LOG_BUCKET else f"v:{code}"
    return f"q{code}"


def _natural(values: list[Any]) -> list[Any]:
    """Numbers (or text that reads as numbers) in numeric order, other text in text order."""
    try:
        return sorted(values, key=float)
    except (ValueError, TypeError):
        return sorted(values, key=str)


def vocabularies(
    parts: list[Part], spec: TableSpec, exprs: list[pl.Expr]
) -> tuple[dict[str, list[Any]], dict[str, list[str]], dict[str, int], dict[str, int]]:
    """One streaming pass: per field, the values seen at least min_count times in training (natural
    order) as the rows hold them (text, or a numeric field's bucket codes); their labels with <oov> and <missing>
    first (ids 0 and 1); how many distinct training values each field had before the cut; rows per split."""
    from gemcli.console import err

    feat = spec.fields + spec.numeric
    per_split = {
        name: sum(int((p.splits(0, p.rows) == code).sum()) for p in parts) for name, code in SPLIT_CODES.items()
    }
    train = rows_frame(parts, exprs).filter(pl.col("_split") == SPLIT_CODES["train"])
    with err.status(f"counting the values of {len(feat)} fields ({sum(p.rows for p in parts):,} rows)"):
        # one field at a time: polars' streaming engine keeps such a query's memory bounded (collect_all of the
        # 39 Criteo fields together held ~4.7 GiB for 10M rows, one at a time ~240 MiB, in the same time)
        counts = {c: train.group_by(c).len().filter(pl.col(c).is_not_null()).collect(engine=STREAMING) for c in feat}
    keys: dict[str, list[Any]] = {}
    labels: dict[str, list[str]] = {}
    distinct: dict[str, int] = {}
    for c, table in counts.items():
        distinct[c] = table.height
        keys[c] = _natural(table.filter(pl.col("len") >= spec.min_count)[c].to_list())
        shown = [bucket_label(spec, k) for k in keys[c]] if c in spec.numeric else [str(k) for k in keys[c]]
        labels[c] = [OOV, MISSING, *shown]
    return keys, labels, distinct, per_split


def encode_exprs(keys: dict[str, list[Any]], offsets: dict[str, int]) -> list[pl.Expr]:
    """Value -> global id (offset + 2 + its index): unseen/rare -> the field's <oov> (offset), missing -> its
    <missing> (offset + 1)."""
    out = []
    for c, values in keys.items():
        o = offsets[c]
        ids = np.arange(o + 2, o + 2 + len(values), dtype=np.int32)
        out.append(
            pl.when(pl.col(c).is_null())
            .then(pl.lit(o + 1, pl.Int32))
            .otherwise(pl.col(c).replace_strict(values, ids, default=o, return_dtype=pl.Int32))
            .alias(c)
        )
    return out


def split_array(lf: pl.LazyFrame, n: int, spec: TableSpec) -> np.ndarray:
    """Each row's split (0 train, 1 valid, 2 test) for one file: a seeded permutation cut by the ratio, or by time
    (`split_by`: rows ordered by it, numerically when it reads as numbers, ties in file order; the latest ratio[2]
    to test, the ratio[1] before them to valid)."""
    from gemcli.data.split import parse_ratio, split_indices, split_sizes

    ratio = parse_ratio(spec.split)
    assign = np.empty(n, dtype=np.uint8)
    if spec.split_by:
        n_train, n_valid, _ = split_sizes(n, ratio)  # the sizes a seeded split of the same ratio has
        key = lf.select(pl.col(spec.split_by)).collect().to_series()
        num = key.str.strip_chars().cast(pl.Float64, strict=False)
        if num.null_count() == key.null_count():  # every value a number: numeric order
            order = np.argsort(num.fill_null(-np.inf).to_numpy(), kind="stable")
        else:
            order = np.argsort(key.fill_null("").to_numpy().astype(str), kind="stable")
        assign[order[:n_train]] = SPLIT_CODES["train"]
        assign[order[n_train : n_train + n_valid]] = SPLIT_CODES["valid"]
        assign[order[n_train + n_valid :]] = SPLIT_CODES["test"]
        return assign
    try:
        idx = split_indices(n, ratio, spec.seed + 1)
    except GemError as e:
        raise GemError(f"{spec.source}: {e}") from None
    for name, rows in idx.items():
        assign[rows] = SPLIT_CODES[name]
    return assign


def locate_release(source: Path | None, cached: tuple[str, ...], release: str, name: str) -> Path:
    """A preset's file: --source, else the first of `cached` (paths under datasets/) that exists."""
    from gemcli.data.download import datasets_root

    if source is not None:
        return Path(source)
    for rel in cached:
        if (datasets_root() / rel).is_file():
            return datasets_root() / rel
    raise GemError(
        f"no {name} data: put the release's file at {datasets_root() / cached[0]} or pass --source ({release})"
    )


def release_info(path: Path, official_rows: int) -> dict[str, Any]:
    """What meta.json records of a preset's file: path, size, sha256, and the release's row count (a file with
    another count is flagged as not comparable with published figures)."""
    from gemcli.rundir import sha256_file

    return {
        "path": str(Path(path).resolve()),
        "bytes": Path(path).stat().st_size,
        "sha256": sha256_file(path),
        "official_rows": official_rows,
    }


def _wanted(spec: TableSpec) -> list[str]:
    """The columns a table's processing reads: label, fields, numeric fields, the time column."""
    cols = [*([spec.label] if spec.label else []), *spec.fields, *spec.numeric]
    return list(dict.fromkeys(cols + ([spec.split_by] if spec.split_by else [])))


Check = tuple[str, str, pl.Expr, str]  # (name, column shown, condition marking a faulty row, message with {v})


def _open_inputs(
    inputs: dict[str, Any],
    spec: TableSpec,
    derive: list[pl.Expr] | None,
    tmp: Path | None,
    source_info: dict[str, Any] | None,
    checks: list[Check] | None = None,
) -> tuple[dict[str, pl.LazyFrame], dict[str, int]]:
    """Each input as a lazy frame of the columns it needs, checked (check_input), with its row count. With `tmp`,
    a text file is parsed once: its needed columns go to tmp/_raw_NAME.parquet, which every later pass reads."""
    from contextlib import nullcontext

    from gemcli.console import err

    frames: dict[str, pl.LazyFrame] = {}
    counts: dict[str, int] = {}
    for name, file in inputs.items():
        path = Path(str(file))
        lf, first = scan(path, spec, scratch=tmp)
        if derive:
            lf = lf.with_columns(derive)
        cols = lf.collect_schema().names()
        missing = [c for c in _wanted(spec) if c not in cols]
        if missing:
            raise GemError(f"{path}: no column {missing[0]!r}; its columns: {', '.join(cols)}")
        lf = lf.select(_wanted(spec))
        big = path.stat().st_size > 64 << 20
        if tmp is not None and not _is_parquet(path):
            raw = tmp / f"_raw_{name}.parquet"
            try:
                with (
                    err.status(Text(f"parsing {path} ({path.stat().st_size / 2**30:.2f} GiB)"))
                    if big
                    else nullcontext()
                ):
                    lf.sink_parquet(raw)
            except pl.exceptions.PolarsError as e:
                raise GemError(f"{path}: cannot be read as a table ({str(e).splitlines()[0][:160]})") from None
            lf = pl.scan_parquet(raw, glob=False)
            for done in tmp.glob("_gunzip_*"):  # its text is in the raw Parquet now
                done.unlink()
        with err.status(Text(f"checking {path}")) if big else nullcontext():
            counts[name] = check_input(lf, path, first, spec, checks or [])
        frames[name] = lf
    official = (source_info or {}).get("official_rows")
    if official and sum(counts.values()) != official:
        assert source_info is not None
        source_info["warning"] = (
            f"{spec.source or spec.train}: {sum(counts.values()):,} rows, not the release's {official:,}; "
            f"results are not comparable with published {spec.dataset} figures"
        )
    return frames, counts


def _write_splits(
    parts: list[Part], spec: TableSpec, exprs: list[pl.Expr], encode: list[pl.Expr], folder: Path
) -> tuple[float, float, str]:
    """The batches (`exprs` applied: label, buckets), then encoded (`encode`: value -> global id), each row
    appended to FOLDER/{train,valid,test}.parquet (global ids int32, label float32) in file order; returns the
    label's range and the task its values imply (gemcli.tasks.labels_task)."""
    import pyarrow.parquet as pq

    from gemcli.tasks import labels_task

    label, feat = str(spec.label), spec.fields + spec.numeric
    writers: dict[str, Any] = {}
    lo, hi, values = np.inf, -np.inf, set[float]()
    try:
        for df in batches(parts, spec, exprs, "encoding (rows)"):
            df = df.with_columns(encode)
            y = df[label]
            lo, hi = min(lo, float(y.min())), max(hi, float(y.max()))  # type: ignore[arg-type]
            if len(values) <= 2:  # enough to tell 0/1 labels from others
                values |= set(y.unique().to_list())
            for name, code in SPLIT_CODES.items():
                rows = df.filter(pl.col("_split") == code).select(*feat, pl.col(label).alias("label")).to_arrow()
                if name not in writers:
                    writers[name] = pq.ParquetWriter(folder / f"{name}.parquet", rows.schema)
                writers[name].write_table(rows)
    finally:
        for w in writers.values():
            w.close()
    return float(lo), float(hi), labels_task(np.array(sorted(values)))


def preprocess_table(
    spec: TableSpec,
    run_dir: Path,
    *,
    options: dict[str, Any],
    force: bool = False,
    derive: list[pl.Expr] | None = None,
    source_info: dict[str, Any] | None = None,
    checks: list[Check] | None = None,
) -> dict[str, Any]:
    """Read, check, split, bucket, count and encode a table into RUN_DIR/data; returns meta.json's content.

    derive: expressions adding or replacing columns before anything else (a preset's field treatment,
    e.g. Avazu's hour -> hour of day and weekday); checks: a preset's rules for its fields' formats, checked with
    the others (one line naming file, line and column).
    """
    from gemcli.data import encode
    from gemcli.rundir import atomic_write_json, staged_dir, write_manifest
    from gemcli.tasks import resolve_task

    inputs = {"source": spec.source} if spec.source else {"train": spec.train, "valid": spec.valid, "test": spec.test}
    if spec.negatives > 0:
        frames, counts_in = _open_inputs(inputs, spec, derive, None, source_info, checks)
        return _implicit(spec, frames["source"], run_dir, options=options, force=force, source_info=source_info)
    label = str(spec.label)
    final = Path(run_dir) / "data"
    with staged_dir(final) as tmp:
        frames, counts_in = _open_inputs(inputs, spec, derive, tmp, source_info, checks)
        if spec.source:
            src = frames["source"]
            parts = [Part(src, counts_in["source"], split_array(src, counts_in["source"], spec))]
        else:
            parts = [Part(lf, counts_in[s], SPLIT_CODES[s]) for s, lf in frames.items()]
        bexprs, decided = bucket_exprs(spec, parts) if spec.numeric else ([], {})
        exprs = [pl.col(label).str.strip_chars().cast(pl.Float32).alias(label), *bexprs]
        keys, vocab, distinct, counts = vocabularies(parts, spec, exprs)
        empty = [s for s, k in counts.items() if k == 0]
        if empty:
            why = f"--split {spec.split}" + (f" by {spec.split_by}" if spec.split_by else "")
            files = spec.source or ", ".join(str(inputs[s]) for s in empty)
            raise GemError(f"{files}: the {empty[0]} split is empty ({sum(counts.values()):,} rows, {why})")
        feat = spec.fields + spec.numeric
        cards = [len(vocab[c]) for c in feat]
        offsets = dict(zip(feat, np.concatenate([[0], np.cumsum(cards)[:-1]]).astype(int).tolist(), strict=True))
        lo, hi, implied = _write_splits(parts, spec, exprs, encode_exprs(keys, offsets), tmp)
        task = resolve_task(spec.task, implied)
        for raw in [*tmp.glob("_raw_*.parquet"), *tmp.glob("_gunzip_*")]:
            raw.unlink()
        _write_vocab(tmp, feat, vocab, offsets)
        meta = _table_meta(
            tmp, spec, inputs, feat, cards, offsets, counts, (lo, hi), task, distinct, decided, source_info
        )
        dataset_id = str(meta["dataset_id"])
        encode.check_replace(run_dir, dataset_id, force)
        atomic_write_json(tmp / "meta.json", meta)
        write_manifest(
            tmp,
            stage="preprocess",
            options=options,
            inputs={k: str(v) for k, v in inputs.items()},
            seed=spec.seed,
            extra={"warning": (source_info or {}).get("warning")},
        )
    encode.report_replaced(run_dir, dataset_id)
    return meta


def _write_vocab(tmp: Path, feat: list[str], vocab: dict[str, list[Any]], offsets: dict[str, int]) -> None:
    """vocab.parquet: every field's values and their ids (field, value, id)."""
    pl.DataFrame(
        {
            "field": [c for c in feat for _ in vocab[c]],
            "value": [v for c in feat for v in vocab[c]],
            "id": [offsets[c] + i for c in feat for i in range(len(vocab[c]))],
        }
    ).write_parquet(tmp / "vocab.parquet")


def _table_meta(
    tmp: Path,
    spec: TableSpec,
    inputs: dict[str, Any],
    feat: list[str],
    cards: list[int],
    offsets: dict[str, int],
    counts: dict[str, int],
    label_range: tuple[float, float],
    task: str,
    distinct: Any,
    decided: dict[str, Any],
    source_info: dict[str, Any] | None,
) -> dict[str, Any]:
    """meta.json's content for the encoded splits in `tmp` (their hashes make the dataset id)."""
    from gemcli.data import encode
    from gemcli.rundir import sha256_file

    h = hashlib.sha256()
    for s in SPLIT_CODES:
        h.update(sha256_file(tmp / f"{s}.parquet").encode())
    roles = {"user": spec.user_field or "", "item": spec.item_field or ""}
    return {
        "format": encode.FORMAT,
        "dataset": spec.dataset,
        "dataset_id": h.hexdigest()[:16],
        "fields": feat,
        "cardinalities": dict(zip(feat, cards, strict=True)),
        "offsets": offsets,
        "n_features": int(sum(cards)),
        "counts": counts,
        "label_range": list(label_range),
        "task": task,
        "roles": roles if all(roles.values()) else {},
        "graph_fields": spec.graph_fields or feat,
        "spec": asdict(spec),
        "encoding": {
            "reserved_ids": {"0": OOV + " (rarer than min_count, or unseen in training)", "1": MISSING},
            "vocabulary_from": "training split",
            "distinct_training_values": distinct,
            **decided,
        },
        "split": {
            "ratio": spec.split if spec.source else None,
            "by": spec.split_by,
            "seed": spec.seed + 1,
            "files": None if spec.source else {s: str(Path(str(inputs[s])).resolve()) for s in inputs},
        },
        "source": source_info or {k: str(Path(str(v)).resolve()) for k, v in inputs.items()},
        "vocab_file": "vocab.parquet",
        "seed": spec.seed,
    }


def _implicit(
    spec: TableSpec,
    lf: pl.LazyFrame,
    run_dir: Path,
    *,
    options: dict[str, Any],
    force: bool,
    source_info: dict[str, Any] | None,
) -> dict[str, Any]:
    """Rows that are all positives: the Frappe/MovieLens protocol (K negatives per positive with the same user and
    context and an item the user never had; labels 1/0), in memory through gemcli.data.encode."""
    from gemcli.data import encode
    from gemcli.data.split import parse_ratio
    from gemcli.data.table import RawTable

    n = lf.select(pl.len()).collect().item()
    bexprs, _ = bucket_exprs(spec, [Part(lf, n, SPLIT_CODES["train"])]) if spec.numeric else ([], {})
    frame = lf.select(*spec.fields, *spec.numeric).with_columns(bexprs).collect(engine="streaming")
    for c in spec.numeric:  # bucket codes -> their labels (the encoder takes text)
        codes = frame[c].unique().drop_nulls().to_list()
        frame = frame.with_columns(
            pl.col(c).replace_strict(codes, [bucket_label(spec, k) for k in codes], return_dtype=pl.String)
        )
    frame = frame.with_columns(pl.col(c).fill_null(MISSING) for c in frame.columns)
    if spec.min_count > 1:
        for c in frame.columns:
            if c in (spec.user_field, spec.item_field):
                continue  # negatives are drawn per user among items: both stay exact
            counts = frame.group_by(c).len()
            rare = counts.filter(pl.col("len") < spec.min_count)[c]
            frame = frame.with_columns(
                pl.when(pl.col(c).is_in(rare.implode())).then(pl.lit(OOV)).otherwise(pl.col(c)).alias(c)
            )
    assert spec.user_field and spec.item_field
    raw = RawTable(
        dataset=spec.dataset,
        frame=frame,
        user_field=spec.user_field,
        item_field=spec.item_field,
        graph_fields=spec.graph_fields or [spec.user_field, spec.item_field],
        neg_target=spec.item_field,
        neg_group=(spec.user_field,),
        source=source_info or {"path": str(Path(str(spec.source)).resolve())},
        notes={
            "protocol": "implicit feedback: each row a positive (1), per positive K negatives (0) with the same "
            "user and context and an item this user never had",
            "spec": asdict(spec),
        },
    )
    return encode.preprocess_raw(
        raw,
        run_dir,
        negatives=spec.negatives,
        ratio=parse_ratio(spec.split),
        seed=spec.seed,
        options=options,
        force=force,
        labels="01",
    )
