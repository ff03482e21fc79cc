"""`devproxy export`, without sockets: the shape of each format, the comments for what a
target cannot express, and the path, redirect and cookie rules read back by small
interpreters and compared with devproxy's own `paths` and `headers` functions.

`tests/e2e/test_export_live.py` runs the nginx and Caddy output for real.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from devproxy.config import Config, CorsPolicy, Listen, Route
from devproxy.export import FORMATS, NOT_EXPORTED, export_config
from devproxy.headers import rewrite_location, rewrite_set_cookie
from devproxy.loader import parse_config
from devproxy.paths import upstream_path

from .conftest import route

PROXY = "http://127.0.0.1:8080"
CORS = CorsPolicy(origins=("http://localhost:5173", "http://127.0.0.1:*"), credentials=True,
                  expose=("X-Total",), max_age=600)


def config(*routes: Route, **options: object) -> Config:
    return Config(listen=Listen("127.0.0.1", 8080), routes=routes, **options)  # type: ignore[arg-type]


def not_exported(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if NOT_EXPORTED in line]


def balanced(text: str) -> bool:
    depth = 0
    for line in text.splitlines():
        code = re.sub(r'"(?:[^"\\]|\\.)*"|`[^`]*`|#.*$', "", line)
        depth += code.count("{") - code.count("}")
        if depth < 0:
            return False
    return depth == 0


# --- the public surface ---------------------------------------------------------------


def test_formats_are_nginx_caddy_and_traefik() -> None:
    assert FORMATS == ("nginx", "caddy", "traefik")


@pytest.mark.parametrize("fmt", ["apache", "", "NGINX", "haproxy"])
def test_an_unknown_format_is_a_value_error_naming_the_choices(fmt: str) -> None:
    with pytest.raises(ValueError, match="nginx, caddy, traefik"):
        export_config(config(route("/", "http://127.0.0.1:3000")), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_ends_with_a_newline_and_names_its_source(fmt: str, tmp_path: Path) -> None:
    cfg = parse_config("routes: [{path: /, target: 'http://127.0.0.1:3000'}]\n",
                       "devproxy.yaml", tmp_path)
    text = export_config(cfg, fmt)
    assert text.endswith("\n")
    assert f"devproxy export --format {fmt}" in text
    assert "route / -> http://127.0.0.1:3000 (devproxy.yaml:1)" in text


def test_a_verbose_patterns_comment_is_left_out_of_the_nginx_regex(tmp_path: Path) -> None:
    # On nginx's one line, "# comment" swallowed the wrapper's ")" and nginx -t failed.
    cfg = parse_config("routes:\n  - path: /l4\n    target: http://127.0.0.1:3000\n"
                       "    rewrite: {'(?x) ^/l4/ a  b  # a comment': /l4/verbose}\n",
                       "devproxy.yaml", tmp_path)
    text = export_config(cfg, "nginx")
    regexes = [line for line in text.splitlines()
               if "$devproxy_path ~" in line and "devproxy_relative" not in line]
    assert regexes and all("(?x: ^/l4/ a  b  ))" in line and "comment" not in line
                           for line in regexes)


def test_a_header_value_caddy_would_read_as_a_variable_is_not_exported(tmp_path: Path) -> None:
    # Caddy puts in {$VAR} before it reads the file, escaped or not.
    cfg = parse_config("routes:\n  - path: /\n    target: http://127.0.0.1:3000\n"
                       "    headers: {X-Brace: '{\"a\":1} {$home}', X-Plain: '{a}'}\n",
                       "devproxy.yaml", tmp_path)
    text = export_config(cfg, "caddy")
    assert "{$" not in text
    assert f"# {NOT_EXPORTED} the header X-Brace" in text
    assert 'header_up X-Plain "\\{a\\}"' in text
    assert "proxy_set_header X-Brace" in export_config(cfg, "nginx")  # nginx has no such pass


# --- nginx ------------------------------------------------------------------------------


def test_nginx_writes_an_exact_and_a_prefix_location_longest_first() -> None:
    text = export_config(config(route("/", "http://127.0.0.1:1"), route("/api", "http://127.0.0.1:2"),
                                route("/api/v2", "http://127.0.0.1:3")), "nginx")
    locations = re.findall(r"^    location (.+?) \{", text, re.MULTILINE)
    assert locations == ['= "/api/v2"', '"/api/v2/"', '= "/api"', '"/api/"', "/"]
    assert balanced(text)
    assert "listen 127.0.0.1:8080;" in text
    assert text.index("map $http_upgrade") < text.index("server {")


def test_nginx_without_a_root_route_answers_404_for_everything_else() -> None:
    text = export_config(config(route("/api", "http://127.0.0.1:2")), "nginx")
    assert "location / { return 404; }" in text


def test_nginx_host_follows_change_origin() -> None:
    changed = export_config(config(route("/", "http://127.0.0.1:3000", change_origin=True)),
                            "nginx")
    kept = export_config(config(route("/", "http://127.0.0.1:3000")), "nginx")
    assert 'proxy_set_header Host "127.0.0.1:3000";' in changed
    assert "proxy_set_header Host $http_host;" in kept


def test_nginx_streams_upgrades_and_forwarded_headers() -> None:
    text = export_config(config(route("/api", "http://127.0.0.1:3000", strip_prefix=True)),
                         "nginx")
    for line in ("proxy_buffering off;", "proxy_request_buffering off;",
                 "proxy_set_header Upgrade $devproxy_upgrade;",
                 "proxy_set_header Connection $devproxy_connection;",
                 "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
                 'proxy_set_header X-Forwarded-Prefix "/api";', "client_max_body_size 0;",
                 "merge_slashes off;", "proxy_read_timeout 1d;"):
        assert line in text


def test_nginx_passes_a_path_that_moves_nothing_untouched() -> None:
    text = export_config(config(route("/", "http://127.0.0.1:3000")), "nginx")
    assert "proxy_pass http://devproxy_backend_0;" in text
    assert "$devproxy_path" not in text  # no path built: the raw one goes as sent


def test_nginx_tls_options_follow_secure() -> None:
    text = export_config(config(route("/a", "https://api.example.com", secure=False),
                                route("/b", "https://api.example.com:8443")), "nginx")
    assert "proxy_ssl_verify off;" in text
    assert "proxy_ssl_verify on;" in text
    assert 'proxy_ssl_name "api.example.com";' in text
    assert "proxy_pass https://devproxy_backend_" in text


def test_nginx_ws_false_refuses_upgrades_and_sends_no_upgrade_headers() -> None:
    text = export_config(config(route("/", "http://127.0.0.1:3000", ws=False)), "nginx")
    assert 'if ($http_upgrade ~* "^websocket$") { return 404; }' in text
    assert 'proxy_set_header Upgrade "";' in text


@pytest.mark.parametrize(("policy", "value"), [("rewrite", '"http://127.0.0.1:3000"'),
                                               ("drop", '""')])
def test_nginx_ws_origin_changes_origin_on_handshakes_only(policy: str, value: str) -> None:
    text = export_config(config(route("/", "http://127.0.0.1:3000", ws_origin=policy)), "nginx")
    block = re.search(r"map \$devproxy_upgrade (\$devproxy_ws_origin_\d+) \{(.*?)\}", text, re.S)
    assert block is not None
    assert '"" $http_origin;' in block.group(2)
    assert f"default {value};" in block.group(2)
    assert f"proxy_set_header Origin {block.group(1)};" in text


def test_nginx_header_values_keep_dollars_and_quotes_literal() -> None:
    text = export_config(config(route("/", "http://127.0.0.1:3000",
                                      headers=(("X-A", 'p$ss "q" \\'),))), "nginx")
    assert r'proxy_set_header X-A "p${devproxy_dollar}ss \"q\" \\";' in text
    assert 'geo $devproxy_dollar { default "$"; }' in text


def test_nginx_static_folder_with_spa_and_private_dotfiles(tmp_path: Path) -> None:
    text = export_config(config(route("/docs", static=tmp_path, spa=True)), "nginx")
    assert f'alias "{tmp_path}/";' in text
    assert 'location = "/docs" { return 308 "/docs/$is_args$args"; }' in text
    assert 'if ($uri ~ "/\\.") { return 404; }' in text
    assert "try_files $uri $uri/ @devproxy_spa_1;" in text
    assert "location @devproxy_spa_1 {" in text
    assert 'if ($http_accept !~* "text/html") { return 404; }' in text
    # Module scripts run only with a JavaScript type, which nginx's table may lack.
    assert any("text/javascript mjs" in note for note in not_exported(text))


def test_nginx_static_dotfiles_true_serves_them(tmp_path: Path) -> None:
    text = export_config(config(route("/", static=tmp_path, dotfiles=True)), "nginx")
    assert f'root "{tmp_path}";' in text
    assert "dotfiles stay private" not in text
    assert "try_files $uri $uri/ =404;" in text


def test_nginx_cors_mode_answers_preflights_and_hides_the_backends_headers() -> None:
    text = export_config(config(route("/api", "http://127.0.0.1:3000", cors=CORS)), "nginx")
    assert 'map $http_origin $devproxy_cors0_origin {' in text
    assert r'"~^(?:http://localhost:5173|http://127\.0\.0\.1(?::[0-9]+)?)$" $http_origin;' in text
    assert "if ($devproxy_cors0_preflight = allow) {" in text
    assert "return 204;" in text
    assert 'if ($devproxy_cors0_preflight = refuse) { return 403' in text
    assert "proxy_hide_header Access-Control-Allow-Origin;" in text
    assert "add_header Access-Control-Allow-Origin $devproxy_cors0_acao always;" in text
    assert "add_header Access-Control-Expose-Headers $devproxy_cors0_aceh always;" in text
    assert ('add_header Vary "Origin, Access-Control-Request-Method, '
            'Access-Control-Request-Headers" always;') in text


@pytest.mark.parametrize("fmt", ["nginx", "caddy"])
def test_a_preflight_varies_by_the_private_network_ask_where_it_is_allowed(fmt: str) -> None:
    # As devproxy answers: a cache must not hand a public page's answer to a private ask.
    for allowed in (True, False):
        policy = CorsPolicy(origins=("http://localhost:5173",), private_network=allowed)
        text = export_config(config(route("/", "http://127.0.0.1:3000", cors=policy)), fmt)
        assert ("Access-Control-Request-Headers, Access-Control-Request-Private-Network"
                in text) is allowed


def test_nginx_cors_keep_defers_to_a_backend_that_answers_cors() -> None:
    policy = CorsPolicy(origins=("http://localhost:5173",), backend_cors="keep")
    text = export_config(config(route("/", "http://127.0.0.1:3000", cors=policy)), "nginx")
    assert "proxy_hide_header Access-Control-Allow-Origin;" not in text
    assert '"$upstream_http_access_control_allow_origin|$devproxy_cors0_origin"' in text


def test_nginx_records_what_it_cannot_do() -> None:
    text = export_config(config(route("/", "http://127.0.0.1:3000", wait_for_backend=5,
                                      timeout={"connect": 100, "response": 9},
                                      rewrite={r"(a)\1": "b"})), "nginx")
    notes = "\n".join(not_exported(text))
    for expected in ("wait_for_backend (5s", "timeout.response (9s", "above 75s",
                     r"rewrite '(a)\\1' -> 'b'", "request inspector", "limits.headers"):
        assert expected in notes


# --- Caddy ------------------------------------------------------------------------------


def test_caddy_writes_one_handle_per_route_longest_first() -> None:
    text = export_config(config(route("/", "http://127.0.0.1:1"), route("/api", "http://127.0.0.1:2"),
                                route("/api/v2", "http://127.0.0.1:3")), "caddy")
    assert re.findall(r"@route\d+ path_regexp (.+)", text) == ['"^/api/v2(?:/|$)"',
                                                                 '"^/api(?:/|$)"']
    assert text.index("@route0") < text.index("@route1") < text.index("\thandle {")
    assert "http://:8080 {" in text
    assert "\tbind 127.0.0.1" in text
    assert balanced(text)


def test_caddy_proxies_with_flushing_timeouts_and_tls_options() -> None:
    text = export_config(config(route("/", "https://api.example.com", change_origin=True,
                                      secure=False, wait_for_backend=3,
                                      timeout={"connect": 2, "response": 30})), "caddy")
    for line in ("reverse_proxy https://api.example.com:443 {",
                 "header_up Host {http.reverse_proxy.upstream.hostport}",
                 "flush_interval -1", "dial_timeout 2s", "response_header_timeout 30s",
                 "tls_insecure_skip_verify", "tls_server_name api.example.com",
                 "lb_try_duration 3s"):
        assert line in text


def test_caddy_strips_then_prefixes_then_rewrites_in_one_ordered_route() -> None:
    text = export_config(config(route("/api", "http://127.0.0.1:3000/v1", strip_prefix=True,
                                      rewrite={"^/v1/old/": "/v1/new/"})), "caddy")
    strip = text.index('uri path_regexp "^/api" "/v1"')
    rewrite = text.index('uri path_regexp "^((?s:.*?))(?:^/v1/old/)((?s:.*))$"')
    assert strip < rewrite < text.index("reverse_proxy")
    assert "route {" in text  # Caddy would otherwise reorder rewrite and uri


def test_caddy_cors_mode_answers_preflights_before_proxying() -> None:
    text = export_config(config(route("/api", "http://127.0.0.1:3000", cors=CORS)), "caddy")
    assert "respond @devproxy_cors0_allow 204" in text
    assert 'respond @devproxy_cors0_preflight "CORS preflight refused" 403' in text
    assert text.index("respond @devproxy_cors0_allow") < text.index("reverse_proxy")
    assert "header_down -Access-Control-*" in text
    assert "header +Vary Origin" in text


def test_caddy_static_folder(tmp_path: Path) -> None:
    text = export_config(config(route("/docs", static=tmp_path, spa=True)), "caddy")
    for line in ('redir @devproxy_folder0 "/docs/" 308', 'uri strip_prefix "/docs"',
                 f'root * "{tmp_path}"', "rewrite @devproxy_spa0 /index.html", "hide .*"):
        assert line in text


def test_caddy_records_what_it_cannot_do() -> None:
    text = export_config(config(route("/api", "http://127.0.0.1:3000", strip_prefix=True,
                                      cors=CORS, rewrite={"(?<=x)y": "z"})), "caddy")
    notes = "\n".join(not_exported(text))
    for expected in ("rewrite '(?<=x)y' -> 'z'", "already wrote under /api",
                     "built from the Host", "Caddy's own error responses", "X-Forwarded-For"):
        assert expected in notes


# --- Traefik ----------------------------------------------------------------------------


def traefik(cfg: Config) -> dict:  # type: ignore[type-arg]
    loaded = yaml.safe_load(export_config(cfg, "traefik"))
    assert set(loaded) == {"http"}
    return loaded["http"]  # type: ignore[no-any-return]


def test_traefik_routers_services_and_middlewares(tmp_path: Path) -> None:
    http = traefik(config(
        route("/", "http://127.0.0.1:1"),
        route("/api", "https://api.example.com/v1", strip_prefix=True, secure=False,
              change_origin=True, headers=(("X-A", "1"),), rewrite={"^/v1/a": "/v1/b"},
              cors=CORS),
        route("/docs", static=tmp_path)))
    routers = http["routers"]
    assert list(routers) == ["devproxy-route1", "devproxy-route2"]  # route0, a folder: a comment
    api = routers["devproxy-route1"]
    assert api["rule"].startswith("(Path(`/api`) || PathPrefix(`/api/`))")
    assert api["priority"] > routers["devproxy-route2"]["priority"]
    assert api["middlewares"] == ["devproxy-route1-cors", "devproxy-route1-strip",
                                  "devproxy-route1-base", "devproxy-route1-rewrite0",
                                  "devproxy-route1-slash", "devproxy-route1-headers"]
    service = http["services"]["devproxy-route1"]["loadBalancer"]
    assert service["passHostHeader"] is False
    assert service["servers"] == [{"url": "https://api.example.com"}]
    assert service["responseForwarding"]["flushInterval"] == "-1ms"
    middlewares = http["middlewares"]
    assert middlewares["devproxy-route1-strip"] == {"stripPrefix": {"prefixes": ["/api"]}}
    assert middlewares["devproxy-route1-base"] == {"addPrefix": {"prefix": "/v1"}}
    assert middlewares["devproxy-route1-rewrite0"]["replacePathRegex"] == {
        "regex": "^((?s:.*?))(?:^/v1/a)((?s:.*))$", "replacement": "${1}/v1/b${2}"}
    # What a rewrite leaves empty or relative gets its "/", as devproxy sends it.
    assert middlewares["devproxy-route1-slash"]["replacePathRegex"] == {
        "regex": "^([^/]|$)", "replacement": "/${1}"}
    cors = middlewares["devproxy-route1-cors"]["headers"]
    assert cors["accessControlAllowOriginList"] == ["http://localhost:5173"]
    assert cors["accessControlAllowOriginListRegex"] == [r"^http://127\.0\.0\.1(?::[0-9]+)?$"]
    assert cors["accessControlAllowCredentials"] is True
    assert cors["accessControlExposeHeaders"] == ["X-Total"]
    assert cors["accessControlMaxAge"] == 600
    transport = http["serversTransports"]["devproxy-route1"]
    assert transport["insecureSkipVerify"] is True
    assert transport["forwardingTimeouts"] == {"dialTimeout": "5s",
                                               "responseHeaderTimeout": "60s"}


def test_traefik_records_what_it_cannot_do(tmp_path: Path) -> None:
    text = export_config(config(route("/docs", static=tmp_path),
                                route("/", "http://127.0.0.1:1", ws=False, cors=CORS)),
                         "traefik")
    notes = "\n".join(not_exported(text))
    for expected in (f"static folder {tmp_path}", "Location and Set-Cookie", "ws: false",
                     "whatever headers a preflight asks for", "with 204 (Traefik: 200)"):
        assert expected in notes


def test_traefik_host_allowlist_is_part_of_every_rule() -> None:
    http = traefik(config(route("/", "http://127.0.0.1:1"), allowed_hosts=("app.test",)))
    assert "HostRegexp(`(?i)^(?:(?:localhost|" in http["routers"]["devproxy-route0"]["rule"]
    assert r"app\.test" in http["routers"]["devproxy-route0"]["rule"]
    anyone = traefik(config(route("/", "http://127.0.0.1:1"), any_host=True))
    assert anyone["routers"]["devproxy-route0"]["rule"] == "PathPrefix(`/`)"


# --- the rules, read back and compared with devproxy ------------------------------------


def _unquote(token: str) -> str:
    """An nginx or Caddy quoted token's text."""
    assert token[0] == token[-1] == '"'
    return re.sub(r'\\(["\\])', r"\1", token[1:-1])


