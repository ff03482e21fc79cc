"""CORS mode over real sockets: preflights answered, headers on every response."""

from __future__ import annotations

import logging
import textwrap

import pytest
from aiohttp import web

from devproxy.app import _C_PARSER, ProxyServer
from devproxy.config import Config, CorsPolicy, Limits, Listen
from devproxy.loader import load_config
from devproxy.state import Live, Snapshot

from .conftest import raw_exchange, route

FRONT = "http://localhost:5173"
POLICY = CorsPolicy(origins=(FRONT,), credentials=True, expose=("X-Total-Count",),
                    max_age=600)


async def test_allowed_preflight_is_answered_by_devproxy_and_never_forwarded(
        backend_factory, proxy_factory, client):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    async with client.options(proxy.url + "/api/items", headers={
            "Origin": FRONT, "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, content-type"}) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == FRONT
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        assert resp.headers["Access-Control-Allow-Methods"] == \
            "GET, HEAD, POST, PUT, PATCH, DELETE"
        assert resp.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
        assert resp.headers["Access-Control-Max-Age"] == "600"
        assert "Access-Control-Request-Method" in resp.headers["Vary"]
    assert backend.recorder.seen == []


async def test_refused_preflight_gets_403_without_cors_headers_and_a_log_line(
        backend_factory, proxy_factory, client, caplog):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        async with client.options(proxy.url + "/api/items", headers={
                "Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}) as resp:
            assert resp.status == 403
            assert not [h for h in resp.headers if h.lower().startswith("access-control-")]
            assert "not in cors.origins" in await resp.text()
    assert backend.recorder.seen == []
    assert any("http://evil.example" in r.getMessage() and "cors.origins" in r.getMessage()
               for r in caplog.records)


async def test_a_refusal_names_the_line_of_the_setting_that_refused_it(
        backend_factory, proxy_factory, client, caplog, tmp_path):
    # A method or header refused is fixed at the block's methods: or headers: line, not
    # at its first (origins:) line, which the log and the inspector used to cite.
    backend = await backend_factory()
    source = tmp_path / "devproxy.yaml"
    source.write_text(textwrap.dedent(f"""\
        routes:
          - path: /api
            target: {backend.url}
            cors:
              origins: [{FRONT}]
              credentials: true

              methods: [GET, POST]
              headers:
                - content-type
        """))
    config = load_config(source)
    policy = config.routes[0].cors
    assert policy is not None
    assert (policy.line, policy.line_of("methods"), policy.line_of("headers")) == (5, 8, 9)
    proxy = await proxy_factory(*config.routes, source=source)
    asks = [({"Access-Control-Request-Method": "DELETE"}, "methods", 8),
            ({"Access-Control-Request-Method": "POST",
              "Access-Control-Request-Headers": "x-token"}, "headers", 9),
            ({"Access-Control-Request-Method": "GET"}, "origins", 5)]
    for ask, setting, line in asks:
        origin = "http://evil.example" if setting == "origins" else FRONT
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="devproxy"):
            async with client.options(proxy.url + "/api/items",
                                      headers={"Origin": origin, **ask}) as resp:
                assert resp.status == 403
        logged = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert len(logged) == 1 and f"{source}:{line}: add" in logged[0], logged
        async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
            newest = (await resp.json())[0]
        async with client.get(f"{proxy.url}/__devproxy/api/requests/{newest['id']}") as resp:
            cause = (await resp.json())["cors"]["cause"]
        assert "from the cors: block in devproxy.yaml line 5" in cause
        assert f"(cors.{setting}, devproxy.yaml line {line})" in cause, cause
    # The page's mistake is fixed in the page: no config line is cited for it.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        async with client.options(proxy.url + "/api/items", headers={
                "Origin": FRONT, "Access-Control-Request-Method": "patch"}) as resp:
            assert resp.status == 403
    [logged] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert logged.endswith("(write 'PATCH' in the page's fetch() call)"), logged


