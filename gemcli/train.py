"""The fit loop: batches cut from pre-built tensors, early stopping on validation RMSE, checkpoints, resume.

A run folder's layout and how it is read: gemcli/runs.py; how a model is built from its config:
gemcli/build.py. Here: the data splits on a device, one training step, the epochs, the checkpoints
(checkpoint.pt: the last epoch, for --resume; model.pt: the best epoch), summary.json and curves.png.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from gemcli import rundir
from gemcli.build import (
    build_model,
    count_parameters,
    data_signature,
    finalise_model,
    load_state,
    make_optimizer,
)
from gemcli.config import ModelConfig, RunConfig, TrainConfig
from gemcli.console import out
from gemcli.errors import GemError
from gemcli.metrics import regression_metrics
from gemcli.optim import RowSparseOptimizer
from gemcli.runs import (
    SAFE_NAME,
    ended_summary,
    load_checkpoint,
    read_metrics,
    read_run_config,
    resolve_run,
)

# ---------------------------------------------------------------- data


def load_split(run_dir: Path, split: str, meta: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(x int64[n, F] global feature ids, y float32[n]) of one encoded split, checked against the data's
    manifest; ids outside the feature range or labels that are not finite stop with one line."""
    path = rundir.verify(rundir.data_dir(run_dir) / f"{split}.parquet")
    try:
        frame = pl.read_parquet(path)
        x_np = frame.select(meta["fields"]).to_numpy().astype(np.int64)
        y_np = frame["label"].to_numpy().astype(np.float32)
    except Exception as e:  # polars raises its own errors for damaged files and missing columns
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GemError(
            f"{path}: cannot be read as the split of {rundir.data_dir(run_dir)}/meta.json ({first[:160]}); "
            "run `gem preprocess` again"
        ) from None
    if x_np.size and (x_np.min() < 0 or x_np.max() >= meta["n_features"]):
        raise GemError(
            f"{path}: feature ids outside 0..{meta['n_features'] - 1} (meta.json's n_features); run `gem preprocess` "
            "again"
        )
    if not np.isfinite(y_np).all():
        raise GemError(f"{path}: labels that are not finite numbers; run `gem preprocess` again")
    return torch.from_numpy(x_np), torch.from_numpy(y_np)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GemError(f"--device {name}: no CUDA device is available (use --device cpu or auto)")
    if name.startswith("cuda:") and name[5:].isdigit() and int(name[5:]) >= torch.cuda.device_count():
        raise GemError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA devices (cuda:0..)")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise GemError(f"--device {name!r}: expected auto, cpu or cuda")
    return torch.device(name)


# ---------------------------------------------------------------- model


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Raw scores [n] of the model in eval mode (GEM's table computed once per call)."""
    was = model.training
    model.eval()
    outs = [
        model(x[i : i + batch_size].to(device, non_blocking=True)).float().cpu() for i in range(0, len(x), batch_size)
    ]
    model.train(was)
    return torch.cat(outs) if outs else torch.empty(0)


def l2_penalty(model: torch.nn.Module, skip: list[torch.nn.Parameter] | None = None) -> torch.Tensor:
    """||Theta||^2 over trainable parameters, except `skip` (row-sparse tables: their L2 is applied lazily)."""
    skipped = {id(p) for p in skip or []}
    return sum(p.square().sum() for p in model.parameters() if p.requires_grad and id(p) not in skipped)  # type: ignore[return-value]


def train_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor, tcfg: TrainConfig
) -> torch.Tensor:
    """One step of square loss (+ lambda ||Theta||^2); returns the batch's summed squared error (detached)."""
    se = (model(xb) - yb).square()
    loss = se.sum() if tcfg.loss_reduction == "sum" else se.mean()
    if tcfg.l2 > 0:
        sparse_tables = optimizer.tables if isinstance(optimizer, RowSparseOptimizer) else None
        loss = loss + tcfg.l2 * l2_penalty(model, sparse_tables)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return se.detach().sum()


# ---------------------------------------------------------------- checkpoints


def _atomic_save(obj: Any, path: Path) -> None:
    rundir.atomic_write(path, lambda tmp: torch.save(obj, tmp))


