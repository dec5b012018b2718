"""Twins: a run asked for under one name that already finished under another, adopted instead of trained again.

A sweep's point or a Table 1 run is a config and a seed. When the same run directory holds a finished run of
the same experiment (`config.config_key`: the model and training configs), the same seed, on the same data
(dataset_id), and trained by the same minor version of gemcli, training it again would only repeat it: on one
device a config and seed give the same numbers (the embedder study's FM points reproduced Table 1's FM runs to the
last digit). Such a twin is copied into the asked-for folder instead:

    twin/  config.json summary.json model.pt metrics.jsonl curves.png manifest.json ...
      └─copy─▶ folder/  the same files; config.json and summary.json carry the new name, summary.json and
                        manifest.json `adopted_from` (the twin, relative to the run directory); the manifest
                        keeps the command that trained it and lists the rewritten files' new digests

A twin may also differ in its epoch cap alone, when the cap never mattered to it: it ended by early stopping (its
last `patience` epochs brought no better validation score) after no more epochs than the cap asked for now, and no
step depended on the cap (the cosine schedule reads it). Under the asked cap it would have taken the same steps and
stopped at the same epoch, so it is adopted as that run: its config.json carries the asked cap, and summary.json
and manifest.json `adopted_epoch_cap`, the cap it was trained under. Raising a study's cap so that its capped points
go on therefore retrains only the points that reached the old cap.

Only the coordinators that train what is missing adopt (`gem sweep`, `gem report table1 --run-missing`), each
with `--no-adopt` to train anyway; `gem train` always trains. Searches never adopt: a trial's pruner must see its
epochs.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gemcli import __version__, rundir
from gemcli.config import RunConfig, config_key, describe_diff, differing
from gemcli.console import out
from gemcli.errors import GemError
from gemcli.runs import finished_summary

RUN_FOLDERS = ("models/*", "sweeps/*/points/*", "tune/*/trials/*")  # where a run directory keeps runs


def minor(version: str) -> str:
    """0.4.2 -> 0.4: a minor version may change what a config computes, a patch does not."""
    return ".".join(str(version).split(".")[:2])


def _signature(cfg: dict[str, Any], experiment: dict[str, Any]) -> str:
    return json.dumps(
        {"experiment": experiment, "seed": cfg["train"].get("seed"), "data": (cfg.get("data") or {}).get("dataset_id")},
        sort_keys=True,
        default=str,
    )


def signature(cfg: dict[str, Any]) -> str:
    """What a twin must share with the run asked for: the experiment (config_key), the seed and the data."""
    return _signature(cfg, config_key(cfg))


def signature_any_cap(cfg: dict[str, Any]) -> str | None:
    """signature() without the epoch cap; None when the cap decides steps (the cosine schedule)."""
    experiment = config_key(cfg)
    train = experiment["train"]
    if train.get("lr_schedule", "none") == "cosine":
        return None
    return _signature(cfg, {**experiment, "train": {k: v for k, v in train.items() if k != "epochs"}})


@dataclass(frozen=True)
class Twin:
    """A finished run that may stand in for one asked for."""

    folder: Path
    exact: str  # its signature
    any_cap: str | None  # its signature without the epoch cap, when the cap never mattered to it (else None)
    epochs_run: int


def stopped_early(cfg: dict[str, Any], summary: dict[str, Any]) -> bool:
    """Whether a finished run ended by early stopping: its last `patience` epochs brought no better score."""
    try:
        patience = int(cfg["train"]["patience"])
        return patience > 0 and int(summary["epochs_run"]) - int(summary["best_epoch"]) >= patience
    except (KeyError, TypeError, ValueError):
        return False


def wanted(run_dir: Path, cfg: RunConfig) -> dict[str, Any]:
    """The config a run of `cfg` would save in its config.json (what the data decides filled in)."""
    from gemcli.build import data_signature, finalise_model, finalise_train

    meta = rundir.read_meta(run_dir)
    return replace(
        cfg,
        model=finalise_model(run_dir, cfg.model, meta),
        train=finalise_train(cfg.train, meta),
        data=data_signature(meta),
    ).to_dict()


def config_changes(run_dir: Path, cfg: RunConfig, folder: Path) -> str | None:
    """How the run saved in `folder` differs in its experiment (config_key) from what `cfg` would save now, in
    words ("lr saved 0.01, asked 0.05; ..."), or None when it is the same run."""
    saved = rundir.read_json(folder / "config.json")  # any difference (even an edit): not the same run
    diffs = differing(config_key(saved), config_key(wanted(run_dir, cfg)))
    return describe_diff(diffs) if diffs else None


def finished_runs(run_dir: Path) -> list[Twin]:
    """The finished runs of this gemcli's minor version, not themselves adopted, in the order they are preferred:
    models/, then sweeps' points, then search trials, each in name order."""
    found: list[Twin] = []
    for pattern in RUN_FOLDERS:
        for folder in sorted(Path(run_dir).glob(pattern)):
            summary = finished_summary(folder) if (folder / "config.json").is_file() else None
            if summary is None or summary.get("adopted_from"):
                continue
            try:
                version = rundir.read_json(folder / "manifest.json")["versions"]["gemcli"]
                cfg = rundir.read_json(rundir.verify(folder / "config.json"))
                twin = Twin(
                    folder,
                    signature(cfg),
                    signature_any_cap(cfg) if stopped_early(cfg, summary) else None,
                    int(summary["epochs_run"]),
                )
            except (OSError, ValueError, KeyError, TypeError, GemError):
                continue  # an unreadable run is not a twin; it is never a reason to stop
            if minor(version) == minor(__version__):
                found.append(twin)
    return found


