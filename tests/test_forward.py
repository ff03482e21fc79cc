"""HTTP forwarding over real loopback sockets: what the backend gets, what the client gets."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import logging
import re
import socket
import struct
import time

import aiohttp
import pytest
from aiohttp import web

from devproxy.config import CorsPolicy, parse_rewrite, parse_target
from devproxy.forward import dump_headers
from devproxy.state import CAPTURES
from devproxy.upstream import Outages

from .conftest import (
    ended_row,
    endless,
    hanging,
    leave_part_way,
    raw_exchange,
    route,
    slow_at,
    taking_no_connection,
)


async def test_every_method_reaches_the_backend_with_its_body(backend_factory, proxy_factory,
                                                               client):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"):
        async with client.request(method, proxy.url + "/x", data=b"body") as resp:
            assert resp.status == 200
            assert (await resp.json())["method"] == method
        assert backend.recorder.last.body == b"body"


async def test_raw_path_and_query_are_forwarded_byte_for_byte(backend_factory, proxy_factory):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    target = b"/a%2Fb//c/./d/%2e%2e/e%20f?x=%20&y=1&y=2&z"
    reply = await raw_exchange(
        proxy.port, b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 200")
    assert backend.recorder.last.raw_path == target.decode()


async def test_a_route_path_escaped_in_lower_case_is_that_route(backend_factory,
                                                               proxy_factory):
    # curl writes /café as /caf%c3%a9, browsers as /caf%C3%A9: one path (RFC 3986 §2.1).
    # It was routed to / and then refused as ambiguous (400).
    cafe, other = await backend_factory(), await backend_factory()
    proxy = await proxy_factory(route("/café", cafe.url, strip_prefix=True),
                                route("/", other.url))
    for target in (b"/caf%c3%a9/x%c3%a9?q=1", b"/caf%C3%A9/x%c3%a9?q=1"):
        reply = await raw_exchange(proxy.port, b"GET " + target + b" HTTP/1.1\r\n"
                                   b"Host: localhost\r\nConnection: close\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert cafe.recorder.last.raw_path == "/x%c3%a9?q=1"  # the rest as it was sent
    assert other.recorder.seen == []


async def test_a_target_base_path_in_utf8_goes_upstream_as_a_browser_writes_it(
        backend_factory, proxy_factory):
    # It went as raw UTF-8 bytes, which Node's http and h11 refuse with a 400.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/n", backend.url + "/bäse", strip_prefix=True))
    reply = await raw_exchange(proxy.port, b"GET /n/x HTTP/1.1\r\nHost: localhost\r\n"
                               b"Connection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert backend.recorder.last.raw_path == "/b%C3%A4se/x"


async def test_a_rewrite_in_utf8_matches_and_writes_the_path_as_sent(
        backend_factory, proxy_factory):
    # Its replacement went upstream as raw UTF-8, and its pattern never matched the
    # path, which holds /bäse as /b%C3%A4se.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/b", backend.url + "/bäse", strip_prefix=True,
                                      rewrite={"^/bäse/old": "/bäse/néw"}))
    reply = await raw_exchange(proxy.port, b"GET /b/old/x HTTP/1.1\r\nHost: localhost\r\n"
                               b"Connection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert backend.recorder.last.raw_path == "/b%C3%A4se/n%C3%A9w/x"


def test_a_rewrite_class_with_a_character_outside_ascii_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'ä' in a \[\.\.\.\] class of '\^/\[äö\]'"):
        parse_rewrite("^/[äö]", "/x")


def test_a_target_host_is_sent_in_its_ascii_form() -> None:
    assert parse_target("http://Bücher.localhost:3000/").host == "xn--bcher-kva.localhost"
    assert parse_target("http://127.0.0.1:3000/a b".replace(" ", "%20")).base_path == "/a%20b"
    assert parse_target("http://h/a%2Fb/<x>").base_path == "/a%2Fb/%3Cx%3E"


async def test_a_query_typed_in_utf8_is_refused_with_how_to_encode_it(backend_factory,
                                                                      proxy_factory):
    # curl sends ?q=café as typed; the parser (llhttp) refuses bytes outside ASCII there.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    reply = await raw_exchange(proxy.port, "GET /x?q=café HTTP/1.1\r\nHost: localhost\r\n"
                               "Accept: application/json\r\nConnection: close\r\n\r\n"
                               .encode())
    assert reply.startswith(b"HTTP/1.1 400")
    problem = json.loads(reply.partition(b"\r\n\r\n")[2])
    assert problem["detail"] == "devproxy could not read this request: Invalid char in url " \
                                "query."
    assert "?q=caf%C3%A9, not ?q=café" in problem["hint"]
    assert backend.recorder.seen == []


async def test_encoded_newline_in_path_is_refused_not_forwarded(backend_factory, proxy_factory):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    reply = await raw_exchange(
        proxy.port, b"GET /a%0Ab HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 400")
    assert backend.recorder.seen == []


async def test_strip_prefix_base_path_and_rewrite_shape_the_upstream_path(
        backend_factory, proxy_factory, client):
    backend = await backend_factory()
    proxy = await proxy_factory(
        route("/api", backend.url + "/v1", strip_prefix=True, rewrite={"^/v1/old/": "/v1/new/"}),
    )
    async with client.get(proxy.url + "/api/old/users?page=2") as resp:
        assert resp.status == 200
    assert backend.recorder.last.raw_path == "/v1/new/users?page=2"


async def test_a_rewrite_to_nothing_sends_the_root_path_not_an_empty_target(
        backend_factory, proxy_factory, client):
    # Vite's `rewrite: p => p.replace(/^\/api/, '')`, imported by init: /api?x=1 went
    # upstream as "GET ?x=1 HTTP/1.1" (RFC 9112 §3.2.1: origin-form starts with "/").
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, rewrite={"^/api": ""}),
                                route("/a", backend.url, rewrite={"^/a": "b"}))
    for path, sent in (("/api?x=1", "/?x=1"), ("/api", "/"), ("/api/users", "/users"),
                       ("/a/x", "/b/x")):
        async with client.get(proxy.url + path) as resp:
            assert resp.status == 200, path
        assert backend.recorder.last.raw_path == sent


async def test_longest_prefix_wins_and_segments_are_whole(backend_factory, proxy_factory,
                                                          client):
    api = await backend_factory()
    front = await backend_factory()
    proxy = await proxy_factory(route("/", front.url), route("/api", api.url))
    for path, expected in (("/api", api), ("/api/x", api), ("/apikey", front), ("/api.ts", front)):
        async with client.get(proxy.url + path) as resp:
            assert resp.status == 200
        assert expected.recorder.last.raw_path == path


async def test_host_is_kept_by_default_and_rewritten_with_change_origin(
        backend_factory, proxy_factory, client):
    backend = await backend_factory()
    kept = await proxy_factory(route("/", backend.url))
    changed = await proxy_factory(route("/", backend.url, change_origin=True))
    async with client.get(kept.url + "/", headers={"Host": "myapp.localhost:1234"}):
        pass
    assert backend.recorder.last.headers["Host"] == "myapp.localhost:1234"
    async with client.get(changed.url + "/", headers={"Host": "myapp.localhost:1234"}):
        pass
    assert backend.recorder.last.headers["Host"] == f"127.0.0.1:{backend.port}"


async def test_x_forwarded_headers_describe_the_browser_side(backend_factory, proxy_factory,
                                                             client):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, strip_prefix=True))
    headers = {"Host": f"localhost:{proxy.port}", "X-Forwarded-For": "10.1.2.3",
               "X-Forwarded-Host": "evil.example"}
    async with client.get(proxy.url + "/api/x", headers=headers):
        pass
    got = backend.recorder.last.headers
    assert got["X-Forwarded-For"] == "10.1.2.3, 127.0.0.1"
    assert got["X-Forwarded-Host"] == f"localhost:{proxy.port}"
    assert got["X-Forwarded-Proto"] == "http"
    assert got["X-Forwarded-Port"] == str(proxy.port)
    assert got["X-Forwarded-Prefix"] == "/api"


async def test_route_headers_are_set_upstream(backend_factory, proxy_factory, client):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url, headers=(("X-Dev-User", "alice"),)))
    async with client.get(proxy.url + "/", headers={"X-Dev-User": "mallory"}):
        pass
    assert backend.recorder.last.headers.getall("X-Dev-User") == ["alice"]


async def test_hop_by_hop_request_headers_never_reach_the_backend(backend_factory,
                                                                  proxy_factory):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    request = (b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close, X-Secret\r\n"
               b"X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
               b"Proxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\n"
               b"X-Kept: yes\r\n\r\n")
    assert (await raw_exchange(proxy.port, request)).startswith(b"HTTP/1.1 200")
    got = backend.recorder.last.headers
    for name in ("X-Secret", "Keep-Alive", "TE", "Proxy-Authorization", "Proxy-Connection"):
        assert name not in got, name
    assert got["X-Kept"] == "yes"


async def test_connection_header_cannot_strip_devproxys_own_forwarded_for(backend_factory,
                                                                          proxy_factory):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    request = (b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close, X-Forwarded-For\r\n"
               b"\r\n")
    assert (await raw_exchange(proxy.port, request)).startswith(b"HTTP/1.1 200")
    assert backend.recorder.last.headers["X-Forwarded-For"] == "127.0.0.1"


async def test_hop_by_hop_response_headers_never_reach_the_client(backend_factory,
                                                                  proxy_factory, client):
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok", headers={
            "Connection": "X-Internal", "X-Internal": "secret", "Keep-Alive": "timeout=9",
            "Proxy-Authenticate": "Basic", "X-Public": "1"})

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/") as resp:
        assert resp.status == 200
        for name in ("X-Internal", "Keep-Alive", "Proxy-Authenticate"):
            assert name not in resp.headers, name
        assert resp.headers["X-Public"] == "1"


async def test_compressed_bodies_pass_through_untouched(backend_factory, proxy_factory, client):
    payload = gzip.compress(b"hello " * 1000)

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=payload, headers={"Content-Encoding": "gzip",
                                                   "Content-Type": "text/plain"})

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/", headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert resp.headers["Content-Length"] == str(len(payload))
        assert await resp.read() == payload


async def _get_through(proxy_factory, answer: bytes) -> bytes:
    """What a browser's GET gets through devproxy from a backend that reads the request
    head, writes ``answer`` as it is and closes."""
    async def bare(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(bare, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
        return await raw_exchange(proxy.port, b"GET / HTTP/1.1\r\nHost: localhost\r\n"
                                              b"Connection: close\r\n\r\n")
    finally:
        server.close()


async def test_a_backend_speaking_only_http2_is_named_as_such(proxy_factory):
    # Node's http2.createServer without allowHTTP1: its SETTINGS frame and a GOAWAY,
    # shown as raw bytes with "is the target an HTTP server on that port?".
    settings = b"\x00\x00\x06\x04\x00\x00\x00\x00\x00" + b"\x00\x03\x00\x00\x00\x64"
    goaway = b"\x00\x00\x08\x07\x00\x00\x00\x00\x00" + b"\x00" * 7 + b"\x01"
    reply = await _get_through(proxy_factory, settings + goaway)
    assert reply.startswith(b"HTTP/1.1 502")
    body = reply.partition(b"\r\n\r\n")[2]
    assert b"an HTTP/2 SETTINGS frame (it speaks HTTP/2 only)" in body
    assert b"devproxy talks HTTP/1.1 to backends" in body and b"allowHTTP1" in body


async def test_a_response_without_content_type_gets_none_added(proxy_factory):
    # aiohttp backends always add a type; this one does not.
    reply = await _get_through(proxy_factory,
                               b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    head = reply.split(b"\r\n\r\n")[0].lower()
    assert b"content-type" not in head  # the browser may sniff; octet-stream would download
    assert b"server: python" not in head
    assert b"date:" in head  # RFC 9110 §6.6.1: a forwarding recipient adds Date
    assert reply.endswith(b"hello")


@pytest.mark.parametrize(("fields", "kept", "absent"), [
    pytest.param(b"Server: up\r\n", b"server: up", b"content-type", id="type-lacking"),
    pytest.param(b"Content-Type: text/x\r\n", b"content-type: text/x", b"server:",
                 id="server-lacking"),
    pytest.param(b"Content-Type:\r\nServer: up\r\n", b"content-type: \r\n", b"python",
                 id="empty-type-kept"),
])
async def test_only_the_fields_the_backend_lacked_are_left_out(proxy_factory, fields, kept,
                                                               absent):
    reply = await _get_through(proxy_factory, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                              + fields + b"\r\nhello")
    head = reply.split(b"\r\n\r\n")[0].lower() + b"\r\n"
    assert kept in head
    assert absent not in head
    assert b"octet-stream" not in head


@pytest.mark.parametrize(("head", "body"), [
    pytest.param(b"Content-Length: 5\r\n", b"hello", id="whole-body"),
    pytest.param(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n",
                 id="streamed-body"),
])
async def test_header_bytes_that_are_not_utf8_reach_the_browser_as_sent(proxy_factory, head,
                                                                       body):
    # obs-text (RFC 9110 §5.5): Node sends "é" in a header as the byte E9. It was dropped,
    # and the browser saved filename="t.pdf".
    reply = await _get_through(proxy_factory, (
        b"HTTP/1.1 200 OK\r\nContent-Disposition: attachment; "
        b'filename="\xe9t\xe9.pdf"\r\nX-Utf8: caf\xc3\xa9\r\n' + head
        + b"Connection: close\r\n\r\n" + body))
    assert b'\r\nContent-Disposition: attachment; filename="\xe9t\xe9.pdf"\r\n' in reply
    assert b"\r\nX-Utf8: caf\xc3\xa9\r\n" in reply
    assert b"hello" in reply


@pytest.mark.parametrize(("head", "body"), [
    pytest.param(b"Content-Length: 5\r\n", b"hello", id="whole-body"),
    pytest.param(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n",
                 id="streamed-body"),
])
async def test_control_characters_in_a_backends_head_reach_the_browser_as_sent(
        proxy_factory, head, body):
    # RFC 9110 §5.5: invalid, but a recipient MAY keep them, and browsers accept them.
    # aiohttp refused to write them: a 500 blaming devproxy, for an ANSI-coloured
    # debug header.
    reply = await _get_through(proxy_factory, (
        b"HTTP/1.1 200 O\x01K\r\nX-Debug: \x1b[32mok\x1b[0m\x7f\r\n"
        b"X-Both: \xe9\x01\r\n" + head + b"Connection: close\r\n\r\n" + body))
    assert reply.startswith(b"HTTP/1.1 200 O\x01K\r\n"), reply[:200]
    assert b"\r\nX-Debug: \x1b[32mok\x1b[0m\x7f\r\n" in reply
    assert b"\r\nX-Both: \xe9\x01\r\n" in reply
    assert reply.endswith(b"hello") or b"5\r\nhello\r\n" in reply


async def test_a_head_whose_last_field_ends_in_a_bare_lf_is_read(proxy_factory):
    # RFC 9112 §2.2: a bare LF may end a line, here the last field's, before the CRLF.
    # It waited for a blank line that had come (raw_exchange gives up after 5 s).
    reply = await _get_through(
        proxy_factory, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\n\r\nhello")
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"\r\n\r\nhello")


async def test_client_headers_are_not_invented_upstream(backend_factory, proxy_factory):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    reply = await raw_exchange(proxy.port, b"POST / HTTP/1.1\r\nHost: localhost\r\n"
                                           b"Content-Length: 2\r\n"
                                           b"Connection: close\r\n\r\nhi")
    assert reply.startswith(b"HTTP/1.1 200")
    got = backend.recorder.last.headers
    for name in ("Accept", "Accept-Encoding", "User-Agent", "Content-Type"):
        assert name not in got, name
    assert got["Content-Length"] == "2"


async def test_large_upload_streams_with_its_length(backend_factory, proxy_factory, client):
    async def handler(request: web.Request) -> web.StreamResponse:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
        return web.json_response({"size": size, "sha": digest.hexdigest(),
                                  "length": request.headers.get("Content-Length"),
                                  "te": request.headers.get("Transfer-Encoding")})

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    block = bytes(range(256)) * 4096  # 1 MiB
    size = 64 * len(block)
    expected = hashlib.sha256(block * 64).hexdigest()

    async def body():
        for _ in range(64):
            yield block

    async with client.post(proxy.url + "/up", data=body(),
                           headers={"Content-Length": str(size)}) as resp:
        got = await resp.json()
    assert got == {"size": size, "sha": expected, "length": str(size), "te": None}

    async with client.post(proxy.url + "/up", data=body()) as resp:  # chunked upload
        got = await resp.json()
    assert (got["size"], got["sha"], got["te"]) == (size, expected, "chunked")


async def test_expect_100_continue_upload_works(backend_factory, proxy_factory, client):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    async with client.post(proxy.url + "/", data=b"x" * 1000, expect100=True) as resp:
        assert (await resp.json())["bytes"] == 1000
    assert "Expect" not in backend.recorder.last.headers


@pytest.mark.parametrize("path", ["/api/up", "/files/up", "/__devproxy/api/clear"],
                         ids=["backend-down", "static", "inspector"])
async def test_an_answer_before_an_awaited_body_closes_the_connection(
        proxy_factory, unused_tcp_port_factory, tmp_path, path):
    # RFC 9110 §10.1.1: the client holds its body back for a 100 that never came, so
    # devproxy's 502, 405 or 403 must say the connection ends; kept open, the client's
    # next request was read as that body.
    proxy = await proxy_factory(
        route("/api", f"http://localhost:{unused_tcp_port_factory()}"),
        route("/files", static=tmp_path))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
                     f"Content-Length: 100000\r\n\r\n".encode())  # streamed: over 64 KiB
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    assert head.split(b" ")[1] in (b"502", b"405", b"403"), head
    assert b"\r\nconnection: close\r\n" in head.lower(), head


async def test_streamed_response_reaches_client_chunk_by_chunk(backend_factory, proxy_factory,
                                                               client):
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: first\n\n")
        await release.wait()
        await response.write(b"data: second\n\n")
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/events") as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)
        assert first == b"data: first\n\n"  # arrived while the backend is still holding
        release.set()
        assert await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5) == b"data: second\n\n"


async def test_head_204_and_304_keep_their_framing(backend_factory, proxy_factory, client):
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/none":
            return web.Response(status=204)
        if request.path == "/same":
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(body=b"x" * 100, content_type="text/plain")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.head(proxy.url + "/file") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Length"] == "100"
        assert await resp.read() == b""
    async with client.get(proxy.url + "/none") as resp:
        assert resp.status == 204
    async with client.get(proxy.url + "/same") as resp:
        assert (resp.status, resp.headers["ETag"]) == (304, '"v1"')


async def test_redirects_are_returned_not_followed_and_mapped_back(backend_factory,
                                                                   proxy_factory, client):
    async def handler(request: web.Request) -> web.StreamResponse:
        location = {"/rel": "/login", "/abs": f"http://127.0.0.1:{request.url.port}/home?a=1",
                    "/away": "https://example.com/x"}[request.path]
        raise web.HTTPFound(location)

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url, strip_prefix=True,
                                      change_origin=True))
    host = f"localhost:{proxy.port}"
    cases = {"/api/rel": "/api/login", "/api/abs": f"http://{host}/api/home?a=1",
             "/api/away": "https://example.com/x"}
    for path, expected in cases.items():
        async with client.get(proxy.url + path, allow_redirects=False,
                              headers={"Host": host}) as resp:
            assert resp.status == 302
            assert resp.headers["Location"] == expected, path


async def test_a_redirect_to_another_routes_target_stays_on_devproxy(backend_factory,
                                                                     proxy_factory, client):
    # After a login, the backend sends the browser to the frontend dev server's own URL
    # (its FRONTEND_URL): through devproxy it lands on the route that serves it.
    async def app(request: web.Request) -> web.StreamResponse:
        return web.Response(text=f"app at {request.path_qs}")

    frontend = await backend_factory(app)

    async def auth(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"http://localhost:{frontend.port}/dashboard?welcome=1")

    backend = await backend_factory(auth)
    proxy = await proxy_factory(route("/auth", backend.url, strip_prefix=True),
                                route("/", frontend.url))
    host = f"localhost:{proxy.port}"
    async with client.get(proxy.url + "/auth/callback", allow_redirects=False,
                          headers={"Host": host}) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == f"http://{host}/dashboard?welcome=1"
    async with client.get(proxy.url + "/dashboard?welcome=1", headers={"Host": host}) as resp:
        assert await resp.text() == "app at /dashboard?welcome=1"
    # But a page on the frontend's own origin (CORS mode: a login form posted from it)
    # is sent back where it lives, not onto devproxy's origin without its storage.
    page = f"http://localhost:{frontend.port}"
    async with client.post(proxy.url + "/auth/login", allow_redirects=False, data={"u": "a"},
                           headers={"Host": host, "Origin": page}) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == f"{page}/dashboard?welcome=1"
    # A login by a link sends no Origin, and its Referer names the page's.
    async with client.get(proxy.url + "/auth/login", allow_redirects=False,
                          headers={"Host": host, "Referer": f"{page}/signin"}) as resp:
        assert resp.headers["Location"] == f"{page}/dashboard?welcome=1"
    # The same server by another loopback name: the page on 127.0.0.1, the backend's
    # URL for it on localhost.
    async with client.post(proxy.url + "/auth/login", allow_redirects=False, data={"u": "a"},
                           headers={"Host": host,
                                    "Origin": f"http://127.0.0.1:{frontend.port}"}) as resp:
        assert resp.headers["Location"] == f"{page}/dashboard?welcome=1"
    # A Referer no URL parser reads names no page: the redirect comes to devproxy.
    for referer in ("http://[oops/", "http://a]b/"):
        async with client.get(proxy.url + "/auth/login", allow_redirects=False,
                              headers={"Host": host, "Referer": referer}) as resp:
            assert resp.status == 302, referer
            assert resp.headers["Location"] == f"http://{host}/dashboard?welcome=1"


async def test_set_cookie_domain_and_path_are_mapped_and_every_cookie_survives(
        backend_factory, proxy_factory, client):
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(text="ok")
        response.headers.add("Set-Cookie", "sid=1; Domain=127.0.0.1; Path=/; HttpOnly")
        response.headers.add("Set-Cookie", "theme=dark; Path=/prefs; SameSite=Lax")
        response.headers.add("Set-Cookie", "other=3; Domain=example.com")
        response.headers.add("Set-Cookie", "alias=4; Domain=localhost; Path=/")
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url, strip_prefix=True))
    async with client.get(proxy.url + "/api/login") as resp:
        assert resp.headers.getall("Set-Cookie") == [
            "sid=1; Path=/; HttpOnly",  # the whole site, as the backend meant
            "theme=dark; Path=/api/prefs; SameSite=Lax",
            "other=3; Domain=example.com",
            "alias=4; Path=/",  # localhost names the 127.0.0.1 target too
        ]


async def test_backend_down_gives_502_problem_naming_route_target_and_addresses(
        proxy_factory, client, unused_tcp_port_factory):
    port = unused_tcp_port_factory()
    proxy = await proxy_factory(route("/api", f"http://localhost:{port}"))
    async with client.get(proxy.url + "/api/x") as resp:
        assert resp.status == 502
        assert resp.content_type == "application/problem+json"
        doc = json.loads(await resp.text())
    assert doc["route"] == "/api"
    assert doc["target"] == f"http://localhost:{port}"
    assert doc["addresses_tried"] == [f"127.0.0.1:{port}: connection refused",
                                      f"[::1]:{port}: connection refused"]
    assert "is the backend running" in doc["hint"]


async def test_backend_down_gives_an_html_page_to_a_browser_navigation(
        proxy_factory, client, unused_tcp_port_factory):
    port = unused_tcp_port_factory()
    proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
    async with client.get(proxy.url + "/", headers={"Accept": "text/html"}) as resp:
        assert resp.status == 502
        assert resp.content_type == "text/html"
        text = await resp.text()
    assert "Backend not reachable" in text
    assert f"127.0.0.1:{port}" in text
    assert "::1 only" in text  # the hint for a backend that listens on the other family
    assert "reloads itself" in text  # a GET page comes back with the backend (e2e test)
    async with client.post(proxy.url + "/", headers={"Accept": "text/html"}) as resp:
        # Reloading a POST would send the form again: that page stays as it is.
        assert "Backend not reachable" in (text := await resp.text())
        assert "reloads itself" not in text and "<script" not in text


async def test_an_event_source_to_a_backend_down_gets_a_network_error_to_retry_on(
        proxy_factory, client, unused_tcp_port_factory, caplog):
    # EventSource gives up for good on a 502, but reconnects after a network error: the
    # backend restarting under nodemon refused it, and devproxy closes the connection.
    port = unused_tcp_port_factory()
    proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
    with caplog.at_level(logging.INFO, logger="devproxy.access"), \
            pytest.raises(aiohttp.ServerDisconnectedError):
        await client.get(proxy.url + "/events", headers={"Accept": "text/event-stream"})
    # aiohttp's client tries a disconnected GET once more: a line for each.
    lines = [r.getMessage() for r in caplog.records if r.name == "devproxy.access"]
    closed = " 502 ", " 0B (connection closed, nothing sent)"  # not the 502 page's size
    assert lines and all(closed[0] in line and line.endswith(closed[1]) for line in lines), lines
    # The inspector shows no answer, as the browser got none: not the 502 page.
    async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
        rows = await resp.json()
    assert rows and all((r["status"], r["bytes_out"]) == (0, 0) for r in rows), rows
    assert all("so that the EventSource tries again" in r["error"] for r in rows)
    assert {r["kind"] for r in rows} == {"sse"}  # listed as the EventSource it was
    detail = await (await client.get(f"{proxy.url}/__devproxy/api/requests/{rows[0]['id']}"
                                     )).json()
    assert detail["browser_response"] == [] and detail["response_body"] is None
    async with client.get(proxy.url + "/events") as resp:  # not an event source: the 502
        assert resp.status == 502


async def test_an_outage_is_logged_once_and_its_end_once(backend_factory, proxy_factory, client,
                                                         unused_tcp_port_factory, caplog):
    port = unused_tcp_port_factory()
    proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        for _ in range(3):
            async with client.get(proxy.url + "/") as resp:
                assert resp.status == 502
        await backend_factory(port=port)
        for _ in range(2):
            async with client.get(proxy.url + "/") as resp:
                assert resp.status == 200
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "connection refused" in errors[0].getMessage()
    # Its hint a sentence of its own: "... (tried ...). Is the backend running? ..."
    assert "). Is the backend running?" in errors[0].getMessage()
    [again] = [r.getMessage() for r in caplog.records if "answering again" in r.getMessage()]
    assert again.startswith(f"http://127.0.0.1:{port} is answering again (down ")


async def test_a_slow_answer_is_logged_once_but_is_no_outage(backend_factory, proxy_factory,
                                                             client, caplog):
    # A 504 comes from a backend that is up: its next answer is no "answering again".
    backend = await backend_factory(slow_at("/slow", 2))
    proxy = await proxy_factory(route("/", backend.url, timeout={"connect": 1, "response": 0.2}))
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        for path, status in (("/slow", 504), ("/slow", 504), ("/fast", 200)):
            async with client.get(proxy.url + path) as resp:
                assert resp.status == status
    messages = [r.getMessage() for r in caplog.records]
    assert sum("sent no response headers within timeout.response" in m
               for m in messages) == 1
    assert not any("answering again" in m for m in messages)


async def test_a_request_the_backend_closed_unanswered_is_no_outage(backend_factory,
                                                                  proxy_factory, client,
                                                                  caplog):
    # A handler that crashed the connection: the backend is up. Its next answer, through
    # another route, was logged as "route /other ... is answering again (down 199.6s)".
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/die":
            assert request.transport is not None
            request.transport.abort()
        return web.Response(text="fine")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/other", backend.url), route("/", backend.url))
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        for path, status in (("/die", 502), ("/die", 502), ("/other", 200), ("/die", 502)):
            async with client.get(proxy.url + path) as resp:
                assert resp.status == status
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("devproxy")]
    assert sum("closed the connection" in m for m in messages) == 2  # once, then again
    assert not any("answering again" in m for m in messages)


async def test_an_event_stream_whose_head_comes_with_its_first_event_is_not_cut_off(
        backend_factory, proxy_factory, client):
    # Node's writeHead without flushHeaders sends the head with the first event; given a
    # 504 at timeout.response, an EventSource closes for good. Other requests still time out.
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.6)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: 0\n\n")
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url, timeout={"connect": 1, "response": 0.2}))
    # EventSource sends exactly "text/event-stream"; fetch-based clients (fetch-event-
    # source, MCP's) list it among others, and wait for the stream all the same.
    for accept in ("text/event-stream", "application/json, Text/Event-Stream;q=0.9"):
        async with client.get(proxy.url + "/events", headers={"Accept": accept}) as resp:
            assert resp.status == 200
            assert await resp.read() == b"data: 0\n\n"
    for accept in ("*/*", "text/event-streams"):
        async with client.get(proxy.url + "/events", headers={"Accept": accept}) as resp:
            assert resp.status == 504


def test_a_slow_backend_that_then_goes_down_starts_an_outage(caplog) -> None:
    # Paused at a breakpoint (504), then stopped (refused): the refusal is logged, and
    # so is the return.
    outages, target = Outages(), parse_target("http://127.0.0.1:3000")
    assert [outages.failed(target, kind) for kind in
            ("response-timeout", "response-timeout", "refused", "refused", "reset")] \
        == [True, False, True, False, False]
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        outages.succeeded(target)
    assert ["answering again" in r.getMessage() for r in caplog.records] == [True]


async def test_localhost_target_tries_the_other_loopback_when_one_takes_no_connection(
        backend_factory, proxy_factory, client):
    # 127.0.0.1's port drops connections (a listener that never accepts, its queue
    # full), and the backend is on ::1: a timeout on one address is no reason not to
    # try the other, as a refusal is not.
    backend = await backend_factory(port=0, host="::1")
    async with taking_no_connection("127.0.0.1", backend.port):
        # The first address gets half the timeout; the rest is ::1's, time enough on a
        # busy machine.
        proxy = await proxy_factory(route("/", f"http://localhost:{backend.port}",
                                          timeout={"connect": 2.0, "response": 5}))
        async with client.get(proxy.url + "/x") as resp:
            assert resp.status == 200
    assert backend.recorder.last.raw_path == "/x"


async def test_localhost_taking_no_connection_on_either_loopback_times_out_once(
        proxy_factory, client):
    # Both addresses drop connections: timeout.connect bounds the two tries together,
    # as its 504 says, not each of them.
    async with taking_no_connection("127.0.0.1") as port, \
            taking_no_connection("::1", port):
        proxy = await proxy_factory(route("/", f"http://localhost:{port}",
                                          timeout={"connect": 1.0}))
        began = time.monotonic()
        async with client.get(proxy.url + "/x") as resp:
            assert resp.status == 504
            assert "within timeout.connect (1s)" in await resp.text()
        assert time.monotonic() - began < 1.6  # 2 s with the timeout given to each


@pytest.mark.parametrize("listen_on", ["127.0.0.1", "::1"], ids=["ipv4-only", "ipv6-only"])
async def test_localhost_target_reaches_a_backend_on_either_loopback(
        backend_factory, proxy_factory, client, listen_on):
    backend = await backend_factory(host=listen_on)
    proxy = await proxy_factory(route("/", f"http://localhost:{backend.port}"))
    async with client.get(proxy.url + "/hello") as resp:
        assert resp.status == 200
    assert backend.recorder.last.raw_path == "/hello"


async def test_no_response_headers_within_timeout_gives_504(backend_factory, proxy_factory,
                                                            client):
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response()

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url, timeout={"connect": 1, "response": 0.3}))
    async with client.get(proxy.url + "/slow") as resp:
        assert resp.status == 504
        doc = json.loads(await resp.text())
    assert "timeout.response (0.3s)" in doc["detail"]


async def test_a_slow_upload_does_not_count_against_the_response_timeout(
        backend_factory, proxy_factory, client):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url, timeout={"connect": 1, "response": 0.5}))

    async def trickle():
        for _ in range(6):  # 1.2 s of uploading, more than the response timeout
            yield b"x" * 10
            await asyncio.sleep(0.2)

    async with client.post(proxy.url + "/", data=trickle()) as resp:
        assert resp.status == 200
        assert (await resp.json())["bytes"] == 60


async def test_no_route_gives_404_listing_the_routes(backend_factory, proxy_factory, client,
                                                     tmp_path):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url), route("/auth", backend.url),
                                route("/docs", static=tmp_path))
    async with client.get(proxy.url + "/elsewhere") as resp:
        assert resp.status == 404
        doc = json.loads(await resp.text())
    # A folder by its name: a response names no machine path.
    assert doc["configured_routes"] == [f"/api -> {backend.url}", f"/auth -> {backend.url}",
                                        f"/docs -> static folder {tmp_path.name}/"]


async def test_absolute_form_is_served_for_the_urls_authority(backend_factory, proxy_factory):
    # RFC 9112 §3.2.2: a server MUST accept the absolute-form and use its authority,
    # not the Host field; the Host allowlist then decides as for any request.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    reply = await raw_exchange(proxy.port, f"GET http://localhost:{proxy.port}/api/x?q=1 "
                               f"HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               f"Connection: close\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 200")
    seen = backend.recorder.last
    assert seen.raw_path == "/api/x?q=1"
    assert seen.headers.getall("Host") == [f"localhost:{proxy.port}"]
    assert seen.headers["X-Forwarded-Host"] == f"localhost:{proxy.port}"

    reply = await raw_exchange(proxy.port, b"GET http://example.com/ HTTP/1.1\r\n"
                                           b"Host: localhost\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 403")
    assert b"example.com" in reply
    assert len(backend.recorder.seen) == 1


@pytest.mark.parametrize(("method", "sent", "passed"), [
    ("OPTIONS", "3", "2"), ("TRACE", "1", "0"), ("OPTIONS", " 7 ", "6"),
    ("OPTIONS", "x", "x"),  # not a number: passed on as a field devproxy does not know
    ("TRACE", "9" * 5000, str(10 ** 18 - 1)),  # past what int() takes: a 500 it was
    ("GET", "0", "0"),  # other methods: not counted (RFC 9110 §7.6.2 lets it be ignored)
])
async def test_max_forwards_is_counted_down_on_options_and_trace(
        backend_factory, proxy_factory, client, method, sent, passed):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    async with client.request(method, proxy.url + "/x", headers={"Max-Forwards": sent}) as resp:
        assert resp.status == 200
    assert backend.recorder.last.headers["Max-Forwards"] == passed


async def test_max_forwards_zero_is_answered_by_devproxy_as_the_last_hop(backend_factory,
                                                                        proxy_factory):
    # RFC 9110 §7.6.2: not forwarded; TRACE reflects the request, its secrets left out.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    reply = await raw_exchange(proxy.port, b"TRACE /x?q HTTP/1.1\r\nHost: localhost\r\n"
                                           b"Max-Forwards: 0\r\nCookie: sid=secret\r\n"
                                           b"X-Trace: 1\r\nConnection: close\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Type: message/http" in head
    assert body.startswith(b"TRACE /x?q HTTP/1.1\r\nHost: localhost\r\n")
    assert b"X-Trace: 1\r\n" in body and b"secret" not in body
    reply = await raw_exchange(proxy.port, b"OPTIONS /x HTTP/1.1\r\nHost: localhost\r\n"
                                           b"Max-Forwards: 0\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200") and b"Content-Length: 0\r\n" in reply
    assert backend.recorder.seen == []


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_backend_dying_mid_body_truncates_the_client_response(
        backend_factory, proxy_factory, client, framing):
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/ok":
            return web.Response(text="fine")
        response = web.StreamResponse()
        if framing == "content-length":
            response.content_length = 1000
        await response.prepare(request)
        await response.write(b"x" * 100)
        assert request.transport is not None
        request.transport.abort()
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/die") as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    async with client.get(proxy.url + "/ok") as resp:
        assert await resp.text() == "fine"


async def test_client_disconnect_cancels_the_upstream_request(backend_factory, proxy_factory):
    started, cancelled = asyncio.Event(), asyncio.Event()
    # test servers cancel handlers on disconnect
    backend = await backend_factory(hanging(cancelled, started))
    proxy = await proxy_factory(route("/", backend.url))
    _, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"GET /long-poll HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    await asyncio.wait_for(started.wait(), 5)
    writer.close()
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_a_compressed_upload_reaches_the_backend_byte_for_byte(backend_factory,
                                                                    proxy_factory, client):
    async def handler(request: web.Request) -> web.StreamResponse:
        raw = b"".join([chunk async for chunk in request.content.iter_any()])
        return web.json_response({"sha": hashlib.sha256(raw).hexdigest(),
                                  "encoding": request.headers.get("Content-Encoding")})

    # The backend must see the bytes the client sent, still compressed: decoding is its job.
    backend = await backend_factory(handler, auto_decompress=False)
    proxy = await proxy_factory(route("/", backend.url))
    body = gzip.compress(b'{"big": "' + b"x" * 100_000 + b'"}')
    async with client.post(proxy.url + "/", data=body,
                           headers={"Content-Encoding": "gzip",
                                    "Content-Type": "application/json"}) as resp:
        got = await resp.json()
    assert got == {"sha": hashlib.sha256(body).hexdigest(), "encoding": "gzip"}


async def test_large_cookie_and_set_cookie_headers_pass_through(backend_factory,
                                                                proxy_factory):
    big = "t=" + "a" * 20_000  # a JWT-heavy localhost cookie jar, in one header

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(text=str(len(request.headers["Cookie"])))
        response.headers["Set-Cookie"] = big + "; Path=/"
        return response

    backend = await backend_factory(handler, max_field_size=65536)
    proxy = await proxy_factory(route("/", backend.url))
    async with aiohttp.ClientSession(max_field_size=65536) as client, \
            client.get(proxy.url + "/", headers={"Cookie": big}) as resp:
        assert resp.status == 200
        assert await resp.text() == str(len(big))
        assert resp.headers["Set-Cookie"] == big + "; Path=/"


async def test_the_access_log_counts_the_body_bytes_the_browser_got(
        backend_factory, proxy_factory, client, caplog):
    # The head is not counted, whatever the response: aiohttp's own count has it for a
    # relayed response and not for devproxy's own answers.
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/stream"):
            response = web.StreamResponse()
            await response.prepare(request)
            for piece in (b"a" * 100, b"b" * 200, b"c" * 300):
                await response.write(piece)
            await response.write_eof()
            return response
        return web.Response(body=b"x" * 1000)

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url))
    with caplog.at_level(logging.INFO, logger="devproxy.access"):
        async with client.get(proxy.url + "/api/whole") as resp:
            assert len(await resp.read()) == 1000
        async with client.get(proxy.url + "/api/stream") as resp:
            assert len(await resp.read()) == 600
        async with client.head(proxy.url + "/api/whole") as resp:
            assert resp.status == 200
        async with client.get(proxy.url + "/elsewhere") as resp:
            not_found = len(await resp.read())
        async with client.head(proxy.url + "/elsewhere") as resp:
            assert resp.status == 404
    lines = [re.sub(r" \d+\.\dms ", " ", r.getMessage()) for r in caplog.records
             if r.name == "devproxy.access"]
    assert lines == ["GET /api/whole -> /api 200 1000B", "GET /api/stream -> /api 200 600B",
                     "HEAD /api/whole -> /api 200 0B", f"GET /elsewhere -> - 404 {not_found}B",
                     "HEAD /elsewhere -> - 404 0B"]
    # The inspector counts the same bytes.
    async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
        assert [r["bytes_out"] for r in await resp.json()] == [0, not_found, 0, 600, 1000]


async def test_a_download_the_browser_cuts_short_is_not_a_clean_200(
        backend_factory, proxy_factory, client, caplog):
    # An aborted fetch() of a big body: devproxy's write fails while it relays. The log
    # and the inspector said a clean 200, and counted different bytes.
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(256):  # 64 MiB at most, far past what the sockets buffer
                await response.write(bytes(256 * 1024))
        except ConnectionError:
            pass
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url))
    _, line = await leave_part_way(proxy.port, b"/api/big", 200 * 1024, caplog)
    sent = re.fullmatch(r"GET /api/big -> /api 200 \d+\.\dms (\d+)B \(browser went away\)",
                        line)
    assert sent is not None, line
    async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
        (record,) = await resp.json()
    assert (record["status"], record["bytes_out"]) == (200, int(sent[1]))
    assert 200 * 1024 <= int(sent[1]) < 64 * 1024 * 1024
    assert record["error"] == "the browser closed the connection before the response ended"


async def test_a_request_the_browser_abandons_is_logged_and_ended(
        backend_factory, proxy_factory, client, caplog):
    # aiohttp cancels the handler when the browser goes away; before, such a request had
    # no log line and stayed "in progress" in the inspector for good.
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/events"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b"data: one\n\n")
        await release.wait()  # never set: the browser leaves first
        return web.Response()

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url))
    with caplog.at_level(logging.INFO, logger="devproxy.access"):
        with pytest.raises(asyncio.TimeoutError):
            async with client.get(proxy.url + "/api/slow",
                                  timeout=aiohttp.ClientTimeout(total=0.5)) as resp:
                await resp.read()
        async with client.get(proxy.url + "/api/events") as resp:
            assert await resp.content.readline() == b"data: one\n"
        # The stream's connection is closed as the response leaves the block; the slow
        # request's, with no answer begun, only HALF_CLOSE_GRACE after its FIN.
        for _ in range(200):
            if sum(r.name == "devproxy.access" for r in caplog.records) == 2:
                break
            await asyncio.sleep(0.02)
    lines = [re.sub(r" \d+\.\dms ", " ", r.getMessage()) for r in caplog.records
             if r.name == "devproxy.access"]
    assert sorted(lines) == ["GET /api/events -> /api 200 11B (browser went away)",
                             "GET /api/slow -> /api 499 0B (browser went away)"]
    async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
        events, slow = await resp.json()
    assert (slow["status"], events["status"]) == (0, 200)
    assert slow["duration_ms"] is not None and events["duration_ms"] is not None
    assert "closed the connection" in slow["error"]
    # An event stream never ends by itself: the browser closing it is its normal end,
    # not a failure to mark in red.
    assert events["error"] == ""


async def test_an_event_stream_the_page_closes_mid_write_is_no_error(
        backend_factory, proxy_factory, client):
    # Events every millisecond: the page's close is met by a write that fails before
    # aiohttp cancels the handler, and that path listed the stream as broken off.
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for n in range(20_000):  # 20 s at most; the page leaves long before
            await response.write(b"data: %d\n\n" % n)
            await asyncio.sleep(0.001)
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    for _ in range(16):
        sock = socket.create_connection(("127.0.0.1", proxy.port))
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: localhost\r\n"
                     b"Accept: text/event-stream\r\n\r\n")
        await asyncio.sleep(0.05)
        # A reset, as a tab closing does: the next write fails at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        await asyncio.sleep(0.05)
    for _ in range(100):
        async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
            rows = await resp.json()
        if all(row["duration_ms"] is not None for row in rows):
            break
        await asyncio.sleep(0.02)
    assert [(row["kind"], row["error"]) for row in rows] == [("sse", "")] * 16


async def test_an_event_source_closed_before_its_head_came_is_no_error(
        backend_factory, proxy_factory, client):
    # A server may send an event stream's head only with its first event; a page that
    # closes its EventSource first (React StrictMode's double mount) ended nothing
    # badly, but the record read "error", kind http.
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        await release.wait()  # never set: the page leaves first
        return web.Response()

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url))
    with pytest.raises(asyncio.TimeoutError):
        async with client.get(proxy.url + "/api/events", headers={"Accept": "text/event-stream"},
                              timeout=aiohttp.ClientTimeout(total=0.3)) as resp:
            await resp.read()
    row = await ended_row(client, proxy)
    assert (row["kind"], row["status"], row["error"]) == ("sse", 0, "")


async def test_stopping_lets_a_stream_run_for_the_shutdown_timeout_not_twice_that(
        backend_factory, proxy_factory, client, caplog):
    # aiohttp waits the timeout, then "cancels" and waits it again; its cancel does not
    # reach a handler relaying a stream, which then ran for twice the timeout.
    backend = await backend_factory(endless("application/x-ndjson", b"{}\n"))
    proxy = await proxy_factory(route("/", backend.url), shutdown_timeout=1.0)
    async with client.get(proxy.url + "/events") as resp:
        assert await resp.content.readline() == b"{}\n"
        loop = asyncio.get_running_loop()
        began = loop.time()
        with caplog.at_level(logging.INFO, logger="devproxy.access"):
            await proxy.server.stop()
        took = loop.time() - began
    assert 0.9 < took < 1.7, took
    # devproxy cut it, not the browser.
    [line] = [r.getMessage() for r in caplog.records if r.name == "devproxy.access"]
    assert line.startswith("GET /events -> / 200 ") and line.endswith(" (cut at shutdown)")


async def test_stopping_ends_event_streams_at_once_each_with_its_last_chunk(
        backend_factory, proxy_factory, client, caplog):
    # An event stream has no end to wait for: with the inspector page open, every Ctrl+C
    # waited the whole shutdown timeout. Both the relayed stream and the inspector's own
    # feed end cleanly (an EventSource then reconnects), long before the timeout.
    backend = await backend_factory(endless("Text/Event-Stream", b"data: one\n\n"))
    proxy = await proxy_factory(route("/", backend.url), shutdown_timeout=60.0)
    async with client.get(proxy.url + "/events") as relayed, \
            client.get(proxy.url + "/__devproxy/api/events") as feed:
        assert await relayed.content.readline() == b"data: one\n"
        assert await feed.content.readline() == b": devproxy inspector\n"
        with caplog.at_level(logging.INFO, logger="devproxy.access"):
            await asyncio.wait_for(proxy.server.stop(), 10)
        # Read to the end: a cut-off chunked body would raise ClientPayloadError here.
        assert await relayed.content.read() == b"\n"
        await feed.content.read()
    [line] = [r.getMessage() for r in caplog.records if r.name == "devproxy.access"]
    assert line.startswith("GET /events -> / 200 "), line


async def test_hurrying_a_stop_cuts_what_it_waits_for(backend_factory, proxy_factory):
    # A second Ctrl+C: a request the backend is still working on is cut at once, not
    # waited for until the shutdown timeout.
    arrived, release = asyncio.Event(), asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.Response(text="late")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url), shutdown_timeout=60.0)
    pending = asyncio.create_task(raw_exchange(
        proxy.port, b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n", wait=10))
    try:
        await asyncio.wait_for(arrived.wait(), 10)
        stopping = asyncio.create_task(proxy.server.stop())
        await asyncio.sleep(0.2)
        assert not stopping.done()  # waiting for the request, as it should at first
        proxy.server.hurry()
        await asyncio.wait_for(stopping, 10)
        assert await pending == b""  # closed with no answer
    finally:
        release.set()


async def test_an_http_1_0_keep_alive_client_gets_a_streamed_body_ended_by_close(
        backend_factory, proxy_factory):
    # HTTP/1.0 has no chunked coding: a body of unknown length ends only with the
    # connection, which must then close though the client asked to keep it (ab -k does).
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"streamed ")
        await response.write(b"body")
        await response.write_eof()
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    reply = await raw_exchange(proxy.port, b"GET /s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                               b"Connection: keep-alive\r\n\r\n", wait=3.0)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") and body == b"streamed body"


@pytest.mark.parametrize(("method", "path"), [("GET", "/204"), ("GET", "/304"),
                                              ("HEAD", "/streamed")],
                         ids=["204", "304", "head"])
async def test_an_http_1_0_keep_alive_outlives_an_answer_that_has_no_body(
        backend_factory, proxy_factory, method, path):
    # RFC 9112 §6.3 (1): these never have a body, so no close has to end one; the
    # connection went down all the same, and the request pipelined behind was lost.
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path in ("/204", "/304"):
            return web.Response(status=int(request.path[1:]))
        response = web.StreamResponse()  # no length: for a GET, a body ended by close
        await response.prepare(request)
        await response.write_eof()
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    reply = await raw_exchange(proxy.port, (
        f"{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
        f"GET /204 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").encode(), wait=3.0)
    first, _, second = reply.partition(b"\r\n\r\n")
    assert first.startswith(f"HTTP/1.0 {path[1:] if path != '/streamed' else 200}".encode())
    assert b"\r\nConnection: keep-alive" in first, first
    assert second.startswith(b"HTTP/1.0 204"), reply


async def test_an_http_1_0_request_without_host_is_sent_for_the_address_it_reached(
        backend_factory, proxy_factory):
    # HTTP/1.0 may leave Host out. The backend gets HTTP/1.1, which needs one: the
    # address and port the client reached, not the address alone (port 80 to whoever
    # builds a URL from it, a redirect or X-Forwarded-Port).
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        raise web.HTTPFound(f"http://{request.host}/next")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    reply = await raw_exchange(proxy.port, b"GET /s HTTP/1.0\r\n\r\n")
    authority = f"127.0.0.1:{proxy.port}"
    assert (seen[0]["Host"], seen[0]["X-Forwarded-Host"], seen[0]["X-Forwarded-Port"]) \
        == (authority, authority, str(proxy.port))
    assert f"\r\nLocation: http://{authority}/next\r\n".encode() in reply


# -- uploads: the backend's answer wins, and only the response is timed ------------------


async def _post_in_pieces(port: int, pieces: list[bytes], pause: float) -> bytes:
    """A POST whose body comes in ``pieces``, ``pause`` seconds apart; the reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        size = sum(map(len, pieces))
        writer.write(f"POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: {size}\r\n"
                     f"Connection: close\r\n\r\n".encode())
        for piece in pieces:
            await asyncio.sleep(pause)
            writer.write(piece)
            await writer.drain()
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
    b"too large\n",
    # No length: the body ends with the close, read from the socket after the loss.
    b"HTTP/1.0 413 Payload Too Large\r\n\r\ntoo large\n",
], ids=["content-length", "close-delimited"])
async def test_a_backend_refusing_an_upload_early_is_heard(proxy_factory, answer):
    # It answers 413 and closes without reading the body: devproxy's next write fails,
    # and the event loop closed the connection before reading the answer that had come
    # (a 502 "closed before answering", one upload in five). RFC 9112 §9.5.
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    body = b"x" * 8_000_000
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
        statuses, bodies = [], []
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n")
            writer.write(body)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            async with asyncio.timeout(10):
                reply = await reader.read()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            statuses.append(int(reply.split(b" ", 2)[1]))
            assert b"too large\n" in reply
            bodies.append(reply.endswith((b"too large\n", b"too large\n\r\n0\r\n\r\n")))
    finally:
        server.close()
    assert statuses == [413] * 20
    assert all(bodies)  # whole, not cut


