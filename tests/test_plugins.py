"""An embedder is a plug-in: registered from this file alone, it trains, evaluates and shows in reports."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from torch import nn

from gemcli.nn.embedders import EMBEDDERS, Embedder, register_embedder

SMALL = ["--embedding-size", "8", "--batch-size", "256", "--epochs", "2"]


class ToyEmbedder(Embedder):
    """A lookup table times one learned scale (no graph)."""

    options = {"scale": "the scale's initial value"}

    def __init__(
        self, n_features: int, dim: int, init_std: float = 0.01, sparse: bool = False, scale: float = 1.0, **_: Any
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_features, dim) * init_std)
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def rows(self, nodes: torch.Tensor) -> torch.Tensor:
        return self.weight[nodes] * self.scale

    def table(self) -> torch.Tensor:
        return self.weight * self.scale


@pytest.fixture
def toy():
    register_embedder("toy")(ToyEmbedder)
    yield
    EMBEDDERS.pop("toy")


def test_a_toy_embedder_trains_evaluates_and_compares(gem, frappe_zip, tmp_path, toy):
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "r")
    res = gem("train", "--embedder", "toy", "--embedder-option", "scale=2", *SMALL, "--name", "t")
    assert "GEM[toy]+FM" in res.output
    cfg = json.loads((tmp_path / "r/models/t/config.json").read_text())
    assert cfg["model"]["embedder"] == "toy" and cfg["model"]["embedder_options"] == {"scale": 2}
    state = torch.load(tmp_path / "r/models/t/model.pt", weights_only=True)["model"]
    assert "embedder.scale" in state and float(state["embedder.scale"]) != 2.0  # it trained
    res = gem("evaluate", "--run", "t")
    assert "rmse" in res.output
    gem("train", *SMALL, "--name", "plain")
    res = gem("compare")
    assert "GEM[toy]+FM" in res.output and "│ FM " in res.output
    assert "toy" in gem("embedders").output
    res = gem("train", "--embedder", "toy", "--dry-run")
    assert "GEM[toy]+FM: " in res.output and "toy.scale" not in res.output  # the name, not rich markup
    res = gem("train", "--embedder", "toy", "--embedder-option", "width=3", "--dry-run", ok=False)
    assert res.exit_code == 2 and "embedder toy has no such option; its options: scale" in res.output
    res = gem("train", "--embedder", "nosuch", "--dry-run", ok=False)
    assert res.exit_code == 2 and "unknown --embedder 'nosuch'; known: lookup, gcn, " in res.output
    res = gem("sweep", "--param", "embedder=lookup,toy", *SMALL)
    rows = [line for line in res.output.splitlines() if line.startswith("│ ")]
    assert any("toy" in r for r in rows) and any("lookup" in r for r in rows)


def test_gcn_options_through_embedder_option(gem, frappe_zip, tmp_path):
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "r")
    gem("build-graph")
    gem("train", "--embedder", "gcn", "--embedder-option", "dropout=0.2", *SMALL, "--name", "g")
    cfg = json.loads((tmp_path / "r/models/g/config.json").read_text())
    assert "gcn_dropout" not in cfg["model"] and cfg["model"]["embedder_options"] == {"dropout": 0.2}
