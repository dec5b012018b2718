"""Seeded random train/valid/test split by a ratio such as 8:1:1."""

from __future__ import annotations

import numpy as np

from gemcli.errors import GemError


def parse_ratio(text: str) -> tuple[float, float, float]:
    parts = text.split(":")
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 3 or any(v < 0 for v in vals) or vals[0] <= 0 or sum(vals) <= 0:
        raise GemError(f"--split {text!r}: expected three non-negative numbers train:valid:test, e.g. 8:1:1 or 7:2:1")
    return vals  # type: ignore[return-value]


def split_indices(n: int, ratio: tuple[float, float, float], seed: int) -> dict[str, np.ndarray]:
    """Shuffle 0..n-1 and cut it by `ratio`; sizes are rounded, test takes the remainder."""
    total = sum(ratio)
    n_train = int(round(n * ratio[0] / total))
    n_valid = int(round(n * ratio[1] / total))
    perm = np.random.default_rng(seed).permutation(n)
    return {
        "train": perm[:n_train],
        "valid": perm[n_train : n_train + n_valid],
        "test": perm[n_train + n_valid :],
    }
