"""Tables of finished runs: per model, mean and standard deviation over seeds."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from gemcli import rundir
from gemcli.config import embedder_of
from gemcli.console import titled
from gemcli.errors import ChangedFile, GemError
from gemcli.paper import model_label
from gemcli.tasks import headline_of, task_of


def fmt_mean_std(values: list[float]) -> str:
    """'mean ± std' over seeds; a single seed has no spread to show."""
    m, sd = mean_std(values)
    return f"{m:.4f} ± {sd:.4f}" if len(values) > 1 else f"{m:.4f}"


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


@dataclass
class RunInfo:
    """One model run as the reports see it."""

    folder: Path
    config: dict[str, Any]  # config.json
    summary: dict[str, Any] | None  # summary.json (None before the first epoch ends)
    stale: bool  # trained on other data than the run directory holds now

    @property
    def status(self) -> str:
        if self.summary is None:
            if rundir.is_locked(rundir.run_lock(self.folder)):
                return "running"
            return "interrupted" if (self.folder / "checkpoint.pt").is_file() else "started"
        return str(self.summary.get("status", "?"))

    @property
    def finished(self) -> bool:
        s = self.summary
        return self.status == "finished" and s is not None and f"test_{headline_of(s)[0]}" in s

    @property
    def task(self) -> str:
        return task_of({**self.config, **(self.summary or {})})  # the summary's task, else the config's


def run_infos(run_dir: Path, where: Path | None = None) -> list[RunInfo]:
    """Every model run in RUN_DIR/models (or the folder `where`: a sweep's points, a search's trials), oldest
    first, with its config, summary and whether its data is current."""
    from gemcli.runs import list_runs

    meta_path = Path(run_dir) / "data" / "meta.json"
    current = rundir.read_json(meta_path).get("dataset_id") if meta_path.is_file() else None
    infos = []
    for folder in list_runs(run_dir) if where is None else rundir.listing(Path(where), "config.json"):
        try:
            cfg = rundir.read_verified_json(folder / "config.json")
            has_summary = (folder / "summary.json").is_file()
            summary = rundir.read_verified_json(folder / "summary.json") if has_summary else None
        except ChangedFile:
            raise  # a number nothing checked is never shown: one line naming the file
        except GemError:
            continue
        infos.append(RunInfo(folder, cfg, summary, stale=cfg.get("data", {}).get("dataset_id") != current))
    return infos


def compare_rows(run_dir: Path, where: Path | None = None) -> tuple[list[tuple[str, str, list[RunInfo]]], list[str]]:
    """Finished runs grouped by their full config except the seed: (model, distinguishing options, runs).

    Groups of the same model are told apart by the options in which they differ. Runs trained on other
    data than the run directory holds are left out, and said so in the notes."""
    from gemcli.config import config_key, differing

    notes: list[str] = []
    infos = run_infos(run_dir, where)
    stale = [i.folder.name for i in infos if i.stale and i.finished]
    if stale:
        notes.append(f"left out, trained on other data than {run_dir}/data holds now: {', '.join(stale)}")
    unfinished = [f"{i.folder.name} ({i.status})" for i in infos if not i.finished]
    if unfinished:
        notes.append(f"not finished, left out: {', '.join(unfinished)}")
    groups: dict[str, list[RunInfo]] = {}
    for i in infos:
        if i.finished and not i.stale:
            groups.setdefault(json.dumps(config_key(i.config), sort_keys=True, default=str), []).append(i)
    by_label: dict[str, list[str]] = {}
    for key, runs in groups.items():
        by_label.setdefault((runs[0].summary or {}).get("model", "?"), []).append(key)
    rows = []
    for label, keys in by_label.items():
        for key in keys:
            mine = json.loads(key)
            diff_keys: dict[str, Any] = {}
            for other in keys:
                if other != key:
                    for k, a, _ in differing(mine, json.loads(other)):
                        diff_keys[k] = a
            what = " ".join(f"{k}={'-'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in diff_keys.items())
            rows.append((label, what, groups[key]))
    return rows, notes


def latest_per_seed(runs: list[RunInfo]) -> tuple[list[RunInfo], list[RunInfo]]:
    """(the latest run of each seed, the earlier runs of a seed seen twice): repeats are not new seeds."""
    by_seed: dict[int, RunInfo] = {}
    for r in runs:  # oldest first: later runs of a seed replace earlier ones
        by_seed[int(r.config["train"]["seed"])] = r
    kept = sorted(by_seed.values(), key=lambda r: int(r.config["train"]["seed"]))
    return kept, [r for r in runs if r not in kept]


def compare_table(run_dir: Path, where: Path | None = None) -> tuple[list[Table], list[str]]:
    """The finished runs as tables, one per task (regression: RMSE/MAE; binary: AUC/logloss): one row per config
    (mean ± std over its seeds), and notes below them."""
    rows, notes = compare_rows(run_dir, where)
    if not rows:
        raise GemError(
            f"{where or run_dir}: no finished runs; run `gem train --base fm` first"
            + (f" ({'; '.join(notes)})" if notes else "")
        )
    by_task: dict[str, list[tuple[str, str, list[RunInfo]]]] = {}
    for row in rows:
        by_task.setdefault(row[2][0].task, []).append(row)
    return [_compare_task_table(where or run_dir, task, task_rows, notes) for task, task_rows in by_task.items()], notes


def _compare_task_table(folder: Path, task: str, rows: list[tuple[str, str, list[RunInfo]]], notes: list[str]) -> Table:
    from gemcli.runs import short_name
    from gemcli.tasks import get_task

    a, b = get_task(task).headline
    t = titled(
        f"finished runs in {folder} ({task}): one row per config, mean ± std over its seeds "
        "(test split at the best validation epoch)",
    )
    cols = ("model", "differs by", "seeds", f"test {a.upper()}", f"test {b.upper()}", f"valid {a.upper()}")
    for col in (*cols, "best epoch", "#params", "runs"):
        t.add_column(col, justify="left" if col in ("model", "differs by", "runs") else "right")
    for label, what, runs in rows:
        kept, repeats = latest_per_seed(runs)
        if repeats:
            notes.append(
                f"{label} {what}: seed repeated; counted once (the latest run), left out: "
                + ", ".join(r.folder.name for r in repeats)
            )
        ss = [r.summary for r in kept if r.summary is not None]
        cells = [fmt_mean_std([s[key] for s in ss]) for key in (f"test_{a}", f"test_{b}", f"valid_{a}")]
        t.add_row(
            label,
            what or "-",
            f"{len(kept)} (" + ", ".join(str(r.config["train"]["seed"]) for r in kept) + ")",  # how many (which)
            *cells,
            ", ".join(str(s["best_epoch"]) for s in ss),
            f"{ss[0]['parameters'] / 1e6:.3f}M",
            ", ".join(short_name(r.folder.name) for r in kept),
        )
    return t


def runs_table(run_dir: Path, where: Path | None = None) -> Table:
    """Every model run: name, model, seed, status, best epoch, metrics, recipe."""
    infos = run_infos(run_dir, where)
    folder = where or Path(run_dir) / "models"
    if not infos:
        raise GemError(f"{run_dir}: no runs in {folder}; run `gem train --base fm` first")
    t = titled(f"runs in {folder} (oldest first)")
    for col in (
        "run",
        "model",
        "seed",
        "status",
        "best epoch",
        "epochs",
        "task",
        "test",
        "valid (monitored)",
        "recipe",
    ):
        t.add_column(col, justify="left" if col in ("run", "model", "status", "recipe") else "right")
    for i in infos:
        s = i.summary or {}
        m = i.config.get("model", {})
        status = i.status + (" (other data)" if i.stale else "") + (" (adopted)" if s.get("adopted_from") else "")
        t.add_row(
            i.folder.name,
            model_label(m.get("base", "?"), embedder_of(m)),
            str(i.config["train"]["seed"]),
            status,
            str(s.get("best_epoch", "-")),
            str(s.get("epochs_run", "-")),
            i.task,
            " ".join(f"{m} {s['test_' + m]:.4f}" for m in headline_of(s) if "test_" + m in s) or "-",
            _monitored(s),
            str(i.config.get("recipe") or "-"),
        )
    return t


def _monitored(summary: dict[str, Any]) -> str:
    """'rmse 0.3284': the validation metric early stopping watched, at the best epoch."""
    m = summary.get("monitor") or headline_of(summary)[0]
    return f"{m} {summary['valid_' + m]:.4f}" if f"valid_{m}" in summary else "-"


def table1_selection(run_dir: Path, pattern: str = "table1-*") -> tuple[list[dict[str, Any]], list[str]]:
    """The finished runs Table 1 reads (name matches `pattern`, current data, the latest run of each seed),
    and notes saying what was read. Runs of one model that differ in more than the seed are refused."""
    from fnmatch import fnmatchcase

    from gemcli.config import config_key, differing
    from gemcli.runs import progress

    infos = run_infos(run_dir)
    finished = [i for i in infos if i.finished]
    chosen = [i for i in finished if fnmatchcase(i.folder.name, pattern)]
    notes = [
        f"read {len(chosen)} of the {len(finished)} finished runs in {run_dir}/models: those named {pattern!r}"
        + (
            " (the runs `--run-missing` makes); --runs '*' reads every finished run, --runs 'GLOB' those matching"
            if pattern == "table1-*"
            else ""
        )
    ]
    unfinished = [i for i in infos if fnmatchcase(i.folder.name, pattern) and not i.finished and not i.stale]
    if unfinished:
        notes.append(
            "not finished, left out: "
            + "; ".join(
                f"{i.folder.name} ({i.status}{', ' + got if (got := progress(i.folder)) else ''})" for i in unfinished
            )
        )
    adopted = [adopted_entry(i.folder.name, s) for i in chosen if (s := i.summary or {}).get("adopted_from")]
    if adopted:
        notes.append(f"adopted (copies of identical finished runs, not trained again): {', '.join(adopted)}")
    stale = [i.folder.name for i in chosen if i.stale]
    if stale:
        notes.append(f"left out, trained on other data than {run_dir}/data holds now: {', '.join(stale)}")
    groups: dict[tuple[str, bool, bool], list[RunInfo]] = {}
    others = [i.folder.name for i in chosen if embedder_of(i.config["model"]) not in ("lookup", "gcn")]
    if others:
        notes.append(f"left out, embedders Table 1 has no row for: {', '.join(others)}")
    for i in chosen:
        m = i.config["model"]
        if not i.stale and embedder_of(m) in ("lookup", "gcn"):
            groups.setdefault((m["base"], embedder_of(m) == "gcn", bool(m.get("pretrain"))), []).append(i)
    summaries: list[dict[str, Any]] = []
    for (base, gem, _), runs in groups.items():
        first = runs[0]
        for other in runs[1:]:
            diffs = differing(config_key(first.config), config_key(other.config))
            if diffs:
                what = "; ".join(f"{k} {a!r} vs {b!r}" for k, a, b in diffs[:4])
                raise GemError(
                    f"Table 1's {model_label(base, gem)} row would mix runs of different configs: "
                    f"{first.folder.name} and {other.folder.name} differ in {what}; narrow --runs"
                )
        kept, repeats = latest_per_seed(runs)
        if repeats:
            notes.append(
                f"{model_label(base, gem)}: seed repeated; counted once (the latest run), left out: "
                + ", ".join(r.folder.name for r in repeats)
            )
        summaries += [r.summary for r in kept if r.summary is not None]
    return summaries, notes


def at_cap(summary: dict[str, Any]) -> bool:
    """Whether a finished run's best epoch is its epoch cap: it was still improving when the cap stopped it (False
    where the summary does not carry its config)."""
    cap = ((summary.get("config") or {}).get("train") or {}).get("epochs")
    return cap is not None and int(summary.get("best_epoch") or 0) >= int(cap)


def adopted_entry(name: str, summary: dict[str, Any]) -> str:
    """'NAME from SOURCE' for an adopted run, with the cap it was trained under when that differs from its own."""
    cap = summary.get("adopted_epoch_cap")
    return f"{name} from {summary['adopted_from']}" + (f" (trained under --epochs {cap}, never reached)" if cap else "")


def known_sweeps(run_dir: Path) -> str:
    """The sweeps of a run directory, comma-separated ('none'), for an error naming a sweep that is not there."""
    return ", ".join(p.parent.name for p in sorted((Path(run_dir) / "sweeps").glob("*/sweep.json"))) or "none"


def sweep_selection(run_dir: Path, name: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The finished points of sweep NAME (their summaries), for Table 1, and a note saying what was read."""
    from gemcli.runs import ended_summary

    root = Path(run_dir) / "sweeps" / name
    if not (root / "sweep.json").is_file():
        raise GemError(f"--sweep {name!r}: no such sweep in {run_dir}/sweeps (known: {known_sweeps(run_dir)})")
    summaries, pending = [], []
    for folder in sorted((root / "points").glob("[!.]*")):
        s = ended_summary(folder)
        if s is not None and s.get("status") == "finished":
            summaries.append(s)
        else:
            pending.append(folder.name)
    notes = [f"read {len(summaries)} finished points of sweep {name}"]
    if pending:
        notes.append(f"not finished (left out): {', '.join(pending)}")
    return summaries, notes


