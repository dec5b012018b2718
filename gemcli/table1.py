"""The runs behind the paper's Table 1: names, the FM run each base starts from, and training the missing ones.

Every run takes its model's recipe (gemcli/recipes/, through gemcli.config.resolve_config); non-FM bases
start from the FM run of their seed: plain from FM (the paper's pre-training), GEM from GEM+FM.
"""

from __future__ import annotations

from pathlib import Path

from gemcli.config import resolve_config
from gemcli.console import out
from gemcli.paper import BASES


def table1_name(base: str, gem: bool, seed: int) -> str:
    """Run name of a Table 1 run: table1-[gem-]BASE-sSEED."""
    return f"table1-{'gem-' if gem else ''}{base}-s{seed}"


def pretrain_source(base: str, gem: bool, seed: int) -> str | None:
    """The FM run a Table 1 run starts from (None for FM itself)."""
    return None if base == "fm" else table1_name("fm", gem, seed)


def train_missing(run_dir: Path, *, seeds: int, epochs: int | None, bases: list[str] | None) -> None:
    """Train every base x {plain, GEM} x seed that has no finished run named table1-...; FM first.

    Every run of base B, seed s, starts from table1-fm-s (plain) or table1-gem-fm-s (GEM), which
    therefore come first; `bases` without fm needs those runs to exist already.
    """
    from gemcli.runs import finished_summary
    from gemcli.train import fit_or_resume

    models = Path(run_dir) / "models"
    for base in bases or BASES:
        for gem in (False, True):
            for seed in range(seeds):
                name = table1_name(base, gem, seed)
                folder = models / name
                if finished_summary(folder) is not None:
                    continue
                given = {"seed": seed, "pretrain": pretrain_source(base, gem, seed), "epochs": epochs}
                resolved = resolve_config(base, gem, given, name=name)
                out.print(f"[b]{name}[/b]")
                out.print(resolved.describe(), highlight=False, markup=False)
                fit_or_resume(run_dir, resolved.config, folder)
