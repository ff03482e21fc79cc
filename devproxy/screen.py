"""What is refused before routing: foreign Host names, non-path targets, ambiguous paths.

Pure decisions over the request line and a few headers. The HTTP parser (llhttp, via
aiohttp) already refuses the classic smuggling shapes (Content-Length with
Transfer-Encoding, duplicate Content-Length, obs-fold, bare CR or LF, NUL); this module
refuses what it lets through but a reverse proxy must not pass on.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote

from .config import LOOPBACK_NAMES, RESERVED_PREFIX, Config, is_ip
from .router import RouteTable

# %0A, %0D, %00 in a path: no path needs them, and a backend that decodes them into a
# log line, a header or a file name is open to injection. A query may carry them: a
# GraphQL GET or a form's textarea sends its line breaks as %0A.
_ENCODED_CONTROL = re.compile(r"%0[ad0]", re.IGNORECASE)
# A dot segment, its path parameters (";...") included: Tomcat and Spring read "..;x"
# as "..", and would take the path out of its route.
_DOT_SEGMENT_HINT = re.compile(r"(^|/)(\.|%2e){1,2}($|/|\?|;)", re.IGNORECASE)
# An http(s) URL as a request-target: its authority (no user info, RFC 9110 §4.2.4),
# then what follows it.
_ABSOLUTE_FORM = re.compile(r"(?i:https?)://([^/?#@\\]+)([/?#].*)?", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    title: str
    detail: str
    hint: str = ""
    setting: str = ""  # the limits.* setting a request was over, if that was why


class HostRules:
    """The Host allowlist against DNS rebinding, compiled once per config.

    A page on attacker.example can make its own name resolve to 127.0.0.1 and then
    read devproxy's answers as same-origin; what gives it away is the Host header.
    """

    __slots__ = ("_exact", "_suffixes", "any_host", "where")

    def __init__(self, config: Config) -> None:
        self.any_host = config.any_host
        # The file a refused name is to be added to, as the refusal names it.
        self.where = config.source.name if config.source is not None else "devproxy.yaml"
        # Always allowed: names that can only mean this machine, and the listen host.
        exact = {*LOOPBACK_NAMES, config.listen.host.lower().strip("[]")}
        suffixes = {".localhost"}
        for host in config.allowed_hosts:
            if host.startswith("*."):
                suffixes.add(host[1:])
            else:
                exact.add(host.strip("[]"))
        self._exact = frozenset(exact)
        self._suffixes = tuple(suffixes)

    def allows(self, host_header: str) -> bool:
        """Whether ``host_header`` (``name[:port]``) names this machine or an allowed host:
        for the host of a page's Origin, where an IP address is no proof of anything."""
        return self.any_host or self._named(hostname(host_header))

    def allows_name(self, name: str) -> bool:
        """Whether a request's Host, its name already taken out, is served: an allowed
        name, or any IP address. Rebinding needs a name the attacker's DNS answers for; a
        page at an IP address was loaded from that address (as Vite and webpack-dev-server
        reason too), and with ``listen: 0.0.0.0`` a phone on the LAN uses one."""
        return self.any_host or self._named(name) or is_ip(name)

    def _named(self, name: str) -> bool:
        return name in self._exact or name.endswith(self._suffixes)


