"""Training recipes per model for `gem report table1 --run-missing` and `make reproduce-frappe`.

Each recipe is a set of `gem train` options; the reasons and the runs behind them are in results/.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gemcli.config import ModelConfig, RunConfig, TrainConfig
from gemcli.console import out
from gemcli.paper import BASES

# (base, gem) -> (ModelConfig overrides, TrainConfig overrides).
# Plain bases: the toolkit's default (Adagrad lr 0.05 on the summed square loss, the NFM/AFM authors'
# recipe), which took FM on Frappe to 0.32 RMSE where Adam plateaued higher. GEM bases: Adagrad on W
# is unstable through the hub nodes of the graph (country, city, popular items: one step of every
# neighbour moves a hub's propagated row by the sum of their steps), so they use Adam lr 0.005 on the
# mean loss, and FM's interaction dropout 0.3 (results/frappe/exploration.md).
GEM_TRAIN = {"optimizer": "adam", "lr": 0.005, "loss_reduction": "mean", "epochs": 150, "patience": 8}
DEFAULT = ({}, {"epochs": 300})
RECIPES: dict[tuple[str, bool], tuple[dict, dict]] = {
    (base, True): ({"base_options": {"dropout": 0.3}} if base in ("fm",) else {}, GEM_TRAIN) for base in BASES
}


def recipe(base: str, gem: bool) -> tuple[dict, dict]:
    return RECIPES.get((base, gem), DEFAULT)


def train_missing(run_dir: Path, *, seeds: int, epochs: int | None, bases: list[str] | None) -> None:
    """Train every base x {plain, GEM} x seed that has no finished run named table1-...; FM first."""
    from gemcli.train import finished_summary, fit_or_resume

    models = Path(run_dir) / "models"
    for base in bases or BASES:
        for gem in (False, True):
            m_over, t_over = recipe(base, gem)
            for seed in range(seeds):
                name = f"table1-{'gem-' if gem else ''}{base}-s{seed}"
                folder = models / name
                if finished_summary(folder) is not None:
                    continue
                pretrain = f"table1-fm-s{seed}" if base != "fm" and not gem else None
                mcfg = replace(ModelConfig(base=base, gem=gem), pretrain=pretrain, **m_over)
                tcfg = replace(TrainConfig(seed=seed), **{**t_over, **({"epochs": epochs} if epochs else {})})
                out.print(f"[b]{name}[/b]")
                fit_or_resume(run_dir, RunConfig(model=mcfg, train=tcfg, data={}, name=name), folder)
