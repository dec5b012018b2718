"""Plug-ins from outside gemcli: a package found through its entry points (`gemcli.bases`, `gemcli.embedders`)
adds a base with a hyper-parameter of its own and an embedder; gem train, sweep, tune and compare take them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gemcli.cli.options import cli_options, table_params

TOY = '''
"""A plug-in base and embedder, as a package outside gemcli would write them."""
from typing import Any

import torch
from torch import nn

from gemcli.models.base import BaseModel
from gemcli.nn.embedders import Embedder
from gemcli.options import Option, embedder_option


class Toy(BaseModel):
    """FM's pair interactions, scaled by a hyper-parameter of its own: y = w0 + sum w_i + toy_scale * FM(g)."""

    paper = "a toy"
    options = (Option("toy_scale", "float", help="Scale of the pair term.", owner="base", low=0.0, high=100.0),)

    def __init__(self, embedder: Any, n_features: int, n_fields: int, toy_scale: float = 1.0, **_: Any):
        super().__init__(embedder, n_features)
        self.toy_scale = toy_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, q = self.embedder.pooled(x)
        return self.linear(x) + self.toy_scale * 0.5 * (s * s - q).sum(dim=1)


class Scaled(Embedder):
    """A lookup table times a learned scale."""

    options = (embedder_option("start", "float", 1.0, "the scale's first value", low=0.0, high=10.0),)

    def __init__(self, n_features: int, dim: int, init_std: float = 0.01, sparse: bool = False, start: float = 1.0,
                 **_: Any):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_features, dim) * init_std)
        self.scale = nn.Parameter(torch.tensor(float(start)))

    def rows(self, nodes: torch.Tensor) -> torch.Tensor:
        return self.weight[nodes] * self.scale

    def table(self) -> torch.Tensor:
        return self.weight * self.scale
