"""The fit loop: batches cut from pre-built tensors, early stopping on a validation metric (the task's: RMSE for
regression, AUC for binary; --monitor), checkpoints, resume.

A run folder's layout and how it is read: gemcli/runs.py; how a model is built from its config:
gemcli/build.py. Here: the data splits on a device, one training step, the epochs, the checkpoints
(checkpoint.pt: the last epoch, for --resume; model.pt: the best epoch), summary.json and curves.png.
"""

from __future__ import annotations

import contextlib
import json
import math
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.text import Text

from gemcli import rundir
from gemcli.build import (
    build_model,
    count_parameters,
    data_signature,
    finalise_model,
    finalise_train,
    load_state,
    make_optimizer,
)
from gemcli.config import ModelConfig, RunConfig, TrainConfig
from gemcli.console import out
from gemcli.errors import GemError
from gemcli.memory import peak_gpu_mib, peak_rss_mib, reset_peak
from gemcli.meta import DataMeta
from gemcli.optim import RowSparseOptimizer, clip_gradients
from gemcli.runs import (
    ENDED,
    SAFE_NAME,
    ended_summary,
    load_checkpoint,
    read_metrics,
    read_run_config,
    resolve_run,
)
from gemcli.schedule import lr_at, set_lr
from gemcli.tasks import Task, get_task, higher_is_better

# ---------------------------------------------------------------- data


