"""Config loading: every mistake is reported with file, line, column and what to write."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devproxy.config import Config, Listen, Timeouts, parse_listen, url_host
from devproxy.errors import ConfigError, Location
from devproxy.loader import (
    DEFAULT_CONFIG_NAME,
    MAX_CONFIG_BYTES,
    MAX_DEPTH,
    config_from_flags,
    load_config,
    parse_config,
    with_overrides,
)
from devproxy.static import resolve_static

ONE_ROUTE = "routes: [{path: /, target: 'http://h'}]\n"


def parse(text: str, base: Path = Path("/")) -> Config:
    return parse_config(textwrap.dedent(text), "devproxy.yaml", base)


def errors(text: str, base: Path = Path("/")) -> tuple[ConfigError, ...]:
    with pytest.raises(ConfigError) as caught:
        parse(text, base)
    return caught.value.problems


def only_error(text: str, base: Path = Path("/")) -> ConfigError:
    found = errors(text, base)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def route(body: str) -> str:
    """A file with one route made of the target line and ``body``, from line 4 on."""
    return "routes:\n  - path: /a\n    target: http://h\n" + textwrap.indent(body, "    ")


# Each kind of mistake: the YAML, where the error points (line:column) and what it says.
MISTAKES = [
    # Unknown and repeated keys.
    pytest.param("routes:\n  - path: /api\n    targte: http://h\n", "3:5",
                 "routes[0].targte: unknown key; did you mean 'target'? valid keys here: path, "
                 "target,", id="unknown-route-key-did-you-mean"),
    pytest.param("listn: 1\n" + ONE_ROUTE, "1:1", "listn: unknown key; did you mean 'listen'?",
                 id="unknown-top-level-key"),
    pytest.param(route("timeout: {total: 1}\n"), "4:15",
                 "routes[0].timeout.total: unknown key; valid keys here: connect, response",
                 id="unknown-timeout-key"),
    pytest.param(route("target: http://i\n"), "4:5",
                 "routes[0].target: duplicate key (first written at line 3); keep only one",
                 id="duplicate-route-key"),
    pytest.param(route("headers:\n  X-A: 1\n  X-A: 2\n"), "6:7",
                 "routes[0].headers.X-A: duplicate key (first written at line 5)",
                 id="duplicate-header-key"),
    pytest.param(route("headers:\n  X-A: 1\n  x-a: 2\n"), "6:7",
                 "routes[0].headers.x-a: the same header as 'X-A' at line 5 (header names "
                 "ignore case)", id="header-repeated-in-another-case"),
    pytest.param(route("<<: {ws: false}\n"), "4:5", "routes[0]: '<<' merge keys are not "
                 "supported", id="merge-key"),
    pytest.param("? [a]\n: b\n" + ONE_ROUTE, "1:3", "the file: a key must be a name, got a list",
                 id="list-as-key"),
    # Booleans: only true/false.
    pytest.param(route("strip_prefix: no\n"), "4:19",
                 "routes[0].strip_prefix: write true or false, not 'no' (YAML 1.1 reads 'no' as "
                 "a boolean", id="yaml11-boolean-no"),
    pytest.param(route("ws: On\n"), "4:9", "routes[0].ws: write true or false, not 'On'",
                 id="yaml11-boolean-on"),
    pytest.param(route('secure: "false"\n'), "4:13",
                 "routes[0].secure: \"false\" is quoted, so it is a string; write false without "
                 "quotes", id="quoted-false"),
    pytest.param(route("secure: 1\n"), "4:13", "routes[0].secure: expected true or false, got "
                 "'1'", id="number-as-boolean"),
    # Numbers.
    pytest.param(route("timeout: {connect: 010}\n"), "4:24",
                 "routes[0].timeout.connect: write 10 without the leading zero (YAML 1.1 reads "
                 "010 as the octal number 8)", id="yaml11-octal"),
    pytest.param(route("timeout: {response: 09}\n"), "4:25",
                 "write 9 without the leading zero (YAML 1.1 reads 09 as a string)",
                 id="leading-zero-not-octal"),
    pytest.param(route("timeout: {connect: -1}\n"), "4:24",
                 "routes[0].timeout.connect: expected a number greater than 0, got -1",
                 id="negative-timeout"),
    pytest.param(route("timeout: {connect: 0}\n"), "4:24", "expected a number greater than 0",
                 id="zero-timeout"),
    pytest.param(route("timeout: {connect: .inf}\n"), "4:24", "expected a number, got '.inf'",
                 id="infinite-timeout"),
    pytest.param(route("timeout: {connect: '5'}\n"), "4:24",
                 "routes[0].timeout.connect: '5' is quoted, so it is a string; write 5 without "
                 "quotes", id="quoted-number"),
    pytest.param(route("timeout: {connect: fast}\n"), "4:24",
                 "expected a number, got 'fast'", id="word-as-number"),
    # Shapes: mapping, list, single value.
    pytest.param(route("timeout: 5\n"), "4:14",
                 "routes[0].timeout: expected a mapping with the keys connect, response, got "
                 "'5'", id="scalar-where-mapping-expected"),
    pytest.param("routes:\n  - path: /a\n    target: {url: 'http://h'}\n", "3:13",
                 "routes[0].target: expected a URL such as http://127.0.0.1:3000, got a mapping",
                 id="mapping-where-scalar-expected"),
    pytest.param(route("headers: {Content-Length: '5'}\n"), "4:15",
                 "routes[0].headers.Content-Length: Content-Length frames the request",
                 id="framing-header"),
    pytest.param(route("headers: {connection: close}\n"), "4:15",
                 "connection frames the request or manages the connection",
                 id="connection-header"),
    pytest.param(route("headers: [X-A]\n"), "4:14",
                 "routes[0].headers: expected a mapping of header: value", id="list-as-headers"),
    pytest.param("routes: {path: /a}\n", "1:9", "routes: expected a list of routes",
                 id="routes-not-a-list"),
    pytest.param("routes:\n  - api\n", "2:5", "routes[0]: expected a route, such as {path: /api, "
                 "target: 'http://127.0.0.1:3000'}, got 'api'", id="route-not-a-mapping"),
    pytest.param("routes:\n  - /api\n", "2:5", "routes[0]: '/api' alone is no route; write it "
                 "as '- path: /api', with its target: or static: under 'path'",
                 id="route-a-path-alone"),
    pytest.param("- a\n", "1:1", "the file: expected a mapping with the keys listen, routes, "
                 "cors, allowed_hosts, limits, inspector, got a list", id="file-is-a-list"),
    # Missing values and keys.
    pytest.param("routes:\n  - path: /a\n    target:\n", "3:12",
                 "routes[0].target: missing value; expected a URL", id="null-target"),
    pytest.param("routes:\n  - path: ''\n    target: http://h\n", "2:11",
                 "routes[0].path: missing value", id="empty-path"),
    pytest.param(route("headers: {X-A: null}\n"), "4:20",
                 "routes[0].headers.X-A: missing value", id="null-header-value"),
    pytest.param("routes:\n  - target: http://h\n", "2:5", "routes[0]: missing 'path:'",
                 id="route-without-path"),
    pytest.param("listen: 1\n", "1:1", "routes: missing; add a list of routes",
                 id="routes-missing"),
    pytest.param("routes: []\n", "1:9", "routes: the list is empty", id="no-routes"),
    pytest.param("", "1:1", "the file is empty", id="empty-file"),
    pytest.param("# only a comment\n", "1:1", "the file is empty", id="comment-only-file"),
    # Target or static, never both, never neither.
    pytest.param(route("static: ./x\n"), "4:5",
                 "routes[0]: a route serves either a target or a folder, never both",
                 id="target-and-static"),
    pytest.param("routes:\n  - path: /a\n    spa: true\n", "2:5",
                 "routes[0]: needs a 'target:' URL or a 'static:' folder", id="neither"),
    pytest.param(route("spa: true\n"), "4:5",
                 "routes[0].spa: only applies to routes with a static:, and this one has a "
                 "target:; remove it", id="static-key-on-target-route"),
    pytest.param("routes:\n  - path: /a\n    static: /\n    ws: false\n", "4:5",
                 "routes[0].ws: only applies to routes with a target:", id="target-key-on-static"),
    pytest.param("routes:\n  - path: /a\n    static: ./does-not-exist\n", "3:13",
                 "routes[0].static: static folder './does-not-exist' (/does-not-exist) does not "
                 "exist", id="missing-static-folder"),
    # Values checked by config's parsers, placed where they were written.
    pytest.param("routes:\n  - path: /api\n    target: localhost:3000\n", "3:13",
                 "routes[0].target: expected an http:// or https:// URL such as "
                 "http://127.0.0.1:3000, got 'localhost:3000' (did you mean "
                 "'http://localhost:3000'?)", id="target-without-scheme-did-you-mean"),
    # A target that lost its slashes is meant with them, not with a second scheme.
    pytest.param("routes:\n  - path: /api\n    target: 'http:127.0.0.1:3000'\n", "3:13",
                 "got 'http:127.0.0.1:3000' (did you mean 'http://127.0.0.1:3000'?)",
                 id="target-without-slashes-did-you-mean"),
    pytest.param("routes:\n  - path: /api\n    target: 'HTTPS:/localhost:3000'\n", "3:13",
                 "(did you mean 'https://localhost:3000'?)", id="target-one-slash-did-you-mean"),
    pytest.param("routes:\n  - path: /api\n    target: ftp://h\n", "3:13",
                 "routes[0].target: expected an http:// or https:// URL", id="ftp-target"),
    pytest.param("routes:\n  - path: /api\n    target: 'http://127.0.0.1:'\n", "3:13",
                 "routes[0].target: the port after ':' is missing", id="target-empty-port"),
    pytest.param("routes:\n  - path: /api\n    target: 'http://127.0.0.1:0'\n", "3:13",
                 "routes[0].target: port 0 is no server's port", id="target-port-0"),
    # urlsplit's own words ("Port could not be cast to integer value") were shown.
    pytest.param("routes:\n  - path: /api\n    target: 'http://127.0.0.1:3000:80'\n",
                 "3:13", "routes[0].target: expected one port number (1-65535) after the "
                 "host, got '3000:80' in 'http://127.0.0.1:3000:80'", id="target-two-ports"),
    pytest.param("routes:\n  - path: /api\n    target: 'http://h:99999'\n", "3:13",
                 "routes[0].target: a port is 1-65535, got 'http://h:99999'",
                 id="target-port-out-of-range"),
    pytest.param("routes:\n  - path: /api\n    target: 'http://[::1:3000'\n", "3:13",
                 "routes[0].target: close the brackets around an IPv6 address",
                 id="target-unclosed-ipv6"),
    pytest.param("routes:\n  - path: /api\n    target: 'http://localhost:${API_PORT}'\n",
                 "3:13", "routes[0].target: devproxy does not expand environment variables",
                 id="target-env-variable"),
    pytest.param("routes:\n  - path: /api\n    target: 'http://${HOST}/v1'\n",
                 "3:13", "routes[0].target: devproxy does not expand environment variables",
                 id="target-env-variable-host"),
    pytest.param("routes:\n  - path: /api\n    target: $API_URL\n", "3:13",
                 "routes[0].target: devproxy does not expand environment variables in a "
                 "target; write the URL out, got '$API_URL'", id="target-env-variable-url"),
    pytest.param("routes:\n  - path: /api\n    target: ${API_URL}\n", "3:13",
                 "routes[0].target: devproxy does not expand environment variables",
                 id="target-env-variable-url-braced"),
    # The default a shell would put in is what to write, where it makes a valid value.
    pytest.param("routes:\n  - path: /api\n    target: 'http://localhost:${API_PORT:-3000}'\n",
                 "3:13", "routes[0].target: devproxy does not expand environment variables in a "
                 "target; write the host and port out, as http://localhost:3000, got "
                 "'http://localhost:${API_PORT:-3000}'", id="target-env-variable-default"),
    # Elsewhere each value's own rule was said ("with one ':'", "must start with '/'",
    # "folder does not exist"), and header values were sent as written.
    pytest.param("listen: 127.0.0.1:${PORT:-47510}\n" + ONE_ROUTE, "1:9",
                 "listen: devproxy does not expand environment variables in a listen address; "
                 "write the address out, as 127.0.0.1:47510, got '127.0.0.1:${PORT:-47510}'",
                 id="listen-env-variable-default"),
    pytest.param("listen: $PORT\n" + ONE_ROUTE, "1:9",
                 "listen: devproxy does not expand environment variables in a listen address; "
                 "write the address out, such as 127.0.0.1:8080, got '$PORT'",
                 id="listen-env-variable"),
    pytest.param("routes:\n  - path: ${BASE}/auth\n    target: http://h\n", "2:11",
                 "routes[0].path: devproxy does not expand environment variables in a route "
                 "path; write the path out, such as /api, got '${BASE}/auth'",
                 id="path-env-variable"),
    pytest.param("routes:\n  - path: /api/$VERSION\n    target: http://h\n", "2:11",
                 "routes[0].path: devproxy does not expand environment variables in a route "
                 "path", id="path-env-variable-inside"),
    pytest.param("routes:\n  - path: /\n    static: ${DIST:-./dist}\n", "3:13",
                 "routes[0].static: devproxy does not expand environment variables in a static "
                 "folder; write the folder out, such as ./dist, got '${DIST:-./dist}'",
                 id="static-env-variable"),
    pytest.param(route('headers:\n  Authorization: "Bearer $TOKEN"\n'), "5:22",
                 "routes[0].headers.Authorization: devproxy does not expand environment "
                 "variables in a header value, so '$TOKEN' would be sent as written; write the "
                 "value itself in its place", id="header-env-variable"),
    pytest.param(route('headers: {X-User: "${USER:-bob}"}\n'), "4:23",
                 "routes[0].headers.X-User: devproxy does not expand environment variables in "
                 "a header value, so '${USER:-bob}' would be sent as written",
                 id="header-env-variable-braced"),
    pytest.param("cors: {origins: ['$FRONTEND_URL']}\n" + ONE_ROUTE, "1:18",
                 "cors.origins[0]: devproxy does not expand environment variables in an "
                 "origin; write the origin out, such as http://localhost:5173, got "
                 "'$FRONTEND_URL'", id="origin-env-variable"),
    pytest.param("allowed_hosts: [$APP_HOST]\n" + ONE_ROUTE, "1:17",
                 "allowed_hosts[0]: devproxy does not expand environment variables in a host "
                 "name", id="allowed-host-env-variable"),
    pytest.param("routes:\n  - path: /api\n    target: 'http://999.1.1.1:3000'\n", "3:13",
                 "routes[0].target: '999.1.1.1' is not an IPv4 address", id="target-bad-ipv4"),
    pytest.param("routes:\n  - path: /api\n    target: 'http://-api-.test'\n", "3:13",
                 "routes[0].target: '-api-.test' is not a host name", id="target-bad-name"),
    pytest.param("routes:\n  - path: api\n    target: http://h\n", "2:11",
                 "routes[0].path: a route path must start with '/'", id="path-without-slash"),
    pytest.param("routes:\n  - path: /app/*\n    target: http://h\n", "2:11",
                 "routes[0].path: a route path is a prefix, not a pattern: /app already "
                 "matches everything under it; write '/app', got '/app/*'", id="path-glob"),
    pytest.param("routes:\n  - path: /**\n    target: http://h\n", "2:11",
                 "routes[0].path: a route path is a prefix, not a pattern: / already "
                 "matches everything under it; write '/'", id="path-glob-root"),
    pytest.param("routes:\n  - {path: /api, target: 'http://h'}\n"
                 "  - {path: /api/, target: 'http://i'}\n", "3:12",
                 "routes[1].path: '/api/' normalises to /api, which is already the path of the "
                 "route at line 2; each path may appear once", id="duplicate-route-path"),
    pytest.param("routes:\n  - {path: /api/, target: 'http://h'}\n"
                 "  - {path: /api, target: 'http://i'}\n", "3:12",
                 "routes[1].path: '/api' is already the path of the route at line 2 (written "
                 "there as '/api/'); each path may appear once",
                 id="duplicate-route-path-written-otherwise-first"),
    pytest.param("routes:\n  - {path: /a!, target: 'http://h'}\n"
                 "  - {path: /a%21, target: 'http://i'}\n", "3:12",
                 "routes[1].path: '/a%21' and '/a!', the path of the route at line 2, are one "
                 "path once %XX escapes are decoded", id="duplicate-route-path-once-decoded"),
    pytest.param("routes:\n  - {path: /api, target: 'http://h'}\n"
                 "  - {path: /api, target: 'http://i'}\n", "3:12",
                 "routes[1].path: '/api' is already the path of the route at line 2; each path "
                 "may appear once", id="duplicate-route-path-as-written"),
    pytest.param("routes: [{path: /api, target: 'http://h'}, {path: /api, target: 'http://i'}]\n",
                 "1:51", "routes[1].path: '/api' is already the path of the route at line 1",
                 id="duplicate-route-path-on-one-line"),
    # "write '/api'" would make a second /api: the route that covers it is named.
    pytest.param("routes:\n  - path: /api\n    target: http://h\n  - path: /api/*\n"
                 "    target: http://i\n", "4:11",
                 "routes[1].path: a route path is a prefix, not a pattern, and the route /api "
                 "at line 2 already matches everything under it; remove this route, or move "
                 "its settings into that one, got '/api/*'", id="path-glob-under-a-route"),
    pytest.param("routes:\n  - path: /api/**\n    target: http://h\n  - path: /api\n"
                 "    target: http://i\n", "2:11",
                 "routes[0].path: a route path is a prefix, not a pattern, and the route /api "
                 "at line 4 already matches everything", id="path-glob-over-a-later-route"),
    pytest.param("routes:\n  - path: /my docs\n    target: http://h\n", "2:11",
                 "routes[0].path: a route path cannot hold white space (a browser sends a "
                 "space as %20), got '/my docs': write '/my%20docs'", id="path-with-space"),
    pytest.param("routes:\n  - path: /a?b=1\n    target: http://h\n", "2:11",
                 "routes[0].path: a route path is a plain path prefix, with no query or "
                 "fragment, got '/a?b=1'", id="path-with-query"),
    pytest.param("routes:\n  - path: /100%\n    target: http://h\n", "2:11",
                 "routes[0].path: a '%' in a route path must start a %XX escape (write a "
                 "literal '%' as %25), got '/100%'", id="path-with-bare-percent"),
    pytest.param("routes:\n  - path: /a%2Fb\n    target: http://h\n", "2:11",
                 "routes[0].path: a route path cannot contain an escaped '/'",
                 id="path-with-escaped-slash"),
    pytest.param("routes:\n  - path: /%FF\n    target: http://h\n", "2:11",
                 "routes[0].path: '%FF' in route path '/%FF' is not UTF-8", id="path-not-utf8"),
    pytest.param("routes:\n  - path: /%5F_devproxy/x\n    target: http://h\n", "2:11",
                 "routes[0].path: /__devproxy/ is reserved", id="reserved-path-escaped"),
    pytest.param("routes:\n  - path: /a/%2e%2E\n    target: http://h\n", "2:11",
                 "routes[0].path: a route path cannot contain '.' or '..' segments",
                 id="dot-segment-escaped"),
    pytest.param(route("rewrite: {'^/(x': /y}\n"), "4:15",
                 "routes[0].rewrite['^/(x']: invalid regular expression: missing ), "
                 "unterminated subpattern",
                 id="invalid-regex"),
    pytest.param(route("rewrite: {'^/x': /$2}\n"), "4:22",
                 "routes[0].rewrite['^/x']: replacement '/$2' refers to group 2",
                 id="rewrite-replacement-unknown-group"),
    pytest.param(route("rewrite: {'" + "(" * 1000 + "': /y}\n"), "4:15",
                 "routes[0].rewrite['(((((((((((((((((((((((((((((((((((((...']: invalid regular "
                 "expression: nested too deeply", id="regex-too-deep-for-re"),
    pytest.param(route("rewrite: {'a{99999999999}': /y}\n"), "4:15",
                 "invalid regular expression: the repetition number is too large",
                 id="regex-repeat-too-large"),
    pytest.param(route("headers: {'Bad Name': x}\n"), "4:15",
                 "routes[0].headers.Bad Name: 'Bad Name' is not a valid header name",
                 id="bad-header-name"),
    pytest.param(route('headers: {X-A: "a\\nb"}\n'), "4:20",
                 "routes[0].headers.X-A: the value of header 'X-A' contains CR, LF or NUL",
                 id="header-value-with-newline"),
    pytest.param(route("ws_origin: change\n"), "4:16",
                 "routes[0].ws_origin: expected one of keep, rewrite, drop, got 'change'",
                 id="bad-ws-origin"),
    pytest.param("listen: localhost\n" + ONE_ROUTE, "1:9", "listen: expected HOST:PORT",
                 id="listen-without-port"),
    pytest.param("listen: 127.0.0.1:99999\n" + ONE_ROUTE, "1:9",
                 "listen: expected a port number 0-65535", id="listen-bad-port"),
    pytest.param("listen: 08080\n" + ONE_ROUTE, "1:9", "listen: write 8080 without the leading "
                 "zero", id="listen-leading-zero"),
    # YAML itself.
    pytest.param("routes: [\n", "1:9", "invalid YAML: the '[' at line 1 is never closed with "
                 "']'; YAML's parser says, at line 2: expected the node content, but found "
                 "'<stream end>'", id="yaml-syntax-error"),
    # A bracket left open mid-file: pyyaml stops at the next key's ':', lines later.
    pytest.param("cors:\n  origins: [http://localhost:5173\n" + ONE_ROUTE, "2:12",
                 "invalid YAML: the '[' at line 2 is never closed with ']'; YAML's parser "
                 "says, at line 3: expected ',' or ']'", id="bracket-open-mid-file"),
    pytest.param(route("headers: {X-A: 1\n") + "  - path: /b\n    target: http://h\n",
                 "4:14", "the '{' at line 4 is never closed with '}'",
                 id="brace-open-before-the-next-item"),
    pytest.param(route("headers: {X-A: 1\n") + "  - {path: /b, target: 'http://h'}\n",
                 "4:14", "the '{' at line 4 is never closed with '}'",
                 id="brace-open-before-a-flow-item"),
    pytest.param(route("headers: {\n  X-A: '1'\n  X-B: '2'\n}\n"), "6:7",
                 "a ',' is missing between the entries of the '{' at line 4, before line 6",
                 id="comma-missing-in-a-flow-block-closed-later"),
    pytest.param(route("headers: {X-A: one X-B: two}\n"), "4:27",
                 "a ',' is missing before 'X-B:' in the '{...}' on this line",
                 id="comma-missing-on-one-line"),
    pytest.param(route("headers: {X-B: 1, Authorization: Bearer: abc}\n"), "4:44",
                 "a value that holds ': ' is read as another key; quote it, as "
                 "{Authorization: 'Bearer: abc'}", id="colon-in-a-flow-value"),
    # A closer that closes nothing, or the other bracket: pyyaml stops lines later, or
    # says only what it expected.
    pytest.param("cors:\n  origins: [http://a.test, http://b.test]]\nroutes:\n"
                 "  - {path: /api, target: 'http://h'}\n", "2:42",
                 "invalid YAML: the ']' at line 2 closes nothing; delete it; YAML's parser "
                 "says, at line 4: mapping values are not allowed here", id="stray-closer"),
    pytest.param("routes:\n  - {path: /api, target: 'http://h']\n", "2:36",
                 "invalid YAML: the '{' at line 2 is closed with ']'; close it with '}'; "
                 "YAML's parser says: expected ',' or '}', but got ']'",
                 id="mismatched-closer"),
    pytest.param("routes: [{path: /a, target: 'http://h'}}\n", "1:40",
                 "the '[' at line 1 is closed with '}'", id="mismatched-outer-closer"),
    # The inner bracket left open, the outer one closed: add the missing one.
    pytest.param("routes: [{path: /a, target: 'http://h']\n", "1:39",
                 "the '{' at line 1 is never closed; add '}' before the ']' at line 1, "
                 "column 39", id="inner-bracket-left-open"),
    # A stray closer after where the parser stopped is not the error.
    pytest.param("routes: *nope\nx: [a]]\n", "1:9", "invalid YAML: found undefined alias "
                 "'nope'", id="closer-after-the-error"),
    # The usual slips, told as the mistake and where it is, not where the parser stopped.
    # At the key, whose column the words name, not at its ':' where the parser stopped.
    pytest.param("routes:\n  - path: /api\n      target: http://h\n", "3:7",
                 "invalid YAML: 'target' is indented more than 'path' on line 2 (column 7, not "
                 "5)", id="key-indented-too-far"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n  - path: /api\n     target: "
                 "http://h\n", "5:6", "invalid YAML: 'target' is indented more than 'path' on "
                 "line 4 (column 6, not 5)", id="key-indented-one-column-too-far"),
    pytest.param("routes:\n  - path: /api\n    target: http://h\n   strip_prefix: true\n",
                 "4:4", "'strip_prefix' at column 4 lines up with no key above it: 'target' "
                 "on line 3 starts at column 5", id="key-one-column-short"),
    # The key between two that line up is the one out of line, not the second.
    pytest.param("routes:\n  - path: /api\n   target: http://h\n    strip_prefix: true\n",
                 "3:4", "'target' on line 3 is at column 4, but 'path' on line 2 starts at "
                 "column 5; the keys of one mapping start in the same column",
                 id="key-one-column-short-between-two"),
    # ... but a key after a nested block, where the keys before the block are, is not.
    pytest.param("routes:\n  - path: /api\n    headers:\n      X-A: b\n    change_origin: true\n"
                 "      strip_prefix: true\n", "6:7", "'strip_prefix' is indented more than "
                 "'change_origin' on line 5 (column 7, not 5)", id="key-indented-after-a-block"),
    pytest.param("routes:\n  - path: /api\n  target: http://h\n", "3:3",
                 "'target' at column 3 lines up with the '-' of line 2, so it belongs to "
                 "nothing; move it to column 5 (under 'path') to put it in the item above, or "
                 "to column 1 (under 'routes') to make it a key of its own",
                 id="key-under-the-dash"),
    pytest.param("routes:\n - path: /a\n   target: http://h\n  - path: /b\n", "4:3",
                 "this '-' is at column 3, but the '-' of the item on line 2 is at column 2; "
                 "the items of one list line up: move it to column 2",
                 id="list-item-out-of-line"),
    # The item a key lines up with is the nearest one above, not the list's first.
    pytest.param("routes:\n  - path: /a\n    target: http://h\n  - path: /b\n"
                 "    target: http://h\n  - path: /c\n  target: http://h\n", "7:3",
                 "'target' at column 3 lines up with the '-' of line 6, so it belongs to "
                 "nothing; move it to column 5 (under 'path') to put it in the item above",
                 id="key-under-the-last-dash"),
    # Items out of line where no list is open: pyyaml said only "expected <block end>".
    pytest.param("routes:\n- path: /a\n  target: http://h\n - path: /b\n   target: http://h\n",
                 "4:2", "invalid YAML: this '-' is at column 2, but the '-' of the item on line "
                 "2 is at column 1; the items of one list line up: move it to column 1",
                 id="item-one-column-in-an-unindented-list"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n- path: /b\n  target: http://h\n",
                 "4:1", "invalid YAML: this '-' is at column 1, but the '-' of the item on line "
                 "2 is at column 3; the items of one list line up: move it to column 3",
                 id="item-pasted-at-column-1"),
    pytest.param("routes:\n  - path: /a\n    headers:\n      X-A: b\n    target: http://h\n"
                 "    - path: /b\n      target: http://h\n", "6:5",
                 "invalid YAML: this '-' is at column 5, where the keys of the item on line 2 "
                 "are, but that item's '-' is at column 3; the items of one list line up: move "
                 "it to column 3", id="item-indented-under-the-route-above"),
    pytest.param("routes: []  # none yet\n  - path: /a\n    target: http://h\n", "1:9",
                 "invalid YAML: 'routes' on line 1 already has a value on its line ('[]'), so "
                 "the list below it belongs to nothing; remove '[]' to make the list its value; "
                 "YAML's parser says, at line 2:", id="items-under-an-empty-list"),
    pytest.param("routes:\n  path: /x\n  target: http://h\n  - path: /b\n    target: http://h\n",
                 "2:3", "invalid YAML: 'path' on line 2 starts a mapping, and the '-' on line 4 a "
                 "list, in the same column: what 'routes' holds is a list or a mapping, not "
                 "both; if line 2 starts a list item, write it as '- path: /x', with the item's "
                 "other keys lined up under 'path'", id="items-after-a-route-without-its-dash"),
    pytest.param("routes:\n  - /auth\n    target: http://h\n", "2:5",
                 "invalid YAML: the list item on line 2 is '/auth' alone, with no key, so the "
                 "keys under it cannot be its own; write it as '- path: /auth'; YAML's parser "
                 "says, at line 3: mapping values are not allowed here", id="item-without-path"),
    pytest.param("# devproxy\n  listen: 8080\nroutes:\n  - path: /a\n    target: http://h\n",
                 "2:3", "invalid YAML: 'listen' on line 2 is at column 3, but the top-level "
                 "keys start at column 1, as on line 3: remove the spaces before it",
                 id="first-key-indented"),
    # With no list above, and at the top level, no guess beats pyyaml's own words.
    pytest.param("listen: 1\n- path: /a\n", "2:1", "invalid YAML: expected <block end>, but "
                 "found '-'", id="item-in-a-top-level-mapping"),
    pytest.param("routes\n  - path: /\n", "1:1", "line 1 has no ':' after 'routes', so it runs "
                 "on into line 2 as one value", id="key-without-colon"),
    pytest.param("routes:\n  - path /api\n    target: http://h\n", "2:5",
                 "line 2 has no ':' after 'path'", id="item-key-without-colon"),
    pytest.param("routes:\n  - path: /api\n    target http://h\n    spa: true\n", "3:5",
                 "line 3 has no ':' after 'target'", id="key-without-colon-among-keys"),
    pytest.param("listen:8080\nroutes:\n  - path: /\n", "1:7",
                 "put a space after the ':' on line 1", id="key-colon-without-space"),
    pytest.param("routes:\n  -path: /api\n    target: http://h\n", "2:3",
                 "put a space after the '-' on line 2", id="dash-without-space"),
    pytest.param(route("headers:\n      X-Note: a: b\n"), "5:20", "a value that holds ': ' "
                 "is read as another key: for a mapping, put 'a: b' on a line of its own, indented "
                 "under 'X-Note'; for text, quote it, as X-Note: 'a: b'", id="colon-in-value"),
    pytest.param("listen: [::1]:8080\n" + ONE_ROUTE, "1:10", "a value that starts with '[' is "
                 "read as a YAML list; quote it, as listen: '[::1]:8080'",
                 id="unquoted-ipv6-listen"),
    pytest.param("routes:\r  - path: /api\r      target: http://h\r", "3:7",
                 "'target' is indented more than 'path' on line 2", id="old-mac-line-ends"),
    pytest.param("\ufeffroutes: [\n", "1:9", "the '[' at line 1 is never closed with ']'",
                 id="byte-order-mark"),
    pytest.param("routes:\n  - path: \"/api\n    target: \"http://h\"\n", "3:14",
                 "the quote opened at line 2 is never closed", id="quote-open-across-lines"),
    pytest.param("routes:\n  - path: /\n    target: http://h\n    timeout: connect: 5\n",
                 "4:21", "put 'connect: 5' on a line of its own, indented under 'timeout'",
                 id="nested-key-on-one-line"),
    # A URL in a list holds ':' but is no key: no hint rather than a wrong one.
    pytest.param("cors:\n  origins:\n    - http://a.test\n      credentials: true\n" + ONE_ROUTE,
                 "4:18", "invalid YAML: mapping values are not allowed here", id="url-item"),
    pytest.param("routes:\n  - path: /\n    target: \"http://h\n", "3:13",
                 "the quote opened at line 3 is never closed", id="open-quote"),
    pytest.param("routes:\n\t- path: /\n", "2:1", "indent with spaces", id="tab-indent"),
    # After a key's ':' a tab is no indentation: that advice was wrong there.
    pytest.param("routes:\n  - path: /\n    target:\thttp://h\n", "3:12",
                 "write a space there, not a tab", id="tab-after-colon"),
    pytest.param("routes:\n  - path: /\n    target: http://h\t# api\n", "3:21",
                 "write a space there, not a tab", id="tab-after-a-value"),
    pytest.param("routes: !!python/object:os.system {}\n", "1:9",
                 "the tag !!python/object:os.system is not allowed", id="python-tag"),
    pytest.param(route("headers: {X-A: !!binary aGk=}\n"), "4:20", "the tag !!binary is not "
                 "allowed", id="binary-tag"),
    pytest.param("listen: !local 1\n" + ONE_ROUTE, "1:9", "the tag !local is not allowed",
                 id="local-tag"),
    pytest.param(ONE_ROUTE + "---\n" + ONE_ROUTE, "3:1", "a second YAML document",
                 id="two-documents"),
    pytest.param("listen: 1\x00\n", "1:10", "contains a NUL byte; is this a text file?",
                 id="nul-byte"),
    pytest.param("routes:\n  - \x07\n", "2:5", "contains the control character U+0007",
                 id="control-character"),
    # CORS blocks.
    pytest.param("cors: {origins: '*', credentials: true}\n" + ONE_ROUTE, "1:17",
                 "cors.origins: '*' cannot be used with credentials", id="star-with-credentials"),
    pytest.param("cors: {origins: ['http://localhost:5173/']}\n" + ONE_ROUTE, "1:18",
                 "cors.origins[0]: an origin has no path, not even a trailing slash: write "
                 "'http://localhost:5173'", id="origin-with-trailing-slash"),
    pytest.param("cors: {credentials: true}\n" + ONE_ROUTE, "1:7", "cors: missing 'origins'",
                 id="cors-without-origins"),
    pytest.param("cors: {origins: '*', max_age: -1}\n" + ONE_ROUTE, "1:31",
                 "cors.max_age: expected a whole number, 0 or more", id="negative-max-age"),
    # One message, and one that holds: "write true or false" was followed by a refused true.
    pytest.param(route("cors: true\n"), "4:11", "routes[0].cors: CORS mode needs the origins "
                 "to allow, so 'true' is not enough: give the route a block of its own, e.g. "
                 "cors: {origins: [http://localhost:5173]}, or put that block at the top "
                 "level, for every target route", id="route-cors-true"),
    pytest.param(route("cors: yes\n"), "4:11", "routes[0].cors: CORS mode needs the origins "
                 "to allow, so 'yes' is not enough: give the route a block of its own",
                 id="route-cors-yes"),
    pytest.param("cors: {origins: '*'}\n" + route("cors: true\n"), "5:11",
                 "routes[0].cors: CORS mode needs the origins to allow, so 'true' is not "
                 "enough: give the route a block of its own, e.g. cors: {origins: "
                 "[http://localhost:5173]}, or leave cors out of this route to use the "
                 "top-level cors block (line 1)", id="route-cors-true-under-a-top-block"),
    pytest.param(route("cors: no\n"), "4:11", "routes[0].cors: write false to turn CORS mode "
                 "off for this route, not 'no' (YAML 1.1 reads 'no' as a boolean",
                 id="route-cors-no"),
    pytest.param(route("cors: 'false'\n"), "4:11", "routes[0].cors: 'false' is quoted, so it "
                 "is a string; write false without quotes", id="route-cors-quoted-false"),
    pytest.param(route("cors:\n"), "4:10", "routes[0].cors: expected false (CORS mode off for "
                 "this route) or a block of its own, e.g. cors: {origins: "
                 "[http://localhost:5173]}, got nothing", id="route-cors-empty"),
    pytest.param("cors: true\n" + ONE_ROUTE, "1:7", "cors: CORS mode needs the origins to "
                 "allow, so 'true' is not enough: write a block, e.g. cors: {origins: "
                 "[http://localhost:5173]}", id="top-cors-true"),
    pytest.param("cors: yes\n" + ONE_ROUTE, "1:7", "cors: CORS mode needs the origins to "
                 "allow, so 'yes' is not enough", id="top-cors-yes"),
    pytest.param("cors: false\n" + ONE_ROUTE, "1:7", "cors: CORS mode is off without a cors "
                 "block, so remove this line", id="top-cors-false"),
    pytest.param(route("cors: [http://x]\n"), "4:11", "routes[0].cors: expected a mapping with "
                 "the keys origins, credentials", id="route-cors-a-list"),
    pytest.param("cors:\n  origins: http://localhost:5173\n" + ONE_ROUTE, "2:12",
                 "cors.origins: expected a list of origins or '*', got "
                 "'http://localhost:5173'; write it as a list: [http://localhost:5173]",
                 id="one-origin-not-in-a-list"),
    pytest.param("cors:\n  origins: [http://a.test]\n  methods: PUT\n" + ONE_ROUTE, "3:12",
                 "cors.methods: expected a list, got 'PUT'; write it as a list: [PUT]",
                 id="one-method-not-in-a-list"),
    pytest.param("allowed_hosts: '[::1]'\n" + ONE_ROUTE, "1:16",
                 """allowed_hosts: expected a list of host names, or all, got '[::1]'; write """
                 """it as a list: ["[::1]"]""", id="one-bracketed-host-not-in-a-list"),
    # `all` alone turns the Host check off; written otherwise it is said so.
    pytest.param("allowed_hosts: '*'\n" + ONE_ROUTE, "1:16", "allowed_hosts: to allow every "
                 "host, write allowed_hosts: all, not '*'", id="star-for-all-hosts"),
    pytest.param("allowed_hosts: ALL\n" + ONE_ROUTE, "1:16", "allowed_hosts: to allow every "
                 "host, write allowed_hosts: all, not 'ALL'", id="all-in-capitals"),
    pytest.param("allowed_hosts: [foo.test, all]\n" + ONE_ROUTE, "1:27",
                 "allowed_hosts[1]: to allow every host, write allowed_hosts: all on its own, "
                 "not 'all' in a list", id="all-in-a-list"),
    pytest.param("allowed_hosts: ['*']\n" + ONE_ROUTE, "1:17",
                 "allowed_hosts[0]: to allow every host, write allowed_hosts: all on its own, "
                 "not '*' in a list", id="star-in-a-host-list"),
    pytest.param("cors: {origins: []}\n" + ONE_ROUTE, "1:17", "cors.origins: the list is empty",
                 id="no-origins"),
    pytest.param("cors: {origins: [http://localhost:5173, '*']}\n" + ONE_ROUTE, "1:41",
                 "cors.origins: '*' allows every origin on its own and matches nothing in a "
                 "list", id="star-in-a-list"),
    pytest.param("cors: {origins: ['*'], credentials: true}\n" + ONE_ROUTE, "1:17",
                 "'*' cannot be used with credentials", id="listed-star-with-credentials"),
    pytest.param("cors: {origins: ['http://*.example.test']}\n" + ONE_ROUTE, "1:18",
                 "cors.origins[0]: 'http://*.example.test': only the port may be '*'",
                 id="wildcard-host"),
    pytest.param("cors: {origins: ['http://me@localhost:5173']}\n" + ONE_ROUTE, "1:18",
                 "an origin has no user name or password", id="origin-with-user"),
    pytest.param("cors: {origins: '*', methods: [GE T]}\n" + ONE_ROUTE, "1:32",
                 "cors.methods[0]: 'GE T' is not a valid name", id="bad-method-name"),
    pytest.param("cors: {origins: '*', backend_cors: merge}\n" + ONE_ROUTE, "1:36",
                 "cors.backend_cors: expected one of replace, keep, got 'merge'",
                 id="bad-backend-cors"),
    # Limits: whole numbers within bounds `up` can build (the bound is named).
    pytest.param("limits: {header_size: 99999999999999999999}\n" + ONE_ROUTE, "1:23",
                 "limits.header_size: expected a whole number from 1 to 4194304, got "
                 "99999999999999999999", id="huge-header-size"),
    pytest.param("limits: {headers: 99999999999999999999}\n" + ONE_ROUTE, "1:19",
                 "limits.headers: expected a whole number from 1 to 10000, got "
                 "99999999999999999999", id="huge-header-count"),
    pytest.param("limits: {upstream_connections: 10001}\n" + ONE_ROUTE, "1:32",
                 "limits.upstream_connections: expected a whole number from 0 to 10000, got "
                 "10001", id="huge-connection-cap"),
    pytest.param("limits: {idle_timeout: 1e300}\n" + ONE_ROUTE, "1:24",
                 "limits.idle_timeout: expected a number greater than 0 and at most 86400, "
                 "got 1e300", id="huge-timeout"),
    pytest.param("inspector: {history: 99999999999999999999}\n" + ONE_ROUTE, "1:22",
                 "inspector.history: expected a whole number from 1 to 10000, got "
                 "99999999999999999999", id="huge-history"),
    pytest.param("inspector: {history: 100000000}\n" + ONE_ROUTE, "1:22",
                 "inspector.history: expected a whole number from 1 to 10000, got 100000000",
                 id="history-of-800-mb"),
    pytest.param("inspector: {body_limit: 16777217}\n" + ONE_ROUTE, "1:25",
                 "inspector.body_limit: expected a whole number from 0 to 16777216, got "
                 "16777217", id="huge-body-limit"),
    # The rule said is the rule applied: -5 and 0 are refused alike.
    pytest.param("limits: {header_size: -5}\n" + ONE_ROUTE, "1:23",
                 "limits.header_size: expected a whole number from 1 to 4194304, got -5",
                 id="negative-header-size"),
    pytest.param("limits: {header_size: 0}\n" + ONE_ROUTE, "1:23",
                 "limits.header_size: expected a whole number from 1 to 4194304, got 0",
                 id="zero-header-size"),
    pytest.param("inspector: {history: 0}\n" + ONE_ROUTE, "1:22",
                 "inspector.history: expected a whole number from 1 to 10000, got 0; write "
                 "inspector: false to turn the inspector off", id="zero-history"),
    pytest.param("cors: {origins: '*', max_age: " + "9" * 5000 + "}\n" + ONE_ROUTE, "1:31",
                 "cors.max_age: expected a whole number, 0 or more, got 99999999999999999999..."
                 " (5000 characters), which is too large", id="number-too-long-for-int"),
    # Null where a boolean or number belongs, and a null key.
    pytest.param(route("secure: ~\n"), "4:13", "routes[0].secure: missing value; expected true "
                 "or false", id="null-boolean"),
    pytest.param(route("timeout: {connect: null}\n"), "4:24", "routes[0].timeout.connect: "
                 "missing value; expected a number", id="null-number"),
    pytest.param("~: 1\n" + ONE_ROUTE, "1:1", "the file: a key must be a name, got nothing",
                 id="null-key"),
]


@pytest.mark.parametrize(("text", "at", "message"), MISTAKES)
def test_each_kind_of_mistake_is_reported_at_its_line_and_column(
    text: str, at: str, message: str,
) -> None:
    error = only_error(text)
    assert str(error).startswith(f"devproxy.yaml:{at}: "), str(error)
    assert message in error.message


@pytest.mark.parametrize(("target", "meant"), [
    ("3000", "http://localhost:3000"),  # a port alone, as in Vite's proxy: { '/api': 3000 }
    ("htp://localhost:3000", "http://localhost:3000"),
    ("htpps://localhost:3000", "https://localhost:3000"),
    ("http//localhost:3000", "http://localhost:3000"),
    ("HTTPS//[::1]:3000/v1", "https://[::1]:3000/v1"),
    ("ws://localhost:3000", "http://localhost:3000"),
    ("wss://localhost:3000", "https://localhost:3000"),
])
def test_a_mistyped_target_gets_the_url_it_meant(target: str, meant: str) -> None:
    error = only_error(f"routes:\n  - path: /api\n    target: '{target}'\n")
    assert f"(did you mean {meant!r}?" in error.message
    assert ("WebSocket upgrades" in error.message) == target.startswith("ws")


@pytest.mark.parametrize("target", ["http:", "http:/", "https:x y:1", "x:y", "ftp://h:21",
                                    "99999"])
def test_a_target_with_nothing_valid_to_offer_gets_no_guess(target: str) -> None:
    error = only_error(f"routes:\n  - path: /api\n    target: '{target}'\n")
    assert error.message.startswith("routes[0].target: ") and "did you mean" not in error.message


@pytest.mark.parametrize(("written", "meant"), [
    pytest.param("routes:\n  /api: http://127.0.0.1:3000\n  /: ./dist\n",
                 {"/api": "http://127.0.0.1:3000", "/": "dist"}, id="vite-proxy-shape"),
    pytest.param("routes:\n  /api: 3000\n", {"/api": "http://127.0.0.1:3000"}, id="a-port"),
    pytest.param("routes:\n  /api: {target: 'http://h:1', change_origin: true}\n",
                 {"/api": "http://h:1"}, id="settings"),
    pytest.param("routes:\n  path: /api\n  target: http://h:1\n", {"/api": "http://h:1"},
                 id="one-route-without-its-dash"),
    pytest.param("routes:\n  path: /api\n  target: http://h:1\n  ws: false\n"
                 "  strip_prefix: true\n  change_origin: true\n  headers: {X-A: 'b: c'}\n",
                 {"/api": "http://h:1"}, id="every-setting-kept"),
    # Named routes: the names are no paths, the path each holds is.
    pytest.param("routes:\n  api:\n    path: /api\n    target: http://h:1\n  web:\n"
                 "    target: http://h:2\n    path: /\n",
                 {"/api": "http://h:1", "/": "http://h:2"}, id="named-routes-with-paths"),
    pytest.param("routes:\n  api:\n    target: http://h:1\n", {"/api": "http://h:1"},
                 id="a-name-without-a-path"),
])
def test_routes_written_as_a_mapping_get_the_list_to_paste(
        written: str, meant: dict[str, str], tmp_path: Path) -> None:
    # Vite's server.proxy is a mapping of path to target; a forgotten dash makes one too.
    error = only_error(written)
    assert str(error).startswith("devproxy.yaml:2:3: routes: expected a list of routes")
    suggested = error.message.split("\n", 1)[1]
    (tmp_path / "dist").mkdir()
    config = parse(suggested, tmp_path)
    assert {r.path: str(r.target or r.static.relative_to(tmp_path))  # type: ignore[union-attr]
            for r in config.routes} == meant
    if "change_origin" in written:
        assert config.routes[0].change_origin
    if "headers" in written:
        (kept,) = config.routes
        assert (kept.ws, kept.strip_prefix, kept.headers) == (False, True, (("X-A", "b: c"),))


@pytest.mark.parametrize(("text", "message"), [
    ("routes:\n  - Path: /api\n    target: http://h\n",
     "routes[0].Path: keys are lower case: write path"),
    ("routes:\n  - path: /api\n    Target: http://h\n",
     "routes[0].Target: keys are lower case: write target"),
    ("Routes:\n  - path: /api\n    target: http://h\n", "Routes: keys are lower case: write "
     "routes"),
    # A misspelt path: is not also "missing".
    ("routes:\n  - pth: /api\n    target: http://h\n", "routes[0].pth: unknown key; did you "
     "mean 'path'?"),
])
def test_a_key_in_the_wrong_case_or_misspelt_is_told_once(text: str, message: str) -> None:
    assert only_error(text).message.startswith(message)


def test_yaml11_boolean_no_is_refused_with_line() -> None:
    error = only_error("""\
        routes:
          - path: /api
            target: http://127.0.0.1:3000
            change_origin: no
    """)
    assert error.location == Location("devproxy.yaml", 4, 20)
    assert str(error) == (
        "devproxy.yaml:4:20: routes[0].change_origin: write true or false, not 'no' (YAML 1.1 "
        "reads 'no' as a boolean, YAML 1.2 as the string 'no', so tools disagree on what it "
        "means)")


def test_every_problem_in_a_file_is_reported_in_file_order() -> None:
    found = errors("""\
        listn: 1
        routes:
          - path: /a
            target: nope
            ws: yes
          - path: b
            target: http://h
          - path: /c
            static: ./nowhere
            spa: maybe
    """)
    assert [(e.location.line, e.location.column) for e in found if e.location] == \
        [(1, 1), (4, 13), (5, 9), (6, 11), (9, 13), (10, 10)]
    assert found[1].message.startswith("routes[0].target:")
    assert found[3].message.startswith("routes[1].path:")


@pytest.mark.parametrize(("text", "said"), [
    pytest.param("cors:\norigins: [http://a.test]\ncredentials: true\n" + ONE_ROUTE,
                 [(2, "origins: belongs under 'cors:' (line 1), which is empty: indent it"),
                  (3, "credentials: belongs under 'cors:' (line 1)")], id="cors"),
    pytest.param(ONE_ROUTE + "limits:\nheader_size: 100000\ninspector:\nhistory: 5\n",
                 [(3, "header_size: belongs under 'limits:' (line 2)"),
                  (5, "history: belongs under 'inspector:' (line 4)")], id="limits-inspector"),
    pytest.param("routes:\npath: /api\ntarget: http://h\n",
                 [(2, "path: belongs in a route under 'routes:' (line 1), which is empty: "
                      "write the route as a list item, indented, as '  - path: /api'"),
                  (3, "target: belongs in a route under 'routes:' (line 1)")], id="routes"),
])
def test_a_blocks_keys_written_unindented_are_told_to_indent(
        text: str, said: list[tuple[int, str]]) -> None:
    # Not "unknown key" for each, plus the block's "got nothing".
    found = errors(text)
    assert [(e.location.line if e.location else 0) for e in found] == [line for line, _ in said]
    for error, (_, words) in zip(found, said, strict=True):
        assert words in error.message


def test_a_misspelt_routes_key_is_not_also_missing() -> None:
    found = errors("listn: 127.0.0.1:8080\nrotues:\n  - path: /a\n    target: http://h\n")
    assert [e.message.split(";")[0] for e in found] == ["listn: unknown key",
                                                        "rotues: unknown key"]
    assert "did you mean 'routes'?" in found[1].message


def test_a_full_config_becomes_frozen_objects(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    config = parse("""\
        listen: 127.0.0.1:9000
        routes:
          - path: /api/
            target: http://LOCALHOST:3000/v1/
            change_origin: true
            strip_prefix: TRUE
            rewrite: {"^/v1/old/": "/v1/new/", "^/x/(\\\\d+)": "/y/$1", "^/gone": ""}
            headers: {X-Dev-User: alice, X-Num: 5, X-Flag: yes, X-Day: 2024-01-01, X-E: ""}
            timeout: {connect: 2.5, response: 30}
            secure: False
            ws: false
            ws_origin: rewrite
          - path: /docs
            static: ./site
            spa: true
            dotfiles: true
    """, tmp_path)
    api, docs = config.routes
    assert config.source == Path("devproxy.yaml")
    assert config.listen == Listen("127.0.0.1", 9000)
    assert (api.path, api.line, docs.path, docs.line) == ("/api", 3, "/docs", 13)
    assert api.target is not None and api.target.url == "http://localhost:3000/v1"
    assert (api.change_origin, api.strip_prefix, api.secure, api.ws) == (True, True, False, False)
    assert [r.source for r in api.rewrite] == ["/v1/new/", "/y/$1", ""]  # order as written
    assert [r.apply(p) for r, p in zip(api.rewrite, ["/v1/old/a", "/x/42", "/gone/x"],
                                       strict=True)] == ["/v1/new/a", "/y/42", "/x"]
    # Header values are the text as written, never YAML's guess at a type.
    assert api.headers == (("X-Dev-User", "alice"), ("X-Num", "5"), ("X-Flag", "yes"),
                           ("X-Day", "2024-01-01"), ("X-E", ""))
    assert api.timeout == Timeouts(connect=2.5, response=30.0)
    assert api.ws_origin == "rewrite"
    assert docs.static == (tmp_path / "site").resolve()
    assert (docs.spa, docs.dotfiles, docs.target) == (True, True, None)
    with pytest.raises(AttributeError):
        api.path = "/other"  # type: ignore[misc]


def test_a_byte_order_mark_and_windows_line_endings_are_fine() -> None:
    config = parse("\ufeffroutes:\r\n  - path: /\r\n    target: http://h\r\n")
    assert (config.routes[0].line, str(config.routes[0].target)) == (2, "http://h")
    assert str(only_error("routes:\r\n  - path: /\r\n    target: h\r\n").location) == \
        "devproxy.yaml:3:13"


NBSP_FIX = "a no-break space (U+00A0), which looks like a space but is text to YAML: " \
    "replace it with a plain space"
ZWSP_FIX = "a zero-width space (U+200B), invisible but part of the text: delete it"


@pytest.mark.parametrize(("text", "at", "message"), [
    # Each once read as something else: a YAML error on another line, a missing space
    # after a ':' that has one, an unknown key named like a known one, a route that
    # passed `check` as /api%E2%80%8B and never matched.
    pytest.param("routes:\n  - path:\xa0/api\n    target: http://h\n", "2:10", NBSP_FIX,
                 id="nbsp-after-a-key"),
    pytest.param("routes:\n  - path: /api\n    target:\xa0http://h\n", "3:12", NBSP_FIX,
                 id="nbsp-after-the-last-key"),
    pytest.param("routes:\n  - path: /api\n\xa0\xa0\xa0\xa0target: http://h\n", "3:1",
                 "4 no-break spaces (U+00A0), which look like spaces but are text to YAML: "
                 "replace them with plain spaces", id="nbsp-indent"),
    pytest.param("routes:\n  - path: /api\n    tar\u200bget: http://h\n", "3:8", ZWSP_FIX,
                 id="zero-width-in-a-key"),
    pytest.param("routes:\n  - path: /api\u200b\n    target: http://h\n", "2:15", ZWSP_FIX,
                 id="zero-width-after-a-path"),
    pytest.param("routes:\n  - path: /api\n    target: 'http://h:1\u200d'\n", "3:24",
                 "a zero-width joiner (U+200D), invisible", id="zero-width-joiner-in-a-target"),
    pytest.param("routes:\n  - path: /\n    target: http://h\n    headers: {X-A: \"b\u2060c\"}\n",
                 "4:22", "a word joiner (U+2060), invisible", id="word-joiner-in-quotes"),
    pytest.param("\ufeffroutes:\n  - path: /\n    \ufefftarget: http://h\n", "3:5",
                 "a byte order mark (U+FEFF), invisible but part of the text: delete it",
                 id="a-byte-order-mark-inside"),
    pytest.param("routes:\n  - path: /\n    target: http://h\n    headers: {X-A: b\u200cc}\n",
                 "4:21", "a zero-width non-joiner (U+200C)", id="zero-width-non-joiner"),
])
def test_a_character_that_looks_like_a_space_or_nothing_is_named_where_it_is(
        text: str, at: str, message: str) -> None:
    error = only_error(text)
    assert str(error).startswith(f"devproxy.yaml:{at}: {message}"), str(error)


def test_invisible_characters_in_comments_and_escapes_are_fine() -> None:
    config = parse("routes:  # from the wiki:\xa0paste\n  - path: /api  # \u200b\n"
                   "    target: http://h  # it's\u200b\n"
                   "    headers: {X-A: \"b\\u00a0c # \\u200b\"}\n")
    assert config.routes[0].path == "/api"
    assert config.routes[0].headers == (("X-A", "b\xa0c # \u200b"),)


def test_a_dollar_that_names_no_environment_variable_is_text() -> None:
    # OData's /$metadata, a cookie's $Version, a price: a literal '$' is no reference.
    config = parse("""\
        routes:
          - path: /odata/$metadata
            target: http://h
            headers: {Cookie: '$Version=1', X-Price: '$5', X-Hash: '$2b$10$abc'}
    """)
    assert config.routes[0].path == "/odata/$metadata"
    assert config.routes[0].headers == (("Cookie", "$Version=1"), ("X-Price", "$5"),
                                        ("X-Hash", "$2b$10$abc"))


def test_defaults_fill_everything_not_written() -> None:
    config = parse("routes: [{path: /, target: 'http://127.0.0.1:5173'}]")
    (only,) = config.routes
    assert config.listen == Listen("127.0.0.1", 8080)
    assert config.cors is None
    assert (only.change_origin, only.strip_prefix, only.secure, only.ws, only.ws_origin) == \
        (False, False, True, True, "keep")
    assert (only.rewrite, only.headers, only.timeout) == ((), (), Timeouts(5.0, 60.0))


@pytest.mark.parametrize(("written", "expected"), [
    pytest.param("9001", Listen("127.0.0.1", 9001), id="bare-port"),
    pytest.param(":9002", Listen("127.0.0.1", 9002), id="colon-port"),
    pytest.param('"9004"', Listen("127.0.0.1", 9004), id="quoted-bare-port"),
    pytest.param("0", Listen("127.0.0.1", 0), id="port-zero"),
    pytest.param("'[::1]:9003'", Listen("::1", 9003), id="ipv6"),
    pytest.param("0.0.0.0:80", Listen("0.0.0.0", 80), id="all-interfaces"),
])
def test_listen_accepts_an_address_or_a_bare_port(written: str, expected: Listen) -> None:
    assert parse(f"listen: {written}\n" + ONE_ROUTE).listen == expected


def test_only_the_timeout_written_changes() -> None:
    config = parse(route("timeout: {response: 600}\n"))
    assert config.routes[0].timeout == Timeouts(connect=5.0, response=600.0)


def test_aliases_within_the_limit_are_plain_yaml() -> None:
    config = parse("""\
        routes:
          - path: /a
            target: &api http://127.0.0.1:3000
          - path: /b
            target: *api
    """)
    assert [str(r.target) for r in config.routes] == ["http://127.0.0.1:3000"] * 2


def test_cors_blocks_resolve_per_route() -> None:
    config = parse("""\
        cors:
          origins: [http://localhost:5173, "http://127.0.0.1:*"]
          credentials: true
          methods: [get, POST]
          expose: [X-Total-Count]
          max_age: 600
        routes:
          - {path: /api, target: 'http://h'}
          - {path: /own, target: 'http://h', cors: {origins: '*'}}
          - {path: /none, target: 'http://h', cors: false}
    """)
    api, own, none = config.routes
    assert config.cors is not None and api.cors == config.cors
    assert api.cors.methods == ("GET", "POST") and api.cors.line == 2
    assert (api.cors.max_age, api.cors.expose) == (600, ("X-Total-Count",))
    assert own.cors is not None and own.cors.any_origin and not own.cors.credentials
    assert none.cors is None


def test_a_list_of_just_star_means_any_origin() -> None:
    config = parse("cors: {origins: ['*']}\nroutes: [{path: /, target: 'http://h'}]\n")
    assert config.cors is not None and config.cors.any_origin


# Hostile input is refused by counting tokens before pyyaml's recursive composer runs.
@pytest.mark.parametrize(("text", "at", "message"), [
    pytest.param("[" * 10_000 + "]" * 10_000, "1:65", f"nested more than {MAX_DEPTH} levels",
                 id="ten-thousand-brackets"),
    pytest.param("{a: " * 10_000, "1:257", "nested more than 64 levels", id="unclosed-braces"),
    pytest.param("a:\n" + "".join("  " * i + "b:\n" for i in range(1, 80)), "65:129",
                 "nested more than 64 levels", id="deep-blocks"),
    pytest.param("a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{chr(ord(c) - 1)}'] * 9)}]\n" for c in "bcdefghijklm"),
        "13:12", "more than 100 aliases", id="billion-laughs"),
])
def test_hostile_yaml_is_refused_before_composing(text: str, at: str, message: str) -> None:
    error = only_error(text)
    assert str(error).startswith(f"devproxy.yaml:{at}: ")
    assert message in error.message


def test_text_over_one_mebibyte_is_refused_before_parsing() -> None:
    with pytest.raises(ConfigError, match=r"devproxy.yaml: more than 1 MiB"):
        parse_config("#" * MAX_CONFIG_BYTES + "\n", "devproxy.yaml", Path("/"))


def test_a_file_over_one_mebibyte_is_refused_by_its_size(tmp_path: Path) -> None:
    big = tmp_path / DEFAULT_CONFIG_NAME
    big.write_text("# " + "x" * MAX_CONFIG_BYTES + "\n")
    with pytest.raises(ConfigError, match=r"devproxy.yaml: 1048579 bytes; a config may have at "
                                          r"most 1 MiB"):
        load_config(big)


@pytest.mark.parametrize(("make", "message"), [
    pytest.param(lambda p: None, "no such file", id="missing"),
    pytest.param(lambda p: p.mkdir(), "is a folder, not a config file", id="a-folder"),
    pytest.param(os.mkfifo, "not a regular file", id="a-fifo"),
    pytest.param(lambda p: p.write_bytes(b"routes:\n  - path: /\xff\n"),
                 r"devproxy.yaml:2:12: not UTF-8 text \(byte 0xff\)", id="not-utf8"),
    pytest.param(lambda p: p.write_text(ONE_ROUTE, encoding="utf-16"),
                 r"devproxy.yaml: UTF-16 text \(it starts with a UTF-16 byte order mark\), not "
                 "UTF-8; save it as UTF-8", id="utf-16"),
    pytest.param(lambda p: p.write_text(ONE_ROUTE, encoding="utf-16-le"),
                 r"devproxy.yaml: UTF-16 text \(little-endian, with no byte order mark\), not "
                 "UTF-8; save it as UTF-8", id="utf-16-le-without-bom"),
    pytest.param(lambda p: p.write_text("# café\n" + ONE_ROUTE, encoding="utf-16-be"),
                 r"devproxy.yaml: UTF-16 text \(big-endian, with no byte order mark\)",
                 id="utf-16-be-without-bom"),
    # A link to nothing is no missing file: it says where it points.
    pytest.param(lambda p: p.symlink_to("gone.yaml"), "devproxy.yaml: a symlink to gone.yaml, "
                 "which does not exist; point it at your config file", id="a-broken-symlink"),
    pytest.param(lambda p: (p.with_name("a").symlink_to("gone.yaml"), p.symlink_to("a")),
                 r"devproxy.yaml: a symlink to a, which leads to /\S+/gone.yaml, which does "
                 "not exist", id="a-chain-of-links-to-nothing"),
    pytest.param(lambda p: p.symlink_to(p.name), "devproxy.yaml: a symlink loop: following "
                 "it never reaches a file; point it at your config file", id="a-symlink-loop"),
])
def test_load_config_names_the_file_it_cannot_use(
    make: Callable[[Path], object], message: str, tmp_path: Path,
) -> None:
    path = tmp_path / DEFAULT_CONFIG_NAME
    make(path)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_load_config_resolves_static_folders_next_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "project" / "dist").mkdir(parents=True)
    path = tmp_path / "project" / DEFAULT_CONFIG_NAME
    path.write_text("routes:\n  - path: /\n    static: dist\n")
    config = load_config(path)
    assert config.routes[0].static == (tmp_path / "project" / "dist").resolve()
    assert config.source == path


def test_a_static_folder_behind_a_symlink_follows_the_link_as_it_changes(
        tmp_path: Path) -> None:
    # Nix's ./result, a `current` link swapped to each build: the route names the link.
    for build in ("b1", "b2"):
        (tmp_path / build).mkdir()
        (tmp_path / build / "index.html").write_text(build)
    (tmp_path / "result").symlink_to("b1")
    path = tmp_path / DEFAULT_CONFIG_NAME
    path.write_text("routes:\n  - path: /\n    static: ./result\n")
    route = load_config(path).routes[0]
    assert route.static == tmp_path / "result"
    (tmp_path / "next").symlink_to("b2")
    (tmp_path / "next").replace(tmp_path / "result")
    shutil.rmtree(tmp_path / "b1")
    assert route.static is not None
    assert resolve_static(route.static, "/", dotfiles=False) == tmp_path / "b2" / "index.html"


def test_a_static_path_that_is_a_file_is_refused_with_its_resolved_path(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("hi")
    error = only_error("routes:\n  - path: /\n    static: index.html\n", tmp_path)
    assert error.location == Location("devproxy.yaml", 3, 13)
    assert f"({(tmp_path / 'index.html').resolve()}) is not a folder" in error.message


def test_flags_make_target_and_static_routes(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    config = config_from_flags(["/api/=http://127.0.0.1:3000", "/=./dist"], listen=":9000",
                               change_origin=True, base_dir=tmp_path)
    api, root = config.routes
    assert (api.path, str(api.target), api.change_origin, api.line) == \
        ("/api", "http://127.0.0.1:3000", True, 0)
    assert (root.path, root.static) == ("/", (tmp_path / "dist").resolve())
    assert config.listen == Listen("127.0.0.1", 9000)
    assert config.source is None


def test_flags_default_to_loopback_8080_and_a_bare_port_works() -> None:
    assert config_from_flags(["/=http://h"]).listen == Listen("127.0.0.1", 8080)
    assert config_from_flags(["/=http://h"], listen="9001").listen == Listen("127.0.0.1", 9001)


@pytest.mark.parametrize(("flag", "message"), [
    pytest.param("/api=localhost:3000", "--route '/api=localhost:3000': expected an http:// or "
                 "https:// URL such as http://127.0.0.1:3000, got 'localhost:3000' (did you mean "
                 "'http://localhost:3000'?)", id="target-without-scheme"),
    pytest.param("/api", "--route '/api': expected PATH=TARGET", id="no-equals"),
    pytest.param("/api=", "--route '/api=': expected PATH=TARGET", id="no-target"),
    pytest.param("api=http://h", "--route 'api=http://h': a route path must start with '/'",
                 id="path-without-slash"),
    # A port alone is a URL's, not a folder's name.
    pytest.param("/api=3000", "--route '/api=3000': expected an http:// or https:// URL such "
                 "as http://127.0.0.1:3000, got '3000' (did you mean 'http://localhost:3000'?)",
                 id="port-alone"),
    pytest.param("/docs=dist", "--route '/docs=dist': expected an http:// or https:// URL, or a "
                 "folder starting with '.' or '/' (such as './dist')", id="bare-folder-name"),
    pytest.param("/=./nowhere", "--route '/=./nowhere': static folder './nowhere'",
                 id="missing-folder"),
    # Single quotes kept the shell from expanding it.
    pytest.param("/api=$API_URL", "--route '/api=$API_URL': devproxy does not expand "
                 "environment variables; quote the flag with double quotes", id="variable"),
    # Pasted from a chat or a web page, as in the file: named, not "one port number".
    pytest.param("/api=http://h:3000\u200b", "--route '/api=http://h:3000\\u200b': character "
                 "19 is a zero-width space (U+200B), invisible but part of the text",
                 id="zero-width-space"),
    pytest.param("/api=http://h:3000\u00a0", "--route '/api=http://h:3000\\xa0': character 19 "
                 "is a no-break space (U+00A0), which looks like a space but is text to "
                 "devproxy", id="no-break-space"),
    # Written as in prose: the spaces are no part of the path ("write '/api%20'" said so).
    pytest.param("/api = http://u:secret@h:3000", "--route '/api = http://u:(hidden)@h:3000': "
                 "no spaces around '=': write /api=http://u:(hidden)@h:3000",
                 id="spaces-around-equals"),
    pytest.param("/api= http://h", "--route '/api= http://h': no spaces around '=': write "
                 "/api=http://h", id="space-after-equals"),
])
def test_a_bad_route_flag_is_quoted_in_the_error(flag: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_flags([flag], base_dir=tmp_path)
    assert str(caught.value).startswith(message)


def test_a_bad_listen_flag_is_quoted_in_the_error() -> None:
    with pytest.raises(ConfigError, match=r"^--listen 'localhost': expected HOST:PORT"):
        config_from_flags(["/=http://h"], listen="localhost")


@pytest.mark.parametrize(("written", "message"), [
    ("fe80::1:8080", "write an IPv6 address in brackets, as [fe80::1]:8080"),
    ("::1", "add a port, as [::1]:8080"),
    ("127.0.0.1:8080:1", "expected HOST:PORT with one ':', such as 127.0.0.1:8080"),
    ("fe80::1:ab", "add a port, as [fe80::1:ab]:8080"),  # a whole address, not one and a port
    ("::1:99999", "expected HOST:PORT with one ':'"),
    # Brackets hold an IPv6 address: check said OK and up failed to bind.
    ("[zz]:8080", "expected an IPv6 address in the brackets of [IPv6]:PORT, got 'zz'"),
    ("[127.0.0.1]:8080", "expected an IPv6 address in the brackets"),
])
def test_a_listen_address_with_too_many_colons_says_which_fix(written: str, message: str
                                                              ) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"--listen {written!r}: {message}")):
        config_from_flags(["/=http://h"], listen=written)


@pytest.mark.parametrize(("written", "fix"), [
    ("http://127.0.0.1:8081", "as 127.0.0.1:8081"), ("http://127.0.0.1:8081/", "as 127.0.0.1:8081"),
    ("https://[::1]:8443", "as [::1]:8443"),
])
def test_a_listen_url_is_answered_with_the_address_to_write(written: str, fix: str) -> None:
    # The URL devproxy prints, pasted back: not an IPv6 address missing its brackets.
    with pytest.raises(ConfigError, match=f"write the address without .*://, {re.escape(fix)}"):
        config_from_flags(["/=http://h"], listen=written)


def test_one_path_in_two_route_flags_is_refused(tmp_path: Path) -> None:
    # The last one used to win in silence; in a file it is an error.
    with pytest.raises(ConfigError, match=r"^--route '/api/=http://h:2': /api is already "
                                          r"given by an earlier --route"):
        config_from_flags(["/api=http://h:1", "/api/=http://h:2"], base_dir=tmp_path)


def test_route_flags_replace_file_routes_in_place_and_add_new_ones_after() -> None:
    config = parse("""\
        cors: {origins: ['http://localhost:5173']}
        routes:
          - {path: /api, target: 'http://a', strip_prefix: true}
          - {path: /, target: 'http://b'}
    """)
    merged = with_overrides(config, listen="127.0.0.1:1", routes=["/api/=http://c", "/x=http://d"],
                            change_origin=True)
    assert [(r.path, str(r.target), r.line) for r in merged.routes] == \
        [("/api", "http://c", 0), ("/", "http://b", 4), ("/x", "http://d", 0)]
    assert not merged.routes[0].strip_prefix  # replaced whole, not merged key by key
    assert merged.routes[0].change_origin and not merged.routes[1].change_origin
    assert merged.routes[2].cors == config.cors
    assert (merged.listen, merged.source) == (Listen("127.0.0.1", 1), config.source)


def test_two_spellings_of_one_path_are_one_route_for_flags_too() -> None:
    # /a%21 and /a! are one path to a backend, and to the route table: a clear error,
    # or one route replacing the other, never the table's bare ValueError later.
    config = parse("""\
        routes:
          - {path: /a!, target: 'http://a'}
    """)
    merged = with_overrides(config, routes=["/a%21=http://c"])
    assert [(r.path, str(r.target)) for r in merged.routes] == [("/a%21", "http://c")]
    with pytest.raises(ConfigError, match="is already given by an earlier --route"):
        config_from_flags(["/a!=http://a", "/a%21=http://b"])


def test_no_flags_leave_the_file_config_unchanged() -> None:
    config = parse(ONE_ROUTE)
    assert with_overrides(config) == config


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300) | st.sampled_from([ONE_ROUTE, route("ws: true\n")]).flatmap(
    lambda base: st.builds(lambda cut, junk: base[:cut] + junk + base[cut:],
                           st.integers(0, len(base)), st.text(max_size=10))))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        assert isinstance(parse_config(text, "fuzz.yaml", Path("/")), Config)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1", True), ("0x7f.1", True), ("::1", True),
    ("localhost", True), ("10.1", False), ("0.0.0.0", False), ("myapp.test", False),
])
def test_a_loopback_listen_address_is_known_in_each_spelling(host: str, loopback: bool) -> None:
    # 127.1 is 127.0.0.1 to the resolver: no "anyone on your network" warning for it.
    assert Listen(host, 8080).is_loopback is loopback


@pytest.mark.parametrize(("listen", "target", "loops"), [
    ("127.0.0.1:8080", "http://localhost:8080", True),
    ("127.0.0.1:8080", "http://127.1:8080", True),  # the resolver's shorthand
    ("localhost:8080", "http://[::1]:8080", True),
    ("0.0.0.0:8080", "http://127.0.0.2:8080", True),
    ("[::]:8080", "http://[::1]:8080", True),
    ("127.0.0.1:80", "http://localhost", True),
    ("127.0.0.1:8080", "http://localhost:8081", False),
    ("127.0.0.1:8080", "https://localhost:8080", False),  # not a loop: a TLS mistake
    ("[::1]:8080", "http://127.0.0.1:8080", False),  # another address
    ("127.0.0.1:8080", "http://127.0.0.2:8080", False),
    ("0.0.0.0:8080", "http://[::1]:8080", False),
    ("0.0.0.0:8080", "http://example.test:8080", False),  # cannot be known
    ("127.0.0.1:0", "http://127.0.0.1:8080", False),  # a port the kernel picks
    # Other spellings of this machine, as servers print them or resolvers read them.
    ("127.0.0.1:8080", "http://0.0.0.0:8080", True),
    ("127.0.0.1:8080", "http://0:8080", True),
    ("127.0.0.1:8080", "http://[::ffff:127.0.0.1]:8080", True),
    ("127.0.0.1:8080", "http://localhost.:8080", True),
    ("127.0.0.1:8080", "http://app.localhost:8080", True),
    ("[::1]:8080", "http://[::]:8080", True),
    ("127.0.0.2:8080", "http://0.0.0.0:8080", False),  # reaches 127.0.0.1
    ("127.0.0.1:8080", "http://[::]:8080", False),  # reaches ::1
])
def test_a_route_to_devproxys_own_address_is_refused_at_its_line(
        listen: str, target: str, loops: bool) -> None:
    # Every request would come back to devproxy and queue behind itself until the
    # browser gave up (a webpack config from `devproxy init` once did this).
    text = f"listen: '{listen}'\nroutes:\n  - path: /\n    target: '{target}'\n"
    if not loops:
        parse(text)
        return
    error = only_error(text)
    assert str(error).startswith("devproxy.yaml:4:13: routes[0].target: ")
    assert "devproxy's own address" in str(error) and "loop" in str(error)


def test_credentials_in_a_target_are_refused_without_echoing_the_password() -> None:
    error = str(only_error("routes: [{path: /, target: 'http://ada:s3cret@127.0.0.1:3000'}]"))
    assert "credentials in a target URL are not supported" in error
    assert "s3cret" not in error and "'http://ada:(hidden)@127.0.0.1:3000'" in error
    assert "'http://ada@127.0.0.1:3000'" in str(only_error(
        "routes: [{path: /, target: 'http://ada@127.0.0.1:3000'}]"))
    # Nor where another check fails first, nor in a --route flag's message.
    for target in ("ftp://ada:s3cret@h", "http://ada:s3cret@h:30x0", "http://ada:s3cret@h:",
                   "http://ada:s3cret@h:0", "http://ada:s3cret@bad!host:3000",
                   "http://ada:s3c@ret@127.0.0.1:3000"):
        error = str(only_error(f"routes: [{{path: /, target: '{target}'}}]"))
        assert "s3c" not in error and "(hidden)" in error, error
        with pytest.raises(ConfigError) as flagged:
            config_from_flags([f"/={target}"])
        assert "s3c" not in str(flagged.value) and "(hidden)" in str(flagged.value)


def test_flags_that_make_a_loop_are_refused_naming_the_flags() -> None:
    with pytest.raises(ConfigError, match=r"^--route /=http://127.0.0.1:9000: its target: "
                                          r"http://127.0.0.1:9000 is devproxy's own address"):
        config_from_flags(["/=http://127.0.0.1:9000"], listen="9000")
    config = parse("listen: 127.0.0.1:9000\nroutes: [{path: /, target: 'http://localhost:8080'}]")
    # The file's route, at its line; the address from the flag that gave it.
    for flags, flag in (({"listen": "8080"}, "--listen"), ({"port": 8080}, "-p 8080")):
        with pytest.raises(ConfigError) as refused:
            with_overrides(config, **flags)
        assert str(refused.value).startswith(
            "devproxy.yaml:2:28: routes[0].target: http://localhost:8080 is devproxy's own "
            f"address (listen: 127.0.0.1:8080, from {flag})")
    with pytest.raises(ConfigError, match=r"^--route /=http://127.0.0.1:9000: "):
        with_overrides(config, routes=["/=http://127.0.0.1:9000"])
    assert with_overrides(config, listen="8081").listen == Listen("127.0.0.1", 8081)


LOOPING = "listen: 9000\nroutes:\n  - path: /api\n    change_origin: true\n" \
    "    target: http://127.0.0.1:9000\n"


@pytest.mark.parametrize("flags", [{"port": 9001}, {"listen": "127.0.0.1:9001"},
                                   {"routes": ["/api=http://127.0.0.1:3000"]}],
                         ids=["-p", "--listen", "--route"])
def test_flags_that_end_a_loop_the_file_has_win_over_it(flags: dict[str, object]) -> None:
    # The flags win (README): the file's loop to its own listen is no loop at the
    # address (or with the route) they leave in force.
    config = parse_config(LOOPING, "devproxy.yaml", Path("/"), loops=False)
    assert with_overrides(config, **flags).routes[0].path == "/api"  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="devproxy's own address"):
        parse_config(LOOPING, "devproxy.yaml", Path("/"))  # as `check` reads it


def test_a_loop_the_port_flag_makes_is_refused_at_the_targets_line_and_column() -> None:
    written = LOOPING.replace("127.0.0.1:9000\n", "127.0.0.1:9001\n")
    with pytest.raises(ConfigError) as refused:
        with_overrides(parse(written), port=9001)
    assert str(refused.value).startswith(
        "devproxy.yaml:5:13: routes[0].target: http://127.0.0.1:9001 is devproxy's own "
        "address (listen: 127.0.0.1:9001, from -p 9001)")
    assert str(refused.value).endswith("or give -p another port")  # not "move listen"


@pytest.mark.parametrize(("flag", "message"), [
    # Numbers to Python's int() alone: `3_000` in the file was refused, `-p 45_431` not.
    ("127.0.0.1:\uff14\uff15\uff14\uff12\uff11", "expected a port number 0-65535 in ASCII "
     "digits 0-9, got '\uff14\uff15\uff14\uff12\uff11' in "
     "'127.0.0.1:\uff14\uff15\uff14\uff12\uff11'"),
    ("\uff14\uff15\uff14\uff12\uff11", "expected a port number 0-65535 in ASCII digits 0-9, got "
     "'\uff14\uff15\uff14\uff12\uff11'"),
    ("45_431", "expected a port number 0-65535 in ASCII digits 0-9, got '45_431'"),
    # A host of numbers is an IPv4 address, never a name: `up` could not bind it.
    ("256.1.1.1:45432", "'256.1.1.1' is not an IPv4 address (four numbers 0-255, such as "
     "127.0.0.1)"),
    ("1.2.3.4.5:45432", "'1.2.3.4.5' is not an IPv4 address (four numbers 0-255, such as "
     "127.0.0.1)"),
])
def test_a_listen_address_up_could_not_use_is_refused_as_check_reads_it(
        flag: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_listen(flag)
    error = only_error(f'listen: "{flag}"\n{ONE_ROUTE}')
    assert error.message == f"listen: {message}"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "0x7f.1", "10", "localhost",
                                  "myapp.test"])
def test_a_listen_host_the_resolver_reads_is_kept(host: str) -> None:
    assert parse_listen(f"{host}:8080").host == host


@pytest.mark.parametrize(("listen", "said"), [
    ("70000", "got '70000'"),  # not "in ':70000'", which nobody wrote
    ('"70000"', "got '70000'"),
    ("127.0.0.1:70000", "got '70000' in '127.0.0.1:70000'"),
])
def test_a_port_out_of_range_quotes_what_was_written(listen: str, said: str) -> None:
    error = only_error(f"listen: {listen}\n{ONE_ROUTE}")
    assert error.message == f"listen: expected a port number 0-65535, {said}"
    with pytest.raises(ConfigError, match=r"^--listen '70000': expected a port number "
                                          r"0-65535, got '70000'$"):
        config_from_flags(["/=http://h"], listen="70000")


def test_the_port_flag_keeps_the_files_host_on_every_load() -> None:
    # As a dev server's --port keeps its host setting: listen: 0.0.0.0 (a phone on the
    # LAN) still serves the LAN on -p's port, and a host edited in the file applies.
    routes = "routes: [{path: /, target: 'http://127.0.0.1:3000'}]"
    for host in ("0.0.0.0", "localhost", "::1"):
        config = parse(f"listen: '{url_host(host)}:9000'\n{routes}")
        assert with_overrides(config, port=9100).listen == Listen(host, 9100)
    assert with_overrides(parse(routes), port=0).listen == Listen("127.0.0.1", 0)


@pytest.mark.parametrize(("block", "methods", "headers", "expose"), [
    # "*" as the cors packages write it: any, which devproxy answers by name, as when
    # the key is left out (a literal "*" is refused by browsers with credentials).
    ("methods: ['*'], headers: '*'", None, None, ()),
    ("methods: '*', expose: ['*'], credentials: false", None, None, ("*",)),
    ("methods: [get, put]", ("GET", "PUT"), None, ()),
])
def test_cors_stars_mean_any(block: str, methods, headers, expose) -> None:
    config = parse(f"cors: {{origins: [http://localhost:5173], {block}}}\n{ONE_ROUTE}")
    assert config.cors is not None
    assert (config.cors.methods, config.cors.headers, config.cors.expose) == (
        methods, headers, expose)


@pytest.mark.parametrize(("block", "message"), [
    ("methods: [GET, '*']", "cors.methods: '*' means any on its own"),
    ("headers: ['*', X-Token]", "cors.headers: '*' means any on its own"),
    ("credentials: true, expose: '*'", "cors.expose: with credentials: true, browsers read "
                                        "'*' as a header literally named '*'"),
])
def test_cors_stars_that_cannot_work_are_refused_at_their_column(block: str,
                                                                 message: str) -> None:
    error = only_error(f"cors: {{origins: [http://localhost:5173], {block}}}\n{ONE_ROUTE}")
    assert str(error).startswith("devproxy.yaml:1:") and message in str(error), str(error)


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:8080"), ("0.0.0.0", "http://localhost:8080"),
    ("::", "http://localhost:8080"), ("::1", "http://[::1]:8080"),
])
def test_the_url_to_open_names_a_wildcard_address_localhost(host: str, url: str) -> None:
    # The banner and a reload that moves devproxy both print it: never http://0.0.0.0.
    assert Listen(host, 0).url(8080) == url


@pytest.mark.parametrize(("host", "port", "ipv6", "bound"), [
    # A browser resolves localhost itself, to ::1 first (Chromium), whatever /etc/hosts
    # says: devproxy listens on both loopback addresses, so the URL it prints works.
    pytest.param("localhost", 8080, True, ("127.0.0.1", "::1"), id="localhost"),
    pytest.param("LocalHost.", 8080, True, ("127.0.0.1", "::1"), id="spelt-otherwise"),
    pytest.param("app.localhost", 8080, True, ("127.0.0.1", "::1"), id="*.localhost"),
    # Without IPv6, binding ::1 would fail the whole address.
    pytest.param("localhost", 8080, False, ("127.0.0.1",), id="no-ipv6"),
    # Port 0 would give each address a port of its own.
    pytest.param("localhost", 0, True, ("127.0.0.1",), id="port-0"),
    pytest.param("127.0.0.1", 8080, True, ("127.0.0.1",), id="ipv4"),
    pytest.param("::", 8080, True, ("::",), id="wildcard"),
    pytest.param("devbox.lan", 8080, True, ("devbox.lan",), id="a-name-as-resolved"),
])
def test_localhost_is_bound_as_a_browser_resolves_it(host: str, port: int, ipv6: bool,
                                                     bound: tuple[str, ...]) -> None:
    assert Listen(host, port).addresses(ipv6=ipv6) == bound
