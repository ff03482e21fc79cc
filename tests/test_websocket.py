"""WebSockets through devproxy: real aiohttp backends and clients over 127.0.0.1.

Raw sockets stand in for a browser or a backend where aiohttp cannot make the frames
(fragments) or the failure (a connection dropped without a Close frame).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from devproxy.app import ProxyServer
from devproxy.config import Config, CorsPolicy, Inspector, Listen
from devproxy.state import CAPTURES, Live, Snapshot
from devproxy.websocket import OPEN_SOCKETS

from .conftest import ended_row, route

OnOpen = Callable[[web.WebSocketResponse, web.Request], Awaitable[None]]
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


async def echo_backend(backend_factory, *, protocols=(), compress=True,
                       on_open: OnOpen | None = None):
    """A WebSocket backend that echoes, and records every request's headers and path.

    "bye" makes it close with 4000; "die" makes it drop the connection (no Close frame).
    """
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append({**request.headers, "path": request.raw_path})
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(text="plain http")
        ws = web.WebSocketResponse(protocols=protocols, compress=compress, autoping=False,
                                   max_msg_size=0)
        await ws.prepare(request)
        if on_open is not None:
            await on_open(ws, request)
            return ws
        async for msg in ws:
            if msg.type is WSMsgType.TEXT and msg.data == "bye":
                await ws.close(code=4000, message=b"bye")
            elif msg.type is WSMsgType.TEXT and msg.data == "die":
                assert request.transport is not None
                request.transport.abort()
                break
            elif msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    backend = await backend_factory(handler)
    return backend, seen


def ws_url(proxy, path: str = "/ws") -> str:
    return f"ws://127.0.0.1:{proxy.port}{path}"


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True,
          rsv1: bool = False) -> bytes:
    """One RFC 6455 §5.2 frame; clients mask, servers do not. ``rsv1``: compressed."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    bit, size = (0x80 if mask else 0), len(payload)
    if size < 126:
        head += bytes([bit | size])
    elif size < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def raw_handshake(port: int, path: str = "/ws", extra: bytes = b"",
                        key: bytes | None = None
                        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a WebSocket by hand (for frames and aborts aiohttp's client cannot make)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)) if key is None else key
    writer.write(f"GET {path} HTTP/1.1\r\n".encode() + b"Host: localhost\r\n"
                 b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 + extra + b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
    await writer.drain()
    return reader, writer


async def raw_backend(script: Callable[[asyncio.StreamWriter], Awaitable[None]], *,
                      guid: bytes = _GUID, fields: bytes = b"",
                      ended: asyncio.Event | None = None) -> tuple[asyncio.Server, str]:
    """A backend that accepts the handshake by hand (no compression), with ``fields``
    in its 101, then runs ``script``; ``ended`` is set once devproxy closed its side."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + guid).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\n" + fields
                     + b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        await script(writer)
        await reader.read()  # until devproxy closes
        writer.close()
        if ended is not None:
            ended.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@contextlib.asynccontextmanager
async def answering_once(reply: bytes) -> AsyncIterator[str]:
    """While the block runs, a backend that reads each handshake, writes ``reply`` as it
    is (a refusal, or no HTTP at all) and closes; its URL."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def eventually(condition: Callable[[], bool], seconds: float = 3.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


# --- messages ------------------------------------------------------------------------


async def test_text_and_binary_messages_pass_in_order_both_ways(backend_factory, proxy_factory,
                                                                client):
    backend, _ = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy)) as ws:
        for i in range(50):
            await ws.send_str(f"text {i} ✓")
            await ws.send_bytes(bytes([i]) * 10)
        for i in range(50):
            assert await ws.receive_str(timeout=5) == f"text {i} ✓"
            assert await ws.receive_bytes(timeout=5) == bytes([i]) * 10


@pytest.mark.parametrize("kind", ["text", "binary"])
async def test_16_mib_messages_arrive_intact_both_ways(backend_factory, proxy_factory, client,
                                                       kind):
    backend, _ = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))
    payload = os.urandom(8 * 1024 * 1024).hex() if kind == "text" else os.urandom(16 << 20)
    async with client.ws_connect(ws_url(proxy), max_msg_size=0) as ws:
        if isinstance(payload, str):
            await ws.send_str(payload)
            assert await ws.receive_str(timeout=30) == payload
        else:
            await ws.send_bytes(payload)
            assert await ws.receive_bytes(timeout=30) == payload


async def test_a_fragmented_message_from_the_browser_arrives_whole(backend_factory,
                                                                   proxy_factory):
    received: asyncio.Queue[tuple[WSMsgType, object]] = asyncio.Queue()

    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        for _ in range(3):
            msg = await ws.receive()
            received.put_nowait((msg.type, msg.data))

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await raw_handshake(proxy.port)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101")
    writer.write(frame(0x1, b"hello ", fin=False) + frame(0x0, b"fragmented ", fin=False)
                 + frame(0x9, b"ping between fragments")  # control frames may interleave
                 + frame(0x0, b"world", fin=True) + frame(0x1, b"next"))
    assert await asyncio.wait_for(received.get(), 5) == (WSMsgType.PING,
                                                         b"ping between fragments")
    assert await asyncio.wait_for(received.get(), 5) == (WSMsgType.TEXT,
                                                         "hello fragmented world")
    assert await asyncio.wait_for(received.get(), 5) == (WSMsgType.TEXT, "next")
    writer.close()


async def test_a_fragmented_message_from_the_backend_arrives_whole(proxy_factory, client):
    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(frame(0x2, b"\x00\x01", fin=False, mask=False)
                     + frame(0x0, b"\x02" * 70000, fin=False, mask=False)
                     + frame(0x0, b"\x03", mask=False) + frame(0x1, b"after", mask=False))

    server, url = await raw_backend(script)
    async with server:
        proxy = await proxy_factory(route("/", url))
        async with client.ws_connect(ws_url(proxy)) as ws:
            assert await ws.receive_bytes(timeout=5) == b"\x00\x01" + b"\x02" * 70000 + b"\x03"
            assert await ws.receive_str(timeout=5) == "after"


