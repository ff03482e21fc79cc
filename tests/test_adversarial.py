"""Hostile and broken traffic over real sockets: what is refused, what reaches the
backend, and that the next ordinary request still works.

Raw sockets throughout, because aiohttp's client cannot produce most of these bytes.
Each case asserts the status devproxy answers, what the recording backend received
(usually nothing), and then sends a normal request that must be served.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from devproxy.app import HALF_CLOSE_GRACE
from devproxy.config import MAX_INSPECTOR, MAX_LIMITS, Inspector, Limits
from devproxy.router import RouteTable
from devproxy.screen import normalise, origin_form, path_refusal, target_refusal

from .conftest import Backend, Proxy, hanging, route
from .conftest import raw_exchange as exchange

NORMAL = b"GET /api/ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


@dataclass
class Setup:
    proxy: Proxy
    backend: Backend
    secret: bytes


@pytest.fixture
async def setup(backend_factory: Any, proxy_factory: Any, tmp_path: Path
                ) -> AsyncIterator[Setup]:
    root = tmp_path / "public"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "sub" / "a.txt").write_text("a")
    (root / ".env").write_text("SECRET=in-root")
    secret = b"TOP-SECRET-OUTSIDE"
    (tmp_path / "secret.txt").write_bytes(secret)
    (root / "link").symlink_to(tmp_path / "secret.txt")
    backend = await backend_factory()
    proxy = await proxy_factory(
        route("/api", backend.url), route("/v", backend.url + "/v1", strip_prefix=True),
        route("/static", static=root), route("/", backend.url),
        allowed_hosts=("myapp.test", "*.corp.test"),
    )
    yield Setup(proxy, backend, secret)


def status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


async def still_serves(s: Setup) -> None:
    before = len(s.backend.recorder.seen)
    reply = await exchange(s.proxy.port, NORMAL)
    assert status(reply) == 200, reply[:200]
    assert len(s.backend.recorder.seen) == before + 1


def req(target: str = "/api/x", headers: str = "Host: localhost\r\n", method: str = "GET",
        body: bytes = b"", version: str = "HTTP/1.1") -> bytes:
    return (f"{method} {target} {version}\r\n{headers}Connection: close\r\n\r\n".encode()
            + body)


# -- refused before the backend: (id, bytes, status) ---------------------------------

MALFORMED = [
    ("garbage-request-line", b"GARBAGE\r\n\r\n", 400),
    ("bad-method-char", b"G@T /api/x HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
    # RFC 9110 §15.6.2; aiohttp's C parser reads only the methods llhttp knows.
    ("unknown-method", b"FOO /api/x HTTP/1.1\r\nHost: localhost\r\n\r\n", 501),
    ("http-0.9", b"GET /api/x\r\n\r\n", 400),
    ("bad-version", b"GET /api/x HTTP/1.x\r\nHost: localhost\r\n\r\n", 400),
    # RFC 9110 §15.6.6; answered in HTTP/1.1, not in a status line saying 2.0.
    ("http-2.0-request-line", req(version="HTTP/2.0"), 505),
    ("h2c-prior-knowledge-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("missing-host-1.1", b"GET /api/x HTTP/1.1\r\n\r\n", 400),
    ("duplicate-host", req(headers="Host: localhost\r\nHost: evil.test\r\n"), 400),
    ("header-without-colon", req(headers="Host: localhost\r\nNoColon\r\n"), 400),
    ("space-before-colon", req(headers="Host: localhost\r\nX-A : b\r\n"), 400),
    ("nul-in-header-value", req(headers="Host: localhost\r\nX-A: b\x00c\r\n"), 400),
    ("lf-only-line-endings", b"GET /api/x HTTP/1.1\nHost: localhost\n\n", 400),
    # RFC 9112 §3.2: a Host that is not host[:port] is a 400, never forwarded.
    ("host-with-path", req(headers="Host: localhost:8080/evil\r\n"), 400),
    ("host-two-ports", req(headers="Host: localhost:8080:80\r\n"), 400),
    ("host-port-not-digits", req(headers="Host: localhost:abc\r\n"), 400),
    ("host-after-ip-literal", req(headers="Host: [::1]evil.com\r\n"), 400),
    ("host-unclosed-bracket", req(headers="Host: [::1\r\n"), 400),
    ("host-ipv4-in-brackets", req(headers="Host: [127.0.0.1]\r\n"), 400),
]

SMUGGLING = [
    ("te-in-http-1.0", req(method="POST", version="HTTP/1.0", headers="Host: localhost\r\n"
                           "Transfer-Encoding: chunked\r\n", body=b"0\r\n\r\n"), 400),
    ("cl-and-te", req(method="POST", headers="Host: localhost\r\nContent-Length: 5\r\n"
                      "Transfer-Encoding: chunked\r\n", body=b"0\r\n\r\n"), 400),
    ("te-and-cl", req(method="POST", headers="Host: localhost\r\nTransfer-Encoding: "
                      "chunked\r\nContent-Length: 5\r\n", body=b"0\r\n\r\n"), 400),
    ("duplicate-cl-same", req(method="POST", headers="Host: localhost\r\nContent-Length: "
                              "1\r\nContent-Length: 1\r\n", body=b"x"), 400),
    ("duplicate-cl-different", req(method="POST", headers="Host: localhost\r\n"
                                   "Content-Length: 1\r\nContent-Length: 2\r\n",
                                   body=b"xx"), 400),
    ("cl-list", req(method="POST", headers="Host: localhost\r\nContent-Length: 1, 1\r\n",
                    body=b"x"), 400),
    ("cl-plus-sign", req(method="POST", headers="Host: localhost\r\nContent-Length: +1\r\n",
                         body=b"x"), 400),
    ("te-gzip-chunked", req(method="POST", headers="Host: localhost\r\nTransfer-Encoding: "
                            "gzip, chunked\r\n", body=b"0\r\n\r\n"), 501),
    ("te-twice", req(method="POST", headers="Host: localhost\r\nTransfer-Encoding: chunked"
                     "\r\nTransfer-Encoding: chunked\r\n", body=b"0\r\n\r\n"), 400),
    ("te-space-before-colon", req(method="POST", headers="Host: localhost\r\n"
                                  "Transfer-Encoding : chunked\r\n", body=b"0\r\n\r\n"), 400),
    ("obs-fold", req(headers="Host: localhost\r\nX-A: b\r\n c\r\n"), 400),
    ("bare-lf-in-value", b"GET /api/x HTTP/1.1\r\nHost: localhost\r\nX-A: b\nX-B: c\r\n\r\n",
     400),
    ("bare-cr-in-value", b"GET /api/x HTTP/1.1\r\nHost: localhost\r\nX-A: b\rc\r\n\r\n", 400),
    ("bad-chunk-size", req(method="POST", headers="Host: localhost\r\nTransfer-Encoding: "
                           "chunked\r\n", body=b"zz\r\nx\r\n0\r\n\r\n"), 400),
]

HOSTS = [
    ("foreign-host", req(headers="Host: evil.test\r\n"), 403),
    ("foreign-host-with-port", req(headers="Host: evil.test:8080\r\n"), 403),
    ("rebinding-lookalike", req(headers="Host: localhost.evil.test\r\n"), 403),
    ("ip-lookalike-name", req(headers="Host: 127.0.0.1.evil.test\r\n"), 403),
    ("suffix-trick", req(headers="Host: notcorp.test\r\n"), 403),
    ("foreign-host-websocket", req(headers="Host: evil.test\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Key: "
                                   "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"),
     403),
    ("foreign-host-on-reserved-prefix", req("/__devproxy/", headers="Host: evil.test\r\n"),
     403),
    # RFC 9110 §4.2.1: an empty host is invalid, not a foreign name to allow.
    ("empty-host", req(headers="Host: \r\n"), 400),
    ("empty-host-with-port", req(headers="Host: :8080\r\n"), 400),
]

OPEN_PROXY = [
    # The absolute-form is served, for its authority (RFC 9112 §3.2.2): a foreign one
    # meets the Host allowlist, whatever the Host field says.
    ("absolute-form-http", req("http://example.com/", headers="Host: localhost\r\n"), 403),
    ("absolute-form-https", req("https://example.com:443/x", headers="Host: localhost\r\n"),
     403),
    ("absolute-form-user-info", req("http://evil.test@localhost/api/a",
                                    headers="Host: localhost\r\n"), 400),
    ("absolute-form-other-scheme", req("ftp://localhost/api/a",
                                       headers="Host: localhost\r\n"), 400),
    ("absolute-form-smuggles-a-path", req("http://localhost/api/../admin",
                                          headers="Host: localhost\r\n"), 400),
    ("connect", req("example.com:443", method="CONNECT",
                    headers="Host: example.com:443\r\n"), 501),
    ("asterisk-form", req("*", method="OPTIONS"), 400),
]

PATHS = [
    ("encoded-slash-across-route-boundary", req("/api%2fadmin"), 400),
    ("encoded-slash-into-route", req("/x%2f..%2fapi/a"), 400),
    ("encoded-dotdot-out-of-route", req("/api/%2e%2e/admin"), 400),
    ("mixed-encoded-dotdot", req("/api/.%2e/admin"), 400),
    ("dotdot-into-another-route", req("/x/../api/a"), 400),
    # Tomcat and Spring read a dot segment with path parameters as the dot segment.
    ("dotdot-with-parameters-out-of-route", req("/api/..;/admin"), 400),
    ("encoded-dotdot-with-parameters", req("/api/%2e%2e;x/admin"), 400),
    ("dotdot-climbing-out-of-base-path", req("/v/../../etc/passwd"), 400),
    ("dotdot-within-route-then-out", req("/v/a/../../admin"), 400),
    ("backslash", req("/api\\..\\admin"), 400),
    ("literal-fragment", req("/api/x#frag"), 400),
    ("encoded-lf", req("/api/a%0Ab"), 400),
    ("encoded-cr", req("/api/a%0db"), 400),
    ("encoded-nul", req("/api/a%00b"), 400),
    ("encoded-lf-before-a-query", req("/api/a%0A?q=1"), 400),
    ("reserved-prefix-unknown", req("/__devproxy/api/nothing"), 404),
    ("inspector-change-from-another-site", req("/__devproxy/api/clear", method="POST",
     headers="Host: localhost\r\nOrigin: http://evil.test\r\nContent-Length: 0\r\n"), 403),
]

REFUSED = MALFORMED + SMUGGLING + HOSTS + OPEN_PROXY + PATHS


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
async def test_refused_before_reaching_the_backend(setup: Setup, data: bytes,
                                                   expected: int) -> None:
    reply = await exchange(setup.proxy.port, data)
    assert status(reply) == expected, reply[:300]
    # RFC 9110 §6.2: in a version devproxy speaks, whatever the request line said.
    assert reply.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), reply[:100]
    assert setup.backend.recorder.seen == []
    await still_serves(setup)


# -- allowed through, exactly as sent --------------------------------------------------

ALLOWED = [
    ("localhost-with-port", "Host: localhost:1234\r\n", "/api/x"),
    ("localhost-trailing-dot", "Host: localhost.\r\n", "/api/x"),
    ("dot-localhost", "Host: app.localhost\r\n", "/api/x"),
    ("ipv6-loopback", "Host: [::1]:8080\r\n", "/api/x"),
    # An IP address is no rebinding: the page was loaded from it (a phone on the LAN).
    ("other-loopback-ip", "Host: 127.0.0.2\r\n", "/api/x"),
    ("lan-ip", "Host: 192.168.1.5:8080\r\n", "/api/x"),
    ("ipv6-lan-ip", "Host: [fd00::1]:8080\r\n", "/api/x"),
    ("listed-host", "Host: myapp.test\r\n", "/api/x"),
    ("listed-wildcard", "Host: a.b.corp.test\r\n", "/api/x"),
    ("encoded-slash-inside-route", "Host: localhost\r\n", "/api/files/a%2Fb"),
    ("dotdot-staying-in-route", "Host: localhost\r\n", "/api/a/../b"),
    ("encoded-space", "Host: localhost\r\n", "/api/hello%20world"),
    ("vite-query-token", "Host: localhost\r\n", "/?token=a%2Fb&x=..%2F"),
    ("dotfile-like-name", "Host: localhost\r\n", "/api/.well-known/x"),
    # A GraphQL GET's or a textarea's line breaks, and a Windows path, in the query.
    ("encoded-newlines-in-query", "Host: localhost\r\n",
     "/api/graphql?query=query%20Me%20%7B%0A%20%20me%0D%0A%7D&nul=%00"),
    ("backslash-in-query", "Host: localhost\r\n", "/api/x?path=C:\\tmp"),
]


@pytest.mark.parametrize(("headers", "target"), [c[1:] for c in ALLOWED],
                         ids=[c[0] for c in ALLOWED])
async def test_allowed_and_forwarded_byte_for_byte(setup: Setup, headers: str,
                                                   target: str) -> None:
    reply = await exchange(setup.proxy.port, req(target, headers=headers))
    assert status(reply) == 200, reply[:300]
    assert setup.backend.recorder.last.raw_path == target


async def test_http_1_0_without_host_is_served(setup: Setup) -> None:
    reply = await exchange(setup.proxy.port, b"GET /api/x HTTP/1.0\r\n\r\n")
    assert status(reply) == 200
    assert setup.backend.recorder.last.raw_path == "/api/x"


# -- static traversal: at least 25 encodings, none may leave the folder -----------------

TRAVERSAL = [
    "/static/../secret.txt", "/static/..%2fsecret.txt", "/static/..%2Fsecret.txt",
    "/static/%2e%2e/secret.txt", "/static/%2E%2E/secret.txt", "/static/%2e%2e%2fsecret.txt",
    "/static/.%2e/secret.txt", "/static/%2e./secret.txt", "/static/..%5csecret.txt",
    "/static/..%5Csecret.txt", "/static/%252e%252e/secret.txt", "/static/..%252fsecret.txt",
    "/static/%c0%ae%c0%ae/secret.txt", "/static/%c0%af../secret.txt",
    "/static/..%c0%afsecret.txt", "/static/%e0%80%ae%e0%80%ae/secret.txt",
    "/static/sub/../../secret.txt", "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static//../secret.txt", "/static/./../secret.txt", "/static/..;/secret.txt",
    "/static/%2e%2e;/secret.txt", "/static/link", "/static/link/", "/static/.env",
    "/static/%2eenv", "/static/sub/..%2f.env", "/static/secret.txt%00.html",
    "/static/..%00/secret.txt", "/static/%u002e%u002e/secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSAL)
async def test_static_never_leaves_its_folder(setup: Setup, target: str) -> None:
    reply = await exchange(setup.proxy.port, req(target))
    assert status(reply) in (400, 403, 404), reply[:300]
    assert setup.secret not in reply and b"SECRET=in-root" not in reply
    assert setup.backend.recorder.seen == []  # not handed to the "/" route either
    reply = await exchange(setup.proxy.port, req("/static/sub/a.txt"))
    assert status(reply) == 200 and reply.endswith(b"a")


async def test_a_directory_is_never_listed(setup: Setup) -> None:
    reply = await exchange(setup.proxy.port, req("/static/sub/"))
    assert status(reply) == 404
    assert b"a.txt" not in reply


# -- hop-by-hop abuse --------------------------------------------------------------------

async def test_connection_naming_x_forwarded_for_cannot_strip_devproxys_own(
        setup: Setup) -> None:
    reply = await exchange(setup.proxy.port, req(headers=(
        "Host: localhost\r\nX-Forwarded-For: 6.6.6.6\r\n"
        "Connection: close, X-Forwarded-For, X-Forwarded-Host\r\n")))
    assert status(reply) == 200
    seen = setup.backend.recorder.last.headers
    assert seen["X-Forwarded-For"] == "127.0.0.1"  # the spoofed hop is dropped too
    assert seen["X-Forwarded-Host"] == "localhost"


@pytest.mark.parametrize("size", [64, 70_000], ids=["sent-with-the-head", "streamed"])
async def test_connection_naming_content_length_cannot_unframe_the_body(
        setup: Setup, size: int) -> None:
    # Dropped as hop-by-hop, the browser's Content-Length left the body unframed upstream:
    # the backend read it as a second request of the sender's making, and its answer
    # queued on the pooled connection for the next client (request smuggling).
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"
    body = smuggled + b"x" * (size - len(smuggled))
    reply = await exchange(setup.proxy.port, (
        f"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nConnection: close, Content-Length\r\n"
        f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    assert status(reply) == 200
    [seen] = setup.backend.recorder.seen  # one request, never a second
    assert (seen.method, seen.body) == ("POST", body)
    assert seen.headers["Content-Length"] == str(len(body))


async def test_h2c_upgrade_is_not_passed_to_the_backend(setup: Setup) -> None:
    # h2c smuggling: a backend that accepts the upgrade would get a tunnel past the proxy.
    reply = await exchange(setup.proxy.port, req(headers=(
        "Host: localhost\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
        "Connection: Upgrade, HTTP2-Settings\r\n")))
    assert status(reply) == 200
    seen = setup.backend.recorder.last.headers
    assert "Upgrade" not in seen and "HTTP2-Settings" not in seen


async def test_te_trailers_and_keep_alive_are_not_forwarded(setup: Setup) -> None:
    reply = await exchange(setup.proxy.port, req(headers=(
        "Host: localhost\r\nTE: trailers\r\nKeep-Alive: timeout=999\r\nProxy-Connection: x\r\n"
    )))
    assert status(reply) == 200
    seen = setup.backend.recorder.last.headers
    assert not {"TE", "Keep-Alive", "Proxy-Connection"} & set(seen.keys())


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "after-the-answer"])
@pytest.mark.parametrize("path", ["/api/up", "/static/index.html", "/__devproxy/api/clear"],
                         ids=["relayed", "file", "inspector"])
async def test_a_chunked_bodys_trailer_never_reaches_the_next_request(
        setup: Setup, path: str, pipelined: bool) -> None:
    # aiohttp's parser carries a chunked body's last trailer field into the next
    # request's header section (RFC 9112 §7.1.2: never merged): devproxy reads no
    # request after one with a chunked body, whoever answers it, and says so.
    first = (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
             "\r\n3\r\nabc\r\n0\r\nAuthorization: Bearer from-trailer\r\n\r\n").encode()
    second = b"GET /api/next HTTP/1.1\r\nHost: localhost\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", setup.proxy.port)
    try:
        writer.write(first + second if pipelined else first)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        if not pipelined:
            writer.write(second)
        rest = await asyncio.wait_for(reader.read(), 5)  # until devproxy closes
    finally:
        writer.close()
    assert b"\r\nconnection: close\r\n" in head.lower()
    assert b"HTTP/1.1 " not in rest  # the first answer only
    seen = setup.backend.recorder.seen
    if path == "/api/up":
        assert status(head) == 200
        assert [r.raw_path for r in seen] == ["/api/up"] and seen[0].body == b"abc"
        assert "Authorization" not in seen[0].headers
    else:  # a file takes no POST; the inspector's clear wants the page's own Origin
        assert status(head) == (405 if path.startswith("/static") else 403) and seen == []
    await still_serves(setup)


@pytest.mark.parametrize("pipelined", [False, True], ids=["one", "pipelined"])
@pytest.mark.parametrize("path", ["/api/x", "/static/index.html", "/__devproxy/api/status"],
                         ids=["relayed", "file", "inspector"])
async def test_a_client_that_half_closes_after_its_requests_gets_their_answers(
        setup: Setup, path: str, pipelined: bool) -> None:
    # printf '...' | nc -N and socat send, then shut their sending side: aiohttp closed
    # the connection at that FIN, so nothing was answered (a relayed request logged 499).
    reader, writer = await asyncio.open_connection("127.0.0.1", setup.proxy.port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        if pipelined:
            writer.write(b"GET /api/next HTTP/1.1\r\nHost: localhost\r\n\r\n")
        writer.write_eof()
        reply = await asyncio.wait_for(reader.read(), 5)  # until devproxy closes
    finally:
        writer.close()
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:300]
    assert reply.count(b"HTTP/1.1 200 ") == 1 + pipelined
    if pipelined:
        assert b"\r\nConnection: close\r\n" in reply.rpartition(b"HTTP/1.1 200 ")[2]
    relayed = ["/api/x"] if path == "/api/x" else []
    assert [r.raw_path for r in setup.backend.recorder.seen] \
        == relayed + ["/api/next"] * pipelined


async def test_a_request_whose_client_left_before_its_answer_began_is_cancelled(
        backend_factory: Any, proxy_factory: Any) -> None:
    # A browser that goes away sends the same FIN as a client that half-closes: past
    # HALF_CLOSE_GRACE with no answer begun, its request is cancelled, the backend's
    # connection freed, as when aiohttp closed at once.
    cancelled = asyncio.Event()
    backend = await backend_factory(hanging(cancelled))
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        writer.write(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
        writer.write_eof()
        async with asyncio.timeout(HALF_CLOSE_GRACE + 2):
            assert await reader.read() == b""  # closed, unanswered
            await cancelled.wait()
    finally:
        writer.close()


# -- limits -------------------------------------------------------------------------------

@pytest.fixture
async def limited(backend_factory: Any, proxy_factory: Any) -> Setup:
    backend = await backend_factory()
    limits = Limits(header_size=4096, headers=20, header_timeout=0.5, idle_timeout=2)
    proxy = await proxy_factory(route("/", backend.url), limits=limits)
    return Setup(proxy, backend, b"")


@pytest.mark.parametrize(("data", "expected", "setting"), [
    pytest.param(req(headers="Host: localhost\r\nCookie: " + "a=b; " * 1000 + "\r\n"),
                 431, "limits.header_size (4096 bytes)", id="header-field-too-large"),
    pytest.param(req(headers="Host: localhost\r\n" + "".join(
        f"X-H{i}: v\r\n" for i in range(30))), 431, "limits.headers (20)",
        id="too-many-headers"),
    pytest.param(req("/" + "a" * 5000), 414, "limits.header_size (4096 bytes)",
                 id="request-line-too-long"),
    # Past what the parser reads (4 times the size, twice the count): its own refusal.
    pytest.param(req("/" + "a" * 20000), 414, "limits.header_size (4096 bytes)",
                 id="request-line-past-the-parsers-cap"),
    pytest.param(req(headers="Host: localhost\r\n" + "".join(
        f"X-H{i}: v\r\n" for i in range(50))), 431, "limits.headers (20)",
        id="fields-past-the-parsers-cap"),
])
async def test_oversized_requests_get_the_status_and_the_setting_to_raise(
        limited: Setup, data: bytes, expected: int, setting: str) -> None:
    # RFC 9112 §3 (414) and RFC 6585 §5 (431), in HTTP/1.1, not aiohttp's HTTP/1.0 400
    # with a Python repr of the bytes.
    reply = await exchange(limited.proxy.port, data)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % expected), reply[:300]
    assert b"\r\nconnection: close" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == expected and setting in problem["detail"], problem
    assert f"Raise {setting.split()[0]} in devproxy.yaml" in problem["hint"], problem
    assert b"Got more than" not in body
    assert limited.backend.recorder.seen == []
    assert status(await exchange(limited.proxy.port, req("/"))) == 200


@pytest.mark.parametrize("data", [
    pytest.param(b"G@T /api/x HTTP/1.1\r\nHost: localhost\r\n\r\n", id="bad-method-char"),
    pytest.param(req(headers="Host: localhost\r\nX-A : b\r\n"), id="space-before-colon"),
    pytest.param(req(method="POST", headers="Host: localhost\r\nContent-Length: 1\r\n"
                     "Content-Length: 2\r\n", body=b"x"), id="duplicate-cl"),
])
async def test_a_malformed_request_gets_devproxys_answer_saying_what_broke(
        setup: Setup, data: bytes) -> None:
    reply = await exchange(setup.proxy.port, data)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), reply[:300]
    problem = json.loads(body)
    assert problem["title"] == "Malformed request", problem
    detail = problem["detail"]
    assert detail.startswith("devproxy could not read this request: ") and len(detail) > 40
    assert "b'" not in detail and "\n" not in detail  # no repr, no caret drawing
    await still_serves(setup)


async def test_a_target_of_star_suggests_no_request_devproxy_refuses(setup: Setup) -> None:
    # GET * was told to send "OPTIONS * to ask the server itself", which got a 400 that
    # said '*' is no path. OPTIONS * now says why devproxy answers no such request.
    said = json.loads((await exchange(setup.proxy.port, req("*"))).partition(b"\r\n\r\n")[2])
    assert "OPTIONS" not in said["hint"], said
    reply = await exchange(setup.proxy.port, req("*", method="OPTIONS"))
    said = json.loads(reply.partition(b"\r\n\r\n")[2])
    assert status(reply) == 400 and said["title"] == "OPTIONS * not supported", said
    assert "OPTIONS /api/" in said["hint"]
    assert setup.backend.recorder.seen == []


async def test_tls_sent_to_the_plain_port_is_logged_with_what_to_do(
        setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    hello = bytes.fromhex("160301020001 0001fc0303".replace(" ", "")) + bytes(40)
    with caplog.at_level(logging.DEBUG, logger="devproxy"):
        reply = await exchange(setup.proxy.port, hello)
    assert status(reply) == 400
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("spoke TLS (https://) to devproxy's plain-HTTP port" in line
               for line in lines), lines


async def test_headers_under_the_limits_pass(limited: Setup) -> None:
    reply = await exchange(limited.proxy.port, req(headers="Host: localhost\r\nCookie: "
                                                   + "a" * 3000 + "\r\n"))
    assert status(reply) == 200


async def test_slowloris_does_not_stop_a_normal_client_and_is_cut_off(limited: Setup) -> None:
    port = limited.proxy.port
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for _ in range(500):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            held.append((reader, writer))
        loop = asyncio.get_running_loop()
        started = loop.time()
        reply = await exchange(port, req("/"), wait=1.0)
        assert status(reply) == 200
        assert loop.time() - started < 1.0
        async with asyncio.timeout(3):  # header_timeout is 0.5 s
            for reader, _ in held:
                assert await reader.read() == b""  # closed by devproxy, nothing answered
    finally:
        for _, writer in held:
            writer.close()
    assert status(await exchange(port, req("/"))) == 200
    assert len(limited.backend.recorder.seen) == 2


async def test_a_connection_that_sends_nothing_is_closed(limited: Setup) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", limited.proxy.port)
    try:
        async with asyncio.timeout(3):
            assert await reader.read() == b""
    finally:
        writer.close()


async def test_upstream_connections_per_target_are_capped_and_requests_queue(
        backend_factory: Any, proxy_factory: Any) -> None:
    active = 0
    peak = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.1)
        active -= 1
        return web.Response(text="ok")

    backend = await backend_factory(slow)
    proxy = await proxy_factory(route("/", backend.url), limits=Limits(upstream_connections=3))
    replies = await asyncio.gather(*(exchange(proxy.port, req("/")) for _ in range(12)))
    assert all(status(r) == 200 for r in replies)
    assert peak == 3


async def test_the_largest_limits_the_loader_accepts_still_serve(
        backend_factory: Any, proxy_factory: Any) -> None:
    # 10^20 passed `check`, then every connection was reset (OverflowError building the
    # parser): each bound is one `up` can build.
    limits = Limits(**{key: type(getattr(Limits(), key))(high)
                       for key, high in MAX_LIMITS.items()})
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url), limits=limits,
                                inspector=Inspector(**MAX_INSPECTOR))
    assert status(await exchange(proxy.port, req("/x"))) == 200


# -- backend faults: a clear error or a truncated response, never a silent success ------

async def raw_backend(reply: bytes, *, close: bool = True, hang: float = 0.0
                      ) -> tuple[asyncio.Server, int]:
    """A backend that answers every request with ``reply`` bytes, then closes."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if hang:
                await asyncio.sleep(hang)
            writer.write(reply)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if close:
                writer.transport.abort()  # a reset, not a clean FIN

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(("reply", "expected"), [
    pytest.param(b"", 502, id="reset-before-headers"),
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Le", 502, id="reset-mid-headers"),
    pytest.param(b"NOT HTTP AT ALL\r\n\r\n", 502, id="invalid-http"),
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx", 502,
                 id="invalid-content-length"),
])
async def test_backend_failure_before_the_response_is_a_502(proxy_factory: Any, reply: bytes,
                                                             expected: int) -> None:
    server, port = await raw_backend(reply)
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
        answer = await exchange(proxy.port, req("/"))
        assert status(answer) == expected, answer[:300]
    finally:
        server.close()


