"""WebSocket decisions, pure: is it an upgrade, may this page open it, what goes upstream.

Owns the handshake rules a proxy applies (RFC 6455 §4), the cross-site WebSocket
hijacking defence (the class of Vite's CVE-2025-24010 and webpack-dev-server's
CVE-2025-30359), the ``ws_origin`` policy, and the checks a backend's 101 must pass.
No I/O, no event loop, nothing from ``aiohttp``: the splice itself is ``websocket``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from .config import Route
from .headers import request_headers
from .screen import hostname

# RFC 6455 §1.3: the server proves it read the key by hashing it with this.
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
GOING_AWAY = 1001  # §7.4.1: an endpoint is going away

Headers = CIMultiDictProxy[str] | CIMultiDict[str]


def is_websocket_upgrade(headers: Headers) -> bool:
    """RFC 6455 §4.2.1: ``Upgrade`` names ``websocket`` and ``Connection`` names ``upgrade``.

    Both are token lists compared case-insensitively; the caller checks the method
    is GET.
    """
    if not any("websocket" in _tokens(v) for v in headers.getall("Upgrade", ())):
        return False
    return any("upgrade" in _tokens(v) for v in headers.getall("Connection", ()))


# The versions aiohttp's own server took; RFC 6455 §4.1 has browsers send 13.
_VERSIONS = frozenset({"13", "8", "7"})


def browser_handshake_problem(headers: Headers) -> str | None:
    """What is wrong with a browser's handshake that ``is_websocket_upgrade`` accepted
    (RFC 6455 §4.1 and §11.3), or None: a key of 16 bytes in base64, sent once, and a
    version devproxy relays. ``Upgrade`` need only list ``websocket`` (§4.2.1 (3)),
    among other protocols or not."""
    keys = headers.getall("Sec-WebSocket-Key", ())
    if len(keys) > 1:
        return f"Sec-WebSocket-Key is sent {len(keys)} times; RFC 6455 §11.3.1 allows it once."
    if not keys:
        return "Sec-WebSocket-Key is missing (RFC 6455 §4.1)."
    try:
        size = len(base64.b64decode(keys[0]))  # as leniently as aiohttp did
    except ValueError:  # binascii.Error: bad padding
        size = 0
    if size != 16:
        return (f"Sec-WebSocket-Key {keys[0][:60]!r} is not 16 bytes in base64 "
                f"(RFC 6455 §4.1).")
    version = headers.get("Sec-WebSocket-Version")
    if version is None:
        return "Sec-WebSocket-Version is missing (RFC 6455 §4.1: it is 13)."
    if version.strip() not in _VERSIONS:
        return f"Sec-WebSocket-Version {version[:20]!r} is not 13 (RFC 6455 §4.1)."
    return None


def offered_protocols(headers: Headers) -> list[str]:
    """The subprotocols the browser offered, in its order of preference.

    §11.3.4: ``Sec-WebSocket-Protocol`` may be sent on more than one line; all count.
    """
    return [t for value in headers.getall("Sec-WebSocket-Protocol", ())
            for t in (item.strip() for item in value.split(",")) if t]


def offered_extensions(headers: Headers) -> list[str]:
    """The names of the extensions the browser offered (``permessage-deflate``), each
    once; §11.3.2: ``Sec-WebSocket-Extensions`` may be sent on more than one line."""
    names: list[str] = []
    for value in headers.getall("Sec-WebSocket-Extensions", ()):
        for name in _extension_names(value):
            if name not in names:
                names.append(name)
    return names


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"?')


def _extension_names(value: str) -> list[str]:
    """The names in one ``Sec-WebSocket-Extensions`` value, lower-cased: §9.1, a list of
    ``name *(";" param)``, where a quoted parameter value may hold a comma."""
    value = _QUOTED.sub('""', value)
    return [name for name in (item.split(";", 1)[0].strip().lower()
                              for item in value.split(",")) if name]


def origin_allowed(
    origin: str | None, *, port: int, host_allowed: Callable[[str], bool],
    cors_allows: Callable[[str], bool] | None = None, own_host: str = "",
) -> bool:
    """Whether a page at ``origin`` may open a socket through devproxy.

    Args:
        origin: the handshake's ``Origin`` header, None when absent.
        port: the port the request arrived on (the listening socket's own).
        host_allowed: whether a Host (``name[:port]``) is one devproxy serves pages for
            (loopback names, ``*.localhost``, the listen host, ``allowed_hosts``).
        cors_allows: origins that CORS mode allows by name or pattern; None for none.
        own_host: the handshake's Host, already allowed: a page at that host (and
            ``port``) is devproxy's own, whatever its name (an IP address on the LAN).

    Returns:
        True with no Origin (not a browser: browsers always send one, §4.1 item 8),
        for devproxy's own origins (``http``, a host ``host_allowed`` accepts, and
        ``port``: a page devproxy served), or for an origin ``cors_allows`` accepts.
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
    if not parts.hostname:
        return False
    # The handshake's own origin: the page came from where the socket goes (an IP
    # address on the LAN, say, which ``host_allowed`` does not vouch for in an Origin).
    if own_host and hostname(parts.netloc) == hostname(own_host):
        return True
    return host_allowed(parts.netloc)