async def test_devproxys_own_refusals_carry_cors_headers_so_the_page_reads_why(
        backend_factory, proxy_factory, client):
    # A Host not in allowed_hosts: without CORS headers the page saw only "No
    # 'Access-Control-Allow-Origin' header", and the hint reached the terminal alone.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    foreign = {"Host": "myapp.test", "Origin": FRONT}
    async with client.get(proxy.url + "/api/items", headers=foreign) as resp:
        assert resp.status == 403
        assert resp.headers["Access-Control-Allow-Origin"] == FRONT
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        assert "allowed_hosts" in await resp.text()
    # An origin not listed still gets none: the refusal is no way round the allowlist.
    async with client.get(proxy.url + "/api/items", headers={
            **foreign, "Origin": "http://evil.example"}) as resp:
        assert resp.status == 403
        assert "Access-Control-Allow-Origin" not in resp.headers
    assert backend.recorder.seen == []


async def test_a_lower_case_method_is_refused_at_the_preflight_with_the_fix(
        backend_factory, proxy_factory, client):
    # Allowed here, the browser would send "patch", which devproxy's parser refuses with
    # a 400 the page sees only as "No 'Access-Control-Allow-Origin' header".
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    async with client.options(proxy.url + "/api/items", headers={
            "Origin": FRONT, "Access-Control-Request-Method": "patch"}) as resp:
        assert resp.status == 403
        assert "write 'PATCH' in the page's fetch() call" in await resp.text()
    assert backend.recorder.seen == []


async def test_a_method_devproxys_parser_refuses_is_refused_at_the_preflight(
        backend_factory, proxy_factory, client, caplog):
    # llhttp answers a method it does not know with 501 before reading a field, so the
    # request could never carry CORS headers: approving its preflight would turn the
    # 501 into "No 'Access-Control-Allow-Origin' header" in the page.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, cors=CorsPolicy(origins=(FRONT,))))
    answer = await raw_exchange(proxy.port, b"FOO /api/items HTTP/1.1\r\nHost: 127.0.0.1:%d"
                                b"\r\nOrigin: %s\r\nConnection: close\r\n\r\n"
                                % (proxy.port, FRONT.encode()))
    status = answer.split(b"\r\n")[0]
    async with client.options(proxy.url + "/api/items", headers={
            "Origin": FRONT, "Access-Control-Request-Method": "FOO"}) as resp:
        if not _C_PARSER:  # the pure-Python parser takes any token: FOO is carried
            assert status == b"HTTP/1.1 200 OK" and resp.status == 204
            return
        assert status == b"HTTP/1.1 501 Not Implemented"  # what the preflight spares the page
        assert resp.status == 403
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert "cannot take a FOO request" in await resp.text()
    assert "CORS preflight FOO /api/items" in caplog.text
    # A method llhttp knows (WebDAV's, QUERY) is approved as any other.
    for method in ("PROPFIND", "QUERY"):
        async with client.options(proxy.url + "/api/items", headers={
                "Origin": FRONT, "Access-Control-Request-Method": method}) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Methods"] == \
                f"GET, HEAD, POST, PUT, PATCH, DELETE, {method}"
    assert backend.recorder.seen == []


async def test_plain_options_without_request_method_is_forwarded(backend_factory,
                                                                 proxy_factory, client):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    async with client.options(proxy.url + "/api/items", headers={"Origin": FRONT}) as resp:
        assert resp.status == 200
    assert backend.recorder.last.method == "OPTIONS"


async def test_actual_response_reflects_the_origin_and_merges_vary(backend_factory,
                                                                    proxy_factory, client):
    async def handler(request: web.Request) -> web.Response:
        return web.json_response([1, 2], headers={
            "Vary": "Accept-Encoding", "X-Total-Count": "2",
            "Access-Control-Allow-Origin": "*"})  # the backend's own, to be replaced

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    async with client.get(proxy.url + "/api/items", headers={"Origin": FRONT}) as resp:
        assert resp.headers.getall("Access-Control-Allow-Origin") == [FRONT]
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        assert resp.headers["Access-Control-Expose-Headers"] == "X-Total-Count"
        assert resp.headers["Vary"] == "Accept-Encoding, Origin"


