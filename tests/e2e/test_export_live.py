"""`devproxy export` for real: the nginx and Caddy configs it writes pass `nginx -t` and
`caddy validate`, run on loopback in front of the same backend as devproxy, and pass
one shared set of behaviour checks, run against devproxy itself too.

nginx and Caddy come from Debian (`.ci/install-proxies.sh`). Without them these tests
skip, except under CI=true, where they fail. Every process started here is ended here,
by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from devproxy.cors import VARY_PREFLIGHT
from devproxy.export import export_config
from devproxy.loader import load_config

from ..conftest import stop_child

pytestmark = pytest.mark.e2e

FRONT = "http://localhost:5173"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"
KINDS = ["devproxy", "nginx", "caddy"]


@dataclass
class Seen:
    method: str
    path: str  # raw, with the query
    headers: dict[str, str]


@dataclass
class Stack:
    kind: str
    url: str
    host: str  # the proxy's host:port, as the browser sends it in Host
    backend: str  # the backend's host:port
    seen: list[Seen] = field(default_factory=list)

    @property
    def last(self) -> Seen:
        return self.seen[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


def _require(binary: str) -> None:
    if Path(binary).exists():
        return
    message = f"{binary} is missing: run .ci/install-proxies.sh"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


# --- the backend: one aiohttp app behind every route ------------------------------------


def _backend_app(seen: list[Seen]) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.raw_path.partition("?")[0]
        if path.endswith("/ws"):
            socket_ = web.WebSocketResponse()
            await socket_.prepare(request)
            async for message in socket_:
                await socket_.send_str("echo " + message.data)
            return socket_
        seen.append(Seen(request.method, request.raw_path, dict(request.headers)))
        if path.endswith("/sse"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                                   "Cache-Control": "no-cache"})
            await response.prepare(request)
            await response.write(b"data: first\n\n")
            for _ in range(100):  # then stay open, up to 5 s, until the client leaves
                if request.transport is None or request.transport.is_closing():
                    break
                await asyncio.sleep(0.05)
            return response
        if path.endswith("/redirect"):
            raise web.HTTPFound(f"http://127.0.0.1:{request.url.port}/next")
        if path.endswith("/to-other-route"):  # an identity provider's redirect_uri
            raise web.HTTPFound(f"http://{request.host}/keep/callback?code=1")
        if path.endswith("/redirect-relative"):
            raise web.HTTPFound("/login?next=1")
        if path.endswith("/cookie"):
            cookies = CIMultiDict([("Set-Cookie", "sid=1; Domain=127.0.0.1; Path=/; HttpOnly"),
                                   ("Set-Cookie", "pref=2; Domain=localhost; Path=/prefs")])
            return web.Response(headers=cookies)
        # The backend's own CORS answer, which CORS mode (backend_cors: replace) hides.
        return web.json_response({"path": request.raw_path}, headers={
            "Access-Control-Allow-Origin": "*", "Vary": "Accept"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@contextlib.asynccontextmanager
async def _backend(seen: list[Seen]) -> AsyncIterator[int]:
    runner = web.AppRunner(_backend_app(seen))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


def _config_text(port: int, backend: int, static: Path) -> str:
    target = f"http://127.0.0.1:{backend}"
    return f"""\
listen: 127.0.0.1:{port}
routes:
  - path: /api
    target: {target}
    strip_prefix: true
    change_origin: true
    headers: {{X-Dev-User: "al$ice"}}
  - path: /keep
    target: {target}
  - path: /v
    target: {target}/base
    strip_prefix: true
    rewrite: {{"^/base/old/(\\\\w+)": "/base/new/$1"}}
  - path: /drop
    target: {target}
    rewrite: {{"^/drop/": "b/", "^/drop": ""}}
  - path: /public
    target: {target}
    cors:
      origins: [{FRONT}, "http://127.0.0.1:*"]
      credentials: true
      expose: [X-Total]
      max_age: 600
  - path: /open
    target: {target}
    cors:
      origins: [{FRONT}]
  - path: /named
    target: {target}
    cors:
      origins: [{FRONT}]
      headers: [Content-Type]
      methods: [DELETE, PATCH]
  - path: /docs
    static: {static}
  - path: /café
    target: {target}
    strip_prefix: true
  - path: /
    target: {target}