async def test_a_browser_ping_reaches_the_backend_and_its_pong_comes_back(
        backend_factory, proxy_factory, client):
    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        msg = await ws.receive()
        assert msg.type is WSMsgType.PING
        await ws.pong(msg.data + b" (backend)")
        await ws.receive()

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy), autoping=False) as ws:
        await ws.ping(b"are you there")
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data) == (WSMsgType.PONG, b"are you there (backend)")


async def test_a_backend_ping_reaches_the_browser_and_its_pong_comes_back(
        backend_factory, proxy_factory, client):
    pong = asyncio.get_running_loop().create_future()

    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.ping(b"still there?")
        msg = await ws.receive()
        pong.set_result((msg.type, msg.data))
        await ws.receive()

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy), autoping=False) as ws:
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data) == (WSMsgType.PING, b"still there?")
        await ws.pong(b"yes (browser)")
        assert await asyncio.wait_for(pong, 5) == (WSMsgType.PONG, b"yes (browser)")


# --- handshake: subprotocols, compression, what the backend is sent --------------------


async def test_the_subprotocol_the_backend_picks_is_the_one_the_browser_gets(
        backend_factory, proxy_factory, client):
    backend, seen = await echo_backend(backend_factory, protocols=("graphql-transport-ws",))
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy),
                                 protocols=("graphql-ws", "graphql-transport-ws")) as ws:
        assert ws.protocol == "graphql-transport-ws"
    assert seen[0]["Sec-WebSocket-Protocol"] == "graphql-ws,graphql-transport-ws"


async def test_vite_hmr_socket_keeps_its_subprotocol_and_token(backend_factory, proxy_factory,
                                                               client):
    backend, seen = await echo_backend(backend_factory, protocols=("vite-hmr",))
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy, "/?token=abc"), protocols=("vite-hmr",)) as ws:
        assert ws.protocol == "vite-hmr"
        await ws.send_str('{"type":"ping"}')
        assert await ws.receive_str(timeout=5) == '{"type":"ping"}'
    assert seen[0]["path"] == "/?token=abc"


async def test_no_subprotocol_from_the_backend_means_none_for_the_browser(
        backend_factory, proxy_factory, caplog):
    # Relayed as it is (RFC 6455 lets a server choose none), but a browser closes such
    # a socket at once: said once, and marked in the inspector.
    backend, _ = await echo_backend(backend_factory, protocols=())
    proxy = await proxy_factory(route("/", backend.url))
    for _ in range(2):
        reader, writer = await raw_handshake(proxy.port,
                                             extra=b"Sec-WebSocket-Protocol: graphql-ws\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
        assert head.startswith(b"HTTP/1.1 101")
        assert b"sec-websocket-protocol" not in head.lower()
    said = [r.getMessage() for r in caplog.records if "subprotocols the page" in r.getMessage()]
    assert len(said) == 1 and "('graphql-ws')" in said[0], said
    records = proxy.server.app[CAPTURES].newest_first()
    assert [r.error for r in records] == [said[0]] * 2


async def test_an_http_1_0_upgrade_is_ignored_and_forwarded_as_a_plain_get(
        backend_factory, proxy_factory):
    # RFC 9110 §7.8: Upgrade in an HTTP/1.0 request is ignored; §15.2: no 1xx to an
    # HTTP/1.0 client. So the backend gets a plain GET, and the client its answer.
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"GET /ws HTTP/1.0\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(b"plain http"), answer
    assert [s.get("Upgrade") for s in seen] == [None]


async def test_a_subprotocol_the_page_did_not_offer_gets_502(proxy_factory, client, caplog):
    # RFC 6455 §4.1 (6): the client must fail the connection; devproxy says why.
    async def script(writer: asyncio.StreamWriter) -> None:
        pass

    server, url = await raw_backend(script, fields=b"Sec-WebSocket-Protocol: mqtt\r\n")
    async with server:
        proxy = await proxy_factory(route("/", url))
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await client.ws_connect(ws_url(proxy), protocols=("graphql-ws",))
    assert caught.value.status == 502
    assert "chose subprotocol 'mqtt', which the page did not offer (it offered " \
        "'graphql-ws'). Make the backend choose one of the subprotocols offered" in caplog.text
    # The inspector shows devproxy's 502 as what it is, not by the backend's 101 head.
    [record] = proxy.server.app[CAPTURES].newest_first()
    view = record.response_view()
    assert record.status == 502 and view is not None
    assert view["type"] == "application/problem+json"


async def test_an_extension_the_page_did_not_offer_gets_502(proxy_factory, client, caplog):
    # RFC 6455 §4.1 (5): relayed, Chromium failed the socket ("Found an unsupported
    # extension", 1006) with nothing said; now as for a subprotocol.
    async def script(writer: asyncio.StreamWriter) -> None:
        pass

    server, url = await raw_backend(script, fields=b"Sec-WebSocket-Extensions: x-foo\r\n")
    async with server:
        proxy = await proxy_factory(route("/", url))
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await client.ws_connect(ws_url(proxy), compress=15)
    assert caught.value.status == 502
    assert "accepted extension 'x-foo', which the page did not offer (it offered " \
        "'permessage-deflate'). Make the backend accept only extensions the page " \
        "offered" in caplog.text


@pytest.mark.parametrize(("browser_compress", "backend_compress"), [
    pytest.param(15, False, id="compressed-browser-plain-backend"),
    pytest.param(0, True, id="plain-browser-compressed-backend"),
    pytest.param(15, True, id="both-compressed"),
    pytest.param(0, False, id="neither-compressed"),
])
async def test_compression_is_what_the_two_ends_agree(backend_factory, proxy_factory, client,
                                                      browser_compress, backend_compress):
    backend, seen = await echo_backend(backend_factory, compress=backend_compress)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy), compress=browser_compress) as ws:
        # Frames pass as they are, so permessage-deflate is on for the browser exactly
        # when the backend took the browser's own offer (RFC 7692, end to end).
        assert bool(ws.compress) is bool(browser_compress and backend_compress)
        for _ in range(3):
            await ws.send_str("squeeze me " * 1000)
            assert await ws.receive_str(timeout=5) == "squeeze me " * 1000
    offered = "permessage-deflate" in seen[0].get("Sec-WebSocket-Extensions", "")
    assert offered is bool(browser_compress)


