"""--lr-schedule: the step size by epoch from the run's own history (cosine, plateau), applied to the optimiser,
recorded per epoch, and the same after a resume as without one."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gemcli.config import ModelConfig, RunConfig, TrainConfig
from gemcli.schedule import lr_at, set_lr
from gemcli.train import fit


def test_cosine_and_plateau_step_sizes():
    assert [round(lr_at("cosine", 1.0, e, 4, []), 6) for e in (1, 2, 3, 4)] == [
        1.0,
        round((1 + math.cos(math.pi / 4)) / 2, 6),
        0.5,
        round((1 + math.cos(3 * math.pi / 4)) / 2, 6),
    ]
    scores = [0.5, 0.4, 0.41, 0.42, 0.43, 0.39, 0.40, 0.40, 0.40, 0.40, 0.40, 0.40]
    # better at epochs 1, 2, 6; the 3rd epoch without a better score halves (epochs 5, 9, 12), then counts again
    got = [lr_at("plateau", 0.8, e, 99, scores) for e in range(1, 14)]
    assert got == [0.8] * 5 + [0.4] * 4 + [0.2] * 3 + [0.1]
    assert lr_at("none", 0.3, 7, 10, scores) == 0.3


def test_set_lr_reaches_torch_and_row_sparse_optimisers():
    from gemcli.optim import RowSparseOptimizer

    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adam([p], lr=0.1)
    set_lr(opt, 0.02)
    assert opt.param_groups[0]["lr"] == 0.02
    model = torch.nn.Linear(2, 1)
    rs = RowSparseOptimizer(model, "adam", 0.1)
    set_lr(rs, 0.03)
    assert rs.lr == 0.03 and rs.dense.param_groups[0]["lr"] == 0.03


@pytest.mark.parametrize(("schedule", "lr", "epochs"), [("cosine", 0.05, 5), ("plateau", 0.3, 8)])
def test_a_schedule_is_applied_recorded_and_resumed_exactly(gem, run, interrupt_after, schedule, lr, epochs):
    def cfg(name, lr_schedule=schedule):
        return RunConfig(
            model=ModelConfig(base="fm", embedder="lookup", embedding_size=8),
            train=TrainConfig(
                optimizer="adam", lr=lr, batch_size=128, epochs=epochs, patience=10, seed=1, lr_schedule=lr_schedule
            ),
            data={},
            name=name,
        )

    full = fit(run, cfg("full"), quiet=True)
    rows = [json.loads(x) for x in (run / "models/full/metrics.jsonl").read_text().splitlines()]
    scores = [r["valid_rmse"] for r in rows]
    assert [r["lr"] for r in rows] == [lr_at(schedule, lr, e, epochs, scores) for e in range(1, epochs + 1)]
    assert rows[-1]["lr"] < lr  # on this data both schedules lower the step within the run (plateau: at epoch 7)
    plain = fit(run, cfg("plain", "none"), quiet=True)  # and the smaller steps took effect
    assert plain["valid_rmse"] != full["valid_rmse"]
    assert "lr" not in json.loads((run / "models/plain/metrics.jsonl").read_text().splitlines()[0])
    patch = interrupt_after(2)
    fit(run, cfg("part"), quiet=True)
    patch.undo()
    gem("train", "--resume", "--run", "part")
    done = json.loads((run / "models/part/summary.json").read_text())
    for key in ("best_epoch", "test_rmse", "valid_rmse"):
        assert done[key] == full[key], key
    again = [json.loads(x)["lr"] for x in (run / "models/part/metrics.jsonl").read_text().splitlines()]
    assert again == [r["lr"] for r in rows]


def test_lr_schedule_option(gem, run):
    gem(
        "train",
        "--optimizer",
        "adam",
        "--lr-schedule",
        "cosine",
        "--epochs",
        "1",
        "--embedding-size",
        "8",
        "--name",
        "c",
    )
    cfg = json.loads((run / "models/c/config.json").read_text())
    assert cfg["train"]["lr_schedule"] == "cosine" and cfg["sources"]["lr_schedule"] == "option"
    from gemcli.config import config_key

    old, new = json.loads(json.dumps(cfg)), json.loads(json.dumps(cfg))
    old["train"].pop("lr_schedule")  # a run saved by 0.4.0: no schedule
    new["train"]["lr_schedule"] = "none"
    assert config_key(old) == config_key(new)
    res = gem("train", "--lr-schedule", "step", "--epochs", "1", ok=False)
    assert res.exit_code == 2 and "--lr-schedule" in res.output
