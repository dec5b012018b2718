"""Tables of finished runs: per model, mean and standard deviation over seeds."""

from __future__ import annotations

import statistics
from pathlib import Path

from rich.table import Table

from gemcli import rundir
from gemcli.errors import GemError


def finished_summaries(run_dir: Path) -> list[dict]:
    from gemcli.train import list_runs

    out = []
    for folder in list_runs(run_dir):
        path = folder / "summary.json"
        if path.is_file():
            s = rundir.read_json(path)
            if s.get("status") == "finished":
                out.append(s)
    return out


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def compare_table(run_dir: Path) -> Table:
    runs = finished_summaries(run_dir)
    if not runs:
        raise GemError(f"{run_dir}: no finished runs; run `gem train --base fm` first")
    groups: dict[str, list[dict]] = {}
    for s in runs:
        groups.setdefault(s["model"], []).append(s)
    t = Table(title=f"finished runs in {run_dir} (test split, best validation epoch; mean ± std over seeds)")
    for col in ("model", "seeds", "test RMSE", "test MAE", "valid RMSE", "best epoch", "#params"):
        t.add_column(col, justify="left" if col == "model" else "right")
    for model, rows in groups.items():
        cells = []
        for key in ("test_rmse", "test_mae", "valid_rmse"):
            m, sd = mean_std([r[key] for r in rows])
            cells.append(f"{m:.4f} ± {sd:.4f}")
        t.add_row(model, str(len(rows)), *cells, ", ".join(str(r["best_epoch"]) for r in rows),
                  f"{rows[0]['parameters'] / 1e6:.3f}M")
    return t