async def test_a_slow_small_post_goes_on_a_connection_still_open(proxy_factory):
    # The body (under 64 KiB, sent whole with the head) took longer to arrive than the
    # backend keeps an idle connection: the pooled one it closed meanwhile is not used
    # to fail the POST with a 502; nothing was sent on it, so another one is.
    got: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # keep-alive, closed after 0.3 s idle, as uvicorn and Node do (5 s)
            try:
                async with asyncio.timeout(0.3):
                    head = await reader.readuntil(b"\r\n\r\n")
            except (TimeoutError, asyncio.IncompleteReadError):
                break
            length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), b"0"))
            got.append(await reader.readexactly(length))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
        warm = await raw_exchange(proxy.port, b"GET / HTTP/1.1\r\nHost: localhost\r\n"
                                              b"Connection: close\r\n\r\n")
        assert warm.startswith(b"HTTP/1.1 200")  # a pooled connection now waits
        reply = await _post_in_pieces(proxy.port, [b"a" * 500, b"b" * 500], pause=0.5)
        await asyncio.sleep(0.5)  # the backend's handlers end at their idle timeout
    finally:
        server.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert got[-1] == b"a" * 500 + b"b" * 500


async def test_a_pause_in_an_upload_does_not_count_against_the_response_timeout(
        backend_factory, proxy_factory):
    # timeout.response runs from the request's last byte: a browser pausing mid-upload
    # (or a backend slow to read it) is not a backend that sent no response headers.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url, timeout={"response": 0.5}))
    pieces = [b"x" * 100_000, b"y" * 100_000]  # over 64 KiB: streamed upstream
    reply = await _post_in_pieces(proxy.port, pieces, pause=1.0)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert backend.recorder.last.body == b"".join(pieces)