@pytest.mark.parametrize("reply", [
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part", id="short-body"),
    pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                 id="chunked-without-last-chunk"),
])
async def test_backend_dying_mid_body_is_never_a_complete_response(proxy_factory: Any,
                                                                    reply: bytes) -> None:
    server, port = await raw_backend(reply)
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
        answer = await exchange(proxy.port, req("/"))
        head, _, body = answer.partition(b"\r\n\r\n")
        assert status(answer) == 200
        if b"Content-Length: 100" in head:
            assert len(body) < 100  # the client sees the length was not met
        else:
            assert not body.endswith(b"0\r\n\r\n")  # no terminating chunk
    finally:
        server.close()


async def test_backend_hanging_before_headers_is_a_504(proxy_factory: Any) -> None:
    server, port = await raw_backend(b"HTTP/1.1 200 OK\r\n\r\n", hang=10)
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}",
                                          timeout={"connect": 0.5, "response": 0.3}))
        assert status(await exchange(proxy.port, req("/"))) == 504
    finally:
        server.close()


async def test_a_stale_pooled_connection_is_retried_for_get(proxy_factory: Any) -> None:
    # The backend closes each connection right after answering, without saying so:
    # the pool's connection is dead by the next request.
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    server, port = await raw_backend(reply)
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        try:
            for _ in range(3):
                writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                async with asyncio.timeout(5):
                    head = await reader.readuntil(b"\r\n\r\n")
                    assert head.startswith(b"HTTP/1.1 200")
                    assert await reader.readexactly(2) == b"ok"
        finally:
            writer.close()
    finally:
        server.close()