async def test_unlisted_origin_gets_no_cors_headers_even_the_backends(backend_factory,
                                                                      proxy_factory, client):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="x", headers={"Access-Control-Allow-Origin": "*"})

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    async with client.get(proxy.url + "/api/x", headers={"Origin": "http://evil.example"}) as r:
        assert "Access-Control-Allow-Origin" not in r.headers
        assert r.headers["Vary"] == "Origin"
        # Why, where DevTools shows it on the blocked request (and doctor reads it).
        assert r.headers["X-Devproxy-CORS"] == ("origin http://evil.example is not in "
                                                "cors.origins; add 'http://evil.example' "
                                                "to cors.origins")
    for allowed in (POLICY.origins[0], proxy.url):  # listed, and devproxy's own page
        async with client.get(proxy.url + "/api/x", headers={"Origin": allowed}) as r:
            assert "X-Devproxy-CORS" not in r.headers


async def test_an_unlisted_origin_is_logged_once_but_devproxys_own_never(
        backend_factory, proxy_factory, client, caplog):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        # Chromium sends Origin on a same-origin POST: a page served by devproxy itself.
        for origin in (proxy.url, "http://evil.example", "http://evil.example"):
            async with client.post(proxy.url + "/api/x", headers={"Origin": origin}) as r:
                assert r.status == 200
    warnings = [r.getMessage() for r in caplog.records if "cors.origins" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("CORS: http://evil.example is not in cors.origins")


@pytest.mark.parametrize("mode", ["navigate", "no-cors"])
async def test_an_unlisted_origin_the_browser_does_not_check_is_not_advised_in(
        backend_factory, proxy_factory, client, caplog, mode: str):
    # A form posted from another site (an OpenID form_post login callback) or a no-cors
    # fetch carries Origin but no CORS check (Fetch §4.1): telling the developer to add
    # that origin to cors.origins would only let that site read the API.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        async with client.post(proxy.url + "/api/callback", headers={
                "Origin": "https://idp.example", "Sec-Fetch-Mode": mode}) as r:
            assert r.status == 200
            assert "X-Devproxy-CORS" not in r.headers
    assert "cors.origins" not in caplog.text


async def test_backend_cors_keep_leaves_the_backends_own_headers_alone(backend_factory,
                                                                      proxy_factory, client):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="x", headers={"Access-Control-Allow-Origin": FRONT})

    backend = await backend_factory(handler)
    keep = CorsPolicy(origins=(FRONT,), credentials=True, backend_cors="keep")
    proxy = await proxy_factory(route("/api", backend.url, cors=keep))
    async with client.get(proxy.url + "/api/x", headers={"Origin": FRONT}) as resp:
        assert resp.headers.getall("Access-Control-Allow-Origin") == [FRONT]
        assert "Access-Control-Allow-Credentials" not in resp.headers


async def test_a_route_with_cors_false_says_why_only_where_a_page_is_refused(
        backend_factory, proxy_factory, client, tmp_path):
    # Under a top-level block, cors: false leaves CORS to the backend: where the backend
    # sends none and a page on another origin reads it with fetch(), devproxy says why.
    async def handler(request: web.Request) -> web.Response:
        own = request.query.get("own")
        return web.Response(text="x", headers={"Access-Control-Allow-Origin": own}
                            if own else {})

    backend = await backend_factory(handler)
    (tmp_path / "a.txt").write_text("a")
    proxy = await proxy_factory(route("/api", backend.url), route("/st", static=tmp_path),
                                cors=POLICY)
    async with client.get(proxy.url + "/api/x", headers={"Origin": FRONT}) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert resp.headers["X-Devproxy-CORS"].startswith("route /api has cors: false")
    async with client.get(proxy.url + "/st/a.txt", headers={"Origin": FRONT}) as resp:
        assert resp.headers["X-Devproxy-CORS"].startswith("route /st serves a static folder")
    quiet = [("/api/x?own=" + FRONT, {"Origin": FRONT}),  # the backend answers CORS
             ("/api/x", {"Origin": proxy.url}),  # devproxy's own page
             ("/api/x", {"Origin": FRONT, "Sec-Fetch-Mode": "navigate"}),  # no CORS check
             ("/st/a.txt", {"Origin": FRONT, "Sec-Fetch-Mode": "no-cors"})]
    for path, headers in quiet:
        async with client.get(proxy.url + path, headers=headers) as resp:
            assert resp.status == 200
            assert "X-Devproxy-CORS" not in resp.headers, (path, headers)