async def test_a_backend_that_stops_reading_an_upload_gets_504_after_the_response_timeout(
        proxy_factory):
    # It read the head, then neither the body nor an answer: devproxy's write of the body
    # waited on it for good, outside every timeout, and the browser hung until the
    # backend closed. That wait is the backend's, as nginx's proxy_send_timeout says.
    release = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15):
                await release.wait()
        writer.close()

    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # fills sooner
    listening.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(serve, sock=listening)
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{listening.getsockname()[1]}",
                                          timeout={"response": 0.5}))
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        size = 32 << 20  # more than the loopback buffers on the way hold

        async def upload() -> None:
            writer.write(f"POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: {size}"
                         f"\r\n\r\n".encode())
            for _ in range(size >> 20):
                writer.write(b"u" * (1 << 20))
                await writer.drain()

        sending = asyncio.create_task(upload())
        async with asyncio.timeout(8):  # the backend would hold it for 15 s
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
            body = await reader.readexactly(length)
        sending.cancel()
        writer.close()
    finally:
        release.set()
        server.close()
    assert head.startswith(b"HTTP/1.1 504"), head
    assert b"stopped reading the request body" in body
    assert b"timeout.response (0.5s)" in body


async def test_a_backend_reading_an_upload_slowly_is_waited_for_not_timed_out(proxy_factory):
    # It takes 16 KiB every 20 ms, much slower than loopback: the body waits in
    # devproxy's buffer and the kernel's, megabytes, for longer than timeout.response.
    # Slow is not stuck, and the response clock starts once it has taken the body.
    size = 2 << 20
    got = bytearray()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        async with asyncio.timeout(20):
            while len(got) < size:
                got.extend(await reader.read(16384))
                await asyncio.sleep(0.02)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    listening.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(serve, sock=listening)
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{listening.getsockname()[1]}",
                                          timeout={"response": 0.5}))
        reply = await _post_in_pieces(proxy.port, [b"s" * size], pause=0)
    finally:
        server.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert len(got) == size