def _python(regex: str) -> str:
    return re.sub(r"\(\?<(?![=!])", "(?P<", regex).replace(r"\z", r"\Z")


def _nginx_value(value: str, variables: dict[str, str]) -> str:
    value = value.replace("${devproxy_dollar}", "\0")

    def var(m: re.Match[str]) -> str:
        return variables[m.group(1) or m.group(2)]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", var, value).replace("\0", "$")


def nginx_upstream_path(text: str, raw: str) -> str:
    """Run the location's if/set chain and proxy_pass on a raw request target."""
    query = raw.partition("?")[2]
    variables = {"request_uri": raw, "devproxy_path": "", "is_args": "?" if query else "",
                 "args": query}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("location ") and variables["devproxy_path"]:
            break  # the first location's chain is done
        test = re.fullmatch(r'if \(\$(\w+) ~ ("(?:[^"\\]|\\.)*")\) \{ set \$devproxy_path '
                            r'("(?:[^"\\]|\\.)*"); \}', line)
        if test is not None:
            found = re.search(_python(_unquote(test.group(2))), variables[test.group(1)])
            if found is not None:
                variables.update({k: v or "" for k, v in found.groupdict().items()})
                variables["devproxy_path"] = _nginx_value(_unquote(test.group(3)), variables)
        elif line == 'if ($devproxy_path = "") { set $devproxy_path "/"; }':
            variables["devproxy_path"] = variables["devproxy_path"] or "/"
    passed = re.search(r"proxy_pass https?://devproxy_backend_\d+(\S*);", text)
    assert passed is not None
    return _nginx_value(passed.group(1), variables) if passed.group(1) else raw