async def test_a_private_network_preflight_the_block_does_not_allow_is_logged_once(
        backend_factory, proxy_factory, client, caplog):
    # Answered without Access-Control-Allow-Private-Network, which a browser enforcing
    # Private Network Access needs: not refused (one in warning mode would then block
    # what it only warns of), but said, with the setting.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        for _ in range(2):
            async with client.options(proxy.url + "/api/x", headers={
                    "Origin": FRONT, "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Private-Network": "true"}) as resp:
                assert resp.status == 204
                assert "Access-Control-Allow-Private-Network" not in resp.headers
    said = [r.getMessage() for r in caplog.records if "private network" in r.getMessage()]
    assert len(said) == 1 and "set private_network: true" in said[0]


async def _kept_wildcard(backend_factory, proxy_factory):
    """devproxy with backend_cors: keep and credentials, before a backend that answers
    every origin with "Access-Control-Allow-Origin: *"."""
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="x", headers={"Access-Control-Allow-Origin": "*"})

    backend = await backend_factory(handler)
    keep = CorsPolicy(origins=(FRONT,), credentials=True, backend_cors="keep")
    return await proxy_factory(route("/api", backend.url, cors=keep))


async def test_backend_cors_keep_logs_the_browsers_reason_when_the_backend_gets_it_wrong(
        backend_factory, proxy_factory, client, caplog):
    proxy = await _kept_wildcard(backend_factory, proxy_factory)
    for _ in range(3):  # a bearer token says nothing of the credentials mode
        async with client.get(proxy.url + "/api/x", headers={
                "Origin": FRONT, "Authorization": "Bearer t"}) as resp:
            assert resp.headers.getall("Access-Control-Allow-Origin") == ["*"]
    warnings = [r.getMessage() for r in caplog.records if "backend_cors: keep" in r.getMessage()]
    assert len(warnings) == 1  # once, not per request
    assert "must not be the wildcard '*'" in warnings[0]
    # Without a cookie, the fetch may not have used credentials, and "*" then passes: the
    # warning says when it blocks rather than that it did.
    assert f"for {FRONT} when the page sends credentials (credentials: 'include')" \
        in warnings[0]


async def test_backend_cors_keep_warns_without_a_condition_when_credentials_were_sent(
        backend_factory, proxy_factory, client, caplog):
    proxy = await _kept_wildcard(backend_factory, proxy_factory)
    async with client.get(proxy.url + "/api/x", headers={"Origin": FRONT,
                                                         "Cookie": "session=1"}):
        pass
    [warning] = [r.getMessage() for r in caplog.records if "backend_cors: keep" in r.getMessage()]
    assert f"block GET /api/x for {FRONT}: " in warning


async def test_backend_cors_keep_warns_of_a_cookie_sent_where_the_config_allows_none(
        backend_factory, proxy_factory, client, caplog):
    # credentials unset in the block, but the page sent a cookie (credentials: 'include'):
    # the backend's answer without Allow-Credentials is blocked, and was not said.
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="x", headers={"Access-Control-Allow-Origin": FRONT})

    backend = await backend_factory(handler)
    keep = CorsPolicy(origins=(FRONT,), backend_cors="keep")
    proxy = await proxy_factory(route("/api", backend.url, cors=keep))
    async with client.get(proxy.url + "/api/x", headers={"Origin": FRONT,
                                                         "Cookie": "session=1"}):
        pass
    [warning] = [r.getMessage() for r in caplog.records if "backend_cors: keep" in r.getMessage()]
    assert f"block GET /api/x for {FRONT}: " in warning
    assert "'Access-Control-Allow-Credentials' header in the response is ''" in warning


async def test_devproxys_own_errors_carry_cors_headers(proxy_factory, client,
                                                       unused_tcp_port_factory):
    port = unused_tcp_port_factory()
    proxy = await proxy_factory(route("/api", f"http://127.0.0.1:{port}", cors=POLICY))
    async with client.get(proxy.url + "/api/x", headers={"Origin": FRONT}) as resp:
        assert resp.status == 502
        assert resp.headers["Access-Control-Allow-Origin"] == FRONT