"""


# --- the three proxies -------------------------------------------------------------------


def _nginx_main(tmp: Path) -> str:
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / temp).mkdir()
    # As root nginx would run its workers as nobody, who cannot read tmp_path.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""\
daemon off;
{user}pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/devproxy.conf;
}}
"""


def _caddy_isolated(caddyfile: str) -> str:
    """The exported Caddyfile with the admin API and automatic HTTPS off (test only)."""
    lines = caddyfile.splitlines()
    start = lines.index("{")  # the global options block the export always writes
    lines[start + 1:start + 1] = ["\tadmin off", "\tauto_https off"]
    return "\n".join(lines) + "\n"


async def _check(args: list[str], env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate()
    assert process.returncode == 0, f"{' '.join(args)}:\n{out.decode(errors='replace')[-3000:]}"


async def _prepare(kind: str, tmp: Path, config_file: Path, env: dict[str, str]) -> list[str]:
    """Write, validate, and return the command that runs ``kind``."""
    if kind == "devproxy":
        return [sys.executable, "-m", "devproxy", "up", "-c", str(config_file), "--no-reload"]
    config = load_config(config_file)
    if kind == "nginx":
        _require(NGINX)
        (tmp / "devproxy.conf").write_text(export_config(config, "nginx"))
        (tmp / "nginx.conf").write_text(_nginx_main(tmp))
        args = [NGINX, "-c", str(tmp / "nginx.conf"), "-p", str(tmp)]
        await _check([*args, "-t", "-q"], env)
        return args
    _require(CADDY)
    (tmp / "Caddyfile").write_text(_caddy_isolated(export_config(config, "caddy")))
    args = ["--config", str(tmp / "Caddyfile"), "--adapter", "caddyfile"]
    await _check([CADDY, "validate", *args], env)
    return [CADDY, "run", *args]


EVERY_OPTION = r"""listen: "[::1]:0"
allowed_hosts: [myapp.test, "*.example.test", "[::2]"]
cors:
  origins: "*"
  methods: [GET, PATCH]
  private_network: true
limits: {upstream_connections: 0, header_size: 8192, header_timeout: 2.5}
routes:
  - path: /api
    target: http://localhost:3000/v1/x
    strip_prefix: true
    change_origin: true
    rewrite:
      "^/v1/x/(?P<name>[a-z]+)/(\\d+)": "/v1/x/$<name>/\\2/$$"
      "(?i)a{2,}": "b"
      "(?<=x)y": ""
      "(a)\\1": "x"
      "(?x) ^/v1/x/ a  b  # a comment": "/v1/x/verbose"
    headers: {X-A: "v;{x} $y \\ \"q\"", X-Env: "{$home}"}
    timeout: {connect: 100, response: 0.5}
    wait_for_backend: 2
  - path: "/we;ird$/{p}"
    target: "https://127.0.0.1:3001/b;a$e"
    secure: false
    ws: false
    ws_origin: drop
    cors: false
  - path: /keep
    target: http://127.0.0.1:3002
    ws_origin: rewrite
    cors:
      origins: [http://localhost:5173, "http://127.0.0.1:*"]
      credentials: true
      backend_cors: keep
      headers: [Authorization, X-Requested-With]
      expose: [X-A, X-B]
      max_age: 0
  - path: /app
    static: ./app
    spa: true
    dotfiles: true
  - path: /site%20x
    static: ./site
"""


@pytest.mark.parametrize("kind", ["nginx", "caddy"])
async def test_every_option_exports_to_a_config_that_validates(kind: str, tmp_path: Path
                                                               ) -> None:
    for folder in ("app", "site"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "index.html").write_text("hi\n")
    config_file = tmp_path / "devproxy.yaml"
    config_file.write_text(EVERY_OPTION)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    await _prepare(kind, tmp_path, config_file, env)  # writes and validates


async def _wait_listening(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    for _ in range(200):  # 20 s at most
        if process.returncode is not None:
            pytest.fail(f"exited with {process.returncode}:\n{_tail(log)}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    pytest.fail(f"nothing listens on {port} after 20 s:\n{_tail(log)}")


@pytest.fixture(params=KINDS)
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    kind: str = request.param
    static = tmp_path / "site"
    static.mkdir()
    (static / "index.html").write_text("<h1>docs</h1>\n")
    (static / ".env").write_text("SECRET=1\n")
    seen: list[Seen] = []
    async with _backend(seen) as backend:
        port = _free_port()
        config_file = tmp_path / "devproxy.yaml"
        config_file.write_text(_config_text(port, backend, static))
        env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
               "XDG_CONFIG_HOME": str(tmp_path / "config")}
        args = await _prepare(kind, tmp_path, config_file, env)
        log = tmp_path / f"{kind}.log"
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                *args, cwd=tmp_path, env=env, stdout=sink, stderr=sink,
                stdin=asyncio.subprocess.DEVNULL)
        try:
            await _wait_listening(port, process, log)
            yield Stack(kind, f"http://127.0.0.1:{port}", f"127.0.0.1:{port}",
                        f"127.0.0.1:{backend}", seen)
        finally:
            await stop_child(process, 10)  # this PID only


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                     auto_decompress=False) as session:
        yield session


