"""The hand-over between a raw reader and the encoder: positives as strings, one column per field."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl


@dataclass
class RawTable:
    """Positive interactions of one dataset, before encoding.

    frame: one String column per field, in field order (no label: every row is a positive).
    neg_target: the field a negative replaces (Frappe: item; MovieLens: tag).
    neg_group: the fields a negative keeps and by which "already used" is judged
        (Frappe: user, so a negative item is one this user never used in any context;
        MovieLens: user and item, so a negative tag is one this user never gave this movie).
    """

    dataset: str
    frame: pl.DataFrame
    user_field: str
    item_field: str
    graph_fields: list[str]
    neg_target: str
    neg_group: tuple[str, ...]
    source: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def fields(self) -> list[str]:
        return list(self.frame.columns)


def require_columns(frame: pl.DataFrame, needed: list[str], where: Path | str) -> None:
    from gemcli.errors import GemError

    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise GemError(f"{where}: missing column(s) {', '.join(missing)} (found: {', '.join(frame.columns) or 'none'})")
    if frame.height == 0:
        raise GemError(f"{where}: no data rows")
