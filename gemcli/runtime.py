"""How many CPU threads torch uses: --threads, else $GEM_THREADS, else a default that holds up under load.

torch's default (one thread per core) is fastest on an idle machine but collapses when other processes
share the cores: on 2 cores, GEM+FM on Frappe took 3.4 s an epoch with 2 threads and 4.5 s with 1 when
alone, but 10-50 s with 2 threads and 4.5 s with 1 when two runs shared the machine (README, "Threads").
So the default is the cores not kept busy by other processes when the command starts (their runnable
threads, from /proc/loadavg), at least 1 and at most 4.

Denormal floats (|x| < 1.2e-38) are flushed to zero on the CPU (`flush_denormals`): late in training some
gradients and optimiser moments fall that low, and x86 cores compute on them many times slower. GEM+INN on
Frappe from scratch slowed from 52 s to 80 s an epoch by epoch 40 (2 threads); a train step from its epoch-41
checkpoint took 1.80 s with them and 1.21-1.32 s flushed, as fast as a fresh model's 1.23 s
(`scripts/denormals.py`, bench/denormals.md). The mode is per thread and a new thread inherits it, so it is set
before torch starts its threads: `start_compute` sets it, then the threads (`set_threads`), and every command and
worker calls it before training. GEM_DENORMALS=keep opts out.

`RUNTIME` holds the process's run-time state in one object: whether every file read is hashed (--verify,
GEM_VERIFY), whether SIGTERM arrived (`stop_on_sigterm`: taken as Ctrl-C, in `gem` and in its local workers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType

THREADS_ENV = "GEM_THREADS"
DENORMALS_ENV = "GEM_DENORMALS"  # keep: leave denormal floats as they are (flushed to zero otherwise)
DEFAULT_MAX = 4  # the default: the cores this process may use, at most this many


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def busy_elsewhere(samples: int = 5, gap: float = 0.02) -> int | None:
    """Threads of other processes running right now (Linux: /proc/loadavg's runnable count, minus this
    process, median of a few samples); None where that cannot be read. The load average would lag: in a
    chain of commands it still counts the one that just ended."""
    import statistics
    import time

    counts = []
    for i in range(samples):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        counts.append(running - 1)
        if i < samples - 1:
            time.sleep(gap)
    return max(0, int(statistics.median(counts)))


def default_threads() -> tuple[int, str]:
    """(threads, why): the cores this process may use minus those other processes keep busy now, in 1..4."""
    cores = available_cores()
    busy = busy_elsewhere()
    if busy is None:
        try:
            busy = round(os.getloadavg()[0])
            what = f"load average {os.getloadavg()[0]:.1f}"
        except (AttributeError, OSError):
            busy, what = 0, "load unknown"
    else:
        what = f"{busy} busy with other processes now"
    n = max(1, min(DEFAULT_MAX, cores - busy))
    return n, f"{cores} cores, {what}"


def flush_denormals() -> bool:
    """Flush denormal floats to zero on the CPU (x86 FTZ/DAZ, through torch), unless $GEM_DENORMALS is keep;
    whether they are flushed now. Per thread, inherited by threads started later: call it before torch's first
    parallel operation, as `set_threads` does."""
    import torch

    from gemcli.errors import GemError

    env = os.environ.get(DENORMALS_ENV, "").strip().lower()
    if env not in ("", "flush", "keep"):
        raise GemError(f"${DENORMALS_ENV}={env!r}: expected flush or keep")
    flush = env != "keep"
    return bool(torch.set_flush_denormal(flush)) and flush


def start_compute(threads: int | None, announce: bool = False) -> int:
    """Before a command or worker computes: denormal floats flushed (`flush_denormals`), then torch's threads set
    (`set_threads`), so that every thread torch starts inherits the mode; returns the number of threads."""
    flush_denormals()
    return set_threads(threads, announce)


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

            err.print(
                f"threads: {threads} ({why}; --threads N or GEM_THREADS=N to choose)",
                highlight=False,
                soft_wrap=True,
            )
    torch.set_num_threads(threads)
    return threads


@dataclass
class Runtime:
    """This process's run-time state, in one place: read by the code that needs it, set by the command line."""

    verify_all: bool = field(default_factory=lambda: os.environ.get("GEM_VERIFY", "") not in ("", "0"))
    terminated: bool = False  # SIGTERM arrived (a local worker then ends once its point is saved)

    def verify(self, on: bool) -> None:
        """--verify: hash every file read, also the large ones (GEM_VERIFY=1 too)."""
        self.verify_all = self.verify_all or on


RUNTIME = Runtime()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    RUNTIME.terminated = True
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """SIGTERM (`kill`, a scheduler's notice) interrupts this process as Ctrl-C does: the run or point it was
    training is saved, marked interrupted and resumable. `gem` itself and its local workers install it."""
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
