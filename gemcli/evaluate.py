"""`gem evaluate`: a run's best weights on a split or a libfm file, scored by the run's task (RMSE/MAE for
regression, AUC/logloss for binary)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gemcli.errors import GemError
from gemcli.meta import DataMeta
from gemcli.metrics import classification_metrics
from gemcli.tasks import get_task, resolve_task


def evaluate_run(run_dir: Path, *, run: str | None, split: str, libfm: Path | None, device: str) -> dict[str, Any]:
    """Load a run's best weights, predict a split (or a libfm file), write metrics to the run's eval.json."""
    from gemcli import rundir
    from gemcli.build import load_trained
    from gemcli.runs import resolve_run
    from gemcli.train import load_split, predict, resolve_device

    if split not in ("test", "valid"):
        raise GemError(f"--split {split!r}: expected test or valid")
    folder = resolve_run(run_dir, run)
    meta = rundir.read_meta(run_dir)
    dev = resolve_device(device)
    model, cfg, ck = load_trained(run_dir, folder, meta)
    model.to(dev)
    if libfm is not None:
        x, y = libfm_through_vocab(Path(libfm), meta)
        on = str(libfm)
    else:
        x, y = load_split(run_dir, split, meta)
        on = split
    task = get_task(resolve_task(cfg.train.task, meta.task))
    task.check_labels(y.numpy(), on)
    pred = task.predictions(predict(model, x, cfg.train.eval_batch_size, dev))
    metrics = task.evaluate(pred, y, meta.label_range)
    if task.name == "regression" and set(np.unique(y.numpy()).tolist()) <= {0.0, 1.0}:
        metrics.update(classification_metrics(pred, y))  # a regression run on 0/1 labels: its scores ranked too
    res = {
        "run": folder.name,
        "model": cfg.model.label,
        "task": task.name,
        "on": on,
        "instances": len(y),
        "best_epoch": ck["epoch"],
        "metrics": metrics,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = folder / "eval.json"
    allres = rundir.read_json(path) if path.is_file() else {}
    allres[on] = res
    rundir.atomic_write_json(path, allres)
    return res


def libfm_through_vocab(path: Path, meta: DataMeta) -> tuple[torch.Tensor, torch.Tensor]:
    """A libfm file mapped through the run's vocabulary (libfm imports: raw index -> global id)."""
    from gemcli.data.libfm import parse_file

    y, idx, linenos = parse_file(path)
    fields = meta.fields
    if idx.shape[1] != len(fields):
        raise GemError(f"{path}: {idx.shape[1]} features per line, but the run's data has {len(fields)} fields")
    x = np.empty_like(idx)
    for j, f in enumerate(fields):
        vocab = meta.vocab[f]
        keys = np.array([int(k) for k in vocab]) if meta.dataset == "libfm" else None
        if keys is None:
            raise GemError(f"--libfm needs a run directory made by `gem preprocess libfm` (this one is {meta.dataset})")
        ids = np.array(list(vocab.values()))
        order = np.argsort(keys)
        pos = np.searchsorted(keys[order], idx[:, j])
        pos = np.minimum(pos, len(keys) - 1)
        bad = keys[order][pos] != idx[:, j]
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise GemError(
                f"{path}: line {linenos[i]}: feature index {idx[i, j]} is not in the run's vocabulary for field {f}"
            )
        x[:, j] = ids[order][pos]
    return torch.from_numpy(x), torch.from_numpy(y)