def load_split(run_dir: Path, split: str, meta: DataMeta) -> tuple[torch.Tensor, torch.Tensor]:
    """(x int64[n, F] global feature ids, y float32[n]) of one encoded split, checked against the data's
    manifest; ids outside the feature range or labels that are not finite stop with one line."""
    path = rundir.verify(rundir.data_dir(run_dir) / f"{split}.parquet")
    try:
        frame = pl.read_parquet(path, glob=False)
        x_np = frame.select(meta.fields).to_numpy().astype(np.int64)
        y_np = frame["label"].to_numpy().astype(np.float32)
    except Exception as e:  # polars raises its own errors for damaged files and missing columns
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GemError(
            f"{path}: cannot be read as the split of {rundir.data_dir(run_dir)}/meta.json ({first[:160]}); "
            "run `gem preprocess` again"
        ) from None
    if x_np.size and (x_np.min() < 0 or x_np.max() >= meta.n_features):
        raise GemError(
            f"{path}: feature ids outside 0..{meta.n_features - 1} (meta.json's n_features); run `gem preprocess` again"
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


EVAL_TENSOR_BYTES = 128 << 20  # the most one evaluation batch's widest tensor may take (float32)


def eval_rows(model: torch.nn.Module, n_fields: int, batch_size: int) -> int:
    """Rows per evaluation batch: `batch_size` (the config's eval_batch_size) at most, and few enough that the
    model's widest per-row tensor stays under EVAL_TENSOR_BYTES. Its width in floats is the model's
    `row_floats(n_fields)` where it has one (AFM, INN: the [P, D] pair products), else the embeddings' F x D; a
    model with neither (no embedder) takes `batch_size`. INN on Frappe (45 pairs, D = 256): 2,912 rows, where
    65,536 (a split in one batch) made 1.33 GB tensors and peaked at 7.1 GB resident, 128 MiB at 1.1 GB in the
    same time (bench/eval_batch.md)."""
    row_floats, embedder = getattr(model, "row_floats", None), getattr(model, "embedder", None)
    if callable(row_floats):
        width = int(row_floats(n_fields))
    elif embedder is not None:
        width = n_fields * int(cast(Any, embedder).dim)
    else:
        return batch_size
    return max(1, min(batch_size, EVAL_TENSOR_BYTES // (4 * max(width, 1))))


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Raw scores [n] of the model in eval mode (GEM's table computed once per call), in batches of
    eval_rows(model, F, batch_size) rows of x [n, F]; a task's `predictions` turns them into what they predict."""
    was = model.training
    model.eval()
    batch_size = eval_rows(model, x.shape[1], batch_size)
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
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    xb: torch.Tensor,
    yb: torch.Tensor,
    tcfg: TrainConfig,
    task: Task | None = None,
) -> torch.Tensor:
    """One step of the task's loss (square loss, cross-entropy) + lambda ||Theta||^2; returns the batch's summed
    per-sample loss (detached)."""
    per = (task or get_task("regression")).loss(model(xb), yb)
    loss = per.sum() if tcfg.loss_reduction == "sum" else per.mean()
    if tcfg.l2 > 0:
        sparse_tables = optimizer.tables if isinstance(optimizer, RowSparseOptimizer) else None
        loss = loss + tcfg.l2 * l2_penalty(model, sparse_tables)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if tcfg.max_grad_norm > 0:
        clip_gradients(model, tcfg.max_grad_norm)
    optimizer.step()
    return per.detach().sum()


# ---------------------------------------------------------------- checkpoints


def _atomic_save(obj: Any, path: Path) -> None:
    """torch.save under a temporary name, then renamed; a write that fails (a full disk: torch says only that its
    stream writer failed) is one line naming the file."""
    try:
        rundir.atomic_write(path, lambda tmp: torch.save(obj, tmp))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        free = shutil.disk_usage(Path(path).parent).free
        raise GemError(f"{path}: could not be written ({first[:120]}); {free / 2**20:,.0f} MiB free there") from None


def check_run_name(name: str, run_dir: Path) -> None:
    """--name: one folder under RUN_DIR/models (letters, digits and . _ = + -, never `.` or `..`); one line else."""
    if not SAFE_NAME.fullmatch(name):
        raise GemError(f"--name {name!r}: use letters, digits and . _ = + - only (one folder under {run_dir}/models)")


def _drop_if_nothing_saved(folder: Path) -> None:
    """A new run folder that failed before its first epoch was saved (no metrics.jsonl yet): removed, so that
    nothing half-made is left behind and the same command starts it afresh."""
    if not (Path(folder) / "metrics.jsonl").is_file():
        shutil.rmtree(folder, ignore_errors=True)


def _state_cpu(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- the fit loop


def new_run_name(mcfg: ModelConfig, seed: int) -> str:
    prefix = {"lookup": "", "gcn": "gem-"}.get(mcfg.embedder, f"{mcfg.embedder}-")
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{prefix}{mcfg.base}-s{seed}"


@dataclass
class LoopState:
    """Where a run stands after its last epoch: what a checkpoint holds besides the model and optimiser."""

    epoch: int = 0
    best: float = float("inf")  # best validation score so far, lower is better (AUC is stored negated)
    best_epoch: int = 0
    bad: int = 0  # epochs since the best one
    best_state: dict[str, torch.Tensor] | None = None
    train_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    peak_rss_mib: float | None = None  # the highest of this run's processes (a resumed run: every part)
    peak_gpu_mib: float | None = None

    def observe(self, epoch: int, score: float) -> bool:
        """Early stopping: record an epoch's validation score; True when it is the best so far."""
        self.epoch = epoch
        if score < self.best:
            self.best, self.best_epoch, self.bad = score, epoch, 0
            return True
        self.bad += 1
        return False

    def checkpoint(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "best_score": self.best,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad,
            "best_state": self.best_state,
            "train_seconds": self.train_seconds,
            "peak_rss_mib": self.peak_rss_mib,
            "peak_gpu_mib": self.peak_gpu_mib,
        }

    @classmethod
    def from_checkpoint(cls, ck: dict[str, Any], history: list[dict[str, Any]]) -> LoopState:
        return cls(
            epoch=ck["epoch"],
            best=ck["best_score"],
            best_epoch=ck["best_epoch"],
            bad=ck["bad_epochs"],
            best_state=ck["best_state"],
            train_seconds=ck["train_seconds"],
            history=history,
            peak_rss_mib=ck.get("peak_rss_mib"),  # checkpoints of 0.4.0 have none
            peak_gpu_mib=ck.get("peak_gpu_mib"),
        )

    def note_peak(self, device: torch.device) -> None:
        """Fold the process's peak memory since the run (or its resumed part) started into the run's."""
        for name, value in (("peak_rss_mib", peak_rss_mib()), ("peak_gpu_mib", peak_gpu_mib(device))):
            old = getattr(self, name)
            if value is not None:
                setattr(self, name, value if old is None else max(old, value))


@dataclass
class Setup:
    """A run ready to train: its config, model, optimiser, data on the device, folder."""

    run_dir: Path
    cfg: RunConfig
    folder: Path
    model: torch.nn.Module
    optimizer: Any
    device: torch.device
    meta: DataMeta
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
    task: Task


def _locked(run_dir: Path, target: Path | None) -> contextlib.AbstractContextManager[Any]:
    """The lock of a run folder (beside it), or none for a default name (unique by its time stamp)."""
    if target is None:
        return contextlib.nullcontext()
    return rundir.locked(rundir.run_lock(target), f"run {Path(target).name}")


EpochHook = Callable[[int, dict[str, Any]], bool]
"""Called after every epoch with (epoch, that epoch's metrics row); True stops the run as pruned (a search's
pruner). The row holds valid_* and test_* of the task's metrics."""


def fit(
    run_dir: Path,
    cfg: RunConfig,
    *,
    quiet: bool = False,
    folder: Path | None = None,
    threads: int | None = None,
    on_epoch: EpochHook | None = None,
) -> dict[str, Any]:
    """Train a new run; returns its summary. One command at a time per run folder (a lock file .NAME.lock
    beside it): a second one stops with one line.

    folder: where the run's artifacts go (default RUN_DIR/models/NAME; sweeps put theirs in the sweep).
    threads: torch's CPU threads, as set by the caller (shown in the header line).
    """
    if folder is None and cfg.name:
        check_run_name(cfg.name, run_dir)
    target = folder if folder is not None else (Path(run_dir) / "models" / cfg.name if cfg.name else None)
    with _locked(run_dir, target):
        setup = _setup(run_dir, cfg, folder, new=True)
        # a default name is unique by its time stamp: its lock is taken once the folder exists, so that
        # `gem runs` can tell a running run from an interrupted one
        with _locked(run_dir, setup.folder) if target is None else contextlib.nullcontext():
            try:
                return _loop(setup, LoopState(), quiet=quiet, threads=threads, on_epoch=on_epoch)
            except (OSError, GemError):
                _drop_if_nothing_saved(setup.folder)  # e.g. a full disk before the first epoch was saved
                raise


def resume(
    run_dir: Path,
    folder: Path,
    *,
    quiet: bool = False,
    threads: int | None = None,
    on_epoch: EpochHook | None = None,
) -> dict[str, Any]:
    """Continue an interrupted run from its last checkpoint, with the same result as an uninterrupted run
    (a run stopped before its first epoch ended starts again)."""
    with _locked(run_dir, folder):
        cfg = read_run_config(folder)
        ended = ended_summary(folder)
        if ended is not None:
            raise GemError(f"run {folder.name} has ended already ({ended['status']}); nothing to resume")
        rundir.clean_temporaries(folder)
        if not (folder / "checkpoint.pt").is_file():  # stopped before its first epoch ended: start it again
            if not quiet:
                out.print(f"run {folder.name} had not finished an epoch; starting it again", highlight=False)
            shutil.rmtree(folder)
            return _loop(
                _setup(run_dir, cfg, folder, new=True), LoopState(), quiet=quiet, threads=threads, on_epoch=on_epoch
            )
        setup = _setup(run_dir, cfg, folder, new=False)
        state = _load_checkpoint(setup)
        if on_epoch is not None:  # a resumed search trial: its pruner hears the epochs it has already seen again
            for row in state.history:
                if on_epoch(row["epoch"], row):
                    return _finish(setup, state, "pruned", *_sizes(setup), quiet)
        return _loop(setup, state, quiet=quiet, threads=threads, on_epoch=on_epoch)


def _setup(run_dir: Path, cfg: RunConfig, folder: Path | None, new: bool) -> Setup:
    """Check the config against the data, build the model and optimiser (seeded), load the splits onto
    the device; for a new run, make its folder and write config.json."""
    meta = rundir.read_meta(run_dir)
    tcfg = cfg.train
    if cfg.data and cfg.data["dataset_id"] != meta.dataset_id:
        raise GemError(f"run {cfg.name} was trained on other data than {run_dir}/data")
    device = resolve_device(tcfg.device)
    torch.manual_seed(tcfg.seed)
    cfg.model = finalise_model(run_dir, cfg.model, meta)
    cfg.train = tcfg = finalise_train(tcfg, meta)
    task = get_task(tcfg.task)
    model = build_model(run_dir, cfg.model, meta).to(device)
    optimizer = make_optimizer(model, tcfg, bool(cfg.model.sparse))
    cfg.data = data_signature(meta)
    splits = {s: load_split(run_dir, s, meta) for s in ("train", "valid", "test")}
    for s, (_, y) in splits.items():
        task.check_labels(y.numpy(), rundir.data_dir(run_dir) / f"{s}.parquet")
    splits["train"] = (splits["train"][0].to(device), splits["train"][1].to(device))  # batches cut on the device
    if new:
        named = bool(cfg.name)
        cfg.name = cfg.name or new_run_name(cfg.model, tcfg.seed)
        while not named and folder is None and (Path(run_dir) / "models" / cfg.name).exists():
            time.sleep(1.0 - time.time() % 1.0 + 0.01)  # a default name is unique by its second: the next one
            cfg.name = new_run_name(cfg.model, tcfg.seed)
        folder = folder or Path(run_dir) / "models" / cfg.name
        if folder.exists():
            raise GemError(f"run {folder} exists already; choose another --name or use --resume")
        folder.mkdir(parents=True)
        rundir.atomic_write_json(folder / "config.json", cfg.to_dict())
    assert folder is not None
    return Setup(run_dir, cfg, folder, model, optimizer, device, meta, splits, task)


def _load_checkpoint(setup: Setup) -> LoopState:
    """Model, optimiser and RNG as they were after the checkpoint's epoch; the loop state and metrics."""
    ck_path = setup.folder / "checkpoint.pt"
    ck = load_checkpoint(rundir.verify(ck_path), setup.device)
    load_state(setup.model, ck["model"], ck_path)
    try:
        setup.optimizer.load_state_dict(ck["optimizer"])
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        raise GemError(f"{ck_path}: its optimiser state does not fit the run's config ({str(e)[:160]})") from None
    (setup.folder / "manifest.json").unlink(missing_ok=True)  # files change from here; a new one comes at the end
    torch.set_rng_state(ck["rng"])
    history = read_metrics(setup.folder)[: ck["epoch"]]
    if len(history) < ck["epoch"]:
        raise GemError(
            f"{setup.folder / 'metrics.jsonl'}: {len(history)} epochs, but the checkpoint is at epoch {ck['epoch']}; "
            "the run cannot be resumed (start it again under another --name)"
        )
    return LoopState.from_checkpoint(ck, history)


def _train_epoch(setup: Setup, epoch: int, progress: Progress, task: TaskID) -> float:
    """One pass over the training split in the epoch's seeded order; returns the summed per-sample loss."""
    model, tcfg, device = setup.model, setup.cfg.train, setup.device
    x, y = setup.splits["train"]
    n, bs = len(y), tcfg.batch_size
    n_batches = (n + bs - 1) // bs
    model.train()
    perm = torch.from_numpy(np.random.default_rng([tcfg.seed, epoch]).permutation(n)).to(device)
    progress.reset(task, total=n_batches, description=f"epoch {epoch}", info="loss -")
    total = torch.zeros((), device=device)
    for b in range(n_batches):
        idx = perm[b * bs : (b + 1) * bs]
        total += train_step(model, setup.optimizer, x[idx], y[idx], tcfg, setup.task)
        if b % 8 == 7 or b == n_batches - 1:
            progress.update(task, completed=b + 1, info=f"loss {float(total) / min(n, (b + 1) * bs):.4f}")
    if device.type == "cuda":
        torch.cuda.synchronize()
    return float(total)


def _evaluate_epoch(setup: Setup) -> tuple[dict[str, float], dict[str, float]]:
    """Validation and test metrics (the task's) of the model as it is."""
    bs, task = setup.cfg.train.eval_batch_size, setup.task
    return tuple(  # type: ignore[return-value]
        task.evaluate(task.predictions(predict(setup.model, x, bs, setup.device)), y, setup.meta.label_range)
        for x, y in (setup.splits["valid"], setup.splits["test"])
    )


def _save_epoch(setup: Setup, state: LoopState, improved: bool) -> None:
    """metrics.jsonl, the best weights (model.pt) when the epoch improved, and the checkpoint to resume from."""
    folder, model, optimizer = setup.folder, setup.model, setup.optimizer
    if improved:
        state.best_state = _state_cpu(model)
        _atomic_save(
            {
                "model": state.best_state,
                "optimizer": optimizer.state_dict(),
                "epoch": state.epoch,
                "best_score": state.best,
                "config": setup.cfg.to_dict(),
            },
            folder / "model.pt",
        )
    rundir.atomic_write_text(folder / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in state.history))
    _atomic_save(
        {
            "model": _state_cpu(model),
            "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            **state.checkpoint(),
        },
        folder / "checkpoint.pt",
    )


def _sizes(setup: Setup) -> tuple[int, int]:
    """(training samples, model parameters)."""
    return len(setup.splits["train"][1]), count_parameters(setup.model)


def _schedule(setup: Setup, epoch: int, history: list[dict[str, Any]]) -> float:
    """Set the optimiser's step size for `epoch` from --lr-schedule and the earlier epochs' scores; returns it."""
    tcfg = setup.cfg.train
    sign = -1 if higher_is_better(tcfg.monitor) else 1
    scores = [sign * r[f"valid_{tcfg.monitor}"] for r in history]
    lr = lr_at(tcfg.lr_schedule, tcfg.lr, epoch, tcfg.epochs, scores)
    set_lr(setup.optimizer, lr)
    return lr


def _loop(
    setup: Setup, state: LoopState, *, quiet: bool, threads: int | None, on_epoch: EpochHook | None = None
) -> dict[str, Any]:
    """Epochs until early stopping (or the cap), a non-finite loss (diverged), Ctrl-C (interrupted) or the
    epoch hook's word (pruned)."""
    cfg, tcfg = setup.cfg, setup.cfg.train
    n, n_params = _sizes(setup)
    if not quiet:
        _announce(setup, n, n_params, threads)
    progress = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        TimeRemainingColumn(),
        transient=True,
        console=out,
        disable=quiet,
    )
    start = state.epoch + 1
    status = "running"
    reset_peak(setup.device)
    try:
        with progress:
            overall = progress.add_task(
                "epochs", total=tcfg.epochs, completed=start - 1, info=f"at most; patience {tcfg.patience}"
            )
            task = progress.add_task(f"epoch {start}", total=1, info="loss -")
            last = tcfg.epochs if state.bad < tcfg.patience else start - 1  # killed in its final steps: none left
            status = "finished"
            for epoch in range(start, last + 1):
                row = _epoch(setup, state, epoch, progress, task, n, quiet)
                if row is None:
                    status = "diverged"  # nothing after a non-finite loss is worth keeping or checkpointing
                    break
                progress.advance(overall)
                if state.bad >= tcfg.patience:
                    break
                if on_epoch is not None and on_epoch(epoch, row):
                    status = "pruned"
                    break
    except KeyboardInterrupt:
        status = "interrupted"
        if not quiet:
            out.print(
                Text.assemble(
                    (f"interrupted after epoch {state.epoch}", "yellow"),
                    f"; resume with `{resume_command(cfg.name, setup.run_dir)}`",
                ),
                highlight=False,
                soft_wrap=True,
            )
    return _finish(setup, state, status, n, n_params, quiet)


def _announce(setup: Setup, n: int, n_params: int, threads: int | None) -> None:
    """The run's header line: name, model, data, size, optimiser, batch, device and threads."""
    cfg, tcfg = setup.cfg, setup.cfg.train
    out.print(
        Text.assemble(
            (cfg.name, "bold"),
            f": {cfg.model.label} on {setup.meta.dataset} ({n:,} train), {n_params:,} parameters, "
            f"{tcfg.optimizer} lr {tcfg.lr}, batch {tcfg.batch_size}, device {setup.device}"
            + (f", {threads} thread{'s' if threads > 1 else ''}" if threads and setup.device.type == "cpu" else ""),
        )
    )


def _epoch(
    setup: Setup, state: LoopState, epoch: int, progress: Progress, task: Any, n: int, quiet: bool
) -> dict[str, Any] | None:
    """One epoch: train, evaluate, record its metrics row, keep the best weights and the checkpoint; the row, or
    None when the loss or the validation metric is not finite (diverged: the history is written, nothing else)."""
    tcfg = setup.cfg.train
    lr = _schedule(setup, epoch, state.history)
    t0 = time.perf_counter()
    total_loss = _train_epoch(setup, epoch, progress, task)
    state.train_seconds += time.perf_counter() - t0
    va, te = _evaluate_epoch(setup)
    row = {
        "epoch": epoch,
        f"train_{setup.task.train_loss}": total_loss / n,
        **{f"valid_{k}": v for k, v in va.items()},
        **{f"test_{k}": v for k, v in te.items()},
        "seconds": round(time.perf_counter() - t0, 3),
        **({"lr": lr} if tcfg.lr_schedule != "none" else {}),
    }
    state.history.append(row)
    state.note_peak(setup.device)
    if not (math.isfinite(total_loss) and math.isfinite(va[setup.task.finite])):
        rundir.atomic_write_text(setup.folder / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in state.history))
        return None
    watched = va[tcfg.monitor]
    improved = state.observe(epoch, -watched if higher_is_better(tcfg.monitor) else watched)
    _save_epoch(setup, state, improved)
    if not quiet:
        progress.console.print(
            f"epoch {epoch:3d}  train {setup.task.train_loss} {total_loss / n:.4f}  "
            f"valid {_headline(setup.task, va)}  test {_headline(setup.task, te)}  "
            f"{row['seconds']:.1f}s{'  *' if improved else ''}",
            highlight=False,
        )
    return row


def resume_command(name: str, run_dir: Path) -> str:
    """The command that resumes run `name` of `run_dir`, quoted for a shell."""
    return f"gem train --resume --run {shlex.quote(name)} --run-dir {shlex.quote(str(run_dir))}"


def _finish(setup: Setup, state: LoopState, status: str, n: int, n_params: int, quiet: bool) -> dict[str, Any]:
    """curves.png, summary.json, the checkpoint gone once the run has ended, manifest.json; the last lines."""
    cfg, folder, tcfg, mcfg = setup.cfg, setup.folder, setup.cfg.train, setup.cfg.model
    if status in ("finished", "pruned"):  # the figure first: a run has ended only once everything it leaves is there
        from gemcli.figures import plot_curves

        plot_curves(folder, state.history, mcfg.label, state.best_epoch, setup.task.headline)
    summary = write_summary(folder, cfg, state, n_params, n, status, setup.device)
    if status in ENDED:
        (folder / "checkpoint.pt").unlink(missing_ok=True)
    inputs: dict[str, Path | str] = {"train.parquet": rundir.data_dir(setup.run_dir) / "train.parquet"}
    if mcfg.gem and mcfg.graph:
        inputs["adjacency.npz"] = Path(setup.run_dir) / "graphs" / mcfg.graph / "adjacency.npz"
    if mcfg.pretrain:
        inputs["pretrain model.pt"] = resolve_run(setup.run_dir, mcfg.pretrain) / "model.pt"
    rundir.write_manifest(
        folder, stage="train", options=cfg.to_dict(), seed=tcfg.seed, inputs=inputs, extra={"status": status}
    )
    if status == "pruned" and not quiet:
        out.print(f"pruned after epoch {state.epoch} by the search's pruner; saved {folder}", highlight=False)
    if status == "finished" and not quiet:
        out.print(
            f"best epoch {state.best_epoch}: test {_headline(setup.task, summary, 'test_')} "
            f"(valid {tcfg.monitor} {summary['valid_' + tcfg.monitor]:.4f}); "
            f"{summary['samples_per_s']:,.0f} samples/s; saved {folder}",
            highlight=False,
            soft_wrap=True,
        )
        if state.best_epoch >= tcfg.epochs:
            out.print(
                f"note: the best epoch is the last allowed (--epochs {tcfg.epochs}): the run was still "
                "improving; more epochs may do better",
                highlight=False,
                soft_wrap=True,
            )
    return summary


def fit_or_resume(
    run_dir: Path,
    cfg: RunConfig,
    folder: Path,
    quiet: bool = False,
    threads: int | None = None,
    on_epoch: EpochHook | None = None,
) -> dict[str, Any]:
    """Bring the run in `folder` to its end: skip it if finished, resume it if interrupted, else train it
    (a folder left before its first epoch ended is started again). Sweeps and `report --run-missing`."""
    done = ended_summary(folder)
    if done is not None:
        return done
    if (Path(folder) / "checkpoint.pt").is_file():
        return resume(run_dir, Path(folder), quiet=quiet, threads=threads, on_epoch=on_epoch)
    if Path(folder).exists():
        shutil.rmtree(folder)
    return fit(run_dir, cfg, quiet=quiet, folder=Path(folder), threads=threads, on_epoch=on_epoch)


def write_summary(
    folder: Path,
    cfg: RunConfig,
    state: LoopState,
    n_params: int,
    n: int,
    status: str,
    device: torch.device,
) -> dict[str, Any]:
    history, best_epoch, train_seconds = state.history, state.best_epoch, state.train_seconds
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
        "task": cfg.train.task,
        "monitor": cfg.train.monitor,
        **({k: best_row[k] for k in best_row if k.startswith(("valid_", "test_"))} if best_row else {}),
        "parameters": n_params,
        "train_seconds": round(train_seconds, 3),
        "samples_per_s": round(n * epochs_run / train_seconds, 1) if train_seconds > 0 else None,
        "device": str(device),
        "peak_rss_mib": state.peak_rss_mib,  # the process's resident set at its highest during the run
        "peak_gpu_mib": state.peak_gpu_mib,  # torch's peak allocation on a GPU (None on a CPU)
        "torch": torch.__version__,
        "config": {"model": asdict(cfg.model), "train": asdict(cfg.train)},
    }
    rundir.atomic_write_json(folder / "summary.json", summary)
    return summary


def _headline(task: Task, metrics: dict[str, Any], prefix: str = "") -> str:
    """'rmse 0.3256 mae 0.1525' / 'auc 0.9712 logloss 0.1870' from a metrics dict (keys PREFIX + metric)."""
    return " ".join(f"{m} {metrics[prefix + m]:.4f}" for m in task.headline)
