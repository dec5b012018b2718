"""Training recipes as data: one TOML file each, holding `gem train` options and the result it was chosen on.

    summary      = "one line"
    defaults_for = ["fm/lookup", "*/*"]   # BASE/EMBEDDER patterns this recipe is the default of
    chosen_on    = "the runs and figures behind it (validation split)"
    [options]                             # flat option names, as `gem train --NAME` with _ for -
    optimizer = "adam"
    [embedder_options.gat]                # an embedder's own options (--embedder-option), for that embedder
    fanout = 16

A model's default recipe is the built-in file whose `defaults_for` matches it most specifically
(an exact base and embedder beat a wildcard). `gem train --recipe NAME|FILE` picks another one.
Which value wins is decided in one place: gemcli.config.resolve_config, which also checks a recipe's
options (this module knows recipe files, not options, so that config depends on it and not both ways).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

from gemcli.errors import GemError

RECIPE_DIR = Path(__file__).parent
KEYS = {"summary", "defaults_for", "chosen_on", "options", "embedder_options"}


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    summary: str
    chosen_on: str
    defaults_for: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    embedder_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # embedder -> its options


def load_recipe(path: Path) -> Recipe:
    """Read one recipe file and check its form (unknown keys, no chosen_on: one line naming the file). Its
    options are checked where options are known: gemcli.config.recipe_options."""
    path = Path(path)
    try:
        from gemcli.rundir import read_bounded_text

        data = tomllib.loads(read_bounded_text(path, 1 << 20, "recipe"))
    except FileNotFoundError:
        raise GemError(f"--recipe {path}: no such file") from None
    except IsADirectoryError:
        raise GemError(f"--recipe {path}: a folder, not a recipe file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise GemError(f"{path}: not a valid TOML recipe ({e})") from None
    except RecursionError:
        raise GemError(f"{path}: nested too deeply to be a recipe") from None
    extra = sorted(set(data) - KEYS)
    if extra:
        raise GemError(f"{path}: unknown key {extra[0]!r}; a recipe has {', '.join(sorted(KEYS))}")
    opts = data.get("options", {})
    if not isinstance(opts, dict):
        raise GemError(f"{path}: [options] must be a table of option = value")
    emb = data.get("embedder_options", {})
    if not isinstance(emb, dict) or not all(isinstance(v, dict) for v in emb.values()):
        raise GemError(f"{path}: [embedder_options.NAME] must be tables of option = value, one per embedder")
    if not str(data.get("chosen_on", "")).strip():
        raise GemError(f'{path}: a recipe says what it was chosen on (chosen_on = "...")')
    return Recipe(
        name=path.stem,
        path=path,
        summary=str(data.get("summary", "")),
        chosen_on=str(data["chosen_on"]),
        defaults_for=tuple(data.get("defaults_for", ())),
        options=dict(opts),
        embedder_options={k: dict(v) for k, v in emb.items()},
    )


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return repr(v)


def recipe_text(
    comment: str,
    summary: str,
    chosen_on: str,
    options: dict[str, Any],
    embedder: str = "",
    embedder_options: dict[str, Any] | None = None,
    defaults_for: tuple[str, ...] = (),
) -> str:
    """A recipe file's text (what load_recipe reads): `gem tune`'s best-recipe.toml, scripts/pick_recipe.py."""
    lines = [f"# {comment}", f"summary = {json.dumps(summary)}"]
    if defaults_for:
        lines.append(f"defaults_for = {_toml(list(defaults_for))}")
    lines += [
        f"chosen_on = {json.dumps(chosen_on)}",
        "",
        "[options]",
        *(f"{k} = {_toml(v)}" for k, v in options.items()),
    ]
    if embedder_options:  # the embedder's own options, for that embedder
        lines += ["", f"[embedder_options.{embedder}]", *(f"{k} = {_toml(v)}" for k, v in embedder_options.items())]
    return "\n".join(lines) + "\n"


@cache
def builtin_recipes() -> dict[str, Recipe]:
    """The recipes shipped in gemcli/recipes/*.toml, by name (the file's stem)."""
    return {p.stem: load_recipe(p) for p in sorted(RECIPE_DIR.glob("*.toml"), key=lambda p: p.stem)}


def find_recipe(name_or_file: str) -> Recipe:
    """A built-in recipe by name, or a recipe file by path."""
    recipes = builtin_recipes()
    if name_or_file in recipes:
        return recipes[name_or_file]
    path = Path(name_or_file)
    if path.suffix == ".toml" or path.exists():
        return load_recipe(path)
    raise GemError(f"--recipe {name_or_file!r}: no such recipe; built-in: {', '.join(recipes)} (or a .toml file)")


def _specificity(pattern: str) -> int:
    return sum(part != "*" for part in pattern.split("/"))


def default_recipe(base: str, embedder: str) -> Recipe | None:
    """The built-in recipe whose `defaults_for` matches BASE/EMBEDDER most specifically (None: no recipe)."""
    key = f"{base}/{embedder}"
    best: tuple[int, Recipe] | None = None
    for rec in builtin_recipes().values():
        for pattern in rec.defaults_for:
            if fnmatchcase(key, pattern) and (best is None or _specificity(pattern) > best[0]):
                best = (_specificity(pattern), rec)
    return best[1] if best else None
