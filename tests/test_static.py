"""devproxy.static: the sandboxed decision (pure tier) and the served files over real
loopback sockets (integration tier; raw sockets for bytes the client would normalise)."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import logging
import os
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from devproxy.config import Route, normalize_prefix, parse_target
from devproxy.static import resolve_static, serve_static

from .conftest import leave_part_way, route

SECRET = b"TOP-SECRET-c0ffee-7d1e"  # the content of a file beside the root
INDEX = b"<!doctype html><title>root index</title>"
APP_JS = b"console.log('app');\n"


@dataclass
class Site:
    root: Path
    secret: Path


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """tmp/site is a route's folder; tmp/secret.txt lies beside it, one ".." away."""
    root = tmp_path / "site"
    files = {
        "index.html": INDEX,
        "app.js": APP_JS,
        "style.css": b"body { color: red }\n",
        "data.json": b'{"ok": true}\n',
        "logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg"/>\n',
        "with space.txt": b"spaced\n",
        "docs/index.html": b"<p>docs</p>\n",
        "sub/a.txt": b"a\n",
        ".env": b"DOTENV=1\n",
        ".git/config": b"[core]\n",
        ".well-known/security.txt": b"Contact: mailto:x@example.com\n",
    }
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    (root / "empty").mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    return Site(root, secret)


# -- pure tier: resolve_static decides from the file system alone ----------------------


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        pytest.param("/app.js", "app.js", id="file"),
        pytest.param("", "index.html", id="empty-rest-is-the-root-directory"),
        pytest.param("/", "index.html", id="root-directory"),
        pytest.param("/docs", "docs/index.html", id="directory-without-slash"),
        pytest.param("/docs/", "docs/index.html", id="directory-with-slash"),
        pytest.param("/docs/index.html", "docs/index.html", id="index-by-name"),
        pytest.param("/sub//a.txt", "sub/a.txt", id="empty-segment-ignored"),
        pytest.param("/%61pp.js", "app.js", id="percent-decoded-once"),
        pytest.param("/with%20space.txt", "with space.txt", id="encoded-space"),
    ],
)
def test_resolve_names_a_file_inside_the_root(site: Site, rest: str, expected: str) -> None:
    assert resolve_static(site.root, rest, dotfiles=False) == (site.root / expected).resolve()


@pytest.mark.parametrize(
    "rest",
    [
        pytest.param("/missing.js", id="missing"),
        pytest.param("/empty", id="directory-without-index"),
        pytest.param("/empty/", id="directory-without-index-slash"),
        pytest.param("/app.js/", id="file-with-trailing-slash"),
        pytest.param("/app.js/x", id="file-used-as-directory"),
        pytest.param("/sub/../app.js", id="dotdot-even-when-it-stays-inside"),
        pytest.param("/sub/%2e%2e/app.js", id="encoded-dotdot-even-when-it-stays-inside"),
        pytest.param("/./app.js", id="dot-segment"),
        pytest.param("/%2e/app.js", id="encoded-dot-segment"),
        pytest.param("/app.js%00", id="nul"),
        pytest.param("/sub\\a.txt", id="backslash"),
        pytest.param("/sub%5ca.txt", id="encoded-backslash"),
        pytest.param("/%ff", id="invalid-utf8"),
        pytest.param("/\udcff", id="surrogate-from-lenient-parser"),
        pytest.param("app.js", id="no-leading-slash"),
        pytest.param("/" + "a" * 5000, id="name-too-long"),
        pytest.param("/.env", id="dotfile"),
        pytest.param("/.git/config", id="dot-directory"),
    ],
)
def test_resolve_refuses_or_misses(site: Site, rest: str) -> None:
    assert resolve_static(site.root, rest, dotfiles=False) is None


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        pytest.param("/.env", ".env", id="dotfile"),
        pytest.param("/.well-known/security.txt", ".well-known/security.txt", id="dot-dir"),
        pytest.param("/sub/../.env", None, id="dotdot-still-refused"),
        pytest.param("/%2e%2e/secret.txt", None, id="encoded-dotdot-still-refused"),
    ],
)
def test_resolve_with_dotfiles_allowed(site: Site, rest: str, expected: str | None) -> None:
    want = None if expected is None else (site.root / expected).resolve()
    assert resolve_static(site.root, rest, dotfiles=True) == want


def test_resolve_decodes_exactly_once(site: Site) -> None:
    (site.root / "%41.txt").write_bytes(b"literal\n")
    (site.root / "A.txt").write_bytes(b"decoded twice\n")
    assert resolve_static(site.root, "/%2541.txt", dotfiles=False) == (
        site.root / "%41.txt"
    ).resolve()


