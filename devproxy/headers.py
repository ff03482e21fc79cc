"""Header rewriting between the browser and a backend.

Owns which headers cross devproxy in each direction and how they change:

- requests: drop hop-by-hop fields, ``Expect`` and ``Host``; set ``Host`` and the
  ``X-Forwarded-*`` family; apply the route's configured headers;
- responses: drop hop-by-hop fields; point ``Location``/``Content-Location`` and
  cookie ``Domain``/``Path`` back at devproxy.

Pure: values in, values out, no I/O, nothing from ``aiohttp.web``. Headers stay in a
``CIMultiDict`` so repeated fields (``Set-Cookie``) survive in order.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import TypeAlias

from multidict import CIMultiDict, CIMultiDictProxy

from .config import DEFAULT_PORTS, LOOPBACK_NAMES, Route, Target, is_ip
from .paths import client_path
from .router import RouteTable

Headers: TypeAlias = CIMultiDictProxy[str] | CIMultiDict[str]

# RFC 9110 §7.6.1: connection-specific fields a proxy must not forward, plus the
# pre-standard ``Keep-Alive`` and ``Proxy-Connection`` that clients still send, and
# ``Trailer``: bodies are re-framed without their trailer fields, which it would announce.
HOP_BY_HOP: frozenset[str] = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
})

# Request fields devproxy sets itself, so incoming ones never pass through as they are.
# ``Expect``: devproxy answers 100-continue itself and re-frames the body.
# ``Content-Length``: set by the forwarder from the body aiohttp framed (RFC 9112 §6),
# so no ``Connection: Content-Length`` can unframe a body it then sends (smuggling).
_SET_BY_PROXY = frozenset({
    "host", "expect", "content-length", "x-forwarded-for", "x-forwarded-host",
    "x-forwarded-proto", "x-forwarded-port", "x-forwarded-prefix",
})
_LOCATIONS = frozenset({"location", "content-location"})
# RFC 3986 Appendix B: an optional scheme, then "//" and the authority.
_NETWORK_REF = re.compile(r"(?:([A-Za-z][A-Za-z0-9+.\-]*):)?//([^/?#]*)")


def request_headers(
    incoming: Headers, route: Route, *, client_ip: str | None, proxy_host: str, scheme: str
) -> CIMultiDict[str]:
    """The headers to send upstream for a request the browser sent.

    Hop-by-hop fields (including any named in ``Connection``) are dropped before
    devproxy adds its own, so ``Connection: close, X-Forwarded-For`` can strip only the
    browser's ``X-Forwarded-For``, never devproxy's (the ordering behind Apache
    CVE-2022-31813).

    Args:
        incoming: the browser's request headers.
        route: the route with a target the request matched.
        client_ip: the browser's address, appended to ``X-Forwarded-For``; None keeps
            what came.
        proxy_host: the ``Host`` the browser sent, as received.
        scheme: ``http`` or ``https``, as the browser spoke to devproxy.

    Returns:
        A new multidict: the surviving incoming headers in order, ``Host`` first, then
        ``X-Forwarded-*``; the route's configured headers replace any of the same name.

    Raises:
        ValueError: ``route`` has no target.
    """
    target = _target(route)
    drop = _hop_by_hop(incoming)
    out: CIMultiDict[str] = CIMultiDict()
    out.add("Host", target.authority if route.change_origin else proxy_host)
    forwarded_for: list[str] = []
    for name, value in incoming.items():
        key = name.lower()
        if key in drop:
            continue
        if key in _SET_BY_PROXY:
            if key == "x-forwarded-for":
                forwarded_for.append(value)
            continue
        out.add(name, value)
    if client_ip is not None:
        forwarded_for.append(client_ip)
    # The loop let none of these through, so adding them is setting them.
    if forwarded_for:
        # RFC 9110 §5.3: repeated field lines are one comma-separated list.
        out.add("X-Forwarded-For", ", ".join(forwarded_for))
    out.add("X-Forwarded-Host", proxy_host)
    out.add("X-Forwarded-Proto", scheme)
    default_port = DEFAULT_PORTS.get(scheme, 80)
    host_port = _host_and_port(proxy_host, default_port)
    out.add("X-Forwarded-Port", str(default_port if host_port is None else host_port[1]))
    if route.strip_prefix and route.path != "/":
        out.add("X-Forwarded-Prefix", route.path)
    # No Via, although RFC 9110 §7.6.3 says a proxy MUST send it: nginx's default
    # ``gzip_proxied off`` stops compressing for any request with Via, so a dev backend
    # behind nginx would answer differently behind devproxy than in production.
    for name, value in route.headers:
        out[name] = value
    return out


def accepts_event_stream(accept: str) -> bool:
    """Whether an ``Accept`` value asks for an event stream: an EventSource sends
    exactly "text/event-stream"; fetch-based clients (fetch-event-source, MCP's) list it
    among others. A media range, case-insensitive, parameters aside (RFC 9110 §12.5.1)."""
    return any(part.partition(";")[0].strip().lower() == "text/event-stream"
               for part in accept.split(","))


# RFC 9110 §7.6.2: the methods whose Max-Forwards each intermediary counts down.
HOP_COUNTED = ("OPTIONS", "TRACE")
# What a TRACE's echo leaves out (RFC 9110 §9.3.8: fields likely to hold secrets).
_NOT_REFLECTED = frozenset({"cookie", "authorization", "proxy-authorization"})


def hops_left(value: str) -> int | None:
    """A Max-Forwards value as a number; None for one that is not (then it is passed on
    untouched, as a field devproxy does not understand)."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        return None
    # More digits than int() takes (4,300 in Python 3.11) are still a number: a big one.
    return int(value) if len(value) <= 18 else 10 ** 18


def reflected(method: str, target: str, version: tuple[int, int], fields: Headers
              ) -> bytes:
    """A TRACE or OPTIONS reached its last hop here (Max-Forwards: 0): what devproxy, as
    the final recipient, answers. TRACE reflects the request as received, its secrets
    left out (RFC 9110 §9.3.8); OPTIONS has nothing to say (§9.3.7)."""
    if method != "TRACE":
        return b""
    lines = [f"{method} {target} HTTP/{version[0]}.{version[1]}",
             *(f"{name}: {value}" for name, value in fields.items()
               if name.lower() not in _NOT_REFLECTED)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def response_headers(upstream: Headers, route: Route, *, proxy_origin: str,
                     others: RouteTable | None = None, page_origin: str = "") -> CIMultiDict[str]:
    """The headers to send the browser for a response the backend sent.

    Args:
        upstream: the backend's response headers.
        route: the route with a target the request matched.
        proxy_origin: ``scheme://host[:port]`` as the browser reached devproxy.
        others: the route table, for ``rewrite_location``.
        page_origin: the request's Origin, for ``rewrite_location``; "" if not known.

    Returns:
        A new multidict without hop-by-hop fields, everything else in order, with
        ``Location``/``Content-Location`` passed through ``rewrite_location`` and each
        ``Set-Cookie`` through ``rewrite_set_cookie``.

    Raises:
        ValueError: ``route`` has no target.
    """
    drop = _hop_by_hop(upstream)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream.items():
        key = name.lower()
        if key in drop:
            continue
        if key == "set-cookie":
            value = rewrite_set_cookie(value, route)
        elif key in _LOCATIONS:
            value = rewrite_location(value, route, proxy_origin, others, page_origin)
        out.add(name, value)
    return out


def field_value(fields: Sequence[tuple[str, str]], name: str) -> str | None:
    """The first value of the field ``name`` (lower case) among ``fields``, as (name,
    value) pairs in any case; None if there is none."""
    for key, value in fields:
        if key.lower() == name:
            return value
    return None


def rewrite_location(value: str, route: Route, proxy_origin: str,
                     others: RouteTable | None = None, page_origin: str = "") -> str:
    """Point a ``Location``-style URL the backend sent at devproxy instead.

    The backend names itself by ``route.target.origin`` (any loopback name counts for
    a loopback target; a default port equals an omitted one) or, when ``Host`` was
    not changed, by ``proxy_origin``, or (a loopback target) by its host at the
    target's port. Absolute and protocol-relative URLs at either
    origin become ``proxy_origin`` + the browser's path (``paths.client_path``) +
    query and fragment as they were, except one at ``proxy_origin`` whose path another
    route in ``others`` serves (not the catch-all /): that already names a page on
    devproxy (a redirect_uri another backend built). Root-relative references get the
    browser's path and stay root-relative. A URL at the target of another route in ``others`` (a
    login that sends the browser on to the frontend dev server's own URL) is mapped by
    that route likewise, so the browser stays on devproxy's one origin: if devproxy
    would route the mapped path to that route, and no other route maps it elsewhere;
    and not if that origin is ``page_origin``, the request's Origin: a page there (CORS
    mode, a form posted from the frontend's own server) is sent back where it lives.

    Returns:
        The rewritten value; ``value`` unchanged for other origins, relative-path
        references, paths outside what the route maps, and anything unparsable.

    Raises:
        ValueError: ``route`` has no target.
    """
    target = _target(route)
    network = _NETWORK_REF.match(value)
    if network is None:
        if not value.startswith("/"):
            return value  # a relative-path reference or another scheme (mailto:)
        path, rest = _split_path(value)
        mapped = client_path(route, path)
        return value if mapped is None else mapped + rest
    scheme = network.group(1)
    authority = network.group(2)
    target_origin = (target.scheme, target.host, target.port)
    path, rest = _split_path(value[network.end():])
    path = path or "/"
    # devproxy's own origin names the backend only where the backend saw it, as Host:
    # with change_origin it saw its own, so devproxy's origin there is a page's URL
    # from its config (a login's redirect to FRONTEND_URL), left as it is.
    proxy = None if route.change_origin else split_origin(proxy_origin)
    # A backend on this machine by the name it was given as Host (devproxy's, unchanged)
    # at its own port: nginx builds a trailing-slash redirect so (absolute_redirect and
    # port_in_redirect on), which for app.localhost:8080 is app.localhost:3000.
    at_target = _at_origin(scheme, authority, target_origin, loopback_alias=True) or (
        proxy is not None and target.host in _THIS_MACHINE
        and _at_origin(scheme, authority, (target.scheme, proxy[1], target.port)))
    if at_target or (proxy is not None and _at_origin(scheme, authority, proxy)):
        # At devproxy's own origin, a path another route (not the catch-all /) serves
        # already names a page there: an OAuth redirect_uri the API built, sent on by
        # an identity provider behind its own route. Mapping it under this route's
        # prefix would send the browser to /idp/api/callback.
        if not at_target and others is not None:
            match = others.match(path)
            if match is not None and match.route is not route and match.route.path != "/":
                return value
        mapped = client_path(route, path)
        if mapped is not None:
            return proxy_origin + mapped + rest
    # The page's own server, by any loopback name: a page on 127.0.0.1:5173 whose
    # backend's FRONTEND_URL says localhost:5173 goes back there, as without devproxy.
    if others is None or (page_origin and _at_origin(scheme, authority,
                                                      split_origin(page_origin),
                                                      loopback_alias=True)):
        return value
    # Another route's target: mapped by each route that targets it, and kept only where
    # devproxy would send the mapped path back to that route (not to a longer prefix).
    found = {mapped for other in others.routes if other is not route
             and other.target is not None
             and _at_origin(scheme, authority, (other.target.scheme, other.target.host,
                                                other.target.port), loopback_alias=True)
             and (mapped := client_path(other, path)) is not None
             and (match := others.match(mapped)) is not None and match.route is other}
    return proxy_origin + found.pop() + rest if len(found) == 1 else value


def rewrite_set_cookie(value: str, route: Route) -> str:
    """Make a backend's cookie stick to devproxy's origin.

    A ``Domain`` attribute that domain-matches the target host (RFC 6265 §5.1.3), or
    names a loopback alias of a loopback target (as ``Location`` is read), is removed,
    which makes the cookie host-only for devproxy's host. A ``Path`` other than ``/``
    is mapped with ``paths.client_path``; if that changed it, a trailing "/" is dropped
    (``/v1/`` -> ``/api``), so that it path-matches ``/api`` and ``/api/x`` but not
    ``/apikey`` (RFC 6265 §5.1.4). ``Path=/`` stays: it already covers the route, and
    narrowing it would hide the cookie from the rest of the origin (a CSRF token the
    page at ``/`` reads, a session a server-rendered page needs; a ``__Host-`` cookie
    is even dropped without it). Everything else is kept byte for byte.

    Raises:
        ValueError: ``route`` has no target.
    """
    if ";" not in value:
        return value
    host = _target(route).host
    parts = value.split(";")
    kept = [parts[0]]
    changed = False
    for part in parts[1:]:
        name, eq, attribute = part.partition("=")
        key = name.strip(" \t").lower()
        if key == "domain" and _domain_matches(host, attribute):
            changed = True
            continue
        if key == "path":
            mapped = _cookie_path(route, attribute)
            if mapped is not None:
                part = name + eq + mapped
                changed = True
        kept.append(part)
    return ";".join(kept) if changed else value


def _target(route: Route) -> Target:
    if route.target is None:
        raise ValueError(f"route {route.path!r} serves static files and has no target")
    return route.target


def _hop_by_hop(headers: Headers) -> frozenset[str]:
    """``HOP_BY_HOP`` plus every field ``Connection`` names (RFC 9110 §7.6.1)."""
    connection = headers.getall("Connection", ())
    if not connection:
        return HOP_BY_HOP
    return _with_named(connection[0] if len(connection) == 1 else ",".join(connection))


# Browsers send ``Connection: keep-alive`` on nearly every request; remembering a few
# values spares building a set per request. Bounded, as the values come from clients.
@functools.lru_cache(maxsize=64)
def _with_named(connection: str) -> frozenset[str]:
    return HOP_BY_HOP | {token.strip(" \t").lower() for token in connection.split(",")}


def _host_and_port(authority: str, default: int) -> tuple[str, int] | None:
    """(lower-case host without brackets, port) from an authority; None for userinfo or
    anything malformed."""
    if "@" in authority:
        return None
    if authority.startswith("["):
        host, bracket, after = authority[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            return None
        port = after[1:]
    else:
        host, _, port = authority.partition(":")  # an unbracketed v6 fails as a port
    if not port:
        return host.lower(), default
    if not (port.isascii() and port.isdigit()):
        return None
    return host.lower(), int(port)


def split_origin(origin: str) -> tuple[str, str, int] | None:
    """(scheme, lower-case host without brackets, port, the scheme's default if none is
    written) of ``scheme://authority``; None if it is not one."""
    parsed = _NETWORK_REF.fullmatch(origin)
    if parsed is None or parsed.group(1) is None:
        return None
    scheme = parsed.group(1).lower()
    host_port = _host_and_port(parsed.group(2), DEFAULT_PORTS.get(scheme, 0))
    return None if host_port is None else (scheme, *host_port)


# A loopback target by any name its server may give itself in a URL: its loopback names,
# and the unspecified address it may be bound to (a server on 0.0.0.0 that builds
# absolute URLs from its own address). A browser sent to http://0.0.0.0:3000 leaves the
# page's origin for the backend itself.
_THIS_MACHINE = (*LOOPBACK_NAMES, "0.0.0.0", "::")


def _at_origin(scheme: str | None, authority: str, origin: tuple[str, str, int] | None,
               *, loopback_alias: bool = False) -> bool:
    """Whether ``scheme://authority`` is ``origin``; a None scheme (``//host``) takes
    the origin's."""
    if origin is None:
        return False
    origin_scheme, origin_host, origin_port = origin
    if scheme is not None and scheme.lower() != origin_scheme:
        return False
    parsed = _host_and_port(authority, DEFAULT_PORTS.get(origin_scheme, 0))
    if parsed is None or parsed[1] != origin_port:
        return False
    host = parsed[0]
    return host == origin_host or (
        loopback_alias and host in _THIS_MACHINE and origin_host in _THIS_MACHINE
    )


def _split_path(reference: str) -> tuple[str, str]:
    """(path, "?query#fragment" as written) of a reference with no authority left."""
    end = len(reference)
    for mark in "?#":
        found = reference.find(mark, 0, end)
        if found >= 0:
            end = found
    return reference[:end], reference[end:]


def _domain_matches(host: str, attribute: str) -> bool:
    """RFC 6265 §5.1.3 with the §5.2.3 clean-up of the attribute value; for a loopback
    target, any loopback name (a backend on 127.0.0.1 may say Domain=localhost)."""
    domain = attribute.strip(" \t").lower()
    if domain.startswith("."):
        domain = domain[1:]
    if domain.startswith("[") and domain.endswith("]"):
        domain = domain[1:-1]  # a browser reads a Domain as a URL host: IPv6 in brackets
    elif ":" in domain:
        # Bare IPv6, or a port: no host to a browser, which drops the cookie. Left as sent.
        return False
    if host == domain or (host in LOOPBACK_NAMES and domain in LOOPBACK_NAMES):
        return True
    return host.endswith("." + domain) and not is_ip(host)


def _cookie_path(route: Route, attribute: str) -> str | None:
    """The mapped Path attribute value with its surrounding white space, or None to
    keep it as it is."""
    path = attribute.strip(" \t")
    # §5.2.4: a Path not starting with "/" is ignored by the browser; leave it alone.
    if not path.startswith("/") or path == "/":
        return None
    mapped = client_path(route, path)
    if mapped is None or mapped == path:
        return None
    if len(mapped) > 1 and mapped.endswith("/"):
        mapped = mapped[:-1]
    lead = attribute[: len(attribute) - len(attribute.lstrip(" \t"))]
    trail = attribute[len(attribute.rstrip(" \t")):]
    return lead + mapped + trail