def _cors(response: aiohttp.ClientResponse) -> dict[str, list[str]]:
    return {name.lower(): response.headers.getall(name)
            for name in dict.fromkeys(response.headers)
            if name.lower().startswith("access-control-")}


def _vary(response: aiohttp.ClientResponse) -> set[str]:
    return {item.strip().lower() for value in response.headers.getall("Vary", [])
            for item in value.split(",") if item.strip()}


# --- the shared behaviour checks ----------------------------------------------------------


async def test_prefixes_match_whole_segments_and_strip(stack: Stack, client) -> None:
    async with client.get(stack.url + "/api/items?x=1") as resp:
        assert resp.status == 200
    assert stack.last.path == "/items?x=1"
    async with client.get(stack.url + "/api") as resp:
        assert resp.status == 200
    assert stack.last.path == "/"
    async with client.get(stack.url + "/apikey") as resp:
        assert resp.status == 200
    assert stack.last.path == "/apikey"  # the / route: /api does not match /apikey
    # A raw path under /api that reads / once decoded and normalised: devproxy routes
    # raw paths and refuses the pair; nginx chose location / by the normalised one.
    for ambiguous in ("/api/%2e%2e/x", "/api/..%2fx", "/docs/%2E%2E/x"):
        async with client.get(URL(stack.url + ambiguous, encoded=True)) as resp:
            assert resp.status == 400, (ambiguous, stack.kind)
    # The rest of the path goes as sent: an empty segment and an encoded slash too.
    async with client.get(URL(stack.url + "/api//dbl/a%2Fb//c", encoded=True)) as resp:
        assert resp.status == 200
    assert stack.last.path == "//dbl/a%2Fb//c"


async def test_a_raw_path_another_route_reads_differently_is_refused(stack: Stack,
                                                                     client) -> None:
    # Under a route that moves no path (/keep), and from another route's prefix: the
    # proxy that routes by the decoded, normalised path must not forward the raw one.
    requests = len(stack.seen)
    for ambiguous in ("/keep%2fx", "/open/%2e%2e/keep/x", "/x/../keep/y", "/cors/..%2fkeep"):
        async with client.get(URL(stack.url + ambiguous, encoded=True)) as resp:
            assert resp.status == 400, (ambiguous, stack.kind)
    assert len(stack.seen) == requests
    # From the catch-all, a prefix escaped in lower case; and what devproxy refuses in any
    # path: a backslash, an encoded CR, LF or NUL.
    for ambiguous in ("/caf%c3%a9/..", "/caf%c3%a9/%2E%2E", "/keep%5cx", "/keep%0dx",
                      "/keep%00x", "/x/%0a?q=1"):
        async with client.get(URL(stack.url + ambiguous, encoded=True)) as resp:
            assert resp.status == 400, (ambiguous, stack.kind)
    assert len(stack.seen) == requests
    # In a query they are a GraphQL GET's or a textarea's line breaks, a Windows path.
    async with client.get(URL(stack.url + "/x?q=a%0Ab%0D%0A&p=C:\\tmp", encoded=True)) as resp:
        assert resp.status == 200, stack.kind
    assert stack.last.path == "/x?q=a%0Ab%0D%0A&p=C:\\tmp"
    # An escape in lower case is the same path (RFC 3986 §2.1): served, as sent.
    async with client.get(URL(stack.url + "/caf%c3%a9/x", encoded=True)) as resp:
        assert resp.status == 200, stack.kind
    assert stack.last.path == "/x"