def test_resolve_decodes_strictly_rather_than_replacing_bad_bytes(site: Site) -> None:
    (site.root / "\ufffd.txt").write_bytes(b"replacement character\n")
    assert resolve_static(site.root, "/%ff.txt", dotfiles=False) is None
    assert resolve_static(site.root, "/%c0%ae.txt", dotfiles=False) is None


def test_resolve_applies_the_dotfile_rule_to_the_requested_name(site: Site) -> None:
    (site.root / ".alias.js").symlink_to(site.root / "app.js")
    assert resolve_static(site.root, "/.alias.js", dotfiles=False) is None
    assert resolve_static(site.root, "/.alias.js", dotfiles=True) is not None


def test_resolve_refuses_a_symlink_out_of_the_root(site: Site) -> None:
    (site.root / "leak.txt").symlink_to(site.secret)
    (site.root / "updir").symlink_to(site.root.parent, target_is_directory=True)
    assert resolve_static(site.root, "/leak.txt", dotfiles=True) is None
    assert resolve_static(site.root, "/updir/secret.txt", dotfiles=True) is None


def test_resolve_refuses_a_directory_index_that_links_out_of_the_root(site: Site) -> None:
    (site.root / "trap").mkdir()
    (site.root / "trap" / "index.html").symlink_to(site.secret)
    assert resolve_static(site.root, "/trap/", dotfiles=True) is None


def test_resolve_follows_a_symlink_inside_the_root_to_its_real_path(site: Site) -> None:
    (site.root / "latest.js").symlink_to(site.root / "app.js")
    assert resolve_static(site.root, "/latest.js", dotfiles=False) == (
        site.root / "app.js"
    ).resolve()


def test_resolve_applies_the_dotfile_rule_to_the_real_path_too(site: Site) -> None:
    (site.root / "public").symlink_to(site.root / ".git", target_is_directory=True)
    assert resolve_static(site.root, "/public/config", dotfiles=False) is None
    assert resolve_static(site.root, "/public/config", dotfiles=True) is not None


def test_resolve_survives_a_symlink_loop_and_a_fifo(site: Site) -> None:
    (site.root / "loop").symlink_to(site.root / "loop")
    os.mkfifo(site.root / "pipe")
    assert resolve_static(site.root, "/loop", dotfiles=False) is None
    assert resolve_static(site.root, "/pipe", dotfiles=False) is None


def test_resolve_works_through_a_root_that_is_itself_a_symlink(site: Site) -> None:
    alias = site.root.parent / "alias"
    alias.symlink_to(site.root, target_is_directory=True)
    assert resolve_static(alias, "/app.js", dotfiles=False) == (site.root / "app.js").resolve()


# -- integration tier: real sockets ---------------------------------------------------

Serve = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def serve(aiohttp_client: Any, site: Site) -> Serve:
    """Start an app whose catch-all strips a route prefix and calls serve_static."""

    async def start(*, prefix: str = "/static", spa: bool = False, dotfiles: bool = False,
                    root: Path | None = None) -> TestClient[Any, Any]:
        static_route = Route(normalize_prefix(prefix), static=root or site.root, spa=spa,
                             dotfiles=dotfiles)
        base = "" if static_route.path == "/" else static_route.path

        async def handler(request: web.Request) -> web.StreamResponse:
            path = request.raw_path.partition("?")[0]
            if path != base and not path.startswith(base + "/"):
                return web.Response(status=418, text="test app: no route")
            return await serve_static(request, static_route, path[len(base):])

        app = web.Application()
        app.router.add_route("*", "/{tail:(?s:.*)}", handler)
        client: TestClient[Any, Any] = await aiohttp_client(app)
        return client

    return start


@dataclass
class Raw:
    status: int
    head: bytes
    body: bytes


