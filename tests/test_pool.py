"""Upstream connections: reuse, caps, retries and every way a backend frames a response.

The backends here are raw asyncio servers that write exactly the bytes each test
scripts, on 127.0.0.1 ephemeral ports, so framing the aiohttp server would normalise
(1xx, trailers, close-delimited bodies, stale keep-alive) is really on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from devproxy import h1
from devproxy.config import Limits, parse_target
from devproxy.errors import UpstreamError
from devproxy.pool import Pool
from tests.conftest import route

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class RawBackend:
    """Counts connections and requests; ``script`` answers each request."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests.append(head)
                await self.script(reader, writer, len(self.requests))
                if writer.is_closing():
                    return
        finally:
            self.open -= 1
            writer.close()


@pytest.fixture
async def raw_backend() -> AsyncIterator[Callable[[Script], Awaitable[RawBackend]]]:
    started: list[RawBackend] = []

    async def start(script: Script) -> RawBackend:
        backend = RawBackend(script)
        backend.server = await asyncio.start_server(backend.serve, "127.0.0.1", 0)
        started.append(backend)
        return backend

    yield start
    for backend in started:
        assert backend.server is not None
        backend.server.close()


def answer(data: bytes) -> Script:
    async def script(reader: Any, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(data)
        await writer.drain()
    return script


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def closes_the_second(after: float = 0.0) -> Script:
    """Answers OK, but reads the second request and closes ``after`` seconds later,
    unanswered: at once, the keep-alive race; later, a backend failing on it."""
    async def script(reader: Any, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 2:
            await asyncio.sleep(after)
            writer.close()
            return
        writer.write(OK)

    return script


async def test_sequential_requests_share_one_kept_alive_connection(raw_backend, proxy_factory,
                                                                    client):
    backend = await raw_backend(answer(OK))
    proxy = await proxy_factory(route("/", backend.url))
    for _ in range(5):
        async with client.get(proxy.url + "/") as response:
            assert await response.read() == b"ok"
    assert backend.connections == 1 and len(backend.requests) == 5


async def test_a_backends_keep_alive_timeout_lets_devproxy_go_first(raw_backend,
                                                                    proxy_factory, client):
    # A backend that closes idle connections after 1 s and says so in Keep-Alive (as
    # Node and Apache do): a POST sent on such a connection as it closes fails, and
    # cannot be sent again. devproxy lets go at half of a short timeout.
    said = b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1, max=100\r\nContent-Length: 2\r\n\r\nok"
    backend = await raw_backend(answer(said))
    proxy = await proxy_factory(route("/", backend.url))
    for pause in (0, 0.1, 0.7):
        await asyncio.sleep(pause)
        async with client.post(proxy.url + "/", data=b"x") as response:
            assert await response.read() == b"ok"
    assert backend.connections == 2  # kept within 0.5 s, a new one after


@pytest.mark.parametrize(("field", "seconds"), [
    ("timeout=5", 5.0), ("timeout=5, max=1000", 5.0), ("max=3, Timeout = 2", 2.0),
    ('timeout="3"', 3.0), ("timeout=soon", None), ("max=3", None), ("timeout=nan", None),
])
def test_the_keep_alive_timeout_is_read_from_the_head(field: str, seconds: float | None) -> None:
    head = h1.parse_head(f"HTTP/1.1 204 No Content\r\nKeep-Alive: {field}".encode(),
                         method="GET")
    assert head.keep_alive == seconds


async def test_a_connection_the_backend_closes_as_a_get_is_sent_is_retried(raw_backend,
                                                                          proxy_factory,
                                                                          client):
    # the keep-alive race: the backend gives up on the connection
    backend = await raw_backend(closes_the_second())
    proxy = await proxy_factory(route("/", backend.url))
    for _ in range(2):
        async with client.get(proxy.url + "/") as response:
            assert response.status == 200 and await response.read() == b"ok"
    assert backend.connections == 2 and len(backend.requests) == 3


async def test_a_post_on_such_a_connection_is_not_sent_twice(raw_backend, proxy_factory,
                                                            client):
    # RFC 9110 §9.2.2: a proxy does not repeat a request that is not idempotent.
    backend = await raw_backend(closes_the_second())
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/") as response:
        await response.read()
    async with client.post(proxy.url + "/", data=b"") as response:
        assert response.status == 502
        text = await response.text()
    # Said as the race it is, with what to change, not as a crash.
    assert "closed a kept-alive connection" in text and "POST is not sent twice" in text
    assert "Keep-Alive: timeout=N" in text and "crashed" not in text
    assert "(after 4 s here" in text  # the limit this connection had
    assert len(backend.requests) == 2


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_backend_that_fails_on_a_request_later_is_a_crash_not_a_race(
        raw_backend, proxy_factory, client, method: str):
    # On a reused connection the backend reads the request, works on it for a second,
    # then closes without answering: that is the backend failing, told so (and a GET is
    # not sent again to fail the same way), not a keep-alive race.
    backend = await raw_backend(closes_the_second(after=1.0))
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/") as response:
        await response.read()
    async with client.request(method, proxy.url + "/", data=b"") as response:
        assert response.status == 502
        text = await response.text()
    assert "closed the connection before answering" in text and "crashed" in text
    assert "kept-alive" not in text
    assert len(backend.requests) == 2
    # It answered HTTP on that connection: not asked for a TLS handshake besides.
    assert backend.connections == 1


@pytest.mark.parametrize("said", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
], ids=["two-lengths", "bad-field-name"])
async def test_an_http_response_that_breaks_the_rules_is_not_probed_for_tls(
        raw_backend, proxy_factory, client, said: bytes):
    # It came from an HTTP server: asking the port for a TLS handshake as well (for an
    # https server behind an http:// target) cost each such 502 a second and an extra
    # connection that the backend logs as garbage.
    backend = await raw_backend(answer(said))
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/") as response:
        assert response.status == 502
        assert "speaks HTTPS" not in await response.text()
    assert backend.connections == 1


async def test_interim_responses_are_read_past(raw_backend, proxy_factory, client):
    backend = await raw_backend(answer(
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 100 Continue\r\n\r\n" + OK))
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/") as response:
        assert response.status == 200 and await response.read() == b"ok"


INTERIM_THEN_OK = (b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                   b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello")


@pytest.mark.parametrize("cuts", [
    (),  # all in one read
    (len(INTERIM_THEN_OK) - 5,),  # the body after the head
    (40, 41, 42),  # through the interim head's blank line
    (44, 50),  # inside the final status line
    (len(INTERIM_THEN_OK) - 8, len(INTERIM_THEN_OK) - 6),  # through the final blank line
    tuple(range(1, len(INTERIM_THEN_OK))),  # a byte at a time
])
async def test_a_head_arriving_in_pieces_is_read_the_same(raw_backend, proxy_factory, client,
                                                          cuts: tuple[int, ...]):
    async def script(reader: Any, writer: asyncio.StreamWriter, n: int) -> None:
        for start, stop in zip((0, *cuts), (*cuts, len(INTERIM_THEN_OK)), strict=True):
            writer.write(INTERIM_THEN_OK[start:stop])
            await writer.drain()
            await asyncio.sleep(0.002)  # a read each, most of the time

    backend = await raw_backend(script)
    proxy = await proxy_factory(route("/", backend.url))
    for _ in range(2):  # and the connection is fit for the next request
        async with client.get(proxy.url + "/") as response:
            assert response.status == 200 and response.headers["X-A"] == "1"
            assert await response.read() == b"hello"
    assert backend.connections == 1


async def test_a_chunked_body_with_trailers_arrives_whole(raw_backend, proxy_factory, client):
    backend = await raw_backend(answer(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Checksum: 1\r\n\r\n"))
    proxy = await proxy_factory(route("/", backend.url))
    for _ in range(2):  # and the connection is fit for the next request
        async with client.get(proxy.url + "/") as response:
            assert await response.read() == b"abcdefg"
    assert backend.connections == 1


async def test_a_body_that_ends_with_the_connection_arrives_whole(raw_backend, proxy_factory,
                                                                 client):
    async def script(reader: Any, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        for part in (b"one ", b"two ", b"three"):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.close()

    backend = await raw_backend(script)
    proxy = await proxy_factory(route("/", backend.url))
    for _ in range(2):
        async with client.get(proxy.url + "/") as response:
            assert await response.read() == b"one two three"
    assert backend.connections == 2


@pytest.mark.parametrize("version", [b"HTTP/1.0", b"HTTP/1.1"])
async def test_a_body_that_ends_with_a_reset_arrives_cut_off(raw_backend, proxy_factory,
                                                            client, caplog, version):
    # RFC 9112 §8: a close-delimited body is complete only if the connection closed
    # cleanly. A reset mid-body must reach the browser as a truncated response (as a
    # direct connection would be), not a complete-looking 200 of half a JSON document.
    async def script(reader: Any, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(version + b" 200 OK\r\nContent-Type: application/json\r\n"
                     b"Connection: close\r\n\r\n")
        writer.write(b'{"items": [1, 2, 3')
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # a RST, not a FIN

    backend = await raw_backend(script)
    proxy = await proxy_factory(route("/", backend.url))
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        async with client.get(proxy.url + "/") as response:
            assert response.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
    assert any("backend closed the connection" in r.getMessage() for r in caplog.records)
    # The inspector says so too: not a clean 200 in its list.
    async with client.get(proxy.url + "/__devproxy/api/requests") as listed:
        [row] = await listed.json()
    assert row["status"] == 200 and "broke off the response body" in row["error"]


async def test_bytes_beyond_a_response_spoil_only_that_connection(raw_backend, proxy_factory,
                                                                 client):
    backend = await raw_backend(answer(OK + b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"))
    proxy = await proxy_factory(route("/", backend.url))
    for _ in range(3):
        async with client.get(proxy.url + "/") as response:
            assert await response.read() == b"ok"
    assert backend.connections == 3


async def test_bytes_arriving_on_an_idle_connection_close_it(raw_backend, proxy_factory,
                                                             client):
    # A stray head came after the response, apart from it, and its body later: the next
    # request sent on that connection read that body as its answer (a 502).
    first: list[asyncio.StreamWriter] = []

    async def script(reader: Any, writer: asyncio.StreamWriter, n: int) -> None:
        if not first:
            first.append(writer)
            writer.write(OK)
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
        else:  # the stray body first, if this is that connection
            writer.write((b"EVIL" if writer is first[0] else b"") + OK)
        await writer.drain()

    backend = await raw_backend(script)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/") as response:
        assert await response.read() == b"ok"
    await asyncio.sleep(0.3)
    for _ in range(2):
        async with client.get(proxy.url + "/") as response:
            assert response.status == 200 and await response.read() == b"ok"
    assert backend.connections == 2


NOT_HTTP, BROKE_RULES = "an HTTP server on that port", "breaks RFC 9112"


@pytest.mark.parametrize("wire,words,hint", [
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "invalid HTTP response", NOT_HTTP),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", "Content-Length",
     BROKE_RULES),
    (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "invalid field name", BROKE_RULES),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101", BROKE_RULES),
    # Valid HTTP, but a transfer coding no browser takes: not said to break the rules.
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
     "cannot pass other transfer codings on", "Content-Encoding instead"),
    # A head that never ends, and one that does, past the limit, in whatever pieces
    # it comes: one rule (a head completed by its last piece passed at any size).
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 270_000, "larger than 256 KiB", "up to 256 KiB"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 270_000 + b"\r\nContent-Length: 0\r\n\r\n",
     "larger than 256 KiB", "up to 256 KiB"),
])
async def test_a_response_that_is_not_http_gives_502_saying_so(raw_backend, proxy_factory,
                                                              client, wire, words, hint):
    # The hint fits what was wrong: a server that speaks HTTP is not asked whether it does.
    backend = await raw_backend(answer(wire))
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/", headers={"Accept": "text/plain"}) as response:
        assert response.status == 502
        text = await response.text()
    assert words in text and hint in text
    assert (NOT_HTTP in text) is (hint == NOT_HTTP)
    assert (BROKE_RULES in text) is (hint == BROKE_RULES)


@pytest.mark.parametrize("pieces", [1, 4, 64])
async def test_a_big_head_under_the_limit_passes_in_any_pieces(raw_backend, proxy_factory,
                                                               client, pieces: int):
    # 40 Set-Cookie fields of 4 KB (a JWT each): 160 KB, which Chromium reads directly.
    cookies = b"".join(b"Set-Cookie: c%d=%s\r\n" % (n, b"v" * 4000) for n in range(40))
    wire = b"HTTP/1.1 200 OK\r\n" + cookies + b"Content-Length: 2\r\n\r\nok"

    async def script(reader: Any, writer: asyncio.StreamWriter, n: int) -> None:
        step = -(-len(wire) // pieces)
        for at in range(0, len(wire), step):
            writer.write(wire[at:at + step])
            await writer.drain()
            await asyncio.sleep(0.001)

    backend = await raw_backend(script)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/") as response:
        assert response.status == 200 and await response.read() == b"ok"
        assert len(response.headers.getall("Set-Cookie")) == 40


async def test_bytes_that_are_no_response_then_a_close_are_named_and_no_outage(
        raw_backend, proxy_factory, client, caplog):
    # Next.js refuses a WebSocket from an origin it does not know with a bare
    # "Unauthorized" and a close: a backend that is up, not one that crashed.
    async def script(reader: Any, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"Unauthorized" if n == 1 else OK)
        await writer.drain()
        if n == 1:
            writer.close()

    backend = await raw_backend(script)
    proxy = await proxy_factory(route("/", backend.url))
    with caplog.at_level(logging.INFO, logger="devproxy"):
        async with client.get(proxy.url + "/") as response:
            assert response.status == 502
            text = await response.text()
        assert "sent an invalid HTTP response: 'Unauthorized', then it closed" in text
        assert "crashed" not in text
        async with client.get(proxy.url + "/") as response:
            assert await response.read() == b"ok"
    assert not any("answering again" in r.getMessage() for r in caplog.records)


async def test_an_empty_post_says_its_length_and_a_chunked_upload_stays_chunked(
        raw_backend, proxy_factory, client):
    bodies: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     n: int) -> None:
        bodies.append(await reader.readuntil(b"0\r\n\r\n") if n == 2 else b"")
        writer.write(OK)

    backend = await raw_backend(script)
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"POST / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await reader.readuntil(b"ok")

    async def parts() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"def"

    async with client.post(proxy.url + "/", data=parts()) as response:
        assert await response.read() == b"ok"
    writer.close()
    first, second = backend.requests
    assert b"Content-Length: 0\r\n" in first
    assert b"Transfer-Encoding: chunked\r\n" in second and b"Content-Length" not in second
    assert bodies[1].endswith(b"0\r\n\r\n") and b"abc" in bodies[1] and b"def" in bodies[1]


async def test_upstream_connections_caps_connections_per_target(raw_backend, proxy_factory,
                                                               client):
    async def slow(reader: Any, writer: asyncio.StreamWriter, n: int) -> None:
        await asyncio.sleep(0.05)
        writer.write(OK)

    backend = await raw_backend(slow)
    proxy = await proxy_factory(route("/", backend.url),
                                limits=Limits(upstream_connections=2))

    async def one() -> bytes:
        async with client.get(proxy.url + "/") as response:
            return await response.read()

    assert await asyncio.gather(*(one() for _ in range(8))) == [b"ok"] * 8
    assert backend.most_open == 2


async def test_a_request_that_never_got_a_connection_says_so_not_that_the_backend_hung(
        backend_factory, proxy_factory, client):
    # Two open event streams hold both places: the third request waits, then gets a 504
    # naming the cap, not "sent no response headers" about a backend it never reached.
    release = asyncio.Event()
    reached: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        reached.append(request.path)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: open\n\n")
        await release.wait()
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url, timeout={"connect": 0.2,
                                                                 "response": 0.3}),
                                limits=Limits(upstream_connections=2))
    streams = [await client.get(proxy.url + f"/events{i}") for i in range(2)]
    try:
        for stream in streams:
            assert await stream.content.readline() == b"data: open\n"
        async with client.get(proxy.url + "/api/items") as resp:
            assert resp.status == 504
            problem = await resp.json(content_type=None)
    finally:
        release.set()
        for stream in streams:
            stream.close()
    assert problem["title"] == "All connections to the backend busy"
    assert "all 2 connections" in problem["detail"] and "never sent" in problem["detail"]
    assert "limits.upstream_connections" in problem["hint"]
    assert reached == ["/events0", "/events1"]


async def _stalled_post(port: int, length: int, sent: bytes
                        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A POST of ``length`` body bytes of which only ``sent`` came: the browser stalls."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: {length}\r\n"
                 f"Connection: close\r\n\r\n".encode() + sent)
    await writer.drain()
    return reader, writer


async def test_a_stalled_small_upload_holds_no_backend_connection(
        backend_factory, proxy_factory, client):
    # A body up to 64 KiB goes whole with its head: it was read once a connection was
    # taken, so two browsers stalling mid-body held both places for good, and every other
    # request got a 504, while the backend never saw either POST.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url, timeout={"connect": 0.2,
                                                                 "response": 0.3}),
                                limits=Limits(upstream_connections=2))
    stalled = [await _stalled_post(proxy.port, 100, b"partial") for _ in range(2)]
    try:
        await asyncio.sleep(0.2)  # both heads read, both bodies waited for
        async with client.get(proxy.url + "/api/items") as resp:
            assert resp.status == 200, await resp.text()
        for _, writer in stalled:
            writer.write(b"x" * 93)
        replies = [await asyncio.wait_for(reader.read(), 5) for reader, _ in stalled]
    finally:
        for _, writer in stalled:
            writer.close()
    assert all(reply.startswith(b"HTTP/1.1 200") for reply in replies), replies
    assert [(s.method, s.body) for s in backend.recorder.seen] \
        == [("GET", b"")] + [("POST", b"partial" + b"x" * 93)] * 2


async def test_places_held_by_uploads_are_said_to_be_not_streams(
        backend_factory, proxy_factory, client):
    # A body over 64 KiB goes on as it comes, so a stalled one keeps its connection; the
    # 504 blamed "open streams (SSE, long polls)" for it.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url, timeout={"connect": 0.2,
                                                                 "response": 0.3}),
                                limits=Limits(upstream_connections=2))
    stalled = [await _stalled_post(proxy.port, 100_000, b"partial") for _ in range(2)]
    try:
        await asyncio.sleep(0.2)
        async with client.get(proxy.url + "/api/items") as resp:
            assert resp.status == 504
            problem = await resp.json(content_type=None)
    finally:
        for _, writer in stalled:
            writer.close()
    assert "each still carried an upload from the browser" in problem["hint"], problem
    assert "streams" not in problem["hint"]