def find_twin(twins: list[Twin], want: dict[str, Any]) -> Twin | None:
    """The twin of the run whose config is `want`: one of the same config first, else one the cap never mattered to."""
    exact, any_cap, cap = signature(want), signature_any_cap(want), int(want["train"]["epochs"])
    same = [t for t in twins if t.exact == exact]
    capped = [t for t in twins if any_cap is not None and t.any_cap == any_cap and t.epochs_run <= cap]
    return next(iter(same + capped), None)


def adopt(run_dir: Path, twin: Path, folder: Path, epochs: int | None = None) -> dict[str, Any]:
    """Copy the finished run `twin` into `folder` (staged, then one rename) under the folder's name; with `epochs`,
    a twin the cap never mattered to, as the run under a cap of `epochs` (module docstring)."""
    source = str(Path(twin).relative_to(run_dir))
    with rundir.staged_dir(folder) as tmp:
        for f in Path(twin).iterdir():
            if f.is_file() and not f.name.startswith("."):
                rundir.verify(f)
                shutil.copy2(f, tmp / f.name)
        config = rundir.read_json(tmp / "config.json")
        summary: dict[str, Any] = rundir.read_json(tmp / "summary.json")
        config["name"] = summary["name"] = folder.name
        summary["adopted_from"] = source
        cap = config["train"]["epochs"]
        if epochs is not None and epochs != cap:
            config["train"]["epochs"] = epochs
            if isinstance(summary.get("config"), dict):
                summary["config"]["train"]["epochs"] = epochs
            summary["adopted_epoch_cap"] = cap
        rundir.atomic_write_json(tmp / "config.json", config)
        rundir.atomic_write_json(tmp / "summary.json", summary)
        manifest = rundir.read_json(tmp / "manifest.json")
        for name in ("config.json", "summary.json"):
            manifest["outputs"][name] = rundir.sha256_file(tmp / name)
            manifest.setdefault("output_sizes", {})[name] = (tmp / name).stat().st_size
        manifest["adopted_from"] = source
        if "adopted_epoch_cap" in summary:
            manifest["adopted_epoch_cap"] = summary["adopted_epoch_cap"]
        manifest["adopted_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        manifest["adopted_by"] = f"gemcli {__version__}"
        rundir.atomic_write_json(tmp / "manifest.json", manifest)
    return summary


def adopt_twins(run_dir: Path, todo: list[tuple[RunConfig, Path]]) -> list[tuple[RunConfig, Path]]:
    """Adopt a finished twin for each (config, folder) not started yet; the ones left to train, in order."""
    twins: list[Twin] | None = None
    left = []
    for cfg, folder in todo:
        if Path(folder).exists():  # started (or being trained): resumed, never replaced
            left.append((cfg, folder))
            continue
        twins = finished_runs(run_dir) if twins is None else twins
        want = wanted(run_dir, cfg)
        twin = find_twin(twins, want)
        if twin is None:
            left.append((cfg, folder))
            continue
        with rundir.locked(rundir.run_lock(folder), f"run {Path(folder).name}"):  # as training takes it
            if Path(folder).exists():  # another command started it meanwhile
                left.append((cfg, folder))
                continue
            summary = adopt(run_dir, twin.folder, Path(folder), epochs=int(want["train"]["epochs"]))
        if "adopted_epoch_cap" in summary:
            why = (
                f"the same config but for its epoch cap, {summary['adopted_epoch_cap']}, which it never reached: "
                f"early stopping ended it after epoch {summary.get('epochs_run')}, as it would under "
                f"{want['train']['epochs']}"
            )
        else:
            why = "same config, seed and data, finished"
        out.print(
            f"{Path(folder).name}: adopted {twin.folder.relative_to(run_dir)} ({why}; best epoch "
            f"{summary.get('best_epoch')}), not trained again",
            highlight=False,
            soft_wrap=True,
        )
    return left
