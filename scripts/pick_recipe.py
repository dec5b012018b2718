"""Write a built-in recipe from a finished sweep: the point with the best validation metric (seed 0 or the mean
over seeds), its swept and fixed options, and what it was chosen on.

    python scripts/pick_recipe.py RUN_DIR/sweeps/emb-recipe-sage gem-sage "fm/sage" [OUT_DIR]

writes gemcli/recipes/gem-sage.toml (or OUT_DIR/gem-sage.toml) with `defaults_for = ["fm/sage"]`. Only the
validation split decides; test figures are not read. The options are those of the chosen point's config that its
recipe, the sweep's fixed options or its swept ones set (not global defaults), and its embedder's own options.
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

from gemcli.config import NOT_IN_RECIPES, option_values, relevant_keys
from gemcli.recipes import recipe_text
from gemcli.runs import read_run_config

SKIP = {"seed", "device", "eval_batch_size", "epochs_run"}


def main(sweep: Path, name: str, pattern: str, out_dir: Path | None = None) -> Path:
    rows = list(csv.DictReader((sweep / "results.csv").open()))
    metric = next(c for c in ("valid_rmse", "valid_auc") if rows and c in rows[0])
    lower = metric != "valid_auc"
    by_point: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_point.setdefault(r["run"].rsplit("-s", 1)[0], []).append(r)
    score = {p: statistics.mean(float(r[metric]) for r in rs) for p, rs in by_point.items()}
    best = (min if lower else max)(score, key=score.__getitem__)
    folder = sweep / "points" / by_point[best][0]["run"]
    cfg = read_run_config(folder)
    vals = option_values(cfg)
    keep = {
        k: vals[k]
        for k in relevant_keys(cfg.model.base, cfg.model.embedder)
        if k not in NOT_IN_RECIPES
        and k not in SKIP
        and vals.get(k) is not None
        and cfg.sources.get(k, "default") != "default"
    }  # what the point's recipe, fixed or swept options set: global defaults stay defaults
    table = ", ".join(f"{p} {s:.4f}" for p, s in sorted(score.items(), key=lambda t: t[1], reverse=not lower))
    seeds = sorted({int(r["seed"]) for r in rows})
    text = recipe_text(
        f"{cfg.model.embedder} on {cfg.model.base}: chosen by scripts/pick_recipe.py from {sweep}",
        f"{vals['optimizer'].capitalize()} lr {vals['lr']:g}, {vals['loss_reduction']} loss, "
        + (f"dropout {vals['dropout']:g}, " if "dropout" in vals else "")
        + f"up to {vals['epochs']} epochs, patience {vals['patience']}"
        + (f"; {cfg.model.embedder} " if cfg.model.embedder_options else "")
        + " ".join(f"{k}={v}" for k, v in cfg.model.embedder_options.items()),
        f"validation split, {metric} (seeds {seeds}) of the sweep {sweep.name}: {table}",
        keep,
        cfg.model.embedder,
        cfg.model.embedder_options,
        defaults_for=(pattern,),
    )
    out = (out_dir or Path(__file__).resolve().parent.parent / "gemcli" / "recipes") / f"{name}.toml"
    out.write_text(text)
    print(f"{out}: {best} ({metric} {score[best]:.4f})")
    return out


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4]) if len(sys.argv) == 5 else None)