async def raw_get(client: TestClient[Any, Any], target: bytes, headers: bytes = b"",
                  method: bytes = b"GET") -> Raw:
    """Send the request line byte for byte; read the whole reply."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    try:
        writer.write(method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Connection: close\r\n" + headers + b"\r\n")
        async with asyncio.timeout(5):
            reply = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = reply.partition(b"\r\n\r\n")
    return Raw(int(head.split(b" ", 2)[1]), head, body)


@pytest.mark.parametrize(
    ("name", "types"),
    [
        pytest.param("index.html", {"text/html"}, id="html"),
        # Python < 3.12 says application/javascript; both are JavaScript MIME types.
        pytest.param("app.js", {"text/javascript", "application/javascript"}, id="js"),
        pytest.param("style.css", {"text/css"}, id="css"),
        pytest.param("data.json", {"application/json"}, id="json"),
        pytest.param("logo.svg", {"image/svg+xml"}, id="svg"),
    ],
)
async def test_files_are_served_with_their_content_type(serve: Serve, site: Site, name: str,
                                                        types: set[str]) -> None:
    client = await serve()
    resp = await client.get(f"/static/{name}")
    assert resp.status == 200
    assert resp.content_type in types
    assert await resp.read() == (site.root / name).read_bytes()
    assert resp.headers["Cache-Control"] == "no-cache"


async def test_a_directory_with_index_serves_it_at_the_slash_url(serve: Serve) -> None:
    client = await serve()
    for path in ("/static/", "/static/docs/"):
        resp = await client.get(path)
        assert resp.status == 200
        assert resp.content_type == "text/html"
    assert await (await client.get("/static/docs/")).read() == b"<p>docs</p>\n"


async def test_a_directory_without_slash_redirects_308_keeping_the_raw_query(
    serve: Serve,
) -> None:
    client = await serve()
    reply = await raw_get(client, b"/static/docs?q=a%2Fb&x")
    assert reply.status == 308
    assert b"\r\nLocation: /static/docs/?q=a%2Fb&x\r\n" in reply.head
    assert b"\r\nCache-Control: no-cache\r\n" in reply.head
    reply = await raw_get(client, b"/static")
    assert reply.status == 308
    assert b"\r\nLocation: /static/\r\n" in reply.head


async def test_the_slash_redirect_is_never_protocol_relative(serve: Serve, site: Site) -> None:
    (site.root / "evil.example").mkdir()
    (site.root / "evil.example" / "index.html").write_bytes(b"x")
    client = await serve(prefix="/")
    reply = await raw_get(client, b"//evil.example")
    assert reply.status == 308
    assert b"\r\nLocation: /evil.example/\r\n" in reply.head


async def test_a_directory_is_never_listed(serve: Serve) -> None:
    client = await serve()
    for path in (b"/static/sub/", b"/static/sub", b"/static/empty/"):
        reply = await raw_get(client, path)
        assert reply.status == 404
        assert b"a.txt" not in reply.body


async def test_not_found_names_the_route_but_no_machine_path(serve: Serve, site: Site) -> None:
    client = await serve()
    for accept in ("text/html", "application/json"):
        resp = await client.get("/static/nope.js", headers={"Accept": accept})
        assert resp.status == 404
        body = await resp.text()
        assert "/static" in body
        assert "nope.js" in body
        assert str(site.root) not in body
        assert str(site.root.parent) not in body
        assert resp.headers["Cache-Control"] == "no-cache"


async def test_a_folder_removed_while_serving_is_said_to_be_gone(serve: Serve,
                                                                 site: Site) -> None:
    # Checked at load time; a build cleaning its output folder removes it later.
    client = await serve()
    shutil.rmtree(site.root)
    resp = await client.get("/static/app.js", headers={"Accept": "application/json"})
    assert resp.status == 404
    problem = await resp.json()
    assert "folder that route /static serves is gone" in problem["detail"], problem
    assert "rebuild" in problem["hint"] and str(site.root) not in str(problem)


async def test_etag_revalidation_answers_304_without_a_body(serve: Serve) -> None:
    client = await serve()
    first = await client.get("/static/app.js")
    etag = first.headers["ETag"]
    assert "Last-Modified" in first.headers
    again = await client.get("/static/app.js", headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    assert again.headers["Cache-Control"] == "no-cache"
    changed = await client.get("/static/app.js", headers={"If-None-Match": '"other"'})
    assert changed.status == 200


async def test_a_range_request_gets_206_with_content_range(serve: Serve) -> None:
    client = await serve()
    resp = await client.get("/static/app.js", headers={"Range": "bytes=0-6"})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes 0-6/{len(APP_JS)}"
    assert await resp.read() == APP_JS[:7]
    beyond = await client.get("/static/app.js", headers={"Range": "bytes=9999-"})
    assert beyond.status == 416
    # A suffix of no bytes is unsatisfiable too (RFC 9110 §14.1.1).
    nothing = await client.get("/static/app.js", headers={"Range": "bytes=-0"})
    assert nothing.status == 416
    assert nothing.headers["Content-Range"] == f"bytes */{len(APP_JS)}"


async def test_if_range_resumes_only_the_file_it_names(serve: Serve, site: Site) -> None:
    # RFC 9110 §13.1.5: a Range under an If-Range that no longer matches gets the whole
    # file, so a download resumed after a change is never a mix of two versions.
    client = await serve()
    etag = (await client.get("/static/app.js")).headers["ETag"]
    same = await client.get("/static/app.js", headers={"Range": "bytes=0-6", "If-Range": etag})
    assert same.status == 206 and await same.read() == APP_JS[:7]
    for stale in ('"0-0"', "W/" + etag):  # weak tags never match: a strong comparison
        whole = await client.get("/static/app.js", headers={"Range": "bytes=0-6",
                                                             "If-Range": stale})
        assert whole.status == 200 and await whole.read() == APP_JS
    newer = APP_JS + b"// edited\n"
    (site.root / "app.js").write_bytes(newer)
    changed = await client.get("/static/app.js", headers={"Range": "bytes=0-6",
                                                           "If-Range": etag})
    assert changed.status == 200 and await changed.read() == newer


async def test_if_range_with_a_date_resumes_only_at_that_exact_date(serve: Serve,
                                                                  site: Site) -> None:
    # §13.1.5: a date validator must match Last-Modified exactly. Any later date was
    # taken, so a file put back with an older mtime (cp -p, tar, rsync -t) resumed
    # with the other file's bytes.
    client = await serve()
    os.utime(site.root / "app.js", (1_750_000_000, 1_750_000_000))  # saved long ago
    sent = (await client.get("/static/app.js")).headers["Last-Modified"]
    same = await client.get("/static/app.js", headers={"Range": "bytes=0-6", "If-Range": sent})
    assert same.status == 206 and await same.read() == APP_JS[:7]
    older = APP_JS.replace(b"a", b"b")
    (site.root / "app.js").write_bytes(older)
    os.utime(site.root / "app.js", (1_700_000_000, 1_700_000_000))  # before `sent`
    for date in (sent, "Tue, 24 Nov 2099 00:00:00 GMT", "not a date"):
        whole = await client.get("/static/app.js", headers={"Range": "bytes=0-6",
                                                             "If-Range": date})
        assert whole.status == 200 and await whole.read() == older


async def test_last_modified_is_never_later_than_date(serve: Serve, site: Site) -> None:
    # RFC 9110 §8.8.2.1. aiohttp rounds the mtime up to the next second: a file saved
    # this second said the next one, and `curl -z` got 304 for a second save within it.
    client = await serve()
    for mtime in (time.time() + 3600, time.time()):  # a clock ahead (a VM, a mount), now
        os.utime(site.root / "app.js", (mtime, mtime))
        resp = await client.get("/static/app.js")
        sent = email.utils.parsedate_to_datetime(resp.headers["Last-Modified"])
        assert sent <= email.utils.parsedate_to_datetime(resp.headers["Date"])
        # Not a second before Date, so weak (§8.8.2.2): If-Range may not resume by it.
        whole = await client.get("/static/app.js", headers={
            "Range": "bytes=0-6", "If-Range": resp.headers["Last-Modified"]})
        assert whole.status == 200 and await whole.read() == APP_JS
    (site.root / "app.js").write_bytes(APP_JS + b"// again\n")  # within the same second
    again = await client.get("/static/app.js",
                             headers={"If-Modified-Since": resp.headers["Last-Modified"]})
    assert again.status == 200


@pytest.mark.parametrize("field", ["bytes=0-1,4-5", "items=0-5", "bytes = 0-1, 3-"])
async def test_a_range_it_cannot_serve_gets_the_whole_file(serve: Serve, field: str) -> None:
    # Several ranges, or another unit: ignoring Range is allowed (RFC 9110 §14.2), a
    # 416 was not.
    client = await serve()
    resp = await client.get("/static/app.js", headers={"Range": field})
    assert resp.status == 200 and await resp.read() == APP_JS


@pytest.mark.parametrize(("field", "coded"), [
    ("gzip", True), ("GZIP;q=0.5", True), ("x-gzip", True), ("*", True),
    ("gzip;q=0", False), ("gzip; q=0.000, br", False), ("br;q=1, *;q=0", False),
    ("*, gzip;q=0", False), ("identity", False), ("gzip;q=nope", False),
])
async def test_a_precompressed_sibling_goes_only_where_its_coding_is_accepted(
        serve: Serve, site: Site, field: str, coded: bool) -> None:
    # RFC 9110 §12.5.3: q=0 refuses a coding; "*" stands for the codings not named.
    (site.root / "app.js.gz").write_bytes(gzip.compress(APP_JS))
    client = await serve()
    reply = await raw_get(client, b"/static/app.js", f"Accept-Encoding: {field}\r\n".encode())
    assert reply.status == 200
    assert (b"\r\nContent-Encoding: gzip\r\n" in reply.head) is coded
    assert (gzip.decompress(reply.body) if coded else reply.body) == APP_JS


async def test_every_answer_for_a_file_with_a_sibling_says_it_varies(
        serve: Serve, site: Site) -> None:
    # RFC 9110 §12.5.5: both the file and its .gz depend on Accept-Encoding; a 304
    # carries the Vary its 200 would have (§15.4.5).
    client = await serve()
    reply = await raw_get(client, b"/static/app.js", b"Accept-Encoding: gzip\r\n")
    assert b"Vary" not in reply.head  # no sibling: nothing was chosen
    (site.root / "app.js.gz").write_bytes(gzip.compress(APP_JS))
    for field in (b"gzip", b"identity"):
        reply = await raw_get(client, b"/static/app.js", b"Accept-Encoding: " + field + b"\r\n")
        assert reply.status == 200 and b"\r\nVary: Accept-Encoding\r\n" in reply.head, field
        tag = next(line for line in reply.head.split(b"\r\n") if line.lower().startswith(b"etag:"))
        again = await raw_get(client, b"/static/app.js", b"Accept-Encoding: " + field
                              + b"\r\nIf-None-Match: " + tag[6:].strip() + b"\r\n")
        assert again.status == 304 and b"\r\nVary: Accept-Encoding\r\n" in again.head, field


async def test_a_sibling_older_than_its_file_is_not_sent(serve: Serve, site: Site) -> None:
    # A .gz left by an older build would give browsers old code and curl the new.
    (site.root / "app.js.gz").write_bytes(gzip.compress(b"old"))
    edited = (site.root / "app.js").stat().st_mtime
    os.utime(site.root / "app.js.gz", (edited - 60, edited - 60))
    client = await serve()
    reply = await raw_get(client, b"/static/app.js", b"Accept-Encoding: gzip, br\r\n")
    assert reply.status == 200
    assert b"Content-Encoding" not in reply.head and reply.body == APP_JS
    # A fresh sibling of the other coding is still taken.
    (site.root / "app.js.br").write_bytes(b"old br")
    os.utime(site.root / "app.js.br", (edited - 60, edited - 60))
    (site.root / "app.js.gz").write_bytes(gzip.compress(APP_JS))
    reply = await raw_get(client, b"/static/app.js", b"Accept-Encoding: gzip, br\r\n")
    assert b"\r\nContent-Encoding: gzip\r\n" in reply.head
    assert gzip.decompress(reply.body) == APP_JS


@pytest.mark.parametrize(("name", "content_type"), [
    ("photo.webp", "image/webp"), ("font.woff2", "font/woff2"), ("app.js.map", "application/json"),
    # Text says UTF-8, or a page without <meta charset> is read as windows-1252; JSON
    # has no charset parameter (RFC 8259 §11).
    ("page.html", "text/html; charset=utf-8"), ("main.js", "text/javascript; charset=utf-8"),
    ("chunk.mjs", "text/javascript; charset=utf-8"), ("site.css", "text/css; charset=utf-8"),
    ("notes.txt", "text/plain; charset=utf-8"), ("data.json", "application/json"),
    ("logo.svg", "image/svg+xml"), ("README.md", "text/markdown; charset=utf-8"),
    # Not in Python's built-in table, which is aiohttp's (not the machine's mime.types).
    ("song.ogg", "audio/ogg"), ("voice.m4a", "audio/mp4"), ("take.flac", "audio/flac"),
    ("page.xhtml", "application/xhtml+xml"), ("anim.apng", "image/apng"),
    ("meta.jsonld", "application/ld+json"),
])
async def test_front_end_files_get_their_types(serve: Serve, site: Site, name: str,
                                               content_type: str) -> None:
    (site.root / name).write_bytes(b"{}")
    client = await serve()
    resp = await client.get(f"/static/{name}")
    assert resp.status == 200 and resp.headers["Content-Type"] == content_type


async def test_head_sends_the_headers_of_get_without_the_body(serve: Serve) -> None:
    client = await serve()
    reply = await raw_get(client, b"/static/app.js", method=b"HEAD")
    assert reply.status == 200
    assert f"\r\nContent-Length: {len(APP_JS)}\r\n".encode() in reply.head
    assert reply.body == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_get_405_with_allow(serve: Serve, method: str) -> None:
    client = await serve()
    resp = await client.request(method, "/static/app.js")
    assert resp.status == 405
    assert resp.headers["Allow"] == "GET, HEAD"
    assert APP_JS not in await resp.read()


async def test_spa_serves_index_for_an_html_navigation_to_a_missing_path(serve: Serve) -> None:
    client = await serve(spa=True)
    resp = await client.get("/static/users/42", headers={"Accept": "text/html,*/*;q=0.8"})
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert await resp.read() == INDEX
    existing = await client.get("/static/app.js", headers={"Accept": "text/html"})
    assert await existing.read() == APP_JS


async def test_spa_still_404s_a_missing_asset(serve: Serve) -> None:
    client = await serve(spa=True)
    resp = await client.get("/static/app.missing.js", headers={"Accept": "*/*"})
    assert resp.status == 404


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(b"/static/.env", id="dotfile"),
        pytest.param(b"/static/app.js%00", id="nul"),
        pytest.param(b"/static/..%5capp.js", id="backslash"),
        pytest.param(b"/static/%ff", id="invalid-utf8"),
        pytest.param(b"/static/sub/%2e%2e/nope", id="dotdot"),
    ],
)
async def test_spa_does_not_rewrite_a_refused_path(serve: Serve, target: bytes) -> None:
    client = await serve(spa=True)
    reply = await raw_get(client, target, b"Accept: text/html\r\n")
    assert reply.status == 404
    assert INDEX not in reply.body
    assert b"DOTENV" not in reply.body


async def test_without_spa_an_html_navigation_to_a_missing_path_is_404(serve: Serve) -> None:
    client = await serve(spa=False)
    resp = await client.get("/static/users/42", headers={"Accept": "text/html"})
    assert resp.status == 404
    assert "spa: true" in await resp.text()


async def test_spa_without_an_index_is_404(serve: Serve, site: Site) -> None:
    (site.root / "index.html").unlink()
    client = await serve(spa=True)
    resp = await client.get("/static/users/42", headers={"Accept": "text/html"})
    assert resp.status == 404
    text = await resp.text()
    assert "With `spa: true` a page is served the folder&#x27;s index.html, and it has none." \
        in text or "and it has none" in text
    assert str(site.root) not in text


async def test_serving_a_route_without_a_static_folder_is_a_caller_bug() -> None:
    target_route = Route("/api", target=parse_target("http://127.0.0.1:3000"))
    with pytest.raises(ValueError, match="not a static folder"):
        await serve_static(make_mocked_request("GET", "/api/x"), target_route, "/x")


@pytest.mark.parametrize("path", ["/static/.env", "/static/.git/config",
                                  "/static/.well-known/security.txt"])
async def test_dotfiles_are_404_by_default(serve: Serve, path: str) -> None:
    client = await serve()
    resp = await client.get(path)
    assert resp.status == 404


async def test_dotfiles_are_served_when_the_route_allows_them(serve: Serve) -> None:
    client = await serve(dotfiles=True)
    resp = await client.get("/static/.env")
    assert resp.status == 200
    assert await resp.read() == b"DOTENV=1\n"


async def test_a_symlink_out_of_the_root_is_404(serve: Serve, site: Site) -> None:
    (site.root / "leak.txt").symlink_to(site.secret)
    client = await serve(dotfiles=True)
    resp = await client.get("/static/leak.txt")
    assert resp.status == 404
    assert SECRET not in await resp.read()


async def test_a_symlink_inside_the_root_is_served(serve: Serve, site: Site) -> None:
    (site.root / "latest.js").symlink_to(site.root / "app.js")
    client = await serve()
    resp = await client.get("/static/latest.js")
    assert resp.status == 200
    assert await resp.read() == APP_JS


async def test_a_precompressed_sibling_is_served_only_when_it_is_a_regular_file(
    serve: Serve, site: Site,
) -> None:
    # aiohttp's FileResponse, not devproxy, picks <file>.gz for an Accept-Encoding: gzip
    # request; it must not follow a symlinked sibling out of the root.
    (site.root / "app.js.gz").symlink_to(site.secret)
    client = await serve()
    reply = await raw_get(client, b"/static/app.js", b"Accept-Encoding: gzip\r\n")
    assert reply.status == 200
    assert reply.body == APP_JS
    assert SECRET not in reply.body
    (site.root / "app.js.gz").unlink()
    (site.root / "app.js.gz").write_bytes(gzip.compress(APP_JS))
    reply = await raw_get(client, b"/static/app.js", b"Accept-Encoding: gzip\r\n")
    assert b"\r\nContent-Encoding: gzip\r\n" in reply.head
    assert gzip.decompress(reply.body) == APP_JS


# Each target would reach tmp/secret.txt if the sandbox decoded twice, normalised
# after checking, trusted a backslash or NUL, or followed "..". Raw bytes on the wire.
TRAVERSALS = [
    pytest.param(b"/static/../secret.txt", id="plain-dotdot"),
    pytest.param(b"/static/sub/../../secret.txt", id="dotdot-from-subdir"),
    pytest.param(b"/static/./../secret.txt", id="dot-then-dotdot"),
    pytest.param(b"/static//../secret.txt", id="double-slash-dotdot"),
    pytest.param(b"/static/%2e%2e/secret.txt", id="encoded-dotdot-lower"),
    pytest.param(b"/static/%2E%2E/secret.txt", id="encoded-dotdot-upper"),
    pytest.param(b"/static/.%2e/secret.txt", id="half-encoded-dotdot-1"),
    pytest.param(b"/static/%2e./secret.txt", id="half-encoded-dotdot-2"),
    pytest.param(b"/static/%2e/%2e%2e/secret.txt", id="encoded-dot-and-dotdot"),
    pytest.param(b"/static/sub/%2e%2e/%2e%2e/secret.txt", id="encoded-dotdot-twice"),
    pytest.param(b"/static/..%2fsecret.txt", id="encoded-slash-lower"),
    pytest.param(b"/static/..%2Fsecret.txt", id="encoded-slash-upper"),
    pytest.param(b"/static/%2e%2e%2fsecret.txt", id="fully-encoded"),
    pytest.param(b"/static/%2f..%2fsecret.txt", id="encoded-leading-slash"),
    pytest.param(b"/static/sub%2f..%2f..%2fsecret.txt", id="encoded-slashes-from-subdir"),
    pytest.param(b"/static/%2e%2e%2f%2e%2e%2fsecret.txt", id="fully-encoded-twice"),
    pytest.param(b"/static/%252e%252e/secret.txt", id="double-encoded-dotdot"),
    pytest.param(b"/static/%252e%252e%252fsecret.txt", id="double-encoded-all"),
    pytest.param(b"/static/..%252fsecret.txt", id="double-encoded-slash"),
    pytest.param(b"/static/%%32%65%%32%65/secret.txt", id="nested-percent"),
    pytest.param(b"/static/%c0%ae%c0%ae/secret.txt", id="overlong-utf8-dots"),
    pytest.param(b"/static/%c0%ae%c0%ae%c0%afsecret.txt", id="overlong-utf8-slash"),
    pytest.param(b"/static/%e0%80%ae%e0%80%ae/secret.txt", id="overlong-utf8-3-byte"),
    pytest.param(b"/static/%ef%bc%8e%ef%bc%8e/secret.txt", id="fullwidth-dots"),
    pytest.param(b"/static/%u002e%u002e/secret.txt", id="iis-u-encoding"),
    pytest.param(b"/static/..\\secret.txt", id="raw-backslash"),
    pytest.param(b"/static/..%5csecret.txt", id="encoded-backslash-lower"),
    pytest.param(b"/static/..%5Csecret.txt", id="encoded-backslash-upper"),
    pytest.param(b"/static/%2e%2e%5csecret.txt", id="encoded-dotdot-backslash"),
    pytest.param(b"/static/../secret.txt%00", id="nul-suffix"),
    pytest.param(b"/static/..%00/secret.txt", id="nul-in-dotdot"),
    pytest.param(b"/static/secret.txt%00.html", id="nul-extension-trick"),
    pytest.param(b"/static/..;/secret.txt", id="semicolon-segment"),
    pytest.param(b"/static/%2fSECRET_ABS", id="encoded-absolute-path"),
    pytest.param(b"/static//SECRET_ABS", id="absolute-path-after-prefix"),
]


@pytest.mark.parametrize("dotfiles", [False, True], ids=["dotfiles-off", "dotfiles-on"])
@pytest.mark.parametrize("target", TRAVERSALS)
async def test_traversal_is_404_and_never_leaks_the_secret(
    serve: Serve, site: Site, target: bytes, dotfiles: bool,
) -> None:
    # dotfiles-on matters: with dotfiles off, ".." also fails the dotfile rule, which
    # would hide a broken ".." check.
    target = target.replace(b"SECRET_ABS", str(site.secret).lstrip("/").encode())
    client = await serve(dotfiles=dotfiles)
    reply = await raw_get(client, target, b"Accept: text/html\r\n")
    assert reply.status == 404
    assert SECRET not in reply.body
    assert str(site.root).encode() not in reply.body


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The access log's lines, with the duration (which varies) taken out."""
    return [re.sub(r" \d+\.\dms ", " ", r.getMessage()) for r in caplog.records
            if r.name == "devproxy.access"]


