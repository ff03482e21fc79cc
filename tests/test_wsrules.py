"""WebSocket decisions without sockets: upgrades, origins, handshake headers, close codes."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from devproxy.wsrules import (
    is_websocket_upgrade,
    origin_allowed,
    relayable_close_code,
    upstream_ws_headers,
)

from .conftest import route


@pytest.mark.parametrize(("headers", "expected"), [
    pytest.param({"Upgrade": "websocket", "Connection": "Upgrade"}, True, id="plain"),
    pytest.param({"Upgrade": "WebSocket", "Connection": "keep-alive, Upgrade"}, True,
                 id="case-and-token-list"),
    pytest.param({"Upgrade": "h2c", "Connection": "Upgrade"}, False, id="other-protocol"),
    pytest.param({"Upgrade": "websocket"}, False, id="no-connection-upgrade"),
    pytest.param({"Connection": "Upgrade"}, False, id="no-upgrade-header"),
])
def test_is_websocket_upgrade(headers, expected) -> None:
    assert is_websocket_upgrade(CIMultiDict(headers)) is expected


@pytest.mark.parametrize(("origin", "allowed"), [
    pytest.param(None, True, id="no-origin-is-not-a-browser"),
    pytest.param("http://localhost:8080", True, id="localhost"),
    pytest.param("http://app.localhost:8080", True, id="dot-localhost"),
    pytest.param("http://[::1]:8080", True, id="ipv6-loopback"),
    pytest.param("http://devbox:8080", True, id="listen-host"),
    pytest.param("http://localhost:8081", False, id="other-port"),
    pytest.param("http://localhost", False, id="default-port-is-not-ours"),
    pytest.param("https://evil.example", False, id="other-site"),
    pytest.param("null", False, id="null"),
    pytest.param("http://localhost.evil.example:8080", False, id="lookalike"),
    pytest.param("http://[bad:8080", False, id="unparsable"),
    pytest.param("http://localhost:5173", True, id="cors-allowed"),
])
def test_origin_allowed(origin, allowed) -> None:
    def cors(o: str) -> bool:
        return o == "http://localhost:5173"

    assert origin_allowed(origin, port=8080, listen_host="devbox", cors_allows=cors) is allowed


@pytest.mark.parametrize(("policy", "origin"), [
    ("keep", "http://localhost:8080"), ("rewrite", "http://127.0.0.1:3000"), ("drop", None)])
def test_upstream_handshake_headers(policy, origin) -> None:
    browser = CIMultiDict({
        "Host": "localhost:8080", "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": "k", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Extensions": "permessage-deflate", "Sec-WebSocket-Protocol": "vite-hmr",
        "Origin": "http://localhost:8080", "Cookie": "a=1", "Authorization": "Bearer t"})
    out = upstream_ws_headers(browser, route("/", "http://127.0.0.1:3000", ws_origin=policy),
                              client_ip="127.0.0.1", proxy_host="localhost:8080",
                              scheme="http")
    for name in ("Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                 "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol"):
        assert name not in out, name
    assert (out["Cookie"], out["Authorization"]) == ("a=1", "Bearer t")
    assert out.get("Origin") == origin


@pytest.mark.parametrize(("code", "sent"), [
    (4001, 4001), (1000, 1000), (1001, 1001), (None, 1000), (1005, 1000), (1006, 1000),
    (1015, 1000), (999, 1000), (5000, 1000)])
def test_relayable_close_code(code, sent) -> None:
    assert relayable_close_code(code) == sent
