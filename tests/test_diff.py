"""The route diff printed on every reload: one line per change, no event loop."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from devproxy.config import Config, CorsPolicy, Listen, Route
from devproxy.diff import diff_routes

from .conftest import route

API = route("/api", "http://127.0.0.1:3000")
WEB = route("/", "http://127.0.0.1:5173")
LEGACY = route("/legacy", "http://127.0.0.1:3999")
ASSETS = route("/assets", static=Path("/srv/assets"))
CORS = CorsPolicy(origins=("http://localhost:5173",))


def config(*routes: Route, port: int = 8080, cors: CorsPolicy | None = None) -> Config:
    return Config(listen=Listen("127.0.0.1", port), routes=routes, cors=cors)


def changed(r: Route, **changes: object) -> Route:
    return dataclasses.replace(r, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(("old", "new", "lines"), [
    pytest.param(config(API, WEB), config(API, WEB), [], id="nothing-changed"),
    pytest.param(config(API, WEB),
                 config(changed(WEB, line=3), changed(API, line=9, target_at=(10, 13))), [],
                 id="reordered-routes-are-not-a-change"),
    pytest.param(config(API), config(API, route("/auth", "http://127.0.0.1:4000")),
                 ["+ /auth -> http://127.0.0.1:4000"], id="route-added"),
    pytest.param(config(API, ASSETS), config(API), ["- /assets"], id="route-removed"),
    pytest.param(config(API), config(route("/api", "http://127.0.0.1:3001")),
                 ["~ /api target http://127.0.0.1:3000 -> http://127.0.0.1:3001"],
                 id="target-changed"),
    pytest.param(config(API), config(route("/api", "http://localhost:3000/v1")),
                 ["~ /api target http://127.0.0.1:3000 -> http://localhost:3000/v1"],
                 id="target-host-and-base-path-changed"),
    pytest.param(config(API), config(changed(API, strip_prefix=True)),
                 ["~ /api strip_prefix false -> true"], id="option-changed"),
    pytest.param(config(API), config(changed(API, strip_prefix=True, change_origin=True)),
                 ["~ /api change_origin false -> true", "~ /api strip_prefix false -> true"],
                 id="each-option-on-its-own-line"),
    pytest.param(config(API), config(route("/api", "http://127.0.0.1:3001",
                                           strip_prefix=True)),
                 ["~ /api target http://127.0.0.1:3000 -> http://127.0.0.1:3001",
                  "~ /api strip_prefix false -> true"], id="target-then-options"),
    pytest.param(config(API), config(route("/api", "http://127.0.0.1:3000",
                                           timeout={"connect": 10})),
                 ["~ /api timeout.connect 5s -> 10s"], id="nested-setting-changed"),
    pytest.param(config(API), config(changed(API, headers=(("X-Env", "dev"),))),
                 ["~ /api headers none -> X-Env: dev"], id="headers-added"),
    pytest.param(config(changed(API, headers=(("Authorization", "Bearer old"),
                                              ("X-Api-Key", "k1"), ("X-Env", "dev")))),
                 config(changed(API, headers=(("Authorization", "Bearer new"),
                                              ("X-Api-Key", "k2"), ("X-Env", "dev")))),
                 ["~ /api headers Authorization: (hidden), X-Api-Key: (hidden), X-Env: dev"
                  " -> Authorization: (hidden, changed), X-Api-Key: (hidden, changed), "
                  "X-Env: dev"],
                 id="credentials-changed-but-never-shown"),
    pytest.param(config(changed(API, headers=(("Authorization", "Bearer a"),
                                              ("X-Env", "dev")))),
                 config(changed(API, headers=(("Authorization", "Bearer a"),
                                              ("X-Env", "prod"), ("Cookie", "s=1")))),
                 ["~ /api headers Authorization: (hidden), X-Env: dev -> Authorization: "
                  "(hidden), X-Env: prod, Cookie: (hidden, new)"],
                 id="which-credential-changed-is-said"),
    pytest.param(config(changed(API, headers=(("X-Env", "dev"),))), config(API),
                 ["~ /api headers removed (was X-Env: dev)"], id="headers-removed"),
    pytest.param(config(changed(API, headers=(("Authorization", "Bearer a"),))), config(API),
                 ["~ /api headers removed (was Authorization: (hidden))"],
                 id="a-hidden-header-removed"),
    pytest.param(config(API), config(API, port=0),
                 ["~ listen 127.0.0.1:8080 -> 127.0.0.1:0"], id="listen-to-port-0-as-written"),
    pytest.param(config(API, WEB), config(changed(API, cors=CORS), changed(WEB, cors=CORS),
                                          cors=CORS),
                 ["+ cors {origins=http://localhost:5173, credentials=false, "
                  "methods=as asked, headers=as asked, expose=none, max_age=none, "
                  "private_network=false, backend_cors=replace}"],
                 id="a-top-level-block-the-routes-inherit-is-said-once"),
    # Said from the first character: "~ cors {origins=...} -> none", cut short in the
    # inspector's pill, read as CORS mode still on.
    pytest.param(config(changed(API, cors=CORS), changed(WEB, cors=CORS), cors=CORS),
                 config(API, WEB), ["- cors"], id="a-top-level-block-removed-reads-removed"),
    pytest.param(config(API), config(changed(API, wait_for_backend=10.0)),
                 ["~ /api wait_for_backend off -> 10s"], id="wait-for-backend-on"),
    pytest.param(config(API), config(route("/api", "http://127.0.0.1:3000",
                                           rewrite={"^/api/v1": "/v2"})),
                 ["~ /api rewrite none -> ^/api/v1 -> /v2"], id="rewrite-added"),
    pytest.param(config(ASSETS), config(route("/assets", static=Path("/srv/dist"))),
                 ["~ /assets static /srv/assets -> /srv/dist"], id="static-folder-changed"),
    pytest.param(config(ASSETS), config(route("/assets", "http://127.0.0.1:5173")),
                 ["~ /assets static /srv/assets -> http://127.0.0.1:5173"],
                 id="folder-became-a-target"),
    pytest.param(config(API), config(API, port=9000),
                 ["~ listen 127.0.0.1:8080 -> 127.0.0.1:9000"], id="listen-changed"),
    pytest.param(config(API), config(changed(API, cors=CORS)),
                 ["~ /api cors added {origins=http://localhost:5173, credentials=false, "
                  "methods=as asked, headers=as asked, expose=none, max_age=none, "
                  "private_network=false, backend_cors=replace}"], id="cors-mode-turned-on"),
    pytest.param(config(changed(API, cors=CORS)),
                 config(changed(API, cors=dataclasses.replace(CORS, credentials=True))),
                 ["~ /api cors.credentials false -> true"], id="cors-setting-changed"),
    pytest.param(config(changed(API, cors=CORS)), config(API),
                 ["~ /api cors removed (was {origins=http://localhost:5173, credentials=false, "
                  "methods=as asked, headers=as asked, expose=none, max_age=none, "
                  "private_network=false, backend_cors=replace})"], id="cors-mode-turned-off"),
    pytest.param(config(changed(API, cors=dataclasses.replace(CORS, expose=("X-Total",)))),
                 config(changed(API, cors=CORS)),
                 ["~ /api cors.expose removed (was X-Total)"], id="a-block-setting-removed"),
    pytest.param(config(changed(API, cors=CORS)),
                 config(changed(API, cors=dataclasses.replace(
                     CORS, line=12, key_lines=(("origins", 12), ("methods", 14))))), [],
                 id="cors-block-moved-is-not-a-change"),
    pytest.param(config(API, cors=CORS),
                 config(API, cors=dataclasses.replace(CORS, headers=("X-Token",))),
                 ["~ cors.headers as asked -> X-Token"], id="top-level-cors-changed"),
    # A Host-check change is no route change, but it is a change (it was "no route
    # changed" in the log).
    pytest.param(config(API), dataclasses.replace(config(API), any_host=True),
                 ["~ allowed_hosts [] -> all"], id="host-check-turned-off"),
    pytest.param(config(API), dataclasses.replace(config(API), allowed_hosts=("myapp.test",)),
                 ["~ allowed_hosts [] -> [myapp.test]"], id="allowed-host-added"),
    pytest.param(config(API, WEB, LEGACY),
                 config(route("/api", "http://127.0.0.1:3001"), WEB, ASSETS, port=9000),
                 ["~ listen 127.0.0.1:8080 -> 127.0.0.1:9000",
                  "~ /api target http://127.0.0.1:3000 -> http://127.0.0.1:3001",
                  "+ /assets -> static /srv/assets",
                  "- /legacy"], id="listen-first-then-routes-by-path"),
])
def test_diff_names_each_change_on_one_line(old: Config, new: Config, lines: list[str]) -> None:
    assert diff_routes(old, new) == lines


def test_diff_of_configs_loaded_from_yaml() -> None:
    from devproxy.loader import parse_config

    old = parse_config("routes:\n  - {path: /api, target: 'http://127.0.0.1:3000'}\n"
                       "  - {path: /legacy, target: 'http://127.0.0.1:3999'}\n",
                       "devproxy.yaml", Path("/"))
    new = parse_config("# moved and reformatted\nroutes:\n"
                       "  - path: /auth\n    target: http://127.0.0.1:4000\n"
                       "  - path: /api\n    target: http://127.0.0.1:3000\n"
                       "    strip_prefix: true\n", "devproxy.yaml", Path("/"))
    assert diff_routes(old, new) == [
        "~ /api strip_prefix false -> true",
        "+ /auth -> http://127.0.0.1:4000",
        "- /legacy",
    ]