@pytest.mark.parametrize(("reply", "status", "body"), [
    # Identical lengths are one length (RFC 9110 §8.6): passed on as they came, aiohttp
    # answered the browser 500 "Server got itself in trouble".
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", 200, b"ok"),
    # A transfer coding devproxy cannot pass on is a 502 that says so, not gzip bytes
    # handed to the browser as the body.
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
     502, b"Invalid response from backend"),
])
async def test_odd_framing_from_a_backend(raw_backend, proxy_factory, client, reply: bytes,
                                          status: int, body: bytes) -> None:
    backend = await raw_backend(answer(reply))
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/") as resp:
        assert resp.status == status
        assert body in await resp.read()


async def test_idle_connections_are_let_go_after_the_idle_timeout(raw_backend):
    backend = await raw_backend(answer(OK))
    target = parse_target(backend.url)
    pool = Pool(per_target=4, idle_timeout=0.1)
    conn = await pool.acquire(target, secure=True, connect_timeout=1, wait_timeout=1)
    conn.begin("GET", 5)
    conn.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await conn.head()
    assert conn.body_ready() and conn.take_all() == b"ok"
    pool.release(conn)
    assert pool.idle_count() == 1
    await asyncio.sleep(0.3)
    assert pool.idle_count() == 0 and conn.closed
    await pool.close()