def refusal_advice(origin: str, own: str, port: int, route: Route,
                   cors_off: bool = False) -> tuple[str, str]:
    """Why a page at ``origin`` may not open sockets through ``route``, and what would
    let it: a sentence each, for the log line and the 403's hint.

    Args:
        origin: the refused handshake's Origin.
        own: where the socket went (``http://host:port``), an address reaching devproxy.
        port: devproxy's port that the handshake arrived on.
        cors_off: the route says ``cors: false`` under a top-level ``cors:`` block.
    """
    through = f"open the page through devproxy at {own}"
    if origin == "null":  # opaque: no list can name it
        return ("a sandboxed frame or a file:// page, which any site can make", through)
    try:
        parts = urlsplit(origin)
        origin_port = parts.port or (80 if parts.scheme == "http" else 443)
    except ValueError:
        return ("not an origin", through)
    listed = "list its origin in the route's cors.origins"
    if cors_off:
        listed = ("list its origin in cors.origins and drop the route's cors: false, "
                  "which turns that block off for it")
    elif route.cors is not None and route.cors.any_origin:
        listed += " in place of '*' (which never lets a page open sockets)"
    if parts.scheme == "http" and origin_port == port:
        # devproxy's port under a name it does not serve: allowed_hosts can help.
        return ("a host name devproxy does not serve its pages for",
                f"{through}, {listed}, or, if its host name is yours, add it to "
                f"allowed_hosts")
    return ("a page devproxy did not serve (another server or port), which only the "
            "route's CORS block can let in", f"{through}, or {listed}")


def upstream_ws_headers(
    browser: Headers, route: Route, *, client_ip: str | None, proxy_host: str, scheme: str
) -> CIMultiDict[str]:
    """The handshake headers to send the backend.

    Same as HTTP (``Host`` per ``change_origin``, ``X-Forwarded-*``, the route's
    ``headers``, ``Cookie`` and ``Authorization`` kept), with the upgrade asked for again
    (``Upgrade`` and ``Connection`` are hop-by-hop) and the route's ``ws_origin`` policy
    applied to Origin. The browser's own key, version, subprotocols and extension offers
    go through unchanged: devproxy relays the frames as they are, so what the two ends
    agree on (permessage-deflate included, RFC 7692) holds end to end.

    Raises:
        ValueError: ``route`` has no target.
    """
    out = request_headers(browser, route, client_ip=client_ip, proxy_host=proxy_host,
                          scheme=scheme)
    out["Connection"] = "Upgrade"
    out["Upgrade"] = "websocket"
    if route.ws_origin == "drop":
        out.popall("Origin", None)
    elif route.ws_origin == "rewrite" and route.target is not None:
        out["Origin"] = route.target.origin
    return out


def handshake_problem(headers: Iterable[tuple[str, str]], key: str,
                      offered: Sequence[str] = (), extensions: Sequence[str] = ()
                      ) -> str | None:
    """What is wrong with a backend's 101 to a handshake sent with ``key``, the
    subprotocols ``offered`` and the extension names ``extensions`` (``offered_extensions``):
    the checks RFC 6455 §4.1 has the client make; None when nothing is."""
    upgrade: list[str] = []
    connection: list[str] = []
    accept = None
    chosen: list[str] = []  # every Sec-WebSocket-Protocol line, as sent
    accepted: list[str] = []  # the extension names it answered with
    for name, value in headers:
        lower = name.lower()
        if lower == "upgrade":
            upgrade += _tokens(value)
        elif lower == "connection":
            connection += _tokens(value)
        elif lower == "sec-websocket-accept":
            accept = value.strip()
        elif lower == "sec-websocket-protocol":
            chosen.append(value.strip())
        elif lower == "sec-websocket-extensions":
            accepted += _extension_names(value)
    if "websocket" not in upgrade:
        return "its 101 lacks Upgrade: websocket"
    if "upgrade" not in connection:
        return "its 101 lacks Connection: Upgrade"
    expected = base64.b64encode(hashlib.sha1(key.encode() + _ACCEPT_GUID).digest()).decode()
    if accept != expected:
        return "its Sec-WebSocket-Accept does not match the key sent"
    # §4.1 (6): a subprotocol the client did not offer fails the connection, and a
    # server selects one (§4.2.2): a list, or a second line, is none a client can take.
    names = [t for line in chosen for t in _tokens_as_sent(line)]
    if len(names) > 1 or len(chosen) > 1:
        return (f"its 101 names {len(names) or len(chosen)} subprotocols "
                f"({', '.join(map(repr, names))}), where a server chooses one of those "
                f"offered")
    if names and names[0] not in offered:
        return (f"its 101 chose subprotocol {names[0]!r}, which the page did not offer "
                f"(it offered {', '.join(map(repr, offered)) or 'none'})")
    # §4.1 (5): so does an extension the client did not offer (Chromium: "Found an
    # unsupported extension", then 1006 with nothing said).
    for extension in accepted:
        if extension not in extensions:
            return (f"its 101 accepted extension {extension!r}, which the page did not "
                    f"offer (it offered {', '.join(map(repr, extensions)) or 'none'})")
    return None


