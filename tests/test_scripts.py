"""scripts/dropout_placements.py: issue 18's three GCN dropout placements in one table and figure."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["gem", "gcn_dropout", "seed", "best_epoch", "epochs_run", "valid_rmse", "valid_mae", "test_rmse",
           "test_mae", "train_seconds", "parameters", "peak_rss_mib", "run"]  # fmt: skip


def write_sweep(root: Path, name: str, rows: list[tuple[float, int, float]]) -> None:
    """A sweep's results.csv as `gem sweep dropout` writes it: (GCN dropout, seed, test RMSE) per finished run."""
    (root / name).mkdir(parents=True)
    with (root / name / "results.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for x, seed, rmse in rows:
            w.writerow([True, x, seed, 10 + seed, 15 + seed, rmse + 0.01, 0.1, rmse, 0.12, 60.0, 1000, 500.0, "r"])


def stub_gem(tmp_path: Path, then: str = "") -> tuple[Path, Path]:
    """A `gem` that logs its arguments (one call a line) and runs `then`, a shell line; (the stub, its log)."""
    log, stub = tmp_path / "gem.log", tmp_path / "gem"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {log}\n{then}')
    stub.chmod(0o755)
    return stub, log


def prepared_run(run_dir: Path) -> Path:
    """A run directory the results scripts take as preprocessed, with a graph built (they then call neither)."""
    (run_dir / "data").mkdir(parents=True)
    (run_dir / "data" / "meta.json").write_text("{}")
    (run_dir / "graphs" / "g").mkdir(parents=True)
    (run_dir / "graphs" / "g" / "graph.json").write_text("{}")
    return run_dir


def test_dropout_placements_share_the_zero_point_and_count_changes_in_seed_spreads(tmp_path):
    sweeps = tmp_path / "run" / "sweeps"
    write_sweep(sweeps, "dropout-output", [(0.0, 0, 0.30), (0.0, 1, 0.31), (0.1, 0, 0.32), (0.1, 1, 0.33)])
    write_sweep(sweeps, "dropout-edges", [(0.1, 0, 0.34), (0.1, 1, 0.36)])
    stem = tmp_path / "out" / "placements"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/dropout_placements.py"), str(tmp_path / "run"), str(stem)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"wrote {stem}.md" in done.stdout and stem.with_suffix(".png").stat().st_size > 0
    rows = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]] for r in
            stem.with_suffix(".md").read_text().splitlines() if r.startswith("| ") and "---" not in r}  # fmt: skip
    assert rows["any (nothing is dropped)"][:4] == ["0", "2", "0.3050 ± 0.0071", "0.1200 ± 0.0000"]
    output, edges = rows["output (the propagated rows)"], rows["edges (Â's entries, message dropout)"]
    assert output[5:8] == ["+0.0200", "+2.8", "10, 11"]  # (0.325 - 0.305) / 0.00707: spreads equal on both sides
    pooled = ((0.0141421**2 + 0.0070711**2) / 2) ** 0.5
    assert edges[5] == "+0.0450" and edges[6] == f"{0.045 / pooled:+.1f}"
    assert not any(k.startswith("weights") for k in rows)
    assert "No finished point yet: dropout-weights." in stem.with_suffix(".md").read_text()


