"""The `gem` Typer app: its command groups, the error boundary and help's metavars (GemGroup, through click's
public command hooks: no patch of Typer), and the options every command shares (run directory, threads, device,
...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from gemcli import __version__, rundir
from gemcli.console import err, out
from gemcli.errors import GemError


class GemGroup(TyperGroup):
    """Turns a GemError anywhere below into one line on stderr and exit status 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except GemError as e:
            # the message is printed as given (file names and values may hold [brackets]), but for what a file
            # said that a terminal would obey (escape sequences, other control characters): shown escaped
            err.print(Text.assemble(("error: ", "red"), printable(str(e))), highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:  # one no command caught: it came before anything could be resumed from
            err.print("interrupted (Ctrl-C) before this command saved anything to resume from", highlight=False)
            raise typer.Exit(130) from None
        except OSError as e:  # a full disk, a read-only or missing folder, a file where a folder should be
            where = f"{e.filename}: " if e.filename else ""
            said = printable(f"{where}{e.strerror or e}")
            err.print(Text.assemble(("error: ", "red"), said), highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except Exception as e:  # a full disk, as a library reports it (polars: "... (os error 28)")
            if not any(m in str(e) for m in DISK_FULL):
                raise
            said = printable(str(e).strip().splitlines()[0][:200])
            err.print(
                Text.assemble(
                    ("error: ", "red"),
                    f"no space left on the device ({said}); nothing half-written "
                    "was kept, earlier results are as they were",
                ),
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2) from None

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command, its options' metavars made plain (`plain_metavars`) before its help is shown."""
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            plain_metavars(cmd.get_params(ctx), ctx)
        return cmd

    def get_params(self, ctx: Any) -> Any:
        return plain_metavars(super().get_params(ctx), ctx)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else None
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            known = ", ".join(self.list_commands(ctx))
            noun = "dataset" if self.name == "preprocess" else "command"
            ctx.fail(f"unknown {noun} {name!r}; known: {known}")
        return super().resolve_command(ctx, args)


DISK_FULL = ("No space left on device", "(os error 28)")  # what libraries say of ENOSPC in their own exceptions


def printable(text: str) -> str:
    """`text` with control characters (ESC and the rest of C0/C1, but tab) written as escapes (\\x1b): what a file
    says reaches the terminal as text, never as a command to it."""
    return "".join(c if c == "\t" or (c.isprintable() and c != "\x7f") else repr(c)[1:-1] for c in text)


PLAIN_TYPES = {
    "str": "TEXT",
    "int": "INTEGER",
    "int range": "INTEGER",
    "float": "FLOAT",
    "float range": "FLOAT",
    "path": "PATH",
    "file": "PATH",
    "directory": "DIR",
}


def plain_metavars(params: list[Any], ctx: Any) -> list[Any]:
    """`params`, each option's metavar set to `plain_metavar`'s (click's public attribute; help shows it)."""
    for param in params:
        metavar = plain_metavar(param, ctx)
        if metavar is not None:
            param.metavar = metavar
    return params


def plain_metavar(param: Any, ctx: Any) -> str | None:
    """What --help shows after an option that takes a value: TEXT / INTEGER / FLOAT / PATH, the choices as [a|b],
    instead of typer's <str> / <int> (`TyperOption.display_type`); None for flags and for options that name their
    own metavar."""
    if getattr(param, "param_type_name", "") != "option" or param.metavar is not None:
        return None
    if param.is_flag or getattr(param, "is_bool_flag", False) or getattr(param, "secondary_opts", None):
        return ""  # a flag takes no value: nothing shown
    display = getattr(param, "display_type", None)
    text = str(display(ctx)) if display is not None else ""
    if not text or not (text.startswith("<") and ">" in text):
        return None
    inner, rest = text[1:].split(">", 1)
    return (f"[{inner}]" if "|" in inner else PLAIN_TYPES.get(inner, inner.upper())) + rest


app = typer.Typer(
    cls=GemGroup,
    rich_markup_mode="markdown",  # help paragraphs are reflowed; `code` shown as code
    help="GEM: factorization machines and their variants with graph-convolved feature embeddings.\n\n"
    "Commands chain through a run directory: `gem preprocess frappe`, `gem build-graph --type a`, "
    "`gem train --base fm --gem`, `gem evaluate`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
preprocess_app = typer.Typer(
    cls=GemGroup,
    rich_markup_mode="markdown",
    name="preprocess",
    help="Raw data -> negative sampling -> split -> encoded splits in RUN_DIR/data. "
    "Datasets: frappe, movielens, libfm.",
    no_args_is_help=True,
)
app.add_typer(preprocess_app, name="preprocess")
report_app = typer.Typer(
    cls=GemGroup,
    rich_markup_mode="markdown",
    name="report",
    no_args_is_help=True,
    help="Tables and figures from finished runs: table1 (the paper's Table 1), curves (Figures 3-4).",
)
app.add_typer(report_app, name="report")


def _version(value: bool) -> None:
    if value:
        out.print(f"gemcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


RUN = "Run"
RunDir = Annotated[
    Path | None,
    typer.Option(
        "--run-dir",
        envvar=rundir.RUN_DIR_ENV,
        help="Run directory shared by the chained commands. Default: $GEM_RUN_DIR, else the one found from the "
        "working directory (itself, ./NAME or ./runs/NAME; the most recently used of several). Every command "
        "says which it used.",
        show_default=False,
        rich_help_panel=RUN,
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        envvar="GEM_THREADS",
        min=1,
        max=4096,
        show_default=False,
        rich_help_panel=RUN,
        help="CPU threads for torch. Default: the cores not kept busy by other processes when the command starts, 1 "
        "to 4. "
        "torch's threads slow several-fold when they compete for cores with other processes; use 1 per run when "
        "several share the machine.",
    ),
]
Adopt = Annotated[
    bool,
    typer.Option(
        "--adopt/--no-adopt",
        rich_help_panel=RUN,
        help="Copy a run that already finished elsewhere in the run directory with the same config, seed and data "
        "(by this minor version of gemcli) instead of training it again, or one that differs only in an epoch cap "
        "that early stopping kept it from reaching; the copy names its source (adopted_from). --no-adopt trains "
        "every missing run.",
    ),
]
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace data already in the run directory even when it differs "
        "(the runs and graphs made from the old data are named, and no longer usable).",
    ),
]
Seed = Annotated[int, typer.Option("--seed", min=0, help="Random seed (negative sampling; the split uses seed+1).")]
Negatives = Annotated[int, typer.Option("--negatives", min=0, help="Negatives sampled per positive.")]
Split = Annotated[
    str, typer.Option("--split", help="train:valid:test ratio, e.g. 8:1:1 (the paper) or 7:2:1 (NFM/BARS).")
]
Device = Annotated[
    str, typer.Option("--device", help="auto (cuda when available), cpu, cuda or cuda:N.", rich_help_panel=RUN)
]
Verify = Annotated[
    bool,
    typer.Option(
        "--verify",
        rich_help_panel=RUN,
        help="Hash every file read against its stage's manifest, "
        "also those over 512 MiB (smaller ones always are; sizes always). Also GEM_VERIFY=1.",
    ),
]