async def test_a_unicode_route_path_serves_what_browsers_send(stack: Stack, client) -> None:
    # A browser asks for /café/x as /caf%C3%A9/x; nginx and Caddy match it decoded.
    async with client.get(stack.url + "/caf%C3%A9/x?q=1") as resp:
        assert resp.status == 200
    assert stack.last.path == "/x?q=1"
    async with client.get(stack.url + "/cafés") as resp:
        assert resp.status == 200
    assert stack.last.path == "/caf%C3%A9s"  # the / route: whole segments only


async def test_host_follows_change_origin(stack: Stack, client) -> None:
    async with client.get(stack.url + "/api/a"):
        pass
    assert stack.last.headers["Host"] == stack.backend
    assert stack.last.headers["X-Forwarded-Host"] == stack.host
    assert stack.last.headers["X-Forwarded-Proto"] == "http"
    assert stack.last.headers["X-Forwarded-Prefix"] == "/api"
    assert stack.last.headers["X-Forwarded-For"].endswith("127.0.0.1")
    assert stack.last.headers["X-Dev-User"] == "al$ice"
    async with client.get(stack.url + "/keep/a", headers={
            "X-Forwarded-Prefix": "/evil", "Proxy-Authorization": "Basic dXNlcjpwdw=="}):
        pass
    assert stack.last.path == "/keep/a"
    assert "Proxy-Authorization" not in stack.last.headers  # a proxy's, not the backend's
    assert stack.last.headers["Host"] == stack.host
    assert "X-Forwarded-Prefix" not in stack.last.headers
    assert stack.last.headers["X-Forwarded-Port"] == stack.host.rpartition(":")[2]
    async with client.get(stack.url + "/keep/b", headers={"Host": "localhost"}):
        pass
    assert stack.last.headers["X-Forwarded-Port"] == "80"  # the port Host implies


async def test_base_path_and_rewrite_keep_the_raw_path(stack: Stack, client) -> None:
    async with client.get(stack.url + "/v/old/abc/x%2Fy%20z?q=%20") as resp:
        assert resp.status == 200
    assert stack.last.path == "/base/new/abc/x%2Fy%20z?q=%20"
    async with client.get(stack.url + "/v/other") as resp:
        assert resp.status == 200
    assert stack.last.path == "/base/other"


async def test_a_rewrite_to_nothing_or_a_relative_path_sends_one_from_the_root(
        stack: Stack, client) -> None:
    # RFC 9112 §3.2.1: origin-form starts with "/"; never "GET ?q=1" or "GET b/x".
    for path, sent in (("/drop?q=1", "/?q=1"), ("/drop/x?q=1", "/b/x?q=1")):
        async with client.get(stack.url + path) as resp:
            assert resp.status == 200, path
        assert stack.last.path == sent


async def test_websocket_echo(stack: Stack, client) -> None:
    async with client.ws_connect(stack.url + "/api/ws") as ws:
        await ws.send_str("hello")
        message = await ws.receive(timeout=5)
        assert message.data == "echo hello"


