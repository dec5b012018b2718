"""Training and evaluation throughput of FM with every registered embedder, relative to FM's own table (lookup),
measured in one run on the same batches: the `embedders` section of bench/results.md.

    python scripts/bench_embedders.py runs/frappe runs/movielens runs/movielens-full   # run directories (data, graph)

Each row is named by its run directory: frappe (the official archive), movielens (the real ml-10m tags),
movielens-full (the paper's size, generated: `python scripts/make_movielens.py tags.csv`, seed 0, then
`gem preprocess movielens --source tags.csv` and `gem build-graph --type a`; 1,605,487 training rows, 90,445 features).

Each model is built as `gem train --base fm --embedder E` builds it (its recipe, d=256, seed 0); a train step is
the full step (forward, loss, backward, optimiser); samples/s is the median of 3 timed runs of --steps steps
after warm-up (bench.py's time_steps). Evaluation: the whole validation split through predict (an embedder's
table computed once, the cache). Run it on an idle machine: it times things.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ROOT, shuffled_batches, sync, time_steps, with_section  # noqa: E402

FANOUT = {"gcn": "fanout", "sage": "fanout", "lightgcn": "fanout"}  # gat's recipe (gem-gat) sets fanout 16


def model_of(run: Path, meta, embedder: str, dim: int, options: dict, device: str = "cpu"):
    from gemcli.build import build_model, finalise_model, make_optimizer
    from gemcli.config import resolve_config

    torch.manual_seed(0)
    given = {"embedding_size": dim}
    emb_opts = dict(options)
    cfg = resolve_config("fm", embedder, given, embedder_options=emb_opts or None).config
    mcfg = finalise_model(run, cfg.model, meta)
    model = build_model(run, mcfg, meta).to(device)
    return model, make_optimizer(model, cfg.train, bool(mcfg.sparse)), cfg.train


def bench(run: Path, steps: int, bs: int, dim: int, fanout: int, device: str = "cpu") -> list[str]:
    from gemcli import rundir
    from gemcli.nn.embedders import embedder_names
    from gemcli.tasks import get_task
    from gemcli.train import load_split, predict, train_step

    meta = rundir.read_meta(run)
    task = get_task(meta.task)
    x, y = load_split(run, "train", meta)
    xv, _ = load_split(run, "valid", meta)
    dev = torch.device(device)
    batches = [(bx.to(dev), by.to(dev)) for bx, by in shuffled_batches(x, y, bs, 3 * steps + 3)]
    cases = [(e, {}) for e in embedder_names()]
    if fanout:
        cases += [(e, {FANOUT[e]: fanout}) for e in embedder_names() if e in FANOUT]
    lines, base_rate = [], None
    for embedder, options in cases:
        label = embedder + "".join(f" {k}={v}" for k, v in options.items())
        try:
            model, opt, tcfg = model_of(run, meta, embedder, dim, options, device)
            rate = time_steps(
                lambda b, m=model, o=opt, t=tcfg: train_step(m, o, *batches[b], t, task), len(batches), steps
            )
            t0 = time.perf_counter()
            predict(model, xv, 65536, dev)
            sync()
            eval_rate = len(xv) / (time.perf_counter() - t0)
        except (RuntimeError, MemoryError) as e:  # say so, keep going
            print(f"{run.name:14s} {label:28s} failed: {str(e).splitlines()[0]}", flush=True)
            lines.append(f"| {run.name} | FM + {label} | failed: {str(e).splitlines()[0][:60]} | | | | |")
            continue
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        if embedder == "lookup" and not options:  # comes first; if it failed, no row has a ratio to FM
            base_rate = rate
        ratio = f"{rate / base_rate:.2f}" if base_rate else "-"
        print(
            f"{run.name:14s} {label:28s} {rate * bs:10,.0f} samples/s  {ratio:>5s}x FM  "
            f"eval {eval_rate:10,.0f} samples/s  {params:,} parameters",
            flush=True,
        )
        lines.append(
            f"| {run.name} | FM + {label} | {rate * bs:,.0f} | {ratio} | "
            f"{len(y) / (rate * bs):.1f} | {eval_rate:,.0f} | {params:,} |"
        )
        del model, opt
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+", help="run directories with data and a graph")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--fanout", type=int, default=16, help="also each graph embedder with fanout K (0: skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda: where each model trains and evaluates")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    ap.add_argument("--note", default="", help="a line below the table (e.g. how the machine was kept idle)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for run in args.runs:
        rows += bench(run, args.steps, args.batch_size, args.dim, args.fanout, args.device)
    where = f"{args.threads} threads"
    if args.device.startswith("cuda"):
        where = f"{args.device} ({torch.cuda.get_device_name(0)})"
    text = "\n".join(
        [
            "## Benchmarks: embedders",
            "",
            f"`python scripts/bench_embedders.py {' '.join(sys.argv[1:])}` ({time.strftime('%Y-%m-%d')}, "
            f"{torch.__version__}, {where}, batch {args.batch_size}, d={args.dim}, seed 0, "
            f"median of 3 x {args.steps} steps). FM with each embedder as `gem train --base fm --embedder E` builds it "
            "(its recipe); x FM: train samples/s over FM with its own table (lookup), measured in the same run.",
            "",
            "| data | model | train samples/s | x FM | s/epoch | eval samples/s | parameters |",
            "|---|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "Each model as its recipe builds it (`gem recipes`: fm for lookup, gem-fm for gcn, gem-E where E has one, "
            "else fine-tune); gat's recipe sets att_dim 16 and fanout 16. gat's cost is its per-entry scoring "
            "(E x H x att_dim; E: the entries of the batch's rows of Â, `fanout` bounds it); transformer's is its "
            "encoder over K+1 = 9 tokens of width 256 for every distinct feature of "
            "a batch (one layer: scores through W_k's transpose, values projected after mixing; "
            "gemcli/nn/transformer.py).",
            *([args.note] if args.note else []),
            "",
        ]
    )
    args.out.write_text(with_section(args.out, "embedders", text))
    print(f"wrote the embedders section of {args.out}")


if __name__ == "__main__":
    main()
