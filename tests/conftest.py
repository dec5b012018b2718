"""Small generated data in each raw format, and an isolated environment for the CLI."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gemcli.cli import app

FRAPPE_HEADER = [
    "user",
    "item",
    "cnt",
    "daytime",
    "weekday",
    "isweekend",
    "homework",
    "cost",
    "weather",
    "country",
    "city",
]


def make_frappe_csv(path: Path, n_logs: int = 600, n_users: int = 25, n_items: int = 80, seed: int = 0) -> Path:
    """A frappe.csv in the official layout: tab-separated, the 11 columns, city ids as numbers."""
    rng = np.random.default_rng(seed)
    days = ["morning", "afternoon", "evening", "night", "noon", "sunset", "sunrise"]
    weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    countries = ["Spain", "United States", "Germany", "unknown", "United Kingdom"]
    lines = ["\t".join(FRAPPE_HEADER)]
    for _ in range(n_logs):
        u = int(rng.integers(n_users))
        # each user draws from a window of items, so every user leaves many items unused
        i = int((u * 3 + rng.integers(15)) % n_items)
        wd = weekdays[int(rng.integers(7))]
        lines.append(
            "\t".join(
                [
                    str(u),
                    str(i),
                    str(int(rng.integers(1, 50))),
                    days[int(rng.integers(7))],
                    wd,
                    "weekend" if wd in ("saturday", "sunday") else "workday",
                    ["unknown", "home", "work"][int(rng.integers(3))],
                    ["free", "paid"][int(rng.integers(2))],
                    ["sunny", "cloudy", "rainy", "unknown"][int(rng.integers(4))],
                    countries[int(rng.integers(len(countries)))],
                    str(int(rng.integers(12))),
                ]
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def make_frappe_zip(path: Path, **kw) -> Path:
    csv = make_frappe_csv(path.with_suffix(".csv"), **kw)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Mobile_Frappe/README.txt", "test archive\n")
        zf.write(csv, "Mobile_Frappe/frappe/frappe.csv")
    return path


def make_tags(path: Path, n: int = 500, n_users: int = 20, n_movies: int = 40, n_tags: int = 60, seed: int = 1) -> Path:
    """MovieLens tags: .csv (header, quoted) or .dat (UserID::MovieID::Tag::Timestamp)."""
    rng = np.random.default_rng(seed)
    tags = [f"tag {k}" if k % 7 else f"Sci-Fi; {k}" for k in range(n_tags)]
    seen, rows = set(), []
    while len(rows) < n:
        u, m, t = int(rng.integers(n_users)) + 1, int(rng.integers(n_movies)) + 1, int(rng.integers(n_tags))
        if (u, m, t) in seen:
            continue
        seen.add((u, m, t))
        rows.append((u, m, tags[t], 1_100_000_000 + len(rows)))
    if path.suffix == ".dat":
        path.write_text("".join(f"{u}::{m}::{t}::{ts}\n" for u, m, t, ts in rows))
    else:
        path.write_text("userId,movieId,tag,timestamp\n" + "".join(f'{u},{m},"{t}",{ts}\n' for u, m, t, ts in rows))
    return path


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Isolated state (run directories used per working directory), datasets cache; cwd in tmp_path."""
    monkeypatch.setenv("GEM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GEM_DATASETS", str(tmp_path / "datasets-cache"))
    monkeypatch.delenv("GEM_RUN_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def gem(env):
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        res = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        if ok:
            assert res.exit_code == 0, res.output
        return res

    return invoke


@pytest.fixture
def frappe_zip(tmp_path):
    (tmp_path / "raw").mkdir()
    return make_frappe_zip(tmp_path / "raw" / "Mobile_Frappe.zip")


@pytest.fixture
def run(gem, frappe_zip, tmp_path):
    """A run directory `r` (the working directory's) with generated Frappe data preprocessed."""
    gem("preprocess", "frappe", "--source", frappe_zip, "--run-dir", "r")
    return tmp_path / "r"


@pytest.fixture
def graph_run(run, gem):
    """`run` with a type-a graph built."""
    gem("build-graph", "--type", "a")
    return run


@pytest.fixture
def interrupt_after():
    """interrupt_after(k): the next training is interrupted (Ctrl-C) once its k-th epoch's checkpoint is
    written, as a user would; `.undo()` on what it returns lets later training run (its own MonkeyPatch,
    so that undoing it leaves the test's working directory and environment alone)."""
    import gemcli.train as train_mod

    monkeypatch = pytest.MonkeyPatch()

    def arm(k: int):
        saves = {"n": 0}
        real_save, real_step = train_mod._atomic_save, train_mod.train_step

        def save(obj, path):
            real_save(obj, path)
            if Path(path).name == "checkpoint.pt":
                saves["n"] += 1

        def step(*a, **kw):
            if saves["n"] >= k:
                raise KeyboardInterrupt
            return real_step(*a, **kw)

        monkeypatch.setattr(train_mod, "_atomic_save", save)
        monkeypatch.setattr(train_mod, "train_step", step)
        return monkeypatch

    yield arm
    monkeypatch.undo()