async def test_path_query_cookie_and_authorization_reach_the_backend(backend_factory,
                                                                     proxy_factory, client):
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/api", backend.url + "/v1", strip_prefix=True,
                                      headers=(("X-Dev", "1"),)))
    async with client.ws_connect(ws_url(proxy, "/api/socket?token=a%20b&x=1"), headers={
            "Cookie": "sid=42", "Authorization": "Bearer t"}):
        pass
    got = seen[0]
    assert got["path"] == "/v1/socket?token=a%20b&x=1"
    assert (got["Cookie"], got["Authorization"], got["X-Dev"]) == ("sid=42", "Bearer t", "1")
    assert (got["Host"], got["X-Forwarded-Proto"], got["X-Forwarded-Prefix"]) == (
        f"127.0.0.1:{proxy.port}", "http", "/api")
    assert got["X-Forwarded-For"] == "127.0.0.1"


async def test_change_origin_sends_the_targets_host(backend_factory, proxy_factory, client):
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url, change_origin=True))
    async with client.ws_connect(ws_url(proxy)):
        pass
    assert seen[0]["Host"] == f"127.0.0.1:{backend.port}"


@pytest.mark.parametrize(("policy", "expected"), [
    pytest.param("keep", "http://localhost:{port}", id="keep"),
    pytest.param("rewrite", "http://127.0.0.1:{backend}", id="rewrite"),
    pytest.param("drop", None, id="drop"),
])
async def test_ws_origin_policy_shapes_the_upstream_origin(backend_factory, proxy_factory,
                                                           client, policy, expected):
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url, ws_origin=policy))
    async with client.ws_connect(ws_url(proxy), origin=f"http://localhost:{proxy.port}"):
        pass
    want = expected.format(port=proxy.port, backend=backend.port) if expected else None
    assert seen[0].get("Origin") == want


# --- closing -------------------------------------------------------------------------


async def test_backend_close_code_and_reason_reach_the_browser(backend_factory, proxy_factory,
                                                               client):
    answered = asyncio.get_running_loop().create_future()

    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.close(code=4001, message=b"unauthorized")
        answered.set_result(ws.close_code)  # the Close devproxy answered with

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy), autoclose=False) as ws:
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 4001, "unauthorized")
        await ws.close(code=4001)
    assert await asyncio.wait_for(answered, 5) == 4001


async def test_browser_close_code_and_reason_reach_the_backend(backend_factory, proxy_factory,
                                                               client):
    closed = asyncio.get_running_loop().create_future()

    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        msg = await ws.receive()
        closed.set_result((msg.type, msg.data, msg.extra))

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    ws = await client.ws_connect(ws_url(proxy))
    await ws.close(code=4002, message=b"page closed")
    assert await asyncio.wait_for(closed, 5) == (WSMsgType.CLOSE, 4002, "page closed")
    # The answering Close is the backend's own (aiohttp's server answers 1000, RFC 6455
    # §5.5.1), as it would be without devproxy.
    assert ws.close_code == 1000


async def test_a_close_frame_passes_unchanged_even_with_a_code_not_to_be_sent(
        backend_factory, proxy_factory, client):
    closed = asyncio.get_running_loop().create_future()

    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        closed.set_result((await ws.receive()).data)

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    ws = await client.ws_connect(ws_url(proxy))
    await ws.close(code=1006)  # reserved for reporting (§7.4.1); aiohttp sends it anyway
    # The backend judges it, as it would without devproxy: frames are relayed, not re-made.
    assert await asyncio.wait_for(closed, 5) == 1006


async def test_a_backend_that_vanishes_drops_the_browser_within_a_second(
        backend_factory, proxy_factory, client):
    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.send_str("last words")
        assert request.transport is not None
        request.transport.abort()  # the backend process dies: no Close frame

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(ws_url(proxy), autoclose=False) as ws:
        assert await ws.receive_str(timeout=5) == "last words"
        msg = await ws.receive(timeout=1.0)
        # Not a tidy Close: the page must see the abnormal closure it would see without
        # devproxy, or dev clients that reconnect only after one never do.
        assert msg.type is WSMsgType.CLOSED
        assert ws.close_code == 1006
    # and the inspector's list marks it, as it marks a body broken off
    record = await ended_row(client, proxy)
    assert record["error"] == f"{backend.url} dropped the WebSocket without a " \
                              f"Close frame (1006)"


async def test_a_browser_that_vanishes_closes_the_backend_socket_within_a_second(
        backend_factory, proxy_factory):
    ended = asyncio.get_running_loop().create_future()

    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        msg = await ws.receive()
        ended.set_result((msg.type, msg.data))

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await raw_handshake(proxy.port)
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.transport.abort()
    assert await asyncio.wait_for(ended, 1.0) == (WSMsgType.CLOSE, 1001)


async def test_a_browser_that_vanishes_mid_stream_closes_the_backend_within_a_second(
        backend_factory, proxy_factory, caplog):
    ended = asyncio.get_running_loop().create_future()

    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        async def stream() -> None:
            with contextlib.suppress(ConnectionError):
                while True:
                    await ws.send_bytes(b"x" * 65536)

        streaming = asyncio.create_task(stream())
        msg = await ws.receive()
        streaming.cancel()
        ended.set_result((msg.type, msg.data))

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await raw_handshake(proxy.port)
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    await reader.readexactly(1 << 20)  # the stream is flowing
    writer.transport.abort()
    assert await asyncio.wait_for(ended, 1.0) == (WSMsgType.CLOSE, 1001)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