async def test_wait_for_backend_holds_requests_until_it_is_back(
        proxy_factory: Any, unused_tcp_port: int) -> None:
    proxy = await proxy_factory(route("/", f"http://127.0.0.1:{unused_tcp_port}",
                                      wait_for_backend=5))

    async def start_later() -> asyncio.Server:
        await asyncio.sleep(0.5)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            body = await asyncio.wait_for(reader.readexactly(3), 2)  # the retried body
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\n"
                         b"back " + body[:2])
            await writer.drain()
            writer.close()

        return await asyncio.start_server(serve, "127.0.0.1", unused_tcp_port)

    starting = asyncio.create_task(start_later())
    answer = await exchange(proxy.port, req("/", method="POST",
                                            headers="Host: localhost\r\nContent-Length: 3\r\n",
                                            body=b"abc"))
    server = await starting
    try:
        assert status(answer) == 200 and answer.endswith(b"back ab")
    finally:
        server.close()


async def test_wait_for_backend_gives_up_with_a_502(proxy_factory: Any,
                                                    unused_tcp_port: int) -> None:
    proxy = await proxy_factory(route("/", f"http://127.0.0.1:{unused_tcp_port}",
                                      wait_for_backend=0.3))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert status(await exchange(proxy.port, req("/"))) == 502
    assert 0.2 < loop.time() - started < 2


