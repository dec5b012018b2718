"""Peak memory of a run (summary.json's `peak_rss_mib`, `peak_gpu_mib`): the resident set's high-water mark of the
process, reset when a run starts so that a sweep worker's earlier points do not count (Linux: writing 5 to
/proc/self/clear_refs resets VmHWM), and torch's peak allocation on a GPU. Where neither can be read: None."""

from __future__ import annotations

from pathlib import Path

import torch


def reset_peak(device: torch.device) -> None:
    """Start counting a new peak (the resident set's and, on a GPU, torch's allocations)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux, or not allowed: the peak is the process's since it started
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_rss_mib() -> float | None:
    """The resident set's high-water mark since the last reset (VmHWM; else the process's ru_maxrss), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except (ImportError, OSError):
        return None


def peak_gpu_mib(device: torch.device) -> float | None:
    """torch's peak allocation on the device since the last reset, MiB (None off a GPU)."""
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
