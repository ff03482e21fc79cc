"""WebSockets through devproxy: real aiohttp backends and clients over 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import os
import struct

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from devproxy.config import CorsPolicy

from .conftest import route

HANDSHAKE_SEEN = web.AppKey("handshakes", list)


async def echo_backend(backend_factory, *, protocols=(), compress=True, on_open=None):
    """A WebSocket backend that echoes and records each handshake's headers."""
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(text="plain http")
        seen.append({**request.headers, "path": request.raw_path})
        ws = web.WebSocketResponse(protocols=protocols, compress=compress, autoping=False,
                                   max_msg_size=0)
        await ws.prepare(request)
        if on_open is not None:
            await on_open(ws)
            return ws
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type is WSMsgType.PING:
                await ws.send_str(f"got ping {msg.data.decode()}")
            elif msg.type is WSMsgType.CLOSE:
                break
        return ws

    backend = await backend_factory(handler)
    return backend, seen


def ws_url(proxy, path: str = "/ws") -> str:
    return f"ws://127.0.0.1:{proxy.port}{path}"


async def test_text_and_binary_messages_echo_through_in_order(backend_factory, proxy_factory,
                                                              client):
    backend, _ = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy)) as ws:
        for i in range(50):
            await ws.send_str(f"text {i}")
            await ws.send_bytes(bytes([i]) * 10)
        for i in range(50):
            assert await ws.receive_str(timeout=5) == f"text {i}"
            assert await ws.receive_bytes(timeout=5) == bytes([i]) * 10


async def test_the_subprotocol_the_backend_picks_is_the_one_the_browser_gets(
        backend_factory, proxy_factory, client):
    backend, seen = await echo_backend(backend_factory, protocols=("vite-hmr",))
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy), protocols=("other", "vite-hmr")) as ws:
        assert ws.protocol == "vite-hmr"
    assert seen[0]["Sec-WebSocket-Protocol"] == "other,vite-hmr"


async def test_no_subprotocol_from_the_backend_means_none_for_the_browser(
        backend_factory, proxy_factory, client):
    backend, _ = await echo_backend(backend_factory, protocols=())
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy), protocols=("graphql-transport-ws",)) as ws:
        assert ws.protocol is None


@pytest.mark.parametrize(("client_compress", "backend_compress"),
                         [(15, False), (0, True), (15, True)],
                         ids=["compressed-browser-plain-backend", "plain-browser-compressed-"
                              "backend", "both-compressed"])
async def test_compressed_and_plain_peers_both_work(backend_factory, proxy_factory, client,
                                                    client_compress, backend_compress):
    backend, _ = await echo_backend(backend_factory, compress=backend_compress)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy), compress=client_compress) as ws:
        await ws.send_str("squeeze me " * 100)
        assert await ws.receive_str(timeout=5) == "squeeze me " * 100


async def test_16_mib_messages_arrive_intact_both_ways(backend_factory, proxy_factory, client):
    backend, _ = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))
    payload = os.urandom(16 * 1024 * 1024)
    async with client.ws_connect(ws_url(proxy), max_msg_size=0) as ws:
        await ws.send_bytes(payload)
        assert await ws.receive_bytes(timeout=30) == payload


async def test_ping_payload_reaches_the_backend_and_pong_comes_back(backend_factory,
                                                                    proxy_factory, client):
    async def on_open(ws: web.WebSocketResponse) -> None:
        msg = await ws.receive()
        assert msg.type is WSMsgType.PING
        await ws.pong(msg.data)
        await ws.receive()

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy), autoping=False) as ws:
        await ws.ping(b"are you there")
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data) == (WSMsgType.PONG, b"are you there")


async def raw_handshake(port: int, extra: bytes = b""
                        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a WebSocket by hand (for frames and aborts aiohttp's client cannot make)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" + extra +
                 b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\n\r\n")
    await writer.drain()
    return reader, writer


def _frame(opcode: int, payload: bytes, fin: bool) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + mask + masked


async def test_a_fragmented_message_arrives_whole(backend_factory, proxy_factory):
    received = asyncio.get_running_loop().create_future()

    async def on_open(ws: web.WebSocketResponse) -> None:
        msg = await ws.receive()
        received.set_result(msg.data)

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await raw_handshake(proxy.port)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101")
    writer.write(_frame(0x1, b"hello ", fin=False) + _frame(0x0, b"fragmented ", fin=False)
                 + _frame(0x0, b"world", fin=True))
    assert await asyncio.wait_for(received, 5) == "hello fragmented world"
    writer.close()


async def test_backend_close_code_and_reason_reach_the_browser(backend_factory, proxy_factory,
                                                               client):
    async def on_open(ws: web.WebSocketResponse) -> None:
        await ws.close(code=4001, message=b"unauthorized")

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy), autoclose=False) as ws:
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 4001, "unauthorized")


