"""Issue 17's Frappe study as one figure: test RMSE and MAE (mean ± std over seeds) of every embedder on each base,
from the table its runs were reported in.

    python scripts/plot_embedders.py TABLE.csv OUT.png

TABLE.csv has one row per (base, embedder): base, embedder, seeds, test_rmse_mean, test_rmse_sd, test_mae_mean,
test_mae_sd, source (the command and report the numbers were copied from); an empty MAE leaves that point out of the
MAE panel. The study's own figure (`gem sweep embedder`, sweeps/NAME/NAME.png) is drawn from its runs; this one
serves results/frappe/embedders.csv, whose points came from two sweeps and one run (results/frappe/embedders.md).
A bad file gets one line naming its line and column, and exit status 2.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from gemcli.figures import plot_points

COLUMNS = ("base", "embedder", "seeds", "test_rmse_mean", "test_rmse_sd", "test_mae_mean", "test_mae_sd", "source")
NUMBERS = COLUMNS[3:7]


class TableError(ValueError):
    """A bad TABLE.csv: the message names the file, line and column."""


def read_table(path: Path) -> list[dict[str, str | float | None]]:
    """The rows of TABLE.csv, numbers as floats (None where empty); TableError on a bad file."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise TableError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        rows: list[dict[str, str | float | None]] = []
        for line, row in enumerate(reader, start=2):
            out: dict[str, str | float | None] = {"base": row["base"], "embedder": row["embedder"]}
            for c in NUMBERS:
                text = (row[c] or "").strip()
                try:
                    out[c] = float(text) if text else None
                except ValueError:
                    raise TableError(f"{path}: line {line}, column {c}: {text!r} is not a number") from None
            if out["test_rmse_mean"] is None:
                raise TableError(f"{path}: line {line}, column test_rmse_mean: empty")
            rows.append(out)
    return rows


def plot(rows: list[dict[str, str | float | None]], out: Path) -> None:
    """Two panels (test RMSE, test MAE), one marker set per base, embedders along x (gemcli.sweep's drawing)."""
    points = []
    for r in rows:
        stats = {}
        for m in ("test_rmse", "test_mae"):
            mean, sd = r[f"{m}_mean"], r[f"{m}_sd"]
            if mean is not None:
                stats[m] = (float(mean), float(sd or 0.0))
        points.append((str(r["embedder"]), str(r["base"]), stats))
    plot_points(
        out, "every embedder on each base (mean ± std over seeds)", "embedder", points, ("test_rmse", "test_mae")
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python scripts/plot_embedders.py TABLE.csv OUT.png", file=sys.stderr)
        return 2
    try:
        rows = read_table(Path(argv[0]))
    except TableError as e:
        print(e, file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{argv[0]}: {e.strerror}", file=sys.stderr)
        return 2
    plot(rows, Path(argv[1]))
    print(f"wrote {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
