"""RouteTable: longest segment-bounded prefix, on the raw path, whatever the order."""

from __future__ import annotations

import pytest

from devproxy.config import Route, normalize_prefix, parse_target
from devproxy.router import Match, RouteTable


def route(path: str, target: str = "http://127.0.0.1:3000") -> Route:
    return Route(path=normalize_prefix(path), target=parse_target(target))


TABLE = RouteTable([
    route("/"),
    route("/api"),
    route("/api/v2"),
    route("/Docs"),
    route("/café"),
])


@pytest.mark.parametrize(
    ("raw_path", "prefix", "rest"),
    [
        pytest.param("/api", "/api", "", id="prefix-itself"),
        pytest.param("/api/", "/api", "/", id="prefix-with-trailing-slash"),
        pytest.param("/api/users/1", "/api", "/users/1", id="path-below-prefix"),
        pytest.param("/apikey", "/", "/apikey", id="longer-segment-is-not-under-prefix"),
        pytest.param("/api.ts", "/", "/api.ts", id="file-extension-is-not-under-prefix"),
        pytest.param("/api/v2", "/api/v2", "", id="longest-prefix-wins"),
        pytest.param("/api/v2/x", "/api/v2", "/x", id="longest-prefix-wins-below"),
        pytest.param("/api/v20", "/api", "/v20", id="longest-prefix-needs-segment-boundary"),
        pytest.param("/", "/", "/", id="root"),
        pytest.param("/index.html", "/", "/index.html", id="root-matches-everything"),
        pytest.param("/docs", "/", "/docs", id="case-sensitive"),
        pytest.param("/Docs/x", "/Docs", "/x", id="case-matches-exactly"),
        pytest.param("/%61pi/x", "/", "/%61pi/x", id="percent-encoding-is-not-decoded"),
        pytest.param("/caf%C3%A9/c", "/caf%C3%A9", "/c", id="route-matches-as-browsers-encode"),
        # RFC 3986 §2.1: an escape's hex digits are case-insensitive (curl writes them in
        # lower case); the rest is the path as sent.
        pytest.param("/caf%c3%a9/c", "/caf%C3%A9", "/c", id="escapes-match-in-either-case"),
        pytest.param("/caf%c3%A9/%2f", "/caf%C3%A9", "/%2f", id="rest-keeps-its-spelling"),
        pytest.param("/CAF%C3%A9/c", "/", "/CAF%C3%A9/c", id="letters-outside-escapes-do-not"),
        pytest.param("//api/x", "/", "//api/x", id="double-slash-is-not-merged"),
        pytest.param("/api//x", "/api", "//x", id="double-slash-kept-in-rest"),
        pytest.param("/x/../api", "/", "/x/../api", id="dot-segments-are-not-resolved"),
    ],
)
def test_match_picks_longest_segment_bounded_prefix(raw_path: str, prefix: str, rest: str) -> None:
    found = TABLE.match(raw_path)
    assert found is not None
    assert (found.route.path, found.rest) == (prefix, rest)


@pytest.mark.parametrize(
    ("paths", "raw_path"),
    [
        pytest.param(["/api"], "/apikey", id="prefix-is-not-a-segment"),
        pytest.param(["/api"], "/", id="root-not-configured"),
        pytest.param(["/api/v2"], "/api", id="shorter-than-prefix"),
        pytest.param(["/"], "*", id="asterisk-form-is-not-a-path"),
        pytest.param([], "/api", id="empty-table"),
    ],
)
def test_match_returns_none_without_a_matching_route(paths: list[str], raw_path: str) -> None:
    assert RouteTable([route(p) for p in paths]).match(raw_path) is None


@pytest.mark.parametrize(
    ("path", "prefix", "rest"),
    [
        pytest.param("/café/c", "/caf%C3%A9", "/c", id="decoded-route-path"),
        pytest.param("/api/v2/x", "/api/v2", "/x", id="plain-paths-as-match"),
        pytest.param("/cafés", "/", "/cafés", id="segment-boundary"),
    ],
)
def test_match_decoded_reads_route_paths_decoded(path: str, prefix: str, rest: str) -> None:
    found = TABLE.match_decoded(path)
    assert found is not None
    assert (found.route.path, found.rest) == (prefix, rest)


def test_two_spellings_of_one_path_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate route path"):
        RouteTable([route("/a!"), route("/a%21")])


def test_longest_prefix_wins_whatever_the_order_given() -> None:
    routes = [route("/api"), route("/api/admin"), route("/")]
    for ordering in (routes, routes[::-1], [routes[2], routes[0], routes[1]]):
        found = RouteTable(ordering).match("/api/admin/x")
        assert found == Match(routes[1], "/x")


def test_routes_keep_the_order_given_for_display() -> None:
    routes = [route("/b"), route("/"), route("/a/b"), route("/a")]
    table = RouteTable(routes)
    assert table.routes == tuple(routes)
    assert repr(table) == "RouteTable(['/b', '/', '/a/b', '/a'])"


def test_duplicate_route_paths_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate route path '/api'"):
        RouteTable([route("/api"), route("/", "http://b:1"), route("/api", "http://c:2")])


def test_root_route_rest_is_the_whole_path() -> None:
    assert RouteTable([route("/")]).match("/a/b") == Match(route("/"), "/a/b")