_FLOOD = 64  # MiB each flow-control test pushes through


async def test_a_browser_that_stops_reading_pauses_the_backend(backend_factory, proxy_factory):
    sent = [0]

    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        for _ in range(_FLOOD):
            await ws.send_bytes(b"d" * (1 << 20))  # waits whenever devproxy stops reading
            sent[0] += 1
        await ws.receive()

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await raw_handshake(proxy.port)
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    await asyncio.sleep(1.0)  # the browser reads nothing meanwhile
    [splice] = proxy.server.app[OPEN_SOCKETS]._splices
    # What devproxy holds for the browser stays near its high-water mark, and the
    # backend was made to wait rather than having its whole stream taken in.
    assert splice.browser.get_write_buffer_size() < 2 << 20
    assert sent[0] < _FLOOD
    received = 0
    async with asyncio.timeout(20):
        while received < _FLOOD * ((1 << 20) + 10):
            received += len(await reader.read(1 << 20))
    assert received == _FLOOD * ((1 << 20) + 10)  # 10-byte heads: 64-bit lengths, unmasked
    writer.close()


async def test_a_backend_that_stops_reading_pauses_the_browser(backend_factory, proxy_factory):
    reading = asyncio.Event()
    got = asyncio.get_running_loop().create_future()

    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        await reading.wait()
        total = 0
        while total < _FLOOD << 20:
            total += len((await ws.receive(timeout=20)).data)
        got.set_result(total)

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await raw_handshake(proxy.port)
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    # Masked with an all-zero key (§5.3 allows any key), so the payload reads as sent.
    message = bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 20) + bytes(4) + b"u" * (1 << 20)
    written = 0

    async def flood() -> None:
        nonlocal written
        for _ in range(_FLOOD):
            writer.write(message)
            await writer.drain()  # waits once devproxy stops reading the browser
            written += 1

    flooding = asyncio.create_task(flood())
    await asyncio.sleep(1.0)
    [splice] = proxy.server.app[OPEN_SOCKETS]._splices
    assert splice.backend.get_write_buffer_size() < 2 << 20
    assert written < _FLOOD
    reading.set()
    assert await asyncio.wait_for(got, 20) == _FLOOD << 20
    await flooding
    writer.close()


async def test_a_closed_socket_is_logged_once_with_its_figures(backend_factory, proxy_factory,
                                                               client, caplog):
    # Two lines: one as it opens, its access line as it ends, saying how. A line of its
    # own for the close made three, with the duration and bytes twice.
    caplog.set_level(logging.INFO, logger="devproxy.websocket")
    caplog.set_level(logging.INFO, logger="devproxy.access")
    backend, _ = await echo_backend(backend_factory, protocols=("vite-hmr",))
    proxy = await proxy_factory(route("/live", backend.url))
    async with client.ws_connect(ws_url(proxy, "/live/feed"), protocols=("vite-hmr",)) as ws:
        # Said as it opens: an HMR socket may stay open all day.
        opened = [r.getMessage() for r in caplog.records if " open" in r.getMessage()]
        assert opened == ["websocket /live/feed (route /live) open, subprotocol vite-hmr"]
        for _ in range(3):
            await ws.send_str("12345")
            await ws.receive_str(timeout=5)
        await ws.close(code=4002)

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "devproxy.access"]

    assert await eventually(lambda: bool(logged()))
    [line] = logged()
    assert re.fullmatch(r"GET /live/feed -> /live 101 \d+\.\dms 15B \(closed by browser with "
                        r"4002: up 3 msgs 15 B, down 3 msgs 15 B\)", line), line
    assert [r.name for r in caplog.records] == ["devproxy.websocket", "devproxy.access"]


async def test_shutdown_closes_open_sockets_on_both_sides_at_once(backend_factory, client,
                                                                  caplog):
    backend_saw = asyncio.get_running_loop().create_future()

    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        msg = await ws.receive()
        backend_saw.set_result((msg.type, msg.data))

    backend, _ = await echo_backend(backend_factory, on_open=on_open)
    server = ProxyServer(Live(Snapshot.build(Config(Listen("127.0.0.1", 0),
                                                    (route("/", backend.url),)))),
                         shutdown_timeout=10)
    await server.start()
    ws = await client.ws_connect(f"ws://127.0.0.1:{server.port}/ws", autoclose=False)
    with caplog.at_level(logging.INFO, logger="devproxy.access"):
        stopping = asyncio.create_task(server.stop())
        msg = await ws.receive(timeout=1.0)  # not the 10 s shutdown timeout
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)
        assert await asyncio.wait_for(backend_saw, 1.0) == (WSMsgType.CLOSE, 1001)
        await asyncio.wait_for(stopping, 2.0)
    # Closed cleanly, with its code: not "cut", as a response devproxy broke off is.
    [line] = [r.getMessage() for r in caplog.records if r.name == "devproxy.access"]
    assert line.startswith("GET /ws -> / 101 ") and "cut" not in line, line


# --- refusals and failures -------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
async def test_a_refused_upgrade_gets_the_backends_status_and_body(backend_factory,
                                                                   proxy_factory, status,
                                                                   caplog):
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"error": f"no sockets for you ({status})"}, status=status)

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    caplog.set_level(logging.INFO, logger="devproxy.access")
    reader, writer = await raw_handshake(proxy.port, extra=b"Connection: close\r\n")
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status}".encode())
    assert b"Content-Type: application/json" in head
    assert body == f'{{"error": "no sockets for you ({status})"}}'.encode()
    [line] = [r.getMessage() for r in caplog.records if r.name == "devproxy.websocket"]
    assert f"route / -> {backend.url} refused the WebSocket /ws: {status}" in line
    assert "no sockets for you" in line
    [access] = [r.getMessage() for r in caplog.records if r.name == "devproxy.access"]
    assert access.endswith(f" {len(body)}B")  # the body the browser got, counted