def hostname(host_header: str) -> str:
    """The host of a Host header (or of an origin's authority), lower-cased, without
    port, brackets or final dot."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.partition(":")[0].rstrip(".")


# RFC 9110 §7.2 / RFC 3986 §3.2.2: host [":" port]; a host is a reg-name (pct-encoded
# and sub-delims allowed), an IPv4 address, or an IP literal in brackets.
_HOST_FIELD = re.compile(r"(?:\[([0-9A-Fa-f:.]+)\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::[0-9]*)?")


# %s: the listen address. Said at start-up and when a reload moves devproxy there.
OPEN_LISTEN_WARNING = ("listening on %s, not a loopback address: anyone on your network "
                       "can use this proxy to reach your backends")
ANY_HOST_WARNING = ("allowed_hosts: all: requests for any Host name are served, so a web "
                    "page using DNS rebinding can read your dev servers; list the names you "
                    "use instead")


def host_refusal(rules: HostRules, host: str | None) -> Refusal | None:
    """403 for a Host that is not this machine's (an absent Host passes: HTTP/1.0); 400
    for one that is not a host and port at all (RFC 9112 §3.2)."""
    if host is None:
        return None
    name = hostname(host)  # once: this runs on every request
    if not _is_host_field(host) or not name:
        # RFC 9110 §4.2.1: an http URI with an empty host is invalid, so is its request.
        return Refusal(400, "Invalid Host", f"{host[:100]!r} is not a host name or address "
                       f"with an optional port.")
    if rules.allows_name(name):
        return None
    return Refusal(
        403, "Host not allowed",
        f"devproxy refused a request for Host {host!r}: only this machine's names are "
        f"served, so that a web page cannot reach your dev servers through DNS rebinding.",
        hint=f"if {name!r} is yours, add it to {rules.where}: allowed_hosts: [{name}]",
    )


# A browser sends the same Host on every request: remembering a few answers spares a
# regex match per request (a third of a microsecond). Bounded, as the values come from
# clients.
@functools.lru_cache(maxsize=64)
def _is_host_field(host: str) -> bool:
    shape = _HOST_FIELD.fullmatch(host)
    if shape is None:
        return False
    literal = shape.group(1)
    if literal is None:
        return True
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        return False
    return True


def origin_form(method: str, target: str) -> tuple[str, str] | None:
    """An absolute-form request-target as its authority and its origin-form; None when
    ``target`` is not an http(s) URL with a host and no user info.

    RFC 9112 §3.2.2: a server MUST accept the absolute-form (a client pointed at devproxy
    as its HTTP proxy sends it), and MUST use its authority instead of the Host field.
    So ``GET http://localhost:8080/api?q HTTP/1.1`` is ``GET /api?q`` for Host
    localhost:8080, and the Host allowlist decides, as ever: devproxy forwards only to
    its routes' targets, whatever the URL names.
    """
    shape = _ABSOLUTE_FORM.fullmatch(target)
    if shape is None:
        return None
    authority, rest = shape.groups()
    if rest is None:
        # An empty path is "/", or "*" for OPTIONS (RFC 9112 §3.2.4): the server itself.
        return authority, "*" if method == "OPTIONS" else "/"
    return authority, rest if rest[0] == "/" else "/" + rest


def target_refusal(method: str, raw_target: str, version: tuple[int, int],
                   transfer_encoding: str | None) -> Refusal | None:
    """Request-line and framing shapes devproxy never forwards."""
    if version < (1, 0):
        return Refusal(400, "HTTP/0.9 not supported", "Send HTTP/1.0 or later.")
    if version >= (2, 0):
        # RFC 9110 §15.6.6: 505 for a major version the server does not support. HTTP/2
        # is negotiated, never named in an HTTP/1 request line, except by "prior
        # knowledge" clients, whose preface starts "PRI * HTTP/2.0".
        return Refusal(505, "HTTP version not supported", f"devproxy speaks HTTP/1.1 and "
                       f"1.0; this request line said HTTP/{version[0]}.{version[1]}.",
                       "Send HTTP/1.1 (a client using HTTP/2 without TLS by prior "
                       "knowledge, such as curl --http2-prior-knowledge, cannot be "
                       "served: leave that option out).")
    if method == "CONNECT":
        # 501, not 405: a 405 must list the methods allowed (RFC 9110 §15.5.6), and
        # which those are depends on the route's backend.
        return Refusal(501, "CONNECT not supported", "devproxy is a reverse proxy for its "
                       "configured routes, not a forward proxy or tunnel.")
    if raw_target == "*" and method == "OPTIONS":
        # RFC 9110 §9.3.7: the server as a whole, which for devproxy is each route's
        # backend, with options of its own.
        return Refusal(400, "OPTIONS * not supported", "OPTIONS * asks about the server "
                       "as a whole; devproxy forwards requests to its routes' backends, "
                       "and answers for none of them.",
                       "Send OPTIONS with a path on the backend's route (OPTIONS /api/).")
    if not raw_target.startswith("/"):
        # RFC 9112 §3.2.2: absolute-form is for forward proxies; upstreams come only
        # from the config, so devproxy is never an open proxy.
        return Refusal(400, "Not a path", "devproxy serves a path (such as /api/users) or "
                       "an http(s) URL with a host and no user info, not '*' or another "
                       "scheme.")
    if transfer_encoding is not None and version < (1, 1):
        # RFC 9112 §6.1: HTTP/1.0 has no transfer codings; such framing is faulty, and
        # reading it as chunked is how a 1.0 front end gets smuggled past.
        return Refusal(400, "Transfer-Encoding in HTTP/1.0",
                       "HTTP/1.0 has no transfer codings: send Content-Length, or HTTP/1.1.")
    if transfer_encoding is not None and transfer_encoding.strip().lower() != "chunked":
        # RFC 9112 §6.1: a coding devproxy would drop when re-framing the body.
        return Refusal(501, "Transfer-Encoding not supported",
                       f"Only 'Transfer-Encoding: chunked' is accepted, got "
                       f"{transfer_encoding!r}.")
    path = raw_target.partition("?")[0]
    if "#" in raw_target:
        # RFC 9112 §3.2: a fragment is never part of a request-target.
        return Refusal(400, "Fragment in request target",
                       "A '#' is never sent in a request; encode it as %23.")
    if "\\" in path:
        return Refusal(400, "Backslash in path", "Backslashes are read as '/' by some "
                       "servers and not by others; write '/' or encode it as %5C.")
    if _ENCODED_CONTROL.search(path):
        return Refusal(400, "Encoded control character",
                       "The path contains %0A, %0D or %00, which no path needs.")
    return None


# What a request over a limit is told: by ``dispatch`` screening, or by ``refusals`` for
# what the parser refused. RFC 9112 §3: a target longer than the server will parse MUST get
# 414; RFC 6585 §5: 431 for one field too large, or all of them.
def url_too_long(header_size: int) -> Refusal:
    return _over(414, "URL too long", f"The request's URL is longer than "
                 f"limits.header_size ({header_size} bytes).", "header_size")


def field_too_long(header_size: int) -> Refusal:
    return _over(431, "Header fields too large",
                 f"A header field of this request (a Cookie piled up by many apps on "
                 f"localhost, often) is longer than limits.header_size ({header_size} "
                 f"bytes).", "header_size")


def too_many_fields(headers: int) -> Refusal:
    return _over(431, "Header fields too large",
                 f"This request has more header fields than limits.headers ({headers}).",
                 "headers")


def _over(status: int, title: str, detail: str, setting: str) -> Refusal:
    return Refusal(status, title, detail, f"Raise limits.{setting} in devproxy.yaml (read "
                   f"at start-up) to accept it.", f"limits.{setting}")


def over_limit_log(refusal: Refusal) -> str:
    """The terminal's line for a request refused by a limit."""
    return (f"refused a request with {refusal.status}: {refusal.title} (over "
            f"{refusal.setting}; raise it in devproxy.yaml to accept such requests)")