async def test_the_log_and_the_inspector_see_the_file_the_browser_got(
        proxy_factory: Any, client: aiohttp.ClientSession, site: Site,
        caplog: pytest.LogCaptureFixture) -> None:
    # The status a file's request headers decide (304, 206) and the bytes it sent are
    # known only once it is sent: logged before, each of these read "200 0B".
    proxy = await proxy_factory(route("/", static=site.root))
    url = proxy.url + "/app.js"
    with caplog.at_level(logging.INFO, logger="devproxy.access"):
        async with client.get(url) as first:
            assert await first.read() == APP_JS
            etag = first.headers["ETag"]
        async with client.get(url, headers={"If-None-Match": etag}) as again:
            assert again.status == 304
        async with client.get(url, headers={"Range": "bytes=0-6"}) as part:
            assert part.status == 206
            assert await part.read() == APP_JS[:7]
        async with client.head(url) as head:
            assert head.status == 200
    size = len(APP_JS)
    assert _access_lines(caplog) == [f"GET /app.js -> / 200 {size}B",
                                     "GET /app.js -> / 304 0B",
                                     "GET /app.js -> / 206 7B",
                                     "HEAD /app.js -> / 200 0B"]
    async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
        records = (await resp.json())[::-1]
    assert [(r["status"], r["bytes_out"]) for r in records] == [
        (200, size), (304, 0), (206, 7), (200, 0)]
    async with client.get(f"{proxy.url}/__devproxy/api/requests/{records[1]['id']}") as resp:
        detail = await resp.json()
    assert ("etag", etag) in [(k.lower(), v) for k, v in detail["browser_response"]]