async def test_a_backend_that_took_a_streamed_upload_whole_has_one_response_timeout(
        proxy_factory):
    # The body went past 64 KiB, so it was streamed; the backend took all of it, then
    # never answered. The response clock starts when it has the body: once, not after
    # a first timeout spent watching for it to take bytes it already had.
    size = 200_000
    taken = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(size)
        taken.set_result(time.monotonic())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await reader.read()  # no answer; the proxy gives up first
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}",
                                          timeout={"response": 1.0}))
        reply = await _post_in_pieces(proxy.port, [b"w" * size], pause=0)
        answered = time.monotonic()
    finally:
        server.close()
    assert reply.startswith(b"HTTP/1.1 504"), reply[:300]
    assert b"sent no response headers within timeout.response (1s)" in reply, reply
    assert answered - taken.result() < 1.6  # 2 s with the timeout counted twice


async def test_a_head_answer_with_a_repeated_content_length_is_relayed_not_a_500(
        proxy_factory):
    # aiohttp took the backend's "5, 5" as the browser's Content-Length and failed
    # on it: devproxy's own 500, blaming itself.
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
        reply = await raw_exchange(proxy.port, b"HEAD /x HTTP/1.1\r\nHost: localhost\r\n"
                                               b"Connection: close\r\n\r\n")
    finally:
        server.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert reply.count(b"Content-Length: 5\r\n") == 1 and reply.endswith(b"\r\n\r\n")