async def test_browser_close_code_and_reason_reach_the_backend(backend_factory, proxy_factory,
                                                               client):
    closed = asyncio.get_running_loop().create_future()

    async def on_open(ws: web.WebSocketResponse) -> None:
        msg = await ws.receive()
        closed.set_result((msg.type, msg.data, msg.extra))

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    ws = await client.ws_connect(ws_url(proxy))
    await ws.close(code=4002, message=b"page closed")
    assert await asyncio.wait_for(closed, 5) == (WSMsgType.CLOSE, 4002, "page closed")


async def test_a_backend_that_vanishes_closes_the_browser_socket_within_a_second(
        backend_factory, proxy_factory, client):
    async def on_open(ws: web.WebSocketResponse) -> None:
        await ws.send_str("hello")
        assert ws._req is not None and ws._req.transport is not None
        ws._req.transport.abort()  # the backend process dies: no Close frame

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy), autoclose=False) as ws:
        assert await ws.receive_str(timeout=5) == "hello"
        msg = await ws.receive(timeout=1.0)
        assert msg.type is WSMsgType.CLOSE
        assert msg.data == 1011


async def test_a_browser_that_vanishes_closes_the_backend_socket_within_a_second(
        backend_factory, proxy_factory):
    ended = asyncio.get_running_loop().create_future()

    async def on_open(ws: web.WebSocketResponse) -> None:
        msg = await ws.receive()
        ended.set_result(msg.type)

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await raw_handshake(proxy.port)
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.transport.abort()
    assert await asyncio.wait_for(ended, 1.0) in (WSMsgType.CLOSE, WSMsgType.CLOSED)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
async def test_a_refused_upgrade_gets_the_backends_status_and_body(backend_factory,
                                                                   proxy_factory, status):
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"error": f"no sockets for you ({status})"}, status=status)

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await session.ws_connect(ws_url(proxy))
    assert caught.value.status == status
    reader, writer = await raw_handshake(proxy.port, b"Connection: close\r\n")
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert reply.startswith(f"HTTP/1.1 {status}".encode())
    assert b"application/json" in reply
    assert reply.endswith(f'{{"error": "no sockets for you ({status})"}}'.encode())


async def test_a_backend_that_is_down_gets_502(proxy_factory, client, unused_tcp_port_factory):
    proxy = await proxy_factory(route("/", f"http://127.0.0.1:{unused_tcp_port_factory()}"))
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(ws_url(proxy))
    assert caught.value.status == 502


async def test_ws_false_refuses_upgrades_with_404(backend_factory, proxy_factory, client):
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url, ws=False))
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(ws_url(proxy))
    assert caught.value.status == 404
    assert seen == []


@pytest.mark.parametrize(("policy", "expected"), [
    ("keep", "http://localhost:{port}"),
    ("rewrite", "http://127.0.0.1:{backend}"),
    ("drop", None),
])
async def test_ws_origin_policy_shapes_the_upstream_origin(backend_factory, proxy_factory,
                                                           client, policy, expected):
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url, ws_origin=policy))
    origin = f"http://localhost:{proxy.port}"
    async with client.ws_connect(ws_url(proxy), origin=origin):
        pass
    want = expected.format(port=proxy.port, backend=backend.port) if expected else None
    assert seen[0].get("Origin") == want


@pytest.mark.parametrize(("origin", "allowed"), [
    ("http://localhost:{port}", True),
    ("http://127.0.0.1:{port}", True),
    ("http://[::1]:{port}", True),
    ("http://myapp.localhost:{port}", True),
    (None, True),
    ("http://evil.example", False),
    ("http://localhost:{other}", False),
    ("null", False),
    ("http://localhost:5173", True),  # allowed by CORS mode below
], ids=["localhost", "ipv4", "ipv6", "dot-localhost", "no-origin", "other-site",
        "other-port", "null", "cors-allowed"])
