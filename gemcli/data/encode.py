"""Positives -> vocabularies, negatives, split -> encoded parquet splits + meta.json in RUN_DIR/data."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from gemcli.console import err
from gemcli.data.sampling import sample_negatives
from gemcli.data.split import split_indices
from gemcli.data.table import RawTable
from gemcli.errors import GemError
from gemcli.rundir import atomic_write_json, read_json, staged_dir, write_manifest

FORMAT = "gemcli-data/1"
SPLITS = ("train", "valid", "test")


def _natural_sorted(values: pl.Series) -> pl.Series:
    """Sort a field's distinct values numerically when they all are integers, else as text."""
    uniq = values.unique()
    as_int = uniq.cast(pl.Int64, strict=False)
    if as_int.null_count() == 0:
        return pl.DataFrame({"v": uniq, "k": as_int}).sort("k")["v"]
    return uniq.sort()


def encode_fields(frame: pl.DataFrame) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Local codes int64[n, F] (0..card-1 per field) and each field's values in code order."""
    codes = np.empty((frame.height, frame.width), dtype=np.int64)
    vocab: dict[str, list[str]] = {}
    for j, name in enumerate(frame.columns):
        values = _natural_sorted(frame[name])
        table = pl.DataFrame({name: values, "_code": np.arange(len(values), dtype=np.int64)})
        codes[:, j] = frame.select(name).join(table, on=name, how="left", maintain_order="left")["_code"].to_numpy()
        vocab[name] = values.to_list()
    return codes, vocab


LABELS = {"pm1": -1.0, "01": 0.0}  # --labels: the negatives' label (positives are 1 either way)


def build_instances(
    raw: RawTable, negatives: int, seed: int, labels: str = "pm1"
) -> tuple[np.ndarray, np.ndarray, dict[str, list[str]]]:
    """(local codes int64[n, F], labels float32[n], vocab): positives 1, then their negatives (-1 for the
    paper's regression, `labels='pm1'`; 0 for the binary task, `labels='01'`)."""
    pos, vocab = encode_fields(raw.frame)
    fields = raw.fields
    if negatives > 0:
        neg = sample_negatives(
            pos,
            group_cols=[fields.index(f) for f in raw.neg_group],
            target_col=fields.index(raw.neg_target),
            n_target=len(vocab[raw.neg_target]),
            k=negatives,
            seed=seed,
        )
    else:
        neg = np.empty((0, pos.shape[1]), dtype=np.int64)
    x = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos), np.float32), np.full(len(neg), LABELS[labels], np.float32)])
    return x, y, vocab


def write_data(
    run_dir: Path,
    *,
    fields: list[str],
    vocab: dict[str, list[str]],
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    meta_extra: dict[str, Any],
    options: dict[str, Any],
    inputs: dict[str, Path | str],
    seed: int | None,
    force: bool = False,
) -> dict[str, Any]:
    """Write RUN_DIR/data atomically: {train,valid,test}.parquet (global ids int32 + label) and meta.json.

    splits: name -> (local codes int64[n, F], labels float32[n]). Data already there is replaced only when
    it is identical (same dataset id) or `force` is given; then the graphs and runs made from the old data
    are named on stderr.
    """
    cards = [len(vocab[f]) for f in fields]
    offsets = np.concatenate([[0], np.cumsum(cards)[:-1]]).astype(np.int64)
    h = hashlib.sha256()
    frames = {}
    for name in SPLITS:
        x, y = splits[name]
        cols = {f: (x[:, j] + offsets[j]).astype(np.int32) for j, f in enumerate(fields)}
        cols["label"] = y.astype(np.float32)
        frames[name] = pl.DataFrame(cols)
        h.update(np.ascontiguousarray(x).tobytes())
        h.update(np.ascontiguousarray(y).tobytes())
    labels = np.concatenate([splits[s][1] for s in SPLITS])
    meta = {
        "format": FORMAT,
        "dataset_id": h.hexdigest()[:16],
        "fields": fields,
        "cardinalities": dict(zip(fields, cards, strict=True)),
        "offsets": dict(zip(fields, offsets.tolist(), strict=True)),
        "n_features": int(sum(cards)),
        "counts": {s: int(len(splits[s][1])) for s in SPLITS},
        "label_range": [float(labels.min()), float(labels.max())],
        **meta_extra,
        "seed": seed,
        # value -> global feature id, per field
        "vocab": {f: {v: int(offsets[j] + i) for i, v in enumerate(vocab[f])} for j, f in enumerate(fields)},
    }
    old = check_replace(run_dir, meta["dataset_id"], force)
    with staged_dir(Path(run_dir) / "data") as tmp:
        for name, frame in frames.items():
            frame.write_parquet(tmp / f"{name}.parquet")
        atomic_write_json(tmp / "meta.json", meta)
        write_manifest(
            tmp,
            stage="preprocess",
            options=options,
            inputs=inputs,
            seed=seed,
            extra={"warning": meta_extra.get("source", {}).get("warning")},
        )
    report_replaced(run_dir, meta["dataset_id"], old)
    return meta