async def _gated_backend(interim: bytes) -> tuple[asyncio.Server, asyncio.Event]:
    """A backend that writes ``interim`` at once and its final answer only once the
    returned event is set: what arrives before it is passed on as it came."""
    release = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(interim)
        await writer.drain()
        async with asyncio.timeout(10):
            await release.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0), release


async def test_a_103_reaches_the_browser_before_the_final_answer_exists(proxy_factory):
    # RFC 9110 §15.2: a proxy MUST forward 1xx responses; Early Hints only help while
    # the backend is still working on the final one. Hop-by-hop fields stay behind.
    server, release = await _gated_backend(
        b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload; as=style\r\n"
        b"Connection: X-Hop\r\nX-Hop: 1\r\n\r\n")
    port = server.sockets[0].getsockname()[1]
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        async with asyncio.timeout(5):
            early = await reader.readuntil(b"\r\n\r\n")
        release.set()
        async with asyncio.timeout(5):
            rest = await reader.read()
        writer.close()
    finally:
        server.close()
    assert early == (b"HTTP/1.1 103 Early Hints\r\n"
                     b"Link: </app.css>; rel=preload; as=style\r\n\r\n")
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n") and rest.endswith(b"\r\n\r\nok"), rest


@pytest.mark.parametrize(("interim", "version"), [
    pytest.param(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
                 b"HTTP/1.0", id="none-to-an-http-1.0-client"),  # RFC 9110 §15.2
    pytest.param(b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1",
                 id="100-continue-is-devproxys-own"),
])
async def test_interim_answers_not_passed_on(proxy_factory, interim, version):
    server, release = await _gated_backend(interim)
    release.set()
    port = server.sockets[0].getsockname()[1]
    try:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
        reply = await raw_exchange(proxy.port, b"GET / " + version +
                                   b"\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    finally:
        server.close()
    assert reply.startswith(version + b" 200 OK\r\n"), reply
    assert reply.count(b"HTTP/1.") == 1, reply


def test_verbose_header_dumps_escape_a_backends_control_characters() -> None:
    # -v prints what the backend sent; an ANSI escape in a header must not colour (or
    # clear) the developer's terminal now that such heads are relayed.
    assert dump_headers([("X-Debug", "\x1b[32mok\x7f\tz")]) == "    X-Debug: \\x1b[32mok\\x7f\tz"


async def test_a_raw_written_head_still_refuses_cr_lf_and_nul(aiohttp_client) -> None:
    # RawHeadResponse writes past aiohttp's own check; a head with CR or LF from any
    # future source must not split the response (RFC 9112 §2.2).
    from devproxy.forward import RawHeadResponse

    raised: list[BaseException] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        response = RawHeadResponse(headers={"X-Ok": "\x1b[1m", "X-Bad": "a\r\nSet-Cookie: x=1"})
        try:
            await response.prepare(request)
        except ValueError as exc:
            raised.append(exc)
            raise
        return response

    app = web.Application()
    app.router.add_get("/", handler)
    client = await aiohttp_client(app)
    assert client.port is not None
    reply = await raw_exchange(client.port, b"GET / HTTP/1.1\r\nHost: localhost\r\n"
                                            b"Connection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 500") and b"X-Bad" not in reply
    assert b"Set-Cookie" not in reply
    assert [str(e) for e in raised] == ["a CR, LF or NUL in a relayed head"]


@pytest.mark.parametrize("cookie", [False, True])
async def test_a_redirect_back_to_itself_is_explained_once(
        backend_factory, proxy_factory, client, caplog, cookie: bool) -> None:
    # Vite with base '/app/' behind a route that strips /app: it redirects the / it gets
    # to /app/, which the browser asks again, for ever. A redirect that sets a cookie is
    # a login's or a cookie check's, answered otherwise the second time: not explained.
    got: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        got.append(request.raw_path)
        headers = {"Location": "/app/"}
        if cookie:
            headers["Set-Cookie"] = "seen=1; Path=/"
        return web.Response(status=302, headers=headers)

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/app", backend.url, strip_prefix=True))
    with caplog.at_level(logging.WARNING, logger="devproxy.forward"):
        for _ in range(3):
            async with client.get(proxy.url + "/app/", allow_redirects=False) as resp:
                assert resp.status == 302 and resp.headers["Location"] == "/app/"
    said = [r.getMessage() for r in caplog.records if "ERR_TOO_MANY_REDIRECTS" in r.getMessage()]
    assert got == ["/"] * 3
    # Each is marked in the inspector's list, its detail saying why.
    errors = [r.error for r in proxy.server.app[CAPTURES].newest_first()]
    if cookie:
        assert said == [] and errors == [""] * 3
    else:
        assert len(said) == 1, said
        assert errors == [said[0]] * 3
        assert "answered /app/ with a redirect to /app/" in said[0]
        assert "so the backend got /" in said[0] and "Set strip_prefix: false" in said[0]


@pytest.mark.parametrize(("method", "status", "location"), [
    ("POST", 303, "/form"),  # Post/Redirect/Get: the browser comes back with a GET
    ("POST", 302, "/form"),  # followed with a GET too (Fetch §4.4)
    ("GET", 300, "/form"),  # not a status the browser follows
    ("GET", 302, "http://[::1/"),  # a Location urllib cannot read: passed on, unexplained
])
async def test_a_redirect_that_is_no_loop_is_passed_on_unexplained(
        backend_factory, proxy_factory, client, caplog, method: str, status: int,
        location: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": location})

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    with caplog.at_level(logging.WARNING, logger="devproxy.forward"):
        async with client.request(method, proxy.url + "/form",
                                  allow_redirects=False) as resp:
            assert resp.status == status and resp.headers["Location"] == location
    assert "ERR_TOO_MANY_REDIRECTS" not in caplog.text
    assert [r.error for r in proxy.server.app[CAPTURES].newest_first()] == [""]


async def test_a_431_from_the_backend_is_explained_once(
        backend_factory, proxy_factory, client, caplog) -> None:
    # Node's servers answer a request head over 16 KiB with a bare 431: a blank page.
    # Cookies for localhost piled up by other apps are the usual cause.
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=431)

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    cookie = "; ".join(f"app{i}=" + "x" * 900 for i in range(7))  # under aiohttp's 8 KiB
    with caplog.at_level(logging.WARNING, logger="devproxy.forward"):
        for _ in range(2):
            async with client.get(proxy.url + "/", headers={"Cookie": cookie}) as resp:
                assert resp.status == 431 and await resp.read() == b""
    said = [r.getMessage() for r in caplog.records if "with 431" in r.getMessage()]
    assert len(said) == 1, said
    assert f"{len(cookie):,} of them cookies" in said[0]
    assert "--max-http-header-size" in said[0]
    errors = [r.error for r in proxy.server.app[CAPTURES].newest_first()]
    assert errors == [said[0]] * 2


@pytest.mark.parametrize(("answer", "explained"), [
    (b"Invalid Host header", True),  # webpack-dev-server
    (b'Blocked request. This host ("myapp.test") is not allowed.\nTo allow this host, '
     b"add \"myapp.test\" to `server.allowedHosts` in vite.config.js.", True),  # Vite 6
    (b"Forbidden: log in first", False),  # the app's own 403: nothing to do with Host
])
async def test_a_dev_server_refusing_an_allowed_host_name_is_explained(
        backend_factory, proxy_factory, client, caplog, answer: bytes,
        explained: bool) -> None:
    # A name in allowed_hosts passes devproxy, then the dev server's own allowlist,
    # which knows only localhost and addresses; the page just shows the 403's text.
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=403, body=answer, content_type="text/plain")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url), allowed_hosts=("myapp.test",))
    with caplog.at_level(logging.WARNING, logger="devproxy.forward"):
        for _ in range(2):
            async with client.get(proxy.url + "/", headers={
                    "Host": f"myapp.test:{proxy.port}"}) as resp:
                assert resp.status == 403 and await resp.read() == answer
    said = [r.getMessage() for r in caplog.records if "refused the Host" in r.getMessage()]
    errors = [r.error for r in proxy.server.app[CAPTURES].newest_first()]
    if explained:
        assert len(said) == 1 and f"'myapp.test:{proxy.port}' (the browser's)" in said[0]
        assert "Set change_origin: true on route /" in said[0]
        assert "\n" not in said[0]  # one line in the log, the page's text included
        assert errors == [said[0]] * 2
    else:
        assert said == [] and errors == ["", ""]


