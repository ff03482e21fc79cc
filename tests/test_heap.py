"""The allocator settings of ``devproxy up``: counted in page faults, which the kernel
reports exactly, in fresh processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devproxy import heap

# Bursts like 50 connections' 64 KiB responses: a dozen buffers held, then all freed.
CHURN = """
import resource, sys
from devproxy import heap
if sys.argv[1] == "tuned":
    print(heap.tune({}), file=sys.stderr)
def bursts():
    for _ in range(300):
        held = [bytes(70_000) for _ in range(12)]
        del held
bursts()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
bursts()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 300)
"""


def faults_per_burst(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True,
                          text=True, timeout=60, check=True)
    return float(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")
def test_bursts_of_large_buffers_stop_faulting_pages_back_in() -> None:
    assert faults_per_burst("default") > 100  # the control: the heap top given back each time
    assert faults_per_burst("tuned") < 1


def test_malloc_set_in_the_environment_is_left_alone() -> None:
    assert heap.tune({"MALLOC_ARENA_MAX": "2"}) == "malloc: as the environment sets it"
    assert heap.tune({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}) == \
        "malloc: as the environment sets it"
