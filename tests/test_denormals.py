"""`start_compute` flushes denormal floats to zero in every torch thread, before torch starts them (GEM_DENORMALS=keep
opts out): late in training denormals slow a CPU step ~1.5x (gemcli/runtime.py, scripts/denormals.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

# 2^22 denormal float32s (bits 0x00100000: 1.47e-39), made from their bits so that no conversion flushes them, times
# 3 on 2 threads: each thread computes half; printed: how many products are not zero (read as bits: a comparison
# would itself treat denormals as zero).
CODE = """
import sys, torch
from gemcli.runtime import start_compute
if sys.argv[1] == "late":
    torch.set_num_threads(2); (torch.ones(1 << 22) * 2).sum()  # torch's threads started first
start_compute(2)
x = torch.full((1 << 22,), 0x00100000, dtype=torch.int32).view(torch.float32)
print(int(((x * 3).view(torch.int32) != 0).sum()))
"""
N = 1 << 22


def nonzero(order: str, denormals: str | None) -> int:
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2"}
    if denormals is not None:
        env["GEM_DENORMALS"] = denormals
    res = subprocess.run([sys.executable, "-c", CODE, order], capture_output=True, text=True, env=env, check=True)
    return int(res.stdout.split()[-1])


@pytest.mark.skipif(not torch.set_flush_denormal(False), reason="this CPU has no flush-to-zero mode")
def test_denormals_flushed_in_every_thread_unless_kept():
    assert nonzero("early", None) == 0  # gem's default: every thread flushes
    assert nonzero("early", "flush") == 0
    assert nonzero("early", "keep") == N
    # why set_threads sets it before torch's threads start: a thread started before keeps its own mode (half stays)
    assert 0 < nonzero("late", None) < N


def test_bad_value_is_one_line(gem, run, monkeypatch):
    monkeypatch.setenv("GEM_DENORMALS", "sometimes")
    res = gem("train", "--dry-run", ok=False)
    assert res.exit_code == 2 and "$GEM_DENORMALS='sometimes': expected flush or keep" in res.output
