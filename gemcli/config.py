"""Typed configs per stage, combined into the run config saved with every checkpoint (JSON round-trip)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model: the base, the embedder and their options."""

    base: str = "fm"
    gem: bool = False  # False: lookup embedder; True: gcn embedder over `graph`
    embedding_size: int = 256
    init_std: float = 0.01
    gcn_layers: int = 1
    gcn_activation: str = "none"
    gcn_dropout: float = 0.0
    gcn_fanout: int = 0  # training reads at most this many sampled neighbours per row of Â (0: all, exact)
    graph: str | None = None  # graph id under RUN_DIR/graphs (GEM only)
    sparse: bool | None = None  # sparse gradients for the embedding tables; None: when the table exceeds 5M values
    base_options: dict[str, Any] = field(default_factory=dict)  # per-base hyper-parameters
    pretrain: str | None = None  # a finished FM run whose embeddings and linear weights initialise this one

    @property
    def embedder(self) -> str:
        return "gcn" if self.gem else "lookup"

    @property
    def label(self) -> str:
        from gemcli.paper import model_label

        return model_label(self.base, self.gem)


@dataclass
class TrainConfig:
    batch_size: int = 4096
    optimizer: str = "adagrad"
    lr: float = 0.05
    adagrad_init: float = 0.1  # Adagrad's initial accumulator; 0.1 is TensorFlow's default (NFM/AFM code)
    l2: float = 0.0
    loss_reduction: str = "sum"  # sum: squared error summed over the batch (TensorFlow's l2_loss, as NFM's code)
    epochs: int = 100
    patience: int = 5
    seed: int = 0
    device: str = "auto"
    eval_batch_size: int = 65536


@dataclass
class RunConfig:
    model: ModelConfig
    train: TrainConfig
    data: dict[str, Any]  # dataset id, fields, n_features, label range: checked on load
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"format": "gemcli-run/1", "name": self.name, "model": asdict(self.model),
                "train": asdict(self.train), "data": self.data}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        def build(kind, values):
            known = {f.name for f in fields(kind)}
            return kind(**{k: v for k, v in values.items() if k in known})

        return cls(model=build(ModelConfig, d["model"]), train=build(TrainConfig, d["train"]),
                   data=d["data"], name=d.get("name", ""))
