"""Every figure gemcli draws, in one place (matplotlib, the Agg backend: files, no screen), each saved atomically:

- `plot_curves`: a run's curves.png, its task's two metrics per epoch, valid and test, the best epoch marked;
- `plot_runs`: `gem report curves`, several runs' validation metrics overlaid (the paper's Figures 3-4);
- `plot_sweep` / `plot_points`: a sweep's figure, test metrics against the swept value, mean ± std over seeds;
- `plot_study`: a search's optimisation history and parameter importances (Optuna's matplotlib backend).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from gemcli import rundir
from gemcli.errors import GemError

if TYPE_CHECKING:
    import optuna
    from matplotlib.figure import Figure


def save_figure(fig: Figure, path: Path) -> None:
    """Save a matplotlib figure atomically and close it; the canvas grows to hold every label (bbox tight)."""
    import matplotlib.pyplot as plt

    rundir.atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight"))
    plt.close(fig)


def plot_curves(
    folder: Path,
    history: list[dict[str, Any]],
    label: str,
    best_epoch: int | None = None,
    metrics: tuple[str, str] = ("rmse", "mae"),
) -> None:
    """curves.png: the task's two headline metrics per epoch (RMSE and MAE: the paper's Figures 3-4; AUC and
    logloss), valid and test, the best epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, metrics, strict=True):
        for split, style in (("valid", "-"), ("test", "--")):
            ax.plot(epochs, [r[f"{split}_{metric}"] for r in history], style, label=f"{label} ({split})")
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle=":", linewidth=1, label=f"best epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.upper())
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(folder.name, fontsize=9)
    fig.tight_layout()
    save_figure(fig, folder / "curves.png")


def plot_runs(folders: list[Path], path: Path) -> None:
    """Overlay the validation metrics per epoch of several runs of one task (RMSE and MAE: the paper's Figures
    3-4; AUC and logloss), each run's best epoch (by the metric it monitored) marked."""
    import matplotlib

    from gemcli.config import embedder_of
    from gemcli.paper import model_label
    from gemcli.runs import read_metrics
    from gemcli.tasks import get_task, higher_is_better, task_of

    configs = [rundir.read_verified_json(folder / "config.json") for folder in folders]
    tasks = {task_of(c) for c in configs}
    if len(tasks) > 1:
        raise GemError(f"these runs are of different tasks ({', '.join(sorted(tasks))}); plot one task at a time")
    metrics = get_task(tasks.pop()).headline
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for folder, cfg in zip(folders, configs, strict=True):
        hist = read_metrics(folder)
        model = cfg.get("model", {})
        label = f"{model_label(model.get('base', '?'), embedder_of(model))} ({folder.name})"
        monitor = cfg.get("train", {}).get("monitor") or metrics[0]
        monitor = metrics[0] if monitor == "auto" else monitor
        sign = -1 if higher_is_better(monitor) else 1
        best = min(hist, key=lambda r: sign * r[f"valid_{monitor}"]) if hist else None  # the weights kept
        for ax, m in zip(axes, metrics, strict=True):
            (line,) = ax.plot([r["epoch"] for r in hist], [r[f"valid_{m}"] for r in hist], label=label)
            if best:
                ax.plot([best["epoch"]], [best[f"valid_{m}"]], "o", color=line.get_color(), markersize=5)
    for ax, m in zip(axes, metrics, strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {m.upper()}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, title="dots: best epoch", title_fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def plot_study(study: optuna.Study, root: Path, target: str = "Objective Value") -> None:
    """Optuna's optimisation history and (with two finished trials or more and more than one parameter)
    parameter importances, drawn by its matplotlib backend."""
    import matplotlib

    matplotlib.use("Agg")
    import optuna
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not done:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ax = optuna.visualization.matplotlib.plot_optimization_history(study, target_name=target)
        save_figure(cast("Figure", ax.figure), root / "history.png")
        if len(done) >= 2 and len(done[0].params) >= 2:
            try:
                ax = optuna.visualization.matplotlib.plot_param_importances(study, target_name=target)
            except (RuntimeError, ValueError):  # every trial the same value: no importances to draw
                return
            save_figure(cast("Figure", ax.figure), root / "importance.png")


def plot_sweep(
    path: Path,
    name: str,
    xkey: str,
    series: list[tuple[Any, list[dict[str, Any]], str | None]],
    metrics: tuple[str, str] = ("rmse", "mae"),
) -> None:
    """The sweep's figure: test metrics (the task's two) against the swept value, mean ± std over seeds. Series
    items are (x, summaries, group): one line (or marker set, for categories) per group, the groups' markers side
    by side; group None when there is one."""
    from gemcli.report import mean_std

    keys = (f"test_{metrics[0]}", f"test_{metrics[1]}")
    points = []
    for x, ss, g in series:
        stats = {}
        for m in keys:
            vals = [s[m] for s in ss if m in s]
            if vals:
                stats[m] = mean_std(vals)
        points.append((x, g, stats))
    n = sorted({len(ss) for _, ss, _ in series})
    seeds = f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"
    what = "mean ± std over " + seeds + " seeds" if n[-1] > 1 else "one seed per point, no error bars"
    plot_points(path, f"sweep {name} ({what})", xkey, points, keys)


def plot_points(
    path: Path,
    title: str,
    xlabel: str,
    points: list[tuple[Any, str | None, dict[str, tuple[float, float]]]],
    metrics: tuple[str, str],
) -> None:
    """Two panels (one per metric key, e.g. test_rmse): each point is (x, group, {metric: (mean, sd)}), a metric it
    lacks left out of that panel. Numeric x draws one line per group; categorical x draws marker sets, the groups
    side by side at each category. Used by plot_sweep and by figures drawn from recorded means
    (scripts/plot_embedders.py)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _, _ in points)
    groups = list(dict.fromkeys(g for _, g, _ in points))
    xs = list(dict.fromkeys(x for x, _, _ in points))
    fig, axes = plt.subplots(1, 2, figsize=(9 if len(xs) <= 8 else 12, 3.4))
    for ax, m in zip(axes, metrics, strict=True):
        for g_i, g in enumerate(groups):
            mine = [(x, st[m]) for x, g_, st in points if g_ == g and m in st]
            shift = (g_i - (len(groups) - 1) / 2) * 0.12 if not numeric else 0.0
            pos = [x if numeric else xs.index(x) + shift for x, _ in mine]
            order = sorted(range(len(pos)), key=lambda i: pos[i])
            ax.errorbar(
                [pos[i] for i in order],
                [mine[i][1][0] for i in order],
                yerr=[mine[i][1][1] for i in order],
                marker="o",
                capsize=3,
                linestyle="-" if numeric else "none",
                label=g,
            )  # no line between unordered categories
        if not numeric:
            ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=20, fontsize=7)
        if groups != [None]:
            ax.legend(fontsize=7)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(m.replace("_", " ").upper())
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