def caddy_upstream_path(text: str, raw: str) -> str:
    """Apply the route's uri directives in order, as Caddy's Go regexp replacement."""
    path, sep, query = raw.partition("?")
    for line in text.splitlines():
        line = line.strip()
        strip = re.fullmatch(r'uri strip_prefix "(.*)"', line)
        if strip is not None:
            path = path[len(strip.group(1)):] if path.startswith(strip.group(1)) else path
            path = path or "/"
        regexp = re.fullmatch(r'uri path_regexp (\S+|"(?:[^"\\]|\\.)*") ("(?:[^"\\]|\\.)*")',
                              line)
        if regexp is not None:
            find = regexp.group(1)
            find = _unquote(find) if find.startswith('"') else find
            path = re.sub(_python(find), _go_template(_unquote(regexp.group(2))), path)
    return path + sep + query


def _go_template(replacement: str) -> str:
    """A Go replacement as written in a Caddyfile, as a Python template."""
    replacement = replacement.replace(r"\{", "{").replace(r"\}", "}").replace("\\", "\\\\")
    return re.sub(r"\$\$|\$\{(\d+)\}", lambda m: "$" if m.group(0) == "$$"
                  else f"\\g<{m.group(1)}>", replacement)


REWRITING = [
    pytest.param(route("/api", "http://127.0.0.1:3000", strip_prefix=True), id="strip"),
    pytest.param(route("/api", "http://127.0.0.1:3000/v1"), id="base"),
    pytest.param(route("/api", "http://127.0.0.1:3000/v1", strip_prefix=True,
                       rewrite={r"^/v1/old/(\w+)": "/v1/new/$1", "a+": "A",
                                r"(?P<x>[0-9]+)$": r"n\g<x>$"}), id="strip-base-rewrites"),
    pytest.param(route("/", "http://127.0.0.1:3000/base", rewrite={"(?i)FOO": ""}),
                 id="root-base-rewrite"),
    # Vite's p.replace(/^\/api/, ''): what is left gets its "/" (RFC 9112 §3.2.1).
    pytest.param(route("/api", "http://127.0.0.1:3000", rewrite={"^/api": ""}),
                 id="rewrite-to-nothing"),
    pytest.param(route("/api", "http://127.0.0.1:3000", rewrite={"^/api/": "b/"}),
                 id="rewrite-to-a-relative-path"),
]
RAW_PATHS = ["/api", "/api/", "/api/x?q=1", "/api/old/abc/d", "/api/a%2Fb//c%20d", "/api/aaa/12",
             "/api/old/X/foo?x=%20", "/api?x=1"]