@pytest.mark.parametrize(("query", "fields", "status", "setting"), [
    pytest.param("q=" + "a" * 5000, 0, 414, "limits.header_size", id="long-url"),
    pytest.param("", 30, 431, "limits.headers", id="too-many-fields"),
])
async def test_a_request_over_a_limit_gets_a_refusal_the_page_can_read(
        backend_factory, proxy_factory, client, query, fields, status, setting):
    # Without CORS headers the page saw "Failed to fetch" and a CORS error, not the
    # limit it ran into: so these limits are held after parsing, with the Origin known.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY),
                                limits=Limits(header_size=4096, headers=20))
    extra = {f"X-Field-{n}": "1" for n in range(fields)}
    async with client.get(f"{proxy.url}/api/items?{query}",
                          headers={"Origin": FRONT, **extra}) as resp:
        assert resp.status == status
        assert resp.headers["Access-Control-Allow-Origin"] == FRONT
        assert setting in (await resp.json())["hint"]
    assert backend.recorder.seen == []


@pytest.mark.parametrize("path, status, title, limits, also_root", [
    # Over limits.header_size: refused after parsing, so the refusal has the Origin.
    ("/api/items?q=" + "a" * 5000, 414, "URL too long", Limits(header_size=4096), False),
    # fetch() sends %2f as written: /api%2fitems is routed to / but decodes into /api.
    ("/api%2fitems", 400, "Ambiguous path", Limits(), True),
], ids=["over-long-url", "ambiguous-path"])
async def test_a_preflight_devproxy_answers_passes_so_the_request_reads_its_refusal(
        backend_factory, proxy_factory, client, path: str, status: int, title: str,
        limits: Limits, also_root: bool):
    # A refused preflight is a CORS error to the page: the request itself must be the
    # one refused, where the page can read why.
    backend = await backend_factory()
    root = (route("/", backend.url, cors=POLICY),) if also_root else ()
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY), *root,
                                limits=limits)
    url = proxy.url + path
    async with client.options(url, headers={
            "Origin": FRONT, "Access-Control-Request-Method": "PUT"}) as resp:
        assert resp.status == 204 and resp.headers["Access-Control-Allow-Origin"] == FRONT
    async with client.put(url, headers={"Origin": FRONT}) as resp:
        assert resp.status == status and resp.headers["Access-Control-Allow-Origin"] == FRONT
        assert (await resp.json())["title"] == title
    assert backend.recorder.seen == []


async def test_a_forwarded_preflight_for_an_ambiguous_path_is_still_refused(
        backend_factory, proxy_factory, client):
    # Without CORS mode the backend answers preflights: the path is never forwarded.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url), route("/", backend.url))
    async with client.options(f"{proxy.url}/api%2fitems", headers={
            "Origin": FRONT, "Access-Control-Request-Method": "PUT"}) as resp:
        assert resp.status == 400
    assert backend.recorder.seen == []


async def test_unmatched_path_404_carries_the_top_level_cors_headers(backend_factory, client):
    backend = await backend_factory()
    config = Config(listen=Listen("127.0.0.1", 0), cors=POLICY,
                    routes=(route("/api", backend.url, cors=POLICY),))
    server = ProxyServer(Live(Snapshot.build(config)))
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/nothing-here"
        async with client.get(url, headers={"Origin": FRONT}) as resp:
            assert resp.status == 404
            assert resp.headers["Access-Control-Allow-Origin"] == FRONT
    finally:
        await server.stop()


