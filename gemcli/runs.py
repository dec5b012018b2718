"""Model runs on disk: listing, resolving a name, reading what a run folder holds (config, metrics,
checkpoints, summaries). Shared by training, evaluation, reports and sweeps; builds no model.

RUN_DIR/models/NAME/ holds config.json, metrics.jsonl (a row per epoch), checkpoint.pt (the last epoch,
while unfinished), model.pt (the best epoch), summary.json, curves.png, eval.json and manifest.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from gemcli import rundir
from gemcli.config import RunConfig
from gemcli.errors import ChangedFile, GemError


def list_runs(run_dir: Path) -> list[Path]:
    """Model runs of a run directory, oldest first (by the time config.json was written)."""
    return rundir.listing(Path(run_dir) / "models", "config.json")


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]*")  # one path component, never .. or hidden

STAMP = re.compile(r"^\d{8}-\d{6}-")  # the time stamp in front of default run names


def short_name(name: str) -> str:
    """A run's name without the time stamp of default names: 20261128-231500-gem-fm-s0 -> gem-fm-s0."""
    return STAMP.sub("", name)


def resolve_run(run_dir: Path, run: str | None, finished: bool = True) -> Path:
    """A run by name, path or short name (its name without the time stamp: `fm-s0`), else the latest
    (finished) one. A short name that several runs share is refused, naming them."""
    if run:
        if "/" in run or run.startswith("."):  # a path, given as one
            if (Path(run) / "config.json").is_file():
                return Path(run)
            raise GemError(f"{run}: no run there (no config.json)")
        if (Path(run_dir) / "models" / run / "config.json").is_file():
            return Path(run_dir) / "models" / run
        matches = [r for r in list_runs(run_dir) if short_name(r.name) == run]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise GemError(
                f"run {run!r} is ambiguous in {run_dir}/models: {', '.join(m.name for m in matches)}; "
                "give the full name"
            )
        raise GemError(f"no such run {run!r} in {run_dir}/models; `gem runs` lists them")
    runs = [r for r in list_runs(run_dir) if not finished or finished_summary(r) is not None]
    if not runs:
        raise GemError(f"{run_dir}: no finished run; run `gem train --base fm` first (`gem runs` lists the runs)")
    return runs[-1]


ENDED = ("finished", "diverged", "pruned")  # a run with one of these statuses is over: nothing to resume


def ended_summary(folder: Path) -> dict[str, Any] | None:
    """The summary of a run in `folder` that has ended (finished, diverged, or pruned by a search), else None."""
    path = Path(folder) / "summary.json"
    if path.is_file():
        summary: dict[str, Any] = rundir.read_verified_json(path)
        if summary.get("status") in ENDED:
            return summary
    return None


def finished_summary(folder: Path) -> dict[str, Any] | None:
    """The summary of a finished run in `folder`, else None."""
    path = Path(folder) / "summary.json"
    if path.is_file():
        summary: dict[str, Any] = rundir.read_verified_json(path)
        if summary.get("status") == "finished":
            return summary
    return None


def read_run_config(folder: Path) -> RunConfig:
    """A run's config.json (checked against its manifest when it has one); one line when it is not one."""
    path = rundir.verify(Path(folder) / "config.json")
    try:
        return RunConfig.from_dict(rundir.read_json(path))
    except (KeyError, TypeError, AttributeError) as e:
        raise GemError(f"{path}: not a gemcli run config (missing or wrong {e})") from None


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    """metrics.jsonl: one JSON object per epoch; a line that is not one stops with the file and line."""
    path = Path(folder) / "metrics.jsonl"
    if not path.is_file():
        return []
    rundir.verify(path)
    rows = []
    for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise GemError(f"{path}: line {i}: not a JSON record of an epoch") from None
        if not isinstance(row, dict) or "epoch" not in row:
            raise GemError(f"{path}: line {i}: not a JSON record of an epoch")
        rows.append(row)
    return rows


def progress(folder: Path) -> str | None:
    """How far an unfinished run got, from its metrics.jsonl and config.json: 'epoch 12 of at most 100, best 11: valid
    rmse 0.3051'; None before its first epoch ended (or when its files cannot be read)."""
    from gemcli.tasks import higher_is_better

    try:
        rows = read_metrics(folder)
        train = rundir.read_verified_json(Path(folder) / "config.json")["train"]
    except ChangedFile:
        raise
    except (GemError, KeyError, TypeError):
        return None
    monitor = train.get("monitor", "auto")
    if monitor == "auto":  # saved before the task decided it
        monitor = "auc" if train.get("task") == "binary" else "rmse"
    scored = [r for r in rows if isinstance(r.get(f"valid_{monitor}"), (int, float))]
    if not scored:
        return None
    pick = max if higher_is_better(monitor) else min
    best = pick(scored, key=lambda r: r[f"valid_{monitor}"])
    return (
        f"epoch {rows[-1]['epoch']} of at most {train.get('epochs', '?')}, best {best['epoch']}: "
        f"valid {monitor} {best[f'valid_{monitor}']:.4f}"
    )


def standing(folder: Path) -> str | None:
    """Where a run that has not finished stands: its status when it ended otherwise (diverged, pruned), else how
    far it got (`progress`); None before its first epoch ended."""
    ended = ended_summary(folder)
    if ended is not None and ended.get("status") != "finished":
        return str(ended["status"])
    return progress(folder)


def load_checkpoint(path: Path, device: torch.device | str) -> dict[str, Any]:
    """A model.pt / checkpoint.pt as data: tensors and plain values only (weights_only: nothing in the
    file is executed). Anything else, or a damaged file, is one line naming the file."""
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise GemError(f"{path}: not found") from None
    except Exception as e:  # UnpicklingError for code in the file, RuntimeError/EOFError for damage
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GemError(f"{path}: not a gemcli checkpoint that can be read as data ({first[:160]})") from None
    if not isinstance(ck, dict) or "model" not in ck:
        raise GemError(f"{path}: not a gemcli checkpoint (no model state)")
    return ck
