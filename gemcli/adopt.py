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

Only the coordinators that train what is missing adopt (`gem sweep`, `gem report table1 --run-missing`), each
with `--no-adopt` to train anyway; `gem train` always trains. Searches never adopt: a trial's pruner must see its
epochs.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from gemcli import __version__, rundir
from gemcli.config import RunConfig, config_key
from gemcli.console import out
from gemcli.errors import GemError
from gemcli.runs import finished_summary

RUN_FOLDERS = ("models/*", "sweeps/*/points/*", "tune/*/trials/*")  # where a run directory keeps runs


def minor(version: str) -> str:
    """0.4.2 -> 0.4: a minor version may change what a config computes, a patch does not."""
    return ".".join(str(version).split(".")[:2])


def signature(cfg: dict[str, Any]) -> str:
    """What a twin must share with the run asked for: the experiment (config_key), the seed and the data."""
    return json.dumps(
        {
            "experiment": config_key(cfg),
            "seed": cfg["train"].get("seed"),
            "data": (cfg.get("data") or {}).get("dataset_id"),
        },
        sort_keys=True,
        default=str,
    )


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


def finished_runs(run_dir: Path) -> dict[str, Path]:
    """signature -> a finished run of this gemcli's minor version, not itself adopted (of several twins the first
    found: models/, then sweeps' points, then search trials, each in name order)."""
    found: dict[str, Path] = {}
    for pattern in RUN_FOLDERS:
        for folder in sorted(Path(run_dir).glob(pattern)):
            summary = finished_summary(folder) if (folder / "config.json").is_file() else None
            if summary is None or summary.get("adopted_from"):
                continue
            try:
                version = rundir.read_json(folder / "manifest.json")["versions"]["gemcli"]
                key = signature(rundir.read_json(rundir.verify(folder / "config.json")))
            except (OSError, ValueError, KeyError, TypeError, GemError):
                continue  # an unreadable run is not a twin; it is never a reason to stop
            if minor(version) == minor(__version__):
                found.setdefault(key, folder)
    return found


def adopt(run_dir: Path, twin: Path, folder: Path) -> dict[str, Any]:
    """Copy the finished run `twin` into `folder` (staged, then one rename) under the folder's name."""
    source = str(Path(twin).relative_to(run_dir))
    with rundir.staged_dir(folder) as tmp:
        for f in Path(twin).iterdir():
            if f.is_file() and not f.name.startswith("."):
                rundir.verify(f)
                shutil.copy2(f, tmp / f.name)
        config = rundir.read_json(tmp / "config.json")
        summary = rundir.read_json(tmp / "summary.json")
        config["name"] = summary["name"] = folder.name
        summary["adopted_from"] = source
        rundir.atomic_write_json(tmp / "config.json", config)
        rundir.atomic_write_json(tmp / "summary.json", summary)
        manifest = rundir.read_json(tmp / "manifest.json")
        for name in ("config.json", "summary.json"):
            manifest["outputs"][name] = rundir.sha256_file(tmp / name)
            manifest.setdefault("output_sizes", {})[name] = (tmp / name).stat().st_size
        manifest["adopted_from"] = source
        manifest["adopted_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        manifest["adopted_by"] = f"gemcli {__version__}"
        rundir.atomic_write_json(tmp / "manifest.json", manifest)
    return summary


def adopt_twins(run_dir: Path, todo: list[tuple[RunConfig, Path]]) -> list[tuple[RunConfig, Path]]:
    """Adopt a finished twin for each (config, folder) not started yet; the ones left to train, in order."""
    index: dict[str, Path] | None = None
    left = []
    for cfg, folder in todo:
        if Path(folder).exists():  # started (or being trained): resumed, never replaced
            left.append((cfg, folder))
            continue
        index = finished_runs(run_dir) if index is None else index
        twin = index.get(signature(wanted(run_dir, cfg)))
        if twin is None:
            left.append((cfg, folder))
            continue
        with rundir.locked(rundir.run_lock(folder), f"run {Path(folder).name}"):  # as training takes it
            if Path(folder).exists():  # another command started it meanwhile
                left.append((cfg, folder))
                continue
            summary = adopt(run_dir, twin, Path(folder))
        out.print(
            f"{Path(folder).name}: adopted {twin.relative_to(run_dir)} (same config, seed and data, finished; "
            f"best epoch {summary.get('best_epoch')}), not trained again",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    return left
