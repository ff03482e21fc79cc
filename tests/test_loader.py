"""Config loading: every mistake is reported with file, line, column and what to write."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devproxy.config import Listen
from devproxy.errors import ConfigError
from devproxy.loader import (
    config_from_flags,
    load_config,
    parse_config,
    with_overrides,
)


def parse(text: str, base: Path | None = None):
    return parse_config(textwrap.dedent(text), "devproxy.yaml", base or Path("/"))


def problem(text: str, base: Path | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, base)
    return str(caught.value)


def test_a_full_config_becomes_frozen_objects_with_defaults(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    config = parse("""\
        listen: 127.0.0.1:9000
        routes:
          - path: /api/
            target: http://LOCALHOST:3000/v1/
            change_origin: true
            strip_prefix: true
            rewrite: {"^/v1/old/": "/v1/new/", "^/x/(\\\\d+)": "/y/$1"}
            headers: {X-Dev-User: alice, X-Num: 5, X-Flag: yes}
            timeout: {connect: 2.5, response: 30}
            secure: false
            ws: false
            ws_origin: rewrite
          - path: /docs
            static: ./site
            spa: true
    """, tmp_path)
    api, docs = config.routes
    assert config.listen == Listen("127.0.0.1", 9000)
    assert api.path == "/api" and api.line == 3
    assert api.target is not None and api.target.url == "http://localhost:3000/v1"
    assert (api.change_origin, api.strip_prefix, api.secure, api.ws) == (True, True, False, False)
    assert [r.apply(p) for r, p in zip(api.rewrite, ["/v1/old/a", "/x/42"], strict=True)] == \
        ["/v1/new/a", "/y/42"]
    assert api.headers == (("X-Dev-User", "alice"), ("X-Num", "5"), ("X-Flag", "yes"))
    assert (api.timeout.connect, api.timeout.response) == (2.5, 30)
    assert api.ws_origin == "rewrite"
    assert docs.static == (tmp_path / "site").resolve() and docs.spa
    with pytest.raises(AttributeError):
        api.path = "/other"  # type: ignore[misc]


def test_defaults_fill_everything_not_written() -> None:
    config = parse("routes: [{path: /, target: 'http://127.0.0.1:5173'}]")
    route = config.routes[0]
    assert config.listen == Listen("127.0.0.1", 8080)
    assert (route.change_origin, route.strip_prefix, route.secure, route.ws) == \
        (False, False, True, True)
    assert (route.timeout.connect, route.timeout.response) == (5.0, 60.0)


def test_a_bare_port_listens_on_loopback() -> None:
    assert parse("listen: 9001\nroutes: [{path: /, target: 'http://h'}]").listen == \
        Listen("127.0.0.1", 9001)


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("routes:\n  - path: /api\n    targte: http://h\n",
                 "devproxy.yaml:3:5: routes[0].targte: unknown key; did you mean 'target'?",
                 id="unknown-key-did-you-mean"),
    pytest.param("listn: 1\nroutes: []\n", "devproxy.yaml:1:1: listn: unknown key; did you "
                 "mean 'listen'?", id="unknown-top-level-key"),
    pytest.param("routes:\n  - path: /api\n    target: localhost:3000\n",
                 "devproxy.yaml:3:13: routes[0].target: expected an http:// or https:// URL",
                 id="target-without-scheme"),
    pytest.param("routes:\n  - path: /api\n    target: localhost:3000\n",
                 "did you mean 'http://localhost:3000'?", id="target-did-you-mean"),
    pytest.param("routes:\n  - path: /api\n    target: ftp://h\n",
                 "devproxy.yaml:3:13: routes[0].target: expected an http", id="ftp-target"),
    pytest.param("routes:\n  - path: /api\n    target: http://h\n    strip_prefix: no\n",
                 "devproxy.yaml:4:19: routes[0].strip_prefix: write true or false, not 'no' "
                 "(YAML 1.1", id="yaml11-boolean-no"),
    pytest.param("routes:\n  - path: /api\n    target: http://h\n    secure: \"false\"\n",
                 "devproxy.yaml:4:13: routes[0].secure: \"false\" is a string", id="quoted-bool"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n    timeout: {connect: 010}\n",
                 "devproxy.yaml:4:24: routes[0].timeout.connect: write 10 without the leading "
                 "zero (YAML 1.1 reads 010 as an octal number)", id="yaml11-octal"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n    timeout: {connect: -1}\n",
                 "devproxy.yaml:4:24: routes[0].timeout.connect: expected a number",
                 id="negative-timeout"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n    timeout: {total: 1}\n",
                 "devproxy.yaml:4:15: routes[0].timeout.total: unknown key",
                 id="unknown-timeout-key"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n    static: ./x\n",
                 "devproxy.yaml:2:5: routes[0]: a route serves either a target or a folder",
                 id="target-and-static"),
    pytest.param("routes:\n  - path: /a\n", "devproxy.yaml:2:5: routes[0]: needs a 'target:'",
                 id="neither-target-nor-static"),
    pytest.param("routes:\n  - path: /a\n    static: ./does-not-exist\n",
                 "devproxy.yaml:3:13: routes[0].static: static folder './does-not-exist'",
                 id="missing-static-folder"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n    spa: true\n",
                 "devproxy.yaml:4:5: routes[0].spa: only applies to static routes",
                 id="static-key-on-target-route"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n    rewrite: {'^/(x': /y}\n",
                 "devproxy.yaml:4:15: routes[0].rewrite['^/(x']: invalid regular expression",
                 id="invalid-regex"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n    rewrite: {'^/x': /$2}\n",
                 "refers to group 2", id="rewrite-unknown-group"),
    pytest.param("listen: localhost\nroutes: [{path: /, target: 'http://h'}]\n",
                 "devproxy.yaml:1:9: listen: expected HOST:PORT", id="listen-without-port"),
    pytest.param("listen: 127.0.0.1:99999\nroutes: [{path: /, target: 'http://h'}]\n",
                 "devproxy.yaml:1:9: listen: expected a port number", id="listen-bad-port"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n    target: http://i\n",
                 "devproxy.yaml:4:5: routes[0].target: duplicate key (first written at line 3)",
                 id="duplicate-key"),
    pytest.param("routes:\n  - {path: /api, target: 'http://h'}\n"
                 "  - {path: /api/, target: 'http://i'}\n",
                 "devproxy.yaml:3:5: routes[1].path: '/api' is already a route at line 2",
                 id="duplicate-route-path"),
    pytest.param("routes:\n  - path: api\n    target: http://h\n",
                 "devproxy.yaml:2:11: routes[0].path: a route path must start with '/'",
                 id="path-without-slash"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n    headers: {X-A: \"a\\nb\"}\n",
                 "contains CR, LF or NUL", id="header-value-with-newline"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n    headers: {'Bad Name': x}\n",
                 "'Bad Name' is not a valid header name", id="bad-header-name"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n    ws_origin: change\n",
                 "expected one of keep, rewrite, drop", id="bad-ws-origin"),
    pytest.param("routes: {path: /a}\n", "devproxy.yaml:1:9: routes: expected a list",
                 id="routes-not-a-list"),
    pytest.param("routes: []\n", "routes: the list is empty", id="no-routes"),
    pytest.param("listen: 1\n", "routes: missing", id="routes-missing"),
    pytest.param("", "the file is empty", id="empty-file"),
    pytest.param("routes: [\n", "devproxy.yaml:2:1: invalid YAML", id="yaml-syntax-error"),
    pytest.param("routes: !!python/object:os.system {}\n", "is not allowed", id="python-tag"),
    pytest.param("a: 1\n---\nb: 2\n", "more than one YAML document", id="two-documents"),
    pytest.param("cors: {origins: '*', credentials: true}\nroutes: [{path: /, target: 'http://h'}]",
                 "devproxy.yaml:1:17: cors.origins: '*' cannot be used with credentials",
                 id="star-origin-with-credentials"),
    pytest.param("cors: {origins: ['http://localhost:5173/']}\n"
                 "routes: [{path: /, target: 'http://h'}]",
                 "write 'http://localhost:5173', not 'http://localhost:5173/'",
                 id="origin-with-trailing-slash"),
    pytest.param("routes:\n  - path: /a\n    target: http://h\n    cors: true\n",
                 "write 'cors: false'", id="route-cors-true"),
])
def test_each_kind_of_mistake_names_its_place(text: str, expected: str) -> None:
    assert expected in problem(text)


def test_every_problem_in_a_file_is_reported_in_order() -> None:
    message = problem("routes:\n  - path: /a\n    target: nope\n  - path: b\n"
                      "    target: http://h\n")
    lines = message.splitlines()
    assert lines[0].startswith("devproxy.yaml:3:13: routes[0].target")
    assert lines[1].startswith("devproxy.yaml:4:11: routes[1].path")


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
    assert own.cors is not None and own.cors.any_origin and not own.cors.credentials
    assert none.cors is None


@pytest.mark.parametrize("text", [
    pytest.param("[" * 10_000 + "]" * 10_000, id="deep-flow-nesting"),
    pytest.param("a:\n" + "".join("  " * i + "b:\n" for i in range(1, 80)), id="deep-blocks"),
    pytest.param("a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{chr(ord(c) - 1)}'] * 9)}]\n" for c in "bcdefghijklm"),
        id="billion-laughs"),
])
def test_hostile_yaml_is_refused_before_parsing(text: str) -> None:
    message = problem(text)
    assert "nested more than 64" in message or "aliases" in message


def test_a_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "devproxy.yaml"
    big.write_text("# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match="at most 1 MiB"):
        load_config(big)


def test_load_config_names_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "devproxy.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"routes:\n  - path: /\xff\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: not UTF-8"):
        load_config(bad)


def test_flags_make_routes_and_errors_quote_the_flag(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    config = config_from_flags(["/api=http://127.0.0.1:3000", "/=./dist"], listen=":9000",
                               change_origin=True, base_dir=tmp_path)
    api, root = config.routes
    assert api.change_origin and api.target is not None
    assert root.static == (tmp_path / "dist").resolve()
    assert config.listen == Listen("127.0.0.1", 9000)
    with pytest.raises(ConfigError, match=r"--route '/api=localhost:3000': .*did you mean "
                                          r"'http://localhost:3000'"):
        config_from_flags(["/api=localhost:3000"])
    with pytest.raises(ConfigError, match="expected PATH=TARGET"):
        config_from_flags(["/api"])


def test_flags_override_the_file_route_with_the_same_path() -> None:
    config = parse("routes: [{path: /api, target: 'http://a'}, {path: /, target: 'http://b'}]")
    merged = with_overrides(config, listen="127.0.0.1:1", routes=["/api/=http://c"])
    assert [(r.path, str(r.target)) for r in merged.routes] == [("/", "http://b"),
                                                                 ("/api", "http://c")]
    assert merged.listen == Listen("127.0.0.1", 1)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_config(text, "fuzz.yaml", Path("/"))