async def test_a_refused_upgrade_with_control_characters_in_its_head_is_relayed(
        proxy_factory, caplog):
    # As for any relayed head (RFC 9110 §5.5 lets them be kept): not a 500.
    async with answering_once(b"HTTP/1.1 403 \x1b[31mForbidden\r\nX-Why: \x1b[31mno\x1b[0m\r\n"
                              b"Content-Length: 2\r\nConnection: close\r\n\r\nno") as url:
        proxy = await proxy_factory(route("/", url))
        reader, writer = await raw_handshake(proxy.port, extra=b"Connection: close\r\n")
        reply = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert reply.startswith(b"HTTP/1.1 403 \x1b[31mForbidden\r\n"), reply[:200]
    assert b"\r\nX-Why: \x1b[31mno\x1b[0m\r\n" in reply and reply.endswith(b"\r\n\r\nno")
    # The terminal is shown the escape, not made to obey it.
    [line] = [r.getMessage() for r in caplog.records if "refused the WebSocket" in r.getMessage()]
    assert "403 \\x1b[31mForbidden" in line and "\x1b" not in line


async def test_a_101_with_control_characters_in_its_head_is_relayed(proxy_factory):
    async def script(writer: asyncio.StreamWriter) -> None:
        await writer.drain()

    ended = asyncio.Event()
    server, url = await raw_backend(script, fields=b"X-Debug: \x1b[32mup\x1b[0m\r\n",
                                    ended=ended)
    async with server:
        proxy = await proxy_factory(route("/", url))
        reader, writer = await raw_handshake(proxy.port)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
        await asyncio.wait_for(ended.wait(), 5)  # devproxy closed the upstream side too
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n"), head[:200]
    assert b"\r\nX-Debug: \x1b[32mup\x1b[0m\r\n" in head


async def test_a_redirected_upgrade_is_passed_to_the_browser_not_followed(backend_factory,
                                                                         proxy_factory):
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.path)
        if request.path == "/login":
            return web.Response(text="login page")
        raise web.HTTPFound(f"{backend.url}/login")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await raw_handshake(proxy.port, extra=b"Connection: close\r\n")
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert reply.startswith(b"HTTP/1.1 302")
    assert b"Location: http://localhost/login\r\n" in reply  # pointed back at devproxy's Host
    assert seen == ["/ws"]


async def test_a_backend_that_is_down_gets_502_logged_once(proxy_factory, client,
                                                          unused_tcp_port_factory, caplog):
    proxy = await proxy_factory(route("/", f"http://127.0.0.1:{unused_tcp_port_factory()}"))
    for _ in range(2):
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await client.ws_connect(ws_url(proxy))
        assert caught.value.status == 502
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


async def test_a_backend_whose_101_is_invalid_gets_502(proxy_factory, client, caplog):
    async def script(writer: asyncio.StreamWriter) -> None:
        pass

    server, url = await raw_backend(script, guid=b"not the RFC 6455 GUID")
    async with server:
        proxy = await proxy_factory(route("/", url))
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await client.ws_connect(ws_url(proxy))
    assert caught.value.status == 502
    assert "accepted the WebSocket with an invalid handshake" in caplog.text


async def test_ws_false_refuses_upgrades_with_404(backend_factory, proxy_factory, client):
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url, ws=False))
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(ws_url(proxy))
    assert caught.value.status == 404
    assert seen == []


async def test_a_socket_to_a_static_route_is_refused_not_served_a_file(
        proxy_factory, client, tmp_path, caplog):
    # A page's socket to a path a static route serves got index.html with a 200 (the
    # browser: "Unexpected response code: 200"), and in CORS mode a CORS explanation.
    (tmp_path / "index.html").write_text("<h1>home</h1>")
    proxy = await proxy_factory(route("/", static=tmp_path),
                                cors=CorsPolicy(origins=("http://localhost:5173",)))
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(ws_url(proxy), headers={"Origin": "http://localhost:5173"})
    assert caught.value.status == 404
    assert not [r for r in caplog.records if r.getMessage().startswith("CORS:")]
    async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
        [row] = await resp.json()
    assert (row["kind"], row["status"], row["cors_blocked"]) == ("websocket", 404, False)
    async with client.get(f"{proxy.url}/__devproxy/api/requests/{row['id']}") as resp:
        text = (await resp.json())["response_body"]["text"]
    assert "No WebSockets on a static route" in text
    assert f"static folder {tmp_path.name}/" in text and str(tmp_path) not in text


async def test_an_invalid_browser_handshake_gets_400_and_never_reaches_the_backend(
        backend_factory, proxy_factory):
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await raw_handshake(proxy.port, extra=b"Connection: close\r\n",
                                         key=b"not-sixteen-bytes")
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert reply.startswith(b"HTTP/1.1 400")
    assert seen == []