@pytest.mark.parametrize("change_origin", [False, True])
async def test_a_virtual_host_answering_421_is_explained_once_per_route(
        backend_factory, proxy_factory, client, caplog, change_origin: bool) -> None:
    # nginx's default server, Caddy, a PaaS router: 421 for a Host they do not serve
    # (RFC 9110 §15.5.20). Without change_origin they get the browser's Host.
    async def handler(request: web.Request) -> web.Response:
        served = request.host == "api.localhost"
        return web.Response(status=200 if served else 421, text=f"host={request.host}")

    backend = await backend_factory(handler)
    target = f"http://localhost:{backend.port}"
    proxy = await proxy_factory(route("/api", target, change_origin=change_origin))
    with caplog.at_level(logging.WARNING, logger="devproxy.forward"):
        for path in ("/api/a", "/api/b"):
            async with client.get(proxy.url + path) as resp:
                assert resp.status == 421
    said = [r.getMessage() for r in caplog.records if "421 Misdirected" in r.getMessage()]
    assert len(said) == 1
    if change_origin:
        assert f"for Host 'localhost:{backend.port}', its own (change_origin)" in said[0]
        assert "set it as the route's Host (headers: {Host: NAME})" in said[0]
    else:
        assert f"the Host it was sent, '127.0.0.1:{proxy.port}'" in said[0]
        assert "set change_origin: true on route /api" in said[0]
    errors = [r.error for r in proxy.server.app[CAPTURES].newest_first()]
    assert errors == [said[0]] * 2


