"""The runs a results/ unit kept (results/lib.sh's keep_run: OUT/runs/NAME/ with config.json, summary.json and
metrics.jsonl, not the weights) as a table: one row per run, then the mean ± std over the runs of each group.

    python scripts/kept_runs.py RUNS_DIR [PATTERN] [--out FILE.md]

RUNS_DIR holds the kept folders (results/frappe/runs); PATTERN (a glob, default *) picks some of them. A group is the
run name without its -sSEED suffix (table1-scratch-gem-inn-s0..2: one group). Per run: seed, the best epoch of the
epochs run and whether the last epochs still improved on it (best epoch = last epoch: early stopping did not end it),
the validation and test metrics at the best epoch (the summary's), and the seconds it trained. A run dir need not
outlive the session that trained it: these records do, so a table over runs of several sessions is made from them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from gemcli.errors import GemError
from gemcli.report import fmt_mean_std
from gemcli.rundir import atomic_write_text
from gemcli.tasks import headline_of

USAGE = "usage: kept_runs.py RUNS_DIR [PATTERN] [--out FILE.md]"


def group_of(name: str) -> str:
    """A run's group: its name without the -sSEED suffix."""
    return re.sub(r"-s\d+$", "", name)


def read_kept(folder: Path) -> dict:
    """The kept summary of one run, its metrics.jsonl's epoch count checked against it."""
    path = folder / "summary.json"
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise GemError(f"{path}: not a kept run's summary ({e})") from None
    if summary.get("status") != "finished":
        raise GemError(f"{path}: status {summary.get('status')!r}, not a finished run")
    lines = (folder / "metrics.jsonl").read_text().splitlines() if (folder / "metrics.jsonl").is_file() else []
    if len(lines) != summary.get("epochs_run"):
        raise GemError(f"{folder / 'metrics.jsonl'}: {len(lines)} epochs, its summary says {summary.get('epochs_run')}")
    return summary


def table(runs: list[dict]) -> str:
    """Markdown: a row per run, then per group the mean ± std of the headline metrics (the runs' task's)."""
    metrics = headline_of(runs[0]) if runs else ("rmse", "mae")
    head = ["run", "seed", "best epoch / run", "still improving", *(f"valid {m}" for m in metrics)]
    head += [*(f"test {m}" for m in metrics), "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 4 + "---:|" * (2 * len(metrics) + 1)]
    for r in runs:
        improving = "yes" if r["best_epoch"] == r["epochs_run"] else "no"
        cells = [r["name"], str(r["seed"]), f"{r['best_epoch']} / {r['epochs_run']}", improving]
        cells += [f"{r[f'{split}_{m}']:.4f}" for split in ("valid", "test") for m in metrics]
        lines.append("| " + " | ".join(cells) + f" | {r['train_seconds']:.0f} |")
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(group_of(r["name"]), []).append(r)
    lines.append("")
    for group, rs in groups.items():
        means = ", ".join(f"test {m} {fmt_mean_std([r[f'test_{m}'] for r in rs])}" for m in metrics)
        seeds = ", ".join(str(r["seed"]) for r in rs)
        lines.append(f"- {group}: {len(rs)} seed{'s' * (len(rs) > 1)} ({seeds}): {means}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    out = None
    if "--out" in argv:
        i = argv.index("--out")
        if i + 1 >= len(argv):
            print(f"kept_runs.py: --out needs a file; {USAGE}", file=sys.stderr)
            return 2
        out, argv = Path(argv[i + 1]), argv[:i] + argv[i + 2 :]
    if not 1 <= len(argv) <= 2:
        print(USAGE, file=sys.stderr)
        return 2
    root, pattern = Path(argv[0]), argv[1] if len(argv) > 1 else "*"
    folders = sorted(p for p in root.glob(pattern) if (p / "summary.json").is_file())
    if not folders:
        print(f"kept_runs.py: {root}: no kept run matches {pattern!r}", file=sys.stderr)
        return 2
    try:
        runs = sorted((read_kept(f) for f in folders), key=lambda r: (group_of(r["name"]), r["seed"]))
    except GemError as e:
        print(f"kept_runs.py: {e}", file=sys.stderr)
        return 2
    text = table(runs)
    if out:
        atomic_write_text(out, text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