async def test_an_upgrade_listing_websocket_among_others_is_relayed(backend_factory,
                                                                    proxy_factory):
    # RFC 6455 §4.2.1 (3): Upgrade need only include "websocket". aiohttp's check wants
    # it alone, and devproxy answered 400 blaming the key or the version.
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        writer.write(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: foo, websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        writer.write(frame(0x1, b"hello"))
        assert await asyncio.wait_for(reader.readexactly(7), 5) == b"\x81\x05hello"
    finally:
        writer.close()
    assert seen[0]["Upgrade"] == "websocket"  # hop-by-hop: asked for again, alone


async def test_a_frame_sent_with_the_handshake_reaches_the_backend(backend_factory,
                                                                   proxy_factory, caplog):
    # Handshake and a first frame in one write: aiohttp hands such bytes over as the
    # splice starts, before it had the backend: dropped, yet counted as sent.
    backend, _ = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        with caplog.at_level(logging.INFO, logger="devproxy.access"):
            writer.write(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                         + frame(0x1, b"early"))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 101"), head
            assert await asyncio.wait_for(reader.readexactly(7), 5) == b"\x81\x05early"
            writer.write(frame(0x8, b"\x03\xe8"))  # Close 1000
            await asyncio.wait_for(reader.read(), 5)
            assert await eventually(lambda: " 101 " in caplog.text)
    finally:
        writer.close()
    assert "up 1 msgs 5 B, down 1 msgs 5 B" in caplog.text  # counted as what went


async def test_a_handshake_with_two_keys_gets_400_saying_so(backend_factory, proxy_factory):
    # RFC 6455 §11.3.1: the key is sent once; two were passed on to the backend.
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await raw_handshake(
        proxy.port, extra=b"Connection: close\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n")
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert reply.startswith(b"HTTP/1.1 400")
    said = json.loads(reply.partition(b"\r\n\r\n")[2])["detail"]
    assert said == "Sec-WebSocket-Key is sent 2 times; RFC 6455 §11.3.1 allows it once."
    assert seen == []


# --- cross-site WebSocket hijacking ----------------------------------------------------


@pytest.mark.parametrize(("origin", "allowed", "host"), [
    pytest.param("http://localhost:{port}", True, None, id="localhost"),
    pytest.param("http://127.0.0.1:{port}", True, None, id="ipv4"),
    pytest.param("http://[::1]:{port}", True, None, id="ipv6"),
    pytest.param("http://foo.localhost:{port}", True, None, id="dot-localhost"),
    pytest.param(None, True, None, id="no-origin"),
    pytest.param("http://localhost:5173", True, None, id="cors-allowed"),
    pytest.param("http://evil.example", False, None, id="other-site"),
    pytest.param("http://localhost:{other}", False, None, id="other-port"),
    pytest.param("https://localhost:{port}", False, None, id="https"),
    pytest.param("null", False, None, id="null"),
    # listen: 0.0.0.0 and a phone at http://192.168.1.5:8080: its HMR socket comes from
    # there. Another machine's page at that address may not use localhost's sockets.
    pytest.param("http://192.168.1.5:{port}", True, "192.168.1.5", id="page-at-a-lan-address"),
    pytest.param("http://192.168.1.5:{port}", False, "localhost", id="lan-page-to-localhost"),
])
async def test_only_devproxys_own_pages_may_open_sockets(backend_factory, proxy_factory, client,
                                                         origin, allowed, host, caplog):
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url,
                                      cors=CorsPolicy(origins=("http://localhost:5173",))))
    headers = {} if host is None else {"Host": f"{host}:{proxy.port}"}
    if origin is not None:
        headers["Origin"] = origin.format(port=proxy.port, other=proxy.port + 1)
    if allowed:
        async with client.ws_connect(ws_url(proxy), headers=headers) as ws:
            await ws.send_str("ok")
            assert await ws.receive_str(timeout=5) == "ok"
        return
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(ws_url(proxy), headers=headers)
    assert caught.value.status == 403
    assert seen == []  # nothing was sent upstream
    [line] = [r.getMessage() for r in caplog.records if r.name == "devproxy.websocket"]
    # The address the socket went to, which reaches devproxy (not always localhost).
    expected = f"open the page through devproxy at http://{host or '127.0.0.1'}:{proxy.port}"
    if origin == "null":  # opaque: no list can name it, so that is the one fix
        assert "(a sandboxed frame or a file:// page" in line
        assert line.endswith(expected)
    elif origin.endswith(":{port}") and origin.startswith("http:"):
        # devproxy's own port under another name: only then can allowed_hosts help.
        assert "(a host name devproxy does not serve its pages for)" in line
        assert line.endswith(f"{expected}, list its origin in the route's cors.origins, "
                             "or, if its host name is yours, add it to allowed_hosts")
    else:  # another server's page (another port or scheme): allowed_hosts cannot help
        assert "(a page devproxy did not serve (another server or port)" in line
        assert line.endswith(f"{expected}, or list its origin in the route's cors.origins")
    # Not told as CORS, which browsers never apply to a WebSocket (Chromium sends its
    # handshake with no Sec-Fetch-Mode, which reads as a fetch() in CORS mode).
    assert not [r for r in caplog.records if r.getMessage().startswith("CORS:")]


async def test_a_socket_refused_for_its_host_is_not_told_as_cors(
        backend_factory, proxy_factory, client, caplog):
    # Refused before routing (a Host not in allowed_hosts), a socket from a page on that
    # host was logged as "not in cors.origins": the fix is allowed_hosts, and browsers
    # apply no CORS to sockets.
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url,
                                      cors=CorsPolicy(origins=("http://localhost:5173",))))
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(ws_url(proxy), headers={
            "Host": f"evil.example:{proxy.port}", "Origin": "http://evil.example"})
    assert caught.value.status == 403 and seen == []
    assert "allowed_hosts" in caplog.text
    assert not [r for r in caplog.records if r.getMessage().startswith("CORS:")]


async def test_a_page_on_an_allowed_host_may_open_sockets(backend_factory, proxy_factory,
                                                          client):
    # allowed_hosts lets devproxy serve myapp.test's pages; their sockets (Vite's HMR)
    # come from that origin and must be let through too.
    backend, _ = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url), allowed_hosts=("myapp.test",))
    headers = {"Host": f"myapp.test:{proxy.port}", "Origin": f"http://myapp.test:{proxy.port}"}
    async with client.ws_connect(ws_url(proxy), headers=headers) as ws:
        await ws.send_str("ok")
        assert await ws.receive_str(timeout=5) == "ok"