Table1Row = tuple[str, bool, list[dict[str, Any]], str]  # (base, gem, its runs, the row's label)


def table1_rows(runs: list[dict[str, Any]]) -> list[Table1Row]:
    """Table 1's rows, in the paper's order: each base plain and with GEM. Where a GEM base has runs fine-tuned from
    GEM+FM and runs from scratch, both rows, labelled so; else the paper's row with whichever runs there are. The
    plain rows' runs are those of (base, False)."""
    from gemcli.paper import BASES

    groups: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    scratch: dict[str, list[dict[str, Any]]] = {}  # GEM bases trained from scratch, beside the fine-tuned ones
    for s in runs:
        gem = embedder_of(s) == "gcn"  # a summary names its embedder as a model config does (0.1.0: gem)
        pretrained = bool(((s.get("config") or {}).get("model") or {}).get("pretrain"))
        if gem and s["base"] != "fm" and not pretrained:
            scratch.setdefault(s["base"], []).append(s)
        else:
            groups.setdefault((s["base"], gem), []).append(s)
    both = {b for b in scratch if groups.get((b, True))}
    rows: list[Table1Row] = []
    for base in BASES:
        label = model_label(base, False)
        rows.append((base, False, groups.get((base, False), []), label))
        label = model_label(base, True)
        if base in both:
            rows.append((base, True, groups[(base, True)], f"{label} (fine-tuned from GEM+FM)"))
            rows.append((base, True, scratch[base], f"{label} (from scratch)"))
        else:
            rows.append((base, True, groups.get((base, True)) or scratch.get(base, []), label))
    return rows