@pytest.mark.parametrize(("fmt", "upstream_of"), [("nginx", nginx_upstream_path),
                                                  ("caddy", caddy_upstream_path)])
@pytest.mark.parametrize("rt", REWRITING)
@pytest.mark.parametrize("raw", RAW_PATHS)
def test_the_exported_proxy_builds_the_upstream_path_devproxy_builds(
        fmt: str, upstream_of: Callable[[str, str], str], rt: Route, raw: str) -> None:
    if rt.path == "/":
        raw = raw.replace("/api", "", 1) or "/"
    path, _, query = raw.partition("?")
    expected = upstream_path(rt, path) + ("?" + query if query else "")
    assert upstream_of(export_config(config(rt), fmt), raw) == expected


def _expand(replacement: str, match: re.Match[str]) -> str:
    """nginx's $1..$9 in a replacement; an unmatched group is empty."""
    return re.sub(r"\$(\d)", lambda m: match.group(int(m.group(1))) or "", replacement)


def nginx_location(text: str, value: str, proxy: str) -> str:
    """nginx's proxy_redirect: the first directive that matches rewrites the value."""
    for line in text.splitlines():
        found = re.fullmatch(r'\s*proxy_redirect ("(?:[^"\\]|\\.)*") ("(?:[^"\\]|\\.)*");', line)
        if found is None:
            continue
        redirect, replacement = (_unquote(found.group(i)) for i in (1, 2))
        replacement = replacement.replace("$scheme://$http_host", proxy)
        if redirect.startswith("~"):
            match = re.search(_python(redirect[1:]), value)
            if match is not None:
                return _expand(replacement, match)
        else:
            prefix = redirect.replace("$scheme://$http_host", proxy)
            if value.startswith(prefix):
                return replacement + value[len(prefix):]
    return value


