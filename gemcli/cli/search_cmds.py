"""gem tune and gem sweep."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from gemcli import rundir
from gemcli.cli.app import Adopt, Device, RunDir, Threads, app
from gemcli.cli.options import (
    POINTS_GRAPH_HELP,
    Base,
    CpusPerRun,
    EmbedderName,
    EmbedderOption,
    ExecutorOpt,
    Gem,
    GpusPerRun,
    RayAddress,
    RecipeOpt,
    embedder_choice,
    executor_of,
    exit_interrupted,
    run_given,
)
from gemcli.cli.options import with_options as _with_options
from gemcli.console import out
from gemcli.options import OptionValue


@app.command("tune")
@_with_options(POINTS_GRAPH_HELP)
def tune_cmd(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The study: its folder RUN_DIR/tune/NAME and its name.")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            show_default=False,
            help="An option to search, repeat for more: NAME=log:LO:HI (log-uniform), NAME=LO:HI (uniform), "
            "NAME=int:LO:HI, NAME=choice:A,B,C. Any option of gem train, e.g. lr=log:1e-4:1e-1, gcn_dropout=0:0.5, "
            "mlp=choice:64,128,256.",
        ),
    ] = None,
    trials: Annotated[
        int,
        typer.Option(
            "--trials",
            min=1,
            max=1_000_000,
            help="Trials the study should have (complete or pruned); a study run again goes on "
            "to this many, and several processes on one study stop together at this many.",
        ),
    ] = 20,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            show_default=False,
            help="What the search optimises, on the validation split: valid_rmse, "
            "valid_auc, valid_logloss, ... (early stopping watches it too). Default: the task's (valid_rmse; "
            "valid_auc for binary labels).",
        ),
    ] = None,
    sampler: Annotated[
        Literal["tpe", "random"],
        typer.Option("--sampler", help="Optuna's sampler: tpe (Bayesian, after 5 random trials) or random."),
    ] = "tpe",
    pruner: Annotated[
        Literal["median", "hyperband", "none"],
        typer.Option(
            "--pruner",
            help="Stop poor trials early from their per-epoch validation metric (first seed): median "
            "(worse than the median of earlier trials at the same epoch, after 5 trials), hyperband, or none.",
        ),
    ] = "median",
    warmup: Annotated[
        int, typer.Option("--warmup", min=0, max=1_000_000, help="Epochs a trial runs before it can be pruned.")
    ] = 5,
    sampler_seed: Annotated[
        int | None,
        typer.Option(
            "--sampler-seed",
            show_default=False,
            help="Seed of the sampler: each trial's draw is seeded by it and the trial's number, so no two "
            "trials draw alike (several processes, a study run again) and a random search's trials are the same "
            "however many processes run it; TPE's later trials also depend on which trials had ended.",
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            show_default=False,
            help="The study's database, e.g. sqlite:///tune.db or "
            "postgresql://user@host/db. Default: Optuna's journal file RUN_DIR/tune/NAME/study.journal.",
        ),
    ] = None,
    seeds: Annotated[
        int,
        typer.Option(
            "--seeds", min=1, max=100_000, help="Seeds per trial (seed, seed+1, ...); the objective is their mean."
        ),
    ] = 1,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1, help="First seed.")] = 0,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            min=1,
            max=4096,
            help="Workers side by side, each asking the study for trials (local processes; with "
            "--executor ray, Ray tasks; default there: as many as the cluster's CPUs take).",
            rich_help_panel="Execution",
        ),
    ] = 1,
    executor: ExecutorOpt = "local",
    ray_address: RayAddress = "auto",
    cpus_per_run: CpusPerRun = 1.0,
    gpus_per_run: GpusPerRun = 0.0,
    base: Base = "fm",
    gem_flag: Gem = False,
    embedder: EmbedderName = None,
    embedder_option: EmbedderOption = None,
    recipe: RecipeOpt = None,
    device: Device = "auto",
    threads: Threads = None,
    run_dir: RunDir = None,
    **given: OptionValue,
) -> None:
    """Search gem train's options with Optuna: each trial a normal run folder in RUN_DIR/tune/NAME/trials/
    (gem evaluate --run PATH, gem runs/compare --runs-in and gem report curves work on them), then results.csv/md
    of every trial, best-recipe.toml (gem train --recipe FILE) and Optuna's history and importance figures.

    Each trial takes the model's recipe as gem train does; the options given stay fixed, the --param ones are
    searched. Run again, a study continues (to --trials in all); a trial that was interrupted or whose worker died
    resumes from its last epoch. Several gem tune processes on one study share its trials."""
    from gemcli.report import markdown_table
    from gemcli.tune import run_tune

    target = rundir.resolve(run_dir)
    given = run_given(given, device=device)
    try:
        emb_name, emb_options = embedder_choice(gem_flag, embedder, embedder_option)
        root, _ = run_tune(
            target,
            name,
            param or [],
            given=given,
            base=base,
            embedder=emb_name,
            embedder_options=emb_options,
            recipe=recipe,
            trials=trials,
            metric=metric,
            sampler=sampler,
            pruner=pruner,
            warmup=warmup,
            sampler_seed=sampler_seed,
            storage=storage,
            seeds=seeds,
            first_seed=seed,
            executor=executor_of(executor, jobs, threads, ray_address, cpus_per_run, gpus_per_run),
        )
    except KeyboardInterrupt:
        exit_interrupted(
            f"tune {name} interrupted; its finished trials are in the study",
            "the interrupted trial resumes from its last epoch",
        )
    out.print(markdown_table((root / "results.md").read_text(), f"tune {name} ({root}/results.md)"))
    best = [line for line in (root / "results.md").read_text().splitlines() if line.startswith("Best:")]
    for line in best:
        out.print(line, highlight=False, soft_wrap=True)
    out.print(
        f"saved {root}/results.csv, results.md, best-recipe.toml and the figures",
        highlight=False,
        soft_wrap=True,
    )


@app.command("sweep")
@_with_options(POINTS_GRAPH_HELP)
def sweep_cmd(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="STUDY",
            help="dropout (GCN dropout 0.0-0.9, Figure 7), sampling-ratio (0-1, Figure 6), "
            "graph-type (FM, GEM type b, type a, type a + a bad field, Figure 5), embedder (every embedding "
            "function, or --values, on FM, DeepFM and NFM); omit it to sweep a --param grid.",
            show_default=False,
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="NAME=V1,V2",
            show_default=False,
            help="NAME=V1,V2,... over any train or build-graph option "
            "(e.g. lr=0.01,0.05 or sample_ratio=0,0.5,1); repeat for a grid.",
        ),
    ] = None,
    values: Annotated[
        str | None,
        typer.Option(
            "--values", show_default=False, help="Comma-separated values for a named sweep (overrides its defaults)."
        ),
    ] = None,
    sweep_name: Annotated[
        str | None,
        typer.Option(
            "--name", show_default=False, help="Folder under RUN_DIR/sweeps. Default: the study's name (or grid-KEYS)."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Retrain points whose saved config differs from the one asked for (default: stop and name the "
            "options).",
        ),
    ] = False,
    seeds: Annotated[int, typer.Option("--seeds", min=1, max=100_000, help="Seeds per point (seed, seed+1, ...).")] = 1,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1, help="First seed.")] = 0,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            min=1,
            max=4096,
            help="Points trained in parallel processes (each gets cores/jobs threads unless --threads); with "
            "--executor ray, the most points running at once (default: as many as the cluster takes).",
            rich_help_panel="Execution",
        ),
    ] = 1,
    executor: ExecutorOpt = "local",
    ray_address: RayAddress = "auto",
    cpus_per_run: CpusPerRun = 1.0,
    gpus_per_run: GpusPerRun = 0.0,
    base: Base = "fm",
    gem_flag: Gem = False,
    embedder: EmbedderName = None,
    embedder_option: EmbedderOption = None,
    recipe: RecipeOpt = None,
    device: Device = "auto",
    threads: Threads = None,
    adopt: Adopt = True,
    run_dir: RunDir = None,
    **given: OptionValue,
) -> None:
    """Run one of the paper's studies (or a grid) on the run directory's data: each point a normal run in
    RUN_DIR/sweeps/NAME/points/, then results.csv, results.md (mean ± std per point, sorted by value) and a figure
    with error bars.

    Every point takes its model's recipe as `gem train` does (GEM points: gem-fm), and the options given win.
    Started again with the same options, a sweep skips finished points, resumes interrupted ones and adds new
    --values; a point saved with another config stops it (--force retrains, --name starts a new sweep). Ctrl-C stops
    the whole sweep (exit 130); unfinished points never enter the results."""
    from gemcli.executors import PointInterrupted
    from gemcli.sweep import results_table, run_sweep

    target = rundir.resolve(run_dir)
    given = run_given(given, device=device)
    try:
        emb_name, emb_options = embedder_choice(gem_flag, embedder, embedder_option)
        root = run_sweep(
            target,
            name,
            param or [],
            values.split(",") if values else None,
            given=given,
            recipe=recipe,
            base=base,
            seeds=seeds,
            first_seed=seed,
            executor=executor_of(executor, jobs, threads, ray_address, cpus_per_run, gpus_per_run),
            force=force,
            sweep_name=sweep_name,
            embedder=emb_name,
            embedder_options=emb_options,
            adopt=adopt,
        )
    except (PointInterrupted, KeyboardInterrupt) as e:
        where = f" at {e}" if isinstance(e, PointInterrupted) else ""
        exit_interrupted(
            f"sweep interrupted{where}; the finished points are in its results",
            "interrupted points resume from their last epoch",
        )
    out.print(results_table(root))
    out.print(f"saved {root}/results.csv, results.md and the figure", highlight=False, soft_wrap=True)
