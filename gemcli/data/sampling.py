"""Negative sampling (He & Chua 2017), vectorised: rejection sampling over whole arrays."""

from __future__ import annotations

import numpy as np

from gemcli.errors import GemError


def _group_key(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Mixed-radix int64 key of the rows of codes[n, g]; returns (key[n], number of possible keys)."""
    key = np.zeros(len(codes), dtype=np.int64)
    radix = 1
    for j in range(codes.shape[1]):
        size = int(codes[:, j].max()) + 1
        key = key * size + codes[:, j]
        radix *= size
    return key, radix


def sample_negatives(
    pos: np.ndarray, group_cols: list[int], target_col: int, n_target: int, k: int, seed: int
) -> np.ndarray:
    """k negatives per positive row.

    pos: int64[n, F] local codes of the positives. Each negative copies its positive and replaces
    column target_col with a value v such that (group, v) never occurs among the positives, the k
    values of one positive being distinct. Returns int64[n * k, F], the negatives of positive i at
    rows i*k .. i*k+k-1. Deterministic for a given seed.
    """
    n = len(pos)
    rng = np.random.default_rng(seed)
    key, _ = _group_key(pos[:, group_cols])
    forbidden = np.unique(key * n_target + pos[:, target_col])
    used_per_group = np.bincount(np.unique(forbidden // n_target, return_inverse=True)[1])
    if used_per_group.max() > n_target - k:
        raise GemError(
            f"cannot draw {k} negatives: a group already uses {used_per_group.max()} of the {n_target} values"
        )

    cand = rng.integers(0, n_target, size=(n, k), dtype=np.int64)
    todo = np.ones((n, k), dtype=bool)
    for _ in range(10_000):
        flat = key[:, None] * n_target + cand
        pos_in = np.searchsorted(forbidden, flat)
        bad = forbidden[np.minimum(pos_in, len(forbidden) - 1)] == flat
        for j in range(1, k):  # a value drawn twice for one positive: redraw the later one
            for i in range(j):
                bad[:, j] |= cand[:, j] == cand[:, i]
        todo = bad
        m = int(todo.sum())
        if m == 0:
            break
        cand[todo] = rng.integers(0, n_target, size=m, dtype=np.int64)
    else:  # pragma: no cover - only with pathological data
        raise GemError("negative sampling did not converge")
    neg = np.repeat(pos, k, axis=0)
    neg[:, target_col] = cand.reshape(-1)
    return neg