async def test_a_421_for_the_host_a_routes_headers_set_names_that_setting(
        backend_factory, proxy_factory, client, caplog) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=421, text=f"host={request.host}")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/e", backend.url, headers=(("Host", "wrong.test"),)))
    with caplog.at_level(logging.WARNING, logger="devproxy.forward"):
        async with client.get(proxy.url + "/e/x") as resp:
            assert resp.status == 421 and await resp.text() == "host=wrong.test"
    [said] = [r.getMessage() for r in caplog.records if "421 Misdirected" in r.getMessage()]
    assert "the Host route /e's headers set, 'wrong.test'" in said
    assert "change_origin" not in said


@pytest.mark.parametrize(("change_origin", "sent"), [
    (True, "whole"), (False, "whole"),
    (True, "streamed"),  # uvicorn: the head first, the page after
    (True, "gzip"),  # GZipMiddleware
])
async def test_a_django_csrf_refusal_devproxy_caused_is_explained_once(
        backend_factory, proxy_factory, client, caplog, change_origin: bool,
        sent: str) -> None:
    # With change_origin Django gets the target's Host, and its CSRF check compares it
    # with the page's Origin: a 403 that is devproxy's doing, explained as such.
    page = b"<p>CSRF verification failed. Request aborted.</p>"

    async def handler(request: web.Request) -> web.StreamResponse:
        if sent == "gzip":
            return web.Response(status=403, body=gzip.compress(page), headers={
                "Content-Type": "text/html", "Content-Encoding": "gzip"})
        if sent == "streamed":
            response = web.StreamResponse(status=403, headers={"Content-Type": "text/html"})
            await response.prepare(request)
            await asyncio.sleep(0.05)
            await response.write(page)
            await response.write_eof()
            return response
        return web.Response(status=403, content_type="text/html", body=page)

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/dj", backend.url, change_origin=change_origin))
    with caplog.at_level(logging.WARNING, logger="devproxy.forward"):
        for _ in range(2):
            async with client.post(proxy.url + "/dj/login/", data={"u": "a"},
                                   headers={"Origin": proxy.url}) as resp:
                assert resp.status == 403 and await resp.read()  # as a browser reads it
    said = [r.getMessage() for r in caplog.records if "CSRF" in r.getMessage()]
    errors = [r.error for r in proxy.server.app[CAPTURES].newest_first()]
    if change_origin:
        assert len(said) == 1 and "USE_X_FORWARDED_HOST = True" in said[0]
        assert errors == [said[0]] * 2
    else:
        assert said == [] and errors == ["", ""]