async def test_a_file_is_sent_once_though_aiohttp_prepares_it_again(
        proxy_factory: Any, site: Site) -> None:
    proxy = await proxy_factory(route("/", static=site.root))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        request = b"GET /app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        writer.write(request + request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        async with asyncio.timeout(5):
            reply = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    # Two requests, two responses, each with the file once: nothing more on the wire.
    first_head, rest = reply.split(b"\r\n\r\n", 1)
    assert first_head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest.startswith(APP_JS)
    second_head, second_body = rest[len(APP_JS):].split(b"\r\n\r\n", 1)
    assert second_head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert second_body == APP_JS


@pytest.mark.parametrize("sendfile", [True, False], ids=["sendfile", "read-loop"])
async def test_a_download_cut_off_is_logged_with_its_status_and_the_bytes_that_went(
        proxy_factory: Any, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, sendfile: bool) -> None:
    # The browser leaves a download part way (navigated away, a video seeked): the head
    # went, so the log and the inspector say 200, the bytes that went and why it ended,
    # not "499 0B" and a record with no status.
    if not sendfile:
        monkeypatch.setattr(aiohttp.web_fileresponse, "NOSENDFILE", True)
    size = 64 * 1024 * 1024
    (tmp_path / "big.bin").write_bytes(bytes(size))
    proxy = await proxy_factory(Route("/", static=tmp_path))
    got, line = await leave_part_way(proxy.port, b"/big.bin", 1024 * 1024, caplog)
    sent = re.fullmatch(r"GET /big.bin -> / 200 \d+\.\dms (\d+)B \(browser went away\)", line)
    assert sent is not None, line
    assert got <= int(sent[1]) < size
    async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
        (record,) = await resp.json()
    assert (record["kind"], record["status"], record["bytes_out"]) == ("static", 200, int(sent[1]))
    assert "closed the connection" in record["error"]