'''
ENTRY_POINTS = "[gemcli.bases]\ntoy = toy_gem:Toy\n\n[gemcli.embedders]\nscaled = toy_gem:Scaled\n"
SMALL = ["--embedding-size", "8", "--batch-size", "256", "--epochs", "2"]


@pytest.fixture
def toy_path(tmp_path: Path) -> Path:
    """The package toy_gem and its dist-info (name, version, entry points) in a folder put on PYTHONPATH."""
    site = tmp_path / "site"
    (site / "toy_gem").mkdir(parents=True)
    (site / "toy_gem" / "__init__.py").write_text(TOY)
    info = site / "toy_gem-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-gem\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


def run_gem(site: Path, cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path]), "GEM_THREADS": "1"}
    env.pop("GEM_RUN_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", "from gemcli.cli import main; main()", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_a_plugin_package_adds_a_base_with_its_option_and_an_embedder(toy_path, frappe_zip, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    run_gem(toy_path, work, "preprocess", "frappe", "--source", str(frappe_zip), "--run-dir", "r")
    help_text = run_gem(toy_path, work, "train", "--help").stdout
    assert "--toy-scale" in help_text and "toy" in help_text
    res = run_gem(toy_path, work, "train", "--base", "toy", "--toy-scale", "0.5", *SMALL, "--name", "t")
    cfg = json.loads((work / "r/models/t/config.json").read_text())
    assert cfg["model"]["base"] == "toy" and cfg["model"]["base_options"] == {"toy_scale": 0.5}
    assert "toy_scale=0.5" in res.stdout
    bad = run_gem(toy_path, work, "train", "--base", "toy", "--toy-scale", "-1", "--dry-run", ok=False)
    assert bad.returncode == 2 and "--toy-scale -1.0: expected" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_gem(toy_path, work, "train", "--base", "fm", "--toy-scale", "1", "--dry-run", ok=False)
    assert bad.returncode == 2 and "--toy-scale: base fm has no such option" in bad.stderr
    run_gem(toy_path, work, "train", "--embedder", "scaled", "--embedder-option", "start=2", *SMALL, "--name", "e")
    cfg = json.loads((work / "r/models/e/config.json").read_text())
    assert cfg["model"]["embedder"] == "scaled" and cfg["model"]["embedder_options"] == {"start": 2.0}
    bad = run_gem(toy_path, work, "train", "--embedder", "scaled", "--embedder-option", "start=abc", ok=False)
    assert bad.returncode == 2 and "--embedder-option start: 'abc' is not" in bad.stderr
    res = run_gem(toy_path, work, "sweep", "--base", "toy", "--param", "toy_scale=0.5,2", *SMALL)
    points = sorted(p.name for p in (work / "r/sweeps").glob("*/points/toy*"))
    assert points == ["toy_scale=0.5-s0", "toy_scale=2.0-s0"], points
    res = run_gem(toy_path, work, "tune", "t1", "--base", "toy", "--param", "toy_scale=0.1:3", "--trials", "1", *SMALL)
    trial = json.loads(next((work / "r/tune/t1/trials").glob("*/config.json")).read_text())
    assert 0.1 <= trial["model"]["base_options"]["toy_scale"] <= 3
    res = run_gem(toy_path, work, "compare")
    assert "TOY" in res.stdout and "GEM[scaled]+FM" in res.stdout


def test_no_option_is_declared_twice():
    """Each option of the table is a parameter of gem train, sweep and tune exactly once, made from the table; no
    command declares one of them itself (with_options refuses that when the command is defined)."""
    from gemcli.cli import search_cmds, train_cmds
    from gemcli.cli.options import with_options

    names = [o.name for o in cli_options()]
    assert len(names) == len(set(names))
    for cmd in (train_cmds.train_cmd, search_cmds.sweep_cmd, search_cmds.tune_cmd):
        assert table_params(cmd) == names
    assert "monitor" in table_params(search_cmds.tune_cmd)  # gem tune had no --monitor before the table

    def twice(lr: float = 0.1, **given: object) -> None:
        pass

    with pytest.raises(TypeError, match="lr declared by the command and by the option table"):
        with_options("")(twice)


def test_declared_defaults_are_the_constructors():
    """An embedder's or a base's declared default is what its constructor takes when the option is not given."""
    import inspect

    from gemcli.config import base_option_table, embedder_option_table
    from gemcli.models import MODELS, model_names
    from gemcli.nn.embedders import embedder_class, embedder_names

    for name in embedder_names():
        params = inspect.signature(embedder_class(name).__init__).parameters
        for key, o in embedder_option_table(name).items():
            assert params[key].default == o.default, (name, key)
    for base in model_names():
        params = inspect.signature(MODELS[base].__init__).parameters
        for key, o in base_option_table(base).items():
            assert o.default == (list(d) if isinstance(d := params[key].default, tuple) else d), (base, key)


def test_help_shows_plain_metavars_without_patching_typer(gem):
    """--help names what an option takes as TEXT / INTEGER / FLOAT / [a|b], nothing for a flag: set through the
    command group's public hook (GemGroup.get_command), Typer itself unpatched."""
    import typer.core

    res = gem("train", "--help")
    lines = {line.split()[1]: line for line in res.output.splitlines() if line.startswith("│ --")}
    assert "INTEGER" in lines["--epochs"] and "FLOAT" in lines["--lr"] and "[adagrad|adam|sgd]" in lines["--optimizer"]
    assert not any(f"<{t}>" in res.output for t in ("bool", "int", "float", "str"))
    assert not hasattr(typer.core.TyperOption.display_type_rich, "_gem")  # 0.4.4 replaced this method


@pytest.mark.parametrize(
    "args, said",
    [
        (["--embedder", "sage", "--embedder-option", "fanout=abc"], "--embedder-option fanout: 'abc' is not"),
        (["--embedder", "sage", "--embedder-option", "fanout=-1"], "--embedder-option fanout -1: expected 0 (all)"),
        (["--embedder", "sage", "--embedder-option", "fanout="], "--embedder-option fanout: '' is not"),
        (["--embedder", "gat", "--embedder-option", "att_dim=nan"], "--embedder-option att_dim: 'nan' is not"),
        (["--embedder", "gat", "--embedder-option", "slope=inf"], "--embedder-option slope inf: expected"),
        (["--embedder", "sage", "--embedder-option", "combine=max"], "expected one of tables, concat"),
        (["--gem", "--embedder-option", "layers=0"], "--embedder-option layers 0: expected between 1 and 16"),
        (["--gem", "--gcn-fanout", "-2"], "--gcn-fanout -2: expected 0 (all) or a positive count"),
        (["--base", "deepfm", "--mlp", "64-x"], "--mlp: '64-x' is not sizes like 64-32"),
    ],
)
def test_typed_option_values_stop_in_one_line(gem, graph_run, args, said):
    """A value of the wrong type or range, for any option the table declares (an embedder's own too), is one line
    naming the option, exit 2, nothing trained (0.4.4: a traceback for abc and nan, fanout=-1 accepted)."""
    res = gem("train", *args, "--epochs", "1", ok=False)
    assert res.exit_code == 2 and said in res.output and "Traceback" not in res.output, res.output
    assert not (graph_run / "models").exists() or not any((graph_run / "models").iterdir())


@pytest.mark.parametrize("bound", ["lr=0.1:inf", "lr=0:0.1", "dropout=0:1", "mlp=int:1:3", "epochs=1.5:3"])
def test_search_bounds_are_checked_before_anything_is_written(gem, run, bound):
    """A search bound outside its option's range or of the wrong kind stops `gem tune` in one line and leaves no
    study behind (0.4.4: lr=0.1:inf was a traceback and left a tune.json that blocked the name)."""
    res = gem("tune", "t", "--param", bound, "--trials", "1", "--epochs", "1", ok=False)
    assert res.exit_code == 2 and "Traceback" not in res.output and "--param" in res.output, res.output
    assert not (run / "tune").exists() or not any((run / "tune").iterdir())
