"""WebSocket decisions, pure: is it an upgrade, may this page open it, what goes upstream.

Owns the handshake rules (RFC 6455 §4), the cross-site WebSocket hijacking defence
(the class of Vite's CVE-2025-24010 and webpack-dev-server's CVE-2025-30359), the
``ws_origin`` policy, and which close codes may be relayed (§7.4). No I/O: the aiohttp
side is ``websocket``.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from .config import Route
from .headers import request_headers

# The client library writes these itself for its own handshake with the backend.
_CLIENT_HANDSHAKE = ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions",
                     "Sec-WebSocket-Protocol")
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
# RFC 6455 §7.4.1: reserved for reporting, never sent in a close frame.
_NEVER_SENT = frozenset({1005, 1006, 1015})

Headers = CIMultiDictProxy[str] | CIMultiDict[str]


def is_websocket_upgrade(headers: Headers) -> bool:
    """RFC 6455 §4.2.1: ``Upgrade: websocket`` and ``Connection: upgrade`` (as tokens)."""
    upgrade = headers.get("Upgrade")
    if upgrade is None or "websocket" not in _tokens(upgrade):
        return False
    return any("upgrade" in _tokens(value) for value in headers.getall("Connection", ()))


def origin_allowed(
    origin: str | None, *, port: int, listen_host: str,
    cors_allows: Callable[[str], bool] | None = None,
) -> bool:
    """Whether a page at ``origin`` may open a socket through devproxy.

    Allowed: no Origin (not a browser), devproxy's own origin (a loopback or
    ``*.localhost`` name, or the listen host, on the port the request came in on), or
    an origin that CORS mode allows. Everything else, ``null`` included, is another
    site's page trying to ride on the developer's local servers.
    """
    if origin is None:
        return True
    if cors_allows is not None and cors_allows(origin):
        return True
    try:
        parts = urlsplit(origin)
        origin_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or origin_port != port:
        return False
    return host in _LOOPBACK_NAMES or host.endswith(".localhost") or host == listen_host.lower()


def upstream_ws_headers(
    browser: Headers, route: Route, *, client_ip: str | None, proxy_host: str, scheme: str
) -> CIMultiDict[str]:
    """The handshake headers to send the backend, before the client adds its own.

    Same as HTTP (Host per change_origin, X-Forwarded-*, route headers, Cookie and
    Authorization kept), minus what the client library generates, with the route's
    ``ws_origin`` policy applied to Origin.
    """
    out = request_headers(browser, route, client_ip=client_ip, proxy_host=proxy_host,
                          scheme=scheme)
    for name in _CLIENT_HANDSHAKE:
        out.popall(name, None)
    if route.ws_origin == "drop":
        out.popall("Origin", None)
    elif route.ws_origin == "rewrite" and route.target is not None:
        out["Origin"] = route.target.origin
    return out


def relayable_close_code(code: int | None) -> int:
    """The code to send on: the peer's own, or 1000 where it had none to give."""
    if code is None or code in _NEVER_SENT or not 1000 <= code <= 4999:
        return 1000
    return code


def _tokens(value: str) -> list[str]:
    return [token.strip().lower() for token in value.split(",")]
