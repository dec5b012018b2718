"""gem report (table1, sweep, curves), gem compare, gem runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from gemcli import rundir
from gemcli.cli.app import Adopt, RunDir, Threads, app, report_app
from gemcli.cli.options import RunsIn, exit_interrupted
from gemcli.console import err, out
from gemcli.errors import GemError


@report_app.command("table1")
def report_table1(
    run_missing: Annotated[
        bool,
        typer.Option(
            "--run-missing",
            help="Train the base x {plain, GEM} x seed runs that are missing, named table1-BASE-sSEED and "
            "table1-gem-BASE-sSEED "
            "(each with its model's recipe; non-FM bases start from the FM run of their seed: plain from FM as the "
            "paper, GEM from GEM+FM).",
        ),
    ] = False,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Seeds wanted per model (with --run-missing).")] = 3,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", show_default=False, help="Most epochs per missing run. Default: the recipe's."),
    ] = None,
    bases: Annotated[
        str | None,
        typer.Option(
            "--bases", show_default=False, help="Comma-separated bases to train with --run-missing. Default: all seven."
        ),
    ] = None,
    gem_start: Annotated[
        Literal["fine-tune", "scratch"],
        typer.Option(
            "--gem-start",
            help="With --run-missing, where the GEM bases other than GEM+FM start: fine-tune (from the GEM+FM run of "
            "their seed, table1-gem-BASE-sSEED) or scratch (as the paper trains them, table1-scratch-gem-BASE-sSEED). "
            "The table shows both rows, labelled, where both kinds of run exist.",
        ),
    ] = "fine-tune",
    out_path: Annotated[Path | None, typer.Option("--out", help="Also write the table to this markdown file.")] = None,
    runs: Annotated[
        str,
        typer.Option(
            "--runs",
            help="Glob over run names to collect: the default is the runs --run-missing makes; "
            "'*' takes every finished run (runs of one model must then share their config).",
        ),
    ] = "table1-*",
    sweep: Annotated[
        str | None,
        typer.Option(
            "--sweep",
            show_default=False,
            help="Read the finished points of this sweep (RUN_DIR/sweeps/NAME, e.g. a --param base=... --param "
            "embedder=lookup,gcn grid) instead of RUN_DIR/models.",
        ),
    ] = None,
    threads: Threads = None,
    adopt: Adopt = True,
    run_dir: RunDir = None,
) -> None:
    """Table 1 from the run directory's finished runs: mean ± std over seeds of the test metrics (MAE and RMSE; AUC
    and logloss for the binary task), #params, the paper's (or BARS's) figures beside them, and the change GEM brings
    to each base."""
    from gemcli.paper import BASES
    from gemcli.report import markdown_table, table1_markdown, table1_selection
    from gemcli.runtime import start_compute
    from gemcli.table1 import train_missing

    target = rundir.resolve(run_dir)
    if run_missing:
        start_compute(threads, announce=True)
        chosen = [b.strip() for b in bases.split(",") if b.strip()] if bases else None
        unknown = [b for b in chosen or [] if b not in BASES]
        if unknown:
            raise GemError(f"--bases: unknown base {unknown[0]!r}; known: {', '.join(BASES)}")
        from gemcli.executors import PointInterrupted

        try:
            train_missing(target, seeds=seeds, epochs=epochs, bases=chosen, gem_start=gem_start, adopt=adopt)
        except PointInterrupted as e:
            exit_interrupted(f"Table 1's runs interrupted at {e}", "an interrupted run resumes from its last epoch")
    if sweep:
        from gemcli.report import sweep_selection

        summaries, notes = sweep_selection(target, sweep)
    else:
        summaries, notes = table1_selection(target, runs)
    text = table1_markdown(target, runs=summaries)
    out.print(markdown_table(text, f"Table 1 from {target}"))
    for line in text.splitlines():  # the table's footnote (runs stopped by their cap), as the file has it
        if line and not line.startswith("|"):
            out.print(line.replace("\\*", "*"), highlight=False, soft_wrap=True)
    for note in notes:
        err.print(note, highlight=False, soft_wrap=True)
    if out_path:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        rundir.atomic_write_text(out_path, text)
        out.print(f"saved {out_path}", highlight=False, soft_wrap=True)


@report_app.command("sweep")
def report_sweep(
    name: Annotated[str, typer.Argument(help="The sweep (RUN_DIR/sweeps/NAME).", show_default=False)],
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            metavar="KEY=VALUE",
            help="The reference point of each group: embedder=gcn (each embedder against GCN on the same base), "
            "gcn_dropout=0 (each dropout against none), ... Without it: the sweep's own table (results.md).",
            show_default=False,
        ),
    ] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Also write the table to this markdown file.")] = None,
    run_dir: RunDir = None,
) -> None:
    """A sweep's finished points, and where each unfinished one stands (read from its folder now, so a sweep still
    training can be watched). With --against, each point against a reference point: mean ± std of the test metrics
    over seeds, the change of the first metric's mean against the reference of its group (the points equal in every
    other swept key, but for keys that follow KEY: graph-type's variants are all one group), and that change over
    the pooled seed spread (beyond ~2-3 in magnitude, more than seed noise explains)."""
    from gemcli.report import known_sweeps, markdown_table, sweep_comparison, sweep_own_table

    target = rundir.resolve(run_dir)
    root = target / "sweeps" / name
    if not (root / "sweep.json").is_file():
        raise GemError(f"no sweep {name!r} in {root.parent} (known: {known_sweeps(target)})")
    if against is None:
        text, notes = sweep_own_table(root)
        out.print(markdown_table(text, f"sweep {name} ({root}/results.md)"))
    else:
        text, notes = sweep_comparison(root, against)
        out.print(markdown_table(text, f"sweep {name} against {against}"))
    for note in notes:
        err.print(note, highlight=False, soft_wrap=True)
    if out_path:
        rundir.atomic_write_text(out_path, text)
        out.print(f"saved {out_path}", highlight=False, soft_wrap=True)


@report_app.command("curves")
def report_curves(
    runs: Annotated[
        list[str],
        typer.Argument(
            metavar="RUN...",
            help="Run names (or short names without the time: fm-s0, gem-fm-s0; `gem runs` lists them) or paths.",
        ),
    ],
    out_path: Annotated[Path, typer.Option("--out", help="PNG to write.")] = Path("curves.png"),
    run_dir: RunDir = None,
) -> None:
    """Overlay validation RMSE and MAE per epoch of several runs, each run's best epoch marked (FM vs GEM+FM: the
    paper's Figures 3-4)."""
    from gemcli.figures import plot_runs
    from gemcli.runs import resolve_run

    target = rundir.resolve(run_dir)
    folders = [resolve_run(target, r, finished=False) for r in runs]
    plot_runs(folders, out_path)
    out.print(f"saved {out_path} ({', '.join(f.name for f in folders)})", highlight=False, soft_wrap=True)


