"""The `gem` command line: each command parses its options and calls one stage function.

Commands chain through a run directory (--run-dir, $GEM_RUN_DIR, or the one found from the working
directory; see gemcli.rundir.resolve):

    gem preprocess frappe|movielens|libfm   raw data -> negatives -> split -> RUN_DIR/data
    gem build-graph --type a                training positives -> RUN_DIR/graphs/ID
    gem train --base fm --gem               -> RUN_DIR/models/NAME (config resolved by gemcli.config)
    gem evaluate                            the latest finished run on the test split
    gem compare | gem runs                  tables of the runs
    gem sweep dropout|sampling-ratio|graph-type|embedder|--param   studies and grids -> RUN_DIR/sweeps/NAME
    gem report table1|curves                the paper's Table 1, Figures 3-4
    gem recipes | gem embedders             what the recipes and embedders are
"""

from __future__ import annotations

from gemcli.cli.app import app

# isort: off
# the commands register on import, in the order `gem --help` lists them: the data, training, search, reports
from gemcli.cli import data_cmds, train_cmds, search_cmds, report_cmds  # noqa: F401
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    from gemcli.allocator import raise_thresholds
    from gemcli.runtime import stop_on_sigterm

    raise_thresholds()  # large per-step temporaries reuse their pages (gemcli/allocator.py)
    stop_on_sigterm()  # SIGTERM stops a command as Ctrl-C does: saved, resumable
    app()