async def test_with_only_routes_blocks_an_unmatched_path_404_follows_the_one_listing_the_page(
        backend_factory, proxy_factory, client):
    # No top-level block: a mistyped API path still reaches the page as devproxy's 404,
    # under the first route block that lists its origin, not as a CORS failure; an
    # origin no block lists is told so, as on the routes.
    backend = await backend_factory()
    admin = "http://localhost:5174"
    proxy = await proxy_factory(
        route("/api", backend.url, cors=POLICY),
        route("/admin", backend.url, cors=CorsPolicy(origins=(admin,))))
    url = f"{proxy.url}/apj/items"
    async with client.options(url, headers={
            "Origin": FRONT, "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type"}) as resp:
        assert resp.status == 204 and resp.headers["Access-Control-Allow-Origin"] == FRONT
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    for origin in (FRONT, admin):
        async with client.put(url, headers={"Origin": origin}) as resp:
            assert resp.status == 404
            assert resp.headers["Access-Control-Allow-Origin"] == origin
            assert "Origin" in resp.headers["Vary"]
    async with client.get(url, headers={"Origin": "http://localhost:9999"}) as resp:
        assert resp.status == 404
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert "not in cors.origins" in resp.headers["X-Devproxy-CORS"]
    assert backend.recorder.seen == []


async def test_redirects_keep_cors_headers_for_simple_requests(backend_factory, proxy_factory,
                                                               client):
    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPFound("/api/next")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    async with client.get(proxy.url + "/api/start", headers={"Origin": FRONT},
                          allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Access-Control-Allow-Origin"] == FRONT


async def test_route_without_cors_adds_nothing(backend_factory, proxy_factory, client):
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    async with client.get(proxy.url + "/api/x", headers={"Origin": FRONT}) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert "Vary" not in resp.headers


async def test_a_cookie_the_browser_will_drop_is_logged_once_with_the_fix(
        backend_factory, proxy_factory, client, caplog):
    # The page on localhost calls devproxy on 127.0.0.1: two sites to the browser, so
    # a session cookie left at the default SameSite (Lax) is never stored, and login
    # "works" while every next request is logged out.
    async def handler(request: web.Request) -> web.Response:
        response = web.Response(text="ok")
        response.headers.add("Set-Cookie", "sid=1; Path=/; HttpOnly")
        response.headers.add("Set-Cookie", "theme=dark; Path=/; SameSite=None; Secure")
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    cross_site = {"Origin": FRONT, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        for _ in range(2):  # a page logging in twice gets one line, not two
            async with client.post(proxy.url + "/api/login", headers=cross_site) as resp:
                assert resp.status == 200
                assert resp.headers["Access-Control-Allow-Origin"] == FRONT
        # Same site (Sec-Fetch-Site), or a client that sends no Sec-Fetch-* (curl): the
        # cookie is stored, and nothing is said.
        for headers in ({**cross_site, "Sec-Fetch-Site": "same-site"}, {"Origin": FRONT}):
            async with client.post(proxy.url + "/api/other", headers=headers):
                pass
    [warning] = [r.getMessage() for r in caplog.records if "cookie" in r.getMessage()]
    assert warning.startswith(f"CORS: the browser will not store the cookie 'sid' that "
                              f"POST /api/login sets for the page at {FRONT}: "
                              f"SameSite=Lax (the default when unset) cookies from a "
                              f"cross-site fetch() are ignored; ")
    # The fix names the host the page was opened under, with devproxy's port.
    assert "the page's localhost and devproxy's 127.0.0.1 are different sites" in warning
    assert f"call devproxy as http://localhost:{proxy.port}" in warning


async def test_a_cookie_set_without_proof_of_credentials_is_explained_once(
        backend_factory, proxy_factory, client, caplog):
    # Same site, so the cookie itself is fine; but a cross-origin fetch() left at its
    # default credentials mode never stores it, and no header says which mode it was.
    async def handler(request: web.Request) -> web.Response:
        response = web.Response(text="ok")
        response.headers["Set-Cookie"] = f"{request.path.rsplit('/', 1)[1]}=1; Path=/"
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url, cors=POLICY))
    fetch = {"Origin": FRONT, "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"}
    with caplog.at_level(logging.INFO, logger="devproxy"):
        for _ in range(2):
            async with client.post(proxy.url + "/api/sid", headers=fetch) as resp:
                assert resp.status == 200
        # A Cookie proves credentials were sent; a navigation stores cookies anyway.
        async with client.post(proxy.url + "/api/theme", headers={**fetch, "Cookie": "a=1"}):
            pass
        async with client.post(proxy.url + "/api/lang",
                               headers={**fetch, "Sec-Fetch-Mode": "navigate"}):
            pass
    lines = [r for r in caplog.records if "credentials" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.INFO]
    assert lines[0].getMessage() == (
        f"CORS: POST /api/sid sets the cookie 'sid' for the page at {FRONT}, and the "
        f"browser keeps it only if the page sent the request with credentials (fetch's "
        f"credentials: 'include', axios or XHR withCredentials: true); this request "
        f"carried no cookie, so devproxy cannot tell whether it did")

    # A page whose origin is refused was told why already: credentials are not the fix.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="devproxy"):
        async with client.post(proxy.url + "/api/sid",
                               headers={**fetch, "Origin": "http://localhost:5174"}):
            pass
    [line] = [r.getMessage() for r in caplog.records if "keeps it only" in r.getMessage()]
    assert line.endswith("so devproxy cannot tell whether it did")