def _reference_cells(label: str, dataset: str, binary: bool) -> list[str]:
    """The published figures beside ours: BARS's AUC and logloss (binary, Frappe), else the paper's MAE, RMSE and
    #params."""
    from gemcli.paper import BARS_FRAPPE_X1, TABLE1

    if binary:
        bars = BARS_FRAPPE_X1.get(label) if dataset == "frappe" else None
        return [f"{bars[0]:.4f}", f"{bars[1]:.4f}"] if bars else ["-", "-"]
    paper = TABLE1.get(label, {}).get(dataset)
    return [f"{paper[0]:.4f}", f"{paper[1]:.4f}", f"{paper[2] / 1e6:.3f}M"] if paper else ["-"] * 3


def _change_cells(rows: list[dict[str, Any]], plain: list[dict[str, Any]], binary: bool) -> tuple[str, str]:
    """(GEM vs base: the change of both metrics' means, the first metric's change in seed spreads)."""
    first, second = ("auc", "logloss") if binary else ("mae", "rmse")
    zkey = "auc" if binary else "rmse"
    m1, m2 = (mean_std([r[f"test_{k}"] for r in rows])[0] for k in (first, second))
    b1, b2 = (mean_std([r[f"test_{k}"] for r in plain])[0] for k in (first, second))
    if binary:  # AUC and logloss: absolute differences (a relative AUC change means little)
        change = f"{m1 - b1:+.4f} / {m2 - b2:+.4f}"
    else:
        change = f"{(m1 / b1 - 1) * 100:+.1f}% / {(m2 / b2 - 1) * 100:+.1f}%"
    return change, seed_sd_change([r[f"test_{zkey}"] for r in rows], [r[f"test_{zkey}"] for r in plain])


