"""Shared fixtures: real backends and a real devproxy on 127.0.0.1 ephemeral ports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from devproxy.app import ProxyServer
from devproxy.config import (
    Config,
    Listen,
    Route,
    Timeouts,
    normalize_prefix,
    parse_rewrite,
    parse_target,
)
from devproxy.state import Live, Snapshot


def route(path: str, target: str | None = None, *, static: Path | None = None,
          rewrite: dict[str, str] | None = None, **options: Any) -> Route:
    """A Route built the way the loader builds one, for tests."""
    timeout = options.pop("timeout", None)
    return Route(
        path=normalize_prefix(path),
        target=parse_target(target) if target else None,
        static=static,
        rewrite=tuple(parse_rewrite(p, r) for p, r in (rewrite or {}).items()),
        timeout=Timeouts(**timeout) if timeout else Timeouts(),
        **options,
    )


@dataclass
class Seen:
    """One request as a backend received it."""

    method: str
    raw_path: str
    headers: CIMultiDict[str]
    body: bytes


@dataclass
class Recorder:
    """Remembers every request a backend got."""

    seen: list[Seen] = field(default_factory=list)

    @property
    def last(self) -> Seen:
        return self.seen[-1]

    async def record(self, request: web.Request) -> Seen:
        body = await request.read()
        seen = Seen(request.method, request.raw_path, CIMultiDict(request.headers), body)
        self.seen.append(seen)
        return seen


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def slow_at(path: str, seconds: float) -> Handler:
    """A backend handler that answers "ok", after ``seconds`` on ``path``."""
    async def handler(request: web.Request) -> web.Response:
        if request.path == path:
            await asyncio.sleep(seconds)
        return web.Response(text="ok")
    return handler


def hanging(cancelled: asyncio.Event, started: asyncio.Event | None = None) -> Handler:
    """A backend handler that never answers: it sets ``started`` when a request comes,
    and ``cancelled`` when devproxy gives the request up (the test server cancels it)."""
    async def handler(request: web.Request) -> web.Response:
        if started is not None:
            started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return web.Response()
    return handler


def endless(content_type: str, first: bytes) -> Handler:
    """A backend handler that sends ``first`` and then never ends its response."""
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        await response.write(first)
        await asyncio.Event().wait()
        return response
    return handler


@dataclass
class Backend:
    url: str
    port: int
    recorder: Recorder
    server: Any


@pytest.fixture
async def backend_factory(aiohttp_server: Any) -> Callable[..., Awaitable[Backend]]:
    """Start a real aiohttp backend whose catch-all handler records then delegates."""

    async def start(handler: Handler | None = None, *, host: str = "127.0.0.1",
                    **server_kwargs: Any) -> Backend:
        recorder = Recorder()

        async def catch_all(request: web.Request) -> web.StreamResponse:
            if handler is not None:
                return await handler(request)
            seen = await recorder.record(request)
            return web.json_response({"method": seen.method, "path": seen.raw_path,
                                      "bytes": len(seen.body)})

        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:(?s:.*)}", catch_all)
        server = await aiohttp_server(app, host=host, **server_kwargs)
        shown = f"[{host}]" if ":" in host else host
        return Backend(f"http://{shown}:{server.port}", server.port, recorder, server)

    return start


@dataclass
class Proxy:
    server: ProxyServer

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def proxy_factory() -> AsyncIterator[Callable[..., Awaitable[Proxy]]]:
    """Start devproxy in-process on an ephemeral port with the given routes."""
    servers: list[ProxyServer] = []

    async def start(*routes: Route, shutdown_timeout: float = 2.0, **config: Any) -> Proxy:
        config = Config(listen=Listen("127.0.0.1", 0), routes=routes, **config)
        server = ProxyServer(Live(Snapshot.build(config)), shutdown_timeout=shutdown_timeout)
        await server.start()
        servers.append(server)
        return Proxy(server)

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client that changes nothing it receives."""
    async with aiohttp.ClientSession(
        auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        yield session


async def stop_child(process: asyncio.subprocess.Process, grace: float) -> None:
    """End a process this test started, by its own handle: terminate, wait up to
    ``grace`` seconds, then kill."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
            await process.wait()


async def raw_exchange(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send bytes on a fresh connection and read until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(wait):
            return await reader.read()
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def taking_no_connection(host: str, port: int = 0) -> AsyncIterator[int]:
    """A port on loopback ``host`` whose listener never accepts, its queue full: a
    connection to it gets no answer, as a stuck backend's (later SYNs are dropped).
    Yields the port (``port``, or one the system picked)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family)
    held: list[socket.socket] = []
    try:
        listening.bind((host, port))
        listening.listen(0)
        port = listening.getsockname()[1]
        for _ in range(3):  # fill the accept queue
            sock = socket.socket(family)
            held.append(sock)
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect((host, port))
        await asyncio.sleep(0.1)  # their handshakes done, the queue is full
        yield port
    finally:
        for sock in [*held, listening]:
            sock.close()


async def ended_row(client: aiohttp.ClientSession, proxy: Proxy) -> dict[str, Any]:
    """The inspector's one row, once its request has ended (up to 2 s): a stream's or a
    socket's end is recorded a moment after the client saw it."""
    for _ in range(100):
        async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
            [row] = await resp.json()
        if row["duration_ms"] is not None:
            break
        await asyncio.sleep(0.02)
    return row


async def leave_part_way(port: int, target: bytes, size: int,
                         caplog: pytest.LogCaptureFixture) -> tuple[int, str]:
    """GET ``target`` on a fresh connection, read its head and ``size`` bytes of its body,
    and leave, as a browser leaving a download; the bytes read, and the access line
    devproxy then wrote."""
    with caplog.at_level(logging.INFO, logger="devproxy.access"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            async with asyncio.timeout(10):
                await reader.readuntil(b"\r\n\r\n")
                got = len(await reader.readexactly(size))
        finally:
            writer.close()
        for _ in range(250):
            lines = [r.getMessage() for r in caplog.records if r.name == "devproxy.access"]
            if lines:
                break
            await asyncio.sleep(0.02)
    (line,) = lines
    return got, line
