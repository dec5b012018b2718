"""A run's peak memory: the resident set's high-water mark since the run started, not since the process did."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from gemcli.memory import peak_gpu_mib, peak_rss_mib, reset_peak


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and clear_refs are Linux's")
def test_the_peak_counts_from_the_last_reset():
    reset_peak(torch.device("cpu"))
    before = peak_rss_mib()
    big = np.ones(300 * 2**20 // 8)  # 300 MiB, touched
    high = peak_rss_mib()
    assert high is not None and before is not None and high >= before + 250
    del big
    reset_peak(torch.device("cpu"))
    assert peak_rss_mib() < high - 250  # a later run does not inherit the earlier peak
    assert peak_gpu_mib(torch.device("cpu")) is None


def test_a_run_records_its_peak(gem, run):
    import json

    gem("train", "--epochs", "1", "--embedding-size", "8", "--name", "m")
    s = json.loads((run / "models/m/summary.json").read_text())
    assert s["peak_rss_mib"] > 50 and s["peak_gpu_mib"] is None