def table1_markdown(
    run_dir: Path, dataset: str | None = None, runs: list[dict[str, Any]] | None = None, pattern: str = "table1-*"
) -> str:
    """The paper's Table 1 from finished runs: mean ± std over seeds, #params, the reference figures, GEM's change.

    runs: the summaries to tabulate (default: table1_selection(run_dir, pattern)); rows: `table1_rows`.
    Regression runs: the paper's MAE and RMSE beside ours. Binary runs: AUC and logloss beside BARS's
    Frappe_x1 figures (on Frappe). The last column is GEM's change of the first metric's mean in units of the
    seeds' spread, (mean_GEM - mean_base) / sqrt((sd_GEM^2 + sd_base^2) / 2): beyond ~2-3 in magnitude the
    change is larger than seed noise explains; with one seed per model it cannot be computed.
    """
    if runs is None:
        runs = table1_selection(run_dir, pattern)[0]
    meta = rundir.read_json(rundir.data_dir(run_dir) / "meta.json")
    dataset = dataset or meta.get("dataset", "")
    tasks = {task_of(s) for s in runs} or {task_of(meta)}
    if len(tasks) > 1:
        raise GemError(f"Table 1 would mix runs of different tasks ({', '.join(sorted(tasks))}); narrow --runs")
    binary = tasks.pop() == "binary"
    # (first, second) metric as shown; the paper's regression table puts MAE first, its change in RMSE
    first, second = ("auc", "logloss") if binary else ("mae", "rmse")
    if binary:
        header = (
            "| method | seeds | test AUC | test logloss | #params | BARS AUC | BARS logloss | GEM vs base "
            "(AUC / logloss) | AUC change / seed sd |"
        )
    else:
        header = (
            "| method | seeds | test MAE | test RMSE | #params | paper MAE | paper RMSE | paper #params | GEM vs base "
            "(MAE / RMSE) | RMSE change / seed sd |"
        )
    lines = [header, "|---|---:|---:|---:|---:|" + "---:|" * (2 if binary else 3) + "---:|---:|"]
    capped: list[str] = []  # runs whose best epoch is their cap (marked: still improving)
    table = table1_rows(runs)
    plain = {base: rows for base, gem, rows, _ in table if not gem}
    for base, gem, rows, shown in table:
        pcells = _reference_cells(model_label(base, gem), dataset, binary)
        if not rows:
            lines.append(f"| {shown} | 0 | - | - | - | " + " | ".join(pcells) + " | - | - |")
            continue
        stopped = [r.get("name", "?") for r in rows if at_cap(r)]
        capped += stopped
        seeds = f"{len(rows)}" + ("\\*" if stopped else "")
        change, z = _change_cells(rows, plain[base], binary) if gem and plain.get(base) else ("-", "-")
        lines.append(
            f"| {shown} | {seeds} | {fmt_mean_std([r[f'test_{first}'] for r in rows])} | "
            f"{fmt_mean_std([r[f'test_{second}'] for r in rows])} | "
            f"{rows[0]['parameters'] / 1e6:.3f}M | " + " | ".join(pcells) + f" | {change} | {z} |"
        )
    if capped:
        lines += ["", f"\\* best epoch at the epoch cap, still improving when it stopped: {', '.join(capped)}."]
    return "\n".join(lines) + "\n"


