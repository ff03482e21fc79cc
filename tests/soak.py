"""Soak run: minutes of mixed normal, faulty and hostile traffic through a real
``devproxy up`` process on loopback, then a verdict on errors, memory and descriptors.

    python -m tests.soak --minutes 10

Traffic (all to 127.0.0.1, in bounded loops): keep-alive GETs, 1 MiB downloads, 256 KiB
uploads, SSE streams, WebSocket echo sessions, requests to a backend route that resets
or hangs, clients that abort mid-upload and mid-download, and hostile raw requests
(smuggling, foreign Host, traversal, slow headers). Every outcome is checked against
what it should be; anything else counts as unexpected. devproxy's RSS and open file
descriptors are sampled from /proc throughout. Exit status 0 only if nothing unexpected
happened, RSS after warm-up grew by less than 10 MiB, and descriptors returned to their
idle count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from aiohttp import web

HOSTILE = [
    (b"POST /api/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"GET /api/x HTTP/1.1\r\nHost: evil.test\r\n\r\n", 403),
    (b"GET http://example.com/ HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
    (b"GET /static/..%2f..%2fsecret HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
    (b"GET /api%2fadmin HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
    (b"GET /api/a%0Ab HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
    (b"GET /api/x HTTP/1.1\r\nHost: localhost\r\nX-A: b\r\n c\r\n\r\n", 400),
]


def backend_app() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 1 << 20
        await response.prepare(request)
        chunk = b"x" * 65536
        for _ in range(16):
            await response.write(chunk)
        return response

    async def upload(request: web.Request) -> web.Response:
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
        return web.Response(text=str(size))

    async def sse(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(5):
            await response.write(f"data: {i}\n\n".encode())
            await asyncio.sleep(0.05)
        return response

    async def reset(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(text="late")

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for message in socket:
            await socket.send_str(message.data)
        return socket

    app = web.Application()
    app.add_routes([web.get("/api/ok", ok), web.get("/api/big", big),
                    web.post("/api/upload", upload), web.get("/api/sse", sse),
                    web.get("/api/reset", reset), web.get("/api/hang", hang),
                    web.get("/api/ws", ws)])
    return app


class Soak:
    def __init__(self, base: str, port: int, deadline: float) -> None:
        self.base, self.port, self.deadline = base, port, deadline
        self.counts: Counter[str] = Counter()
        self.unexpected: Counter[str] = Counter()

    def check(self, name: str, ok: bool) -> None:
        self.counts[name] += 1
        if not ok:
            self.unexpected[name] += 1

    async def loop(self, name: str, step: object) -> None:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        async with session:
            while time.monotonic() < self.deadline:
                try:
                    await step(session)  # type: ignore[operator]
                except Exception as exc:  # every surprise is counted
                    self.check(f"{name}: {type(exc).__name__}", False)

    async def normal(self, session: aiohttp.ClientSession) -> None:
        async with session.get(self.base + "/api/ok") as r:
            self.check("GET ok", r.status == 200 and await r.text() == "ok")

    async def download(self, session: aiohttp.ClientSession) -> None:
        async with session.get(self.base + "/api/big") as r:
            self.check("GET 1 MiB", r.status == 200 and len(await r.read()) == 1 << 20)

    async def upload(self, session: aiohttp.ClientSession) -> None:
        async with session.post(self.base + "/api/upload", data=os.urandom(256 * 1024)) as r:
            self.check("POST 256 KiB", r.status == 200 and await r.text() == str(256 * 1024))

    async def sse(self, session: aiohttp.ClientSession) -> None:
        async with session.get(self.base + "/api/sse") as r:
            self.check("SSE", r.status == 200 and (await r.read()).count(b"data:") == 5)

    async def websocket(self, session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(self.base + "/api/ws") as ws:
            for i in range(20):
                await ws.send_str(str(i))
                message = await ws.receive()
                self.check("WebSocket echo", message.data == str(i))

    async def faulty(self, session: aiohttp.ClientSession) -> None:
        async with session.get(self.base + "/api/reset") as r:
            self.check("backend reset -> 502", r.status == 502)
        async with session.get(self.base + "/api/hang") as r:
            self.check("backend hang -> 504", r.status == 504)

    async def aborts(self, session: aiohttp.ClientSession) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(b"POST /api/upload HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Length: 1000000\r\n\r\n" + b"x" * 5000)
        await writer.drain()
        writer.transport.abort()
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(b"GET /api/big HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await reader.readexactly(20000)
        writer.transport.abort()
        self.check("client aborts", True)
        await asyncio.sleep(0.05)

    async def hostile(self, session: aiohttp.ClientSession) -> None:
        data, expected = random.choice(HOSTILE)
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(data)
            reply = await asyncio.wait_for(reader.read(), 5)
            got = int(reply.split(b" ", 2)[1]) if reply else 0
            self.check(f"hostile -> {expected}", got == expected)
        finally:
            writer.close()

    async def slowloris(self, session: aiohttp.ClientSession) -> None:
        held = []
        for _ in range(50):
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write(b"GET /api/ok HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            held.append((reader, writer))
        closed = 0
        for reader, writer in held:
            try:
                closed += await asyncio.wait_for(reader.read(), 5) == b""
            finally:
                writer.close()
        self.check("slowloris cut off", closed == len(held))


def write_config(folder: Path, backend_port: int) -> Path:
    (folder / "public").mkdir()
    (folder / "public" / "index.html").write_text("hi")
    config = folder / "devproxy.yaml"
    config.write_text(
        "listen: 127.0.0.1:0\nlimits: {header_timeout: 2}\nroutes:\n"
        f"  - path: /api\n    target: http://127.0.0.1:{backend_port}/api\n"
        f"    strip_prefix: true\n    timeout: {{connect: 1, response: 1}}\n"
        "  - path: /static\n    static: ./public\n")
    return config


def sample(pid: int) -> tuple[float, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))


async def main(minutes: float, seed: int) -> int:
    random.seed(seed)
    # The backend's own tracebacks for aborted uploads are the traffic, not findings.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    runner = web.AppRunner(backend_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), site.port)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "devproxy", "up", "-c", str(config), "--no-reload",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        assert process.stderr is not None
        line = (await asyncio.wait_for(process.stderr.readline(), 15)).decode()
        port = int(line.rsplit(":", 1)[1])
        drain = asyncio.create_task(process.stderr.read())  # keep the pipe from filling
        try:
            idle_rss, idle_fds = sample(process.pid)
            deadline = time.monotonic() + minutes * 60
            soak = Soak(f"http://127.0.0.1:{port}", port, deadline)
            workers = [soak.loop("normal", soak.normal) for _ in range(4)] + [
                soak.loop(name, getattr(soak, name)) for name in (
                    "download", "upload", "sse", "websocket", "faulty", "aborts",
                    "hostile", "hostile", "slowloris")]
            samples: list[tuple[float, float, int]] = []

            async def watch() -> None:
                start = time.monotonic()
                while time.monotonic() < deadline:
                    rss, fds = sample(process.pid)
                    samples.append((time.monotonic() - start, rss, fds))
                    await asyncio.sleep(5)

            await asyncio.gather(watch(), *workers)
            await asyncio.sleep(6)  # past the upstream pool's 4 s keep-alive
            end_rss, end_fds = sample(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 15)
            drain.cancel()
    await runner.cleanup()
    warm = [rss for t, rss, _ in samples if t >= 60] or [rss for _, rss, _ in samples]
    growth = max(warm) - min(warm)
    report = {
        "minutes": minutes, "requests": sum(soak.counts.values()),
        "counts": dict(soak.counts), "unexpected": dict(soak.unexpected),
        "rss_idle_mib": round(idle_rss, 1), "rss_peak_mib": round(max(r for _, r, _ in samples), 1),
        "rss_growth_after_warmup_mib": round(growth, 1), "rss_end_mib": round(end_rss, 1),
        "fds_idle": idle_fds, "fds_peak": max(f for _, _, f in samples), "fds_end": end_fds,
    }
    print(json.dumps(report, indent=2))
    ok = not soak.unexpected and growth < 10 and end_fds <= idle_fds + 2
    print("SOAK", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.minutes, args.seed)))
