"""scripts/dropout_placements.py: issue 18's three GCN dropout placements in one table and figure."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_train_once_leaves_each_run_s_state_to_gem_train(tmp_path):
    """results/lib.sh's train_once, shared by the results scripts' retrainings: whatever state a run is in, the same
    `gem train ... --name NAME` (which resumes, skips, or names a config that differs: test_train); nothing removed
    by the script itself."""
    stub, log = stub_gem(tmp_path)
    models = tmp_path / "run" / "models"
    (models / "done").mkdir(parents=True)
    (models / "done" / "summary.json").write_text('{"status": "finished"}')
    (models / "cut").mkdir()
    (models / "cut" / "checkpoint.pt").write_bytes(b"x")
    script = f". {ROOT / 'results' / 'lib.sh'}\nfor n in done cut new; do train_once $n --base nfm --seed 1; done\n"
    env = {"GEM": str(stub), "RUN": str(tmp_path / "run"), "PATH": "/usr/bin:/bin"}
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, check=True)
    run_dir = tmp_path / "run"
    assert log.read_text().splitlines() == [
        f"train --base nfm --seed 1 --name {n} --run-dir {run_dir}" for n in ("done", "cut", "new")
    ]
    assert (models / "done" / "summary.json").exists() and (models / "cut" / "checkpoint.pt").exists()
    env["OUT"] = str(tmp_path / "out")  # keep_run keeps finished runs only
    res = subprocess.run(["bash", "-c", f". {ROOT / 'results' / 'lib.sh'}; keep_run cut"], env=env, capture_output=True)
    assert res.returncode == 1 and f"keep_run: {models}/cut has not finished" in res.stderr.decode()
    assert not (tmp_path / "out").exists()


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
    (run_dir / "sweeps" / "sw").mkdir(parents=True)
    for f in ("results.md", "results.csv", "sw.png"):
        (run_dir / "sweeps" / "sw" / f).write_text(f)
    subprocess.run(["bash", "-euo", "pipefail", "-c", f". {lib}; keep_sweep sw"], env=env, check=True)
    assert [(out / f"sw.{e}").read_text() for e in ("md", "csv", "png")] == ["results.md", "results.csv", "sw.png"]
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
    assert all("--pruner median" in t for t in tunes.values())
    subprocess.run(["bash", str(script), "deepfm"], env={**env, "PRUNER": "none"}, check=True, cwd=ROOT)
    tunes = {line.split()[1]: line for line in log.read_text().splitlines() if line.startswith("tune ")}
    assert "--pruner none" in tunes["gem-deepfm-scratch-none"]  # another pruner: a study of its own


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


def kept_run(root: Path, name: str, seed: int, rmse: float, epochs: int, best: int, status: str = "finished") -> Path:
    """A run folder as `gem train` leaves it, as far as keep_run and kept_runs.py read it."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    summary = {"name": name, "seed": seed, "status": status, "best_epoch": best, "epochs_run": epochs,
               "task": "regression", "valid_rmse": rmse + 0.01, "valid_mae": 0.2, "test_rmse": rmse,
               "test_mae": 0.1 + seed / 100, "train_seconds": 100.0 * epochs}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    (folder / "metrics.jsonl").write_text("".join(f'{{"epoch": {e + 1}}}\n' for e in range(epochs)))
    return folder


