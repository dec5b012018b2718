"""`gem` raises glibc's malloc thresholds for itself unless the user chose their own."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from gemcli.allocator import raise_thresholds


@pytest.mark.parametrize(
    "var,value", [("GEM_MALLOC", "default"), ("MALLOC_MMAP_THRESHOLD_", "65536"), ("MALLOC_TRIM_THRESHOLD_", "65536")]
)
def test_user_settings_are_kept(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    assert raise_thresholds() is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_applied_on_glibc():
    code = "from gemcli.allocator import raise_thresholds; print(raise_thresholds())"
    env = {"PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert res.stdout.strip() == "True"