async def test_cookies_sent_to_a_cors_block_without_credentials_are_logged_with_the_line(
        backend_factory, proxy_factory, client, caplog, tmp_path):
    # credentials: 'include' against a block without credentials: true. The request
    # goes through (and its cookies are stored, as Chromium does), but the page gets a
    # failed fetch() and the terminal said nothing.
    async def handler(request: web.Request) -> web.Response:
        response = web.Response(text="ok")
        if request.path == "/api/login":
            response.headers["Set-Cookie"] = "sid=1; Path=/"
        return response

    backend = await backend_factory(handler)
    source = tmp_path / "devproxy.yaml"
    source.write_text(textwrap.dedent(f"""\
        routes:
          - path: /api
            target: {backend.url}
            cors:
              origins: [{FRONT}]
        """))
    config = load_config(source)
    proxy = await proxy_factory(*config.routes, source=source)
    fetch = {"Origin": FRONT, "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"}
    with caplog.at_level(logging.INFO, logger="devproxy"):
        async with client.post(proxy.url + "/api/login", headers=fetch) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == FRONT
        # devproxy's own page: same origin, no CORS check, nothing to say; nor for a
        # form POST or a no-cors fetch from the page, which CORS does not check.
        own = f"http://127.0.0.1:{proxy.port}"
        async with client.get(proxy.url + "/api/me", headers={"Origin": own, "Cookie": "a"}):
            pass
        for mode in ("navigate", "no-cors"):
            async with client.post(proxy.url + "/api/form", headers={
                    "Origin": FRONT, "Cookie": "a", "Sec-Fetch-Mode": mode}):
                pass
        for _ in range(2):
            async with client.get(proxy.url + "/api/me", headers={**fetch, "Cookie": "sid=1"}):
                pass
    said = [(r.levelno, r.getMessage()) for r in caplog.records
            if "credentials" in r.getMessage()]
    assert [level for level, _ in said] == [logging.INFO, logging.WARNING], said
    assert said[0][1].endswith(
        "so devproxy cannot tell whether it did. Sent so, the page cannot read the answer: "
        "The value of the 'Access-Control-Allow-Credentials' header in the response is '' "
        "which must be 'true' when the request's credentials mode is 'include' "
        f"(set credentials: true, {source}:5)")
    assert said[1][1] == (
        f"CORS: GET /api/me from {FRONT} carries cookies, so the page sent it with "
        f"credentials (fetch's credentials: 'include', axios or XHR withCredentials: "
        f"true), and the cors block does not allow them: the browser will not let the "
        f"page read the answer (set credentials: true, {source}:5)")


async def test_any_origin_is_told_to_list_the_page_before_allowing_credentials(
        backend_factory, proxy_factory, client, caplog):
    # "*" cannot go with credentials: the hint must not be one the loader refuses.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, cors=CorsPolicy(origins=("*",))))
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        async with client.get(proxy.url + "/api/me", headers={
                "Origin": FRONT, "Cookie": "sid=1", "Sec-Fetch-Mode": "cors"}) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == FRONT
    [line] = [r.getMessage() for r in caplog.records if "carries cookies" in r.getMessage()]
    assert line.endswith("(list the page's origin in origins and set credentials: true, "
                         "in the route's cors block)")