@app.command("compare")
def compare_cmd(
    runs_in: RunsIn = None,
    run_dir: RunDir = None,
) -> None:
    """The finished runs grouped by their config except the seed: one row per config with its seeds, mean ± std of
    the task's test/valid metrics (RMSE and MAE; AUC and logloss), best epochs and run names; one table per task.

    Runs of one model that differ in any option are separate rows, labelled by the options they differ in; a seed
    run twice counts once (the latest)."""
    from gemcli.report import compare_table

    target = rundir.resolve(run_dir)
    if runs_in is not None and not runs_in.is_dir():
        raise GemError(f"--runs-in {runs_in}: no such folder")
    tables, notes = compare_table(target, runs_in)
    for table in tables:
        out.print(table)
    for note in notes:
        err.print(note, highlight=False, soft_wrap=True)


@app.command("runs")
def runs_cmd(
    runs_in: RunsIn = None,
    run_dir: RunDir = None,
) -> None:
    """Every run in the run directory: name, model, seed, status (finished, interrupted, diverged, ...), best epoch,
    test and valid metrics, recipe."""
    from gemcli.report import runs_table

    if runs_in is not None and not runs_in.is_dir():
        raise GemError(f"--runs-in {runs_in}: no such folder")
    out.print(runs_table(rundir.resolve(run_dir), runs_in))
