"""Row-sparse optimisation for large embedding tables: each step reads and updates only the rows a batch touches.

torch's sparse gradients (`sparse=True`) coalesce a COO tensor and intersect index sets in every
optimiser step, which on a CPU costs more than the dense update they avoid (measured: ~290 ms per
step for FM on the full-size MovieLens table). Here a table in sparse mode hands the model a detached
copy of the touched rows (`RowSparse.touch_rows`; the table's module keeps them until the step); after
backward, the optimiser applies Adagrad, (lazy) Adam or SGD to exactly those rows with index_select /
index_copy, and the usual torch optimiser to the rest.
L2 on such a table is lazy: 2 lambda w is added to the gradient of the rows a step touches (the usual
treatment of L2 for sparse embeddings), rather than decaying every row of the table every step.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gemcli.errors import GemError


class RowSparse:
    """Mixin of a module whose `weight` table trains row by row in sparse mode (`row_sparse`): it owns the
    rows its forward passes touched (`pending`) until the RowSparseOptimizer applies their gradients."""

    weight: nn.Parameter
    row_sparse: bool = False

    def touch_rows(self, ids: torch.Tensor, sparse: bool) -> torch.Tensor:
        """weight[ids] for unique ids [U] -> [U, D]; in sparse training a detached leaf whose gradient the
        RowSparseOptimizer applies to those rows only (it is kept in `pending` until then)."""
        if not (sparse and torch.is_grad_enabled() and self.weight.requires_grad):
            return F.embedding(ids, self.weight)
        leaf = self.weight.detach().index_select(0, ids).requires_grad_(True)
        self.__dict__.setdefault("pending", []).append((ids, leaf))
        return leaf

    def touched(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The (ids [U], leaf [U, D]) touched since the last step, left in place (gradient clipping reads them)."""
        return self.__dict__.get("pending", [])

    def take_pending(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The (ids [U], leaf [U, D]) touched since the last step, handed over once."""
        return self.__dict__.pop("pending", [])


@torch.no_grad()
def clip_gradients(model: nn.Module, max_norm: float) -> torch.Tensor:
    """Scale this step's gradients by min(1, max_norm / (total + 1e-6)), total the L2 norm over all of them:
    torch.nn.utils.clip_grad_norm_'s rule, with the touched rows of row-sparse tables (their pending leaves)
    counted and scaled as the gradients they are. Returns the total norm before clipping."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    for module in row_sparse_modules(model):
        grads += [leaf.grad for _, leaf in module.touched() if leaf.grad is not None]
    if not grads:
        return torch.zeros(())
    total = torch.stack([(g.coalesce().values() if g.is_sparse else g).norm() for g in grads]).norm()
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef)
    return total


def torch_optimizer(
    name: str, params: list[nn.Parameter], lr: float, adagrad_init: float = 0.1, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """torch's Adam (AdamW with a decoupled weight_decay) / Adagrad / SGD with its fused kernel (one pass over
    each tensor; on a CPU, for the 90k x 256 MovieLens table: Adam 12 vs 83 ms a step, Adagrad 10 vs 55 ms; same
    update rule)."""
    on = ("cpu",) if name == "adagrad" else ("cpu", "cuda")  # torch's fused Adagrad has no CUDA kernel
    fused = True if all(p.device.type in on for p in params) else None
    if name == "adam" and weight_decay > 0:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, fused=fused)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, initial_accumulator_value=adagrad_init, fused=fused)
    return torch.optim.SGD(params, lr=lr, fused=fused)


def row_sparse_modules(model: nn.Module) -> list[RowSparse]:
    """The modules of `model` whose table trains row by row (RowSparse with row_sparse set)."""
    return [m for m in model.modules() if isinstance(m, RowSparse) and m.row_sparse]


class RowSparseOptimizer:
    """Adagrad / Adam (lazy, as SparseAdam) / SGD on the touched rows of sparse tables, torch's optimiser on the
    rest."""

    def __init__(
        self,
        model: nn.Module,
        name: str,
        lr: float,
        adagrad_init: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        l2: float = 0.0,
        weight_decay: float = 0.0,
    ):
        self.modules = row_sparse_modules(model)
        self.tables = [m.weight for m in self.modules]
        ids = {id(p) for p in self.tables}
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
        self.name, self.lr, self.betas, self.eps, self.l2 = name, lr, betas, eps, l2
        self.weight_decay = weight_decay
        self.dense = torch_optimizer(name, rest, lr, adagrad_init, weight_decay) if rest else None
        if name == "adam":
            self.state = [{"m": torch.zeros_like(p), "v": torch.zeros_like(p)} for p in self.tables]
        elif name == "adagrad":
            self.state = [{"sum": torch.full_like(p, adagrad_init)} for p in self.tables]
        else:
            self.state = [{} for _ in self.tables]
        self.steps = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        # the touched rows of this step's forward stay pending: step() consumes them after backward
        if self.dense is not None:
            self.dense.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        if self.dense is not None:
            self.dense.step()
        for module, p, st in zip(self.modules, self.tables, self.state, strict=True):
            if p.grad is not None:  # a model read this table around touch_rows: its step would be lost
                raise RuntimeError(
                    "a row-sparse table got a dense gradient: the model must read it through "
                    "its module's touch_rows (gemcli.optim.RowSparse) in sparse mode"
                )
            for ids, leaf in module.take_pending():
                if leaf.grad is None:
                    continue
                g = leaf.grad
                step = self.lr
                if self.l2 > 0:
                    g = g + (2 * self.l2) * leaf.detach()
                if self.weight_decay > 0:  # AdamW's decoupled decay, on the touched rows (lazily, as the update)
                    p.index_copy_(0, ids, p.index_select(0, ids).mul_(1 - self.lr * self.weight_decay))
                if self.name == "adagrad":
                    s = st["sum"].index_select(0, ids).addcmul_(g, g)
                    st["sum"].index_copy_(0, ids, s)
                    update = g / (s.sqrt_().add_(1e-10))
                elif self.name == "adam":
                    b1, b2 = self.betas
                    m = st["m"].index_select(0, ids).mul_(b1).add_(g, alpha=1 - b1)
                    v = st["v"].index_select(0, ids).mul_(b2).addcmul_(g, g, value=1 - b2)
                    st["m"].index_copy_(0, ids, m)
                    st["v"].index_copy_(0, ids, v)
                    # torch's Adam: p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps), in place on the copies
                    bc1, bc2 = 1 - b1**self.steps, 1 - b2**self.steps
                    update = m.div_(v.sqrt_().div_(bc2**0.5).add_(self.eps))
                    step = self.lr / bc1
                else:
                    update = g
                p.index_add_(0, ids, update, alpha=-step)

    def state_dict(self) -> dict[str, Any]:
        return {
            "dense": self.dense.state_dict() if self.dense is not None else None,
            "rows": self.state,
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["rows"]) != len(self.state):  # e.g. a GEM checkpoint from before W_1 trained densely
            raise GemError(
                f"the checkpoint's optimiser holds {len(state['rows'])} row-sparse tables, this model "
                f"{len(self.state)}: it was written by another version of gemcli; start the run afresh"
            )
        if self.dense is not None:
            self.dense.load_state_dict(state["dense"])
        for mine, saved in zip(self.state, state["rows"], strict=True):
            for k, v in saved.items():
                mine[k].copy_(v)
        self.steps = state["steps"]
