"""Benchmark harness: gemcli against pytorch-fm (torchfm) and DeepCTR-Torch on Frappe and full-size MovieLens.

Not a test: it prints figures and writes bench/results.md. Usage (after `make install`; `make bench`
installs the peers through the `bench` extra):

    python scripts/bench.py [--frappe PATH/Mobile_Frappe.zip] [--steps 30] [--skip-movielens]
    python scripts/bench.py --skip-frappe --skip-movielens --criteo-rows 10000000 --section criteo

- with --criteo-rows N: a generated Criteo-format train.txt of N lines (gemcli/synthetic.py, seed 0; 39 fields),
  `gem preprocess criteo` timed with its peak memory, a graph, one-epoch `gem train` runs, and the binary
  task's throughput (ours and the peers' on the same tensors, cross-entropy) at --ctr-dim;
- with --section NAME: only that section of --out is replaced (the rest of the file is kept);

- preprocessing time and peak memory (a `gem preprocess` subprocess each) for Frappe and for a
  generated MovieLens tags.csv with the paper's statistics (scripts/make_movielens.py, seed 0);
- training samples/s (and seconds per epoch) of FM, DeepFM and GEM+FM, beside torchfm's and
  DeepCTR-Torch's FM and DeepFM trained on the same tensors with the same sizes in this process;
- evaluation samples/s; ratios to the best peer, and of GEM+FM's time per sample to FM's.
The throughput part runs twice, each time in a fresh worker process: with glibc's default malloc
thresholds (everyone as installed) and with MALLOC_MMAP_THRESHOLD_ raised to 2 GiB - 1 and MALLOC_TRIM_THRESHOLD_
to never for every model, ours and the peers' (what `gem` sets for itself, gemcli/allocator.py; bench/results.md's
figures so far were made with both at 1 GiB).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
GEM = [sys.executable, "-m", "gemcli.cli"]


def run_gem(args: list[str], env: dict, needed: bool = True) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one gem command in a subprocess (its own rusage, via wait4). A command that
    fails ends the benchmark if `needed` (what follows reads its output), else raises GemFailed (its last line)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(GEM + args, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            log.seek(0)
            text = log.read()
            if needed:
                sys.exit(f"gem {' '.join(args)} failed:\n{text}")
            print(f"gem {' '.join(args)} failed:\n{text}", flush=True)
            raise GemFailed(last_message(text))
    return seconds, usage.ru_maxrss / 1024


def last_message(text: str) -> str:
    """The last thing a failed command said: the text of its last rich panel (box drawn off), else its last line."""
    lines = text.splitlines()
    top = max((i for i, line in enumerate(lines) if line.lstrip().startswith("╭")), default=None)
    said = [t for t in (line.strip(" │╭╮╰╯─") for line in lines[top + 1 :]) if t] if top is not None else []
    return " ".join(said or [line for line in lines if line.strip()][-1:] or ["no output"])[:200]


class GemFailed(Exception):
    """A gem command the benchmark can do without failed (its message: the output's last line)."""


def optional_stage(prep: list, data: str, stage: str, args: list[str], env: dict) -> None:
    """One timed gem command that nothing else reads (a one-epoch training): a row of prep, its figures or the
    failure's last line, and the benchmark goes on."""
    try:
        s, mem = run_gem(args, env, needed=False)
        prep.append((data, stage, s, mem))
    except GemFailed as e:
        prep.append((data, stage, None, f"failed: {e}"))


def prep_row(p: tuple, sep: str = " | ") -> str:
    """A row of the preparation table: seconds and peak MiB, or what failed."""
    figures = [f"{p[2]:.2f}", f"{p[3]:.0f}"] if p[2] is not None else [p[3], ""]
    return sep.join([p[0], p[1], *figures])


def sync() -> None:
    """Wait for queued GPU work (timings on CUDA would otherwise measure only the launches)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def time_steps(step, n_batches: int, steps: int, repeats: int = 3) -> float:
    """Optimiser steps per second: the median over `repeats` timed runs of `steps` calls, after 3 warm-up calls
    (single short runs on this shared 2-core machine vary by up to 1.5x)."""
    for b in range(3):
        step(b % n_batches)
    rates = []
    sync()
    for r in range(repeats):
        t0 = time.perf_counter()
        for b in range(3 + r * steps, 3 + (r + 1) * steps):
            step(b % n_batches)
        sync()
        rates.append(steps / (time.perf_counter() - t0))
    return float(np.median(rates))


def shuffled_batches(x: torch.Tensor, y: torch.Tensor, bs: int, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first `count` full batches of a seeded (0) shuffle of the split, cut once."""
    perm = torch.from_numpy(np.random.default_rng(0).permutation(len(y)))
    return [(x[perm[b * bs : (b + 1) * bs]], y[perm[b * bs : (b + 1) * bs]]) for b in range(min(len(y) // bs, count))]


def run_setup(run_dir: Path, run: str):
    """(train's Setup, the run's folder) of run RUN_DIR/models/RUN, built from its config.json as `gem train --resume`
    builds it (fresh weights: load the checkpoint's into setup.model)."""
    from gemcli import train
    from gemcli.config import RunConfig

    folder = run_dir / "models" / run
    cfg = RunConfig.from_dict(json.loads((folder / "config.json").read_text()))
    return train._setup(run_dir, cfg, folder, new=False), folder


def checkpoint_steps(run_dir: Path, run: str, steps: int, from_checkpoint: bool = True, evals: int = 0) -> dict:
    """Seconds and minor page faults of a training step of run RUN_DIR/models/RUN (step_s, step_faults) and, with
    `evals`, of an evaluation of its validation and test splits as each epoch ends (eval_s, eval_faults): its config,
    and with from_checkpoint its checkpoint.pt's weights and optimiser moments (else a fresh model); `steps` steps
    after one untimed, on the first batches of a seeded shuffle of its training split, then `evals` evaluations
    after the steps (the first of them warm). Set the process up (threads, denormals, allocator) before calling it:
    scripts/denormals.py and scripts/heap.py time one setting a process."""
    import resource

    from gemcli import train
    from gemcli.runs import load_checkpoint

    def faults() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    setup, folder = run_setup(run_dir, run)
    cfg = setup.cfg
    if from_checkpoint:
        ck = load_checkpoint(folder / "checkpoint.pt", "cpu")
        setup.model.load_state_dict(ck["model"])
        setup.optimizer.load_state_dict(ck["optimizer"])
    batches = shuffled_batches(*setup.splits["train"], cfg.train.batch_size, steps + 1)
    setup.model.train()
    train.train_step(setup.model, setup.optimizer, *batches[0], cfg.train, setup.task)
    f0, t0 = faults(), time.perf_counter()
    for xb, yb in batches[1:]:
        train.train_step(setup.model, setup.optimizer, xb, yb, cfg.train, setup.task)
    out = {"step_s": (time.perf_counter() - t0) / steps, "step_faults": (faults() - f0) / steps}
    if evals:
        setup.model.eval()
        f0, t0 = faults(), time.perf_counter()
        for _ in range(evals):
            train._evaluate_epoch(setup)  # predict() runs under torch.no_grad
        out |= {"eval_s": (time.perf_counter() - t0) / evals, "eval_faults": (faults() - f0) / evals}
    return out


def checkpoint_parser(doc: str, modes: list[str] | None) -> argparse.ArgumentParser:
    """The arguments of the scripts that time a run's checkpoint under one setting a process (scripts/denormals.py,
    scripts/heap.py, scripts/eval_batch.py): RUN_DIR RUN [--steps] [--repeats] [--threads], and the hidden --child
    MODE of a measurement (one of `modes`; None: any)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("run")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", choices=modes, help=argparse.SUPPRESS)
    return ap


def checkpoint_or_exit(a: argparse.Namespace) -> Path:
    """RUN_DIR/models/RUN/checkpoint.pt of checkpoint_parser's arguments; exits with a line if there is none."""
    path = a.run_dir / "models" / a.run / "checkpoint.pt"
    if not path.is_file():
        sys.exit(f"{path}: no checkpoint (a finished run keeps none; take an unfinished or interrupted one)")
    return path


def measurements(script: str, a: argparse.Namespace, modes: list[str], env_of, extra: tuple[str, ...] = ()):
    """(round, mode, the child's last line of output) for each measurement: a fresh process of `script` with
    --child MODE (and checkpoint_parser's arguments, then `extra`) in the environment env_of(MODE), the modes in
    turn, `a.repeats` rounds."""
    for r in range(a.repeats):
        for mode in modes:
            cmd = [sys.executable, script, str(a.run_dir), a.run, "--child", mode]
            cmd += ["--steps", str(a.steps), "--threads", str(a.threads), *extra]
            done = subprocess.run(cmd, env=env_of(mode), capture_output=True, text=True, check=True)
            yield r + 1, mode, done.stdout.splitlines()[-1]


def default_model(run: Path, meta: Any, base: str, gem: bool, dim: int, fanout: int = 0, device: str = "cpu"):
    """(model, optimiser, train config, model config) as `gem train` resolves them (the model's recipe), seed 0,
    on `device`."""
    from gemcli.build import build_model, finalise_model, make_optimizer
    from gemcli.config import resolve_config

    torch.manual_seed(0)
    cfg = resolve_config(base, gem, {"embedding_size": dim, "gcn_fanout": fanout}).config
    tcfg, mcfg = cfg.train, finalise_model(run, cfg.model, meta)
    model = build_model(run, mcfg, meta).to(device)
    return model, make_optimizer(model, tcfg, bool(mcfg.sparse)), tcfg, mcfg


def import_torchfm():
    np.long = np.int64  # torchfm 0.7.0 uses np.long, removed in NumPy 1.24
    try:
        from torchfm.model.dfm import DeepFactorizationMachineModel
        from torchfm.model.fm import FactorizationMachineModel
    except ImportError:
        return None
    return FactorizationMachineModel, DeepFactorizationMachineModel


def import_deepctr():
    """deepctr-torch 0.3.0 starts a version check against the package index on import: stub it out."""
    spec = importlib.util.find_spec("deepctr_torch")
    if spec is None:
        return None
    utils_path = Path(spec.origin).with_name("utils.py")
    uspec = importlib.util.spec_from_file_location("deepctr_torch.utils", utils_path)
    utils = importlib.util.module_from_spec(uspec)
    uspec.loader.exec_module(utils)
    utils.check_version = lambda version: None
    sys.modules["deepctr_torch.utils"] = utils
    from deepctr_torch.inputs import SparseFeat
    from deepctr_torch.models import DeepFM

    return SparseFeat, DeepFM


def bench_dataset(
    name: str, run: Path, steps: int, dim: int, bs: int, rows: list, notes: list, fanout: int, device: str = "cpu"
) -> None:
    from gemcli import rundir
    from gemcli.tasks import get_task
    from gemcli.train import load_split, predict, train_step

    meta = rundir.read_meta(run)
    task = get_task(meta.task)
    binary = task.name == "binary"
    x, y = load_split(run, "train", meta)
    xv, _ = load_split(run, "valid", meta)
    n = len(y)
    dev = torch.device(device)
    batches = [(xb.to(dev), yb.to(dev)) for xb, yb in shuffled_batches(x, y, bs, 3 * steps + 3)]
    nb = len(batches)
    cards = [meta.cardinalities[f] for f in meta.fields]
    offsets = torch.tensor([meta.offsets[f] for f in meta.fields], device=dev)
    local = [(xb - offsets, yb) for xb, yb in batches]

    def record(model: str, family: str, rate: float, eval_rate: float | None = None) -> None:
        rows.append(
            {
                "dataset": name,
                "model": model,
                "family": family,
                "samples_s": rate * bs,
                "epoch_s": n / (rate * bs),
                "eval_s": eval_rate,
            }
        )
        extra = f", eval {eval_rate:,.0f} samples/s" if eval_rate else ""
        print(f"{name:10s} {model:34s} {rate * bs:11,.0f} samples/s  {n / (rate * bs):7.1f} s/epoch{extra}", flush=True)

    ours = [
        ("gemcli FM", "FM", "fm", False, 0),
        ("gemcli DeepFM", "DeepFM", "deepfm", False, 0),
        ("gemcli GEM+FM", "GEM+FM", "fm", True, 0),
    ]
    if fanout:
        ours.append((f"gemcli GEM+FM --gcn-fanout {fanout}", "GEM+FM", "fm", True, fanout))
    for label, family, base, gem, fan in ours:
        try:  # a model that fails (a device's missing kernel, memory) is named in the notes; the others go on
            model, opt, tcfg, mcfg = default_model(run, meta, base, gem, dim, fan, device)
            rate = time_steps(lambda b, m=model, o=opt, t=tcfg: train_step(m, o, *batches[b], t, task), nb, steps)
            t0 = time.perf_counter()
            predict(model, xv, 65536, dev)
            sync()
        except (RuntimeError, MemoryError) as e:
            notes.append(f"{name}: {label} failed: {str(e).splitlines()[0][:160]}")
            print(f"{name:10s} {label:34s} failed: {str(e).splitlines()[0]}", flush=True)
            continue
        record(
            label + (" (row-sparse)" if mcfg.sparse and not gem else ""),
            family,
            rate,
            len(xv) / (time.perf_counter() - t0),
        )

    mse, bce = torch.nn.MSELoss(), torch.nn.BCELoss()
    tfm = import_torchfm()
    if tfm is None:
        notes.append("torchfm not installed: `pip install -e '.[bench]'`")
    else:
        for label, family, make in (
            ("pytorch-fm FM (torchfm 0.7.0)", "FM", lambda: tfm[0](np.array(cards), dim)),
            ("pytorch-fm DeepFM (torchfm 0.7.0)", "DeepFM", lambda: tfm[1](np.array(cards), dim, (200, 200, 200), 0.2)),
        ):
            torch.manual_seed(0)
            peer = make().to(dev)
            popt = torch.optim.Adam(peer.parameters(), lr=1e-3)

            def step(b: int, peer=peer, popt=popt) -> None:
                xb, yb = local[b]
                # its models end in a sigmoid: cross-entropy on 0/1 labels; regression on (y+1)/2
                loss = bce(peer(xb), yb) if binary else mse(peer(xb), (yb + 1) / 2)
                popt.zero_grad()
                loss.backward()
                popt.step()

            record(label, family, time_steps(step, nb, steps))
    dct = import_deepctr()
    if dct is None:
        notes.append("deepctr-torch not installed: `pip install -e '.[bench]'`")
    else:
        SparseFeat, DeepFM = dct
        feats = [SparseFeat(f, vocabulary_size=c, embedding_dim=dim) for f, c in zip(meta.fields, cards, strict=True)]
        localf = [(xb.float(), yb) for xb, yb in local]
        kind = "binary" if binary else "regression"
        for label, family, hidden in (
            (f"DeepCTR-Torch FM (0.3.0, {kind})", "FM", ()),
            (f"DeepCTR-Torch DeepFM (0.3.0, {kind})", "DeepFM", (200, 200, 200)),
        ):
            torch.manual_seed(0)
            peer = DeepFM(feats, feats, dnn_hidden_units=hidden, task=kind, dnn_dropout=0.2, device=str(dev))
            popt = torch.optim.Adam(peer.parameters(), lr=1e-3)

            def step(b: int, peer=peer, popt=popt) -> None:
                xb, yb = localf[b]
                out = peer(xb).squeeze(-1)
                loss = bce(out, yb) if binary else mse(out, yb)
                popt.zero_grad()
                loss.backward()
                popt.step()

            record(label, family, time_steps(step, nb, steps))


MALLOC_MODES = {
    "default": {},
    "raised": {"MALLOC_MMAP_THRESHOLD_": str(2**31 - 1), "MALLOC_TRIM_THRESHOLD_": str(2**64 - 1)},
}
MALLOC_TEXT = {
    "default": "glibc's default malloc thresholds, for every model",
    "raised": "MALLOC_MMAP_THRESHOLD_ = 2 GiB - 1 and MALLOC_TRIM_THRESHOLD_ = 2^64 - 1 (never trim), for every model",
}


def worker(spec: Path) -> None:
    """Throughput of every model on the prepared run directories; rows and notes as JSON."""
    job = json.loads(spec.read_text())
    rows, notes = [], []
    for name, run, dim in job["datasets"]:
        bench_dataset(
            name, Path(run), job["steps"], dim, job["bs"], rows, notes, job["fanout"], job.get("device", "cpu")
        )
    Path(job["out"]).write_text(json.dumps({"rows": rows, "notes": notes}))


def best_peer(rows: list[dict], dataset: str, family: str) -> float | None:
    peers = [
        q["samples_s"]
        for q in rows
        if q["dataset"] == dataset and q["family"] == family and not q["model"].startswith("gemcli")
    ]
    return max(peers) if peers else None


def throughput_table(rows: list[dict], datasets: list[str]) -> list[str]:
    lines = [
        "| data | model | samples/s | s/epoch | eval samples/s | vs best peer of its family |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        peer = best_peer(rows, r["dataset"], r["family"].replace("GEM+", ""))
        ratio = f"{r['samples_s'] / peer:.2f}x" if peer and r["model"].startswith("gemcli") else ""
        ev = f"{r['eval_s']:,.0f}" if r["eval_s"] else ""
        lines.append(f"| {r['dataset']} | {r['model']} | {r['samples_s']:,.0f} | {r['epoch_s']:.1f} | {ev} | {ratio} |")
    lines.append("")
    for ds in datasets:
        fm = next((r for r in rows if r["dataset"] == ds and r["model"].startswith("gemcli FM")), None)
        if fm is None:  # FM failed: no ratio to it (the notes say why)
            continue
        for gem in (r for r in rows if r["dataset"] == ds and r["model"].startswith("gemcli GEM+FM")):
            lines.append(
                f"- {ds}: {gem['model'].removeprefix('gemcli ')} time per sample / FM time per sample = "
                f"{fm['samples_s'] / gem['samples_s']:.2f}"
            )
    return lines


def summary_table(default: list[dict], raised: list[dict]) -> list[str]:
    """Our training throughput over the best peer's, in three allocator settings, from the two worker runs."""
    lines = [
        "## Summary: gemcli training samples/s over the best peer's",
        "",
        "`gem` raises glibc's malloc thresholds for itself (gemcli/allocator.py); the peers run as installed. "
        "First column: gemcli as `gem` runs it (raised) against the peers as installed (default); then "
        "everyone with the defaults, and everyone raised. GEM+FM rows: its time per sample over FM's.",
        "",
        "| data | model | gem vs peers as installed | all default | all raised |",
        "|---|---|---:|---:|---:|",
    ]
    for r in (q for q in raised if q["model"].startswith("gemcli")):
        d = next((q for q in default if q["dataset"] == r["dataset"] and q["model"] == r["model"]), None)
        if d is None:
            continue
        if r["family"].startswith("GEM+"):
            fm_r, fm_d = (
                next((q for q in rs if q["dataset"] == r["dataset"] and q["model"].startswith("gemcli FM")), None)
                for rs in (raised, default)
            )
            if fm_r is None or fm_d is None:
                continue
            cells = [
                fm_r["samples_s"] / r["samples_s"],
                fm_d["samples_s"] / d["samples_s"],
                fm_r["samples_s"] / r["samples_s"],
            ]
            text = [f"{c:.2f} (x FM)" for c in cells]
        else:
            pd, pr = best_peer(default, r["dataset"], r["family"]), best_peer(raised, r["dataset"], r["family"])
            if pd is None or pr is None:
                continue
            text = [f"{r['samples_s'] / pd:.2f}x", f"{d['samples_s'] / pd:.2f}x", f"{r['samples_s'] / pr:.2f}x"]
        lines.append(f"| {r['dataset']} | {r['model'].removeprefix('gemcli ')} | {' | '.join(text)} |")
    return lines


def criteo_stages(args: argparse.Namespace, work: Path, env: dict, prep: list) -> Path:
    """Generate (once, in bench/tmp) a Criteo-format train.txt, preprocess it, build a graph, one-epoch trainings:
    each timed, with its peak memory. Returns the run directory."""
    from gemcli.synthetic import write_criteo

    raw = ROOT / "bench" / "tmp" / f"criteo-{args.criteo_rows}.txt"
    if not raw.is_file():
        raw.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_criteo(raw.with_suffix(".part"), args.criteo_rows, seed=0)
        raw.with_suffix(".part").replace(raw)
        print(f"generated {raw} in {time.perf_counter() - t0:.0f} s", flush=True)
    run = work / "criteo"
    name = f"Criteo-shaped (generated, {args.criteo_rows:,} lines, {raw.stat().st_size / 2**30:.2f} GiB)"
    s, mem = run_gem(["preprocess", "criteo", "--source", str(raw), "--run-dir", str(run)], env)
    n_features = json.loads((run / "data" / "meta.json").read_text())["n_features"]
    prep.append((f"{name[:-1]}, {n_features:,} features after min-count)", "preprocess criteo", s, mem))
    cats = ",".join(f"C{i}" for i in range(1, 27))
    s, mem = run_gem(["build-graph", "--fields", cats, "--pairs", "star:C1", "--run-dir", str(run)], env)
    prep.append(("Criteo-shaped", "build-graph --pairs star:C1 (C1-C26)", s, mem))
    if not args.skip_train_memory:
        for label, extra in (
            ("train FM, 1 epoch", ["--base", "fm"]),
            ("train DeepFM, 1 epoch", ["--base", "deepfm"]),
            ("train GEM+FM, 1 epoch", ["--base", "fm", "--gem"]),
        ):
            cmd = ["train", "--epochs", "1", "--embedding-size", str(args.ctr_dim), "--device", args.device]
            optional_stage(
                prep, "Criteo-shaped", f"{label} (d={args.ctr_dim})", [*cmd, "--run-dir", str(run), *extra], env
            )
    return run


def with_section(path: Path, name: str, text: str) -> str:
    """The file at `path` with its section NAME (between <!-- section:NAME --> markers) replaced by `text`, or
    `text` appended as that section."""
    start, end = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
    block = f"{start}\n{text}{end}\n"
    old = path.read_text() if path.is_file() else ""
    if start in old and end in old:
        return old[: old.index(start)] + block + old[old.index(end) + len(end) + 1 :]
    return old + ("\n" if old and not old.endswith("\n\n") else "") + block


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frappe", type=Path, default=None, help="Mobile_Frappe.zip (default: datasets/ or download)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--skip-movielens", action="store_true")
    ap.add_argument("--skip-frappe", action="store_true")
    ap.add_argument("--criteo-rows", type=int, default=0, help="also a generated Criteo-format file of N lines (0: no)")
    ap.add_argument("--ctr-dim", type=int, default=16, help="embedding size on the Criteo-shaped data")
    ap.add_argument("--section", default=None, help="replace only this section of --out (e.g. criteo)")
    ap.add_argument("--fanout", type=int, default=16, help="also time GEM+FM with --gcn-fanout K (0: skip)")
    ap.add_argument(
        "--skip-train-memory",
        action="store_true",
        help="skip the one-epoch `gem train` runs that measure training time and peak memory on MovieLens",
    )
    ap.add_argument(
        "--malloc",
        choices=["both", *MALLOC_MODES],
        default="both",
        help="allocator settings of the throughput runs: glibc's defaults, raised thresholds, or both (default)",
    )
    ap.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    ap.add_argument("--work", type=Path, default=None, help="where the prepared run folders go (default: a temp dir)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda: where every model (ours and the peers') trains")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="gem-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GEM_STATE_DIR": str(work / "state")}
    prep = []
    datasets: list[tuple[str, Path, int]] = []
    if not args.skip_frappe:
        fr = work / "frappe"
        s, mem = run_gem(
            ["preprocess", "frappe", "--run-dir", str(fr)] + (["--source", str(args.frappe)] if args.frappe else []),
            env,
        )
        prep.append(("Frappe (official archive)", "preprocess", s, mem))
        s, mem = run_gem(["build-graph", "--type", "a", "--run-dir", str(fr)], env)
        prep.append(("Frappe", "build-graph --type a", s, mem))
        datasets.append(("Frappe", fr, args.dim))
    if not args.skip_movielens:
        tags = work / "ml-full-tags.csv"
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_movielens.py"), str(tags)], check=True)
        ml = work / "movielens"
        s, mem = run_gem(["preprocess", "movielens", "--source", str(tags), "--run-dir", str(ml)], env)
        prep.append(("MovieLens full-size (generated, 668,953 applications)", "preprocess", s, mem))
        s, mem = run_gem(["build-graph", "--type", "a", "--run-dir", str(ml)], env)
        prep.append(("MovieLens full-size", "build-graph --type a", s, mem))
        datasets.append(("MovieLens", ml, args.dim))
        if not args.skip_train_memory:  # whole `gem train` processes: one epoch, evaluation included
            for label, extra in (
                ("train FM, 1 epoch", []),
                ("train GEM+FM, 1 epoch", ["--gem"]),
                (f"train GEM+FM --gcn-fanout {args.fanout}, 1 epoch", ["--gem", "--gcn-fanout", str(args.fanout)]),
            ):
                cmd = ["train", "--epochs", "1", "--device", args.device, "--run-dir", str(ml), *extra]
                optional_stage(prep, "MovieLens full-size", label, cmd, env)
    if args.criteo_rows:
        datasets.append(("Criteo-shaped", criteo_stages(args, work, env, prep), args.ctr_dim))
    for p in prep:
        print(prep_row(p, "  "))
    modes = list(MALLOC_MODES) if args.malloc == "both" else [args.malloc]
    results = {}
    for mode in modes:  # a fresh process per mode: glibc reads these variables at start-up
        print(f"-- throughput, {MALLOC_TEXT[mode]}", flush=True)
        spec, out = work / f"job-{mode}.json", work / f"rows-{mode}.json"
        spec.write_text(
            json.dumps(
                {
                    "datasets": [(n, str(r), d) for n, r, d in datasets],
                    "steps": args.steps,
                    "dim": args.dim,
                    "bs": args.batch_size,
                    "fanout": args.fanout,
                    "out": str(out),
                    "device": args.device,
                }
            )
        )
        wenv = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | MALLOC_MODES[mode]
        subprocess.run([sys.executable, __file__, "--worker", str(spec)], env=wenv, check=True)
        results[mode] = json.loads(out.read_text())

    lines = [
        "# Benchmarks",
        "",
        f"Command: `python scripts/bench.py {' '.join(sys.argv[1:])}` (batch {args.batch_size}, d={args.dim}"
        + (f"; Criteo-shaped data d={args.ctr_dim}" if args.criteo_rows else "")
        + "); "
        f"device {args.device}{' (' + torch.cuda.get_device_name(0) + ')' if args.device.startswith('cuda') else ''}; "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} "
        "CPUs, "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "Peak memory is the maximum resident set of the `gem` subprocess (includes the Python interpreter and imports; "
        "`gem` raises glibc's malloc thresholds for itself, gemcli/allocator.py).",
        "",
        "| data | stage | seconds | peak MiB |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {prep_row(p)} |" for p in prep]
    if len(modes) == 2:
        lines += ["", *summary_table(results["default"]["rows"], results["raised"]["rows"])]
    for mode in modes:
        lines += [
            "",
            f"## Training throughput, {MALLOC_TEXT[mode]}",
            "",
            "Same tensors, one process (samples/s: median of 3 timed runs of the given steps; s/epoch = training rows "
            "/ rate). gemcli trains "
            "with each model's default recipe (gemcli/recipes/; FM: Adagrad; DeepFM, GEM+FM: Adam; lookup tables "
            "row-sparse above 5M "
            "values; GEM's W dense, with torch's fused Adam); peers with Adam, as installed.",
            "",
        ]
        lines += throughput_table(results[mode]["rows"], [n for n, _, _ in datasets])
        lines += [f"- {n}" for n in dict.fromkeys(results[mode]["notes"])]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.section:
        text = with_section(args.out, args.section, text.replace("# Benchmarks", f"## Benchmarks: {args.section}", 1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