async def test_a_route_with_cors_off_is_named_in_a_sockets_refusal(
        backend_factory, proxy_factory, client, caplog):
    # The page's origin is in the top-level block, which the route turned off: listing
    # it again cannot help, turning the block back on does.
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url, cors=None),
                                cors=CorsPolicy(origins=("http://localhost:5173",)))
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(ws_url(proxy), headers={"Origin": "http://localhost:5173"})
    assert caught.value.status == 403 and seen == []
    assert caplog.text.rstrip().endswith(
        "or list its origin in cors.origins and drop the route's cors: false, which turns "
        "that block off for it")


async def test_cors_mode_for_any_origin_does_not_open_sockets_to_any_page(
        backend_factory, proxy_factory, client):
    backend, seen = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url, cors=CorsPolicy(origins=("*",))))
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(ws_url(proxy), headers={"Origin": "http://evil.example"})
    assert caught.value.status == 403
    assert seen == []
    # The fix names '*' as what does not let it: adding the origin beside it cannot.
    async with client.get(ws_url(proxy).replace("ws://", "http://"), headers={
            "Origin": "http://evil.example", "Connection": "Upgrade", "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
            ) as resp:
        assert resp.status == 403
        assert "cors.origins in place of '*'" in (await resp.json())["hint"]


# --- lifetimes and load ----------------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_a_thousand_connect_close_cycles_leak_nothing(backend_factory, proxy_factory,
                                                            client):
    backend, _ = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))

    async def cycle(n: int) -> None:
        # Every way a socket ends: the browser closes, the backend closes, the backend
        # dies, the browser dies.
        if n % 4 == 3:
            reader, writer = await raw_handshake(proxy.port)
            await reader.readuntil(b"\r\n\r\n")
            writer.transport.abort()
            return
        async with client.ws_connect(ws_url(proxy)) as ws:
            await ws.send_str("x")
            assert await ws.receive_str(timeout=5) == "x"
            if n % 4:
                await ws.send_str("bye" if n % 4 == 1 else "die")
                assert (await ws.receive(timeout=5)).type in (WSMsgType.CLOSE,
                                                              WSMsgType.CLOSED)

    relayed = proxy.server.app[OPEN_SOCKETS]

    def settled(fds: int, tasks: int) -> bool:
        return not relayed and _open_fds() <= fds + 3 and len(asyncio.all_tasks()) <= tasks

    for n in range(40):  # warm-up: pools, caches, lazy imports
        await cycle(n)
    assert await eventually(lambda: not relayed)
    await asyncio.sleep(0.1)
    fds, tasks = _open_fds(), len(asyncio.all_tasks())
    for n in range(1000):
        await cycle(n)
    assert await eventually(lambda: settled(fds, tasks), seconds=5), (
        f"open sockets {len(relayed)}, fds {fds} -> {_open_fds()}, "
        f"tasks {tasks} -> {len(asyncio.all_tasks())}")


async def test_two_hundred_concurrent_sockets_echo_in_order(backend_factory, proxy_factory):
    backend, _ = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))
    # A client of its own: the shared one pools at most 100 connections.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        await _two_hundred_at_once(client, proxy)


async def _two_hundred_at_once(client: aiohttp.ClientSession, proxy) -> None:
    sockets = await asyncio.wait_for(
        asyncio.gather(*(client.ws_connect(ws_url(proxy)) for _ in range(200))), 20)

    async def talk(n: int, ws: aiohttp.ClientWebSocketResponse) -> list[str]:
        for i in range(20):
            await ws.send_str(f"{n}:{i}")
        return [await ws.receive_str(timeout=20) for _ in range(20)]

    try:
        # All 200 are open at once before anything is sent.
        results = await asyncio.gather(*(talk(n, ws) for n, ws in enumerate(sockets)))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    assert results == [[f"{n}:{i}" for i in range(20)] for n in range(200)]


def test_frame_helper_follows_the_wire_format() -> None:
    short = frame(0x1, b"ab")
    assert (short[0], short[1], len(short)) == (0x81, 0x82, 2 + 4 + 2)
    assert frame(0x0, b"x" * 200, fin=False, mask=False)[:4] == bytes([0x00, 126, 0, 200])
    assert frame(0x2, b"x" * 70000, mask=False)[:10] == bytes([0x82, 127]) + struct.pack(
        "!Q", 70000)



async def test_a_socket_that_ends_is_logged_and_recorded_as_ended_not_abandoned(
        backend_factory, proxy_factory, client, caplog):
    # A spliced socket ends with its connection, and aiohttp then cancels the handler:
    # that is its normal end, not a browser that went away mid-response.
    backend, _ = await echo_backend(backend_factory)
    proxy = await proxy_factory(route("/", backend.url))
    caplog.set_level(logging.INFO, logger="devproxy.access")
    async with client.ws_connect(ws_url(proxy)) as ws:
        await ws.send_str("hi")
        assert (await ws.receive()).data == "hi"
    for _ in range(200):
        if any(r.name == "devproxy.access" for r in caplog.records):
            break
        await asyncio.sleep(0.01)
    [line] = [r.getMessage() for r in caplog.records if r.name == "devproxy.access"]
    assert " 101 " in line and "went away" not in line, line
    # the echoed "hi", as nginx counts a socket's bytes; then how it ended
    assert " 2B (closed by browser with 1000: " in line, line
    async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
        [record] = await resp.json()
    assert (record["status"], record["error"]) == (101, "")
    assert (record["bytes_in"], record["bytes_out"]) == (2, 2)
    assert record["duration_ms"] is not None


# --- a socket refused after its 101 ----------------------------------------------------

@pytest.mark.parametrize(("compress", "inspector"), [(True, False), (False, True)],
                         ids=["deflate-inspector-off", "plain-inspector-on"])