async def test_a_csrf_refusal_naming_no_reason_blames_the_origin_only_with_a_token_sent(
        backend_factory, proxy_factory, client) -> None:
    # Django with DEBUG = False: the same reasonless 403 for a missing token as for the
    # Origin. Only a request that sent a token (header or form field) rules it out.
    page = b"<p>CSRF verification failed. Request aborted.</p>"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=403, content_type="text/html", body=page)

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/dj", backend.url, change_origin=True))
    sends = [
        {"data": {"csrfmiddlewaretoken": "abc", "u": "a"}},
        {"json": {"u": "a"}, "headers": {"X-CSRFToken": "abc"}},
        {"data": {"u": "a"}},
    ]
    for send in sends:
        headers = {"Origin": proxy.url, **send.pop("headers", {})}
        async with client.post(proxy.url + "/dj/login/", headers=headers, **send) as resp:
            assert resp.status == 403 and await resp.read() == page
    bare, header, field = (r.error for r in proxy.server.app[CAPTURES].newest_first())
    for sure in (field, header):
        assert "Set USE_X_FORWARDED_HOST = True" in sure and "names no reason" not in sure
    assert "its 403 names no reason" in bare and "Set USE_X_FORWARDED_HOST" not in bare
    assert "a missing CSRF token" in bare and "set USE_X_FORWARDED_HOST = True" in bare


@pytest.mark.parametrize("change_origin", [False, True])
async def test_a_django_csrf_refusal_of_a_page_on_another_origin_is_explained(
        backend_factory, proxy_factory, client, caplog, change_origin: bool) -> None:
    # CORS mode: the page's origin is not devproxy's, and Django's check trusts only
    # its own unless told. devproxy's CORS headers let the page read, not pass it.
    page = (b'{"detail":"CSRF Failed: Origin checking failed - http://localhost:5173 '
            b'does not match any trusted origins."}')

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=403, body=page, content_type="application/json")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/dj", backend.url, change_origin=change_origin),
                                cors=CorsPolicy(origins=("http://localhost:5173",),
                                                credentials=True))
    with caplog.at_level(logging.WARNING, logger="devproxy.forward"):
        for _ in range(2):
            async with client.post(proxy.url + "/dj/api/items/", json={"a": 1},
                                   headers={"Origin": "http://localhost:5173"}) as resp:
                assert resp.status == 403 and await resp.read() == page
    said = [r.getMessage() for r in caplog.records if "CSRF" in r.getMessage()]
    assert len(said) == 1
    assert "the page is on http://localhost:5173, not http://127.0.0.1:" in said[0]
    assert "Add 'http://localhost:5173' to CSRF_TRUSTED_ORIGINS" in said[0]
    errors = [r.error for r in proxy.server.app[CAPTURES].newest_first()]
    assert errors == [said[0]] * 2