def _state_cpu(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- the fit loop


def new_run_name(mcfg: ModelConfig, seed: int) -> str:
    prefix = {"lookup": "", "gcn": "gem-"}.get(mcfg.embedder, f"{mcfg.embedder}-")
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{prefix}{mcfg.base}-s{seed}"


def fit(
    run_dir: Path,
    cfg: RunConfig | None = None,
    *,
    resume: Path | None = None,
    quiet: bool = False,
    folder: Path | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train (or resume) one run; returns its summary. One command at a time per run folder (a lock file
    .NAME.lock beside it): a second one stops with one line.

    folder: where the run's artifacts go (default RUN_DIR/models/NAME; sweeps put theirs in the sweep).
    threads: torch's CPU threads, as set by the caller (shown in the header line).
    """
    if resume is None and folder is None and cfg is not None and cfg.name and not SAFE_NAME.fullmatch(cfg.name):
        raise GemError(
            f"--name {cfg.name!r}: use letters, digits and . _ = + - only (one folder under {run_dir}/models)"
        )
    target = resume if resume is not None else folder
    if target is None and cfg is not None and cfg.name:
        target = Path(run_dir) / "models" / cfg.name
    if target is None:  # a default name, made unique by its time stamp
        return _fit(run_dir, cfg, resume=resume, quiet=quiet, folder=folder, threads=threads)
    with rundir.locked(Path(target).parent / f".{Path(target).name}.lock", f"run {Path(target).name}"):
        return _fit(run_dir, cfg, resume=resume, quiet=quiet, folder=folder, threads=threads)


def _fit(
    run_dir: Path,
    cfg: RunConfig | None,
    *,
    resume: Path | None,
    quiet: bool,
    folder: Path | None,
    threads: int | None,
) -> dict[str, Any]:
    meta = rundir.read_meta(run_dir)
    if resume is not None:
        cfg = read_run_config(resume)
        folder = resume
        ended = ended_summary(folder)
        if ended is not None:
            raise GemError(f"run {folder.name} has ended already ({ended['status']}); nothing to resume")
        rundir.clean_temporaries(folder)
        if not (folder / "checkpoint.pt").is_file():  # stopped before its first epoch ended: start it again
            if not quiet:
                out.print(f"run {folder.name} had not finished an epoch; starting it again", highlight=False)
            shutil.rmtree(folder)
            resume = None
    assert cfg is not None
    tcfg, mcfg = cfg.train, cfg.model
    if cfg.data and cfg.data["dataset_id"] != meta["dataset_id"]:
        raise GemError(f"run {cfg.name} was trained on other data than {run_dir}/data")
    if tcfg.loss_reduction not in ("sum", "mean"):
        raise GemError(f"--loss-reduction {tcfg.loss_reduction!r}: expected sum or mean")
    device = resolve_device(tcfg.device)
    torch.manual_seed(tcfg.seed)
    cfg.model = mcfg = finalise_model(run_dir, mcfg, meta)
    model = build_model(run_dir, mcfg, meta).to(device)
    optimizer = make_optimizer(model, tcfg, bool(mcfg.sparse))
    cfg.data = data_signature(meta)
    lo, hi = meta["label_range"]

    x_tr, y_tr = load_split(run_dir, "train", meta)
    x_va, y_va = load_split(run_dir, "valid", meta)
    x_te, y_te = load_split(run_dir, "test", meta)
    x_tr_dev, y_tr_dev = x_tr.to(device), y_tr.to(device)

    start_epoch, best, best_epoch, bad, history, best_state = 1, float("inf"), 0, 0, [], None
    train_seconds = 0.0
    if resume is not None:
        assert folder is not None
        ck_path = folder / "checkpoint.pt"
        ck = load_checkpoint(rundir.verify(ck_path), device)
        load_state(model, ck["model"], ck_path)
        try:
            optimizer.load_state_dict(ck["optimizer"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            raise GemError(f"{ck_path}: its optimiser state does not fit the run's config ({str(e)[:160]})") from None
        (folder / "manifest.json").unlink(missing_ok=True)  # files change from here; a new manifest comes at the end
        torch.set_rng_state(ck["rng"])
        start_epoch, best, best_epoch, bad = ck["epoch"] + 1, ck["best_score"], ck["best_epoch"], ck["bad_epochs"]
        best_state, train_seconds = ck["best_state"], ck["train_seconds"]
        history = read_metrics(folder)[: ck["epoch"]]
        if len(history) < ck["epoch"]:
            raise GemError(
                f"{folder / 'metrics.jsonl'}: {len(history)} epochs, but the checkpoint is at epoch {ck['epoch']}; "
                "the run cannot be resumed (start it again under another --name)"
            )
    else:
        cfg.name = cfg.name or new_run_name(mcfg, tcfg.seed)
        folder = folder or Path(run_dir) / "models" / cfg.name
        if folder.exists():
            raise GemError(f"run {folder} exists already; choose another --name or use --resume")
        folder.mkdir(parents=True)
        rundir.atomic_write_json(folder / "config.json", cfg.to_dict())
    assert folder is not None
    n_params = count_parameters(model)
    n, bs = len(y_tr), tcfg.batch_size
    n_batches = (n + bs - 1) // bs
    status = "running"
    if not quiet:
        out.print(
            f"[b]{escape(cfg.name)}[/b]: {escape(mcfg.label)} on {meta.get('dataset')} ({n:,} train), "
            f"{n_params:,} parameters, {tcfg.optimizer} lr {tcfg.lr}, batch {bs}, device {device}"
            + (f", {threads} thread{'s' if threads > 1 else ''}" if threads and device.type == "cpu" else "")
        )
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        transient=True,
        console=out,
        disable=quiet,
    )
    epoch = start_epoch - 1
    diverged = False
    try:
        with progress:
            overall = progress.add_task(
                "epochs", total=tcfg.epochs, completed=start_epoch - 1, info=f"at most; patience {tcfg.patience}"
            )
            task = progress.add_task(f"epoch {start_epoch}", total=n_batches, info="loss -")
            last = tcfg.epochs if bad < tcfg.patience else start_epoch - 1  # killed in its final steps: none left
            for epoch in range(start_epoch, last + 1):
                model.train()
                perm = torch.from_numpy(np.random.default_rng([tcfg.seed, epoch]).permutation(n)).to(device)
                progress.reset(task, total=n_batches, description=f"epoch {epoch}", info="loss -")
                t0 = time.perf_counter()
                total_se = torch.zeros((), device=device)
                for b in range(n_batches):
                    idx = perm[b * bs : (b + 1) * bs]
                    total_se += train_step(model, optimizer, x_tr_dev[idx], y_tr_dev[idx], tcfg)
                    if b % 8 == 7 or b == n_batches - 1:
                        progress.update(
                            task, completed=b + 1, info=f"loss {float(total_se) / min(n, (b + 1) * bs):.4f}"
                        )
                if device.type == "cuda":
                    torch.cuda.synchronize()
                train_seconds += time.perf_counter() - t0
                va = regression_metrics(predict(model, x_va, tcfg.eval_batch_size, device), y_va, lo, hi)
                te = regression_metrics(predict(model, x_te, tcfg.eval_batch_size, device), y_te, lo, hi)
                row = {
                    "epoch": epoch,
                    "train_mse": float(total_se) / n,
                    **{f"valid_{k}": v for k, v in va.items()},
                    **{f"test_{k}": v for k, v in te.items()},
                    "seconds": round(time.perf_counter() - t0, 3),
                }
                history.append(row)
                if not (math.isfinite(row["train_mse"]) and math.isfinite(va["rmse_unclipped"])):
                    diverged = True  # nothing after a non-finite loss is worth keeping or checkpointing
                    rundir.atomic_write_text(folder / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
                    break
                improved = va["rmse"] < best
                if improved:
                    best, best_epoch, bad = va["rmse"], epoch, 0
                    best_state = _state_cpu(model)
                    _atomic_save(
                        {
                            "model": best_state,
                            "optimizer": optimizer.state_dict(),
                            "epoch": epoch,
                            "best_score": best,
                            "config": cfg.to_dict(),
                        },
                        folder / "model.pt",
                    )
                else:
                    bad += 1
                rundir.atomic_write_text(folder / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
                _atomic_save(
                    {
                        "model": _state_cpu(model),
                        "optimizer": optimizer.state_dict(),
                        "epoch": epoch,
                        "best_score": best,
                        "best_epoch": best_epoch,
                        "bad_epochs": bad,
                        "best_state": best_state,
                        "rng": torch.get_rng_state(),
                        "train_seconds": train_seconds,
                    },
                    folder / "checkpoint.pt",
                )
                if not quiet:
                    progress.console.print(
                        f"epoch {epoch:3d}  train mse {row['train_mse']:.4f}  valid rmse {va['rmse']:.4f} "
                        f"mae {va['mae']:.4f}  test rmse {te['rmse']:.4f} mae {te['mae']:.4f}  "
                        f"{row['seconds']:.1f}s{'  *' if improved else ''}",
                        highlight=False,
                    )
                progress.advance(overall)
                if bad >= tcfg.patience:
                    break
        status = "diverged" if diverged else "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        if not quiet:
            out.print(
                f"[yellow]interrupted after epoch {epoch}[/yellow]; resume with "
                f"`gem train --resume --run {cfg.name}`" + (f" --run-dir {run_dir}" if run_dir else ""),
                highlight=False,
                soft_wrap=True,
            )
    if status == "finished":  # the figure first: a run is "finished" only once everything it leaves is there
        plot_curves(folder, history, cfg.model.label, best_epoch)
    summary = write_summary(folder, cfg, history, best_epoch, n_params, train_seconds, n, status, device)
    if status in ("finished", "diverged"):
        (folder / "checkpoint.pt").unlink(missing_ok=True)
    inputs: dict[str, Path | str] = {"train.parquet": rundir.data_dir(run_dir) / "train.parquet"}
    if mcfg.gem and mcfg.graph:
        inputs["adjacency.npz"] = Path(run_dir) / "graphs" / mcfg.graph / "adjacency.npz"
    if mcfg.pretrain:
        inputs["pretrain model.pt"] = resolve_run(run_dir, mcfg.pretrain) / "model.pt"
    rundir.write_manifest(
        folder, stage="train", options=cfg.to_dict(), seed=tcfg.seed, inputs=inputs, extra={"status": status}
    )
    if status == "finished":
        if not quiet:
            out.print(
                f"best epoch {best_epoch}: test rmse {summary['test_rmse']:.4f} mae {summary['test_mae']:.4f} "
                f"(valid rmse {summary['valid_rmse']:.4f}); {summary['samples_per_s']:,.0f} samples/s; "
                f"saved {folder}",
                highlight=False,
                soft_wrap=True,
            )
            if best_epoch >= tcfg.epochs:
                out.print(
                    f"note: the best epoch is the last allowed (--epochs {tcfg.epochs}): the run was still "
                    "improving; more epochs may do better",
                    highlight=False,
                    soft_wrap=True,
                )
    return summary


def fit_or_resume(run_dir: Path, cfg: RunConfig, folder: Path, quiet: bool = False) -> dict[str, Any]:
    """Bring the run in `folder` to its end: skip it if finished, resume it if interrupted, else train it
    (a folder left before its first epoch ended is started again). Sweeps and `report --run-missing`."""
    done = ended_summary(folder)
    if done is not None:
        return done
    if (Path(folder) / "checkpoint.pt").is_file():
        return fit(run_dir, resume=Path(folder), quiet=quiet)
    if Path(folder).exists():
        shutil.rmtree(folder)
    return fit(run_dir, cfg, quiet=quiet, folder=Path(folder))


def write_summary(
    folder: Path,
    cfg: RunConfig,
    history: list[dict],
    best_epoch: int,
    n_params: int,
    train_seconds: float,
    n: int,
    status: str,
    device: torch.device,
) -> dict[str, Any]:
    best_row = next((r for r in history if r["epoch"] == best_epoch), None)
    epochs_run = len(history)
    summary = {
        "name": cfg.name,
        "model": cfg.model.label,
        "base": cfg.model.base,
        "gem": cfg.model.gem,
        "embedder": cfg.model.embedder,
        "seed": cfg.train.seed,
        "status": status,
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        **({k: best_row[k] for k in best_row if k.startswith(("valid_", "test_"))} if best_row else {}),
        "parameters": n_params,
        "train_seconds": round(train_seconds, 3),
        "samples_per_s": round(n * epochs_run / train_seconds, 1) if train_seconds > 0 else None,
        "device": str(device),
        "torch": torch.__version__,
        "config": {"model": asdict(cfg.model), "train": asdict(cfg.train)},
    }
    rundir.atomic_write_json(folder / "summary.json", summary)
    return summary


def plot_curves(folder: Path, history: list[dict], label: str, best_epoch: int | None = None) -> None:
    """curves.png: RMSE and MAE per epoch, valid and test (the paper's Figures 3-4), the best epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, ("rmse", "mae"), strict=True):
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
    rundir.save_figure(fig, folder / "curves.png")
