"""WebSocket decisions without sockets: upgrades, origins, handshake headers, the 101's checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from multidict import CIMultiDict

from devproxy.config import Config, Listen
from devproxy.screen import HostRules, host_refusal
from devproxy.wsrules import (
    browser_handshake_problem,
    handshake_problem,
    is_websocket_upgrade,
    offered_extensions,
    offered_protocols,
    origin_allowed,
    refused_after_accepting,
    refused_without_http,
    unchosen_protocol,
    upstream_ws_headers,
)

from .conftest import route


@pytest.mark.parametrize(("headers", "expected"), [
    pytest.param([("Upgrade", "websocket"), ("Connection", "Upgrade")], True, id="plain"),
    pytest.param([("Upgrade", "WebSocket"), ("Connection", "keep-alive, Upgrade")], True,
                 id="case-and-token-list"),
    pytest.param([("Upgrade", "websocket"), ("Connection", "keep-alive"),
                  ("Connection", "upgrade")], True, id="connection-on-two-lines"),
    pytest.param([("Upgrade", "h2c"), ("Connection", "Upgrade")], False, id="other-protocol"),
    pytest.param([("Upgrade", "websockets"), ("Connection", "Upgrade")], False,
                 id="token-not-substring"),
    pytest.param([("Upgrade", "websocket")], False, id="no-connection-upgrade"),
    pytest.param([("Upgrade", "websocket"), ("Connection", "upgraded")], False,
                 id="connection-token-not-substring"),
    pytest.param([("Connection", "Upgrade")], False, id="no-upgrade-header"),
])
def test_an_upgrade_needs_both_the_websocket_and_the_upgrade_token(headers, expected) -> None:
    assert is_websocket_upgrade(CIMultiDict(headers)) is expected


_BROWSER_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's


@pytest.mark.parametrize(("fields", "problem"), [
    pytest.param([], None, id="valid"),
    pytest.param([("Upgrade", "foo, websocket")], None, id="websocket-among-others"),
    pytest.param([("Sec-WebSocket-Key", _BROWSER_KEY)],
                 "Sec-WebSocket-Key is sent 2 times; RFC 6455 §11.3.1 allows it once.",
                 id="key-twice"),
    pytest.param([("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")],
                 "Sec-WebSocket-Key is sent 2 times; RFC 6455 §11.3.1 allows it once.",
                 id="two-different-keys"),
])
def test_a_browsers_handshake_is_checked_as_a_server_would(fields, problem) -> None:
    headers = CIMultiDict([("Upgrade", "websocket"), ("Connection", "Upgrade"),
                           ("Sec-WebSocket-Version", "13"),
                           ("Sec-WebSocket-Key", _BROWSER_KEY)])
    for name, value in fields:
        if name == "Upgrade":
            headers[name] = value
        else:
            headers.add(name, value)
    assert browser_handshake_problem(headers) == problem


@pytest.mark.parametrize(("key", "version", "said"), [
    pytest.param(None, "13", "Sec-WebSocket-Key is missing", id="no-key"),
    pytest.param("not-sixteen-bytes", "13", "is not 16 bytes in base64", id="short-key"),
    pytest.param("dGhlIHNhbXBsZSBub25jZQ", "13", "is not 16 bytes in base64", id="padding"),
    pytest.param(_BROWSER_KEY, None, "Sec-WebSocket-Version is missing", id="no-version"),
    pytest.param(_BROWSER_KEY, "12", "Sec-WebSocket-Version '12' is not 13", id="version"),
])
def test_an_invalid_key_or_version_is_named(key, version, said) -> None:
    headers = CIMultiDict([("Upgrade", "websocket"), ("Connection", "Upgrade")])
    if key is not None:
        headers["Sec-WebSocket-Key"] = key
    if version is not None:
        headers["Sec-WebSocket-Version"] = version
    problem = browser_handshake_problem(headers)
    assert problem is not None and said in problem, problem


@pytest.mark.parametrize(("lines", "expected"), [
    pytest.param([], [], id="none"),
    pytest.param(["vite-hmr"], ["vite-hmr"], id="one"),
    pytest.param(["graphql-ws, graphql-transport-ws"], ["graphql-ws", "graphql-transport-ws"],
                 id="list-in-order"),
    pytest.param(["a", "b,  c"], ["a", "b", "c"], id="several-lines"),
    pytest.param([" , x,"], ["x"], id="empty-items-ignored"),
])
def test_offered_subprotocols_keep_the_browsers_order(lines, expected) -> None:
    headers = CIMultiDict(("Sec-WebSocket-Protocol", line) for line in lines)
    assert offered_protocols(headers) == expected


@pytest.mark.parametrize(("origin", "allowed"), [
    pytest.param(None, True, id="no-origin-is-not-a-browser"),
    pytest.param("http://localhost:8080", True, id="localhost"),
    pytest.param("http://127.0.0.1:8080", True, id="ipv4-loopback"),
    pytest.param("http://[::1]:8080", True, id="ipv6-loopback"),
    pytest.param("http://app.localhost:8080", True, id="dot-localhost"),
    pytest.param("http://devbox:8080", True, id="listen-host"),
    pytest.param("http://myapp.test:8080", True, id="allowed-host"),
    pytest.param("http://api.team.test:8080", True, id="allowed-subdomain"),
    pytest.param("http://[::1]:8080", True, id="ipv6-loopback"),
    pytest.param("http://localhost:5173", True, id="cors-allowed"),
    pytest.param("http://localhost:8081", False, id="other-port"),
    pytest.param("http://localhost", False, id="default-port-is-not-ours"),
    pytest.param("https://localhost:8080", False, id="https-is-not-ours"),
    pytest.param("https://evil.example", False, id="other-site"),
    pytest.param("http://evil.example:8080", False, id="other-site-same-port"),
    pytest.param("null", False, id="null"),
    pytest.param("http://localhost.evil.example:8080", False, id="lookalike"),
    pytest.param("http://evil.example/localhost:8080", False, id="path-is-not-an-origin"),
    pytest.param("http://evil@localhost:8080", False, id="userinfo-is-not-an-origin"),
    pytest.param("http://[bad:8080", False, id="unparsable"),
    pytest.param("http://localhost:99999", False, id="port-out-of-range"),
    pytest.param("", False, id="empty"),
])
def test_only_devproxys_own_pages_may_open_sockets(origin, allowed) -> None:
    def cors(o: str) -> bool:
        return o == "http://localhost:5173"

    hosts = HostRules(Config(listen=Listen("devbox", 8080), routes=(),
                             allowed_hosts=("myapp.test", "*.team.test")))
    assert origin_allowed(origin, port=8080, host_allowed=hosts.allows,
                          cors_allows=cors) is allowed


@pytest.mark.parametrize(("origin", "own_host", "allowed"), [
    # A page at the Host the handshake went to (allowed already) is devproxy's own,
    # an IP address on the LAN included; an IP address alone vouches for nothing.
    pytest.param("http://192.168.1.5:8080", "192.168.1.5:8080", True, id="lan-ip-own"),
    pytest.param("http://[fd00::1]:8080", "[FD00::1]:8080", True, id="ipv6-own"),
    pytest.param("http://192.168.1.5:8080", "localhost:8080", False, id="lan-ip-other"),
    pytest.param("http://192.168.1.5:8080", "", False, id="lan-ip-no-host"),
    pytest.param("http://192.168.1.5:5173", "192.168.1.5:8080", False, id="own-host-other-port"),
    pytest.param("http://evil.example:8080", "localhost:8080", False, id="other-site"),
])
def test_a_page_at_the_handshakes_own_host_may_open_sockets(origin, own_host,
                                                            allowed) -> None:
    hosts = HostRules(Config(listen=Listen("0.0.0.0", 8080), routes=()))
    assert origin_allowed(origin, port=8080, host_allowed=hosts.allows,
                          own_host=own_host) is allowed


@pytest.mark.parametrize(("origin", "allowed"), [
    pytest.param("http://localhost:8080", True, id="own-origin"),
    pytest.param("http://localhost:5173", False, id="other-origin"),
])
def test_without_cors_mode_only_the_own_origin_is_allowed(origin, allowed) -> None:
    hosts = HostRules(Config(listen=Listen("127.0.0.1", 8080), routes=()))
    assert origin_allowed(origin, port=8080, host_allowed=hosts.allows) is allowed


@pytest.mark.parametrize(("policy", "origin"), [
    pytest.param("keep", "http://localhost:8080", id="keep"),
    pytest.param("rewrite", "http://127.0.0.1:3000", id="rewrite"),
    pytest.param("drop", None, id="drop"),
])
def test_upstream_handshake_applies_the_ws_origin_policy(policy, origin) -> None:
    out = upstream_ws_headers(_browser_handshake(), route("/", "http://127.0.0.1:3000",
                                                          ws_origin=policy),
                              client_ip="127.0.0.1", proxy_host="localhost:8080", scheme="http")
    assert out.get("Origin") == origin


def test_upstream_handshake_is_the_browsers_own_with_credentials_kept() -> None:
    out = upstream_ws_headers(_browser_handshake(), route("/", "http://127.0.0.1:3000",
                                                          headers=(("X-Dev", "1"),)),
                              client_ip="127.0.0.1", proxy_host="localhost:8080", scheme="http")
    # The browser's own handshake goes on unchanged: the frames will pass as they are.
    browser = _browser_handshake()
    for name in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions",
                 "Sec-WebSocket-Protocol"):
        assert out.getall(name) == browser.getall(name), name
    assert (out.getall("Upgrade"), out.getall("Connection")) == (["websocket"], ["Upgrade"])
    assert (out["Cookie"], out["Authorization"], out["X-Dev"]) == ("a=1", "Bearer t", "1")
    assert (out["Host"], out["X-Forwarded-For"], out["X-Forwarded-Proto"]) == (
        "localhost:8080", "127.0.0.1", "http")


def test_upstream_handshake_names_the_target_with_change_origin() -> None:
    out = upstream_ws_headers(_browser_handshake(), route("/", "http://127.0.0.1:3000",
                                                          change_origin=True),
                              client_ip="127.0.0.1", proxy_host="localhost:8080", scheme="http")
    assert out["Host"] == "127.0.0.1:3000"


_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3's own worked example


@pytest.mark.parametrize(("headers", "problem"), [
    pytest.param([("Upgrade", "websocket"), ("Connection", "Upgrade"),
                  ("Sec-WebSocket-Accept", _ACCEPT)], None, id="valid"),
    pytest.param([("upgrade", "WebSocket"), ("connection", "keep-alive, upgrade"),
                  ("sec-websocket-accept", f" {_ACCEPT} ")], None, id="any-case-and-lists"),
    pytest.param([("Connection", "Upgrade"), ("Sec-WebSocket-Accept", _ACCEPT)],
                 "its 101 lacks Upgrade: websocket", id="no-upgrade"),
    pytest.param([("Upgrade", "h2c"), ("Connection", "Upgrade"),
                  ("Sec-WebSocket-Accept", _ACCEPT)],
                 "its 101 lacks Upgrade: websocket", id="other-protocol"),
    pytest.param([("Upgrade", "websocket"), ("Sec-WebSocket-Accept", _ACCEPT)],
                 "its 101 lacks Connection: Upgrade", id="no-connection"),
    pytest.param([("Upgrade", "websocket"), ("Connection", "Upgrade")],
                 "its Sec-WebSocket-Accept does not match the key sent", id="no-accept"),
    pytest.param([("Upgrade", "websocket"), ("Connection", "Upgrade"),
                  ("Sec-WebSocket-Accept", "x" + _ACCEPT[1:])],
                 "its Sec-WebSocket-Accept does not match the key sent", id="wrong-accept"),
])
def test_a_backends_101_is_checked_as_a_client_would(headers, problem) -> None:
    assert handshake_problem(headers, _KEY) == problem


@pytest.mark.parametrize(("offered", "chosen", "problem"), [
    (["vite-hmr"], "vite-hmr", None),
    (["graphql-ws", "graphql-transport-ws"], "graphql-transport-ws", None),
    (["vite-hmr"], "", None),  # none chosen: allowed here, said by unchosen_protocol
    (["graphql-ws"], "mqtt",
     "its 101 chose subprotocol 'mqtt', which the page did not offer (it offered "
     "'graphql-ws')"),
    ([], "mqtt",
     "its 101 chose subprotocol 'mqtt', which the page did not offer (it offered none)"),
])
def test_a_subprotocol_the_page_did_not_offer_fails_the_handshake(
        offered: list[str], chosen: str, problem: str | None) -> None:
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Accept", _ACCEPT)]
    if chosen:
        headers.append(("Sec-WebSocket-Protocol", chosen))
    assert handshake_problem(headers, _KEY, offered) == problem


@pytest.mark.parametrize(("lines", "expected"), [
    pytest.param([], [], id="none"),
    pytest.param(["permessage-deflate; client_max_window_bits"], ["permessage-deflate"],
                 id="chromium"),
    pytest.param(["x-foo; a=1, Permessage-Deflate", "x-bar, x-foo"],
                 ["x-foo", "permessage-deflate", "x-bar"], id="lists-lines-and-case"),
    pytest.param(['x-foo; note="a, b; c", x-bar'], ["x-foo", "x-bar"],
                 id="comma-in-a-quoted-value"),
])
def test_offered_extensions_are_named_once_each(lines, expected) -> None:
    headers = CIMultiDict(("Sec-WebSocket-Extensions", line) for line in lines)
    assert offered_extensions(headers) == expected


@pytest.mark.parametrize(("offered", "accepted", "problem"), [
    (["permessage-deflate"], ["permessage-deflate; server_no_context_takeover"], None),
    (["permessage-deflate"], ["PerMessage-Deflate"], None),
    (["permessage-deflate"], [], None),
    (["permessage-deflate"], ["x-foo"],
     "its 101 accepted extension 'x-foo', which the page did not offer (it offered "
     "'permessage-deflate')"),
    ([], ["permessage-deflate"],
     "its 101 accepted extension 'permessage-deflate', which the page did not offer (it "
     "offered none)"),
    (["x-foo"], ["x-foo", "x-bar; a=1"],
     "its 101 accepted extension 'x-bar', which the page did not offer (it offered "
     "'x-foo')"),
])
def test_an_extension_the_page_did_not_offer_fails_the_handshake(
        offered: list[str], accepted: list[str], problem: str | None) -> None:
    # RFC 6455 §4.1 (5), as for a subprotocol: Chromium fails such a socket (1006).
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Accept", _ACCEPT)]
    headers += [("Sec-WebSocket-Extensions", line) for line in accepted]
    assert handshake_problem(headers, _KEY, (), offered) == problem


@pytest.mark.parametrize("lines", [
    ["chat, v2"], ["bogus", "chat"], ["chat", "chat"], ["chat", ""],
])
def test_a_101_naming_more_than_one_subprotocol_fails_the_handshake(lines: list[str]) -> None:
    # RFC 6455 §4.2.2: the server selects one; every line counts, not only the last.
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Accept", _ACCEPT)]
    headers += [("Sec-WebSocket-Protocol", line) for line in lines]
    problem = handshake_problem(headers, _KEY, ["chat", "v2"])
    assert problem is not None and "where a server chooses one of those offered" in problem


@pytest.mark.parametrize(("offered", "chosen", "said"), [
    (["vite-hmr"], "", True),
    (["vite-hmr"], "vite-hmr", False),
    ([], "", False),  # nothing offered, nothing to choose
])
def test_a_101_choosing_none_of_the_offered_subprotocols_is_explained(
        offered: list[str], chosen: str, said: bool) -> None:
    headers = [("Sec-WebSocket-Protocol", chosen)] if chosen else []
    advice = unchosen_protocol(headers, offered, route("/", "http://127.0.0.1:5173"))
    assert (advice is not None) is said
    if advice is not None:
        assert "offered ('vite-hmr')" in advice and "browsers close such a socket" in advice


def _browser_handshake() -> CIMultiDict[str]:
    return CIMultiDict({
        "Host": "localhost:8080", "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
        "Sec-WebSocket-Protocol": "vite-hmr", "Origin": "http://localhost:8080",
        "Cookie": "a=1", "Authorization": "Bearer t"})


@pytest.mark.parametrize(("settings", "suggested", "not_suggested"), [
    ({}, ["change_origin: true", "ws_origin: rewrite"], []),
    ({"change_origin": True}, ["ws_origin: rewrite"], ["change_origin"]),
    ({"change_origin": True, "ws_origin": "drop"}, ["allowedHosts"],
     ["change_origin", "ws_origin"]),
])
def test_advice_for_a_socket_refused_after_accepting_offers_what_is_not_set(
        settings, suggested, not_suggested) -> None:
    api = route("/", "http://127.0.0.1:8081", **settings)
    advice = refused_after_accepting('{"type":"error","data":"Invalid Host/Origin header"}',
                                     "", api, " (devproxy.yaml line 3)")
    assert advice is not None and "Invalid Host/Origin header" in advice
    assert all(s in advice for s in suggested)
    assert not any(s in advice for s in not_suggested)
    if not_suggested == []:
        assert "on route / (devproxy.yaml line 3)" in advice


@pytest.mark.parametrize(("message", "reason"), [
    pytest.param("", "Forbidden origin", id="close-reason"),
    pytest.param("origin not allowed", "", id="text-message"),
    pytest.param("Invalid Host header", "", id="text-message-host"),
    pytest.param('{"error": "Origin not allowed"}', "", id="json-string-value"),
    pytest.param('["error", {"why": "invalid host"}]', "", id="json-nested-value"),
])
def test_words_that_refuse_the_host_or_origin_are_recognised(message: str, reason: str) -> None:
    assert refused_after_accepting(message, reason,
                                   route("/", "http://127.0.0.1:8081")) is not None


@pytest.mark.parametrize(("message", "reason"), [
    pytest.param("bye", "", id="bye"),
    pytest.param("hello from the origin server", "", id="origin-without-refusal"),
    pytest.param("", "invalid token", id="refusal-of-something-else"),
    pytest.param("server restarting", "", id="restart"),
    pytest.param("connected to localhost", "Unauthorized", id="localhost-is-no-host"),
    pytest.param("original message rejected", "", id="original-is-no-origin"),
    # FastAPI greeting with what it saw, then refusing a token: the words are keys.
    pytest.param('{"hello":true,"origin":"http://localhost:8080","host":"127.0.0.1:8000"}',
                 "unauthorized", id="json-keys-then-a-refusal"),
    pytest.param("your origin is http://localhost:8080", "unauthorized",
                 id="words-split-between-message-and-reason"),
    pytest.param("invalid origin " + "x" * 200, "", id="a-long-message-is-the-app-talking"),
])
def test_other_closes_get_no_advice(message: str, reason: str) -> None:
    assert refused_after_accepting(message, reason, route("/", "http://127.0.0.1:8081")) is None


def test_bare_text_that_refuses_nothing_gets_no_origin_advice() -> None:
    assert refused_without_http("not an HTTP/1.x status line: 'SSH-2.0-OpenSSH'",
                                route("/", "http://127.0.0.1:1"), 8080) is None


@pytest.mark.parametrize(("source", "named"), [
    (Path("/work/app/dev.yaml"), "dev.yaml"),  # devproxy up -c dev.yaml
    (None, "devproxy.yaml"),  # --route flags: the file to start
])
def test_a_refused_host_is_to_be_added_to_the_file_in_use(source, named) -> None:
    hosts = HostRules(Config(listen=Listen("127.0.0.1", 8080), routes=(), source=source))
    refusal = host_refusal(hosts, "devapp.test:8080")
    assert refusal is not None and refusal.status == 403
    assert refusal.hint == f"if 'devapp.test' is yours, add it to {named}: " \
                           f"allowed_hosts: [devapp.test]"