def test_plot_embedders_draws_the_table_and_names_a_bad_cell(tmp_path):
    """scripts/plot_embedders.py: a figure from the study's table; a bad number is one line naming line and column."""
    header = "base,embedder,seeds,test_rmse_mean,test_rmse_sd,test_mae_mean,test_mae_sd,source\n"
    good = tmp_path / "t.csv"
    good.write_text(header + "fm,lookup,3,0.31,0.001,0.15,0.002,x\nnfm,gcn,3,0.29,0.003,,,y\n")
    out = tmp_path / "fig" / "e.png"
    out.parent.mkdir()
    script = str(ROOT / "scripts/plot_embedders.py")
    done = subprocess.run([sys.executable, script, str(good), str(out)], capture_output=True, text=True)
    assert done.returncode == 0 and out.stat().st_size > 0, done.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "fm,lookup,3,0.31,0.001,0.15,0.002,x\nfm,gcn,3,0.3o,0.001,,,x\n")
    done = subprocess.run([sys.executable, script, str(bad), str(tmp_path / "b.png")], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == f"{bad}: line 3, column test_rmse_mean: '0.3o' is not a number"
    assert not (tmp_path / "b.png").exists()


def test_dropout_placements_read_kept_csvs_as_they_read_a_run_directory(tmp_path):
    """Each placement's results.csv kept as dropout-P.csv in a folder (a run directory that did not outlive its session)
    gives the same table as the run directory; a run directory's own sweep wins over a kept file."""
    sweeps = tmp_path / "run" / "sweeps"
    write_sweep(sweeps, "dropout-output", [(0.0, 0, 0.30), (0.0, 1, 0.31), (0.1, 0, 0.32), (0.1, 1, 0.33)])
    write_sweep(sweeps, "dropout-weights", [(0.2, 0, 0.40), (0.2, 1, 0.41)])
    kept = tmp_path / "kept"
    kept.mkdir()
    for on in ("output", "weights"):
        (kept / f"dropout-{on}.csv").write_bytes((sweeps / f"dropout-{on}" / "results.csv").read_bytes())
    script = str(ROOT / "scripts/dropout_placements.py")
    for source, stem in ((tmp_path / "run", tmp_path / "a"), (kept, tmp_path / "b")):
        subprocess.run([sys.executable, script, str(source), str(stem)], capture_output=True, text=True, check=True)
    assert (tmp_path / "a.md").read_text() == (tmp_path / "b.md").read_text()
    assert "| weights (W's rows, node dropout) | 0.2 | 2 |" in (tmp_path / "b.md").read_text()
    write_sweep(kept / "sweeps", "dropout-weights", [(0.4, 0, 0.50)])  # the folder is a run directory too
    subprocess.run([sys.executable, script, str(kept), str(tmp_path / "c")], capture_output=True, text=True, check=True)
    assert "| weights (W's rows, node dropout) | 0.4 | 1 |" in (tmp_path / "c.md").read_text()
    (kept / "dropout-output.csv").unlink()  # no 0 point yet: no change against it, not a second reference
    subprocess.run([sys.executable, script, str(kept), str(tmp_path / "d")], capture_output=True, text=True, check=True)
    assert (
        "| weights (W's rows, node dropout) | 0.4 | 1 | 0.5000 | 0.1200 | 0.5100 | - | - | 10 | 1.0 |"
        in (tmp_path / "d.md").read_text()
    )


def test_train_once_skips_finished_resumes_interrupted_and_trains_the_rest(tmp_path):
    """results/lib.sh's train_once, shared by the results scripts' retrainings: one decision per run's state."""
    stub, log = stub_gem(tmp_path)
    models = tmp_path / "run" / "models"
    (models / "done").mkdir(parents=True)
    (models / "done" / "summary.json").write_text('{"status": "finished"}')
    (models / "cut").mkdir()
    (models / "cut" / "checkpoint.pt").write_bytes(b"x")
    (models / "cut" / "summary.json").write_text('{"status": "interrupted"}')
    (models / "empty").mkdir()  # started, never saved an epoch: trained afresh
    (models / "empty" / "config.json").write_text("{}")
    script = (
        f". {ROOT / 'results' / 'lib.sh'}\nfor n in done cut empty new; do train_once $n --base nfm --seed 1; done\n"
    )
    env = {"GEM": str(stub), "RUN": str(tmp_path / "run"), "PATH": "/usr/bin:/bin"}
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, check=True)
    run_dir = tmp_path / "run"
    assert log.read_text().splitlines() == [
        f"train --resume --run cut --run-dir {run_dir}",
        f"train --base nfm --seed 1 --name empty --run-dir {run_dir}",
        f"train --base nfm --seed 1 --name new --run-dir {run_dir}",
    ]
    assert not (models / "empty").exists()  # the unsaved start removed before training afresh
    assert (models / "done" / "summary.json").exists() and (models / "cut" / "checkpoint.pt").exists()