def test_converged_scratch_unit_trains_the_run_table1_would_and_keeps_its_record(tmp_path):
    """converged.sh scratch-BASE-sS: the run `report table1 --gem-start scratch` names and configures (so either
    continues the other), then results/lib.sh's keep_run copies its record (not its weights) to OUT/runs/NAME;
    a run that has not finished (its command, run again, stopped again) is not kept, and the unit fails."""
    from gemcli.config import resolve_config
    from gemcli.table1 import pretrain_source, table1_name

    name = table1_name("inn", True, 1, "scratch")
    dst = f'"$RUN/models/{name}"'
    # a gem that trains NAME to its end, unless NAME holds a checkpoint: then it is interrupted again (exit 130)
    then = (
        f'case "$*" in *"--name {name}"*) [ -f {dst}/checkpoint.pt ] && exit 130; mkdir -p {dst}; '
        f'cp -r "$SRC"/. {dst} ;; esac\n'
    )
    stub, log = stub_gem(tmp_path, then)
    run_dir, out = prepared_run(tmp_path / "run"), tmp_path / "out"
    src = kept_run(tmp_path / "src", name, 1, 0.45, 69, 64)
    (src / "model.pt").write_bytes(b"weights")
    env = {"GEM": str(stub), "RUN": str(run_dir), "OUT": str(out), "SRC": str(src), "PATH": "/usr/bin:/bin"}
    script = ROOT / "results" / "frappe" / "converged.sh"
    subprocess.run(["bash", str(script), "scratch-inn-s1"], env=env, check=True, cwd=ROOT)
    args = log.read_text().split()
    assert args[:3] == ["train", "--base", "inn"] and args[args.index("--name") + 1] == name
    given = {"seed": int(args[args.index("--seed") + 1]), "epochs": int(args[args.index("--epochs") + 1])}
    assert "--gem" in args and "--pretrain" not in args and pretrain_source("inn", True, 1, "scratch") is None
    want = resolve_config("inn", True, {**given, "pretrain": None}, name=name).config
    assert given == {"seed": 1, "epochs": 500} and want.train.epochs == 500 and want.model.pretrain is None
    assert sorted(p.name for p in (out / "runs" / name).iterdir()) == ["config.json", "metrics.jsonl", "summary.json"]
    (run_dir / "models" / name / "summary.json").write_text('{"status": "interrupted"}')
    (run_dir / "models" / name / "checkpoint.pt").write_bytes(b"x")
    res = subprocess.run(["bash", str(script), "scratch-inn-s1"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 130  # the unit stops with its run; keep_run is not reached
    assert log.read_text().splitlines()[-1] == log.read_text().splitlines()[0]  # the same command again
    assert json.loads((out / "runs" / name / "summary.json").read_text())["status"] == "finished"  # the kept one stays


def test_kept_runs_tables_each_run_and_the_mean_of_its_group(tmp_path):
    """scripts/kept_runs.py: a row per kept run (still improving when its best epoch is its last), mean ± std per
    group (the name less -sSEED); a record whose metrics.jsonl disagrees with its summary is one line, exit 2."""
    root = tmp_path / "runs"
    kept_run(root, "table1-scratch-gem-inn-s0", 0, 0.40, 69, 64)
    kept_run(root, "table1-scratch-gem-inn-s1", 1, 0.50, 80, 80)
    kept_run(root, "other-s0", 0, 0.30, 10, 5)
    script, out = str(ROOT / "scripts" / "kept_runs.py"), tmp_path / "t.md"
    done = subprocess.run([sys.executable, script, str(root), "table1-*", "--out", str(out)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    text = out.read_text()
    assert done.stdout == text and "other" not in text
    assert "| table1-scratch-gem-inn-s0 | 0 | 64 / 69 | no | 0.4100 | 0.2000 | 0.4000 | 0.1000 | 6900 |" in text
    assert "| table1-scratch-gem-inn-s1 | 1 | 80 / 80 | yes |" in text
    assert "- table1-scratch-gem-inn: 2 seeds (0, 1): test rmse 0.4500 ± 0.0707, test mae 0.1050 ± 0.0071" in text
    (root / "other-s0" / "metrics.jsonl").write_text('{"epoch": 1}\n')
    bad = subprocess.run([sys.executable, script, str(root)], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().endswith("1 epochs, its summary says 10")
    assert subprocess.run([sys.executable, script, str(root), "none*"], capture_output=True).returncode == 2


STUDY_STUB = """case "$1" in
  tune) d="$RUN/tune/gem-inn-scratch"
    if [ -f "$d/study.journal" ]; then echo "journal $(cat "$d/study.journal")" >> "$LOG"; exit 0; fi
    mkdir -p "$d/trials/trial0000-s0" "$d/trials/trial0001-s0"
    echo '{}' > "$d/tune.json"; echo j1 > "$d/study.journal"; echo '# trials' > "$d/results.md"
    echo '{}' > "$d/trials/trial0000-s0/config.json"; echo '{}' > "$d/trials/trial0000-s0/metrics.jsonl"
    echo '{"status": "pruned"}' > "$d/trials/trial0000-s0/summary.json"
    echo '{"status": "interrupted"}' > "$d/trials/trial0001-s0/summary.json"
    exit 130 ;;
  train) while [ $# -gt 0 ]; do case "$1" in --name) n=$2 ;; --seed) s=$2 ;; esac; shift; done
    m="$RUN/models/$n"; mkdir -p "$m"; echo '{}' > "$m/config.json"; echo '{"epoch": 1}' > "$m/metrics.jsonl"
    echo "{\\"name\\": \\"$n\\", \\"seed\\": $s, \\"status\\": \\"finished\\", \\"best_epoch\\": 1, \\"epochs_run\\": 1,
      \\"task\\": \\"regression\\", \\"valid_rmse\\": 0.3, \\"valid_mae\\": 0.1, \\"test_rmse\\": 0.3$s,
      \\"test_mae\\": 0.1, \\"train_seconds\\": 5}" > "$m/summary.json" ;;
esac
"""


def test_tune_scratch_keep_runs_carries_the_study_and_its_runs_to_a_new_run_directory(tmp_path):
    """tune-scratch.sh with KEEP_RUNS=1: a search cut by the session's end keeps its state (tune.json, the journal,
    the ended trials' records, not the cut one's) in OUT/STUDY/state; the next call, in a run directory without the
    study, puts it back before `gem tune` goes on; each retrained run is kept in OUT/runs and not trained again; the
    study's table is made from the kept runs."""
    stub, log = stub_gem(tmp_path, STUDY_STUB)
    out = tmp_path / "out"
    script = ROOT / "results" / "frappe" / "tune-scratch.sh"

    def call(run: str) -> subprocess.CompletedProcess:
        env = {"GEM": str(stub), "RUN": str(prepared_run(tmp_path / run) if not (tmp_path / run).exists()
               else tmp_path / run), "OUT": str(out), "LOG": str(log), "KEEP_RUNS": "1", "PY": sys.executable,
               "PATH": "/usr/bin:/bin"}  # fmt: skip
        return subprocess.run(["bash", str(script), "inn"], env=env, cwd=ROOT, capture_output=True, text=True)

    assert call("run1").returncode == 130  # the search interrupted: its state kept, no retraining
    state = out / "gem-inn-scratch" / "state"
    assert sorted(p.name for p in state.iterdir()) == ["study.journal", "trials", "tune.json"]
    assert [p.name for p in (state / "trials").iterdir()] == ["trial0000-s0"]
    assert (out / "gem-inn-scratch" / "results.md").read_text() == "# trials\n"
    assert not any(line.startswith("train ") for line in log.read_text().splitlines())
    done = call("run2")  # a new run directory: the study put back, then the retraining
    assert done.returncode == 0, done.stderr
    assert "journal j1" in log.read_text().splitlines()
    assert (tmp_path / "run2" / "tune" / "gem-inn-scratch" / "trials" / "trial0000-s0" / "summary.json").is_file()
    kept = sorted(p.name for p in (out / "runs").iterdir())
    assert kept == [f"gem-inn-scratch-s{s}" for s in range(3)]
    assert "- gem-inn-scratch: 3 seeds (0, 1, 2): test rmse 0.3100 ± 0.0100" in (out / "gem-inn-scratch.md").read_text()
    trains = sum(line.startswith("train ") for line in log.read_text().splitlines())
    assert call("run3").returncode == 0  # every seed kept: none trained again
    assert sum(line.startswith("train ") for line in log.read_text().splitlines()) == trains == 3


def test_queue_print_gives_each_unit_a_script_that_exists(tmp_path):
    """results/queue.sh --print: each unit's command, nothing run (no lock taken); every script named is there, and
    the INN units call the converged.sh and tune-scratch.sh forms the tests above run."""
    done = subprocess.run(["bash", str(ROOT / "results" / "queue.sh"), "--print"], capture_output=True, text=True,
                          check=True)  # fmt: skip
    commands = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert len(commands) >= 20
    for unit, command in commands.items():
        script = next(w for w in command.split() if "=" not in w)
        assert (ROOT / script).is_file(), (unit, command)
    assert commands["inn-scratch-s0"] == "results/frappe/converged.sh scratch-inn-s0"
    assert commands["inn-scratch-s2"] == "results/frappe/converged.sh scratch-inn-s2"
    assert "tune-scratch-inn" not in commands  # by name only: its kept trial had 0.4.3's random INN head
    by_name = subprocess.run(["bash", str(ROOT / "results" / "queue.sh"), "--print", "tune-scratch-inn"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert by_name == "tune-scratch-inn: KEEP_RUNS=1 TRIALS=10 TUNE_EPOCHS=40 results/frappe/tune-scratch.sh inn\n"
    assert commands["gap-gem-fm"] == "results/frappe/gap.sh gem-fm"
    queue = str(ROOT / "results" / "queue.sh")
    bad = subprocess.run(["bash", queue, "--print", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown unit nope" in bad.stderr


def test_tune_scratch_keep_runs_keeps_the_study_when_the_script_itself_is_stopped(tmp_path):
    """A SIGTERM to tune-scratch.sh (not only to its gem) still keeps the study's state: the script exits 143
    after its running command, through its EXIT trap."""
    stub, _ = stub_gem(tmp_path, 'd="$RUN/tune/gem-inn-scratch"; mkdir -p "$d/trials"; echo j > "$d/study.journal"\n'
                       'echo "{}" > "$d/tune.json"; kill -TERM $PPID\n')  # fmt: skip
    out = tmp_path / "out"
    env = {"GEM": str(stub), "RUN": str(prepared_run(tmp_path / "run")), "OUT": str(out), "KEEP_RUNS": "1",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    script = ROOT / "results" / "frappe" / "tune-scratch.sh"
    done = subprocess.run(["bash", str(script), "inn"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 143
    assert (out / "gem-inn-scratch" / "state" / "study.journal").read_text() == "j\n"


def test_attention_measures_a_run_s_pair_attention_and_names_a_base_without_one(gem, run):
    """scripts/attention.py on an INN run: entropy within [0, log P], the largest pair's weight within [1/P, 1], and
    both as the model's own attention gives them on the validation rows; an FM run is refused in one line."""
    gem("train", "--base", "inn", "--embedding-size", "8", "--attention-size", "4", "--epochs", "2", "--name", "inn8")
    gem("train", "--base", "fm", "--embedding-size", "8", "--epochs", "1", "--name", "fm8")
    script = [sys.executable, str(ROOT / "scripts" / "attention.py"), str(run)]
    out = subprocess.run([*script, "inn8", "--weights", "best"], capture_output=True, text=True, check=True).stdout
    sys.path.insert(0, str(ROOT / "scripts"))  # attention.py imports bench.py beside it
    try:
        from attention import concentration

        c = concentration(run, "inn8", "best", 4096)
    finally:
        sys.path.pop(0)
    assert c["log_p"] == pytest.approx(math.log(45)) and 0 < c["entropy"] <= c["log_p"] + 1e-5  # float32's sum
    assert c["uniform"] - 1e-6 <= c["top"] <= 1
    assert f"attention entropy {c['entropy']:.2f} nats (uniform 3.81)" in out
    assert f"largest pair's weight {c['top']:.3f} (uniform 0.022)" in out
    bad = subprocess.run([*script, "fm8"], capture_output=True, text=True)
    assert bad.returncode != 0 and "fm8: base fm has no pair attention" in bad.stderr
