"""Shared rich consoles: results on stdout, progress and diagnostics on stderr.

On a terminal they take its width; written to a file or a pipe they do not wrap at 80 columns (which
splits paths and table rows), unless $COLUMNS says otherwise.
"""

import os

from rich.console import Console
from rich.text import Text

WIDE = 240  # columns when the output is not a terminal: tables keep their natural width up to this


def _console(stderr: bool) -> Console:
    c = Console(stderr=stderr)
    if not c.is_terminal and not os.environ.get("COLUMNS"):
        c = Console(stderr=stderr, width=WIDE)
    return c


out = _console(stderr=False)
err = _console(stderr=True)


def plain(*cells: str) -> list[Text]:
    """Table cells shown as they are: names like GEM[toy]+FM or paths with [brackets] are not rich markup."""
    return [Text(c) for c in cells]
