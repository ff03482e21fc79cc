"""`devproxy export` for real: the exported nginx and Caddy configs validate, run on
loopback in front of the same backend as devproxy, and pass one shared set of
behaviour checks alongside devproxy itself."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import pytest
from aiohttp import web

from devproxy.exporters import export_config
from devproxy.loader import parse_config

from .conftest import free_port

pytestmark = pytest.mark.e2e
FRONT = "http://localhost:5173"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"


@dataclass
class Seen:
    method: str
    path: str
    host: str
    headers: dict[str, str]


@dataclass
class Stack:
    url: str
    seen: list[Seen]
    backend_port: int


def _open(path: Path) -> BinaryIO:
    return path.open("wb")


def _read(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _exists(path: str) -> bool:
    return Path(path).exists()


def _write(path: Path, text: str) -> None:
    path.write_text(text)


async def _backend(aiohttp_server: Any, seen: list[Seen]) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(Seen(request.method, request.path_qs, request.host,
                         dict(request.headers)))
        if request.path == "/ws":
            socket = web.WebSocketResponse()
            await socket.prepare(request)
            async for message in socket:
                await socket.send_str("echo " + message.data)
            return socket
        if request.path == "/sse":
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b"data: first\n\n")
            await asyncio.sleep(3)
            return response
        if request.path.endswith("/redirect"):
            raise web.HTTPFound(f"http://127.0.0.1:{request.url.port}/next")
        return web.json_response({"path": request.path_qs})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return await aiohttp_server(app)


def _config_text(port: int, backend: int) -> str:
    return f"""\
listen: 127.0.0.1:{port}
routes:
  - path: /api
    target: http://127.0.0.1:{backend}
    strip_prefix: true
    change_origin: true
  - path: /keep
    target: http://127.0.0.1:{backend}
  - path: /public
    target: http://127.0.0.1:{backend}
    cors:
      origins: [{FRONT}]
      credentials: true
  - path: /
    target: http://127.0.0.1:{backend}
"""


async def _wait(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    for _ in range(150):
        if process.returncode is not None:
            pytest.fail(f"exited {process.returncode}: {_read(log)}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    pytest.fail(f"not listening on {port}: {_read(log)}")


@pytest.fixture(params=["devproxy", "nginx", "caddy"])
async def stack(request: pytest.FixtureRequest, aiohttp_server: Any, tmp_path: Path
                ) -> AsyncIterator[Stack]:
    kind = request.param
    seen: list[Seen] = []
    backend = await _backend(aiohttp_server, seen)
    port = free_port()
    config_text = _config_text(port, backend.port)
    config = parse_config(config_text, "devproxy.yaml", tmp_path)
    log = tmp_path / f"{kind}.log"
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}
    if kind == "devproxy":
        _write(tmp_path / "devproxy.yaml", config_text)
        args = [sys.executable, "-m", "devproxy", "up", "-c", str(tmp_path / "devproxy.yaml"),
                "--no-reload"]
    elif kind == "nginx":
        if not _exists(NGINX):
            pytest.fail("nginx is missing: run .ci/install-proxies.sh")
        _write(tmp_path / "app.conf", export_config(config, "nginx"))
        for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp_path / temp).mkdir()
        _write(tmp_path / "nginx.conf", f"""\
daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi; uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/app.conf;
}}
""")
        check = await asyncio.create_subprocess_exec(
            NGINX, "-t", "-q", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path),
            stderr=asyncio.subprocess.PIPE)
        _, err = await check.communicate()
        assert check.returncode == 0, err.decode()
        args = [NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)]
    else:
        if not _exists(CADDY):
            pytest.fail("caddy is missing: run .ci/install-proxies.sh")
        _write(tmp_path / "Caddyfile", export_config(config, "caddy"))
        check = await asyncio.create_subprocess_exec(
            CADDY, "validate", "--config", str(tmp_path / "Caddyfile"), "--adapter",
            "caddyfile", env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await check.communicate()
        assert check.returncode == 0, out.decode()[-2000:]
        args = [CADDY, "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"]
    with _open(log) as sink:
        process = await asyncio.create_subprocess_exec(*args, cwd=tmp_path, env=env,
                                                       stdout=sink, stderr=sink)
    try:
        await _wait(port, process, log)
        yield Stack(f"http://127.0.0.1:{port}", seen, backend.port)
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def test_prefix_strip_and_host_per_change_origin(stack: Stack, client) -> None:
    async with client.get(stack.url + "/api/items?x=1") as resp:
        assert resp.status == 200
    assert stack.seen[-1].path == "/items?x=1"
    assert stack.seen[-1].host == f"127.0.0.1:{stack.backend_port}"
    assert stack.seen[-1].headers["X-Forwarded-Prefix"] == "/api"
    async with client.get(stack.url + "/keep/a") as resp:
        assert resp.status == 200
    assert stack.seen[-1].path == "/keep/a"
    assert stack.seen[-1].host == stack.url.removeprefix("http://")
    assert stack.seen[-1].headers["X-Forwarded-Host"] == stack.url.removeprefix("http://")


async def test_prefixes_match_on_segment_boundaries(stack: Stack, client) -> None:
    async with client.get(stack.url + "/apikey") as resp:
        assert resp.status == 200
    assert stack.seen[-1].path == "/apikey"  # the / route, unstripped
    async with client.get(stack.url + "/api") as resp:
        assert resp.status == 200
    assert stack.seen[-1].path == "/"


async def test_websocket_echo(stack: Stack, client) -> None:
    async with client.ws_connect(stack.url + "/ws") as ws:
        await ws.send_str("hi")
        assert (await ws.receive(timeout=5)).data == "echo hi"


async def test_sse_first_event_is_not_buffered(stack: Stack, client) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with client.get(stack.url + "/sse") as resp:
        line = await asyncio.wait_for(resp.content.readline(), 2)
    assert line == b"data: first\n"
    assert loop.time() - started < 1.0  # while the backend holds the stream open


async def test_cors_preflight_answered_by_the_proxy(stack: Stack, client) -> None:
    async with client.options(stack.url + "/public/x", headers={
            "Origin": FRONT, "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type"}) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == FRONT
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        assert "PUT" in resp.headers["Access-Control-Allow-Methods"]
        assert "content-type" in resp.headers["Access-Control-Allow-Headers"].lower()
    assert all(s.method != "OPTIONS" for s in stack.seen)
    async with client.options(stack.url + "/public/x", headers={
            "Origin": "http://evil.test", "Access-Control-Request-Method": "PUT"}) as resp:
        assert resp.status == 403
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_cors_headers_on_the_actual_response(stack: Stack, client) -> None:
    async with client.get(stack.url + "/public/x", headers={"Origin": FRONT}) as resp:
        assert resp.status == 200
        assert resp.headers.getall("Access-Control-Allow-Origin") == [FRONT]
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        assert "origin" in ",".join(resp.headers.getall("Vary", [])).lower()
    async with client.get(stack.url + "/public/x", headers={"Origin": "http://evil.test"}
                          ) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_redirects_point_back_at_the_proxy(stack: Stack, client) -> None:
    async with client.get(stack.url + "/api/redirect", allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    assert location.endswith("/api/next")
    assert str(stack.backend_port) not in location
