"""Where exact GEM+FM's training step goes, beside FM's, on a prepared run directory (not a test).

    python scripts/gem_cost.py RUN_DIR [--steps 20] [--batch-size 4096] [--dim 256]

RUN_DIR must hold preprocessed data and a graph (`gem preprocess ...`, `gem build-graph`), e.g. the
full-size MovieLens set that scripts/bench.py generates. Prints, for one batch: the entries of Â in
its rows and the rows of W they reach; then the time of the parts no exact implementation can skip
(the forward embedding bag over those entries, the backward bag over Â^T, one fused Adam pass over W)
and of whole training steps of FM and GEM+FM with their default recipes. Run it as `gem` runs
(glibc's malloc thresholds raised, gemcli/allocator.py) unless GEM_MALLOC=default.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bench import default_model, shuffled_batches  # scripts/bench.py, beside this file
from gemcli import rundir
from gemcli.allocator import raise_thresholds
from gemcli.train import load_split, train_step


def ms(fn, n: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=256)
    args = ap.parse_args()
    print(f"malloc thresholds raised: {raise_thresholds()}; {torch.get_num_threads()} torch threads")
    meta = rundir.read_meta(args.run_dir)
    x, y = load_split(args.run_dir, "train", meta)
    batches = shuffled_batches(x, y, args.batch_size, args.steps + 3)

    step_ms = {}
    for gem in (False, True):
        model, opt, tcfg, _ = default_model(args.run_dir, meta, "fm", gem, args.dim)
        it = iter(range(10**9))
        step_ms[gem] = ms(
            lambda m=model, o=opt, t=tcfg, i=it: train_step(m, o, *batches[next(i) % len(batches)], t), args.steps
        )
    emb = model.embedder  # GEM+FM's GCN embedder
    nodes = torch.unique(batches[0][0])
    cols, vals, offsets, _ = emb.adj.entries(nodes)
    w = emb.weight.detach().clone()
    print(
        f"one batch: {len(nodes):,} distinct features; {len(cols):,} of Â's {len(emb.col):,} non-zeros in their rows; "
        f"they reach {len(torch.unique(cols)):,} of W's {w.shape[0]:,} rows"
    )
    fwd = ms(lambda: F.embedding_bag(cols, w, offsets, mode="sum", per_sample_weights=vals), args.steps)
    t_index, t_weights, t_offsets = emb.adj.transposed(nodes)
    grad_out = torch.randn(len(nodes), w.shape[1])
    bwd = ms(
        lambda: F.embedding_bag(t_index, grad_out, t_offsets, mode="sum", per_sample_weights=t_weights), args.steps
    )
    p = torch.nn.Parameter(w.clone())
    p.grad = torch.randn_like(w)
    adam = torch.optim.Adam([p], lr=1e-3, fused=True)
    upd = ms(adam.step, args.steps)
    print(f"forward bag over those entries          {fwd:7.1f} ms")
    print(f"backward bag over Â^T (plan prebuilt)    {bwd:7.1f} ms")
    print(f"fused Adam pass over W                   {upd:7.1f} ms")
    print(
        f"sum of the three                         {fwd + bwd + upd:7.1f} ms = "
        f"{(fwd + bwd + upd) / step_ms[False]:.2f}x FM's step"
    )
    print(f"FM training step                         {step_ms[False]:7.1f} ms")
    print(
        f"GEM+FM training step                     {step_ms[True]:7.1f} ms = {step_ms[True] / step_ms[False]:.2f}x "
        "FM's step"
    )


if __name__ == "__main__":
    main()
