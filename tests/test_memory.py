"""Streaming never buffers: a real `devproxy up` relays 1 GiB down and 1 GiB up with the
same peak memory as 100 MiB.

A memory check, not a timing one: a process's peak RSS is steady enough to assert on,
speed lives in benchmarks/. The peak is read two ways from /proc/PID/status: VmRSS
sampled every 10 ms while bodies flow, and VmHWM (the kernel's own high-water mark,
which no sampling interval can miss) after each phase.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from .conftest import stop_child

pytestmark = pytest.mark.e2e

MIB = 1 << 20
CHUNK = b"\0" * (256 * 1024)  # generated bodies are repeats of this, nothing on disk
GROWTH_LIMIT_MIB = 10
ABSOLUTE_LIMIT_MIB = 80


def status_mib(pid: int, key: str) -> float:
    """``key`` (VmRSS, VmHWM) of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


class SampledPeak:
    """The highest VmRSS of a process, sampled every 10 ms until ``stop``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.mib = max(self.mib, status_mib(self.pid, "VmRSS"))
            except OSError:  # the process is gone: the test fails on its own
                return
            time.sleep(0.01)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.mib


async def _origin(aiohttp_server: Any) -> Any:
    """GET /download?mib=N streams N MiB; POST /upload answers how many bytes it read."""

    async def download(request: web.Request) -> web.StreamResponse:
        size = int(request.query["mib"]) * MIB
        response = web.StreamResponse()
        response.content_length = size
        await response.prepare(request)
        for _ in range(size // len(CHUNK)):
            await response.write(CHUNK)
        return response

    async def upload(request: web.Request) -> web.Response:
        received = 0
        async for chunk in request.content.iter_any():
            received += len(chunk)
        return web.Response(text=str(received))

    app = web.Application(client_max_size=0)
    app.router.add_get("/download", download)
    app.router.add_post("/upload", upload)
    return await aiohttp_server(app)


@pytest.fixture
async def proxy(aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    """A `python -m devproxy up` process in front of the origin: (its URL, its PID)."""
    origin = await _origin(aiohttp_server)
    config = tmp_path / "devproxy.yaml"
    config.write_text(f"listen: 127.0.0.1:0\nroutes:\n"
                      f"  - {{path: /, target: 'http://127.0.0.1:{origin.port}'}}\n")
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devproxy", "up", "-c", str(config), "--no-reload",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert child.stderr is not None
    drain = None
    try:
        banner = ""
        async with asyncio.timeout(20):
            while "open " not in banner:
                line = (await child.stderr.readline()).decode()
                assert line, f"devproxy exited early: {banner}"
                banner += line
        url = banner.split("open ", 1)[1].split()[0]
        drain = asyncio.create_task(child.stderr.read())  # the log must not fill the pipe
        yield url, child.pid
    finally:
        if drain is not None:
            drain.cancel()
        await stop_child(child, 15)


async def _down(session: aiohttp.ClientSession, url: str, mib: int) -> None:
    received = 0
    async with session.get(f"{url}/download?mib={mib}") as response:
        assert response.status == 200
        async for chunk in response.content.iter_any():
            received += len(chunk)
    assert received == mib * MIB


async def _up(session: aiohttp.ClientSession, url: str, mib: int) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(mib * MIB // len(CHUNK)):
            yield CHUNK

    async with session.post(f"{url}/upload", data=body()) as response:
        assert await response.text() == str(mib * MIB)


async def _both_ways(session: aiohttp.ClientSession, url: str, pid: int, mib: int
                     ) -> tuple[float, float]:
    """(sampled peak VmRSS during, VmHWM after) relaying ``mib`` MiB down, then up."""
    sampled = SampledPeak(pid)
    try:
        await _down(session, url, mib)
        await _up(session, url, mib)
    finally:
        peak = sampled.stop()
    return peak, status_mib(pid, "VmHWM")


async def test_a_gibibyte_each_way_peaks_no_higher_than_100_mib(
        proxy: tuple[str, int]) -> None:
    url, pid = proxy
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        await _down(session, url, 8)  # warm-up: pools, buffers, first allocations
        await _up(session, url, 8)
        small_rss, small_hwm = await _both_ways(session, url, pid, 100)
        large_rss, large_hwm = await _both_ways(session, url, pid, 1024)
    figures = (f"100 MiB: VmRSS peak {small_rss:.1f}, VmHWM {small_hwm:.1f}; "
               f"1 GiB: VmRSS peak {large_rss:.1f}, VmHWM {large_hwm:.1f} (MiB)")
    print(figures)
    # VmHWM never falls, so its growth is what the 1 GiB added to the 100 MiB peak.
    assert large_hwm - small_hwm < GROWTH_LIMIT_MIB, figures
    assert large_rss - small_rss < GROWTH_LIMIT_MIB, figures
    assert large_hwm < ABSOLUTE_LIMIT_MIB, figures