def caddy_header(text: str, field: str, value: str, proxy: str) -> str:
    """Caddy's header_down replacements: every one, in order."""
    for line in text.splitlines():
        found = re.fullmatch(rf'\s*header_down {field} ("(?:[^"\\]|\\.)*") ("(?:[^"\\]|\\.)*")',
                             line)
        if found is None:
            continue
        replacement = _unquote(found.group(2)).replace(
            "{http.request.scheme}://{http.request.hostport}", proxy.replace("\\", "\\\\"))
        value = re.sub(_python(_unquote(found.group(1))), _go_template(replacement), value)
    return value


MAPPED = [
    pytest.param(route("/api", "http://127.0.0.1:3000", strip_prefix=True), id="strip"),
    pytest.param(route("/api", "http://127.0.0.1:3000/v1"), id="base"),
    pytest.param(route("/api", "http://localhost:3000/v1", strip_prefix=True), id="strip-base"),
    pytest.param(route("/", "http://127.0.0.1:3000"), id="root"),
]
LOCATIONS = ["http://127.0.0.1:3000/next", "http://localhost:3000/next?x=1#f",
             "//127.0.0.1:3000/a", "HTTP://[::1]:3000/v1/a", "http://127.0.0.1:3000",
             "http://127.0.0.1:3000?x", "http://127.0.0.1:3000/v1", "http://127.0.0.1:3000/v1x",
             "/login", "/login?next=/x", "/", "/v1", "/v1?x", "/v1/x", "/v1x", "/v1/api/x",
             "//evil.example/x", "http://evil.example/x", "relative/x", "?q",
             "http://127.0.0.1:3001/x", "https://127.0.0.1:3000/x"]
