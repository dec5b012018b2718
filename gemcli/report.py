"""Tables of finished runs: per model, mean and standard deviation over seeds."""

from __future__ import annotations

import statistics
from pathlib import Path

from rich.table import Table

from gemcli import rundir
from gemcli.errors import GemError


def finished_summaries(run_dir: Path, pattern: str = "*") -> list[dict]:
    """Summaries of the finished runs whose folder name matches the glob `pattern`."""
    from fnmatch import fnmatchcase

    from gemcli.train import finished_summary, list_runs

    folders = [f for f in list_runs(run_dir) if fnmatchcase(f.name, pattern)]
    return [s for s in (finished_summary(folder) for folder in folders) if s is not None]


def fmt_mean_std(values: list[float]) -> str:
    """'mean ± std' over seeds; a single seed has no spread to show."""
    m, sd = mean_std(values)
    return f"{m:.4f} ± {sd:.4f}" if len(values) > 1 else f"{m:.4f}"


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
            cells.append(fmt_mean_std([r[key] for r in rows]))
        t.add_row(model, str(len(rows)), *cells, ", ".join(str(r["best_epoch"]) for r in rows),
                  f"{rows[0]['parameters'] / 1e6:.3f}M")
    return t


def table1_markdown(run_dir: Path, dataset: str | None = None, pattern: str = "table1-*") -> str:
    """The paper's Table 1 from finished runs: mean ± std over seeds, #params, the paper's figures, GEM's change.

    The last column is GEM's change of the mean test RMSE in units of the seeds' spread,
    (mean_GEM - mean_base) / sqrt((sd_GEM^2 + sd_base^2) / 2): beyond ~2-3 in magnitude the change is
    larger than seed noise explains; with one seed per model it cannot be computed.
    """
    from gemcli.paper import BASES, TABLE1, model_label

    runs = finished_summaries(run_dir, pattern)
    meta = rundir.read_json(rundir.data_dir(run_dir) / "meta.json")
    dataset = dataset or meta.get("dataset", "")
    groups: dict[tuple[str, bool], list[dict]] = {}
    for s in runs:
        groups.setdefault((s["base"], s["gem"]), []).append(s)
    lines = [
        "| method | seeds | test MAE | test RMSE | #params | paper MAE | paper RMSE | paper #params | GEM vs base (MAE / RMSE) "
        "| RMSE change / seed sd |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for base in BASES:
        for gem in (False, True):
            rows = groups.get((base, gem), [])
            label = model_label(base, gem)
            paper = TABLE1.get(label, {}).get(dataset)
            pcells = [f"{paper[0]:.4f}", f"{paper[1]:.4f}", f"{paper[2] / 1e6:.3f}M"] if paper else ["-", "-", "-"]
            if not rows:
                lines.append(f"| {label} | 0 | - | - | - | " + " | ".join(pcells) + " | - | - |")
                continue
            mae = mean_std([r["test_mae"] for r in rows])[0]
            rmse, sd = mean_std([r["test_rmse"] for r in rows])
            change, z = "-", "-"
            if gem and groups.get((base, False)):
                plain = groups[(base, False)]
                b_mae = mean_std([r["test_mae"] for r in plain])[0]
                b_rmse, b_sd = mean_std([r["test_rmse"] for r in plain])
                change = f"{(mae / b_mae - 1) * 100:+.1f}% / {(rmse / b_rmse - 1) * 100:+.1f}%"
                pooled = ((sd**2 + b_sd**2) / 2) ** 0.5
                if len(rows) > 1 and len(plain) > 1 and pooled > 0:
                    z = f"{(rmse - b_rmse) / pooled:+.1f}"
            lines.append(f"| {label} | {len(rows)} | {fmt_mean_std([r['test_mae'] for r in rows])} | "
                         f"{fmt_mean_std([r['test_rmse'] for r in rows])} | "
                         f"{rows[0]['parameters'] / 1e6:.3f}M | " + " | ".join(pcells) + f" | {change} | {z} |")
    return "\n".join(lines) + "\n"


def plot_runs(folders: list[Path], path: Path) -> None:
    """Overlay valid RMSE and MAE per epoch of several runs (the paper's Figures 3-4)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for folder in folders:
        hist = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines() if x]
        label = rundir.read_json(folder / "summary.json").get("model", folder.name) + f" ({folder.name})"
        for ax, m in zip(axes, ("rmse", "mae"), strict=True):
            ax.plot([r["epoch"] for r in hist], [r[f"valid_{m}"] for r in hist], label=label)
    for ax, m in zip(axes, ("RMSE", "MAE"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {m}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    rundir.save_figure(fig, path)