async def test_a_backend_refusing_the_origin_after_its_101_gets_advice_once(
        backend_factory, proxy_factory, client, caplog, compress, inspector):
    # webpack-dev-server accepts the handshake, sends this, and closes: its client retries
    # for ever, and each retry alone said only "closed by backend".
    async def refuse(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.send_str('{"type":"error","data":"Invalid Host/Origin header"}')
        await ws.close()

    backend, _ = await echo_backend(backend_factory, on_open=refuse, compress=compress)
    # The first message is read whether or not the inspector watches every one.
    proxy = await proxy_factory(route("/", backend.url), inspector=Inspector(enabled=inspector))
    with caplog.at_level(logging.INFO, logger="devproxy"):
        for _ in range(2):  # a retry is not explained again
            async with client.ws_connect(ws_url(proxy), compress=15 if compress else 0) as ws:
                message = await ws.receive()
                assert message.type is WSMsgType.TEXT and "Invalid Host" in message.data
                assert (await ws.receive()).type is WSMsgType.CLOSE
        assert await eventually(lambda: sum("closed by backend" in r.getMessage()
                                            for r in caplog.records) == 2)
    advice = [r.getMessage() for r in caplog.records if "refused the Host or Origin" in
              r.getMessage()]
    assert len(advice) == 1, advice
    assert "Invalid Host/Origin header" in advice[0]
    assert "change_origin: true" in advice[0] and "ws_origin: rewrite" in advice[0]
    assert "route /" in advice[0]


@pytest.mark.parametrize(("first", "code", "reason"), [
    pytest.param("hello from the origin server", 4000, b"done", id="greeting"),
    # FastAPI echoing what it saw, then refusing a token: "origin" and "host" are keys
    # of the greeting, "unauthorized" the close's, and none of it blames the Host.
    pytest.param('{"hello":true,"origin":"http://localhost:5173","host":"localhost:8080"}',
                 4001, b"unauthorized", id="json-greeting-then-unauthorized"),
])
async def test_a_socket_closed_at_once_for_another_reason_gets_no_advice(
        backend_factory, proxy_factory, client, caplog, first, code, reason):
    async def goodbye(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.send_str(first)
        await ws.close(code=code, message=reason)

    backend, _ = await echo_backend(backend_factory, on_open=goodbye)
    proxy = await proxy_factory(route("/", backend.url, change_origin=True))
    with caplog.at_level(logging.INFO, logger="devproxy"):
        async with client.ws_connect(ws_url(proxy)) as ws:
            assert (await ws.receive()).type is WSMsgType.TEXT
            assert (await ws.receive()).type is WSMsgType.CLOSE
        assert await eventually(lambda: any("closed by backend" in r.getMessage()
                                            for r in caplog.records))
    assert not [r for r in caplog.records if "refused the Host or Origin" in r.getMessage()]


async def test_verbose_logs_the_handshake_both_ways(backend_factory, proxy_factory, client,
                                                    caplog):
    # -v shows an HTTP request's headers upstream and back; a socket's handshake too, the
    # place a subprotocol or an Origin goes wrong.
    backend, _ = await echo_backend(backend_factory, protocols=("vite-hmr",))
    proxy = await proxy_factory(route("/", backend.url, ws_origin="rewrite"))
    with caplog.at_level(logging.DEBUG, logger="devproxy"):
        async with client.ws_connect(ws_url(proxy), protocols=("vite-hmr",),
                                     headers={"Origin": proxy.url}) as ws:
            assert ws.protocol == "vite-hmr"
    sent = next(r.getMessage() for r in caplog.records
                if r.getMessage().startswith("upstream WebSocket handshake GET"))
    assert f"{backend.url}/ws" in sent and "Sec-WebSocket-Protocol: vite-hmr" in sent
    assert f"Origin: {backend.url}" in sent  # as rewritten, not as the browser sent it
    answer = next(r.getMessage() for r in caplog.records
                  if r.getMessage().startswith("upstream WebSocket answer 101"))
    assert "Sec-WebSocket-Accept:" in answer


@pytest.mark.parametrize("ending", [b"", b"\r\n"])
async def test_a_bare_text_refusal_of_the_handshake_says_to_rewrite_the_origin(
        proxy_factory, client, caplog, ending):
    # Next.js 16 writes "Unauthorized" on the socket for an Origin whose host is not
    # localhost (a page opened at 127.0.0.1), then closes: no HTTP at all.
    async with answering_once(b"Unauthorized" + ending) as url:
        proxy = await proxy_factory(route("/", url))
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await client.ws_connect(ws_url(proxy))
    assert caught.value.status == 502
    assert "set ws_origin: rewrite on route /" in caplog.text, caplog.text
    # The URL where it works, devproxy's port and all: `up --route` cannot know that
    # its target is Next.js, so it prints 127.0.0.1 unless told --listen localhost:PORT.
    assert f"open the page at http://localhost:{proxy.port}," in caplog.text
    assert "is the target an HTTP server" not in caplog.text


async def test_a_refusal_whose_body_breaks_off_is_said_to_be_cut(proxy_factory, client,
                                                                 caplog):
    # Relayed with a length of its own, a cut body looked whole: the log and the
    # inspector say it was cut.
    async with answering_once(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\nnope"
                              ) as url:
        proxy = await proxy_factory(route("/", url))
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await client.ws_connect(ws_url(proxy))
        assert caught.value.status == 403
        # and the client gets it cut too: no length of its own, no last chunk
        reader, writer = await raw_handshake(proxy.port)
        try:
            reply = await asyncio.wait_for(reader.read(), 5)
        finally:
            writer.close()
    assert "refused the WebSocket /ws: 403 Forbidden: 'nope'; its body was cut short: " \
           "the backend broke it off" in caplog.text, caplog.text
    head, _, rest = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403") and b"Transfer-Encoding: chunked" in head, head
    assert rest == b"4\r\nnope\r\n"  # and then the close, short of its end
    async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
        records = await resp.json()
    assert len(records) == 2
    assert all("its body was cut short" in record["error"] for record in records)
