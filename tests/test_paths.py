"""upstream_path and its inverse client_path: raw paths, never normalised."""

from __future__ import annotations

from pathlib import Path

import pytest

from devproxy.config import Route, normalize_prefix, parse_rewrite, parse_target
from devproxy.paths import client_path, upstream_path


def route(path: str, target: str = "http://127.0.0.1:3000", *, strip: bool = False,
          rewrite: tuple[tuple[str, str], ...] = ()) -> Route:
    return Route(
        path=normalize_prefix(path),
        target=parse_target(target),
        strip_prefix=strip,
        rewrite=tuple(parse_rewrite(pattern, replacement) for pattern, replacement in rewrite),
    )


API = route("/api")
API_STRIP = route("/api", strip=True)
CAFE_STRIP = route("/café", strip=True)  # its path as browsers send it: /caf%C3%A9
API_STRIP_V1 = route("/api", "http://b:1/v1/", strip=True)
ROOT_STRIP = route("/", strip=True)
ROOT_V1 = route("/", "http://b:1/v1")
V1_TO_V2 = route("/", rewrite=(("^/v1/", "/v2/"),))
DROP_API = route("/api", rewrite=(("^/api", ""),))
DROP_API_V1 = route("/api", rewrite=((r"^/api/v1", ""),))  # Vite's p.replace(/^\/api\/v1/, '')
RELATIVE = route("/a", rewrite=(("^/a", "b"),))
ESCAPED = route("/", rewrite=((r"^/a\.b\-", "/c.d/"),))
WHOLE_MATCH = route("/", rewrite=(("^/old", "/new$0"),))
REGEX = route("/", rewrite=((r"^/v(\d+)/", "/version/$1/"),))
UNANCHORED = route("/", rewrite=(("/v1/", "/v2/"),))
CHAINED = route("/api", "http://b:1/base", strip=True,
                rewrite=(("^/base/old/", "/base/new/"), (r"^/base/new/(\w+)-x", "/base/new/$1"),
                         ("^/base/", "/srv/")))


@pytest.mark.parametrize(
    ("route_", "raw_path", "expected"),
    [
        pytest.param(API, "/api/users", "/api/users", id="no-strip-keeps-path"),
        pytest.param(API_STRIP, "/api/users", "/users", id="strip-drops-prefix"),
        pytest.param(API_STRIP, "/api", "/", id="strip-of-prefix-alone-is-root"),
        pytest.param(API_STRIP, "/api/", "/", id="strip-of-prefix-slash-is-root"),
        pytest.param(ROOT_STRIP, "/users", "/users", id="strip-of-root-changes-nothing"),
        pytest.param(API_STRIP_V1, "/api/users", "/v1/users", id="base-path-prepended"),
        pytest.param(API_STRIP_V1, "/api", "/v1", id="base-path-alone"),
        pytest.param(API_STRIP_V1, "/api/", "/v1/", id="base-path-with-slash"),
        pytest.param(ROOT_V1, "/users", "/v1/users", id="base-path-under-root-route"),
        pytest.param(V1_TO_V2, "/v1/x/v1/", "/v2/x/v1/", id="rewrite-applies-once"),
        pytest.param(V1_TO_V2, "/v3/x", "/v3/x", id="rewrite-that-does-not-match"),
        pytest.param(DROP_API, "/api/users", "/users", id="rewrite-drops-prefix"),
        # RFC 9112 §3.2.1: origin-form starts with "/"; an empty path is sent as "/".
        pytest.param(DROP_API, "/api", "/", id="rewrite-to-nothing-is-root"),
        pytest.param(DROP_API_V1, "/api/v1", "/", id="vite-prefix-removal-to-nothing-is-root"),
        pytest.param(DROP_API_V1, "/api/v1/users", "/users", id="vite-prefix-removal"),
        pytest.param(RELATIVE, "/a/x", "/b/x", id="replacement-without-slash-gets-one"),
        pytest.param(REGEX, "/v7/x", "/version/7/x", id="rewrite-with-group"),
        pytest.param(CHAINED, "/api/old/a-x", "/srv/new/a", id="rewrites-apply-in-order"),
        pytest.param(API_STRIP, "/api/a%2Fb", "/a%2Fb", id="encoded-slash-kept"),
        pytest.param(API_STRIP, "/api//x", "//x", id="double-slash-kept"),
        pytest.param(API_STRIP, "/api/../x", "/../x", id="dot-segments-kept"),
        pytest.param(API_STRIP, "/api/%7Euser", "/%7Euser", id="percent-case-kept"),
        pytest.param(CAFE_STRIP, "/caf%c3%a9/x%c3%a9", "/x%c3%a9",
                     id="strip-of-a-prefix-spelt-in-lower-case"),
    ],
)
def test_upstream_path(route_: Route, raw_path: str, expected: str) -> None:
    assert upstream_path(route_, raw_path) == expected


