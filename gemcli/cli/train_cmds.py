"""gem train, gem recipes, gem embedders, gem evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from gemcli import rundir
from gemcli.cli.app import RUN, Device, RunDir, Threads, Verify, app
from gemcli.cli.options import (
    TRAIN_GRAPH_HELP,
    Base,
    EmbedderName,
    EmbedderOption,
    Gem,
    RecipeOpt,
    check_embedder_flags,
    embedder_choice,
    run_given,
    with_options,
)
from gemcli.config import RunConfig
from gemcli.console import out, titled
from gemcli.errors import GemError
from gemcli.options import Option, OptionValue


@app.command("train")
@with_options(TRAIN_GRAPH_HELP)
def train_cmd(
    base: Base = "fm",
    gem: Gem = False,
    embedder: EmbedderName = None,
    embedder_option: EmbedderOption = None,
    recipe: RecipeOpt = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            rich_help_panel=RUN,
            show_default=False,
            help="Seed of initialisation, batch order and dropout. Default 0.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            rich_help_panel=RUN,
            show_default=False,
            help="Name of the run folder under RUN_DIR/models. Default: TIME-BASE-sSEED (TIME-gem-BASE-sSEED with "
            "GEM), "
            "which commands also accept without the time (`fm-s0`).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            rich_help_panel=RUN,
            help="Continue an interrupted run (--run, else the latest unfinished) from its last checkpoint.",
        ),
    ] = False,
    run: Annotated[
        str | None,
        typer.Option("--run", rich_help_panel=RUN, show_default=False, help="With --resume: the run to continue."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            rich_help_panel=RUN,
            help="Resolve the config, build the model, print its trainable parameter count; train nothing.",
        ),
    ] = False,
    device: Device = "auto",
    threads: Threads = None,
    verify: Verify = False,
    run_dir: RunDir = None,
    **given: OptionValue,
) -> None:
    """Train one base model, plain or with GEM, with early stopping on a validation metric (RMSE for regression,
    AUC for 0/1 labels; --task, --monitor).

    Options not given come from the model's recipe (`gem recipes`), else the defaults; the resolved config is
    printed first and saved with the run (config.json). Each epoch's metrics go to
    RUN_DIR/models/NAME/metrics.jsonl; the best epoch's weights are saved (model.pt) and evaluated. Ctrl-C leaves a
    run that --resume continues, as does the same command with --name NAME run again (NAME finished with this
    config: nothing trained; trained with another: one line naming the differences).

    Plain `gem train --base deepfm` (or any non-FM base) trains from scratch with the fine-tune recipe: on Frappe
    DeepFM ends at 0.3289 test RMSE (seed 0), against 0.3073 for Table 1's DeepFM. Table 1's models start from an FM
    run: `gem train --base deepfm --pretrain fm-s0`, or `gem report table1 --run-missing`."""
    from gemcli.build import build_model, count_parameters
    from gemcli.config import resolve_config
    from gemcli.runs import ended_summary, list_runs, resolve_run
    from gemcli.runtime import RUNTIME, start_compute
    from gemcli.train import check_run_name, fit
    from gemcli.train import resume as resume_run

    target = rundir.resolve(run_dir)
    RUNTIME.verify(verify)
    n_threads = start_compute(threads, announce=not dry_run)
    if resume:
        if run:
            folder = resolve_run(target, run, finished=False)
        else:
            pending = [r for r in list_runs(target) if ended_summary(r) is None]
            if not pending:
                raise GemError(f"{target}: no interrupted run to resume")
            folder = pending[-1]
        _check_ended(resume_run(target, folder, threads=n_threads))
        return
    given = run_given(given, seed, device)
    emb_name, emb_options = embedder_choice(gem, embedder, embedder_option)
    check_embedder_flags(emb_name, given)
    resolved = resolve_config(base, emb_name, given, recipe, name=name or "", embedder_options=emb_options)
    out.print(f"config of {resolved.config.model.label} (option > recipe > default):", highlight=False)
    out.print(resolved.describe(), highlight=False)
    cfg = resolved.config
    if dry_run:
        meta = rundir.read_meta(target)
        model = build_model(target, cfg.model, meta)
        out.print(
            f"{cfg.model.label}: {count_parameters(model):,} trainable parameters "
            f"({meta.n_features:,} features, d={cfg.model.embedding_size})",
            highlight=False,
        )
        return
    if name:  # before the folder is looked at: `..` and `.` are no run names
        check_run_name(name, target)
    if name and (target / "models" / name).exists():
        _check_ended(_again(target, cfg, n_threads))
        return
    _check_ended(fit(target, cfg, threads=n_threads))


def _again(run_dir: Path, cfg: RunConfig, threads: int) -> dict[str, Any]:
    """--name of a run that exists: the same command again. Trained with the config asked now, it is brought to its
    end as a sweep's point is (finished: nothing trained; interrupted: resumed from its last epoch; never saved an
    epoch: trained afresh); trained with another, one line naming what differs."""
    from gemcli.adopt import config_changes
    from gemcli.runs import ended_summary
    from gemcli.train import fit_or_resume

    folder = run_dir / "models" / cfg.name
    if not (folder / "config.json").is_file():
        raise GemError(f"run {folder} exists already, without a config.json; move it away to train it anew")
    changes = config_changes(run_dir, cfg, folder)
    if changes:
        raise GemError(
            f"run {folder} exists already, trained with another config than asked now ({changes}); choose another "
            "--name, or move it away to train it anew"
        )
    if rundir.is_locked(rundir.run_lock(folder)):
        raise GemError(f"run {folder} is being trained by another command; wait for it to end")
    ended = ended_summary(folder)
    if ended is not None and ended.get("status") == "finished":
        out.print(
            f"run {cfg.name} has finished already with this config (best epoch {ended['best_epoch']} of "
            f"{ended['epochs_run']}); nothing trained",
            highlight=False,
            soft_wrap=True,
        )
        return ended
    return fit_or_resume(run_dir, cfg, folder, threads=threads)


def _check_ended(summary: dict[str, Any]) -> None:
    """A diverged run is an error (exit 2); an interrupted one exits 130, as interrupted commands do."""
    if summary.get("status") == "interrupted":
        raise typer.Exit(130)
    if summary.get("status") == "diverged":
        raise GemError(
            f"run {summary['name']} diverged (non-finite loss after epoch {summary['epochs_run']}); "
            "try a smaller --lr, --loss-reduction mean or another --optimizer"
        )


@app.command("recipes")
def recipes_cmd() -> None:
    """The built-in training recipes: what each sets, which models take it by default, and the result it was chosen
    on."""
    from gemcli.recipes import builtin_recipes

    t = titled("recipes (gemcli/recipes/*.toml; `gem train --recipe NAME|FILE`)", show_lines=True)
    for col in ("recipe", "default for", "options", "chosen on"):
        t.add_column(col, overflow="fold")
    for r in builtin_recipes().values():
        t.add_row(
            r.name,
            "\n".join(r.defaults_for),
            "\n".join(
                [f"{k} = {v}" for k, v in r.options.items()]
                + [f"{e}.{k} = {v}" for e, opts in r.embedder_options.items() for k, v in opts.items()]
            ),
            r.chosen_on,
        )
    out.print(t)


def _option_line(key: str, o: Option) -> str:
    """An embedder option for `gem embedders`: key, type and default (and its flag, for GEM's GCN), help."""
    kind = "" if o.kind == "any" else f" ({o.kind}{'' if o.default is None else ', default ' + o.show(o.default)})"
    flag = f" [{o.flag}]" if o.cli else ""
    return f"{key}{kind}{flag}: {o.help.split('. Default')[0]}"


@app.command("embedders")
def embedders_cmd() -> None:
    """The registered embedding functions: whether each needs the feature graph, and its own options
    (--embedder-option)."""
    from gemcli.config import embedder_option_table
    from gemcli.nn.embedders import EMBEDDERS, embedder_names

    t = titled("embedders (gem train --embedder NAME --embedder-option KEY=VALUE)")
    for col in ("embedder", "graph", "options", "what"):
        t.add_column(col, overflow="fold")
    for name in embedder_names():
        cls = EMBEDDERS[name]
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        t.add_row(
            name,
            "yes" if cls.needs_graph else "no",
            "\n".join(_option_line(k, o) for k, o in embedder_option_table(name).items()) or "-",
            doc,
        )
    out.print(t)


@app.command("evaluate")
def evaluate_cmd(
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            show_default=False,
            help="Run name (or its short name without the time, or a path). Default: the latest finished.",
        ),
    ] = None,
    split: Annotated[Literal["test", "valid"], typer.Option("--split", help="Split to evaluate.")] = "test",
    libfm: Annotated[
        Path | None,
        typer.Option("--libfm", help="Evaluate on a libfm file instead, mapped through the run's vocabulary."),
    ] = None,
    device: Device = "auto",
    threads: Threads = None,
    verify: Verify = False,
    run_dir: RunDir = None,
) -> None:
    """Evaluate a trained run's best weights by its task's metrics: regression RMSE and MAE (predictions clipped to
    the label range, and unclipped; plus logloss and AUC for 0/1 labels), binary AUC and logloss.

    Prints a table and writes eval.json in the run."""
    from gemcli.evaluate import evaluate_run
    from gemcli.runtime import RUNTIME, start_compute

    target = rundir.resolve(run_dir)
    RUNTIME.verify(verify)
    start_compute(threads)
    res = evaluate_run(target, run=run, split=split, libfm=libfm, device=device)
    t = titled(f"{res['model']} {res['run']} ({res['task']}) on {res['on']} ({res['instances']:,} instances)")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in res["metrics"].items():
        t.add_row(k, f"{v:.4f}")
    out.print(t)
