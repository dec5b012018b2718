"""scripts/pick_recipe.py: a sweep's best validation point becomes a recipe that gem train runs."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from gemcli.recipes import load_recipe

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--embedding-size", "8", "--batch-size", "256", "--epochs", "2"]


def test_the_best_validation_point_becomes_a_recipe(gem, graph_run, tmp_path):
    gem("sweep", "--base", "fm", "--embedder", "gat", "--embedder-option", "att_dim=4", "--param", "lr=0.0005,0.05",
        "--dropout", "0.2", "--optimizer", "adam", *SMALL, "--name", "pick")  # fmt: skip
    sweep = graph_run / "sweeps" / "pick"
    rows = list(csv.DictReader((sweep / "results.csv").open()))
    best = min(rows, key=lambda r: float(r["valid_rmse"]))
    out = tmp_path / "recipes"
    out.mkdir()
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/pick_recipe.py"), str(sweep), "mine", "fm/gat", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "mine.toml" in done.stdout
    rec = load_recipe(out / "mine.toml")
    assert rec.defaults_for == ("fm/gat",) and rec.embedder_options["gat"]["att_dim"] == 4  # given beats gem-gat's 16
    assert rec.options["lr"] == float(best["lr"]) and rec.options["dropout"] == 0.2
    assert rec.options["optimizer"] == "adam" and "seed" not in rec.options and "embedding_size" in rec.options
    assert "valid_rmse" in rec.chosen_on and "test" not in rec.chosen_on and "gat att_dim=4" in rec.summary
    res = gem("train", "--recipe", str(out / "mine.toml"), "--embedder", "gat", "--dry-run")
    assert f"lr={rec.options['lr']}" in res.output and "gat.att_dim=4" in res.output
