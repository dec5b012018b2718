"""Plug-ins from outside the package: Python entry points in the groups `gemcli.bases`, `gemcli.embedders`,
`gemcli.tasks` and `gemcli.executors`, each NAME = "module:object". A package declares them in its
pyproject.toml (`[project.entry-points."gemcli.bases"] toy = "toy_gem:Toy"`); once installed (or on the path with
its dist-info), `gem train --base toy` finds it beside the built-ins. Loading one that fails is one line naming it.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any

from gemcli.errors import GemError

GROUPS = ("gemcli.bases", "gemcli.embedders", "gemcli.tasks", "gemcli.executors")


@cache
def _names(group: str) -> tuple[tuple[str, str], ...]:
    return tuple((ep.name, ep.value) for ep in entry_points(group=group))


_loaded: dict[str, dict[str, Any]] = {}


def load_group(group: str, names_only: bool = False) -> dict[str, Any]:
    """The objects a group's entry points name, by entry-point name (imported once); with `names_only`, their
    "module:object" strings without importing anything."""
    if names_only:
        return dict(_names(group))
    if group not in _loaded:
        found: dict[str, Any] = {}
        for ep in entry_points(group=group):
            try:
                found[ep.name] = ep.load()
            except Exception as e:  # a broken plug-in: one line naming it, not a traceback
                raise GemError(f"plug-in {ep.name} ({group} = {ep.value}) failed to load: {e}") from None
        _loaded[group] = found
    return _loaded[group]


def forget() -> None:
    """Read the entry points again (tests that install a plug-in while running)."""
    _names.cache_clear()
    _loaded.clear()