def path_refusal(table: RouteTable, path: str) -> Refusal | None:
    """400 when the raw path and its normalised reading could end up in different places.

    devproxy routes the raw path and forwards it unchanged; a backend (or a static
    folder) that decodes ``%2F`` or removes dot segments must not be able to resolve
    it somewhere another route, or nothing, would have been chosen. Browsers never send
    such paths (the URL parser removes dot segments), so this costs real clients nothing.
    """
    if "%" not in path and "/." not in path:
        return None
    normal = normalise(path)
    if normal == path:
        return None
    raw_match, normal_match = table.match(path), table.match_decoded(normal)
    raw_route = raw_match.route.path if raw_match else None
    normal_route = normal_match.route.path if normal_match else None
    if raw_route != normal_route:
        return Refusal(400, "Ambiguous path",
                       f"{path!r} is routed to {raw_route or 'no route'}, but once decoded "
                       f"and normalised ({normal!r}) to {normal_route or 'no route'}; "
                       f"devproxy forwards neither.")
    if raw_match is not None and _climbs(raw_match.rest):
        return Refusal(400, "Ambiguous path",
                       f"{path!r} climbs out of route {raw_route} with '..' segments.")
    return None


def normalise(path: str) -> str:
    """Decode ``%2E``/``%2F``/``%5C``, read ``\\`` as ``/``, remove dot segments."""
    decoded = unquote(path, errors="replace").replace("\\", "/")
    return _remove_dot_segments(decoded)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 on an absolute path."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        dots = segment.partition(";")[0]  # "..;x" is ".." to a servlet container
        if dots == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        elif dots == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def _climbs(rest: str) -> bool:
    """Whether dot segments in a route's remainder would pop above its root."""
    if not _DOT_SEGMENT_HINT.search(rest):
        return False
    depth = 0
    for segment in unquote(rest, errors="replace").replace("\\", "/").split("/")[1:]:
        dots = segment.partition(";")[0]
        if dots == "..":
            depth -= 1
            if depth < 0:
                return True
        elif dots not in (".", ""):
            depth += 1
    return False


def is_reserved(path: str) -> bool:
    """Whether ``path`` is under devproxy's own prefix."""
    return path == RESERVED_PREFIX or path.startswith(RESERVED_PREFIX + "/")
