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
    if (
        len(vals) != 3
        or not all(np.isfinite(v) for v in vals)
        or any(v < 0 for v in vals)
        or vals[0] <= 0
        or vals[1] <= 0
        or vals[2] <= 0
        or not np.isfinite(sum(vals))
    ):
        raise GemError(
            f"--split {text!r}: expected three positive finite numbers train:valid:test, e.g. 8:1:1 or 7:2:1 "
            "(early stopping needs a validation split, the metrics a test split)"
        )
    return vals


def split_sizes(n: int, ratio: tuple[float, float, float]) -> tuple[int, int, int]:
    """(train, valid, test) sizes of n rows cut by `ratio`: train and valid rounded, test the remainder."""
    total = sum(ratio)
    n_train = int(round(n * ratio[0] / total))
    n_valid = int(round(n * ratio[1] / total))
    return n_train, n_valid, n - n_train - n_valid


def split_indices(n: int, ratio: tuple[float, float, float], seed: int) -> dict[str, np.ndarray]:
    """Shuffle 0..n-1 and cut it by `ratio` (split_sizes)."""
    n_train, n_valid, n_test = split_sizes(n, ratio)
    perm = np.random.default_rng(seed).permutation(n)
    sizes = {"train": n_train, "valid": n_valid, "test": n_test}
    empty = [k for k, v in sizes.items() if v <= 0]
    if empty:
        raise GemError(
            f"--split {':'.join(f'{r:g}' for r in ratio)}: the {empty[0]} split of {n:,} instances would be empty"
        )
    return {
        "train": perm[:n_train],
        "valid": perm[n_train : n_train + n_valid],
        "test": perm[n_train + n_valid :],
    }