async def test_a_refused_connection_is_an_upstream_error_and_frees_its_place(unused_tcp_port):
    pool = Pool(per_target=1)
    target = parse_target(f"http://127.0.0.1:{unused_tcp_port}")
    for _ in range(2):  # the failed attempt does not hold the only place
        with pytest.raises(UpstreamError) as caught:
            await pool.acquire(target, secure=True, connect_timeout=1, wait_timeout=1)
        assert caught.value.kind == "refused"
    await pool.close()


async def test_the_response_timeout_holds_after_a_slow_small_body(raw_backend, proxy_factory):
    async def silent(reader: asyncio.StreamReader, writer: Any, n: int) -> None:
        await reader.readexactly(10)
        await asyncio.sleep(10)  # never answers

    backend = await raw_backend(silent)
    proxy = await proxy_factory(route("/", backend.url, timeout={"connect": 1, "response": 0.3}))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n")
    await asyncio.sleep(0.5)  # the pool's tick has seen nothing to time by now
    writer.write(b"0123456789")
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 504") and loop.time() - started < 1.5


async def test_a_connection_reused_after_a_body_past_the_high_water_mark_still_reads(
        raw_backend):
    # The read that took a body past 256 KiB paused reading and also completed it: taken
    # whole, the connection went back to the pool paused, and the next request hung.
    big = b"x" * 270_000

    async def answer_both(reader: asyncio.StreamReader, writer: Any, n: int) -> None:
        body = big if n % 2 else b"small"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    backend = await raw_backend(answer_both)
    target = parse_target(backend.url)
    pool = Pool(per_target=1)
    async with asyncio.timeout(10):
        for expected in (big, b"small", big, b"small"):
            conn = await pool.acquire(target, secure=True, connect_timeout=1, wait_timeout=1)
            conn.begin("GET", 5)
            conn.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await conn.head()
            for _ in range(100):  # every byte read, as the body of a quick backend is
                if conn.body_ready():
                    break
                await asyncio.sleep(0.01)
            assert conn.body_ready() and conn.take_all() == expected
            pool.release(conn)
    assert backend.connections == 1
    await pool.close()
