"""glibc's malloc thresholds for the large per-step temporaries of training.

glibc serves every block above M_MMAP_THRESHOLD (at most 32 MiB when it adjusts it itself) with a fresh
mmap and unmaps it on free, so a 90k x 256 float32 gradient (92 MB, GEM on MovieLens) costs ~22,000
page faults every step. Raising the threshold lets the next step reuse the same pages: measured on the
full-size MovieLens set, 2 cores, batch 4096: FM 31 -> 24 ms a step, GEM+FM 142 -> 108 ms. It is raised
as far as mallopt takes it, 2 GiB - 1 (1 GiB up to gemcli 0.4.3): GEM+INN's evaluation of Frappe's
validation split in one batch (28,861 rows) makes [28861, 45, 256] tensors of 1.33 GB, which at 1 GiB
were mapped afresh, ~3 million page faults an epoch.

Freed memory must also stay in the heap: glibc gives the top of the heap back (brk) once it exceeds
M_TRIM_THRESHOLD, and a step whose temporaries pass that threshold then maps its pages afresh every
step. At 1 GiB (gemcli up to 0.4.3) GEM+INN on Frappe (batch 4096, [4096, 45, 256] tensors of 189 MB,
~2 GB a step) took 100,000-200,000 page faults a second, a quarter to almost half of its CPU time in
the kernel, and its epochs grew from 60 to 86 s; so trimming is now off (M_TRIM_THRESHOLD -1, glibc's
"never"): a process keeps the heap of its largest step until it exits, which a training process
needs again at every step anyway.

`gem` applies both at start-up; the library alone does not (it would change the allocator of whatever
process imports it). Set MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ yourself, or
GEM_MALLOC=default, to keep yours.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
THRESHOLD = (1 << 31) - 1  # mallopt's largest (an int): blocks up to 2 GiB come from the heap
NEVER = -1  # mallopt's int -1 is SIZE_MAX to glibc: the trim threshold never reached


def raise_thresholds(threshold: int = THRESHOLD, trim: int = NEVER) -> bool:
    """Set glibc's mmap threshold to `threshold` bytes and its trim threshold to `trim` (default: never
    trim); False where not applied (not Linux glibc, or the user set either threshold or GEM_MALLOC=default)."""
    if not sys.platform.startswith("linux") or os.environ.get("GEM_MALLOC") == "default":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold)) and bool(mallopt(M_TRIM_THRESHOLD, trim))
