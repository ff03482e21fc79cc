"""Streaming never buffers: a real `devproxy up` relays 1 GiB down and 1 GiB up with the
same peak memory as 100 MiB. (A memory check, not a timing one: RSS is deterministic
enough to assert; speed lives in benchmarks/.)"""

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

pytestmark = pytest.mark.e2e
MIB = 1 << 20
CHUNK = b"\0" * (256 * 1024)


class Peak:
    """The highest RSS of a process, sampled every 10 ms from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while not self._stop.is_set():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.mib = max(self.mib, int(line.split()[1]) / 1024)
            time.sleep(0.01)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.mib


async def _origin(aiohttp_server: Any) -> Any:
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
    origin = await _origin(aiohttp_server)
    config = tmp_path / "devproxy.yaml"
    config.write_text(f"listen: 127.0.0.1:0\nroutes:\n"
                      f"  - {{path: /, target: 'http://127.0.0.1:{origin.port}'}}\n")
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devproxy", "up", "-c", str(config), "--no-reload",
        stderr=asyncio.subprocess.PIPE)
    assert child.stderr is not None
    drain = None
    try:
        line = (await asyncio.wait_for(child.stderr.readline(), 20)).decode()
        url = line.split("open ", 1)[1].strip()
        drain = asyncio.create_task(child.stderr.read())  # the log must not fill the pipe
        yield url, child.pid
    finally:
        if drain is not None:
            drain.cancel()
        child.terminate()
        await asyncio.wait_for(child.wait(), 15)


async def _down(session: aiohttp.ClientSession, url: str, mib: int) -> None:
    received = 0
    async with session.get(f"{url}/download?mib={mib}") as response:
        async for chunk in response.content.iter_any():
            received += len(chunk)
    assert received == mib * MIB


async def _up(session: aiohttp.ClientSession, url: str, mib: int) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(mib * MIB // len(CHUNK)):
            yield CHUNK

    async with session.post(f"{url}/upload", data=body()) as response:
        assert await response.text() == str(mib * MIB)


async def test_a_gibibyte_each_way_costs_what_100_mib_costs(proxy: tuple[str, int]) -> None:
    url, pid = proxy
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        await _down(session, url, 8)  # warm-up: pools, buffers, first allocations
        await _up(session, url, 8)
        peak = Peak(pid)
        await _down(session, url, 100)
        await _up(session, url, 100)
        small = peak.stop()
        peak = Peak(pid)
        await _down(session, url, 1024)
        await _up(session, url, 1024)
        large = peak.stop()
    print(f"peak RSS: {small:.1f} MiB over 100 MiB, {large:.1f} MiB over 1 GiB")
    assert large - small < 10, (small, large)  # flat: does not grow with the body
    assert large < 80, large