async def test_sse_first_event_arrives_at_once_and_the_stream_stays_open(stack: Stack,
                                                                          client) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with client.get(stack.url + "/api/sse") as resp:
        assert resp.status == 200
        line = await asyncio.wait_for(resp.content.readline(), 5)
        assert line == b"data: first\n"
        assert loop.time() - started < 1.0
        assert await asyncio.wait_for(resp.content.readline(), 1) == b"\n"
        with pytest.raises(TimeoutError):  # still open, nothing buffered behind it
            await asyncio.wait_for(resp.content.read(1), 0.5)
        assert not resp.content.at_eof()


async def test_cors_preflight_is_answered_with_exactly_devproxys_headers(stack: Stack,
                                                                         client) -> None:
    requests = len(stack.seen)
    async with client.options(stack.url + "/public/items", headers={
            "Origin": FRONT, "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type, x-requested-with"}) as resp:
        assert resp.status == 204
        assert _cors(resp) == {
            "access-control-allow-origin": [FRONT],
            "access-control-allow-credentials": ["true"],
            # Any method allowed: the common ones named, so that Chromium's one cached
            # preflight per URL covers the next request's method too.
            "access-control-allow-methods": ["GET, HEAD, POST, PUT, PATCH, DELETE"],
            "access-control-allow-headers": ["content-type, x-requested-with"],
            "access-control-max-age": ["600"],
        }
        assert resp.headers.getall("Vary") == [VARY_PREFLIGHT]
    # Without credentials "*" covers any other header; a rarer method is named as well.
    async with client.options(stack.url + "/open/items", headers={
            "Origin": FRONT, "Access-Control-Request-Method": "PROPFIND",
            "Access-Control-Request-Headers": "x-a"}) as resp:
        assert resp.status == 204
        assert _cors(resp) == {
            "access-control-allow-origin": [FRONT],
            "access-control-allow-methods": ["GET, HEAD, POST, PUT, PATCH, DELETE, PROPFIND"],
            "access-control-allow-headers": ["x-a, *"],
        }
    async with client.options(stack.url + "/open/items", headers={
            "Origin": FRONT, "Access-Control-Request-Method": "PUT"}) as resp:
        assert resp.status == 204
        assert "Access-Control-Allow-Headers" not in resp.headers  # none asked, none given
    async with client.options(stack.url + "/public", headers={
            "Origin": "http://127.0.0.1:4321", "Access-Control-Request-Method": "DELETE"}
                              ) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:4321"
        assert "Access-Control-Allow-Headers" not in resp.headers
    async with client.options(stack.url + "/public/items", headers={
            "Origin": "http://evil.test", "Access-Control-Request-Method": "PUT"}) as resp:
        assert resp.status == 403
        assert _cors(resp) == {}
    assert len(stack.seen) == requests  # preflights never reach the backend


async def test_cors_headers_listed_allow_a_preflight_that_asks_none(stack: Stack,
                                                                    client) -> None:
    # A DELETE, or a PUT of a form, is preflighted without Access-Control-Request-Headers.
    for asked, status in (("", 204), ("content-type", 204), ("x-other", 403)):
        extra = {"Access-Control-Request-Headers": asked} if asked else {}
        async with client.options(stack.url + "/named/items/1", headers={
                "Origin": FRONT, "Access-Control-Request-Method": "DELETE", **extra}) as resp:
            assert resp.status == status, (asked, await resp.text())
            if status == 204:
                assert resp.headers["Access-Control-Allow-Origin"] == FRONT


async def test_a_lower_case_method_is_refused_as_devproxy_refuses_it(stack: Stack,
                                                                     client) -> None:
    # fetch() sends 'patch' as written (Fetch §2.2.1), and an allowed PATCH does not
    # cover it (RFC 9110 §9.1): the backend would refuse 'patch' after the preflight.
    for path, method, status in (("/open/items", "patch", 403), ("/named/items", "patch", 403),
                                 ("/named/items", "PATCH", 204), ("/open/items", "PATCH", 204)):
        async with client.options(stack.url + path, headers={
                "Origin": FRONT, "Access-Control-Request-Method": method}) as resp:
            assert resp.status == status, (stack.kind, path, method)


