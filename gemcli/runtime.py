"""How many CPU threads torch uses: --threads, else $GEM_THREADS, else a default that holds up under load.

torch's default (one thread per core) is fastest on an idle machine but collapses when other processes
share the cores: on 2 cores, GEM+FM on Frappe took 3.4 s an epoch with 2 threads and 4.5 s with 1 when
alone, but 10-50 s with 2 threads and 4.5 s with 1 when two runs shared the machine (README, "Threads").
So the default is the cores not already busy (by the 1-minute load average), at least 1 and at most 4.
"""

from __future__ import annotations

import os

THREADS_ENV = "GEM_THREADS"
DEFAULT_MAX = 4  # the default: the cores this process may use, at most this many


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads() -> tuple[int, str]:
    """(threads, why): the cores this process may use minus those busy by the load average, in 1..4."""
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    n = max(1, min(DEFAULT_MAX, cores - round(load)))
    return n, f"{cores} cores, load average {load:.1f}"


def set_threads(threads: int | None, announce: bool = False) -> int:
    """Set torch's intra-op threads: `threads`, else $GEM_THREADS, else the default; returns the number.
    announce: say on stderr how the default was chosen."""
    import torch

    from gemcli.errors import GemError

    if threads is None:
        env = os.environ.get(THREADS_ENV, "").strip()
        if env:
            try:
                threads = int(env)
            except ValueError:
                raise GemError(f"${THREADS_ENV}={env!r}: expected a positive whole number") from None
    if threads is not None and threads < 1:
        raise GemError(f"--threads {threads}: expected a positive whole number")
    if threads is None:
        threads, why = default_threads()
        if announce:
            from gemcli.console import err

            err.print(f"threads: {threads} ({why}; --threads N or GEM_THREADS=N to choose)",
                      highlight=False, markup=False, soft_wrap=True)
    torch.set_num_threads(threads)
    return threads