ALREADY_UNDER = ["/api/already", "/api", "/api?x", "http://127.0.0.1:3000/api/x"]
FROM_HOST = [PROXY + "/login", PROXY + "/v1/x", PROXY + "/api/x"]


@pytest.mark.parametrize("rt", MAPPED)
@pytest.mark.parametrize("value", LOCATIONS + ALREADY_UNDER + FROM_HOST)
def test_nginx_maps_location_as_devproxy_does(rt: Route, value: str) -> None:
    expected = rewrite_location(value, rt, PROXY)
    assert nginx_location(export_config(config(rt), "nginx"), value, PROXY) == expected


@pytest.mark.parametrize("rt", MAPPED)
@pytest.mark.parametrize("value", LOCATIONS)
def test_caddy_maps_location_as_devproxy_does(rt: Route, value: str) -> None:
    expected = rewrite_location(value, rt, PROXY)
    assert caddy_header(export_config(config(rt), "caddy"), "Location", value, PROXY) == expected


def test_caddy_location_gaps_are_the_documented_ones() -> None:
    rt = route("/api", "http://127.0.0.1:3000", strip_prefix=True)
    text = export_config(config(rt), "caddy")
    assert caddy_header(text, "Location", "/api/already", PROXY) == "/api/api/already"
    assert caddy_header(text, "Location", PROXY + "/login", PROXY) == PROXY + "/login"
    notes = "\n".join(not_exported(text))
    assert "already wrote under /api" in notes
    assert "built from the Host" in notes
    assert caddy_header(text, "Set-Cookie", "a=1; Path=/api/x", PROXY) == "a=1; Path=/api/api/x"


