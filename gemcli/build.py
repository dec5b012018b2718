"""A model from its config: the data's signature, what the data decides (sparse tables, the graph), the
embedder and the base, pre-training, loading a trained run, the optimiser."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from gemcli import rundir
from gemcli.config import ModelConfig, RunConfig, TrainConfig, check_weight_decay
from gemcli.errors import GemError
from gemcli.graph import load_operator, resolve_graph
from gemcli.meta import DataMeta
from gemcli.models import create_model
from gemcli.nn.embedders import embedder_class
from gemcli.optim import RowSparseOptimizer, torch_optimizer
from gemcli.runs import load_checkpoint, read_run_config, resolve_run

OPTIMIZERS = ("adam", "adagrad", "sgd")


def data_signature(meta: DataMeta) -> dict[str, Any]:
    return {
        "dataset": meta.dataset,
        "dataset_id": meta.dataset_id,
        "fields": meta.fields,
        "n_features": meta.n_features,
        "label_range": meta.label_range,
    }


SPARSE_ABOVE = 5_000_000  # table values above which gradients of the embedding tables are sparse by default


def finalise_model(run_dir: Path, mcfg: ModelConfig, meta: DataMeta) -> ModelConfig:
    """A copy of `mcfg` with what the data decides filled in: `sparse` (by table size) and, for GEM, the
    graph id (when none is named, the latest `gem build-graph` built: graph.resolve_graph). This is the model
    config a run saves."""
    sparse = mcfg.sparse if mcfg.sparse is not None else meta.n_features * mcfg.embedding_size > SPARSE_ABOVE
    graph = resolve_graph(run_dir, mcfg.graph).name if mcfg.gem else mcfg.graph
    return replace(mcfg, sparse=sparse, graph=graph)


def finalise_train(tcfg: TrainConfig, meta: DataMeta) -> TrainConfig:
    """A copy of `tcfg` with what the data decides filled in: the task (auto: the one the labels imply, from
    meta.json) and the early-stopping metric (auto: the task's). This is the train config a run saves."""
    from gemcli.tasks import resolve_monitor, resolve_task

    task = resolve_task(tcfg.task, meta.task)
    return replace(tcfg, task=task, monitor=resolve_monitor(tcfg.monitor, task))


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux: MemAvailable), None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(mcfg: ModelConfig, meta: DataMeta) -> None:
    """Refuse a model whose embedding table cannot fit before allocating it: the table, its gradient and
    two optimiser states (float32) must fit in the memory available now (a kernel kill otherwise)."""
    need = 4 * 4 * meta.n_features * mcfg.embedding_size
    free = available_memory()
    if free is not None and need > free:
        raise GemError(
            f"--embedding-size {mcfg.embedding_size}: the embedding table of {meta.n_features:,} features "
            f"needs about {need / 2**30:.1f} GiB with its gradient and optimiser state; {free / 2**30:.1f} GiB "
            "are available"
        )


def build_model(run_dir: Path, mcfg: ModelConfig, meta: DataMeta) -> torch.nn.Module:
    """The base model of `mcfg` around a lookup or a GCN embedder (over the run directory's graph)."""
    mcfg = finalise_model(run_dir, mcfg, meta)
    check_memory(mcfg, meta)
    adjacency = None
    if mcfg.gem:
        gdir = resolve_graph(run_dir, mcfg.graph)
        ginfo = rundir.read_json(rundir.verify(gdir / "graph.json"))
        if ginfo["dataset_id"] != meta.dataset_id:
            raise GemError(f"graph {gdir.name} was built from other data; rebuild it with `gem build-graph`")
        adjacency = load_operator(gdir, embedder_class(mcfg.embedder).operator)
    try:
        embedder = embedder_class(mcfg.embedder).build(
            n_features=meta.n_features,
            dim=mcfg.embedding_size,
            init_std=mcfg.init_std,
            sparse=bool(mcfg.sparse),
            adjacency=adjacency,
            model_config=mcfg,
        )
    except TypeError as e:  # an option the embedder does not take
        raise GemError(f"embedder {mcfg.embedder}: {e}") from None
    model = create_model(
        mcfg.base, embedder=embedder, n_features=meta.n_features, n_fields=len(meta.fields), **mcfg.base_options
    )
    if mcfg.pretrain:
        load_pretrained(run_dir, model, mcfg, meta)
    return model


def load_pretrained(run_dir: Path, model: Any, mcfg: ModelConfig, meta: DataMeta) -> None:
    """Copy a finished FM run's embedding table and linear weights into `model` (the paper's pre-training).

    Plain FM -> plain model: the table. GEM+FM -> GEM model (same graph): GEM's W, so the model starts
    from GEM+FM's propagated embeddings. GEM+FM -> plain model: the propagated table Â W.
    Plain FM -> GEM model: the FM table becomes W.
    """
    folder = resolve_run(run_dir, mcfg.pretrain)
    src = read_run_config(folder)
    if src.data.get("dataset_id") != meta.dataset_id:
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


def load_trained(run_dir: Path, folder: Path, meta: DataMeta) -> tuple[torch.nn.Module, RunConfig, dict[str, Any]]:
    """(model with the best epoch's weights, its run config, the model.pt checkpoint) of a trained run."""
    cfg = read_run_config(folder)
    if cfg.data.get("dataset_id") != meta.dataset_id:
        raise GemError(f"run {folder.name} was trained on other data than {run_dir}/data")
    model = build_model(run_dir, cfg.model, meta)
    ck = load_checkpoint(rundir.verify(folder / "model.pt"), "cpu")
    load_state(model, ck["model"], folder / "model.pt")
    return model, cfg, ck


def load_state(model: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """model.load_state_dict, with one line naming the file when its tensors do not fit the config."""
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GemError(f"{path}: its tensors do not fit the run's config.json ({first[:160]})") from None


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(
    model: torch.nn.Module, tcfg: TrainConfig, sparse: bool
) -> torch.optim.Optimizer | RowSparseOptimizer:
    """torch's optimiser, or with sparse tables the row-sparse one (same update rules, touched rows only)."""
    if tcfg.optimizer not in OPTIMIZERS:
        raise GemError(f"--optimizer {tcfg.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
    check_weight_decay(tcfg.optimizer, tcfg.weight_decay)
    if sparse:
        return RowSparseOptimizer(
            model,
            tcfg.optimizer,
            tcfg.lr,
            adagrad_init=tcfg.adagrad_init,
            l2=tcfg.l2,
            weight_decay=tcfg.weight_decay,
        )
    return torch_optimizer(
        tcfg.optimizer,
        [p for p in model.parameters() if p.requires_grad],
        tcfg.lr,
        tcfg.adagrad_init,
        weight_decay=tcfg.weight_decay,
    )
