"""The allocator settings of ``devproxy up``: counted in page faults and resident
memory, which the kernel reports exactly, in fresh processes."""

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
    print(heap.tune({}).description, file=sys.stderr)
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


# What the threshold keeps after a burst, given back by the periodic trim.
KEPT_THEN_TRIMMED = """
import asyncio, re
from devproxy import heap
def rss_kib():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
tuning = heap.tune({})
held = [bytes(70_000) for _ in range(40)]  # 2.7 MiB, freed: under the 4 MiB threshold
del held
kept = rss_kib()
async def main():
    trimmer = asyncio.create_task(heap.trim_periodically(tuning.trim, every=0.05))
    await asyncio.sleep(0.3)
    trimmer.cancel()
asyncio.run(main())
print(kept - rss_kib())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")
def test_the_free_heap_kept_after_a_burst_is_given_back_periodically() -> None:
    done = subprocess.run([sys.executable, "-c", KEPT_THEN_TRIMMED], capture_output=True,
                          text=True, timeout=60, check=True)
    assert int(done.stdout) > 2 * 1024  # KiB of RSS returned


def test_malloc_set_in_the_environment_is_left_alone() -> None:
    for environ in ({"MALLOC_ARENA_MAX": "2"},
                    {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}):
        tuning = heap.tune(environ)
        assert tuning.description == "malloc: as the environment sets it"
        assert tuning.trim is None  # and not trimmed behind the user's back
