"""The figures, one function each, for one running variant (a ``harness.Target``).

Throughput and latency come from wrk and curl on the load core; WebSocket figures from
an aiohttp client in this process; memory from /proc. Every loop is bounded.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
from harness import (
    TRANSFER_MIB,
    Peak,
    Target,
    file_server,
    get,
    run_tool,
    status_mib,
    wait_idle,
)

TRANSFERS = 3  # per direction, per variant, per round
WS_MESSAGES = 5000
IDLE_SOCKETS = 1000


def wrk(target: Target, path: str, connections: int, duration: float) -> dict[str, float]:
    out = run_tool(["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency",
                    *target.header_args(), target.url(path)])
    # wrk counts error answers as throughput: a wrong config must not look fast.
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"{target.variant.name}: wrk got error responses:\n{out}")
    if "Socket errors" in out:
        print(f"  {target.variant.name} {path} c={connections}: "
              f"{out.split('Socket errors')[1].splitlines()[0].strip(': ')}", file=sys.stderr)
    figures: dict[str, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            figures["p" + parts[0][:-1]] = milliseconds(parts[1])
    return figures


def milliseconds(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("m", 60_000.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def transfers(target: Target, upload: bool) -> float:
    """Median MiB/s of TRANSFERS runs of TRANSFER_MIB down or up (one takes a tenth of a
    second: a single run is mostly noise)."""
    return statistics.median(transfer(target, upload) for _ in range(TRANSFERS))


def transfer(target: Target, upload: bool) -> float:
    """MiB/s for TRANSFER_MIB down or up, with curl (which reads the upload file first,
    outside its timer)."""
    body = target.origins.files / "100m"
    args = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}",
            *target.header_args()]
    if upload:
        args += ["-H", "Content-Type: application/octet-stream",
                 "--data-binary", f"@{body}", target.url("/upload")]
    else:
        args += [target.url("/100m")]
    return TRANSFER_MIB / float(run_tool(args))


def websocket_figures(target: Target) -> dict[str, float]:
    origin = dict(target.variant.headers).get("Origin")

    async def run() -> dict[str, float]:
        # limit=0: every open WebSocket holds a connection.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            async with session.ws_connect(target.url("/ws"), origin=origin) as ws:
                started = time.perf_counter()
                for i in range(WS_MESSAGES):
                    await ws.send_str(str(i))
                    reply = await ws.receive(timeout=10)
                    if reply.data != str(i):
                        raise RuntimeError(f"WebSocket echo: sent {i}, got {reply!r}")
                figures = {"ws_echo_per_s": WS_MESSAGES / (time.perf_counter() - started)}
            if target.pid is None:
                return figures
            before = status_mib(target.pid, "VmRSS")
            idle = []
            try:
                for _ in range(IDLE_SOCKETS):
                    idle.append(await session.ws_connect(target.url("/ws"), origin=origin))
                await asyncio.sleep(0.5)
                figures["ws_idle_mib"] = status_mib(target.pid, "VmRSS") - before
            finally:
                await asyncio.gather(*(ws.close() for ws in idle))
            return figures

    return asyncio.run(run())


def reload_latency(target: Target, folder: Path, use_nginx: bool) -> float:
    """Seconds from writing a config that re-targets / until the new target answers
    (devproxy debounces file events: that wait is part of the figure)."""
    other = folder / "other-www"
    other.mkdir(exist_ok=True)
    (other / "marker").write_text("other")
    with file_server(other, folder / "other-nginx", use_nginx) as port:
        saved = time.monotonic()
        target.write_config(files_port=port)
        latency = _until(lambda: _answers(target.url("/marker"), b"other"), saved)
        target.write_config()  # back to the main origin, before the next figure
        _until(lambda: _answers(target.url("/1k"), None), time.monotonic())
        return latency


def _answers(url: str, body: bytes | None) -> bool:
    try:
        return body is None or get(url) == body
    except OSError:
        return False


def _until(check: Callable[[], bool], since: float, timeout: float = 10) -> float:
    while time.monotonic() - since < timeout:
        if check():
            return time.monotonic() - since
        time.sleep(0.002)
    raise RuntimeError(f"no reload within {timeout} s")


def measure(target: Target, folder: Path, duration: float, use_nginx: bool
            ) -> dict[str, float]:
    """Every figure for one running variant; devproxy is let go idle before each one."""
    figures: dict[str, float] = {}
    pid = target.pid
    if pid is not None:
        figures["ready_s"] = target.ready_s or 0.0
        figures["start_rss_mib"] = status_mib(pid, "VmRSS")
    for key, path in (("get_1k_rps", "/1k"), ("get_64k_rps", "/64k")):
        wait_idle(pid)
        figures[key] = wrk(target, path, 50, duration)["rps"]
    wait_idle(pid)
    latency = wrk(target, "/1k", 1, duration)
    figures["p50_ms"], figures["p99_ms"] = latency["p50"], latency["p99"]
    wait_idle(pid)
    if pid is not None:
        # What the load before left behind (the inspector's history, allocator pools).
        figures["transfer_start_rss_mib"] = status_mib(pid, "VmRSS")
        with Peak(pid) as peak:
            figures["download_mib_s"] = transfers(target, upload=False)
            figures["upload_mib_s"] = transfers(target, upload=True)
        figures["transfer_peak_rss_mib"] = peak.mib
    else:
        figures["download_mib_s"] = transfers(target, upload=False)
        figures["upload_mib_s"] = transfers(target, upload=True)
    wait_idle(pid)
    figures.update(websocket_figures(target))
    if pid is not None:
        wait_idle(pid)
        figures["reload_s"] = reload_latency(target, folder, use_nginx)
    return figures
