"""WebSocket decisions, pure: is it an upgrade, may this page open it, what goes upstream.

Owns the handshake rules a proxy applies (RFC 6455 §4), the cross-site WebSocket
hijacking defence (the class of Vite's CVE-2025-24010 and webpack-dev-server's
CVE-2025-30359), the ``ws_origin`` policy, and which close codes may be relayed (§7.4).
No I/O, no event loop, nothing from ``aiohttp``: the relay itself is ``websocket``.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from .config import Route
from .headers import request_headers

# The client library writes these itself for its own handshake with the backend:
# a fresh key (§4.1), version 13, its own permessage-deflate offer when the browser made
# one (each hop negotiates compression separately, RFC 7692 §5) and the offered
# subprotocols.
_CLIENT_HANDSHAKE = ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions",
                     "Sec-WebSocket-Protocol")
# Names that always mean this machine (RFC 6761 §6.3 for localhost and *.localhost);
# urlsplit gives IPv6 hosts without brackets.
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# RFC 6455 §7.4.1 and the IANA registry (1012-1014): the protocol's codes an endpoint may
# put in a Close frame. 1004 is reserved; 1005, 1006 and 1015 are only ever reported,
# never sent. 3000-4999 belong to libraries and applications (§7.4.2).
_SENDABLE_PROTOCOL_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                      1012, 1013, 1014})
NORMAL_CLOSURE = 1000
PROTOCOL_ERROR = 1002
GOING_AWAY = 1001

Headers = CIMultiDictProxy[str] | CIMultiDict[str]


def is_websocket_upgrade(headers: Headers) -> bool:
    """RFC 6455 §4.2.1: ``Upgrade`` names ``websocket`` and ``Connection`` names ``upgrade``.

    Both are token lists compared case-insensitively; the caller checks the method
    is GET.
    """
    if not any("websocket" in _tokens(v) for v in headers.getall("Upgrade", ())):
        return False
    return any("upgrade" in _tokens(v) for v in headers.getall("Connection", ()))


def offered_protocols(headers: Headers) -> list[str]:
    """The subprotocols the browser offered, in its order of preference.

    §11.3.4: ``Sec-WebSocket-Protocol`` may be sent on more than one line; all count.
    """
    return [t for value in headers.getall("Sec-WebSocket-Protocol", ())
            for t in (item.strip() for item in value.split(",")) if t]


def origin_allowed(
    origin: str | None, *, port: int, listen_host: str,
    cors_allows: Callable[[str], bool] | None = None,
) -> bool:
    """Whether a page at ``origin`` may open a socket through devproxy.

    Args:
        origin: the handshake's ``Origin`` header, None when absent.
        port: the port the request arrived on (the listening socket's own).
        listen_host: the configured listen host, which also names devproxy.
        cors_allows: origins that CORS mode allows by name or pattern; None for none.

    Returns:
        True with no Origin (not a browser: browsers always send one, §4.1 item 8),
        for devproxy's own origin (``http``, a loopback or ``*.localhost`` name or the
        listen host, and ``port``), or for an origin ``cors_allows`` accepts.
        False for everything else, ``null`` included: that is another site's page
        trying to ride on the developer's local servers.
    """
    if origin is None:
        return True
    if cors_allows is not None and cors_allows(origin):
        return True
    try:
        parts = urlsplit(origin)
        origin_port = parts.port
    except ValueError:
        return False
    # devproxy serves plain http only, and a browser sends the serialised origin
    # (scheme://host[:port], nothing more), so anything else is not a page of ours.
    if parts.scheme != "http" or parts.path or parts.query or parts.fragment or \
            parts.username is not None or parts.password is not None:
        return False
    if (origin_port if origin_port is not None else 80) != port:
        return False
    host = parts.hostname or ""
    return host in _LOOPBACK_NAMES or host.endswith(".localhost") or \
        host == listen_host.lower().strip("[]")


def upstream_ws_headers(
    browser: Headers, route: Route, *, client_ip: str | None, proxy_host: str, scheme: str
) -> CIMultiDict[str]:
    """The handshake headers to send the backend, before the client adds its own.

    Same as HTTP (``Host`` per ``change_origin``, ``X-Forwarded-*``, the route's
    ``headers``, ``Cookie`` and ``Authorization`` kept), minus the handshake fields the
    client library generates, with the route's ``ws_origin`` policy applied to Origin.

    Raises:
        ValueError: ``route`` has no target.
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


def close_code_to_send(received: int | None) -> int:
    """The code to relay for a Close frame that carried ``received``.

    A sendable code passes unchanged (§7.4). A Close without a code (``None`` or aiohttp's
    0) becomes 1000: the other side would report 1005 "no status", which may not be sent,
    and 1000 is the nearest code that may. A code no endpoint may send (1004, 1005, 1006,
    1015, unassigned ones) was a protocol error by the peer, so 1002 says so.
    """
    if not received:
        return NORMAL_CLOSURE
    if received in _SENDABLE_PROTOCOL_CODES or 3000 <= received <= 4999:
        return received
    return PROTOCOL_ERROR


def _tokens(value: str) -> list[str]:
    return [token.strip().lower() for token in value.split(",")]


def offers_deflate(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> bool:
    """Whether a handshake offers permessage-deflate (RFC 7692 §5), in any of its
    ``Sec-WebSocket-Extensions`` lines."""
    return any(part.split(";", 1)[0].strip().lower() == "permessage-deflate"
               for line in headers.getall("Sec-WebSocket-Extensions", [])
               for part in line.split(","))