COOKIES = ["sid=1; Path=/", "sid=1; Path=/x/; HttpOnly", "sid=1; path=/v1", "sid=1; Path=/v1/",
           "sid=1; Path=/v1/x/y/", "sid=1; Path=/v1x", "sid=1; Path=/other",
           "sid=1; Domain=127.0.0.1; Path=/", "sid=1; Path=/; domain=.LOCALHOST; Secure",
           "sid=1; Domain=evil.example", "sid=1", "sid=1; Path=/v1/api/x",
           # A browser reads a Domain as a URL host: IPv6 in brackets, a bare one is none.
           "sid=1; Domain=[::1]; Path=/", "sid=1; Domain=::1"]


def nginx_cookie(text: str, value: str) -> str:
    """nginx's proxy_cookie_domain and proxy_cookie_path: first match per attribute."""
    rules = {kind: [(_python(_unquote(a)[1:]), _unquote(b)) for a, b in re.findall(
        rf'proxy_cookie_{kind} ("(?:[^"\\]|\\.)*") ("(?:[^"\\]|\\.)*");', text)]
        for kind in ("domain", "path")}
    parts = value.split(";")
    for index, part in enumerate(parts[1:], 1):
        name, eq, attribute = part.partition("=")
        kind = name.strip().lower()
        for regex, replacement in rules.get(kind, []):
            match = re.search(regex, attribute.strip(), re.IGNORECASE if kind == "domain"
                              else 0)
            if match is not None:
                parts[index] = f"{name}{eq}{_expand(replacement, match)}"
                break
    return ";".join(parts)


