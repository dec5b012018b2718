"""The checks that take a device: on the CPU here and in CI, on a GPU with GEM_TEST_DEVICE=cuda
(scripts/gpu_check.sh). Each compares the device's result with the CPU's."""

from __future__ import annotations

import json
import os

import pytest
import torch
from test_bases import embedder, random_adjacency, small_opts  # one definition each for both test files

from gemcli.models import create_model, model_names
from gemcli.nn.embedders import embedder_names

DEVICE = os.environ.get("GEM_TEST_DEVICE", "cpu")
N, D, B, NF = 40, 8, 16, 5
if DEVICE.startswith("cuda") and not torch.cuda.is_available():
    pytest.skip("GEM_TEST_DEVICE=cuda but no CUDA device", allow_module_level=True)


@pytest.mark.parametrize("kind", embedder_names())  # every registered embedder, whatever its module
@pytest.mark.parametrize("name", sorted(model_names()))
def test_every_base_on_the_device_matches_the_cpu(name, kind):
    torch.manual_seed(0)
    model = create_model(
        name,
        embedder=embedder(kind, n=N, d=D, adjacency=random_adjacency()),
        n_features=N,
        n_fields=NF,
        dropout=0.0,
        mlp_dropout=0.0,
        **small_opts(name),
    )
    x = torch.stack([torch.randint(0, 8, (B,)) + 8 * f for f in range(NF)], dim=1)
    model.eval()
    cpu = model(x)
    model.to(DEVICE)
    dev = model(x.to(DEVICE))
    torch.testing.assert_close(dev.cpu(), cpu, rtol=1e-4, atol=1e-5)
    model.train()
    model(x.to(DEVICE)).square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_gem_train_and_evaluate_on_the_device(gem, frappe_zip, tmp_path):
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "r")
    gem("build-graph")
    for args in (
        ["--base", "fm"],
        ["--base", "fm", "--gem"],
        ["--base", "deepfm", "--gem", "--sparse"],
        ["--base", "fm", "--embedder", "gat"],
        ["--base", "nfm", "--embedder", "transformer", "--sparse"],
    ):
        name = "-".join(a.strip("-") for a in args)
        gem(
            "train",
            *args,
            "--embedding-size",
            "8",
            "--batch-size",
            "128",
            "--epochs",
            "2",
            "--device",
            DEVICE,
            "--name",
            name,
        )
        s = json.loads((tmp_path / f"r/models/{name}/summary.json").read_text())
        assert s["status"] == "finished" and s["device"].startswith(DEVICE.split(":")[0])
        gem("evaluate", "--run", name, "--device", DEVICE)
        ev = json.loads((tmp_path / f"r/models/{name}/eval.json").read_text())["test"]
        assert ev["metrics"]["rmse"] == pytest.approx(s["test_rmse"], abs=1e-5)