@pytest.mark.parametrize(
    ("route_", "backend_path", "expected"),
    [
        pytest.param(API, "/login", "/login", id="identity-when-nothing-moves"),
        pytest.param(ROOT_STRIP, "/login", "/login", id="strip-of-root-is-identity"),
        pytest.param(API_STRIP, "/login", "/api/login", id="stripped-prefix-put-back"),
        pytest.param(API_STRIP, "/", "/api/", id="root-becomes-prefix-slash"),
        pytest.param(API_STRIP, "", "/api", id="empty-becomes-prefix"),
        pytest.param(API_STRIP_V1, "/v1/login", "/api/login", id="base-path-removed"),
        pytest.param(API_STRIP_V1, "/v1", "/api", id="base-path-alone"),
        pytest.param(API_STRIP_V1, "/v1/", "/api/", id="base-path-with-slash"),
        pytest.param(API_STRIP_V1, "/login", None, id="outside-base-path"),
        pytest.param(API_STRIP_V1, "/v10/x", None, id="base-path-needs-segment-boundary"),
        pytest.param(ROOT_V1, "/v1/x", "/x", id="base-path-under-root-route"),
        pytest.param(ROOT_V1, "/v1", "/", id="base-path-alone-under-root-route-is-root"),
        pytest.param(V1_TO_V2, "/v2/x", "/v1/x", id="literal-rewrite-undone"),
        pytest.param(V1_TO_V2, "/v3/x", "/v3/x", id="path-the-rewrite-did-not-produce"),
        pytest.param(DROP_API, "/users", "/api/users", id="removing-rewrite-undone"),
        pytest.param(RELATIVE, "/b/x", "/a/x", id="replacement-without-slash-undone"),
        pytest.param(ESCAPED, "/c.d/x", "/a.b-x", id="escaped-literal-undone"),
        pytest.param(WHOLE_MATCH, "/new/old/x", "/old/x", id="whole-match-reference-undone"),
        pytest.param(REGEX, "/version/7/x", "/version/7/x", id="regex-rewrite-is-skipped"),
        pytest.param(UNANCHORED, "/v2/x", "/v2/x", id="unanchored-rewrite-is-skipped"),
        pytest.param(CHAINED, "/srv/new/a", "/api/old/a", id="rewrites-undone-in-reverse"),
        pytest.param(API_STRIP, "/a%2Fb/../c", "/api/a%2Fb/../c", id="not-normalised"),
        pytest.param(API_STRIP, "/api/login", "/api/login",
                     id="prefix-aware-backend-is-not-prefixed-twice"),
        pytest.param(API_STRIP, "/api", "/api", id="prefix-aware-backend-bare-prefix"),
        pytest.param(API_STRIP, "/apikey", "/api/apikey",
                     id="prefix-awareness-needs-a-segment-boundary"),
    ],
)
def test_client_path(route_: Route, backend_path: str, expected: str | None) -> None:
    assert client_path(route_, backend_path) == expected


@pytest.mark.parametrize(
    ("route_", "raw_path"),
    [
        pytest.param(route_, raw_path, id=f"{name}:{raw_path}")
        for name, route_ in [("api", API), ("api-strip", API_STRIP),
                             ("api-strip-v1", API_STRIP_V1), ("drop-api", DROP_API)]
        for raw_path in ["/api", "/api/", "/api/x/y", "/api/v1/x"]
        # Stripping /api sends /api and /api/ both as /; the way back picks /api/.
        if (route_, raw_path) not in ((API_STRIP, "/api"), (DROP_API, "/api"))
    ] + [
        pytest.param(RELATIVE, raw_path, id=f"relative:{raw_path}")
        for raw_path in ["/a", "/a/", "/a/x/y"]
    ] + [
        pytest.param(route_, raw_path, id=f"{name}:{raw_path}")
        for name, route_ in [("root-strip", ROOT_STRIP), ("root-v1", ROOT_V1),
                             ("v1-to-v2", V1_TO_V2), ("escaped", ESCAPED),
                             ("whole-match", WHOLE_MATCH)]
        for raw_path in ["/", "/x/y", "/v1/x", "/a.b-c", "/old/x"]
    ],
)
def test_client_path_inverts_upstream_path(route_: Route, raw_path: str) -> None:
    assert client_path(route_, upstream_path(route_, raw_path)) == raw_path


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param(r"^/v\w/", id="class-escape"),
        pytest.param("^/v1$", id="end-anchor"),
        pytest.param("^/v1/.*", id="wildcard"),
        pytest.param("^/(v1)/", id="group"),
        pytest.param("^/v[12]/", id="set"),
        pytest.param("^/v1|^/v2", id="alternation"),
        pytest.param("^/v{1}/", id="repetition"),
    ],
)
def test_client_path_skips_rules_that_are_not_literal(pattern: str) -> None:
    not_literal = route("/", rewrite=((pattern, "/new/"),))
    assert client_path(not_literal, "/new/x") == "/new/x"


def test_static_route_has_no_upstream_path() -> None:
    static = Route(path="/assets", static=Path("/srv"))
    with pytest.raises(ValueError, match="no target"):
        upstream_path(static, "/assets/x")
    with pytest.raises(ValueError, match="no target"):
        client_path(static, "/x")


def test_upstream_path_refuses_a_path_the_route_did_not_match() -> None:
    with pytest.raises(ValueError, match="did not match"):
        upstream_path(API_STRIP, "/other/x")
