"""The C allocator's settings for a long-running proxy process (glibc only).

A proxied 64 KiB response passes through a few 64 KiB buffers that live for one
request. With 50 connections those come and go by the megabyte, and glibc's default
gives the top of the heap back to the kernel whenever more than 128 KiB of it is free,
then faults the same pages back in for the next burst: 15 page faults per 64 KiB
request, a third of devproxy's system time for it. Keeping up to 4 MiB of free heap
ends that (0 faults), for at most those 4 MiB of resident memory held after a burst.

A fixed trim threshold also turns off glibc's sliding mmap threshold, which would
otherwise have learned to keep 256 KiB reads on the heap: it is set to 1 MiB for the
same reason. Anyone who tunes malloc themselves (``MALLOC_*`` or ``GLIBC_TUNABLES``
in the environment) is left alone.

What the threshold keeps is given back every few seconds (``malloc_trim``), so a
proxy at rest holds what glibc's default would have left it: under load that costs
one burst's faults per period, not per request.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

TRIM_THRESHOLD = 4 << 20
MMAP_THRESHOLD = 1 << 20
TRIM_EVERY = 2.0  # seconds between giving kept free heap back
# glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@dataclass(frozen=True)
class Tuning:
    """What ``tune`` did: a line for ``-v``, and how to give free heap back (if it set
    the thresholds)."""

    description: str
    trim: Callable[[], object] | None = None


def tune(environ: Mapping[str, str] = os.environ) -> Tuning:
    """Set the heap thresholds for this process."""
    if any(name.startswith("MALLOC_") for name in environ) or \
            "glibc.malloc" in environ.get("GLIBC_TUNABLES", ""):
        return Tuning("malloc: as the environment sets it")
    if not sys.platform.startswith("linux"):
        return Tuning("malloc: the platform's default")
    try:
        libc = ctypes.CDLL(None)
        mallopt, malloc_trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return Tuning("malloc: the platform's default (no mallopt)")
    # mallopt returns 1 on success; musl's is a stub that returns 0.
    if mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1 or \
            mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        return Tuning("malloc: the platform's default (mallopt refused)")
    return Tuning(f"malloc: heap trimmed above {TRIM_THRESHOLD >> 20} MiB free and every "
                  f"{TRIM_EVERY:g} s, mmap from {MMAP_THRESHOLD >> 20} MiB",
                  trim=lambda: malloc_trim(0))


async def trim_periodically(trim: Callable[[], object], every: float = TRIM_EVERY) -> None:
    """Give the free heap the threshold keeps back to the kernel, every ``every`` s."""
    while True:
        await asyncio.sleep(every)
        trim()
