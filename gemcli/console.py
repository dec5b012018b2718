"""Shared rich consoles: results on stdout, progress and diagnostics on stderr.

On a terminal they take its width; written to a file or a pipe they do not wrap at 80 columns (which
splits paths and table rows), unless $COLUMNS says otherwise.

Markup is off on both: a printed string, a table title or a table cell is text as it is, so paths and
names with brackets (`exp [1]/`, `GEM[gat]+FM`) print whole. A print that wants style passes a
`rich.text.Text` (`Text.assemble(("warning:", "yellow"), ...)`), never markup in a string. Progress bars
and spinners parse their own text: their columns are `TextColumn(..., markup=False)` and a
spinner's text a `Text`.

A table's title is one line where the output is wide enough: `titled` widens a narrow table to its title,
so a path in the title is not folded across lines inside the table's width.
"""

import os
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

WIDE = 240  # columns when the output is not a terminal: tables keep their natural width up to this


def _console(stderr: bool) -> Console:
    c = Console(stderr=stderr, markup=False)
    if not c.is_terminal and not os.environ.get("COLUMNS"):
        c = Console(stderr=stderr, markup=False, width=WIDE)
    return c


out = _console(stderr=False)
err = _console(stderr=True)


def titled(title: str, **kwargs: Any) -> Table:
    """A rich Table whose title (text, often holding a path) is not folded narrower than itself."""
    return Table(title=Text(title), min_width=cell_len(title), **kwargs)
