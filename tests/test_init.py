"""devproxy init: project detection, imports of other tools' proxy configs, and the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devproxy import jsliteral
from devproxy.config import Config
from devproxy.importers import ImportedRoute, import_config
from devproxy.jsconfig import find_value
from devproxy.jsliteral import Code
from devproxy.loader import parse_config
from devproxy.paths import upstream_path
from devproxy.scaffold import (
    built_site,
    detect,
    proxy_files,
    render,
    render_imported,
    summary,
)

VITE = r"""
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// https://vite.dev/config/
export default defineConfig({
  plugins: [react()],
  server: {
    port: 5174, /* not the default */
    proxy: {
      // string shorthand
      '/foo': 'http://localhost:4567',
      '/api': {
        target: 'http://localhost:3000/',
        changeOrigin: true,
        rewrite: (path) => path.replace(/^\/api/, ''),
      },
      '/v1': { target: "http://localhost:3000", rewrite: p => p.replace(/^\/v1/, '/v2') },
      '^/fallback/.*': { target: 'http://localhost:3000', changeOrigin: true },
      '/socket.io': { target: 'ws://localhost:5175', ws: true },
      '/custom': {
        target: 'https://example.com',
        secure: false,
        configure: (proxy, options) => { proxy.on('error', (err) => console.log(err)) },
        bypass(req) { if (req.headers.accept.includes('html')) return '/index.html' },
      },
    },
  },
})
"""


def test_js_literal_reader_keeps_code_as_code() -> None:
    proxy = find_value(VITE, "server", "proxy")
    assert proxy["/foo"] == "http://localhost:4567"
    assert proxy["/api"]["changeOrigin"] is True
    assert isinstance(proxy["/api"]["rewrite"], Code)
    assert "replace(/^\\/api/, '')" in proxy["/api"]["rewrite"].source
    assert isinstance(proxy["/custom"]["configure"], Code)
    assert find_value(VITE, "server", "port") == 5174
    assert find_value(VITE, "server", "nothing") is None


def test_vite_proxy_is_translated_and_every_loss_is_named() -> None:
    imported = import_config("vite.config.ts", VITE)
    routes = {r.path: r for r in imported.routes}
    assert routes["/foo"] == ImportedRoute("/foo", "http://localhost:4567", change_origin=True)
    assert routes["/api"] == ImportedRoute("/api", "http://localhost:3000", change_origin=True,
                                           strip_prefix=True)
    assert routes["/v1"].rewrite == (("^/v1", "/v2"),)
    assert routes["/fallback"].change_origin
    assert routes["/socket.io"].target == "http://localhost:5175"
    assert routes["/custom"].secure is False
    text = "\n".join(imported.warnings)
    assert "/custom.configure" in text and "/custom.bypass" in text
    assert "regular expression key" in text and "ws://" in text
    # Stripping the prefix moves a redirect to /page under it, where Vite's did not.
    assert "/api.rewrite: imported as strip_prefix: true, and a redirect this backend " \
           "sends to /page now lands on /api/page" in text
    config = parse_config(render_imported(imported), "devproxy.yaml", Path("/"))
    assert {r.path for r in config.routes} == {"/foo", "/api", "/v1", "/fallback",
                                               "/socket.io", "/custom", "/"}
    assert "NOT IMPORTED or changed: /custom.configure" in render_imported(imported)


def test_a_regex_literal_ending_in_an_escaped_slash_is_not_a_comment() -> None:
    # /^\/api\// holds "//": read as a line comment, it swallowed the rest of the line,
    # and the whole proxy object was lost for "expected ',' or '}'".
    config = """export default defineConfig({ server: { proxy: { '/api': {
      target: 'https://staging.example.test', changeOrigin: true,
      rewrite: (path) => path.replace(/^\\/api\\//, '/v2/') } } } })
"""
    [route] = import_config("vite.config.js", config).routes
    assert (route.target, route.change_origin) == ("https://staging.example.test", True)
    assert route.rewrite == (("^/api/", "/v2/"),)


def test_a_regex_literal_after_return_is_not_a_comment_nor_a_division() -> None:
    # After "return" an expression begins: "/" starts a regex there, and read as a
    # division its "\//" began a comment that swallowed the rest of the line.
    config = """export default { server: { proxy: { '/api': {
      target: 'http://localhost:3000',
      bypass(req) { return /^\\/api\\//.test(req.url) ? null : req.url },
    }, '/ws': { target: 'ws://localhost:3001', ws: true } } } }
"""
    imported = import_config("vite.config.js", config)
    assert [(r.path, r.target) for r in imported.routes] == [
        ("/api", "http://localhost:3000"), ("/ws", "http://localhost:3001")]


@pytest.mark.parametrize(("before", "regex"), [
    ("return ", True), ("x = typeof ", True), ("case ", True), ("(", True), ("", True),
    ("total ", False), ("3 ", False), ("o.in ", False), ("returns ", False), (") ", False),
])
def test_a_slash_starts_a_regex_where_an_expression_begins(before: str, regex: bool) -> None:
    assert jsliteral.regex_allowed(before + "/a/", len(before)) is regex


def test_angular_proxy_conf_json() -> None:
    conf = {"/api/**": {"target": "http://localhost:8080", "secure": False,
                        "changeOrigin": True, "pathRewrite": {"^/api": ""},
                        "logLevel": "debug"},
            "/auth": {"target": "http://localhost:9000",
                      "headers": {"X-Dev": "1", "Connection": "keep-alive"},
                      "timeout": 30000}}
    imported = import_config("proxy.conf.json", json.dumps(conf))
    api, auth = imported.routes
    assert api == ImportedRoute("/api", "http://localhost:8080", change_origin=True,
                                strip_prefix=True, secure=False)
    # A Connection header, as http-proxy examples set, is devproxy's own to set.
    assert auth.headers == (("X-Dev", "1"),) and auth.response_timeout == 30
    assert any("logLevel: not needed" in w for w in imported.warnings)
    assert any("Connection not imported" in w for w in imported.warnings)
    config = parse_config(render_imported(imported), "devproxy.yaml", Path("/"))
    assert isinstance(config, Config)


def test_a_one_segment_glob_is_imported_as_a_prefix_that_says_it_takes_more() -> None:
    # /api/* matched /api/users, not /api/users/1: the route devproxy makes takes both.
    imported = import_config("proxy.conf.json", json.dumps({
        "/api/*": {"target": "http://localhost:8080"},
        "/auth/**": {"target": "http://localhost:9000"}}))
    assert [r.path for r in imported.routes] == ["/api", "/auth"]
    [said] = [w for w in imported.warnings if "glob" in w]
    assert said == ("/api/*: a glob for one path segment, imported as the prefix /api, which "
                    "also takes deeper paths (/api/a/b) and /api itself")


@pytest.mark.parametrize("conf", [
    {"/api/**": {"target": "http://localhost:3000"}},
    {"/api": "http://localhost:3000", "oops": 1},  # one entry is enough: the rest are named
    {"api": {"target": "http://localhost:3000"}, "/api": {"target": "http://localhost:3000"}},
    [{"context": ["/api"], "target": "http://localhost:3000"}],
], ids=["glob", "a path and a stray key", "a target URL", "array"])
def test_a_json_proxy_config_is_known_by_its_shape_not_its_name(conf: object) -> None:
    imported = import_config("proxy.dev.json", json.dumps(conf))
    assert [(r.path, r.target) for r in imported.routes] == [("/api", "http://localhost:3000")]


def test_webpack_array_form_with_contexts() -> None:
    webpack = """module.exports = {
      devServer: {
        proxy: [
          { context: ['/auth', '/api'], target: 'http://localhost:3000',
            pathRewrite: { '^/api/old': '/api/new' } },
          { context: '/ws', target: 'ws://localhost:4000', ws: true },
          { context: (pathname) => pathname.startsWith('/x'), target: 'http://x:1' },
        ],
      },
    };"""
    imported = import_config("webpack.config.js", webpack)
    assert [r.path for r in imported.routes] == ["/auth", "/api", "/ws"]
    assert imported.routes[1].rewrite == (("^/api/old", "/api/new"),)
    assert any("proxy[2].context" in w for w in imported.warnings)
    parse_config(render_imported(imported), "devproxy.yaml", Path("/"))


def test_webpack_array_form_with_path_for_context() -> None:
    # webpack-dev-server 5 reads `context || path`: an entry with path: is a route too.
    webpack = """module.exports = { devServer: { proxy: [
      { path: '/api', target: 'http://localhost:3000' },
      { path: ['/a', '/b'], target: 'http://localhost:3001' },
      { context: '/c', path: '/ignored', target: 'http://localhost:3002' },
      { context: '', path: '/d', target: 'http://localhost:3002' },
      { path: 7, target: 'http://localhost:3003' },
    ] } };"""
    imported = import_config("webpack.config.js", webpack)
    assert [(r.path, r.target) for r in imported.routes] == [
        ("/api", "http://localhost:3000"), ("/a", "http://localhost:3001"),
        ("/b", "http://localhost:3001"), ("/c", "http://localhost:3002"),
        ("/d", "http://localhost:3002")]
    assert any("proxy[4].path is not a list of paths" in w for w in imported.warnings)
    assert not any("ignored" in w for w in imported.warnings)


@pytest.mark.parametrize(("name", "text", "change_origin"), [
    # Vite: `if (typeof opts === 'string') opts = { target: opts, changeOrigin: true }`.
    pytest.param("vite.config.ts",
                 "export default { server: { proxy: { '/auth': 'http://localhost:3001' } } }",
                 True, id="vite"),
    # webpack-dev-server: `{ context, target }` alone, so http-proxy's changeOrigin: false.
    pytest.param("webpack.config.js",
                 "module.exports = { devServer: { proxy: { '/auth': 'http://localhost:3001' } } }",
                 False, id="webpack"),
    pytest.param("proxy.conf.json", json.dumps({"/auth": "http://localhost:3001"}), False,
                 id="angular"),
])
def test_a_url_entry_changes_origin_only_where_the_tool_makes_it(name: str, text: str,
                                                                 change_origin: bool) -> None:
    [route] = import_config(name, text).routes
    assert (route.path, route.target) == ("/auth", "http://localhost:3001")
    assert route.change_origin is change_origin


@pytest.mark.parametrize("options", [
    {"timeout": 5000, "proxyTimeout": 30000},
    {"proxyTimeout": 30000, "timeout": 5000},
], ids=["timeout first", "proxyTimeout first"])
def test_proxy_timeout_is_the_response_timeout_and_timeout_beside_it_is_named(
        options: dict[str, int]) -> None:
    # http-proxy: proxyTimeout is the backend request's, timeout the browser socket's.
    conf = {"/api": {"target": "http://localhost:3000", **options}}
    imported = import_config("proxy.conf.json", json.dumps(conf))
    assert imported.routes[0].response_timeout == 30
    assert imported.warnings == [
        "/api.timeout: not imported: http-proxy's timeout is the browser connection's, which "
        "devproxy has no setting for; proxyTimeout, the backend's, is imported as "
        "timeout.response"]
    rendered = render_imported(imported)
    assert "# NOT IMPORTED or changed: /api.timeout: not imported" in rendered
    [api, _] = parse_config(rendered, "devproxy.yaml", Path("/")).routes
    assert api.timeout.response == 30


def test_create_react_app_proxy_field() -> None:
    imported = import_config("package.json", json.dumps({"proxy": "http://localhost:4000"}))
    assert imported.routes == [ImportedRoute("/api", "http://localhost:4000",
                                             change_origin=True)]
    assert "Create React App" in imported.warnings[0]


@pytest.mark.parametrize(("name", "text", "frontend"), [
    ("vite.config.ts", "export default { server: { hmr: { port: 24678 }, port: 3001, "
                       "proxy: { '/api': 'http://localhost:3000' } } }", "Vite dev server-3001"),
    ("vite.config.ts", "export default { server: { proxy: { '/api': 'http://localhost:3000' }, "
                       "hmr: { port: 24678 } } }", "Vite dev server-5173"),
    ("webpack.config.js", "module.exports = { devServer: { proxy: { '/api': 'http://h:1' } } }",
     "webpack-dev-server dev server-8080"),
    ("webpack.config.js", "module.exports = { devServer: { port: 9000, client: { webSocketURL: "
                          "{ port: 1 } }, proxy: { '/api': 'http://h:1' } } }",
     "webpack-dev-server dev server-9000"),
    ("proxy.conf.json", json.dumps({"/api": {"target": "http://h:1"}}), "Angular dev server-4200"),
    ("package.json", json.dumps({"proxy": "http://h:1"}), "Create React App dev server-3000"),
])
def test_imported_config_puts_the_tools_own_dev_server_on_slash(name: str, text: str,
                                                                frontend: str) -> None:
    # Its port is the dev server's own, not a nested one such as Vite's server.hmr.port.
    rendered = render_imported(import_config(name, text))
    config = parse_config(rendered, "devproxy.yaml", Path("/"))
    root = next(r for r in config.routes if r.path == "/")
    what, port = frontend.rsplit("-", 1)
    assert root.target is not None and root.target.port == int(port)
    assert f"# Your {what}," in rendered
    assert config.listen.port != root.target.port  # parse_config refuses a loop, too


@pytest.mark.parametrize(("name", "text", "named"), [
    pytest.param("vite.config.js",
                 "export default { server: { port: Number(process.env.PORT) || 4800, "
                 "proxy: { '/api': 'http://localhost:3000' } } }",
                 "server.port: Number(process.env.PORT) || 4800 is computed: path / goes to "
                 "Vite's default port 5173", id="vite"),
    pytest.param("webpack.config.js",
                 "module.exports = { devServer: { port: process.env.PORT, "
                 "proxy: { '/api': 'http://h:1' } } }",
                 "devServer.port: process.env.PORT is computed: path / goes to "
                 "webpack-dev-server's default port 8080", id="webpack"),
])
def test_a_computed_dev_server_port_is_named_not_silently_replaced(name: str, text: str,
                                                                   named: str) -> None:
    # The README promises computed values are never silently dropped.
    rendered = render_imported(import_config(name, text))
    assert f"# NOT IMPORTED or changed: {named}" in rendered
    parse_config(rendered, "devproxy.yaml", Path("/"))


def test_imported_paths_that_would_not_load_are_named_not_written() -> None:
    # Two keys for one prefix, a path with a space, and one YAML would misread unquoted.
    conf = {"/api": "http://h:1", "/api/": "http://h:2", "^/api/.*": "http://h:3",
            "/a b": "http://h:4", "/x:y": "http://h:5", "/café": "http://h:6",
            "/b!": "http://h:7", "/b%21": "http://h:8"}  # one path spelled twice
    imported = import_config("proxy.conf.json", json.dumps(conf))
    config = parse_config(render_imported(imported), "devproxy.yaml", Path("/"))
    assert [(r.path, r.target.port) for r in config.routes if r.target] == [
        ("/api", 1), ("/x:y", 5), ("/caf%C3%A9", 6), ("/b!", 7), ("/", 4200)]
    text = "\n".join(imported.warnings)
    assert text.count("the same prefix as /api, imported above") == 2
    assert "/a b: not imported: a route path cannot hold white space" in text
    assert "/b%21: the same prefix as /b!, imported above" in text


def test_values_the_loader_would_refuse_are_named_not_written() -> None:
    # init used to write them and then fail with "please report this", blaming itself.
    conf = {"/api": {"target": "localhost:3000"},
            "/b": {"target": "http://h:1", "pathRewrite": {"(": "", "^/b/x": "/y"},
                   "headers": {"X Bad": "1", "X-Split": "a\nb", "X-Ok": "1"}}}
    imported = import_config("proxy.conf.json", json.dumps(conf))
    config = parse_config(render_imported(imported), "devproxy.yaml", Path("/"))
    [b, _] = config.routes
    assert b.path == "/b" and [r.source for r in b.rewrite] == ["/y"]
    assert b.headers == (("X-Ok", "1"),)
    text = "\n".join(imported.warnings)
    assert "/api: target: expected an http:// or https:// URL" in text
    assert "/b.pathRewrite: invalid regular expression '('" in text
    assert "'X Bad', 'X-Split' not imported" in text
    with pytest.raises(ValueError, match=r'package\.json: "proxy": expected an http'):
        import_config("package.json", json.dumps({"proxy": "foo"}))


def test_rewrites_on_a_target_with_a_base_path_rewrite_the_same_paths() -> None:
    # http-proxy rewrites before the target's path goes in front; devproxy after.
    vite = """export default { server: { proxy: {
      '/api': { target: 'http://localhost:3000/base/',
                rewrite: (p) => p.replace(/^\\/api\\/old/, '/api/new') },
      '/v1': { target: 'http://localhost:3000/b', pathRewrite: { '^/v1/a': '/x', 'z': 'y' } },
    } } }"""
    imported = import_config("vite.config.ts", vite)
    config = parse_config(render_imported(imported), "devproxy.yaml", Path("/"))
    api, v1 = config.routes[:2]
    assert upstream_path(api, "/api/old/1?q") == "/base/api/new/1?q"
    assert upstream_path(api, "/api/other") == "/base/api/other"
    assert upstream_path(v1, "/v1/a/2") == "/b/x/2"
    text = "\n".join(imported.warnings)
    assert "'z' not anchored with ^" in text and "only the first rule that matches" in text


# Seen with Vite 8: /api/hello2 reached 45202 through Vite, 45251 through devproxy.
VITE_SHADOWED = """export default { server: { proxy: {
  '/api': 'http://127.0.0.1:45202',
  '/api/hello2': { target: 'http://127.0.0.1:45251', changeOrigin: true },
} } }"""
SHADOWED_NOTE = ("/api/hello2: Vite tries its proxy entries in order and the first that "
                 "matches wins, so /api/hello2 and all under it go to /api's target "
                 "http://127.0.0.1:45202; devproxy, where the longest matching prefix wins, "
                 "sends them here, to http://127.0.0.1:45251: delete this route to keep "
                 "Vite's routing")


def test_a_route_the_dev_server_never_reaches_is_named_not_silently_given_paths() -> None:
    imported = import_config("vite.config.ts", VITE_SHADOWED)
    assert imported.warnings == [SHADOWED_NOTE]
    text = render_imported(imported)
    assert f"# NOT IMPORTED or changed: {SHADOWED_NOTE}\n" in text
    detected = detect({"package.json": VITE_PACKAGE, "vite.config.ts": VITE_SHADOWED})
    assert f"# NOT IMPORTED or changed: {SHADOWED_NOTE}\n" in render(detected)
    assert SHADOWED_NOTE in summary(detected)[1]


def _proxy(*entries: str) -> str:
    return "export default { server: { proxy: { " + ", ".join(entries) + " } } }"


def _webpack(*entries: str) -> str:
    return "module.exports = { devServer: { proxy: [" + ", ".join(entries) + "] } }"


@pytest.mark.parametrize(("name", "text", "said"), [
    pytest.param("vite.config.ts", _proxy("'/api/v2': 'http://h:2'", "'/api': 'http://h:1'"),
                 [], id="the longer key first: both agree"),
    # Vite's url.startsWith(key): /api takes /api-docs too, when it comes first.
    pytest.param("vite.config.ts", _proxy("'/api': 'http://h:1'", "'/api-docs': 'http://h:2'"),
                 ["/api-docs: Vite tries its proxy entries in order and the first that matches "
                  "wins, and /api matches every path that starts with it, so /api-docs and all "
                  "under it go to /api's target http://h:1; devproxy matches whole path "
                  "segments (/api takes /api and /api/... only), so they come here, to "
                  "http://h:2"], id="a key that starts a later one mid-segment"),
    pytest.param("vite.config.ts", _proxy("'/api-docs': 'http://h:2'", "'/api': 'http://h:1'"),
                 [], id="the same two, the longer first"),
    pytest.param("vite.config.ts", _proxy("'/v1-': 'http://h:1'"),
                 ["/v1-: Vite sends here every path that starts with /v1- (such as /v1-x); "
                  "devproxy matches whole path segments, so this route takes only /v1- and "
                  "what is under /v1-/: add a route for each path it stands for"],
                 id="a key that ends inside a name"),
    pytest.param("vite.config.ts", _proxy("'/api': 'http://h:1'", "'/api/v2': 'http://h:1'"),
                 [], id="the same backend, the same way"),
    pytest.param("vite.config.ts", _proxy("'^/api/.*': 'http://h:1'", "'/api/v2': 'http://h:2'"),
                 ["^/api/.*: a regular expression key, imported as the prefix /api",
                  "/api/v2: Vite tries its proxy entries in order"], id="after a regex key"),
    pytest.param("vite.config.ts", _proxy("'/api': 'http://h:1'", "'/api/v1': 'http://h:2'",
                                          "'/api/v1/x': 'http://h:3'"),
                 ["/api/v1: Vite tries", "/api/v1/x: Vite tries its proxy entries in order "
                  "and the first that matches wins, so /api/v1/x and all under it go to "
                  "/api's target http://h:1; devproxy, where the longest matching prefix "
                  "wins, sends them here, to http://h:3\n"], id="deleting one is not enough"),
    # http-proxy-middleware: one middleware per entry, pathname.indexOf(context) === 0.
    pytest.param("webpack.config.js",
                 _webpack("{ context: ['/api'], target: 'http://h:1' }",
                          "{ context: ['/api/v2'], target: 'http://h:2' }"),
                 ["/api/v2: webpack-dev-server tries its proxy entries in order and the first "
                  "that matches wins, so /api/v2 and all under it go to /api's target "
                  "http://h:1"], id="webpack"),
    pytest.param("webpack.config.js",
                 _webpack("{ context: ['/api', '/api/v2'], target: 'http://h:1' }"),
                 [], id="one webpack entry's contexts"),
    pytest.param("webpack.config.js",
                 _webpack("{ context: ['/api/**'], target: 'http://h:1' }",
                          "{ context: ['/api-docs/**'], target: 'http://h:3' }",
                          "{ context: ['/api/v2/**'], target: 'http://h:2' }"),
                 ["/api/v2/**: webpack-dev-server tries its proxy entries in order and the "
                  "first that matches wins, so /api/v2 and all under it go to /api/**'s"],
                 id="globs match whole segments"),
    pytest.param("proxy.conf.json", json.dumps({"/api": {"target": "http://h:1"},
                                                "/api/v2": {"target": "http://h:2"}}),
                 ["/api/v2: Angular tries its proxy entries in order"], id="angular"),
])
def test_where_the_dev_server_and_devproxy_route_a_path_apart_is_named(
        name: str, text: str, said: list[str]) -> None:
    # The dev servers send a path to the first entry that matches it; devproxy to the
    # longest whole-segment prefix, in any order.
    imported = import_config(name, text)
    warnings = "\n".join(imported.warnings) + "\n"
    assert [s for s in said if s not in warnings] == []
    assert len(imported.warnings) == len(said)
    parse_config(render_imported(imported), "devproxy.yaml", Path("/"))


@pytest.mark.parametrize(("name", "text", "message"), [
    ("vite.config.ts", "export default {}", "no server.proxy found"),
    ("vite.config.ts", "export default { server: { proxy: makeProxy() } }", "computed"),
    ("package.json", "{}", "no \"proxy\" field"),
    ("proxy.conf.json", "{nope", "not valid JSON"),
    ("rollup.config.js", "", "devproxy imports"),
    # Any .json was read as Angular's, and tsconfig.json gave notes of nonsense, exit 0.
    ("tsconfig.json", json.dumps({"compilerOptions": {"target": "es2022"},
                                  "files": ["src/main.ts"]}),
     r'tsconfig\.json: not a proxy config \(its keys: "compilerOptions", "files"\)'),
    (".eslintrc.json", json.dumps({"root": True, "rules": {}}), "not a proxy config"),
    ("data.json", "[1, 2]", "not a proxy config"),
    ("proxy.conf.json", "{}", "an empty proxy config"),
])
def test_unreadable_imports_say_why(name: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        import_config(name, text)


@pytest.mark.parametrize(("files", "frontend", "backend"), [
    ({"package.json": json.dumps({"devDependencies": {"vite": "^8"}}),
      "requirements.txt": "fastapi==0.115\nuvicorn"}, ("Vite", 5173), ("FastAPI", 8000)),
    ({"package.json": json.dumps({"devDependencies": {"vite": "^8"}}),
      "vite.config.ts": "export default { server: { port: 3001 } }", "manage.py": ""},
     ("Vite", 3001), ("Django", 8000)),
    ({"package.json": json.dumps({"devDependencies": {"vite": "^8"}}),
      "vite.config.ts": "export default { server: { hmr: { port: 24678 }, port: 3002 } }"},
     ("Vite", 3002), None),
    ({"package.json": json.dumps({"devDependencies": {"vite": "^8"}}),
      "vite.config.ts": "export default { server: { hmr: { port: 24678 } } }"},
     ("Vite", 5173), None),
    ({"package.json": json.dumps({"dependencies": {"@angular/core": "19"}}),
      "pyproject.toml": "dependencies = ['flask>=3']"}, ("Angular", 4200), ("Flask", 5000)),
    ({"package.json": json.dumps({"dependencies": {"react-scripts": "5", "express": "4"}})},
     ("Create React App", 3000), ("Express", 3000)),
    ({"Gemfile": "gem 'rails', '~> 8.0'"}, None, ("Rails", 3000)),
    # webpack's default port is devproxy's: devproxy moves aside, never loops to itself.
    ({"package.json": json.dumps({"devDependencies": {"webpack-dev-server": "5"}})},
     ("webpack", 8080), None),
    ({"package.json": json.dumps({"devDependencies": {"webpack-dev-server": "5"}}),
      "webpack.config.js": "module.exports = { devServer: { port: 9000, client: { "
                           "webSocketURL: { port: 1 } } } }"}, ("webpack", 9000), None),
    ({}, None, None),
])
def test_detect_and_render_a_config_that_loads(files, frontend, backend) -> None:
    detected = detect(files)
    assert (detected.frontend.name, detected.frontend.port) == frontend if frontend \
        else detected.frontend is None
    assert (detected.backend.name, detected.backend.port) == backend if backend \
        else detected.backend is None
    text = render(detected)
    config = parse_config(text, "devproxy.yaml", Path("/"))
    targets = {r.path: r.target.port for r in config.routes if r.target}
    if frontend:
        assert targets["/"] == frontend[1]
    if backend:
        assert targets["/api"] == backend[1]
    if frontend and backend and frontend[1] == backend[1]:
        assert "both use port" in text
    assert config.listen.port not in targets.values()
    assert f"open http://127.0.0.1:{config.listen.port} instead" in text


VITE_PACKAGE = json.dumps({"scripts": {"dev": "vite"}, "devDependencies": {"vite": "^8"}})


@pytest.mark.parametrize(("config", "https"), [
    ("export default { server: { port: 44175, https: { key: fs.readFileSync('k.pem'), "
     "cert: fs.readFileSync('c.pem') } } }", True),
    ("import basicSsl from '@vitejs/plugin-basic-ssl'\n"
     "export default defineConfig({ plugins: [basicSsl()], server: { port: 44175 } })", True),
    ("import mkcert from 'vite-plugin-mkcert'\n"
     "export default { plugins: [mkcert()], server: { port: 44175 } }", True),
    ("export default { server: { port: 44175, https: true } }", True),
    ("export default { server: { port: 44175, https: false } }", False),
    ("export default { server: { port: 44175 } }", False),
])
def test_a_vite_that_serves_https_gets_an_https_target_it_can_reach(config: str,
                                                                     https: bool) -> None:
    # An http:// target for an HTTPS Vite loaded, passed `devproxy check`, and could
    # only ever 502 ("it speaks HTTPS on that port").
    for text in (render(detect({"package.json": VITE_PACKAGE, "vite.config.ts": config})),
                 render_imported(import_config("vite.config.ts", config.replace(
                     "server: {", "server: { proxy: { '/api': 'http://localhost:3000' }, ")))):
        route = {r.path: r for r in parse_config(text, "devproxy.yaml", Path("/")).routes}["/"]
        assert route.target is not None
        assert (route.target.scheme, route.target.port, route.secure) == \
            (("https", 44175, False) if https else ("http", 44175, True))


def test_a_config_named_by_dash_dash_config_is_read_whole() -> None:
    # Its port was read, its proxy was not ("devproxy imports vite.config.*"), and
    # --from refused it: a split dev config is a common layout.
    dev = ("export default { server: { port: 44192, proxy: { '/graphql': "
           "{ target: 'http://127.0.0.1:44310', ws: true } } } }")
    files = {"package.json": json.dumps({"scripts": {"dev": "vite --config config/vite.dev.ts"},
                                         "devDependencies": {"vite": "^8"}}),
             "config/vite.dev.ts": dev}
    for text in (render(detect(files)), render_imported(import_config("vite.dev.ts", dev))):
        targets = {r.path: str(r.target) for r in
                   parse_config(text, "devproxy.yaml", Path("/")).routes if r.target}
        assert targets == {"/graphql": "http://127.0.0.1:44310",
                           "/": "http://localhost:44192"}, text
    assert import_config("webpack.dev.js", "module.exports = { devServer: { port: 9000, "
                         "proxy: { '/api': 'http://localhost:3000' } } }").frontend_port == 9000
    with pytest.raises(ValueError, match=r"vite\.svg: devproxy imports"):
        import_config("vite.svg", "<svg/>")


@pytest.mark.parametrize(("dependency", "api_port"), [
    ("next", None),  # Next answers /api itself: no route may take it
    ("nuxt", None),  # and so does Nuxt, from server/api
    ("react-scripts", 8000),  # CRA is on 3000: the placeholder API is not
    # Seen with SvelteKit 2, Astro and Remix: each serves /api from its own routes, which
    # a placeholder route to port 3000 hid behind a 502.
    ("@remix-run/dev", None),
    ("@sveltejs/kit", None),
    ("vite", 3000),
    ("astro", None),
])
def test_without_a_backend_the_api_placeholder_never_takes_the_frontends_place(
        dependency: str, api_port: int | None) -> None:
    deps = {dependency: "1", **({"vite": "7"} if dependency == "@sveltejs/kit" else {})}
    text = render(detect({"package.json": json.dumps({"dependencies": deps})}))
    config = parse_config(text, "devproxy.yaml", Path("/"))
    targets = {r.path: r.target.port for r in config.routes if r.target}
    assert targets.get("/api") == api_port
    assert targets["/"] != api_port
    if api_port is None:
        assert "answers /api itself" in text


@pytest.mark.parametrize("text", [
    pytest.param(render(detect({})), id="template"),
    pytest.param(render_imported(import_config("vite.config.ts", VITE)), id="--from"),
])
def test_the_written_file_points_at_a_reference_a_pip_install_has(text: str) -> None:
    # devproxy.yaml.example is in devproxy's source tree, not in a pip install nor in
    # the user's project.
    assert "`devproxy check` validates\n# this file; `devproxy schema` describes every key." \
        in text
    assert "devproxy.yaml.example" not in text


def test_no_message_of_devproxy_names_a_file_only_its_source_tree_has() -> None:
    package = Path(__file__).resolve().parent.parent / "devproxy"
    said = [path.name for path in package.rglob("*") if path.is_file()
            and "__pycache__" not in path.parts
            and "devproxy.yaml.example" in path.read_text(errors="replace")]
    assert said == []


def test_init_for_next_js_says_to_open_localhost() -> None:
    # Seen with Next.js 16: at http://127.0.0.1:PORT its HMR socket, fonts and error
    # overlay are refused, and the page never comes alive; at localhost all work.
    package = json.dumps({"scripts": {"dev": "next dev -p 37300"},
                          "dependencies": {"next": "16"}})
    text = render(detect({"package.json": package}))
    assert "then open http://localhost:8080 instead of your dev server's URL" in text
    assert "needs allowedDevOrigins: ['127.0.0.1']" in text
    # It listens on localhost, so `devproxy up` prints the URL where the page works.
    listen = parse_config(text, "devproxy.yaml", Path("/")).listen
    assert (listen.host, listen.port) == ("localhost", 8080)
    assert listen.url(listen.port) == "http://localhost:8080"
    vite = render(detect({"package.json": VITE_PACKAGE}))
    assert "then open http://127.0.0.1:" in vite and "allowedDevOrigins" not in vite


@pytest.mark.parametrize(("dependency", "told"), [
    ("webpack-dev-server", "webSocketURL: 'auto://0.0.0.0:0/ws'"),
    ("react-scripts", "WDS_SOCKET_PORT=0"),
])
def test_a_webpack_project_is_told_how_to_send_its_hmr_socket_through_devproxy(
        dependency: str, told: str) -> None:
    # webpack-dev-server aims its client's socket at devServer.host/port when set (CRA
    # sets them), which bypasses any proxy; port 0 makes it the page's own.
    text = render(detect({"package.json": json.dumps({"devDependencies": {dependency: "5"}})}))
    assert told in text


@pytest.mark.parametrize(("config", "said"), [
    ("export default { server: { port: 5175 } }",
     "its HMR WebSocket goes through devproxy too"),
    # Its client then connects to that port itself: the socket never reaches devproxy.
    ("export default defineConfig({ server: { hmr: { port: 24679 } } })",
     "Its HMR WebSocket does not go through devproxy: vite.config.ts sets "
     "server.hmr.port: 24679."),
    # clientPort is where Vite's client expects a proxy: devproxy listens there.
    ("export default { server: { hmr: { clientPort: 8443 } } }",
     "devproxy listens on 8443, the port its server.hmr.clientPort names"),
    # Not a privileged one (an HTTPS proxy's 443), nor with another host or wss.
    ("export default { server: { hmr: { clientPort: 443 } } }",
     "does not go through devproxy: vite.config.ts sets server.hmr.clientPort: 443."),
    ("export default { server: { hmr: { clientPort: 8444, host: 'app.test' } } }",
     "does not go through devproxy: vite.config.ts sets server.hmr.clientPort: 8444."),
    ("export default { server: { hmr: { clientPort: 8445, protocol: 'wss' } } }",
     "does not go through devproxy: vite.config.ts sets server.hmr.clientPort: 8445."),
    ("export default { server: { hmr: { host: 'localhost', protocol: 'wss' } } }",
     "does not go through devproxy: vite.config.ts sets server.hmr.host: \"localhost\"."),
    # One devproxy cannot take (the frontend's own): said as a detour.
    ("export default { server: { port: 5173, hmr: { clientPort: 5173 } } }",
     "does not go through devproxy: vite.config.ts sets server.hmr.clientPort: 5173."),
    # The client reads clientPort before port.
    ("export default { server: { hmr: { port: 24678, clientPort: 'x' + 1 } } }",
     "sets server.hmr.clientPort: 'x' + 1."),
    ("export default { server: { hmr: { host: 'dev.local' } } }",
     "HMR WebSocket to server.hmr.host (\"dev.local\") at the page's port"),
    ("export default { server: { hmr: { port: Number(process.env.HMR_PORT) } } }",
     "sets server.hmr.port: Number(process.env.HMR_PORT)."),
    ("export default { server: { hmr: false } }",
     "HMR is off: vite.config.ts sets server.hmr: false."),
    # A path or an overlay setting keeps the socket on the page's origin.
    ("export default { server: { hmr: { path: '/hmr', overlay: false } } }",
     "its HMR WebSocket goes through devproxy too"),
])
def test_init_says_where_a_vites_hmr_socket_goes(config: str, said: str) -> None:
    text = render(detect({"package.json": VITE_PACKAGE, "vite.config.ts": config}))
    assert said in text
    listen = parse_config(text, "devproxy.yaml", Path("/")).listen.port
    assert (listen == 8443) is ("clientPort: 8443" in config)


@pytest.mark.parametrize(("dependency", "name"), [
    ("@sveltejs/kit", "SvelteKit"), ("@remix-run/dev", "Remix")])
def test_a_framework_on_vite_is_told_where_its_hmr_socket_goes(dependency: str,
                                                                name: str) -> None:
    # They run Vite, and read its server.hmr from vite.config: it had gone unread.
    package = json.dumps({"scripts": {"dev": "vite dev"},
                          "devDependencies": {dependency: "2", "vite": "6"}})
    config = "export default defineConfig({ server: { hmr: { port: 24679 } } })"
    text = render(detect({"package.json": package, "vite.config.ts": config}))
    assert f"# {name} dev server (found:" in text
    assert "Its HMR WebSocket does not go through devproxy: vite.config.ts sets " \
        "server.hmr.port: 24679." in text


def test_a_vite_socket_aimed_at_devproxy_is_said_to_be_by_vites_own_setting() -> None:
    # Seen with Vite 8: the comment named webpack-dev-server's client.webSocketURL.
    config = "export default { server: { hmr: { clientPort: 45213 } } }"
    text = render(detect({"package.json": VITE_PACKAGE, "vite.config.ts": config}))
    assert "(its config's server.hmr.clientPort already aims it at devproxy, the page's " \
        "origin.)" in text
    assert "webSocketURL" not in text
    assert parse_config(text, "devproxy.yaml", Path("/")).listen.port == 45213


@pytest.mark.parametrize(("host", "said"), [
    pytest.param("'localhost'", "to server.hmr.host (\"localhost\") at the page's port:\n"
                 "  # for a page opened through devproxy, localhost:8080, devproxy itself: it "
                 "goes through devproxy too.\n", id="localhost"),
    pytest.param("'127.0.0.1'", "127.0.0.1:8080, devproxy itself", id="127.0.0.1"),
    pytest.param("'dev.local'", "for a page opened through devproxy, dev.local:8080, which is "
                 "devproxy when the page is opened at http://dev.local:8080,\n  # and bypasses "
                 "devproxy when dev.local is another machine.\n", id="another name"),
    pytest.param("process.env.HMR_HOST", "to server.hmr.host (process.env.HMR_HOST) at the "
                 "page's port:\n  # for a page opened through devproxy, port 8080 of that host, "
                 "which is devproxy only if that host is this machine.\n", id="computed"),
])
def test_a_vite_hmr_host_is_said_to_be_reached_at_the_pages_port(host: str, said: str) -> None:
    # Seen with Vite 8: with server.hmr.host 'localhost' and no clientPort the socket went
    # through devproxy (ws://localhost:PORT/?token=...), and HMR worked; init said it went
    # to another host, and --from that it did not go through devproxy.
    config = (f"export default {{ server: {{ hmr: {{ host: {host} }}, proxy: {{ '/api': "
              f"'http://localhost:3000' }} }} }}")
    plain = render(detect({"package.json": VITE_PACKAGE, "vite.config.ts": config}))
    imported = render_imported(import_config("vite.config.ts", config))
    for text in (plain, imported):
        assert said in text
        assert "not go through devproxy" not in text and "another host" not in text
        assert parse_config(text, "devproxy.yaml", Path("/")).listen.port == 8080


WEBPACK_PACKAGE = json.dumps({"scripts": {"start": "webpack serve"},
                              "devDependencies": {"webpack-dev-server": "5"}})


@pytest.mark.parametrize(("config", "said", "unsaid"), [
    ("module.exports = { devServer: { port: 9000 } }",
     "webpack.config needs devServer: { client: { webSocketURL: 'auto://0.0.0.0:0/ws' } }",
     "already"),
    # Already aimed at the page's own origin: no advice to add what is there.
    ("module.exports = { devServer: { port: 9000, client: { webSocketURL: "
     "'auto://0.0.0.0:0/ws' } } }", "already aims it at devproxy, the page's origin", "needs"),
    ("module.exports = { devServer: { client: { webSocketURL: { port: 0 } } } }",
     "already aims it at devproxy, the page's origin", "needs"),
    # Aimed at the dev server's own port: said, with the setting that sends it through
    # devproxy.
    ("module.exports = { devServer: { port: 9000, client: { webSocketURL: "
     "'ws://localhost:9000/ws' } } }",
     "does not go through devproxy: webpack.config.js sets devServer.client.webSocketURL: "
     "\"ws://localhost:9000/ws\"", "already"),
    ("module.exports = { devServer: { client: { webSocketURL: 'wss://localhost:9001/ws' } } }",
     "does not go through devproxy", "already"),
    ("module.exports = { devServer: { client: { webSocketURL: 'ws://app.test:9001/ws' } } }",
     "does not go through devproxy", "already"),
    # Aimed at another port of this machine, where devproxy can listen, as Vite's
    # clientPort: it does (seen with webpack-dev-server 5.2 in Chromium).
    ("module.exports = { devServer: { port: 9000, client: { webSocketURL: "
     "'ws://127.0.0.1:8080/ws' } } }",
     "devproxy listens on 8080, the port its devServer.client.webSocketURL names", "needs"),
    ("module.exports = { devServer: { client: { webSocketURL: { hostname: 'localhost', "
     "port: '8095' } } } }",
     "devproxy listens on 8095, the port its devServer.client.webSocketURL names", "needs"),
])
def test_init_says_where_a_webpack_hmr_socket_goes(config: str, said: str, unsaid: str) -> None:
    text = render(detect({"package.json": WEBPACK_PACKAGE, "webpack.config.js": config}))
    assert said in text and unsaid not in text
    listen = parse_config(text, "devproxy.yaml", Path("/")).listen.port
    assert (f"devproxy listens on {listen}," in text) is ("devproxy listens on" in said)


def test_init_from_a_webpack_config_listens_where_its_socket_url_says() -> None:
    config = ("module.exports = { devServer: { port: 9000, client: { webSocketURL: "
              "'ws://localhost:8090/ws' }, proxy: [{ context: ['/api'], "
              "target: 'http://localhost:3000' }] } }")
    text = render_imported(import_config("webpack.config.js", config))
    assert parse_config(text, "devproxy.yaml", Path("/")).listen.port == 8090
    assert "Its HMR WebSocket goes through devproxy, which listens on 8090, the port its " \
        "devServer.client.webSocketURL names" in text


# Seen with webpack-dev-server 5.2: what `devproxy init` read wrong.
@pytest.mark.parametrize(("config", "port", "route"), [
    # A shorthand property, the object declared above.
    ("const devServer = {\n  port: 41161,\n  proxy: [{ context: ['/graphql'], target: "
     "'http://localhost:41300' }],\n};\nmodule.exports = { mode: 'development', devServer };\n",
     41161, "/graphql"),
    # A variable's name as the value, at each level.
    ("const rules = [{ context: ['/graphql'], target: 'http://localhost:41300' }];\n"
     "const server = { port: 41162, proxy: rules };\n"
     "module.exports = { devServer: server };\n", 41162, "/graphql"),
    # A port named by a constant declared above, or by the shorthand { port }.
    ("const PORT = 41165;\nmodule.exports = { devServer: { port: PORT } };", 41165, None),
    ("const port = 41166;\nmodule.exports = { devServer: { port } };", 41166, None),
    # webpack-dev-server takes a port as a string too.
    ("module.exports = { devServer: { port: '41163' } };", 41163, None),
    ("module.exports = { devServer: { port: `41164` } };", 41164, None),
])
def test_init_reads_a_webpack_config_as_webpack_does(config: str, port: int,
                                                      route: str | None) -> None:
    files = {"package.json": WEBPACK_PACKAGE, "webpack.config.js": config}
    loaded = parse_config(render(detect(files)), "devproxy.yaml", Path("/"))
    targets = {r.path: r.target.port for r in loaded.routes if r.target is not None}
    assert targets["/"] == port
    if route is not None:
        assert targets[route] == 41300
        imported = import_config("webpack.config.js", config)
        assert imported.frontend_port == port
        assert [r.path for r in imported.routes] == [route]


# Seen with webpack-dev-server 5: init read nothing of it, and wrote webpack's defaults.
MULTI_COMPILER = """module.exports = [{
  name: 'client',
  devServer: {
    port: 45271, host: '127.0.0.1',
    client: { webSocketURL: 'auto://0.0.0.0:0/ws' },
    proxy: [{ context: ['/api'], target: 'http://127.0.0.1:45202' }],
  },
}, { name: 'worker', target: 'webworker' }];"""
MULTI_COMPILER_NOTE = ("webpack.config.js: it exports an array of 2 configs (webpack's "
                       "multi-compiler form): read the devServer of element [0] (name: "
                       "\"client\"), the first that has one, as webpack-cli serves it")


def test_init_reads_the_dev_server_a_multi_compiler_webpack_config_serves() -> None:
    text = render(detect({"package.json": WEBPACK_PACKAGE, "webpack.config.js": MULTI_COMPILER}))
    config = parse_config(text, "devproxy.yaml", Path("/"))
    assert {r.path: r.target.url for r in config.routes if r.target} == {
        "/api": "http://127.0.0.1:45202", "/": "http://localhost:45271"}
    assert config.listen.port == 8080  # webpack's 8080 is not taken
    assert "already aims it at devproxy" in text and "needs devServer" not in text
    assert f"# NOTE: {MULTI_COMPILER_NOTE}\n" in text


def test_init_from_a_multi_compiler_webpack_config_imports_its_dev_servers_proxy() -> None:
    imported = import_config("webpack.config.js", MULTI_COMPILER)
    assert [(r.path, r.target) for r in imported.routes] == [("/api",
                                                              "http://127.0.0.1:45202")]
    assert imported.frontend_port == 45271
    assert imported.warnings == [MULTI_COMPILER_NOTE]
    text = render_imported(imported)
    assert "webSocketURL" not in text  # already set: no advice to set it
    assert parse_config(text, "devproxy.yaml", Path("/")).listen.port == 8080


def test_the_other_dev_servers_of_a_multi_compiler_config_are_named() -> None:
    # webpack-cli starts a dev server for each compiler that has a devServer.
    config = ("const admin = { name: 'admin', devServer: { port: 9001 } };\n"
              "module.exports = [{ name: 'worker' }, { devServer: { port: 9000, proxy: "
              "[{ context: ['/api'], target: 'http://localhost:3000' }] } }, admin, "
              "makeConfig()];")
    [note] = import_config("webpack.config.js", config).warnings
    assert note == ("webpack.config.js: it exports an array of 4 configs (webpack's "
                    "multi-compiler form): read the devServer of element [1], the first that "
                    "has one, as webpack-cli serves it; [2] (name: \"admin\") has a devServer "
                    "too, which webpack-cli also starts: not read, add what it serves by hand; "
                    "[3] is not a literal object: not read, and if it has a devServer, "
                    "webpack-cli starts that too")


def test_init_names_a_port_webpack_picks_itself() -> None:
    text = render(detect({"package.json": WEBPACK_PACKAGE,
                          "webpack.config.js": "module.exports = { devServer: { port: 'auto' } }"}))
    assert 'NOTE: webpack.config.js: devServer.port: "auto" is computed' in text


def test_init_from_a_vite_config_listens_where_its_hmr_client_port_says() -> None:
    # As plain init does: --from agrees.
    config = ("export default { server: { hmr: { clientPort: 8446 }, proxy: { '/api': "
              "'http://localhost:3000' } } }")
    text = render_imported(import_config("vite.config.ts", config))
    assert parse_config(text, "devproxy.yaml", Path("/")).listen.port == 8446
    assert "Its HMR WebSocket goes through devproxy, which listens on 8446, the port its " \
        "server.hmr.clientPort names" in text


@pytest.mark.parametrize(("client", "said"), [
    ("", "For its HMR WebSocket to go through devproxy, set devServer: { client: { "
         "webSocketURL: 'auto://0.0.0.0:0/ws' } }."),
    ("client: { webSocketURL: 'auto://0.0.0.0:0/ws' }, ", ""),
    # The dev server's own port (8080, its default): past devproxy.
    ("client: { webSocketURL: 'ws://0.0.0.0:8080/ws' }, ",
     "Its HMR WebSocket does not go through devproxy: devServer.client.webSocketURL: "
     "\"ws://0.0.0.0:8080/ws\""),
    # Another port of the page's host: devproxy listens there.
    ("client: { webSocketURL: 'ws://0.0.0.0:9000/ws' }, ",
     "Its HMR WebSocket goes through devproxy, which listens on 9000"),
])
def test_init_from_a_webpack_config_says_where_its_hmr_socket_goes(client: str,
                                                                  said: str) -> None:
    config = (f"module.exports = {{ devServer: {{ {client}proxy: [{{ context: ['/api'], "
              f"target: 'http://localhost:3000' }}] }} }}")
    text = render_imported(import_config("webpack.config.js", config))
    if said:
        assert said in text
    else:
        assert "HMR" not in text
    parse_config(text, "devproxy.yaml", Path("/"))


@pytest.mark.parametrize("server", ["server: 'https'", "server: { type: 'https' }",
                                    "https: true"])
def test_a_webpack_dev_server_on_https_gets_an_https_target(server: str) -> None:
    # webpack-dev-server 5's server option (4's https): an http:// target got a 502.
    config = f"module.exports = {{ devServer: {{ port: 9443, {server} }} }}"
    text = render(detect({"package.json": WEBPACK_PACKAGE, "webpack.config.js": config}))
    routes = parse_config(text, "devproxy.yaml", Path("/")).routes
    [front] = [r for r in routes if r.path == "/"]
    assert front.target is not None and front.target.url == "https://localhost:9443"
    assert front.secure is False


def angular_json(serve_options: dict[str, object]) -> str:
    return json.dumps({"projects": {"app": {"architect": {"serve": {
        "options": serve_options}}}}})


OWN_PROXIES = [
    pytest.param({"package.json": json.dumps({"devDependencies": {"vite": "8"},
                                              "scripts": {"dev": "vite --port 4000"}}),
                  "vite.config.ts": VITE}, "vite.config.ts", 4000,
                 {"/foo", "/api", "/v1", "/fallback", "/socket.io", "/custom"}, id="vite"),
    pytest.param({"web/package.json": json.dumps({"dependencies": {"react-scripts": "5"},
                                                  "proxy": "http://localhost:5000"}),
                  "web/.env": "PORT=4700\n"}, "web/package.json", 4700, {"/api"},
                 id="create react app"),
    pytest.param({"package.json": json.dumps({"dependencies": {"@angular/core": "19"}}),
                  "angular.json": angular_json({"port": 4400,
                                                "proxyConfig": "src/proxy.conf.json"}),
                  "src/proxy.conf.json": json.dumps({"/api/**": {
                      "target": "http://localhost:8000", "secure": False}})},
                 "src/proxy.conf.json", 4400, {"/api"}, id="angular"),
    pytest.param({"package.json": json.dumps({"devDependencies": {"webpack-dev-server": "5"}}),
                  "webpack.config.js": "module.exports = { devServer: { port: 9000, proxy: "
                                       "[{ context: ['/api', '/auth'], target: "
                                       "'http://localhost:3000' }] } }"},
                 "webpack.config.js", 9000, {"/api", "/auth"}, id="webpack"),
]


@pytest.mark.parametrize(("files", "source", "port", "paths"), OWN_PROXIES)
def test_plain_init_imports_the_dev_servers_own_proxy(files: dict[str, str], source: str,
                                                      port: int, paths: set[str]) -> None:
    # As `init --from` would import it, with the dev server found on / (its port from
    # wherever the tool reads it, not only from the file the proxy is in).
    detected = detect({**files, "manage.py": ""})  # a backend the proxy already routes?
    text = render(detected)
    config = parse_config(text, "devproxy.yaml", Path("/"))
    routes = {r.path: r.target.port for r in config.routes if r.target}
    assert set(routes) == paths | {"/"}
    assert routes["/"] == port
    assert f"# From {source}, the dev server's own proxy" in text
    assert f"`devproxy init --from {source}` imports" in text
    found, _ = summary(detected)
    assert found.endswith(f"{len(paths)} route(s) from {source}")
    assert "Django" not in found  # the proxy's routes stand for the backend guess


def test_what_the_own_proxy_loses_is_written_and_printed() -> None:
    detected = detect({"package.json": json.dumps({"devDependencies": {"vite": "8"}}),
                       "vite.config.ts": VITE})
    assert "# NOT IMPORTED or changed: /custom.configure" in render(detected)
    assert any(w.startswith("/custom.configure") for w in summary(detected)[1])


def test_a_backend_the_own_proxy_does_not_reach_is_named() -> None:
    detected = detect({"package.json": json.dumps({"devDependencies": {"vite": "8"}}),
                       "vite.config.ts": "export default { server: { proxy: { '/graphql': "
                                         "'http://localhost:4000' } } }",
                       "backend/requirements.txt": "fastapi",
                       "backend/main.py": "uvicorn.run(app, port=8000)"})
    assert detected.notes == ("FastAPI (found: fastapi in the Python dependencies; port from "
                              "uvicorn.run(port=8000) in backend/main.py) gets no route: "
                              "vite.config.ts sends nothing to port 8000; add a route if the "
                              "browser calls it",)
    config = parse_config(render(detected), "devproxy.yaml", Path("/"))
    assert [r.path for r in config.routes] == ["/graphql", "/"]


VITE_TO = "export default {{ server: {{ proxy: {{ '/api': {{ target: '{}' }} }} }} }}"


@pytest.mark.parametrize(("backend", "target"), [
    # Express's port is set by its own listen(), which init does not read.
    pytest.param({"server/package.json": json.dumps({"dependencies": {"express": "5"}})},
                 "http://localhost:47110", id="express"),
    # uvicorn --port 47120 where init does not look (a Makefile, a README).
    pytest.param({"requirements.txt": "fastapi\nuvicorn"}, "http://127.0.0.1:47120",
                 id="fastapi"),
    pytest.param({"requirements.txt": "fastapi"}, "http://0.0.0.0:47120", id="0.0.0.0"),
    pytest.param({"requirements.txt": "fastapi"}, "http://[::1]:47120", id="::1"),
])
def test_a_backend_whose_port_is_a_guess_is_not_said_to_get_nothing(
        backend: dict[str, str], target: str) -> None:
    # The imported route to this machine may well be the backend: its port is unknown,
    # so the proxy not naming the guessed port says nothing.
    detected = detect({"package.json": json.dumps({"devDependencies": {"vite": "8"}}),
                       "vite.config.ts": VITE_TO.format(target), **backend})
    assert detected.notes == ()
    assert "sends nothing" not in render(detected)


def test_a_guessed_backend_beside_routes_to_other_machines_is_named_with_their_origins(
        ) -> None:
    # Those hosts may be the backend (a compose service name) or not: init says so,
    # and states no port of it as fact.
    detected = detect({"package.json": json.dumps({"devDependencies": {"vite": "8"}}),
                       "vite.config.ts": "export default { server: { proxy: { "
                                         "'/api': 'http://backend:8001', '/ext': "
                                         "'https://api.example.com', '/self': "
                                         "'http://localhost:5173' } } }",
                       "server/package.json": json.dumps({"dependencies": {"koa": "2"}})})
    assert detected.notes == ("Koa (found: koa in server/package.json) listens on a port "
                              "devproxy could not read; the routes from vite.config.ts go to "
                              "http://backend:8001, https://api.example.com, "
                              "http://localhost:5173: if none of them is Koa, add a route to "
                              "the port it listens on",)
    text = render(detected)
    assert "port 3000" not in text and "sends nothing" not in text


@pytest.mark.parametrize(("files", "note"), [
    pytest.param({"vite.config.ts": "export default { server: { proxy: makeProxy() } }"},
                 "found a proxy in vite.config.ts, not imported: server.proxy is computed "
                 "(makeProxy()), not a literal object; write the routes by hand",
                 id="computed"),
    pytest.param({"package.json": json.dumps({"dependencies": {"@angular/core": "19"},
                                              "scripts": {"start": "ng serve "
                                                          "--proxy-config proxy.conf.js"}}),
                  "proxy.conf.js": "module.exports = {}"},
                 "found a proxy in proxy.conf.js, not imported: devproxy imports "
                 "vite.config.*", id="angular's js form"),
    pytest.param({"package.json": json.dumps({"dependencies": {"@angular/core": "19"}}),
                  "angular.json": angular_json({"proxyConfig": "proxy.conf.json"})},
                 "the proxy config proxy.conf.json is not there", id="named, missing"),
])
def test_an_own_proxy_init_cannot_import_is_named(files: dict[str, str], note: str) -> None:
    files.setdefault("package.json", json.dumps({"devDependencies": {"vite": "8"}}))
    detected = detect(files)
    assert detected.proxy is None
    assert note in "\n".join(detected.notes)
    assert f"# NOTE: {note}" in render(detected)
    parse_config(render(detected), "devproxy.yaml", Path("/"))


@pytest.mark.parametrize(("text", "where"), [
    ("export default { server: { port: 4000, ",
     "the file ends at line 1, column 40, inside the object opened at line 1, column 26"),
    ("export default { server: { port: 4000, a: '/api ",
     "unterminated string from line 1, column 43"),
])
def test_a_half_written_vite_config_is_named_as_cut_short_not_as_a_proxy(
        text: str, where: str) -> None:
    # An IndexError, or "found a proxy in vite.config.js" for a file that sets none.
    detected = detect({"package.json": json.dumps({"devDependencies": {"vite": "8"}}),
                       "vite.config.js": text})
    assert detected.notes == (f"vite.config.js: could not be read to its end: {where}; no "
                              f"proxy imported from it",)
    parse_config(render(detected), "devproxy.yaml", Path("/"))


def test_a_proxy_on_slash_leaves_the_dev_server_without_a_route() -> None:
    detected = detect({"package.json": json.dumps({"devDependencies": {"vite": "8"}}),
                       "vite.config.ts": "export default { server: { proxy: { '/': "
                                         "'http://localhost:3000' } } }"})
    config = parse_config(render(detected), "devproxy.yaml", Path("/"))
    assert [(r.path, r.target.port) for r in config.routes if r.target] == [("/", 3000)]


def test_a_create_react_app_proxy_that_is_not_a_url_is_named() -> None:
    detected = detect({"package.json": json.dumps({"dependencies": {"react-scripts": "5"},
                                                   "proxy": {"/api": {"target": "x"}}})})
    assert detected.notes[0] == ('found a proxy in package.json, not imported: "proxy" is '
                                 'not a URL; Create React App takes one string here')


def test_without_an_own_proxy_init_says_what_it_guessed() -> None:
    detected = detect({"package.json": json.dumps({"devDependencies": {"vite": "8"}}),
                       "manage.py": ""})
    assert summary(detected) == ("Vite on 5173, Django on 8000", [])
    assert summary(detect({})) == ("nothing recognisable: wrote a template", [])


@pytest.mark.parametrize(("named", "read"), [
    ("src/proxy.conf.json", ("src/proxy.conf.json",)),
    ("./src/../proxy.json", ("proxy.json",)),
    ("../outside.json", ()),  # init reads only inside the project
    ("/etc/proxy.json", ()),
])
def test_the_cli_is_told_which_proxy_config_angular_json_names(named: str,
                                                               read: tuple[str, ...]) -> None:
    files = {"package.json": json.dumps({"dependencies": {"@angular/core": "19"}}),
             "angular.json": angular_json({"proxyConfig": named})}
    assert proxy_files(files) == read


@pytest.mark.e2e
@pytest.mark.parametrize("ext", ["js", "mjs", "ts", "cjs", "mts", "cts"])
def test_init_reads_the_port_from_each_name_vite_reads(ext: str, tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"devDependencies": {"vite": "^8"}}))
    (tmp_path / f"vite.config.{ext}").write_text("export default { server: { port: 3001 } }")
    done = subprocess.run([sys.executable, "-m", "devproxy", "init"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Vite on 3001" in done.stdout
    config = parse_config((tmp_path / "devproxy.yaml").read_text(), "devproxy.yaml", tmp_path)
    assert [r.target.port for r in config.routes if r.target and r.path == "/"] == [3001]


@pytest.mark.e2e
def test_init_reads_the_files_that_set_a_dev_servers_port(tmp_path: Path) -> None:
    """.env files (Create React App) and astro.config.* are read, in a project folder."""
    web = tmp_path / "web"
    (web / "src").mkdir(parents=True)
    (web / "package.json").write_text(json.dumps({"dependencies": {"react-scripts": "5"},
                                                  "scripts": {"start": "react-scripts start"}}))
    (web / ".env").write_text("PORT=4700\n")
    (web / ".env.development.local").write_text("PORT=4703\n")
    (web / "src" / "setupProxy.js").write_text("module.exports = function (app) {}")
    done = subprocess.run([sys.executable, "-m", "devproxy", "init"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Create React App on 4703" in done.stdout
    assert "note: web/src/setupProxy.js proxies in the dev server itself" in done.stdout
    written = (tmp_path / "devproxy.yaml").read_text()
    assert "port from PORT=4703 in web/.env.development.local" in written
    (tmp_path / "astro.config.ts").write_text("export default { server: { port: 4323 } }")
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": {"astro": "5"}}))
    done = subprocess.run([sys.executable, "-m", "devproxy", "init", "--force"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert "Astro on 4323" in done.stdout, done.stderr


@pytest.mark.e2e
def test_cli_init_reads_the_proxy_config_angular_json_names(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "package.json").write_text(json.dumps({
        "dependencies": {"@angular/core": "19"}, "scripts": {"start": "ng serve"}}))
    (tmp_path / "angular.json").write_text(angular_json({"proxyConfig": "src/proxy.conf.json",
                                                         "port": 4400}))
    (tmp_path / "src" / "proxy.conf.json").write_text(json.dumps({
        "/api": {"target": "http://localhost:8000", "logLevel": "debug"}}))
    done = subprocess.run([sys.executable, "-m", "devproxy", "init"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Angular on 4400, 1 route(s) from src/proxy.conf.json" in done.stdout
    assert "note: /api.logLevel: not needed" in done.stdout
    config = parse_config((tmp_path / "devproxy.yaml").read_text(), "devproxy.yaml", tmp_path)
    assert [(r.path, r.target.port) for r in config.routes if r.target] == [
        ("/api", 8000), ("/", 4400)]


@pytest.mark.e2e
def test_cli_init_writes_once_and_the_result_passes_check(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"devDependencies": {"vite": "8"}}))
    (tmp_path / "manage.py").write_text("")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devproxy", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    first = run("init")
    assert first.returncode == 0, first.stderr
    assert "Vite on 5173, Django on 8000" in first.stdout
    assert run("check").returncode == 0
    again = run("init")
    assert again.returncode == 1 and "already exists" in again.stderr
    (tmp_path / "vite.config.ts").write_text(VITE)
    forced = run("init", "--from", "vite.config.ts", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "note: /custom.configure" in forced.stdout
    # The count says what was written: the imported routes, and the dev server's own.
    written = parse_config((tmp_path / "devproxy.yaml").read_text(), "devproxy.yaml", tmp_path)
    imported = len(written.routes) - 1
    assert f"{imported} route(s) from vite.config.ts (server.proxy), and / for Vite on 5174" \
        in forced.stdout
    assert run("check").returncode == 0
    (tmp_path / "latin1.json").write_bytes(b'{"/api": {"target": "http://x\xe9"}}')
    latin = run("init", "--from", "latin1.json", "-o", "other.yaml")
    assert latin.returncode == 1
    assert latin.stderr.strip() == ("devproxy: error: latin1.json:1:30: not UTF-8 text "
                                    "(byte 0xe9); save the file as UTF-8")
    (tmp_path / "tsconfig.json").write_text('{"compilerOptions": {"strict": true}}')
    ts = run("init", "--from", "tsconfig.json", "-o", "other.yaml")
    assert ts.returncode == 1 and not (tmp_path / "other.yaml").exists()
    assert ts.stderr.startswith("devproxy: error: tsconfig.json: not a proxy config")
    (tmp_path / "webpack.config.js").write_text("module.exports = { devServer: { port: 4000, ")
    cut = run("init", "--from", "webpack.config.js", "-o", "other.yaml")
    assert cut.returncode == 1 and "Traceback" not in cut.stderr
    assert cut.stderr.strip() == ("devproxy: error: webpack.config.js: could not be read to "
                                  "its end: the file ends at line 1, column 45, inside the "
                                  "object opened at line 1, column 31")
    (tmp_path / "vite.config.ts").write_text("export default { server: { port: 4000, ")
    half = run("init", "-o", "-", "--force")  # as a save is half-way written
    assert half.returncode == 0, half.stderr
    assert "note: vite.config.ts: could not be read to its end" in half.stderr
    nowhere = run("init", "-o", "missing/devproxy.yaml")
    assert nowhere.returncode == 1 and "Traceback" not in nowhere.stderr
    assert nowhere.stderr.strip() == ("devproxy: error: cannot write missing/devproxy.yaml: "
                                      "No such file or directory")


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["vite-fastapi", "vite-express", "react-django",
                                  "static-remote-api"])
def test_init_writes_a_working_config_for_each_example(name: str, tmp_path: Path) -> None:
    """What init guesses in a recipe's folder routes like the recipe's own config."""
    output = tmp_path / "devproxy.yaml"
    done = subprocess.run([sys.executable, "-m", "devproxy", "init", "-o", str(output)],
                          cwd=EXAMPLES / name, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    folder = EXAMPLES / name
    # A written config's relative paths are relative to where it was written.
    guessed = parse_config(output.read_text(), "devproxy.yaml", output.parent)
    wanted = parse_config((folder / "devproxy.yaml").read_text(), "devproxy.yaml", folder)

    def routes(config: Config) -> dict[str, object]:
        return {r.path: (r.target.port if r.target else r.static) for r in config.routes}

    expected = routes(wanted)
    if name == "static-remote-api":  # a remote API can't be guessed from files
        expected.pop("/api")
        assert routes(guessed)["/"] == expected["/"]
    else:
        assert routes(guessed) == expected


def test_options_with_a_devproxy_equivalent_are_imported_not_dropped() -> None:
    vite = """export default defineConfig({ server: { proxy: {
      '/ws': { target: 'http://localhost:4000', ws: true, rewriteWsOrigin: true },
      '/secret': { target: 'http://localhost:4001', auth: 'alice:s3cret' },
      '/both': { target: 'http://h:1', auth: 'a:b', headers: { authorization: 'Bearer t' } },
      '/flat': { target: 'http://localhost:4002/base', prependPath: false,
                 pathRewrite: { '^/flat/a': '/b' } },
    } } })"""
    imported = import_config("vite.config.ts", vite)
    routes = {r.path: r for r in imported.routes}
    assert routes["/ws"].ws_origin == "rewrite"
    assert routes["/secret"].headers == (("Authorization", "Basic YWxpY2U6czNjcmV0"),)
    assert routes["/both"].headers == (("authorization", "Bearer t"),)
    assert routes["/flat"].target == "http://localhost:4002"
    assert routes["/flat"].rewrite == (("^/flat/a", "/b"),)
    text = "\n".join(imported.warnings)
    assert "no devproxy equivalent" not in text
    assert "/secret.auth: written as an Authorization header" in text
    assert "/both.auth: not imported: its headers set Authorization" in text
    rendered = render_imported(imported)
    assert "# A credential: keep this file out of version control." in rendered
    config = parse_config(rendered, "devproxy.yaml", Path("/"))
    by_path = {r.path: r for r in config.routes}
    assert by_path["/ws"].ws_origin == "rewrite"
    assert by_path["/secret"].headers == (("Authorization", "Basic YWxpY2U6czNjcmV0"),)
    assert upstream_path(by_path["/flat"], "/flat/a/1") == "/b/1"


VUE_CONFIG = """const { defineConfig } = require('@vue/cli-service')
module.exports = defineConfig({
  transpileDependencies: true,
  devServer: { port: 8085, proxy: { '/api': { target: 'http://localhost:3000',
                                              changeOrigin: true } } },
})"""


def test_vue_cli_is_found_and_its_dev_server_proxy_imported() -> None:
    package = json.dumps({"dependencies": {"vue": "3"},
                          "devDependencies": {"@vue/cli-service": "5"},
                          "scripts": {"serve": "vue-cli-service serve"}})
    detected = detect({"package.json": package, "vue.config.js": VUE_CONFIG}, ("public",))
    assert detected.frontend is not None
    assert (detected.frontend.name, detected.frontend.port) == ("Vue CLI", 8085)
    assert detected.static is None  # public/ is Vue CLI's template folder, not a build
    config = parse_config(render(detected), "devproxy.yaml", Path("/"))
    assert [(r.path, r.target.port) for r in config.routes if r.target] == [
        ("/api", 3000), ("/", 8085)]
    imported = import_config("vue.config.js", VUE_CONFIG)
    assert imported.routes == [ImportedRoute("/api", "http://localhost:3000",
                                             change_origin=True, secure=False)]
    assert (imported.frontend, imported.frontend_port) == ("Vue CLI", 8085)


VUE_ENTRIES = """module.exports = { devServer: { proxy: {
  '/api': { target: 'http://localhost:3000' },
  '/own': { target: 'https://localhost:3001', secure: true, changeOrigin: false, ws: false },
} } }"""


def test_vue_cli_puts_its_proxy_defaults_under_each_entry() -> None:
    # prepareProxy: Object.assign({}, {secure: false, changeOrigin: true, ws: true,
    # xfwd: true, ...}, config): the user's keys win. Plain webpack adds nothing.
    vue = {r.path: r for r in import_config("vue.config.js", VUE_ENTRIES).routes}
    assert vue["/api"] == ImportedRoute("/api", "http://localhost:3000", change_origin=True,
                                        secure=False, ws=True)
    assert vue["/own"] == ImportedRoute("/own", "https://localhost:3001", change_origin=False,
                                        secure=True, ws=False)
    webpack = import_config("webpack.config.js", VUE_ENTRIES)
    assert webpack.routes[0] == ImportedRoute("/api", "http://localhost:3000")
    # xfwd is a default, not the user's: nothing to say about it.
    assert not any("xfwd" in w for w in import_config("vue.config.js", VUE_ENTRIES).warnings)


def test_vue_cli_proxy_as_one_url_is_imported_as_create_react_apps_is() -> None:
    text = "module.exports = { devServer: { port: 8081, proxy: 'http://localhost:4000' } }"
    imported = import_config("vue.config.js", text)
    assert imported.routes == [ImportedRoute("/api", "http://localhost:4000",
                                             change_origin=True, secure=False)]
    assert "Vue CLI forwards there every request it cannot serve that does not ask for " \
           "HTML; devproxy routes by path prefix, so it was imported as /api" \
           in imported.warnings[0]
    rendered = render_imported(imported)
    config = parse_config(rendered, "devproxy.yaml", Path("/"))
    assert [(r.path, r.target.port) for r in config.routes if r.target] == [
        ("/api", 4000), ("/", 8081)]
    assert "# NOT IMPORTED or changed: devServer.proxy is one URL" in rendered
    package = json.dumps({"devDependencies": {"@vue/cli-service": "5"}})
    detected = detect({"package.json": package, "vue.config.js": text})
    assert detected.proxy is not None and detected.proxy.routes == imported.routes


@pytest.mark.parametrize(("text", "built"), [
    ('<link rel="icon" href="<%= BASE_URL %>favicon.ico">', False),  # Vue CLI's template
    ('<link rel="icon" href="%PUBLIC_URL%/favicon.ico" />', False),  # Create React App's
    ('<script type="module" src="/assets/index-x1.js"></script>', True),
])
def test_a_template_index_html_is_not_a_built_site(text: str, built: bool) -> None:
    assert built_site(text) is built


@pytest.mark.e2e
def test_cli_init_does_not_serve_a_template_public_folder(tmp_path: Path) -> None:
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "index.html").write_text('<title><%= htmlWebpackPlugin.options.'
                                                    'title %></title>')
    done = subprocess.run([sys.executable, "-m", "devproxy", "init"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "static:" not in (tmp_path / "devproxy.yaml").read_text().replace(
        "`static: ./dist`", "")


@pytest.mark.e2e
def test_cli_init_finds_a_hoisted_vites_config_in_the_frontend_folder(tmp_path: Path) -> None:
    (tmp_path / "frontend").mkdir()
    (tmp_path / "package.json").write_text(json.dumps({
        "workspaces": ["frontend"], "devDependencies": {"vite": "6"},
        "scripts": {"dev": "npm -w frontend run dev"}}))
    (tmp_path / "frontend" / "vite.config.ts").write_text(
        "export default defineConfig({ server: { port: 3001 } })")
    done = subprocess.run([sys.executable, "-m", "devproxy", "init"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Vite on 3001" in done.stdout
    assert "note: guessed that frontend/vite.config.ts" in done.stdout


def test_a_scripts_text_cannot_write_config_through_a_note() -> None:
    # A note quotes the script; a line break in it ended the comment, and a package.json
    # wrote a route to anywhere into the generated devproxy.yaml.
    script = 'vite --port="x\n  - path: /evil\n    target: http://attacker.example:80\n#"'
    package = {"devDependencies": {"vite": "1"}, "scripts": {"dev": script}}
    text = render(detect({"package.json": json.dumps(package)}))
    config = parse_config(text, "devproxy.yaml", Path("/"))
    assert [r.path for r in config.routes] == ["/api", "/"]
    assert "  # NOTE: `--port=x   - path: /evil" in text


@pytest.mark.parametrize(("name", "text"), [
    ("package.json", '{"proxy": ' + "[" * 50_000 + "}"),
    ("vite.config.js", "export default { server: { proxy: " + "{a:" * 20_000 + "1"
     + "}" * 20_000 + " } }"),
])
def test_a_file_nested_past_pythons_stack_is_an_error_not_a_traceback(name: str,
                                                                       text: str) -> None:
    with pytest.raises(ValueError, match="nested too deeply to read"):
        import_config(name, text)


def test_a_package_json_nested_past_pythons_stack_is_no_guess() -> None:
    deep = '{"devDependencies": {"vite": "1"}, "x": ' + "[" * 50_000 + "]" * 50_000 + "}"
    assert detect({"package.json": deep}).frontend is None


@pytest.mark.e2e
def test_init_to_dash_writes_the_config_to_stdout_and_no_file(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(VITE_PACKAGE)
    (tmp_path / "devproxy.yaml").write_text("# mine, not overwritten\n")
    done = subprocess.run([sys.executable, "-m", "devproxy", "init", "-o", "-"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    parse_config(done.stdout, "devproxy.yaml", tmp_path)  # the config alone: it loads
    assert done.stdout.startswith("# devproxy.yaml, written by `devproxy init`.")
    assert "found: Vite on 5173" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["devproxy.yaml", "package.json"]
    assert (tmp_path / "devproxy.yaml").read_text() == "# mine, not overwritten\n"


def test_a_package_json_that_is_not_json_is_named_not_passed_over() -> None:
    # A trailing comma: npm refuses the file, and init had said only "nothing recognisable".
    broken = '{"scripts": {"dev": "vite"},\n "devDependencies": {"vite": "^5"},\n}\n'
    text = render(detect({"package.json": broken}))
    # Python's own words and place: 3.13 names the comma (line 2), 3.11 the brace after it.
    assert re.search(r"# NOTE: package\.json is not valid JSON \(line [23], column \d+: "
                     r"(Expecting property name enclosed in double quotes|Illegal trailing "
                     r"comma before end of object)\), so nothing was read from it", text)
    assert "not valid JSON" not in render(detect({"package.json": VITE_PACKAGE}))


@pytest.mark.parametrize(("flags", "https"), [
    ("--server-type https", True),  # webpack-dev-server 5
    ("--server-type=spdy", True),
    ("--https", True),  # webpack-dev-server 4
    ("--server-type http", False),
    ("", False),
])
def test_init_reads_https_from_a_webpack_scripts_flags(flags: str, https: bool) -> None:
    package = json.dumps({"scripts": {"start": f"webpack serve {flags} --port 9010".strip()},
                          "devDependencies": {"webpack-dev-server": "5"}})
    loaded = parse_config(render(detect({"package.json": package})), "devproxy.yaml", Path("/"))
    [root] = [r for r in loaded.routes if r.path == "/"]
    assert root.target is not None and root.target.port == 9010
    assert (root.target.scheme, root.secure) == (("https", False) if https else ("http", True))


def test_a_port_guessed_for_a_backend_with_no_default_is_said_to_be_one() -> None:
    # Express listens where app.listen() says; init wrote 3000 as if it had found it.
    express = detect({"package.json": '{"dependencies": {"express": "^5"}}'})
    assert "  # Express has no default port: change 3000 to the one your app's listen() " \
           "uses\n  - path: /api\n" in render(express)
    assert summary(express)[0] == "Express on 3000 (a guess: check the port)"
    fastapi = detect({"requirements.txt": "fastapi\n"})  # uvicorn's default is 8000
    assert "no default port" not in render(fastapi)


FASTAPI_MAIN = """import uvicorn
from fastapi import FastAPI

app = FastAPI()

if __name__ == "__main__":
    uvicorn.run("main:app", host="127.0.0.1", port={port}, reload=True)
"""


@pytest.mark.parametrize(("files", "port", "source"), [
    pytest.param({"backend/main.py": FASTAPI_MAIN.format(port=8123)}, 8123,
                 "port from uvicorn.run(port=8123) in backend/main.py", id="uvicorn.run"),
    pytest.param({"package.json": json.dumps({"scripts": {
        "api": "cd backend && python -m uvicorn main:app --reload --port 8124"}})}, 8124,
                 'port from --port 8124 in the "api" script of package.json', id="a script"),
    pytest.param({"package.json": json.dumps({"scripts": {"api": "uvicorn main:app --port=8125"}}),
                  "backend/main.py": FASTAPI_MAIN.format(port=8123)}, 8125,
                 'port from --port 8125 in the "api" script', id="a script, then the code"),
    # uvicorn's command line never runs the module's __main__ block: its uvicorn.run
    # plays no part, and the script's uvicorn listens on its default.
    pytest.param({"package.json": json.dumps({"scripts": {"api": "uvicorn main:app"}}),
                  "backend/main.py": FASTAPI_MAIN.format(port=9000)}, 8000,
                 "uvicorn's default port: the \"api\" script of package.json gives it no "
                 "--port", id="a script without a port"),
    pytest.param({"package.json": json.dumps({"scripts": {
        "api": "UVICORN_PORT=8126 uvicorn main:app"}})}, 8126,
                 'port from UVICORN_PORT=8126 in the "api" script', id="uvicorn's variable"),
])
def test_a_fastapi_port_written_plainly_is_read(files: dict[str, str], port: int,
                                                source: str) -> None:
    detected = detect({"backend/requirements.txt": "fastapi\nuvicorn\n", **files})
    assert detected.backend is not None and detected.backend.port == port
    text = render(detected)
    assert f"# FastAPI (found: fastapi in the Python dependencies; {source}" in text
    assert "a guess" not in text
    assert summary(detected)[0] == f"FastAPI on {port}"
    api = parse_config(text, "devproxy.yaml", Path("/")).routes[0]
    assert api.path == "/api" and api.target is not None and api.target.port == port


@pytest.mark.parametrize("files", [
    pytest.param({}, id="no code read"),
    pytest.param({"backend/main.py": FASTAPI_MAIN.format(port='int(os.environ["PORT"])')},
                 id="a computed port"),
    pytest.param({"package.json": json.dumps({"scripts": {"api": "uvicorn main:app --port $P"}})},
                 id="a variable for --port"),
])
def test_a_fastapi_port_not_written_plainly_is_said_to_be_uvicorns_default(
        files: dict[str, str]) -> None:
    # init wrote 8000 and said only "found: fastapi in the Python dependencies".
    detected = detect({"requirements.txt": "fastapi\n", **files})
    assert detected.backend is not None and detected.backend.port == 8000
    assert "  # FastAPI (found: fastapi in the Python dependencies);\n  # 8000 is uvicorn's " \
           "default, a guess: change it to the port your app runs on" in render(detected)
    assert summary(detected)[0] == "FastAPI on 8000 (a guess: check the port)"


@pytest.mark.e2e
def test_cli_init_reads_a_fastapi_port_from_the_backends_main_py(tmp_path: Path) -> None:
    (tmp_path / "backend").mkdir()
    (tmp_path / "backend" / "requirements.txt").write_text("fastapi\nuvicorn\n")
    (tmp_path / "backend" / "main.py").write_text(FASTAPI_MAIN.format(port=8123))
    done = subprocess.run([sys.executable, "-m", "devproxy", "init", "-o", "-"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "found: FastAPI on 8123" in done.stderr
    assert "target: http://localhost:8123" in done.stdout