def check_replace(run_dir: Path, new_id: str, force: bool) -> str | None:
    """The dataset id of the data already in RUN_DIR/data (None if none); other data than `new_id` there stops
    the command unless `force` (nothing is written before this check)."""
    old = existing_dataset_id(run_dir)
    if old is not None:
        _previous[str(Path(run_dir))] = old
    if old is not None and old != new_id and not force:
        made = made_from(run_dir, old)
        raise GemError(
            f"{run_dir}/data holds other data already (dataset id {old}; {made}); "
            "pass --force to replace it, or choose another --run-dir"
        )
    return old


def report_replaced(run_dir: Path, new_id: str, old: str | None = None) -> None:
    """After replacing data: name on stderr the graphs and runs made from the old data (no longer usable)."""
    if old is None:
        old = _previous.get(str(Path(run_dir)))
    if old is not None and old != new_id:
        err.print(
            f"warning: replaced the data of {run_dir} (dataset id {old} -> {new_id}); "
            f"made from the old data and no longer usable with it: {made_from(run_dir, old, names=True)}",
            highlight=False,
            soft_wrap=True,
        )


_previous: dict[str, str] = {}  # run dir -> the dataset id check_replace saw there (for report_replaced)


def existing_dataset_id(run_dir: Path) -> str | None:
    """The dataset id of the data already in RUN_DIR/data, if any."""
    path = Path(run_dir) / "data" / "meta.json"
    if not path.is_file():
        return None
    try:
        return str(read_json(path).get("dataset_id"))
    except GemError:
        return "unreadable"


def made_from(run_dir: Path, dataset_id: str, names: bool = False) -> str:
    """'N graphs and M runs' (or their names) in RUN_DIR made from the data with `dataset_id`."""
    root = Path(run_dir)
    graphs = [p.parent.name for p in sorted(root.glob("graphs/*/graph.json")) if _id_of(p, "dataset_id") == dataset_id]
    runs = [
        c.parent.name
        for c in sorted(root.glob("models/*/config.json")) + sorted(root.glob("sweeps/*/points/*/config.json"))
        if _id_of(c, "data", "dataset_id") in (dataset_id, None)
    ]
    if names:
        return (
            "; ".join(
                part
                for part in (f"graphs {', '.join(graphs)}" if graphs else "", f"runs {', '.join(runs)}" if runs else "")
                if part
            )
            or "nothing"
        )
    return f"{len(graphs)} graphs and {len(runs)} runs made from it"


def _id_of(path: Path, *keys: str) -> str | None:
    try:
        value: Any = read_json(path)
        for k in keys:
            value = value.get(k) or {}
        return str(value) if value else None
    except (GemError, AttributeError):
        return None


def preprocess_raw(
    raw: RawTable,
    run_dir: Path,
    *,
    negatives: int,
    ratio: tuple[float, float, float],
    seed: int,
    options: dict[str, Any],
    force: bool = False,
    labels: str = "pm1",
) -> dict[str, Any]:
    from gemcli.tasks import labels_task

    x, y, vocab = build_instances(raw, negatives, seed, labels)
    idx = split_indices(len(y), ratio, seed + 1)
    splits = {s: (x[i], y[i]) for s, i in idx.items()}
    n_pos = int((y > 0).sum())
    meta_extra = {
        "dataset": raw.dataset,
        "roles": {"user": raw.user_field, "item": raw.item_field},
        "graph_fields": raw.graph_fields,
        "protocol": {
            "text": raw.notes.get("protocol"),
            "negatives_per_positive": negatives,
            "negative_field": raw.neg_target,
            "negative_excludes_by": list(raw.neg_group),
            **{k: v for k, v in raw.notes.items() if k != "protocol"},
        },
        "positives": n_pos,
        "negatives": int(len(y) - n_pos),
        "split": {"ratio": list(ratio), "seed": seed + 1},
        "source": raw.source,
        "labels": labels,
        "task": labels_task(y),
    }
    return write_data(
        run_dir,
        fields=raw.fields,
        vocab=vocab,
        splits=splits,
        meta_extra=meta_extra,
        options=options,
        inputs={"source": raw.source.get("sha256", "")},
        seed=seed,
        force=force,
    )
