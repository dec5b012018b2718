"""Issue 18's dropout study, the three placements side by side: a table and a figure from the sweeps
dropout-output, dropout-edges and dropout-weights (results/frappe/converged.sh dropout-PLACEMENT).

    python scripts/dropout_placements.py SOURCE [OUT_STEM]

SOURCE is a run directory (each sweep's RUN_DIR/sweeps/dropout-P/results.csv) or a folder of those files kept as
dropout-P.csv (results/frappe, where converged.sh copies each finished sweep's: a run directory need not outlive the
session that trained it, and each placement's sweep can come from another session). Writes OUT_STEM.md and
OUT_STEM.png (default results/frappe/dropout-placements). At GCN dropout 0 nothing is dropped and the placements are
one model: its point, run once in dropout-output, is every placement's 0, and each point's change is measured against
it in pooled seed spreads (gemcli.report.seed_sd_change). Only finished points count (rows of results.csv); a
placement whose sweep is missing is left out and said so.
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

from gemcli.figures import plot_sweep
from gemcli.report import fmt_mean_std, seed_sd_change
from gemcli.rundir import atomic_write_text

PLACEMENTS = {
    "output": "the propagated rows",
    "edges": "Â's entries, message dropout",
    "weights": "W's rows, node dropout",
}
NUMBERS = ("seed", "best_epoch", "epochs_run", "train_seconds")  # besides the valid_ and test_ metrics


def sweep_csv(source: Path, on: str) -> Path:
    """The results.csv of placement ON's sweep: in a run directory's sweeps/, else kept beside as dropout-ON.csv."""
    in_run = source / "sweeps" / f"dropout-{on}" / "results.csv"
    return in_run if in_run.is_file() else source / f"dropout-{on}.csv"


def read_points(path: Path) -> dict[float, list[dict[str, float]]]:
    """GCN dropout -> the finished runs of that point (test and valid metrics, best epoch, epochs run, seconds)."""
    points: dict[float, list[dict[str, float]]] = {}
    if not path.is_file():
        return points
    for row in csv.DictReader(path.open()):
        kept = [k for k in row if row[k] and (k.startswith(("test_", "valid_")) or k in NUMBERS)]
        points.setdefault(float(row["gcn_dropout"]), []).append({k: float(row[k]) for k in kept})
    return points


def row(label: str, x: float, runs: list[dict[str, float]], zero: list[dict[str, float]]) -> str:
    """A table row: the point's metrics over its seeds, its change against dropout 0 (none for 0 itself)."""
    runs = sorted(runs, key=lambda r: r["seed"])
    rmse, ref = [r["test_rmse"] for r in runs], [r["test_rmse"] for r in zero]
    if x == 0:
        change, spreads = "reference", "-"
    elif not zero:  # dropout-output, which holds the 0 point, not in yet: nothing to measure against
        change, spreads = "-", "-"
    else:
        change, spreads = f"{statistics.fmean(rmse) - statistics.fmean(ref):+.4f}", seed_sd_change(rmse, ref)
    return (
        f"| {label} | {x:g} | {len(runs)} | {fmt_mean_std(rmse)} | {fmt_mean_std([r['test_mae'] for r in runs])} | "
        f"{fmt_mean_std([r['valid_rmse'] for r in runs])} | {change} | {spreads} | "
        f"{', '.join(str(int(r['best_epoch'])) for r in runs)} | "
        f"{statistics.fmean(r['train_seconds'] for r in runs) / 60:.1f} |"
    )


def main(source: Path, stem: Path) -> tuple[Path, Path]:
    sweeps = {on: read_points(sweep_csv(source, on)) for on in PLACEMENTS}
    zero = sweeps["output"].get(0.0, [])
    missing = [on for on, pts in sweeps.items() if not pts]
    lines = [
        "| placement | GCN dropout | seeds | test RMSE | test MAE | valid RMSE | RMSE vs 0 | change / seed sd "
        "| best epochs | min/run |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    series = []
    if zero:
        lines.append(row("any (nothing is dropped)", 0.0, zero, zero))
    for on, what in PLACEMENTS.items():
        pts = {x: runs for x, runs in sweeps[on].items() if x != 0}
        if not pts:
            continue
        for x in sorted(pts):
            lines.append(row(f"{on} ({what})", x, pts[x], zero))
        series += [(x, runs, on) for x, runs in sorted({0.0: zero, **pts}.items()) if runs]
    notes = ["", "GCN dropout 0 drops nothing: one model for every placement, run once (dropout-output)."]
    if missing:
        notes.append(f"No finished point yet: {', '.join(f'dropout-{on}' for on in missing)}.")
    md, png = stem.with_suffix(".md"), stem.with_suffix(".png")
    md.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(md, "\n".join(lines + notes) + "\n")
    if series:
        plot_sweep(png, "dropout placements", "gcn_dropout", series)
    return md, png


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    stem = Path(sys.argv[2]) if len(sys.argv) == 3 else Path("results/frappe/dropout-placements")
    for path in main(Path(sys.argv[1]), stem):
        print(f"wrote {path}")
