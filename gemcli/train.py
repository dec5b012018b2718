"""The fit loop: batches cut from pre-built tensors, early stopping on validation RMSE, checkpoints, resume.

RUN_DIR/models/NAME/ holds config.json, metrics.jsonl (a row per epoch), checkpoint.pt (the last
epoch, for --resume; removed when the run finishes), model.pt (the best epoch: model and optimiser
state, epoch, best score, config), summary.json and curves.png.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from gemcli import rundir
from gemcli.config import ModelConfig, RunConfig, TrainConfig
from gemcli.console import out
from gemcli.errors import GemError
from gemcli.evaluate import regression_metrics
from gemcli.graph import load_adjacency, resolve_graph
from gemcli.models import create_model
from gemcli.nn.embedders import embedder_class
from gemcli.optim import RowSparseOptimizer, torch_optimizer

OPTIMIZERS = ("adam", "adagrad", "sgd")


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


def data_signature(meta: dict) -> dict[str, Any]:
    return {
        "dataset": meta.get("dataset"),
        "dataset_id": meta["dataset_id"],
        "fields": meta["fields"],
        "n_features": meta["n_features"],
        "label_range": meta["label_range"],
    }


SPARSE_ABOVE = 5_000_000  # table values above which gradients of the embedding tables are sparse by default


def finalise_model(run_dir: Path, mcfg: ModelConfig, meta: dict) -> ModelConfig:
    """A copy of `mcfg` with what the data decides filled in: `sparse` (by table size) and, for GEM, the
    graph id (the latest built when none is named). This is the model config a run saves."""
    sparse = mcfg.sparse if mcfg.sparse is not None else meta["n_features"] * mcfg.embedding_size > SPARSE_ABOVE
    graph = resolve_graph(run_dir, mcfg.graph).name if mcfg.gem else mcfg.graph
    return replace(mcfg, sparse=sparse, graph=graph)


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux: MemAvailable), None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(mcfg: ModelConfig, meta: dict) -> None:
    """Refuse a model whose embedding table cannot fit before allocating it: the table, its gradient and
    two optimiser states (float32) must fit in the memory available now (a kernel kill otherwise)."""
    need = 4 * 4 * meta["n_features"] * mcfg.embedding_size
    free = available_memory()
    if free is not None and need > free:
        raise GemError(
            f"--embedding-size {mcfg.embedding_size}: the embedding table of {meta['n_features']:,} features "
            f"needs about {need / 2**30:.1f} GiB with its gradient and optimiser state; {free / 2**30:.1f} GiB "
            "are available"
        )


def build_model(run_dir: Path, mcfg: ModelConfig, meta: dict) -> torch.nn.Module:
    """The base model of `mcfg` around a lookup or a GCN embedder (over the run directory's graph)."""
    mcfg = finalise_model(run_dir, mcfg, meta)
    check_memory(mcfg, meta)
    adjacency = None
    if mcfg.gem:
        gdir = resolve_graph(run_dir, mcfg.graph)
        ginfo = rundir.read_json(rundir.verify(gdir / "graph.json"))
        if ginfo["dataset_id"] != meta["dataset_id"]:
            raise GemError(f"graph {gdir.name} was built from other data; rebuild it with `gem build-graph`")
        adjacency = load_adjacency(gdir)
    try:
        embedder = embedder_class(mcfg.embedder).build(
            n_features=meta["n_features"],
            dim=mcfg.embedding_size,
            init_std=mcfg.init_std,
            sparse=bool(mcfg.sparse),
            adjacency=adjacency,
            model_config=mcfg,
        )
    except TypeError as e:  # an option the embedder does not take
        raise GemError(f"embedder {mcfg.embedder}: {e}") from None
    model = create_model(
        mcfg.base, embedder=embedder, n_features=meta["n_features"], n_fields=len(meta["fields"]), **mcfg.base_options
    )
    if mcfg.pretrain:
        load_pretrained(run_dir, model, mcfg, meta)
    return model


def load_pretrained(run_dir: Path, model: Any, mcfg: ModelConfig, meta: dict) -> None:
    """Copy a finished FM run's embedding table and linear weights into `model` (the paper's pre-training).

    Plain FM -> plain model: the table. GEM+FM -> GEM model (same graph): GEM's W, so the model starts
    from GEM+FM's propagated embeddings. GEM+FM -> plain model: the propagated table Â W.
    Plain FM -> GEM model: the FM table becomes W.
    """
    folder = resolve_run(run_dir, mcfg.pretrain)
    src = read_run_config(folder)
    if src.data.get("dataset_id") != meta["dataset_id"]:
        raise GemError(f"--pretrain {mcfg.pretrain}: that run was trained on other data")
    if src.model.embedding_size != mcfg.embedding_size:
        raise GemError(
            f"--pretrain {mcfg.pretrain}: embedding size {src.model.embedding_size} differs from {mcfg.embedding_size}"
        )
    if src.model.base != "fm":
        raise GemError(f"--pretrain {mcfg.pretrain}: expected an FM run, got {src.model.base}")
    if mcfg.gem and src.model.gem and src.model.graph != mcfg.graph:
        raise GemError(f"--pretrain {mcfg.pretrain}: that GEM run used graph {src.model.graph}, this one {mcfg.graph}")
    source: Any
    source, src, ck = load_trained(run_dir, folder, meta)
    state = ck["model"]
    table = state["embedder.weight"]  # lookup table, or GEM's W (which a GEM model takes as it is)
    if src.model.gem and not mcfg.gem:  # GEM+FM into a plain model: its effective embeddings are the propagated table
        with torch.no_grad():
            table = source.embedder.table().detach()
    with torch.no_grad():
        model.embedder.weight.copy_(table)
        model.linear.weight.copy_(state["linear.weight"])
        model.linear.bias.copy_(state["linear.bias"])
    if hasattr(model, "start_from_fm"):  # AFM, INN: scale their pooling so that they start as FM
        model.start_from_fm()


def load_trained(run_dir: Path, folder: Path, meta: dict) -> tuple[torch.nn.Module, RunConfig, dict[str, Any]]:
    """(model with the best epoch's weights, its run config, the model.pt checkpoint) of a trained run."""
    cfg = read_run_config(folder)
    if cfg.data.get("dataset_id") != meta["dataset_id"]:
        raise GemError(f"run {folder.name} was trained on other data than {run_dir}/data")
    model = build_model(run_dir, cfg.model, meta)
    ck = load_checkpoint(rundir.verify(folder / "model.pt"), "cpu")
    load_state(model, ck["model"], folder / "model.pt")
    return model, cfg, ck


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


def load_state(model: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """model.load_state_dict, with one line naming the file when its tensors do not fit the config."""
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GemError(f"{path}: its tensors do not fit the run's config.json ({first[:160]})") from None


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


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(model: torch.nn.Module, tcfg: TrainConfig, sparse: bool) -> Any:
    """torch's optimiser, or with sparse tables the row-sparse one (same update rules, touched rows only)."""
    if tcfg.optimizer not in OPTIMIZERS:
        raise GemError(f"--optimizer {tcfg.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
    if sparse:
        return RowSparseOptimizer(model, tcfg.optimizer, tcfg.lr, adagrad_init=tcfg.adagrad_init, l2=tcfg.l2)
    return torch_optimizer(
        tcfg.optimizer, [p for p in model.parameters() if p.requires_grad], tcfg.lr, tcfg.adagrad_init
    )


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


def list_runs(run_dir: Path) -> list[Path]:
    """Model runs of a run directory, oldest first (by the time config.json was written)."""
    root = Path(run_dir) / "models"
    if not root.is_dir():
        return []
    runs = [d for d in root.iterdir() if (d / "config.json").is_file() and not d.name.startswith(".")]
    return sorted(runs, key=lambda d: (d / "config.json").stat().st_mtime)


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


def fit(
    run_dir: Path,
    cfg: RunConfig | None = None,
    *,
    resume: Path | None = None,
    quiet: bool = False,
    stop_after: int | None = None,
    folder: Path | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train (or resume) one run; returns its summary. One command at a time per run folder (a lock file
    .NAME.lock beside it): a second one stops with one line.

    folder: where the run's artifacts go (default RUN_DIR/models/NAME; sweeps put theirs in the sweep).
    threads: torch's CPU threads, as set by the caller (shown in the header line).
    stop_after: end as if interrupted after that many epochs (tests).
    """
    if resume is None and folder is None and cfg is not None and cfg.name and not SAFE_NAME.fullmatch(cfg.name):
        raise GemError(
            f"--name {cfg.name!r}: use letters, digits and . _ = + - only (one folder under {run_dir}/models)"
        )
    target = resume if resume is not None else folder
    if target is None and cfg is not None and cfg.name:
        target = Path(run_dir) / "models" / cfg.name
    if target is None:  # a default name, made unique by its time stamp
        return _fit(run_dir, cfg, resume=resume, quiet=quiet, stop_after=stop_after, folder=folder, threads=threads)
    with rundir.locked(Path(target).parent / f".{Path(target).name}.lock", f"run {Path(target).name}"):
        return _fit(run_dir, cfg, resume=resume, quiet=quiet, stop_after=stop_after, folder=folder, threads=threads)


def _fit(
    run_dir: Path,
    cfg: RunConfig | None,
    *,
    resume: Path | None,
    quiet: bool,
    stop_after: int | None,
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
                if stop_after is not None and epoch - start_epoch + 1 >= stop_after:
                    raise KeyboardInterrupt
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


def ended_summary(folder: Path) -> dict[str, Any] | None:
    """The summary of a run in `folder` that has ended (finished or diverged), else None."""
    path = Path(folder) / "summary.json"
    if path.is_file():
        summary = rundir.read_json(path)
        if summary.get("status") in ("finished", "diverged"):
            return summary
    return None


def finished_summary(folder: Path) -> dict[str, Any] | None:
    """The summary of a finished run in `folder`, else None."""
    path = Path(folder) / "summary.json"
    if path.is_file():
        summary = rundir.read_json(path)
        if summary.get("status") == "finished":
            return summary
    return None


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
