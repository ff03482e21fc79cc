"""Request and response header rewriting: hop-by-hop, Host, X-Forwarded-*, Location,
Set-Cookie."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from devproxy.config import Route, normalize_prefix, parse_rewrite, parse_target
from devproxy.headers import (
    HOP_BY_HOP,
    accepts_event_stream,
    request_headers,
    response_headers,
    rewrite_location,
    rewrite_set_cookie,
)
from devproxy.router import RouteTable


def route(path: str = "/", target: str = "http://127.0.0.1:3000", *, strip: bool = False,
          change_origin: bool = False, rewrite: tuple[tuple[str, str], ...] = (),
          headers: tuple[tuple[str, str], ...] = ()) -> Route:
    return Route(
        path=normalize_prefix(path),
        target=parse_target(target),
        strip_prefix=strip,
        change_origin=change_origin,
        rewrite=tuple(parse_rewrite(pattern, replacement) for pattern, replacement in rewrite),
        headers=headers,
    )


PROXY = "http://localhost:8080"
ROOT = route()
API_STRIP = route("/api", strip=True)
API_STRIP_V1 = route("/api", "http://127.0.0.1:3000/v1", strip=True)
API_REWRITE = route("/api", rewrite=(("^/api/", "/v2/"),))
REMOTE = route("/api", "https://api.example.com", strip=True)
IPV6 = route("/", "http://[::1]:3000")


def forward(headers: list[tuple[str, str]], route_: Route = ROOT, *,
            client_ip: str | None = "10.0.0.9", proxy_host: str = "localhost:8080",
            scheme: str = "http") -> list[tuple[str, str]]:
    incoming = CIMultiDictProxy(CIMultiDict(headers))
    out = request_headers(incoming, route_, client_ip=client_ip, proxy_host=proxy_host,
                          scheme=scheme)
    return list(out.items())


def without_proxy_fields(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in items if k != "Host" and not k.startswith("X-Forwarded-")]


# --- request_headers ---------------------------------------------------------------


def test_request_sets_host_then_forwarded_fields_after_the_incoming_ones() -> None:
    assert forward([("Accept", "*/*"), ("Host", "localhost:8080"), ("Cookie", "a=1")]) == [
        ("Host", "localhost:8080"),
        ("Accept", "*/*"),
        ("Cookie", "a=1"),
        ("X-Forwarded-For", "10.0.0.9"),
        ("X-Forwarded-Host", "localhost:8080"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Port", "8080"),
    ]


HOP_BY_HOP_NAMES = [
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
]


def test_hop_by_hop_names_the_rfc_9110_fields_and_legacy_ones() -> None:
    assert sorted(HOP_BY_HOP) == sorted(HOP_BY_HOP_NAMES)


@pytest.mark.parametrize(
    "name", [*HOP_BY_HOP_NAMES, "expect"], ids=lambda name: f"drops-{name}"
)
def test_request_drops_hop_by_hop_fields_and_expect(name: str) -> None:
    assert without_proxy_fields(forward([(name.title(), "x"), ("Accept", "*/*")])) == [
        ("Accept", "*/*")
    ]


@pytest.mark.parametrize(
    ("connection", "kept"),
    [
        pytest.param(["keep-alive"], ["X-Debug", "X-Trace"], id="only-standard-options"),
        pytest.param(["close, X-Debug"], ["X-Trace"], id="named-field-dropped"),
        pytest.param([" x-debug ,X-TRACE "], [], id="names-trimmed-and-case-insensitive"),
        pytest.param(["close", "X-Trace"], ["X-Debug"], id="repeated-connection-headers"),
        pytest.param(["close,,"], ["X-Debug", "X-Trace"], id="empty-list-members"),
    ],
)
def test_request_drops_fields_named_in_connection(connection: list[str], kept: list[str]) -> None:
    headers = [("Connection", c) for c in connection]
    headers += [("X-Debug", "1"), ("X-Trace", "2")]
    assert [k for k, _ in without_proxy_fields(forward(headers))] == kept


def test_connection_cannot_strip_devproxys_own_forwarded_for() -> None:
    out = dict(forward([("Connection", "close, X-Forwarded-For"), ("X-Forwarded-For", "6.6.6.6")]))
    assert out["X-Forwarded-For"] == "10.0.0.9"


def test_connection_cannot_strip_devproxys_host_or_configured_headers() -> None:
    configured = route(headers=(("Authorization", "Bearer dev"),))
    out = dict(forward([("Connection", "Host, Authorization, X-Forwarded-Proto")], configured))
    assert (out["Host"], out["Authorization"], out["X-Forwarded-Proto"]) == (
        "localhost:8080", "Bearer dev", "http"
    )


@pytest.mark.parametrize(
    ("route_", "host"),
    [
        pytest.param(ROOT, "localhost:8080", id="browser-host-by-default"),
        pytest.param(route(change_origin=True), "127.0.0.1:3000", id="change-origin"),
        pytest.param(route(target="https://example.com:443", change_origin=True),
                     "example.com", id="change-origin-omits-default-port"),
        pytest.param(route(target="http://[::1]:3000", change_origin=True), "[::1]:3000",
                     id="change-origin-ipv6"),
    ],
)
def test_request_host(route_: Route, host: str) -> None:
    out = forward([("Host", "elsewhere:1")], route_)
    assert [v for k, v in out if k == "Host"] == [host]


@pytest.mark.parametrize(
    ("incoming", "client_ip", "expected"),
    [
        pytest.param([], "10.0.0.9", "10.0.0.9", id="first-hop"),
        pytest.param(["1.1.1.1, 2.2.2.2"], "10.0.0.9", "1.1.1.1, 2.2.2.2, 10.0.0.9",
                     id="appends-to-chain"),
        pytest.param(["1.1.1.1", "2.2.2.2"], "::1", "1.1.1.1, 2.2.2.2, ::1",
                     id="joins-repeated-headers"),
        pytest.param(["1.1.1.1", "2.2.2.2"], None, "1.1.1.1, 2.2.2.2",
                     id="unknown-client-keeps-chain"),
        pytest.param([], None, None, id="unknown-client-and-no-chain"),
    ],
)
def test_request_appends_client_to_x_forwarded_for(
    incoming: list[str], client_ip: str | None, expected: str | None
) -> None:
    out = forward([("X-Forwarded-For", v) for v in incoming], client_ip=client_ip)
    assert [v for k, v in out if k == "X-Forwarded-For"] == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("proxy_host", "scheme", "port"),
    [
        pytest.param("localhost:8080", "http", "8080", id="explicit-port"),
        pytest.param("localhost", "http", "80", id="http-default"),
        pytest.param("localhost", "https", "443", id="https-default"),
        pytest.param("[::1]:8443", "https", "8443", id="ipv6-with-port"),
        pytest.param("[::1]", "http", "80", id="ipv6-without-port"),
        pytest.param("[::1]x8080", "http", "80", id="junk-after-ipv6-bracket"),
        pytest.param("[::1", "http", "80", id="unclosed-bracket"),
        pytest.param("::1", "http", "80", id="unbracketed-ipv6"),
        pytest.param("localhost:80a", "https", "443", id="junk-port"),
        pytest.param("user@localhost:9", "http", "80", id="userinfo"),
        pytest.param("", "http", "80", id="no-host"),
    ],
)
def test_request_x_forwarded_port(proxy_host: str, scheme: str, port: str) -> None:
    out = dict(forward([], proxy_host=proxy_host, scheme=scheme))
    assert (out["X-Forwarded-Host"], out["X-Forwarded-Proto"], out["X-Forwarded-Port"]) == (
        proxy_host, scheme, port
    )


def test_request_replaces_incoming_forwarded_host_proto_port() -> None:
    out = forward([("X-Forwarded-Host", "evil"), ("X-Forwarded-Proto", "https"),
                   ("X-Forwarded-Port", "1"), ("X-Forwarded-Prefix", "/evil")])
    assert [(k, v) for k, v in out if k.startswith("X-Forwarded-")] == [
        ("X-Forwarded-For", "10.0.0.9"),
        ("X-Forwarded-Host", "localhost:8080"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Port", "8080"),
    ]


@pytest.mark.parametrize(
    ("route_", "prefix"),
    [
        pytest.param(API_STRIP, ["/api"], id="stripped-prefix"),
        pytest.param(route("/api"), [], id="prefix-not-stripped"),
        pytest.param(route("/", strip=True), [], id="root-strips-nothing"),
    ],
)
def test_request_x_forwarded_prefix_names_a_stripped_prefix(route_: Route,
                                                             prefix: list[str]) -> None:
    out = forward([("X-Forwarded-Prefix", "/evil")], route_)
    assert [v for k, v in out if k == "X-Forwarded-Prefix"] == prefix


def test_request_configured_headers_replace_incoming_ones() -> None:
    configured = route(headers=(("authorization", "Bearer dev"), ("X-Tenant", "t1"),
                                ("Host", "api.local")))
    out = forward([("Authorization", "Basic a"), ("Accept", "*/*"),
                   ("Authorization", "Basic b")], configured)
    assert without_proxy_fields(out) == [("authorization", "Bearer dev"), ("Accept", "*/*"),
                                         ("X-Tenant", "t1")]
    assert [v for k, v in out if k == "Host"] == ["api.local"]


def test_request_keeps_repeated_fields_in_order_and_adds_no_via() -> None:
    out = forward([("Cookie", "a=1"), ("Accept", "*/*"), ("cookie", "b=2")])
    assert without_proxy_fields(out) == [("Cookie", "a=1"), ("Accept", "*/*"), ("cookie", "b=2")]
    assert "Via" not in dict(out)


def test_request_does_not_change_the_incoming_headers() -> None:
    incoming = CIMultiDict([("Connection", "close"), ("Host", "localhost:8080")])
    request_headers(incoming, ROOT, client_ip="1.2.3.4", proxy_host="h", scheme="http")
    assert list(incoming.items()) == [("Connection", "close"), ("Host", "localhost:8080")]


# --- response_headers --------------------------------------------------------------


def relay(headers: list[tuple[str, str]], route_: Route = ROOT) -> list[tuple[str, str]]:
    upstream = CIMultiDictProxy(CIMultiDict(headers))
    return list(response_headers(upstream, route_, proxy_origin=PROXY).items())


def test_response_keeps_everything_but_hop_by_hop_in_order() -> None:
    assert relay([
        ("Content-Type", "text/html"), ("Transfer-Encoding", "chunked"),
        ("Set-Cookie", "a=1"), ("Connection", "keep-alive, X-Internal"),
        ("X-Internal", "secret"), ("Keep-Alive", "timeout=5"), ("set-cookie", "b=2"),
        ("Content-Length", "10"), ("Upgrade", "h2c"), ("Trailer", "X-Sum"),
    ]) == [
        ("Content-Type", "text/html"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2"),
        ("Content-Length", "10"),
    ]


def test_response_rewrites_locations_and_cookies() -> None:
    assert relay([
        ("Location", "http://127.0.0.1:3000/v1/login?next=%2F"),
        ("Content-Location", "/v1/item/1"),
        ("Set-Cookie", "sid=1; Domain=127.0.0.1; Path=/; HttpOnly"),
        ("Set-Cookie", "theme=dark"),
    ], API_STRIP_V1) == [
        ("Location", "http://localhost:8080/api/login?next=%2F"),
        ("Content-Location", "/api/item/1"),
        ("Set-Cookie", "sid=1; Path=/; HttpOnly"),
        ("Set-Cookie", "theme=dark"),
    ]


# --- rewrite_location --------------------------------------------------------------


@pytest.mark.parametrize(
    ("route_", "location", "expected"),
    [
        pytest.param(ROOT, "http://127.0.0.1:3000/login", "http://localhost:8080/login",
                     id="target-origin-becomes-proxy-origin"),
        pytest.param(ROOT, "http://localhost:3000/login", "http://localhost:8080/login",
                     id="loopback-alias-localhost"),
        pytest.param(ROOT, "http://[::1]:3000/login", "http://localhost:8080/login",
                     id="loopback-alias-ipv6"),
        pytest.param(IPV6, "http://127.0.0.1:3000/login", "http://localhost:8080/login",
                     id="ipv6-target-alias-ipv4"),
        # The address a server bound to all interfaces may name itself by.
        pytest.param(ROOT, "http://0.0.0.0:3000/login", "http://localhost:8080/login",
                     id="unspecified-ipv4-alias"),
        pytest.param(ROOT, "http://[::]:3000/login", "http://localhost:8080/login",
                     id="unspecified-ipv6-alias"),
        pytest.param(route(target="http://0.0.0.0:3000"), "http://localhost:3000/login",
                     "http://localhost:8080/login", id="unspecified-target-alias-localhost"),
        pytest.param(ROOT, "http://0.0.0.0:3001/login", "http://0.0.0.0:3001/login",
                     id="unspecified-alias-needs-same-port"),
        pytest.param(ROOT, "HTTP://LOCALHOST:3000/a?b#c", "http://localhost:8080/a?b#c",
                     id="scheme-and-host-case-insensitive"),
        pytest.param(ROOT, "http://127.0.0.1:3000", "http://localhost:8080/",
                     id="empty-path-is-root"),
        pytest.param(ROOT, "http://127.0.0.1:3000?x=1", "http://localhost:8080/?x=1",
                     id="empty-path-with-query"),
        pytest.param(API_STRIP, "http://127.0.0.1:3000#x", "http://localhost:8080/api/#x",
                     id="empty-path-is-backend-root"),
        pytest.param(ROOT, "https://127.0.0.1:3000/login", "https://127.0.0.1:3000/login",
                     id="other-scheme-is-another-origin"),
        pytest.param(ROOT, "http://127.0.0.1:3001/login", "http://127.0.0.1:3001/login",
                     id="other-port-is-another-origin"),
        pytest.param(ROOT, "http://127.0.0.2:3000/login", "http://127.0.0.2:3000/login",
                     id="other-host-is-another-origin"),
        pytest.param(ROOT, "http://127.0.0.1/login", "http://127.0.0.1/login",
                     id="default-port-is-not-the-target-port"),
        pytest.param(REMOTE, "https://api.example.com:443/x", "http://localhost:8080/api/x",
                     id="explicit-default-port-equals-omitted"),
        pytest.param(REMOTE, "https://API.example.com/x", "http://localhost:8080/api/x",
                     id="remote-target"),
        pytest.param(REMOTE, "https://localhost/x", "https://localhost/x",
                     id="no-loopback-alias-for-remote-target"),
        pytest.param(REMOTE, "//api.example.com/x?y", "http://localhost:8080/api/x?y",
                     id="protocol-relative-to-target"),
        pytest.param(REMOTE, "//localhost:8080/x", "http://localhost:8080/api/x",
                     id="protocol-relative-to-proxy"),
        pytest.param(REMOTE, "//other.example.com/x", "//other.example.com/x",
                     id="protocol-relative-elsewhere"),
        pytest.param(API_STRIP, "http://localhost:8080/login", "http://localhost:8080/api/login",
                     id="proxy-origin-when-host-unchanged"),
        pytest.param(API_STRIP, "http://localhost:80/login", "http://localhost:80/login",
                     id="proxy-origin-needs-same-port"),
        pytest.param(API_STRIP, "https://localhost:8080/x", "https://localhost:8080/x",
                     id="proxy-origin-needs-same-scheme"),
        pytest.param(API_STRIP, "http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x",
                     id="no-loopback-alias-for-proxy-origin"),
        pytest.param(API_STRIP, "/login?next=/a#top", "/api/login?next=/a#top",
                     id="root-relative-stays-root-relative"),
        pytest.param(API_STRIP, "/a#frag?not-query", "/api/a#frag?not-query",
                     id="fragment-before-question-mark"),
        pytest.param(API_STRIP_V1, "/v1/login", "/api/login", id="base-path-removed"),
        pytest.param(API_STRIP_V1, "/login", "/login", id="outside-base-path-unchanged"),
        pytest.param(API_STRIP_V1, "/v1#x", "/api#x", id="fragment-ends-path"),
        pytest.param(API_STRIP_V1, "/v1?a#b", "/api?a#b", id="query-ends-path"),
        pytest.param(API_STRIP_V1, "http://127.0.0.1:3000/other", "http://127.0.0.1:3000/other",
                     id="absolute-outside-base-path-unchanged"),
        pytest.param(API_REWRITE, "/v2/users", "/api/users", id="rewrite-undone"),
        pytest.param(API_STRIP, "login", "login", id="relative-path-reference"),
        pytest.param(API_STRIP, "../x", "../x", id="dot-relative-reference"),
        pytest.param(API_STRIP, "?page=2", "?page=2", id="query-only-reference"),
        pytest.param(API_STRIP, "", "", id="empty"),
        pytest.param(API_STRIP, "mailto:a@b.c", "mailto:a@b.c", id="other-scheme"),
        pytest.param(API_STRIP, "http://user@localhost:8080/x", "http://user@localhost:8080/x",
                     id="userinfo-is-left-alone"),
        pytest.param(ROOT, "http://127.0.0.1:30x0/a", "http://127.0.0.1:30x0/a",
                     id="junk-port"),
        pytest.param(ROOT, "http://[::1/a", "http://[::1/a", id="junk-ipv6"),
        pytest.param(ROOT, "http:///a", "http:///a", id="empty-authority"),
        pytest.param(ROOT, " /a", " /a", id="leading-space"),
    ],
)
def test_rewrite_location(route_: Route, location: str, expected: str) -> None:
    assert rewrite_location(location, route_, PROXY) == expected


@pytest.mark.parametrize(("proxy_origin", "location", "expected"), [
    # nginx's redirect to a folder's slash: the Host it was given, at its own port.
    pytest.param("http://app.localhost:8080", "http://app.localhost:3000/dir/",
                 "http://app.localhost:8080/dir/", id="a-localhost-subdomain"),
    pytest.param("http://192.168.1.5:8080", "http://192.168.1.5:3000/dir/",
                 "http://192.168.1.5:8080/dir/", id="a-lan-address"),
    pytest.param("http://app.localhost:8080", "http://app.localhost:3001/dir/",
                 "http://app.localhost:3001/dir/", id="another-port-is-another-server"),
])
def test_a_location_at_the_hosts_name_and_the_targets_port_is_the_backend(
        proxy_origin: str, location: str, expected: str) -> None:
    assert rewrite_location(location, ROOT, proxy_origin) == expected
    # With change_origin the backend saw its own name, not this one: left alone.
    changed = route(change_origin=True)
    assert rewrite_location(location, changed, proxy_origin) == location


@pytest.mark.parametrize(
    ("proxy_origin", "location", "expected"),
    [
        pytest.param("https://dev.test", "https://dev.test:443/x", "https://dev.test/api/x",
                     id="default-port-equals-omitted"),
        pytest.param("http://[::1]:8080", "http://[::1]:8080/x", "http://[::1]:8080/api/x",
                     id="ipv6-proxy"),
        pytest.param("localhost:8080", "http://localhost:8080/x", "http://localhost:8080/x",
                     id="proxy-origin-without-scheme-matches-nothing"),
        pytest.param("//localhost:8080", "http://localhost:8080/x", "http://localhost:8080/x",
                     id="protocol-relative-proxy-origin-matches-nothing"),
        pytest.param("http://localhost:x", "http://localhost:8080/x", "http://localhost:8080/x",
                     id="junk-proxy-origin-matches-nothing"),
    ],
)
def test_rewrite_location_at_proxy_origin(proxy_origin: str, location: str,
                                          expected: str) -> None:
    assert rewrite_location(location, API_STRIP, proxy_origin) == expected


def test_with_change_origin_a_location_at_devproxys_origin_is_a_page_url() -> None:
    # The backend saw its own Host, so a URL naming devproxy's origin came from its
    # config (an OAuth callback's redirect to FRONTEND_URL): moved under /api it was a
    # backend 404. Without change_origin it is the backend naming itself: mapped.
    changed = dataclasses.replace(API_STRIP, change_origin=True)
    for location in ("http://localhost:8080/dashboard", "http://localhost:8080/"):
        assert rewrite_location(location, changed, "http://localhost:8080") == location
        assert rewrite_location(location, API_STRIP, "http://localhost:8080") == \
            "http://localhost:8080/api" + location.removeprefix("http://localhost:8080")
    # Its own target's URL is mapped either way.
    own = f"{API_STRIP.target.origin}/login"
    assert rewrite_location(own, changed, "http://localhost:8080") == \
        "http://localhost:8080/api/login"


FRONTEND = route("/", "http://localhost:5173")  # a frontend dev server, the catch-all
AUTH = route("/auth", "http://127.0.0.1:4000", strip=True)
AUTH_TOO = route("/login", "http://127.0.0.1:4000", strip=True)  # the same backend again
OWN = route("/own", "https://api.example.com", strip=True)  # the route that answered


@pytest.mark.parametrize(
    ("route_", "others", "location", "expected"),
    [
        pytest.param(OWN, (FRONTEND, API_STRIP), "http://localhost:5173/dashboard?tab=1",
                     "http://localhost:8080/dashboard?tab=1", id="to-the-frontend-route"),
        pytest.param(OWN, (FRONTEND, API_STRIP), "http://127.0.0.1:5173/",
                     "http://localhost:8080/", id="loopback-alias-of-another-target"),
        pytest.param(OWN, (AUTH,), "http://127.0.0.1:4000/callback",
                     "http://localhost:8080/auth/callback", id="prefix-put-back"),
        pytest.param(OWN, (API_STRIP_V1,), "http://127.0.0.1:3000/other",
                     "http://127.0.0.1:3000/other", id="outside-its-base-path"),
        pytest.param(OWN, (AUTH, AUTH_TOO), "http://127.0.0.1:4000/callback",
                     "http://127.0.0.1:4000/callback", id="two-routes-disagree"),
        # Mapped to /api/docs, which devproxy would send to /api's backend instead.
        pytest.param(OWN, (FRONTEND, API_STRIP), "http://localhost:5173/api/docs",
                     "http://localhost:5173/api/docs", id="a-longer-prefix-would-take-it"),
        # Outside the answering route's base path, but another route serves it.
        pytest.param(API_STRIP_V1, (route("/", "http://127.0.0.1:3000"),),
                     "http://127.0.0.1:3000/other", "http://localhost:8080/other",
                     id="own-target-outside-base-path-tries-the-others"),
        pytest.param(OWN, (FRONTEND,), "http://localhost:5174/x", "http://localhost:5174/x",
                     id="no-route-targets-it"),
        pytest.param(OWN, (), "http://localhost:5173/x", "http://localhost:5173/x",
                     id="no-other-routes"),
    ],
)
def test_rewrite_location_to_another_routes_target(route_: Route, others: tuple[Route, ...],
                                                   location: str, expected: str) -> None:
    # A login backend sending the browser on to the frontend dev server's own URL: the
    # browser stays on devproxy's one origin, through the route that targets it.
    table = RouteTable((route_, *others))
    assert rewrite_location(location, route_, PROXY, table) == expected


def test_a_location_at_the_pages_own_origin_sends_it_back_there() -> None:
    # CORS mode, or a form posted from the frontend's own server: the page lives at its
    # origin (the request's Origin), and a login's redirect back there is not moved onto
    # devproxy's, which would leave its storage behind.
    table = RouteTable((OWN, FRONTEND, API_STRIP))
    back = "http://localhost:5173/dashboard"
    assert rewrite_location(back, OWN, PROXY, table, "http://localhost:5173") == back
    assert rewrite_location(back, OWN, PROXY, table, PROXY) == f"{PROXY}/dashboard"
    assert rewrite_location(back, OWN, PROXY, table, "https://idp.example") == \
        f"{PROXY}/dashboard"  # a form_post from an identity provider: still one origin


IDP = route("/idp", "http://127.0.0.1:4003", strip=True)


@pytest.mark.parametrize(("location", "expected"), [
    # The API's own callback, sent back by the identity provider behind /idp: already
    # a URL on devproxy, under another route, left as it is.
    (f"{PROXY}/api/oauth/callback?code=1", f"{PROXY}/api/oauth/callback?code=1"),
    # The identity provider naming itself from the Host it saw: mapped, as before.
    (f"{PROXY}/authorize?x=1", f"{PROXY}/idp/authorize?x=1"),
    # Under the catch-all / it may be either: mapped, as before (the documented rule).
    (f"{PROXY}/dashboard", f"{PROXY}/idp/dashboard"),
    # At the target's own origin: always the backend itself.
    ("http://127.0.0.1:4003/api/x", f"{PROXY}/idp/api/x"),
])
def test_a_url_on_devproxy_under_another_route_is_left_as_is(location: str,
                                                            expected: str) -> None:
    table = RouteTable((IDP, API_STRIP, route("/", "http://127.0.0.1:5173")))
    assert rewrite_location(location, IDP, PROXY, table) == expected


# --- rewrite_set_cookie ------------------------------------------------------------


@pytest.mark.parametrize(
    ("route_", "cookie", "expected"),
    [
        pytest.param(ROOT, "sid=1", "sid=1", id="no-attributes"),
        pytest.param(ROOT, "sid=1; Path=/; Secure; HttpOnly; SameSite=Lax",
                     "sid=1; Path=/; Secure; HttpOnly; SameSite=Lax", id="nothing-to-change"),
        pytest.param(ROOT, "sid=1; Domain=127.0.0.1; Path=/", "sid=1; Path=/",
                     id="domain-equal-to-target-ip-removed"),
        pytest.param(REMOTE, "sid=1; Domain=api.example.com", "sid=1",
                     id="domain-equal-to-target-host-removed"),
        pytest.param(REMOTE, "sid=1;domain=.EXAMPLE.com ;HttpOnly", "sid=1;HttpOnly",
                     id="parent-domain-with-dot-and-case-removed"),
        pytest.param(REMOTE, "sid=1; Domain=other.com", "sid=1; Domain=other.com",
                     id="other-domain-kept"),
        pytest.param(REMOTE, "sid=1; Domain=ample.com", "sid=1; Domain=ample.com",
                     id="suffix-not-on-label-boundary-kept"),
        pytest.param(REMOTE, "sid=1; Domain=", "sid=1; Domain=", id="empty-domain-kept"),
        pytest.param(REMOTE, "sid=1; Domain", "sid=1; Domain", id="domain-without-value-kept"),
        pytest.param(ROOT, "sid=1; Domain=0.0.1", "sid=1; Domain=0.0.1",
                     id="ip-target-never-matches-a-parent-domain"),
        # A browser reads a Domain as a URL host: [::1] is the backend; bare ::1 no host.
        pytest.param(IPV6, "sid=1; Domain=[::1]", "sid=1", id="ipv6-target"),
        pytest.param(IPV6, "sid=1; Domain=::1", "sid=1; Domain=::1",
                     id="ipv6-without-brackets-kept-for-the-browser-to-drop"),
        pytest.param(API_STRIP, "sid=1; Path=/", "sid=1; Path=/", id="root-path-kept"),
        pytest.param(API_STRIP, "csrftoken=t; path = / ", "csrftoken=t; path = / ",
                     id="root-path-kept-as-spelt"),
        pytest.param(API_STRIP, "sid=1; path=/auth/; HttpOnly", "sid=1; path=/api/auth; HttpOnly",
                     id="path-mapped-trailing-slash-dropped"),
        pytest.param(API_STRIP, "sid=1; Path = /auth ; Secure", "sid=1; Path = /api/auth ; Secure",
                     id="spacing-kept"),
        pytest.param(ROOT, "sid=1; Path=/auth/", "sid=1; Path=/auth/",
                     id="unmapped-path-keeps-its-slash"),
        pytest.param(route("/", "http://127.0.0.1:3000/v1"), "sid=1; Path=/v1/",
                     "sid=1; Path=/", id="mapped-to-root-keeps-its-slash"),
        pytest.param(API_STRIP_V1, "sid=1; Path=/v1/", "sid=1; Path=/api",
                     id="base-path-to-prefix"),
        pytest.param(API_STRIP_V1, "sid=1; Path=/", "sid=1; Path=/",
                     id="path-outside-base-kept"),
        pytest.param(API_STRIP, "sid=1; Path=auth", "sid=1; Path=auth",
                     id="relative-path-kept"),
        pytest.param(API_STRIP, "sid=1; Path", "sid=1; Path", id="path-without-value-kept"),
        pytest.param(API_STRIP, "sid=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Path=/a",
                     "sid=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Path=/api/a",
                     id="expires-with-comma-kept"),
        pytest.param(API_STRIP, "path=/x; Max-Age=0; Path=/a",
                     "path=/x; Max-Age=0; Path=/api/a", id="cookie-named-path-untouched"),
        pytest.param(route("/api", "http://app.test:3000", strip=True),
                     "sid=1; Domain=app.test; Path=/a; Secure",
                     "sid=1; Path=/api/a; Secure", id="domain-and-path-together"),
        pytest.param(API_STRIP, "__Host-sid=1; Path=/; Secure", "__Host-sid=1; Path=/; Secure",
                     id="host-prefix-keeps-its-root-path"),
        pytest.param(API_STRIP, " __host-sid=1; Path=/; Secure", " __host-sid=1; Path=/; Secure",
                     id="host-prefix-in-any-case"),
        pytest.param(route("/api", "http://app.test:3000", strip=True),
                     "__Host-sid=1; Domain=app.test; Path=/; Secure",
                     "__Host-sid=1; Path=/; Secure", id="host-prefix-domain-still-removed"),
        pytest.param(API_STRIP, "__Secure-sid=1; Path=/a; Secure",
                     "__Secure-sid=1; Path=/api/a; Secure", id="secure-prefix-path-mapped"),
        pytest.param(ROOT, "sid=1; Domain=localhost", "sid=1", id="loopback-alias-domain-removed"),
        pytest.param(route("/", "http://localhost:3000"), "sid=1; Domain=.127.0.0.1; Path=/",
                     "sid=1; Path=/", id="loopback-alias-of-a-localhost-target"),
        pytest.param(REMOTE, "sid=1; Domain=localhost", "sid=1; Domain=localhost",
                     id="loopback-name-kept-for-a-remote-target"),
    ],
)
def test_rewrite_set_cookie(route_: Route, cookie: str, expected: str) -> None:
    assert rewrite_set_cookie(cookie, route_) == expected


# --- every entry point needs a target ----------------------------------------------


STATIC = Route(path="/assets", static=Path("/srv"))


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: request_headers(CIMultiDict(), STATIC, client_ip=None,
                                             proxy_host="h", scheme="http"),
                     id="request_headers"),
        pytest.param(lambda: response_headers(CIMultiDict([("Location", "/x")]), STATIC,
                                              proxy_origin=PROXY),
                     id="response_headers"),
        pytest.param(lambda: rewrite_location("/x", STATIC, PROXY), id="rewrite_location"),
        pytest.param(lambda: rewrite_set_cookie("a=1; Path=/", STATIC), id="rewrite_set_cookie"),
    ],
)
def test_static_route_has_no_headers_to_rewrite(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="no target"):
        call()


@pytest.mark.parametrize(("accept", "streams"), [
    ("text/event-stream", True),  # EventSource
    ("application/json, text/event-stream", True),  # MCP's streamable HTTP client
    ("TEXT/Event-Stream ; q=0.5", True),
    ("text/event-streams", False), ("*/*", False), ("", False),
])
def test_an_event_stream_is_asked_for_as_a_media_range(accept: str, streams: bool) -> None:
    assert accepts_event_stream(accept) is streams