def seed_sd_change(values: list[float], reference: list[float]) -> str:
    """(mean - mean_ref) / sqrt((sd^2 + sd_ref^2) / 2), the change in pooled seed spreads, as '+2.5'; '-' unless both
    sides have 2 seeds or more and some spread."""
    (m, sd), (m_ref, sd_ref) = mean_std(values), mean_std(reference)
    pooled = ((sd**2 + sd_ref**2) / 2) ** 0.5
    if len(values) > 1 and len(reference) > 1 and pooled > 0:
        return f"{(m - m_ref) / pooled:+.1f}"
    return "-"


COST_COLUMNS = "parameters | s/epoch | min/run | peak MiB"  # a sweep table's last columns (cost_cells)


def cost_cells(parameters: int | None, seconds: list[float], epochs: list[int], peaks: list[float]) -> str:
    """A sweep table's last cells, over a point's seeds (each run's training seconds and epochs run): parameters,
    seconds an epoch and minutes a run (means), peak MiB (the largest); '-' for none."""
    per_epoch = statistics.fmean(t / max(1, e) for t, e in zip(seconds, epochs, strict=True))
    per_run = statistics.fmean(seconds) / 60
    return (
        f"{f'{parameters:,}' if parameters else '-'} | {per_epoch:.{1 if per_epoch >= 1 else 2}f} | "
        f"{per_run:.{1 if per_run >= 1 else 2}f} | " + (f"{max(peaks):,.0f} |" if peaks else "- |")
    )


