"""Generate a MovieLens-format tags.csv with the statistics of the paper's release (seeded).

    python scripts/make_movielens.py OUT.csv [--applications 668953 --users 17045 --movies 23743 --tags 49657 --seed 0]

Popularity is long-tailed like real tagging data: users, movies and tags are drawn from Zipf-like
weights (exponent ~1), every entity appears at least once, and each (user, movie, tag) is unique.
This is synthetic data for exercising the full-size path and timing it; it is not MovieLens.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl


def zipf_weights(n: int, s: float, rng: np.random.Generator) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return rng.permutation(w / w.sum())


def generate(n: int, users: int, movies: int, tags: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    wu, wm, wt = zipf_weights(users, 1.0, rng), zipf_weights(movies, 0.9, rng), zipf_weights(tags, 1.05, rng)
    # every entity at least once, the rest by popularity
    cover = max(users, movies, tags)
    draw = int(n * 1.5)  # repeated triples are dropped below
    u = np.concatenate([rng.permutation(np.resize(np.arange(users), cover)), rng.choice(users, draw, p=wu)])
    m = np.concatenate([rng.permutation(np.resize(np.arange(movies), cover)), rng.choice(movies, draw, p=wm)])
    t = np.concatenate([rng.permutation(np.resize(np.arange(tags), cover)), rng.choice(tags, draw, p=wt)])
    key = (u.astype(np.int64) * movies + m) * tags + t
    _, first = np.unique(key, return_index=True)
    keep = np.sort(first)[:n]
    if len(keep) < n:
        raise SystemExit(f"only {len(keep)} unique triples; raise the draw")
    u, m, t = u[keep], m[keep], t[keep]
    return pl.DataFrame(
        {
            "userId": u + 1,
            "movieId": m + 1,
            "tag": pl.Series([f"tag{k}" for k in range(tags)])[t],
            "timestamp": 1_100_000_000 + np.arange(n),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--applications", type=int, default=668_953)
    ap.add_argument("--users", type=int, default=17_045)
    ap.add_argument("--movies", type=int, default=23_743)
    ap.add_argument("--tags", type=int, default=49_657)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    df = generate(a.applications, a.users, a.movies, a.tags, a.seed)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    df.write_csv(a.out)
    print(
        f"{a.out}: {df.height:,} applications, {df['userId'].n_unique():,} users, "
        f"{df['movieId'].n_unique():,} movies, {df['tag'].n_unique():,} tags"
    )


if __name__ == "__main__":
    main()
