"""A typed view of RUN_DIR/data/meta.json: what preprocessing hands every later stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemcli.errors import GemError

REQUIRED = ("dataset_id", "fields", "cardinalities", "offsets", "n_features", "label_range")


@dataclass(frozen=True)
class DataMeta:
    """The encoded data: fields in order, their cardinalities and global id offsets, the label range, the
    dataset id later stages check, the user/item roles and default graph fields, the vocabularies."""

    dataset: str
    dataset_id: str
    fields: list[str]
    cardinalities: dict[str, int]
    offsets: dict[str, int]
    n_features: int
    label_range: tuple[float, float]
    counts: dict[str, int] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    graph_fields: list[str] = field(default_factory=list)
    vocab: dict[str, dict[str, int]] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    task: str = "regression"
    reserved: int = 0  # ids at the start of each field that stand for no value (tables: <oov>, <missing>)

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: Path | str = "meta.json") -> DataMeta:
        missing = [k for k in REQUIRED if k not in d]
        if missing:
            raise GemError(f"{path}: no {missing[0]!r}; run `gem preprocess` again")
        try:
            lo, hi = (float(v) for v in d["label_range"])
            return cls(
                dataset=str(d.get("dataset", "")),
                dataset_id=str(d["dataset_id"]),
                fields=list(d["fields"]),
                cardinalities=dict(d["cardinalities"]),
                offsets=dict(d["offsets"]),
                n_features=int(d["n_features"]),
                label_range=(lo, hi),
                counts=dict(d.get("counts", {})),
                roles=dict(d.get("roles", {})),
                graph_fields=list(d.get("graph_fields", [])),
                vocab=dict(d.get("vocab", {})),
                source=dict(d.get("source") or {}),
                task=str(d.get("task", "regression")),
                reserved=len((d.get("encoding") or {}).get("reserved_ids") or {}),
            )
        except (TypeError, ValueError) as e:
            raise GemError(f"{path}: not a gemcli meta.json ({e}); run `gem preprocess` again") from None

    @property
    def user(self) -> str:
        return self.roles["user"]

    @property
    def item(self) -> str:
        return self.roles["item"]