def test_train_seeds_trains_three_seeds_jobs_at_a_time_and_keep_study_keeps_the_search(tmp_path):
    """results/lib.sh's train_seeds (three seeds, JOBS at a time, a failure reported) and keep_study."""
    stub, log = stub_gem(tmp_path, 'case "$*" in *fail-s1*) exit 3 ;; esac\n')
    run_dir, out = tmp_path / "run", tmp_path / "out"
    (run_dir / "tune" / "st").mkdir(parents=True)
    for f in ("results.md", "best-recipe.toml", "history.png"):  # importance.png missing: not an error
        (run_dir / "tune" / "st" / f).write_text(f)
    lib = ROOT / "results" / "lib.sh"
    env = {"GEM": str(stub), "RUN": str(run_dir), "OUT": str(out), "JOBS": "2", "PATH": "/usr/bin:/bin"}
    subprocess.run(["bash", "-euo", "pipefail", "-c", f". {lib}; train_seeds st --base nfm; keep_study st"],
                   env=env, check=True)  # fmt: skip
    lines = log.read_text().splitlines()
    assert sorted(lines[:3]) == [f"train --base nfm --seed {s} --name st-s{s} --run-dir {run_dir}" for s in range(3)]
    assert lines[3] == f"report table1 --runs st-s* --run-dir {run_dir} --out {out}/st.md"
    assert sorted(p.name for p in (out / "st").iterdir()) == ["best-recipe.toml", "history.png", "results.md"]
    res = subprocess.run(["bash", "-uo", "pipefail", "-c", f". {lib}; train_seeds fail; echo rc=$?"], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert "rc=1" in res.stdout  # one seed's failure is the helper's
    assert sum("--name fail-s" in line for line in log.read_text().splitlines()) == 3  # the others still ran


def test_tune_scratch_searches_only_the_dropouts_the_base_has(tmp_path):
    """results/frappe/tune-scratch.sh: Wide&Deep has no FM dropout, so its search varies the MLP's dropout alone
    (`gem tune` stops on a --param the base does not take); DeepFM's varies both."""
    stub, log = stub_gem(tmp_path)
    run_dir = prepared_run(tmp_path / "run")
    env = {"GEM": str(stub), "RUN": str(run_dir), "OUT": str(tmp_path / "out"), "PATH": "/usr/bin:/bin"}
    script = ROOT / "results" / "frappe" / "tune-scratch.sh"
    subprocess.run(["bash", str(script), "deepfm", "wide_deep"], env=env, check=True, cwd=ROOT)
    tunes = {line.split()[1]: line for line in log.read_text().splitlines() if line.startswith("tune ")}
    assert "--param dropout=0:0.6 --param mlp_dropout=0:0.6" in tunes["gem-deepfm-scratch"]
    assert "--param mlp_dropout=0:0.6" in tunes["gem-wide_deep-scratch"]
    assert "--param dropout=" not in tunes["gem-wide_deep-scratch"]
    trains = [line for line in log.read_text().splitlines() if line.startswith("train ") and "wide_deep" in line]
    assert len(trains) == 3 and all("gem-wide_deep-scratch/best-recipe.toml" in t for t in trains)


def test_gpu_table1_trains_the_runs_report_table1_run_missing_would(tmp_path):
    """scripts/gpu_table1.sh: one lane a seed, the runs named and started as `gem report table1 --run-missing` names
    and starts them (gemcli.table1), FM and GEM+FM first, then per base scratch, plain, fine-tuned; then the table."""
    from gemcli.table1 import pretrain_source, table1_name

    stub, log = stub_gem(tmp_path)
    run_dir, out = prepared_run(tmp_path / "run"), tmp_path / "out"
    env = {"GEM": str(stub), "RUN": str(run_dir), "OUT": str(out), "EPOCHS": "500", "PATH": "/usr/bin:/bin"}
    subprocess.run(["bash", str(ROOT / "scripts" / "gpu_table1.sh"), "afm"], env=env, check=True, cwd=ROOT)
    lines = log.read_text().splitlines()
    trains = [line.split() for line in lines if line.startswith("train ")]
    assert len(trains) == 3 * 5 and lines[-1] == f"report table1 --run-dir {run_dir} --out {out}/table1-gpu.md"

    def opt(args: list[str], key: str) -> str | None:
        return args[args.index(key) + 1] if key in args else None

    for s in range(3):
        lane = [t for t in trains if opt(t, "--seed") == str(s)]
        asked = [(opt(t, "--base"), "--gem" in t, opt(t, "--name"), opt(t, "--pretrain")) for t in lane]
        want = [("fm", False, "fine-tune"), ("fm", True, "fine-tune"), ("afm", True, "scratch"),
                ("afm", False, "fine-tune"), ("afm", True, "fine-tune")]  # fmt: skip
        assert asked == [(b, g, table1_name(b, g, s, st), pretrain_source(b, g, s, st)) for b, g, st in want]
        assert [opt(t, "--epochs") for t in lane] == [None, None, "500", "500", "500"]  # FM: its recipe's cap


def test_converged_table1_trains_plain_and_fine_tuned_rows_before_those_from_scratch(tmp_path):
    """converged.sh table1-BASE: FM and GEM+FM, the plain and fine-tuned rows, then GEM from scratch, then the table
    kept; table1-ft-BASE: the same without the runs from scratch, keeping nothing."""
    stub, log = stub_gem(tmp_path)
    run_dir, out = prepared_run(tmp_path / "run"), tmp_path / "out"
    env = {"GEM": str(stub), "RUN": str(run_dir), "OUT": str(out), "PATH": "/usr/bin:/bin"}
    script = ROOT / "results" / "frappe" / "converged.sh"
    t1 = f"report table1 --run-missing --seeds 3 --threads 2 --run-dir {run_dir}"
    subprocess.run(["bash", str(script), "table1-ft-afm"], env=env, check=True, cwd=ROOT)
    assert log.read_text().splitlines() == [
        f"{t1} --gem-start scratch --bases fm",
        f"{t1} --bases afm --epochs 500",
    ]
    assert not out.exists() or not any(out.iterdir())
    log.unlink()
    subprocess.run(["bash", str(script), "table1-afm"], env=env, check=True, cwd=ROOT)
    assert log.read_text().splitlines() == [
        f"{t1} --gem-start scratch --bases fm",
        f"{t1} --bases afm --epochs 500",
        f"{t1} --gem-start scratch --bases afm --epochs 500",
        f"report table1 --run-dir {run_dir} --out {out}/table1-converged-afm.md",
    ]
