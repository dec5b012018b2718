"""What sweeps and searches write about their runs, one way: results.csv (one row per run or trial, full precision)
and results.md (a titled page naming the command that wrote it, a table, notes), each written whole or not at all
(a temporary name, then rename), and recorded in the folder's manifest.json so that what reads them later checks
them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gemcli import rundir


def made_by() -> str:
    """The command that is writing (as typed, without the path to `gem`)."""
    return rundir.command_line()


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], stage: str) -> None:
    """results.csv, recorded in its folder's manifest (what `gem report sweep` reads is checked against it)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    rundir.atomic_write_text(path, buf.getvalue())
    rundir.record_output(path, stage)


def write_page(
    path: Path, title: str, intro: str, table: list[str], notes: Iterable[str] = (), stage: str = ""
) -> None:
    """results.md: '# title', the intro (after 'Made by `COMMAND` (the last call that wrote this file)'), the
    table's lines, then each note as its own paragraph."""
    lines = [f"# {title}", "", f"Made by `{made_by()}` (the last call that wrote this file). {intro}", "", *table]
    for note in notes:
        lines += ["", note]
    rundir.atomic_write_text(path, "\n".join(lines) + "\n")
    rundir.record_output(path, stage)