async def test_cors_headers_on_actual_responses_replace_the_backends(stack: Stack,
                                                                     client) -> None:
    async with client.get(stack.url + "/public/items", headers={"Origin": FRONT}) as resp:
        assert resp.status == 200
        assert _cors(resp) == {
            "access-control-allow-origin": [FRONT],
            "access-control-allow-credentials": ["true"],
            "access-control-expose-headers": ["X-Total"],
        }
        assert _vary(resp) == {"accept", "origin"}
    async with client.get(stack.url + "/public/items",
                          headers={"Origin": "http://evil.test"}) as resp:
        assert resp.status == 200
        assert _cors(resp) == {}  # not even the backend's "*"
        assert "origin" in _vary(resp)


async def test_redirects_point_back_under_the_route(stack: Stack, client) -> None:
    async with client.get(stack.url + "/api/redirect", allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == stack.url + "/api/next"
    async with client.get(stack.url + "/api/redirect-relative", allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "/api/login?next=1"


async def test_a_redirect_to_another_routes_page_is_kept(stack: Stack, client) -> None:
    # /café strips its prefix and keeps the browser's Host: the backend's absolute URL at
    # that Host under another route (/keep) names a page there, not one under /café.
    async with client.get(stack.url + "/caf%C3%A9/to-other-route",
                          allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == stack.url + "/keep/callback?code=1", stack.kind


async def test_cookies_become_host_only_under_the_route(stack: Stack, client) -> None:
    async with client.get(stack.url + "/api/cookie") as resp:
        sid, pref = resp.headers.getall("Set-Cookie")

    def attributes(cookie: str) -> dict[str, str]:
        return {name.strip().lower(): value.strip() for name, _, value in
                (part.partition("=") for part in cookie.split(";")[1:])}

    assert sid.startswith("sid=1;") and pref.startswith("pref=2;")
    assert attributes(sid)["path"] == "/"  # the whole site stays the whole site
    assert attributes(pref)["path"] == "/api/prefs"  # a backend path, under the route
    for cookie in (sid, pref):  # absent, or empty: ignored (RFC 6265 §5.2.3)
        assert attributes(cookie).get("domain", "") == ""
    assert "httponly" in attributes(sid)


async def test_static_folder_index_redirect_and_dotfiles(stack: Stack, client) -> None:
    async with client.get(stack.url + "/docs", allow_redirects=False) as resp:
        assert resp.status == 308
        assert resp.headers["Location"] in ("/docs/", stack.url + "/docs/")
    async with client.get(URL(stack.url + "/docs?invite=a%2Fb%26c&x", encoded=True),
                          allow_redirects=False) as resp:
        assert resp.status == 308
        assert resp.headers["Location"] in ("/docs/?invite=a%2Fb%26c&x",
                                            stack.url + "/docs/?invite=a%2Fb%26c&x"), stack.kind
    async with client.get(stack.url + "/docs/") as resp:
        assert resp.status == 200
        assert await resp.text() == "<h1>docs</h1>\n"
        # Else a page without <meta charset> is read as windows-1252.
        assert resp.headers["Content-Type"].lower().replace(" ", "") == \
            "text/html;charset=utf-8", stack.kind
    async with client.get(stack.url + "/docs/.env") as resp:
        assert resp.status == 404


async def test_foreign_host_names_are_refused(stack: Stack, client) -> None:
    async with client.get(stack.url + "/keep/a", headers={"Host": "evil.test"}) as resp:
        assert resp.status == 403
    async with client.get(stack.url + "/keep/a", headers={"Host": "app.localhost"}) as resp:
        assert resp.status == 200


@pytest.mark.parametrize("host", ["127.0.0.2", "192.168.1.5:8080", "[fd00::1]:8080"])
async def test_any_ip_address_is_served(stack: Stack, client, host: str) -> None:
    # A rebinding attack needs a name; a phone on the LAN uses the machine's address.
    async with client.get(stack.url + "/keep/a", headers={"Host": host}) as resp:
        assert resp.status == 200
    async with client.get(stack.url + "/keep/a", headers={"Host": "256.1.1.1"}) as resp:
        assert resp.status == 403