def _tokens_as_sent(value: str) -> list[str]:
    return [token.strip() for token in value.split(",") if token.strip()]


def unchosen_protocol(headers: Iterable[tuple[str, str]], offered: Sequence[str],
                      route: Route) -> str | None:
    """What to tell a developer whose backend accepted a socket for which the page
    offered subprotocols without choosing one, or None if it chose one or none was
    offered. RFC 6455 lets a server choose none, but a browser then fails the socket
    at once (WHATWG WebSockets, "establish a WebSocket connection": offered protocols
    and an empty Sec-WebSocket-Protocol in the response), so the page sees it close
    before any message, and devproxy's log only a short-lived socket."""
    if not offered or any(name.lower() == "sec-websocket-protocol" and value.strip()
                          for name, value in headers):
        return None
    listed = ", ".join(map(repr, offered))
    return (f"route {route.path} -> {route.destination} accepted a WebSocket without "
            f"choosing any of the subprotocols the page offered ({listed}): browsers "
            f"close such a socket at once (Chromium: \"Sent non-empty "
            f"'Sec-WebSocket-Protocol' header but no response was received\"). Make the "
            f"backend answer with one of them (the server's protocols option), or the page "
            f"offer none.")


def _tokens(value: str) -> list[str]:
    return [token.strip().lower() for token in value.split(",")]


# A backend that accepts a socket and closes it this soon, blaming the Host or Origin,
# refused the handshake in all but name (webpack-dev-server sends "Invalid Host/Origin
# header" as a message after its 101, then closes): the HMR client retries for ever.
REFUSED_WITHIN = 2.0  # seconds from the 101
# Whole words: "localhost" or "original" in a message blames nothing.
_BLAMED = re.compile(r"\b(?:host|origin)\b")
_REFUSING = re.compile(r"\b(?:invalid|not allowed|disallowed|forbidden|unauthori[sz]ed|"
                       r"denied|reject\w*|refus\w*)\b")
# A first message longer than this is the app talking, not a refusal.
_SHORT = 200


def refused_after_accepting(message: str, reason: str, route: Route, where: str = ""
                            ) -> str | None:
    """The advice for a socket its backend closed at once, having sent ``message`` first
    ("" for none) and ``reason`` in its Close frame, or None when neither blames the
    Host or Origin devproxy passed on. ``where`` names the route's line, if known.

    Both words must come in one thing said: the Close reason, a short text message, or
    one string in a short JSON message (webpack-dev-server's {"type": "error", "data":
    "Invalid Host/Origin header"}). Never a JSON key, nor words from two of them: an app
    that greets with {"origin": ..., "host": ...} and then closes with "unauthorized"
    refused a token, not the Host."""
    if not any(_BLAMED.search(piece) and _REFUSING.search(piece)
               for piece in _said(message, reason)):
        return None
    said = " ".join(filter(None, (message[:_SHORT], reason)))
    fixes = []
    if not route.change_origin:
        fixes.append("change_origin: true (the backend then gets its own Host)")
    if route.ws_origin == "keep":
        fixes.append("ws_origin: rewrite (its own Origin)")
    on_route = f"set {' and '.join(fixes)} on route {route.path}{where}, or " if fixes else ""
    return (f"the backend accepted the WebSocket, then closed it saying {said.strip()!r}: "
            f"it refused the Host or Origin devproxy passed on. To fix, {on_route}allow "
            f"the name the page uses in the dev server's own settings (webpack-dev-server: "
            f"devServer.allowedHosts)")


def _said(message: str, reason: str) -> list[str]:
    """The pieces of what a backend said that may each name a refusal, lower-cased."""
    pieces = [reason.lower()]
    if not message or len(message) > _SHORT:
        return pieces
    try:
        data = json.loads(message)
    except ValueError:  # plain text
        return [*pieces, message.lower()]
    return [*pieces, *(value.lower() for value in _strings(data))]


def _strings(data: object) -> list[str]:
    """The string values in a parsed JSON document, keys left out."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        data = list(data.values())
    if isinstance(data, list):
        return [text for item in data for text in _strings(item)]
    return []


def refused_without_http(said: str, route: Route, port: int) -> str | None:
    """The advice for a backend that answered a WebSocket handshake with bare text
    refusing it, no HTTP at all (Next.js 16 writes "Unauthorized" for an Origin whose
    host is not localhost), or None when ``said`` (the parser's complaint, quoting the
    text) refuses nothing. ``port`` is the one devproxy took the socket on."""
    if not _REFUSING.search(said.lower()):
        return None
    fix = (f"set ws_origin: rewrite on route {route.path} (the backend then gets "
           f"its own Origin), or " if route.ws_origin == "keep" else "")
    return (f"the backend refused the WebSocket with bare text, not an HTTP answer: most "
            f"likely the Host or Origin devproxy passed on. To fix, {fix}open the page at "
            f"http://localhost:{port or '<port>'}, or allow the name in the dev server's "
            f"own settings (Next.js: allowedDevOrigins)")