async def test_a_client_abort_mid_upload_frees_the_backend(backend_factory: Any,
                                                           proxy_factory: Any) -> None:
    finished = asyncio.Event()
    got: list[int] = []

    async def sink(request: web.Request) -> web.Response:
        try:
            got.append(len(await request.read()))
        finally:  # read fails (reset) or the handler is cancelled: either way it ends
            finished.set()
        return web.Response(text="done")

    backend = await backend_factory(sink)
    proxy = await proxy_factory(route("/", backend.url))
    _reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n\r\n"
                 + b"x" * 1000)
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.transport.abort()
    async with asyncio.timeout(5):
        await finished.wait()  # the backend's request ended instead of waiting forever
    assert got == []  # it never saw a complete body
    reply = await exchange(proxy.port, req("/"))
    assert status(reply) == 200


# -- fuzz: any target gives a refusal or a route, never an exception ---------------------

TABLE = RouteTable((route("/api", "http://127.0.0.1:1"), route("/v", "http://127.0.0.1:1/v1",
                                                             strip_prefix=True),
                    route("/café", "http://127.0.0.1:1"), route("/", "http://127.0.0.1:1")))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(list("/.%2eEfFcC5\\#?aA0dD:;")) | st.characters()
                | st.sampled_from(["caf%C3%A9", "café", "%c3%a9"]), max_size=40).map("".join))