async def test_cross_site_websocket_hijacking_is_refused(backend_factory, proxy_factory, client,
                                                         origin, allowed):
    backend, seen = await echo_backend(backend_factory)
    cors = CorsPolicy(origins=("http://localhost:5173",))
    proxy = await proxy_factory(route("/", backend.url, cors=cors))
    headers = {}
    if origin is not None:
        headers["Origin"] = origin.format(port=proxy.port, other=proxy.port + 1)
    if allowed:
        async with client.ws_connect(ws_url(proxy), headers=headers) as ws:
            await ws.send_str("ok")
            assert await ws.receive_str(timeout=5) == "ok"
    else:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await client.ws_connect(ws_url(proxy), headers=headers)
        assert caught.value.status == 403
        assert seen == []


async def test_path_query_cookie_and_authorization_reach_the_backend(backend_factory,
                                                                     proxy_factory, client):
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/api", backend.url, strip_prefix=True,
                                      headers=(("X-Dev", "1"),)))
    async with client.ws_connect(ws_url(proxy, "/api/socket?token=a%20b&x=1"), headers={
            "Cookie": "sid=42", "Authorization": "Bearer t"}):
        pass
    got = seen[0]
    assert got["path"] == "/socket?token=a%20b&x=1"
    assert (got["Cookie"], got["Authorization"], got["X-Dev"]) == ("sid=42", "Bearer t", "1")
    assert got["X-Forwarded-Prefix"] == "/api"


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_a_thousand_connect_close_cycles_leak_nothing(backend_factory, proxy_factory,
                                                            client):
    backend, _ = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))

    async def cycle() -> None:
        async with client.ws_connect(ws_url(proxy)) as ws:
            await ws.send_str("x")
            await ws.receive_str(timeout=5)

    for _ in range(20):  # warm-up: pools, caches, lazy imports
        await cycle()
    await asyncio.sleep(0.2)
    fds, tasks = _open_fds(), len(asyncio.all_tasks())
    for _ in range(1000):
        await cycle()
    await asyncio.sleep(0.5)
    assert _open_fds() <= fds + 5
    assert len(asyncio.all_tasks()) <= tasks + 2


async def test_two_hundred_concurrent_sockets_echo_in_order(backend_factory, proxy_factory,
                                                            client):
    backend, _ = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))

    async def one(n: int) -> list[str]:
        async with client.ws_connect(ws_url(proxy)) as ws:
            for i in range(10):
                await ws.send_str(f"{n}:{i}")
            return [await ws.receive_str(timeout=20) for _ in range(10)]

    results = await asyncio.gather(*(one(n) for n in range(200)))
    assert results == [[f"{n}:{i}" for i in range(10)] for n in range(200)]


def test_frame_helper_masks_payloads() -> None:
    frame = _frame(0x1, b"ab", fin=True)
    assert frame[0] == 0x81 and frame[1] == 0x82 and len(frame) == 2 + 4 + 2
    assert struct.unpack("!B", frame[:1])[0] & 0x0F == 1


async def test_shutdown_closes_open_sockets_on_both_sides_at_once(backend_factory, client):
    from devproxy.app import ProxyServer
    from devproxy.config import Config, Listen
    from devproxy.state import Live, Snapshot

    backend_saw = asyncio.get_running_loop().create_future()

    async def on_open(ws: web.WebSocketResponse) -> None:
        msg = await ws.receive()
        backend_saw.set_result((msg.type, msg.data))

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    server = ProxyServer(Live(Snapshot.build(Config(Listen("127.0.0.1", 0),
                                                    (route("/", backend.url),)))),
                         shutdown_timeout=10)
    await server.start()
    ws = await client.ws_connect(f"ws://127.0.0.1:{server.port}/ws", autoclose=False)
    stopping = asyncio.create_task(server.stop())
    msg = await ws.receive(timeout=1.0)  # not the 10 s shutdown timeout
    assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)
    assert await asyncio.wait_for(backend_saw, 1.0) == (WSMsgType.CLOSE, 1001)
    await asyncio.wait_for(stopping, 2.0)