def markdown_table(text: str, title: str) -> Table:
    """A markdown table (the lines starting with |) as a rich Table for the terminal."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    t = titled(title)
    header = [c.strip() for c in rows[0].strip().strip("|").split("|")]
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i == 0 else "right")
    for line in rows[2:]:
        t.add_row(*[c.strip().replace("\\*", "*") for c in line.strip().strip("|").split("|")])
    return t


def _same_value(a: str, b: str) -> bool:
    """CSV values equal as text or as numbers ('0' and '0.0')."""
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def keys_following(points: list[dict[str, Any]], key: str, keys: list[str]) -> list[str]:
    """Those of `keys` (KEY aside) whose value follows from KEY's over these points: one value for each value of
    KEY. Given KEY they are part of what a point is, not groups of their own (graph-type's gem, type and fields,
    given its variant): a comparison against a KEY value, or a figure along KEY, crosses them."""
    values: dict[str, dict[str, set[str]]] = {k: {} for k in keys if k != key}
    for p in points:
        for k, by in values.items():
            by.setdefault(str(p.get(key)), set()).add(str(p.get(k)))
    return [k for k, by in values.items() if all(len(v) == 1 for v in by.values())]


def sweep_comparison(root: Path, against: str) -> tuple[str, list[str]]:
    """Each point of a sweep against a reference point of its group, from the sweep's results.csv: the markdown
    table and notes.

    against = KEY=VALUE, KEY one of the sweep's point keys (embedder=gcn, gcn_dropout=0): a point's group is its
    values of the other keys (its base, in the embedder study), and its reference the group's point with KEY =
    VALUE; a key whose value follows from KEY's (graph-type's gem, type and fields, given its variant) is part of
    what is compared, not of the group. Per point: seeds, mean ± std of the task's two test metrics, the change of
    the first one's mean against the reference, and that change over the pooled seed spread,
    (mean - mean_ref) / sqrt((sd^2 + sd_ref^2) / 2): beyond ~2-3 in magnitude larger than seed noise explains; it
    needs 2 seeds on both sides. Also parameters, seconds an epoch, minutes a run and peak memory, as the sweep's
    own table.
    """
    import csv

    if "=" not in against:
        raise GemError(f"--against {against!r}: expected KEY=VALUE, e.g. embedder=gcn")
    key, value = (t.strip() for t in against.split("=", 1))
    path = rundir.verify(root / "results.csv")
    if not path.is_file():
        raise GemError(f"{path}: no results yet (no point of sweep {root.name} has finished)")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns = list(rows[0]) if rows else []
    if "seed" not in columns:
        raise GemError(f"{path}: no results yet (no point of sweep {root.name} has finished)")
    point_keys = columns[: columns.index("seed")]
    if key not in point_keys:
        raise GemError(f"--against {against!r}: {key!r} is not a key of sweep {root.name} ({', '.join(point_keys)})")
    a, b = [c[len("test_") :] for c in columns if c.startswith("test_")][:2]
    points: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for r in rows:
        points.setdefault(tuple(r[k] for k in point_keys), []).append(r)
    varied = [k for i, k in enumerate(point_keys) if len({p[i] for p in points}) > 1]
    following = keys_following([dict(zip(point_keys, p, strict=True)) for p in points], key, varied)
    shown = [k for k in varied if k not in following]  # the row labels: KEY and the group's keys
    others = [k for k in shown if k != key]  # the group's keys
    refs = {
        tuple(rs[0][k] for k in others): rs for rs in points.values() if _same_value(rs[0][key], value)
    }  # group (the other swept keys' values) -> the reference point's rows
    if not refs:
        raise GemError(f"--against {against!r}: no finished point of sweep {root.name} has {key}={value}")
    lines = [
        f"| {' '.join(shown) or key} | seeds | test {a.upper()} | test {b.upper()} | {a.upper()} vs {key}={value} "
        f"| change / seed sd | {COST_COLUMNS} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    if following:
        notes.append(f"{', '.join(following)} follow {key} (one value for each of its values): compared across them")
    for rs in points.values():
        label = " ".join(f"{k}={rs[0][k]}" for k in shown) or f"{key}={rs[0][key]}"
        first = [float(r[f"test_{a}"]) for r in rs]
        ref = refs.get(tuple(rs[0][k] for k in others))
        change, z = "reference", "-"
        if ref is None:
            change = "-"
            notes.append(f"{label}: no finished point with {key}={value} beside it")
        elif ref is not rs:
            ref_first = [float(r[f"test_{a}"]) for r in ref]
            change = f"{statistics.fmean(first) - statistics.fmean(ref_first):+.4f}"
            z = seed_sd_change(first, ref_first)
        peaks = [float(r["peak_rss_mib"]) for r in rs if r.get("peak_rss_mib")]
        seconds, epochs = [float(r["train_seconds"]) for r in rs], [int(r["epochs_run"] or 1) for r in rs]
        lines.append(
            f"| {label} | {len(rs)} | {fmt_mean_std(first)} | {fmt_mean_std([float(r[f'test_{b}']) for r in rs])} | "
            f"{change} | {z} | "
            + cost_cells(int(rs[0]["parameters"]) if rs[0].get("parameters") else None, seconds, epochs, peaks)
        )
    return "\n".join(lines) + "\n", notes + unfinished_points(root, {r.get("run") for r in rows})


def sweep_own_table(root: Path) -> tuple[str, list[str]]:
    """The sweep's results.md (as the sweep last wrote it) and a note on its unfinished points as they stand now."""
    import csv

    if not (root / "results.md").is_file() or not (root / "results.csv").is_file():
        raise GemError(f"{root}: no results yet (no point of sweep {root.name} has finished)")
    with rundir.verify(root / "results.csv").open(newline="") as f:
        done = {r.get("run") for r in csv.DictReader(f)}
    return rundir.verify(root / "results.md").read_text(), unfinished_points(root, done)


NOT_STARTED_EPOCH = "before its first epoch's end"  # a run folder whose first epoch has not ended


def unfinished_points(root: Path, done: set[str | None]) -> list[str]:
    """A note naming a sweep's point runs not among `done` (its results), each with how far it got: read from the
    points' folders now, so a sweep still training shows where each point stands."""
    from gemcli.runs import standing

    left = []
    for folder in rundir.listing(root / "points", "config.json"):
        if folder.name not in done:
            left.append(f"{folder.name} ({standing(folder) or NOT_STARTED_EPOCH})")
    record = rundir.read_json(root / "sweep.json") if (root / "sweep.json").is_file() else {}
    waiting = len(record.get("points", [])) * len(record.get("seeds", [])) - len(done - {None}) - len(left)
    if waiting > 0:
        left.append(f"{waiting} more not started")
    return [f"not finished, left out: {'; '.join(left)}"] if left else []