@pytest.mark.parametrize("sendfile", [True, False], ids=["sendfile", "read-loop"])
async def test_a_file_that_shrinks_while_sent_ends_the_response_at_once(
        proxy_factory: Any, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        sendfile: bool) -> None:
    # A build tool rewriting a file mid-download: the Content-Length promised more than
    # is left. The connection must close (RFC 9112 §8: an incomplete message), not
    # leave the browser waiting for bytes that never come, and the log and inspector
    # count what went. Both of aiohttp's ways to send a file: uvloop has no sendfile,
    # so `devproxy up` on it takes the read loop.
    if not sendfile:
        monkeypatch.setattr(aiohttp.web_fileresponse, "NOSENDFILE", True)
    size = 24 * 1024 * 1024
    (tmp_path / "big.bin").write_bytes(bytes(size))
    proxy = await proxy_factory(Route("/", static=tmp_path))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        writer.write(b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            assert f"Content-Length: {size}".encode() in head
            got = len(await reader.readexactly(64 * 1024))  # the send is under way
            os.truncate(tmp_path / "big.bin", 1024 * 1024)
            while chunk := await reader.read(1 << 20):  # ends at the close, not a timeout
                got += len(chunk)
    finally:
        writer.close()
    assert got < size
    async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
        (record,) = await resp.json()
    assert record["status"] == 200
    assert record["bytes_out"] == got