def test_any_target_is_routed_or_refused_cleanly(text: str) -> None:
    target = "/" + text
    refused = target_refusal("GET", target, (1, 1), None)
    if refused is None:
        path = target.partition("?")[0]
        verdict = path_refusal(TABLE, path)
        if verdict is None:
            match = TABLE.match(path)
            assert match is not None
            # What is forwarded can't climb out of the route that was chosen.
            prefix = unquote(match.route.path)
            assert normalise(path).startswith(prefix.rstrip("/") + "/") or \
                normalise(path) == prefix or prefix == "/"
        else:
            assert verdict.status == 400
    else:
        assert refused.status in (400, 405, 501)


async def test_only_a_foreign_host_is_logged_with_the_allowed_hosts_hint(
        setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    # A malformed Host is no name to add to allowed_hosts: its 400 gets no such advice.
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        assert status(await exchange(setup.proxy.port,
                                     req(headers="Host: localhost:8080/evil\r\n"))) == 400
        assert status(await exchange(setup.proxy.port, req(headers="Host: evil.test\r\n"))) \
            == 403
    hints = [r.getMessage() for r in caplog.records if "allowed_hosts" in r.getMessage()]
    assert len(hints) == 1 and "'evil.test'" in hints[0]


async def test_a_route_path_written_in_unicode_serves_what_browsers_send(
        backend_factory: Any, proxy_factory: Any) -> None:
    # A browser sends /café as /caf%C3%A9: the route matches it, and its decoded reading
    # is the same route, so it is forwarded, not refused as ambiguous.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/café", backend.url), route("/", backend.url + "/root"))
    assert status(await exchange(proxy.port, req("/caf%C3%A9/x?q=1"))) == 200
    assert backend.recorder.last.raw_path == "/caf%C3%A9/x?q=1"
    # Its escapes in lower case (as curl writes them) are the same path (RFC 3986 §2.1).
    assert status(await exchange(proxy.port, req("/caf%c3%a9/x"))) == 200
    assert backend.recorder.last.raw_path == "/caf%c3%a9/x"
    # Another spelling routes elsewhere raw and here decoded: refused, not guessed.
    assert status(await exchange(proxy.port, req("/%63af%C3%A9/x"))) == 400


@pytest.mark.parametrize(("method", "target", "expected"), [
    ("GET", "http://localhost:5173/api/x?q=1", ("localhost:5173", "/api/x?q=1")),
    ("GET", "HTTPS://[::1]:8080", ("[::1]:8080", "/")),
    ("GET", "http://localhost?q", ("localhost", "/?q")),
    ("GET", "http://localhost#f", ("localhost", "/#f")),  # refused for its '#' later
    ("OPTIONS", "http://localhost", ("localhost", "*")),  # RFC 9112 §3.2.4
    ("OPTIONS", "http://localhost/", ("localhost", "/")),
    ("GET", "http://user@localhost/", None),  # RFC 9110 §4.2.4
    ("GET", "http:///x", None),
    ("GET", "ftp://localhost/", None),
    ("GET", "http:\\\\localhost\\x", None),
    ("GET", "*", None),
    ("GET", "localhost:80", None),
])
def test_origin_form_of_an_absolute_target(method: str, target: str,
                                           expected: tuple[str, str] | None) -> None:
    assert origin_form(method, target) == expected
