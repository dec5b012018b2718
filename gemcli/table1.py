"""The runs behind the paper's Table 1: names, the FM run each base starts from, and training the missing ones.

Every run takes its model's recipe (gemcli/recipes/, through gemcli.config.resolve_config); non-FM bases
start from the FM run of their seed: plain from FM (the paper's pre-training), GEM from GEM+FM (`fine-tune`), or,
with `gem_start="scratch"`, GEM bases from scratch as the paper trains them (named table1-scratch-gem-BASE-sSEED,
beside the fine-tuned ones).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from gemcli.config import RunConfig, resolve_config
from gemcli.console import out
from gemcli.errors import GemError
from gemcli.options import OptionValue
from gemcli.paper import BASES

GEM_STARTS = ("fine-tune", "scratch")  # where a GEM base's training starts: from GEM+FM's run, or from scratch


def table1_name(base: str, gem: bool, seed: int, gem_start: str = "fine-tune") -> str:
    """Run name of a Table 1 run: table1-[gem-]BASE-sSEED; GEM bases from scratch table1-scratch-gem-BASE-sSEED."""
    if gem and base != "fm" and gem_start == "scratch":
        return f"table1-scratch-gem-{base}-s{seed}"
    return f"table1-{'gem-' if gem else ''}{base}-s{seed}"


def pretrain_source(base: str, gem: bool, seed: int, gem_start: str = "fine-tune") -> str | None:
    """The FM run a Table 1 run starts from (None for FM itself, and for GEM bases from scratch)."""
    if base == "fm" or (gem and gem_start == "scratch"):
        return None
    return table1_name("fm", gem, seed)


def same_config(run_dir: Path, cfg: RunConfig, folder: Path) -> None:
    """Stop, naming the differences, when the run in `folder` (finished or not) was trained with another config than
    `cfg` would be (another --epochs, a changed recipe): kept, it would stand in Table 1 for a run never asked for."""
    from gemcli.adopt import config_changes

    changes = config_changes(run_dir, cfg, folder)
    if changes:
        raise GemError(
            f"{folder}: trained with another config than asked now ({changes}); give the options it "
            f"was trained with, or move it away to train it anew"
        )


def train_missing(
    run_dir: Path,
    *,
    seeds: int,
    epochs: int | None,
    bases: list[str] | None,
    gem_start: str = "fine-tune",
    adopt: bool = True,
) -> None:
    """Train every base x {plain, GEM} x seed that has no finished run named table1-...; FM first.

    Every run of base B, seed s, starts from table1-fm-s (plain) or table1-gem-fm-s (GEM, unless gem_start is
    scratch), which therefore come first; `bases` without fm needs those runs to exist already. With `adopt`, a
    run whose twin finished elsewhere in the run directory (a sweep's point: gemcli/adopt.py) is copied instead.
    """
    from gemcli.adopt import adopt_twins
    from gemcli.executors import PointInterrupted
    from gemcli.runs import ENDED, finished_summary
    from gemcli.train import fit_or_resume

    models = Path(run_dir) / "models"
    for base in bases or BASES:
        for gem in (False, True):
            for seed in range(seeds):
                name = table1_name(base, gem, seed, gem_start)
                folder = models / name
                given: dict[str, OptionValue] = {
                    "seed": seed,
                    "pretrain": pretrain_source(base, gem, seed, gem_start),
                    "epochs": epochs,
                }
                resolved = resolve_config(base, gem, given, name=name)
                if (folder / "config.json").is_file():
                    same_config(run_dir, resolved.config, folder)
                if finished_summary(folder) is not None:
                    continue
                out.print(Text(name, style="bold"))
                if adopt and not adopt_twins(run_dir, [(resolved.config, folder)]):
                    continue
                out.print(resolved.describe(), highlight=False)
                if fit_or_resume(run_dir, resolved.config, folder).get("status") not in ENDED:
                    raise PointInterrupted(name)  # Ctrl-C (or SIGTERM) stops the whole command, not just this run
