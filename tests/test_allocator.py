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


HEAP = """
import ctypes, os, sys
from gemcli.allocator import raise_thresholds
print(raise_thresholds(trim=int(sys.argv[1])) if len(sys.argv) > 1 else raise_thresholds())
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes, libc.memset.argtypes = [ctypes.c_void_p], [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
size = 600 << 20  # under the mmap threshold: from the heap; three of them, 1.8 GB, pass a 1 GiB trim threshold
blocks = [libc.malloc(size) for _ in range(3)]
for b in blocks:
    libc.memset(b, 1, size)
before = rss()
for b in reversed(blocks):
    libc.free(b)
print((before - rss()) >> 20)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_a_step_larger_than_a_gib_keeps_its_heap():
    """A step's temporaries freed together (1.8 GB, each block under the mmap threshold) stay in the heap for the
    next step: with trimming at 1 GiB (gemcli up to 0.4.3) glibc gave them back and the next step faulted every
    page in again (GEM+INN on Frappe: 100k-200k page faults a second)."""

    def run(*args: str) -> subprocess.CompletedProcess:
        env = {"PATH": "/usr/bin:/bin"}
        return subprocess.run([sys.executable, "-c", HEAP, *args], capture_output=True, text=True, env=env, check=True)

    kept, old = run(), run(str(1 << 30))
    assert kept.stdout.split()[0] == "True" and int(kept.stdout.split()[1]) < 100  # MiB given back: none
    assert old.stdout.split()[0] == "True" and int(old.stdout.split()[1]) > 1000  # the old threshold: all of it
