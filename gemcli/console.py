"""Shared rich consoles: results on stdout, progress and diagnostics on stderr."""

from rich.console import Console

out = Console()
err = Console(stderr=True)