def _effective(cookie: str) -> str:
    """An empty Domain attribute is ignored by browsers (RFC 6265 §5.2.3)."""
    return re.sub(r";\s*domain=(?=;|$)", "", cookie, flags=re.IGNORECASE)


@pytest.mark.parametrize("rt", [*MAPPED[:3], pytest.param(
    route("/api", "http://localhost:3000", strip_prefix=True), id="localhost"), pytest.param(
    route("/api", "http://[::1]:3000", strip_prefix=True), id="ipv6")])
@pytest.mark.parametrize("cookie", COOKIES)
def test_nginx_maps_cookies_as_devproxy_does(rt: Route, cookie: str) -> None:
    text = export_config(config(rt), "nginx")
    assert _effective(nginx_cookie(text, cookie)) == rewrite_set_cookie(cookie, rt)


@pytest.mark.parametrize("rt", [*MAPPED[:3], pytest.param(
    route("/api", "http://[::1]:3000", strip_prefix=True), id="ipv6")])
@pytest.mark.parametrize("cookie", COOKIES)
def test_caddy_maps_cookies_as_devproxy_does(rt: Route, cookie: str) -> None:
    text = export_config(config(rt), "caddy")
    assert caddy_header(text, "Set-Cookie", cookie, PROXY) == rewrite_set_cookie(cookie, rt)


@pytest.mark.parametrize("fmt", ["nginx", "caddy"])
@pytest.mark.parametrize(("pattern", "replacement", "why"), [
    (r"(a)\1", "b", "back-reference"),
    (r"a{,3}", "b", "{,n}"),
    (r"(?a)\w", "b", "(?a"),
    ("x", r"\n", "escape"),
])
def test_untranslatable_rewrites_become_comments(fmt: str, pattern: str, replacement: str,
                                                 why: str) -> None:
    text = export_config(config(route("/", "http://127.0.0.1:1",
                                      rewrite={pattern: replacement})), fmt)
    assert any(f"rewrite {pattern!r} -> {replacement!r}" in note for note in not_exported(text))


def test_lookarounds_translate_for_nginx_only() -> None:
    rt = route("/", "http://127.0.0.1:1", rewrite={"(?<=x)y": "z"})
    rule = "rewrite '(?<=x)y' -> 'z'"
    assert not any(rule in note for note in not_exported(export_config(config(rt), "nginx")))
    assert any(rule in note for note in not_exported(export_config(config(rt), "caddy")))


@pytest.mark.parametrize("kind", ["nginx", "caddy"])
def test_a_location_at_another_routes_target_is_named_as_not_exported(kind: str) -> None:
    # devproxy sends a login's redirect to http://localhost:5173/dashboard to its own
    # /dashboard (route /); nginx and Caddy pass it on, and say so.
    two = config(route("/api", "http://127.0.0.1:3000", strip_prefix=True),
                 route("/", "http://127.0.0.1:5173"))
    said = "a Location at another route's target, which devproxy maps to that route's path"
    assert any(said in note for note in not_exported(export_config(two, kind)))
    one = config(route("/api", "http://127.0.0.1:3000"))
    assert not any(said in note for note in not_exported(export_config(one, kind)))
