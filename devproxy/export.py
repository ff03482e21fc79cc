"""``devproxy export``: the same routing as a production reverse proxy's config.

Owns the translation of a validated ``Config`` into nginx (a ``server`` block for the
http context, with the ``map``/``upstream`` blocks it needs), Caddy (a Caddyfile) and
Traefik (a file-provider dynamic config). Per route: devproxy's longest-prefix match on
segment boundaries, ``Host`` per ``change_origin``, prefix stripping, the target's base
path and rewrite rules on the raw path, ``X-Forwarded-*``, WebSocket upgrades, streams
without buffering, ``Location`` and ``Set-Cookie`` mapped back, timeouts, TLS checks,
static folders and CORS mode with preflights answered by the proxy itself.

What a target cannot express is written into the output as a line starting
``# devproxy: not exported:``, never dropped silently. Pure: a ``Config`` in, text out;
no I/O. Long for one module: three writers sharing the path mapping and the regex
translation; a package with one module per format is the natural split.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote

from . import EXPORT_FORMATS as FORMATS
from .config import LOOPBACK_NAMES, Config, CorsPolicy, Limits, Rewrite, Route, Target, url_host
from .cors import COMMON_METHODS, VARY_PREFLIGHT, VARY_PREFLIGHT_PNA

NOT_EXPORTED = "devproxy: not exported:"

# Template pieces: literal text, a group number, or the origin the browser used.
Piece = str | int
_PROXY_ORIGIN = "\x00proxy-origin"
# Response headers of the CORS protocol a backend may send (Fetch §3.2.3).
_CORS_RESPONSE_HEADERS = (
    "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers", "Access-Control-Max-Age",
    "Access-Control-Allow-Private-Network",
)
_SAFELISTED_METHODS = ("GET", "HEAD", "POST")  # Fetch §2.2.1: never refused by cors.methods


def export_config(config: Config, fmt: str) -> str:
    """``config`` as a production reverse proxy's configuration.

    Args:
        config: a validated config (``loader.load_config``/``parse_config``).
        fmt: one of ``FORMATS``.

    Returns:
        The complete text, ending in a newline.

    Raises:
        ValueError: ``fmt`` is not one of ``FORMATS``.
    """
    writers: dict[str, Callable[[Config], list[str]]] = {
        "nginx": _nginx, "caddy": _caddy, "traefik": _traefik}
    if fmt not in writers:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return "\n".join(writers[fmt](config)) + "\n"


# --- shared: order, names, path mapping -----------------------------------------------


def _ordered(config: Config) -> list[Route]:
    # Longest prefix first: the order devproxy matches in (router.RouteTable).
    return sorted(config.routes, key=lambda r: (-len(r.path), r.path))


def _source(config: Config) -> str:
    return str(config.source) if config.source is not None else "command-line routes"


def _title(route: Route, config: Config) -> str:
    where = f" ({config.source.name}:{route.line})" if config.source and route.line else ""
    return f"route {route.path} -> {route.destination}{where}"


def _front(route: Route) -> str:
    """The prefix the browser sees but the backend does not ("" when nothing is stripped)."""
    return route.path if route.strip_prefix and route.path != "/" else ""


def _moves_path(route: Route) -> bool:
    assert route.target is not None
    return bool(_front(route) or route.target.base_path or route.rewrite)


def _origin_regex(target: Target) -> str:
    """``scheme://authority`` of the target as a backend may write it: the scheme optional
    (protocol-relative), any loopback name for a loopback target, the default port
    optional (devproxy's headers.rewrite_location)."""
    hosts = LOOPBACK_NAMES if target.host in LOOPBACK_NAMES else (target.host,)
    names = "|".join(re.escape(url_host(h)) for h in hosts)
    port = f":{target.port}"
    if target.port == {"http": 80, "https": 443}[target.scheme]:
        port = f"(?:{port})?"
    return f"(?:(?i:{target.scheme}):)?//(?i:{names}){port}"


def _location_rules(route: Route, first_match: bool) -> list[tuple[str, list[Piece]]]:
    """Rules (anchored regex, replacement) that map a backend's ``Location`` back to the
    browser's URL, as ``headers.rewrite_location`` does.

    With ``first_match`` only the first rule that matches applies (nginx). Otherwise
    every rule applies in turn (Caddy): no rule's output matches a later rule, but a
    root-relative path the backend already wrote under the stripped prefix cannot be
    told apart (RE2 has no look-ahead) and is prefixed again.
    """
    assert route.target is not None
    base, front = route.target.base_path, _front(route)
    b, f = re.escape(base), re.escape(front)
    root = (front or "/") if base else front + "/"
    origin = _origin_regex(route.target)
    under = f"({f}(?:[/?#].*)?)"  # already under the prefix (X-Forwarded-Prefix honoured)
    rules: list[tuple[str, list[Piece]]] = [(f"^{origin}{b}([?#].*)?$", [_PROXY_ORIGIN, root, 1])]
    if front:
        rules.append((f"^{origin}{b}{under}$", [_PROXY_ORIGIN, 1]))
    rules.append((f"^{origin}{b}(/[^?#]*)([?#].*)?$", [_PROXY_ORIGIN, front, 1, 2]))
    if base:
        rules.append((f"^{b}([?#].*)?$", [front or "/", 1]))
    if front and (base or first_match):
        rules.append((f"^{b}{under}$", [1]))  # without a base path: kept as it is
    if base or front:
        # "//host/x" is another site (a network-path reference), never a path here.
        path = "(/[^?#]*)" if base else "(/(?:[^/?#][^?#]*)?)"
        rules.append((f"^{b}{path}([?#].*)?$", [front, 1, 2]))
    return rules


def _cookie_path_rules(route: Route, first_match: bool) -> list[tuple[str, list[Piece]]]:
    """Rules (unanchored regex on a ``Path`` value, replacement), as
    ``headers.rewrite_set_cookie``: ``/`` kept, others mapped like ``Location``, and when
    that changed the path, one trailing "/" dropped. ``first_match`` as for
    ``_location_rules``."""
    assert route.target is not None
    base, front = route.target.base_path, _front(route)
    if not base and not front:
        return []
    b, f = re.escape(base), re.escape(front)
    rules: list[tuple[str, list[Piece]]] = []
    if front and base:
        rules.append((f"{b}({f}(?:/[^;]*?)?)/?", [1]))
    elif front and first_match:
        rules.append((f"({f}(?:/[^;]*)?)", [1]))  # unchanged, its trailing "/" too
    rules.append((f"{b}(/[^;]*?[^;/])/?", [front, 1]))
    if base:  # the base path is the route's root; "/" stays "/"
        rules.append((f"{b}/?", [front or "/"]))
    return rules


def _domain_regex(target: Target) -> str:
    """Cookie ``Domain`` values that domain-match the target host (RFC 6265 §5.1.3), and
    for a loopback target any loopback name, as ``headers.rewrite_set_cookie``."""
    labels = target.host.split(".")
    if ":" in target.host or target.host.replace(".", "").isdigit():
        suffixes = [target.host]  # an IP address matches only itself
    else:
        suffixes = [".".join(labels[i:]) for i in range(len(labels))]
    if target.host in LOOPBACK_NAMES:
        suffixes = list(dict.fromkeys([*suffixes, *sorted(LOOPBACK_NAMES)]))
    # A browser reads a Domain as a URL host: an IPv6 address in brackets; a bare one is
    # no host, and is left for the browser to drop (``headers._domain_matches``).
    return r"\.?(?:" + "|".join(re.escape(f"[{s}]" if ":" in s else s)
                                for s in suffixes) + ")"


# Any IP address is served, as screen.HostRules.allows_name has it: a DNS-rebinding
# attack needs a name. An IPv4 address, or an IPv6 one in brackets (Host keeps them).
_IPV4_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IP_HOST = rf"{_IPV4_OCTET}(?:\.{_IPV4_OCTET}){{3}}|\[[0-9a-f:.]+\]"


def _host_allowlist(config: Config) -> tuple[list[str], list[str]]:
    """(exact host names, suffixes) that screen.HostRules allows, besides any IP
    address (``_IP_HOST``)."""
    exact = ["", *LOOPBACK_NAMES, config.listen.host.lower()]
    suffixes = [".localhost"]
    for host in config.allowed_hosts:
        if host.startswith("*."):
            suffixes.append(host[1:])
        else:
            exact.append(host.strip("[]"))
    return list(dict.fromkeys(exact)), list(dict.fromkeys(suffixes))


def _cross_route_notes(config: Config, proxy: str) -> list[str]:
    """What a proxy without devproxy's route table cannot do with a redirect: a Location
    at another route's target (a login sending the browser on to the frontend dev
    server's own URL) is sent by devproxy to that route's path on its own origin."""
    if sum(route.target is not None for route in config.routes) < 2:
        return []
    return [f"{NOT_EXPORTED} a Location at another route's target, which devproxy maps "
            f"to that route's path on its own origin ({proxy} passes it on as sent)"]


def _origins_regex(policy: CorsPolicy) -> str:
    """Origins a policy without "*" allows, as cors.CorsRules.allows: exact, or any port."""
    parts = []
    for origin in policy.origins:
        if origin.endswith(":*"):
            parts.append(re.escape(origin[:-2]) + "(?::[0-9]+)?")
        else:
            parts.append(re.escape(origin))
    return "^(?:" + "|".join(parts) + ")$"


def _vary_preflight(policy: CorsPolicy) -> str:
    # As devproxy's: the private-network ask varies the answer only where it is allowed.
    return VARY_PREFLIGHT_PNA if policy.private_network else VARY_PREFLIGHT


def _methods_regex(policy: CorsPolicy) -> str:
    """The methods a preflight may ask, as cors.CorsRules.preflight allows them: the
    safelisted and those listed, or any, in upper case only. fetch() sends a method as
    written but for six it upper-cases (Fetch §2.2.1), and methods are case-sensitive
    (RFC 9110 §9.1): an allowed PATCH does not let 'patch' through the browser."""
    if policy.methods is None:
        return "^[^a-z]+$"
    listed = "|".join(re.escape(m.upper()) for m in policy.methods)
    return f"^(?:{'|'.join(_SAFELISTED_METHODS)}|{listed})$"


def _request_headers_regex(policy: CorsPolicy, non_empty: bool) -> str | None:
    """Access-Control-Request-Headers naming only allowed headers (any case), as
    cors.header_list splits it."""
    if policy.headers is None:
        return None
    item = "(?i:" + "|".join(re.escape(h) for h in policy.headers) + r")\s*"
    items = item + r"(?:,[\s,]*" + item + r")*[\s,]*"
    return r"^[\s,]*" + (items if non_empty else f"(?:{items})?") + "$"


def _limits_notes(limits: Limits, what: Iterable[str]) -> list[str]:
    text = {
        "headers": f"limits.headers ({limits.headers} header fields per request)",
        "header_size": f"limits.header_size ({limits.header_size} bytes per field)",
        "upstream_connections": f"limits.upstream_connections ({limits.upstream_connections}"
                                f" per target; further requests queue)",
    }
    return [f"# {NOT_EXPORTED} {text[key]}" for key in what]


# --- regex translation: Python's re to PCRE (nginx) or RE2 (Caddy, Traefik) -------------


class _Untranslatable(ValueError):
    pass


def _translate_pattern(pattern: str, pcre: bool, group: Callable[[int], str]) -> str:
    """``pattern`` for PCRE or RE2, each capturing group opened with ``group(n)``.

    Raises:
        _Untranslatable: a construct the other engine lacks or reads differently.
    """
    out: list[str] = []
    i, n, count = 0, len(pattern), 0
    # Python's global flags lead the pattern; scoped, they mean the same inside the wrapper.
    leading = re.match(r"(?:\(\?[a-zA-Z]+\))+", pattern)
    flags = "".join(re.findall(r"[a-zA-Z]", leading.group(0))) if leading else ""
    if not set(flags) <= set("imsx" if pcre else "ims"):
        raise _Untranslatable(f"the flags (?{flags}) in {pattern!r}")
    i = leading.end() if leading else 0
    while i < n:
        char = pattern[i]
        if char == "\\":
            esc = pattern[i + 1]
            if esc.isdigit() or esc in "NuU":
                raise _Untranslatable(f"\\{esc} (a back-reference or escape) in {pattern!r}")
            out.append("\\z" if esc == "Z" else "\\" + esc)
            i += 2
        elif char == "[":
            end = i + 1
            end += 1 if pattern[end:end + 1] == "^" else 0
            end += 1 if pattern[end:end + 1] == "]" else 0
            while pattern[end] != "]":
                escape = pattern[end + 1] if pattern[end] == "\\" else ""
                if escape.isdigit() or (escape and escape in "NuU"):
                    raise _Untranslatable(f"an escape in a character class in {pattern!r}")
                end += 2 if pattern[end] == "\\" else 1
            out.append(pattern[i:end + 1])
            i = end + 1
        elif char == "(":
            head = pattern[i + 1:i + 4]
            if not head.startswith("?") or head.startswith("?P<"):
                count += 1
                out.append(group(count))
                i = pattern.index(">", i) + 1 if head.startswith("?P<") else i + 1
                continue
            scoped = re.match(r"\?([a-zA-Z-]+):", pattern[i + 1:])
            allowed = "imsx-" if pcre else "ims-"
            ok = (head[1:2] == ":" or (pcre and head[1:2] in ("=", "!", ">", "#"))
                  or (pcre and head[1:3] in ("<=", "<!"))
                  or (scoped is not None and set(scoped.group(1)) <= set(allowed)))
            if not ok:
                raise _Untranslatable(f"the group {pattern[i:i + 4]!r}... in {pattern!r}")
            out.append("(")
            i += 1
        elif char == "#" and "x" in flags:
            # A comment runs to the line's end (re.VERBOSE): dropped, since on nginx's one
            # line it would swallow the wrapper's closing parentheses.
            end = pattern.find("\n", i)
            i = n if end < 0 else end
        elif char == "{" and pattern[i + 1:i + 2] == ",":
            raise _Untranslatable(f"the repeat {{,n}} in {pattern!r}")
        elif not pcre and char in "*+?}" and pattern[i + 1:i + 2] == "+":
            raise _Untranslatable(f"a possessive repeat in {pattern!r}")
        else:
            out.append(char)
            i += 1
    return f"(?{flags}:{''.join(out)})" if flags else "".join(out)


def _parse_template(rule: Rewrite) -> list[Piece]:
    """The replacement of ``rule`` (Python template syntax) as literal text and groups.

    Raises:
        _Untranslatable: control characters, or an escape other engines lack.
    """
    text, i = rule.replacement, 0
    pieces: list[Piece] = []
    groups = rule.pattern.groups
    while i < len(text):
        ref = re.match(r"\\g<(\w+)>|\\([1-9][0-9]?)", text[i:])
        if ref is not None:
            name = ref.group(1) or ref.group(2)
            number = int(name) if name.isdigit() else rule.pattern.groupindex.get(name, 0)
            if not 0 < number <= groups:
                raise _Untranslatable(f"the group reference {ref.group(0)!r}")
            pieces.append(number)
            i += ref.end()
            continue
        if text[i] == "\\" and i + 1 < len(text):
            if text[i + 1].isascii() and text[i + 1].isalnum():
                raise _Untranslatable(f"the escape \\{text[i + 1]} in {rule.source!r}")
            pieces.append(text[i + 1] if text[i + 1] == "\\" else text[i:i + 2])
            i += 2
            continue
        pieces.append(text[i])
        i += 1
    if any(ord(c) < 32 or ord(c) == 127 for p in pieces if isinstance(p, str) for c in p):
        raise _Untranslatable(f"a control character in {rule.source!r}")
    return _merge(pieces)


def _merge(pieces: Iterable[Piece]) -> list[Piece]:
    merged: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        elif piece != "":
            merged.append(piece)
    return merged


def _rewrite(rule: Rewrite, pcre: bool, group: Callable[[int], str]
             ) -> tuple[str, list[Piece]]:
    """A regex that matches the whole path and a replacement that together do what
    ``re.sub(pattern, replacement, path, count=1)`` does: group 1 is the text before the
    first match, the last group the text after it, the rule's own groups shifted by 1.

    Raises:
        _Untranslatable: see ``_translate_pattern`` and ``_parse_template``.
    """
    inner = _translate_pattern(rule.pattern.pattern, pcre, lambda k: group(k + 1))
    last = rule.pattern.groups + 2
    regex = f"^{group(1)}(?s:.*?))(?:{inner}){group(last)}(?s:.*))$"
    pieces = [p + 1 if isinstance(p, int) else p for p in _parse_template(rule)]
    return regex, [1, *pieces, last]


def _rule_text(rule: Rewrite) -> str:
    return f"{rule.pattern.pattern!r} -> {rule.source!r}"


# --- nginx ------------------------------------------------------------------------------


def _nq(text: str) -> str:
    """A double-quoted nginx string; "$" cannot be escaped, so it names a geo variable."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "${devproxy_dollar}")
    return f'"{body}"'


def _nlit(text: str) -> str:
    """A double-quoted nginx string where "$" is literal (a location, not a value)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _nre(regex: str) -> str:
    """A regex as a quoted nginx string. In quotes nginx takes a backslash before a
    backslash or a quote as an escape and keeps every other backslash as it is."""
    out, i = [], 0
    while i < len(regex):
        pair = regex[i:i + 2]
        if pair in ("\\\\", '\\"'):
            out.append("\\\\\\\\" if pair == "\\\\" else '\\"')
            i += 2
        else:
            out.append('\\"' if regex[i] == '"' else regex[i])
            i += 1
    return '"' + "".join(out) + '"'


def _nvalue(pieces: list[Piece], group: Callable[[int], str]) -> str:
    out = []
    for piece in pieces:
        if piece == _PROXY_ORIGIN:
            out.append("$scheme://$http_host")
        elif isinstance(piece, int):
            out.append(group(piece))
        else:
            out.append(_nq(piece)[1:-1])
    return '"' + "".join(out) + '"'


def _ntime(seconds: float) -> str:
    # nginx times are whole numbers with a unit: 0.5 s is written 500ms.
    return f"{seconds:g}s" if seconds == int(seconds) else f"{round(seconds * 1000)}ms"


def _dollar(group: int) -> str:
    return f"${group}"


class _Nginx:
    """Collects the http-context blocks while the server block is written."""

    def __init__(self) -> None:
        self.upstreams: dict[tuple[str, str, int], str] = {}
        self.maps: list[str] = []
        self.cors: dict[int, int] = {}  # id(policy) -> number
        self.preflight = False
        self.named = 0  # named locations and per-route maps
        # The raw paths location / must refuse: those of the other routes' prefixes,
        # which nginx sent there only once it decoded and normalised them.
        self.others = ""
        self.prefixes: tuple[str, ...] = ()  # every route's path but /

    def name(self, stem: str) -> str:
        self.named += 1
        return f"{stem}_{self.named}"

    def upstream(self, target: Target) -> str:
        key = (target.scheme, target.host, target.port)
        return self.upstreams.setdefault(key, f"devproxy_backend_{len(self.upstreams)}")

    def cors_number(self, policy: CorsPolicy) -> int:
        if id(policy) not in self.cors:
            self.cors[id(policy)] = len(self.cors)
            self.maps += _nginx_cors_maps(policy, len(self.cors) - 1)
        return self.cors[id(policy)]


def _nginx(config: Config) -> list[str]:
    state = _Nginx()
    listen = config.listen
    host = url_host(listen.host)
    server = ["server {"]
    if listen.port == 0:
        server.append(f"    # {NOT_EXPORTED} listen port 0 (any free port); 8080 written instead")
    limits = config.limits
    server += [
        f"    listen {host}:{listen.port or 8080};",
        "    merge_slashes off;        # paths pass as they came: // stays //",
        "    absolute_redirect off;    # nginx's own redirects stay relative, like devproxy's",
        "    client_max_body_size 0;   # uploads of any size stream through",
        f"    client_header_timeout {_ntime(limits.header_timeout)};  # limits.header_timeout",
        f"    keepalive_timeout {_ntime(limits.idle_timeout)};     # limits.idle_timeout",
        f"    large_client_header_buffers 4 {limits.header_size};  # limits.header_size",
        *("    " + n for n in _limits_notes(limits, ["headers"])),
    ]
    if limits.upstream_connections:
        server.append(f"    {_limits_notes(limits, ['upstream_connections'])[0]} (nginx's "
                      f"max_conns refuses instead of queueing)")
    server += [f"    # {line}" for line in _cross_route_notes(config, "nginx")]
    server += [
        f"    # {NOT_EXPORTED} the request inspector at /__devproxy/",
        f"    # {NOT_EXPORTED} the WebSocket Origin check against cross-site hijacking "
        f"(check Origin in the application)",
        "    # Origin-form request targets only (RFC 9112 §3.2.1): never an open proxy.",
        '    if ($request_uri !~ "^/") { return 400; }',
        "    # A backslash (read as '/' by some servers) or an encoded CR, LF or NUL: 400,",
        "    # as devproxy.",
        f"    if ($request_uri ~ {_nre(_REFUSED_BYTES)}) {{ return 400; }}",
    ]
    if config.any_host:
        server.append("    # allowed_hosts: all: any Host is served")
    else:
        exact, suffixes = _host_allowlist(config)
        names = "|".join(re.escape(url_host(h)) for h in exact)
        ends = "|".join(re.escape(s) for s in suffixes)
        allowed = f"^(?:{names}|{_IP_HOST})$|(?:{ends})$"
        server += ["    # The Host allowlist (DNS-rebinding defence), as devproxy's: these",
                   "    # names, and any IP address.",
                   f"    if ($host !~* {_nre(allowed)}) {{ return 403; }}"]
    state.others = _other_prefixes(config)
    state.prefixes = tuple(r.path for r in config.routes if r.path != "/")
    for route in _ordered(config):
        server += ["", f"    # {_title(route, config)}", *_decoded_match(route, "    ", "nginx")]
        server += _nginx_route(route, state)
    if not any(r.path == "/" for r in config.routes):
        server += ["", "    location / { return 404; }  # no route matches"]
        if config.cors is not None:
            server.append(f"    # {NOT_EXPORTED} CORS headers on the 404 for unrouted paths")
    server.append("}")
    head = [f"# nginx config generated by `devproxy export --format nginx` from {_source(config)}.",
            "# Include it in nginx's http {} context, e.g. as /etc/nginx/conf.d/devproxy.conf.",
            f"# Lines starting '# {NOT_EXPORTED}' name what nginx does not do as devproxy does.",
            "",
            "# WebSocket upgrades only (RFC 6455 §4.1; never h2c); otherwise no Connection",
            "# header, so connections to the backend are reused (keepalive below).",
            "map $http_upgrade $devproxy_upgrade {",
            "    default \"\";",
            '    "~*^websocket$" $http_upgrade;',
            "}",
            "map $devproxy_upgrade $devproxy_connection {",
            "    default upgrade;",
            '    "" "";',
            "}",
            "# X-Forwarded-Port as devproxy sends it: the port in Host, else the scheme's.",
            "map $http_host $devproxy_port {",
            "    default 80;",
            '    "~:(?<devproxy_host_port>[0-9]+)$" $devproxy_host_port;',
            "}"]
    if state.preflight:
        head += ["# Fetch §3.2.2: a CORS preflight is an OPTIONS with Origin and "
                 "Access-Control-Request-Method.",
                 'map "$request_method $http_access_control_request_method $http_origin" '
                 "$devproxy_preflight {",
                 "    default 0;",
                 '    "~^OPTIONS [^ ]+ ." 1;',
                 "}",
                 "# RFC 9110 §12.5.5: the answer depends on Origin; one Vary, Origin added once.",
                 "map $upstream_http_vary $devproxy_vary {",
                 '    "" "Origin";',
                 r'    "~*(?:^|,)\s*(?:origin|\*)\s*(?:,|$)" $upstream_http_vary;',
                 '    default "$upstream_http_vary, Origin";',
                 "}"]
    head += state.maps
    for (_, name, port), upstream in state.upstreams.items():
        shown = url_host(name)
        head += [f"upstream {upstream} {{",
                 f"    server {shown}:{port};  # a name resolves to every address, tried in turn",
                 "    keepalive 16;",
                 "}"]
    if any("${devproxy_dollar}" in line for line in [*head, *server]):
        # nginx strings have no escape for "$"; a geo value is never interpolated.
        head.insert(3, 'geo $devproxy_dollar { default "$"; }')
    return [*head, "", *server]


def _decoded_match(route: Route, indent: str, proxy: str) -> list[str]:
    if "%" not in route.path:
        return []
    return [f"{indent}# {NOT_EXPORTED} matching {route.path} byte for byte ({proxy} matches the "
            f"decoded path)"]


def _nginx_route(route: Route, state: _Nginx) -> list[str]:
    if route.static is not None:
        lines = _nginx_static(route, state.name("@devproxy_spa"))
        if route.path == "/" and state.others:
            at = next(i for i, line in enumerate(lines)
                      if line.startswith("    location ") and line.endswith("{")) + 1
            lines[at:at] = [f"    {line}" for line in _nginx_ambiguous(state.others)]
        return lines
    body = _nginx_proxy(route, state)
    if route.path == "/":
        refuse = [f"    {line}" for line in _nginx_ambiguous(state.others)] \
            if state.others else []
        return ["    location / {", *refuse, *body, "    }"]
    # devproxy matches /api, /api/ and /api/x but never /apikey: an exact and a prefix
    # location, both with the same body.
    # nginx matches the decoded path (``_decoded_match``): /café, not /caf%C3%A9.
    path = unquote(route.path)
    return [f"    location = {_nlit(path)} {{", *body, "    }",
            f"    location {_nlit(path + '/')} {{", *body, "    }"]


# What devproxy refuses in a request-target's path (``screen.target_refusal``), not in
# its query.
_REFUSED_BYTES = r"^[^?]*(?:\\|%0[aAdD0])"


def _raw_regex(path: str) -> str:
    """A regex of ``path`` (a route path, or its front) as raw targets spell it: each
    %XX escape's hex digits in either case (RFC 3986 §2.1; curl writes /caf%c3%a9)."""
    return re.sub(r"%([0-9A-F])([0-9A-F])", lambda found: "%" + "".join(
        f"[{c}{c.lower()}]" if c.isalpha() else c for c in found.groups()), re.escape(path))


def _raw_prefix(path: str) -> str:
    """A regex of the raw request-targets under the route prefix ``path``, as devproxy
    routes them: whole segments, an escape's hex digits in either case."""
    return "^" + _raw_regex(path) + "(?:[/?]|$)"


def _other_prefixes(config: Config) -> str:
    """A regex of the raw paths under a route prefix other than / ("" with none): what
    route / must refuse when only decoding and normalising sent a request there."""
    prefixes = [_raw_regex(r.path) for r in config.routes if r.path != "/"]
    # A separator the backend may read as '/': %2F, and a backslash (%5C) as devproxy
    # reads it.
    return f"^(?:{'|'.join(prefixes)})(?:[/?\\\\]|%2[fF]|%5[cC]|$)" if prefixes else ""


def _nginx_ambiguous(others: str) -> list[str]:
    """Location /'s refusal of a raw path that names another route's prefix: nginx chose
    / from the decoded, normalised path (/api/%2e%2e/x reads /x), where devproxy routes
    the raw one and refuses the pair (screen.path_refusal)."""
    return ["    # A raw path under another route's prefix, here only once decoded and "
            "normalised: 400, as devproxy.",
            f"    if ($request_uri ~ {_nre(others)}) {{ return 400; }}"]


def _nginx_static(route: Route, spa: str) -> list[str]:
    assert route.static is not None
    folder = str(route.static).rstrip("/")
    prefix = "" if route.path == "/" else route.path
    fallback = spa if route.spa else "=404"
    body = [f"        alias {_nq(folder + '/')};" if prefix else f"        root {_nq(folder)};",
            "        index index.html;",
            # Text says UTF-8, as devproxy sends it: a page without <meta charset> is
            # otherwise read as windows-1252 ("café" shows as "cafÃ©").
            "        charset utf-8;",
            "        charset_types text/css text/plain text/xml text/javascript text/markdown "
            "text/csv application/javascript;",
            # A types block here replaces the http block's whole table: said, not written.
            f"        # {NOT_EXPORTED} the types nginx's mime.types may lack (Debian's 1.22: "
            f".mjs, .webmanifest; a module script with another type does not run): add "
            f"`include mime.types; types {{ text/javascript mjs; }}` here",
            "        autoindex off;  # folders are never listed",
            f"        # {NOT_EXPORTED} refusing symlinks that leave the folder (see "
            f"nginx's disable_symlinks)",
            "        # devproxy sends Cache-Control: no-cache (a dev server); set production "
            "caching here."]
    if not route.dotfiles:
        body.insert(0, '        if ($uri ~ "/\\.") { return 404; }  # dotfiles stay private')
    body.append(f"        try_files $uri $uri/ {fallback};")
    lines = [f"    location {_nlit(unquote(prefix) + '/')} {{", *body, "    }"]
    if prefix:
        # A folder's URL gets its slash, keeping the method (308) and the query.
        slash = _nq(prefix + "/")[:-1] + '$is_args$args"'
        lines[:0] = [f"    location = {_nlit(unquote(prefix))} {{ return 308 {slash}; }}"]
    if route.spa:
        lines += [f"    location {fallback} {{",
                  "        # A page request (Accept: text/html) gets index.html; a missing "
                  "/app.js stays a 404.",
                  '        if ($http_accept !~* "text/html") { return 404; }',
                  f"        root {_nq(folder)};",
                  "        try_files /index.html =404;",
                  "    }"]
    return lines


def _nginx_proxy(route: Route, state: _Nginx) -> list[str]:
    target = route.target
    assert target is not None
    upstream = state.upstream(target)
    lines: list[str] = []
    if not route.ws:
        lines.append('        if ($http_upgrade ~* "^websocket$") { return 404; }  # ws: false')
    cors = None
    if route.cors is not None:
        state.preflight = True
        cors = state.cors_number(route.cors)
        lines += _nginx_preflight(route.cors, cors)
    uri = ""
    if route.path != "/":
        # nginx chose this location by the decoded, normalised path (/keep%2fx, /x/../keep
        # read /keep/...), and without a URI proxy_pass sends the raw one on.
        lines += ["        # The raw path must match as the normalised one did (else 400, as "
                  "devproxy refuses it).",
                  f"        if ($request_uri !~ {_nre(_raw_prefix(route.path))}) "
                  f"{{ return 400; }}"]
    if _moves_path(route):
        lines += _nginx_raw_path(route)
        uri = "$devproxy_path$is_args$args"
    lines += [
        f"        proxy_pass {target.scheme}://{upstream}{uri};",
        "        proxy_http_version 1.1;",
        "        proxy_set_header Host " + (_nq(target.authority) if route.change_origin
                                            else "$http_host") + ";",
        # A proxy's credentials, never sent on (RFC 9110 §11.7.2).
        "        proxy_set_header Proxy-Authorization \"\";",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "        proxy_set_header X-Forwarded-Host $http_host;",
        "        proxy_set_header X-Forwarded-Proto $scheme;",
        "        proxy_set_header X-Forwarded-Port $devproxy_port;",
        "        proxy_set_header X-Forwarded-Prefix " + (_nq(_front(route)) if _front(route)
                                                      else '""') + ";",
        "        proxy_set_header Upgrade " + ("$devproxy_upgrade;" if route.ws else '"";'),
        "        proxy_set_header Connection " + ("$devproxy_connection;" if route.ws else '"";'),
    ]
    if route.ws_origin != "keep":
        name = state.name("$devproxy_ws_origin")
        value = '""' if route.ws_origin == "drop" else _nq(target.origin)
        state.maps += [f"# ws_origin: {route.ws_origin} on {route.path}: the Origin of "
                       "WebSocket handshakes only.",
                       f"map $devproxy_upgrade {name} {{", "    \"\" $http_origin;",
                       f"    default {value};", "}"]
        lines.append(f"        proxy_set_header Origin {name};")
    lines += [f"        proxy_set_header {name} {_nq(value)};" for name, value in route.headers]
    lines += [
        "        proxy_buffering off;          # SSE and downloads stream as they come",
        "        proxy_request_buffering off;  # and so do uploads",
        f"        proxy_connect_timeout {_ntime(min(route.timeout.connect, 75))};",
        "        proxy_read_timeout 1d;  # streams and WebSockets may idle for hours",
        "        proxy_send_timeout 1d;",
        f"        # {NOT_EXPORTED} timeout.response ({route.timeout.response:g}s to the "
        f"response headers): nginx times every read alike",
    ]
    if route.timeout.connect > 75:
        lines.append(f"        # {NOT_EXPORTED} timeout.connect above 75s (nginx's maximum)")
    if route.wait_for_backend:
        lines.append(f"        # {NOT_EXPORTED} wait_for_backend ({route.wait_for_backend:g}s "
                     f"of retrying a refused connection)")
    lines += _nginx_rewrites_back(route, state.prefixes)
    if target.scheme == "https":
        lines += ["        proxy_ssl_server_name on;",
                  f"        proxy_ssl_name {_nq(target.host)};",
                  f"        proxy_ssl_verify {'on' if route.secure else 'off'};"]
        if route.secure:
            lines.append("        proxy_ssl_trusted_certificate "
                         "/etc/ssl/certs/ca-certificates.crt;  # Debian's CA bundle")
    if route.cors is not None and cors is not None:
        lines += _nginx_cors_actual(route.cors, cors)
    return lines


def _nginx_raw_path(route: Route) -> list[str]:
    """``paths.upstream_path`` on the raw path: nginx's $uri is decoded and normalised,
    and captures copied into variables are escaped again, so named captures of
    $request_uri build the path byte for byte."""
    assert route.target is not None
    base = route.target.base_path
    lines = []
    strip = _raw_regex(_front(route))
    lines.append(f"        if ($request_uri ~ {_nre('^' + strip + '(?<devproxy_rest>[^?]*)')}) "
                 f"{{ set $devproxy_path {_nq(base)[:-1]}$devproxy_rest\"; }}")
    if not base and _front(route):
        lines.append('        if ($devproxy_path = "") { set $devproxy_path "/"; }')
    for number, rule in enumerate(route.rewrite):
        # Named groups: nginx escapes numbered captures again when it copies them.
        opens, refers = _nginx_groups(f"devproxy_r{number}_")
        try:
            regex, pieces = _rewrite(rule, True, opens)
        except _Untranslatable as exc:
            lines.append(f"        # {NOT_EXPORTED} rewrite {_rule_text(rule)}: {exc}")
            continue
        lines.append(f"        # rewrite {_rule_text(rule)}")
        value = _nvalue(pieces, refers)
        lines.append(f"        if ($devproxy_path ~ {_nre(regex)}) "
                     f"{{ set $devproxy_path {value}; }}")
    if route.rewrite:  # as paths.upstream_path: a path always starts with "/" (RFC 9112 §3.2.1)
        lines.append(f"        if ($devproxy_path ~ {_nre(_NO_SLASH)}) "
                     f'{{ set $devproxy_path "/${{devproxy_relative}}"; }}')
    return lines


# A path a rewrite left empty or relative ("", "b/x"), and the rest of it to put after "/".
_NO_SLASH = "^(?<devproxy_relative>(?:[^/].*)?)$"
_GO_NO_SLASH = "^([^/]|$)"  # RE2 has no named groups in replacements; "/$1" puts the "/"


def _nginx_groups(prefix: str) -> tuple[Callable[[int], str], Callable[[int], str]]:
    """How group k is opened in a regex and referred to in a value."""
    return (lambda k: f"(?<{prefix}{k}>"), (lambda k: "${" + prefix + str(k) + "}")


def _nginx_rewrites_back(route: Route, prefixes: tuple[str, ...] = ()) -> list[str]:
    """Location and Set-Cookie pointed back at the browser's origin and paths;
    ``prefixes``: every route's path but /, whose URLs on this host are pages there."""
    assert route.target is not None
    lines = ["        # Redirects and cookies point back here, as devproxy maps them."]
    for regex, pieces in _location_rules(route, first_match=True):
        lines.append(f"        proxy_redirect {_nre('~' + regex)} {_nvalue(pieces, _dollar)};")
    front, base = _front(route), route.target.base_path
    if base or front:
        # Absolute URLs a backend built from the Host it was sent (change_origin: false).
        def here(path: str) -> str:
            return '"$scheme://$http_host' + _nq(path)[1:]
        if front:  # a URL already under the prefix stays as it is
            lines.append(f"        proxy_redirect {here(base + front + '/')} {here(front + '/')};")
        if not base:
            # A URL on this host under another route names a page there (an OAuth
            # redirect_uri the API built, sent on by an identity provider): kept, as
            # devproxy keeps it, before the rule below would put it under this prefix.
            lines += [f"        proxy_redirect {here(other + '/')} {here(other + '/')};"
                      for other in prefixes if other != route.path]
        lines.append(f"        proxy_redirect {here(base + '/')} {here(front + '/')};")
    # An empty Domain is ignored by browsers (RFC 6265 §5.2.3): the cookie is host-only.
    domain = _nre(f"~^{_domain_regex(route.target)}$")
    lines.append(f'        proxy_cookie_domain {domain} "";')
    for regex, pieces in _cookie_path_rules(route, first_match=True):
        lines.append(f"        proxy_cookie_path {_nre(f'~^{regex}$')} "
                     f"{_nvalue(pieces, _dollar)};")
    if route.rewrite:
        lines.append(f"        # {NOT_EXPORTED} undoing rewrite rules in Location and cookie "
                     f"paths (only the base path and prefix are mapped back)")
    return lines


def _nginx_cors_maps(policy: CorsPolicy, number: int) -> list[str]:
    var = f"$devproxy_cors{number}"
    allowed = ['    "~^null$" "";  # opaque: allowed only by name', '    "~." $http_origin;'] \
        if policy.any_origin else [f"    {_nre('~' + _origins_regex(policy))} $http_origin;"]
    lines = [f"# CORS mode, policy {number}: origins {', '.join(policy.origins)}.",
             f"map $http_origin {var}_origin {{", '    default "";', *allowed, "}"]
    checks = []
    lines += [f"map $http_access_control_request_method {var}_method {{", "    default 0;",
              f"    {_nre('~' + _methods_regex(policy))} 1;", "}"]
    checks.append(f"{var}_method")
    headers = _request_headers_regex(policy, non_empty=False)
    if headers is not None:
        # A preflight that asks no headers (a DELETE, a PUT of a form) is allowed: nginx
        # tries no regex on an empty value, so it gets its own exact entry.
        lines += [f"map $http_access_control_request_headers {var}_headers {{", "    default 0;",
                  '    "" 1;', f"    {_nre('~' + headers)} 1;", "}"]
        checks.append(f"{var}_headers")
    named = ", ".join(policy.headers) if policy.headers is not None else None
    # Any header allowed: the names asked, and without credentials "*" too (as devproxy
    # answers, so that one cached preflight covers the next request's headers).
    echoed = "$http_access_control_request_headers" + (", *" if not policy.credentials
                                                        else "")
    # An absent or empty ask gets none: nginx tries no regex on an empty value, so it
    # takes its own exact entry.
    lines += [f"map $http_access_control_request_headers {var}_allow_headers {{",
              f"    default {_nq(named) if named else _nlit(echoed)};",
              '    "" "";',
              r'    "~^[\s,]*$" "";',
              "}"]
    if policy.methods is None:  # the common methods, and the one asked if another
        common = "|".join(COMMON_METHODS.split(", "))
        lines += [f"map $http_access_control_request_method {var}_allow_methods {{",
                  f"    default {_nlit(COMMON_METHODS + ', $http_access_control_request_method')};",
                  f"    {_nre(f'~^(?:{common})$')} {_nq(COMMON_METHODS)};",
                  "}"]
    ok = "1" * len(checks)
    lines += [f'map "$devproxy_preflight {"".join(checks)} {var}_origin" {var}_preflight {{',
              '    default "";',
              f'    "~^1 {ok} ." allow;',
              '    "~^1 " refuse;',
              "}"]
    granted = f"{var}_origin"
    if policy.backend_cors == "keep":
        # The backend answers CORS itself when it sends Access-Control-Allow-Origin.
        lines += [f'map "$upstream_http_access_control_allow_origin|{var}_origin" {var}_granted {{',
                  '    default "";',
                  f'    "~^\\|(?<devproxy_cors{number}_o>.+)$" $devproxy_cors{number}_o;',
                  "}"]
        granted = f"{var}_granted"
    lines += [f"map {granted} {var}_acao {{", '    "" "";', f"    default {granted};", "}"]
    for suffix, value in (("acac", "true" if policy.credentials else ""),
                          ("aceh", ", ".join(policy.expose))):
        if value:
            lines += [f"map {granted} {var}_{suffix} {{", '    "" "";',
                      f"    default {_nq(value)};", "}"]
    if policy.private_network:
        lines += [f"map $http_access_control_request_private_network {var}_pna {{",
                  '    default "";', '    "~^true$" true;', "}"]
    return lines


def _nginx_preflight(policy: CorsPolicy, number: int) -> list[str]:
    var = f"$devproxy_cors{number}"
    methods = _nq(", ".join(policy.methods)) if policy.methods is not None \
        else f"{var}_allow_methods"
    headers = [f"Access-Control-Allow-Origin {var}_origin"]
    if policy.credentials:
        headers.append("Access-Control-Allow-Credentials true")
    headers.append(f"Access-Control-Allow-Methods {methods}")
    if policy.max_age is not None:
        headers.append(f"Access-Control-Max-Age {policy.max_age}")
    headers.append(f"Access-Control-Allow-Headers {var}_allow_headers")
    if policy.private_network:
        headers.append(f"Access-Control-Allow-Private-Network {var}_pna")
    headers.append(f"Vary {_nq(_vary_preflight(policy))}")
    return ["        # CORS mode: preflights are answered here and never reach the backend "
            "(Fetch §3.2.2).",
            f'        if ({var}_preflight = refuse) {{ return 403 "CORS preflight refused\\n"; }}',
            f"        if ({var}_preflight = allow) {{",
            *(f"            add_header {h} always;" for h in headers),
            "            return 204;",
            "        }"]


def _nginx_cors_actual(policy: CorsPolicy, number: int) -> list[str]:
    var = f"$devproxy_cors{number}"
    lines = ["        # CORS headers on every other response, nginx's own errors included."]
    if policy.backend_cors == "replace":
        lines += [f"        proxy_hide_header {name};" for name in _CORS_RESPONSE_HEADERS]
    lines += ["        proxy_hide_header Vary;",
              "        add_header Vary $devproxy_vary always;",
              f"        add_header Access-Control-Allow-Origin {var}_acao always;"]
    if policy.credentials:
        lines.append(f"        add_header Access-Control-Allow-Credentials {var}_acac always;")
    if policy.expose:
        lines.append(f"        add_header Access-Control-Expose-Headers {var}_aceh always;")
    return lines


# --- Caddy ------------------------------------------------------------------------------


def _cq(text: str) -> str:
    """A quoted Caddyfile token whose braces are literal, not placeholders."""
    body = text.replace('"', '\\"').replace("{", "\\{").replace("}", "\\}")
    return f'"{body}"'


def _cre(regex: str) -> str:
    """A regex as a quoted Caddyfile token (only the quote is special there)."""
    return '"' + regex.replace('"', '\\"') + '"'


def _cvalue(pieces: list[Piece]) -> str:
    """A Go regexp replacement; ``$\\{1\\}`` survives Caddy's placeholder pass."""
    out = []
    for piece in pieces:
        if piece == _PROXY_ORIGIN:
            out.append("{http.request.scheme}://{http.request.hostport}")
        elif isinstance(piece, int):
            out.append(f"$\\{{{piece}\\}}")
        else:
            out.append(_cq(piece.replace("$", "$$"))[1:-1])
    return '"' + "".join(out) + '"'


def _caddy(config: Config) -> list[str]:
    listen, limits = config.listen, config.limits
    out = [f"# Caddyfile generated by `devproxy export --format caddy` from {_source(config)}.",
           f"# Lines starting '# {NOT_EXPORTED}' name what Caddy does not do as devproxy does.",
           "{", "\tservers {", "\t\ttimeouts {",
           f"\t\t\tread_header {limits.header_timeout:g}s # limits.header_timeout",
           f"\t\t\tidle {limits.idle_timeout:g}s # limits.idle_timeout",
           "\t\t}", "\t}", "}", ""]
    out += _limits_notes(limits, ["header_size", "headers"])
    out += [f"# {line}" for line in _cross_route_notes(config, "Caddy")]
    out += [f"# {NOT_EXPORTED} the request inspector at /__devproxy/",
            f"# {NOT_EXPORTED} the WebSocket Origin check against cross-site hijacking "
            f"(check Origin in the application)", ""]
    if listen.port == 0:
        out.append(f"# {NOT_EXPORTED} listen port 0 (any free port); 8080 written instead")
    out += [f"http://:{listen.port or 8080} {{", f"\tbind {listen.host}",
            "\t# X-Forwarded-Port as devproxy sends it: the port in Host, else the scheme's.",
            "\tmap {http.request.port} {devproxy_port} {", '\t\t"" 80',
            "\t\tdefault {http.request.port}", "\t}"]
    if not config.any_host:
        exact, suffixes = _host_allowlist(config)
        names = "|".join(re.escape(url_host(h)) for h in exact)
        ends = "|".join(re.escape(s) for s in suffixes)
        host = rf"(?i)^(?:(?:{names})|[^:\[/]*(?:{ends})|{_IP_HOST})\.?(?::[0-9]+)?$"
        out += ["\t# The Host allowlist (DNS-rebinding defence), as devproxy's: these names,",
                "\t# and any IP address.",
                f"\t@devproxy_foreign_host not header_regexp Host {_cre(host)}",
                "\thandle @devproxy_foreign_host {", '\t\trespond "Host not allowed" 403', "\t}"]
    bad = json.dumps(_REFUSED_BYTES).replace("`", "\\u0060")
    out += ["\t# A backslash (read as '/' by some servers) or an encoded CR, LF or NUL: 400,",
            "\t# as devproxy.",
            f"\t@devproxy_bad_target expression `{{http.request.orig_uri}}.matches({bad})`",
            "\thandle @devproxy_bad_target {", '\t\trespond "Bad request target" 400', "\t}"]
    for number, route in enumerate(_ordered(config)):
        out += ["", f"\t# {_title(route, config)}", *_decoded_match(route, "\t", "Caddy")]
        if route.path == "/":
            out.append("\thandle {")
        else:
            # Caddy matches the decoded path (``_decoded_match``).
            matcher = "^" + re.escape(unquote(route.path)) + "(?:/|$)"
            out += [f"\t@route{number} path_regexp {_cre(matcher)}",
                    f"\thandle @route{number} {{"]
        body = _caddy_static(route, number) if route.static is not None \
            else _caddy_proxy(route, number, limits)
        if route.path != "/" and route.static is None:
            # Caddy chose this route by the decoded, cleaned path (/keep%2fx, /x/../keep
            # read /keep/...) and sends the raw one on: 400 unless the raw path is under
            # the prefix too, an escape's hex digits in either case (RFC 3986 §2.1).
            raw = json.dumps(_raw_prefix(route.path)).replace("`", "\\u0060")
            body = [f"@devproxy_raw{number} expression "
                    f"`!{{http.request.orig_uri}}.matches({raw})`",
                    f'respond @devproxy_raw{number} "Ambiguous path" 400', *body]
        if route.path == "/" and (others := _other_prefixes(config)):
            # A raw path under another route's prefix, here only once Caddy decoded and
            # cleaned it (/api/%2e%2e/x reads /x): 400, as devproxy (screen.path_refusal).
            raw = json.dumps(others).replace("`", "\\u0060")
            body = ["@devproxy_ambiguous expression "
                    f"`{{http.request.orig_uri}}.matches({raw})`",
                    'respond @devproxy_ambiguous "Ambiguous path" 400', *body]
        out += ["\t\troute {", *(f"\t\t\t{line}" for line in body), "\t\t}", "\t}"]
    if not any(r.path == "/" for r in config.routes):
        out += ["", "\thandle {", "\t\trespond 404 # no route matches", "\t}"]
        if config.cors is not None:
            out.append(f"\t# {NOT_EXPORTED} CORS headers on the 404 for unrouted paths")
    out.append("}")
    return out


def _caddy_static(route: Route, number: int) -> list[str]:
    assert route.static is not None
    lines = []
    if route.path != "/":
        exact = "^" + re.escape(unquote(route.path)) + "$"
        # A folder gets its slash, keeping the method (308) and the query: Caddy 2.6 has
        # no placeholder for "?" and the query only when there is one, so two matchers.
        slash = _cq(route.path + "/")
        lines += [f"@devproxy_folder{number}_query {{", f"\tpath_regexp {_cre(exact)}",
                  '\texpression {query} != ""', "}",
                  f"redir @devproxy_folder{number}_query {slash[:-1]}?{{query}}\" 308",
                  f"@devproxy_folder{number} path_regexp {_cre(exact)}",
                  f"redir @devproxy_folder{number} {slash} 308",
                  f"uri strip_prefix {_cq(route.path)}"]
    lines.append(f"root * {_cq(str(route.static))}")
    if route.spa:
        lines += ["# A page request (Accept: text/html) that names no file gets index.html.",
                  f"@devproxy_spa{number} {{", '\theader_regexp Accept "(?i)text/html"',
                  "\tnot file {path} {path}/", "}", f"rewrite @devproxy_spa{number} /index.html"]
    lines += [f"# {NOT_EXPORTED} refusing symlinks that leave the folder",
              "# devproxy sends Cache-Control: no-cache (a dev server); set production caching "
              "here."]
    if route.dotfiles:
        lines.append("file_server")
    else:
        lines += ["file_server {", "\thide .* # dotfiles stay private", "}"]
    return lines


def _caddy_proxy(route: Route, number: int, limits: Limits) -> list[str]:
    target = route.target
    assert target is not None
    lines: list[str] = []
    upgrade = '"(?i)^websocket$"'
    if not route.ws:
        lines += [f"@devproxy_ws{number} header_regexp Upgrade {upgrade}",
                  f"respond @devproxy_ws{number} 404 # ws: false"]
    if route.cors is not None:
        lines += _caddy_cors(route.cors, number)
    lines += _caddy_paths(route)
    if route.ws_origin != "keep":
        lines += [f"@devproxy_upgrade{number} header_regexp Upgrade {upgrade}",
                  f"request_header @devproxy_upgrade{number} " + (
                      "-Origin" if route.ws_origin == "drop" else f"Origin {_cq(target.origin)}")
                  + f" # ws_origin: {route.ws_origin}"]
    inner = ["header_up Host {http.reverse_proxy.upstream.hostport}" if route.change_origin
             else "# Host: the browser's, which Caddy passes on by default.",
             "# X-Forwarded-For, -Proto and -Host: Caddy sets them by default.",
             "header_up X-Forwarded-Port {devproxy_port}",
             f"header_up X-Forwarded-Prefix {_cq(_front(route))}" if _front(route)
             else "header_up -X-Forwarded-Prefix",
             f"# {NOT_EXPORTED} appending to a client's X-Forwarded-For (Caddy replaces it "
             f"unless the client is in trusted_proxies)"]
    inner += [f"header_up {name} {_cq(value)}" if "{$" not in value else
              # Caddy puts environment variables in before it reads anything, escapes
              # included: no Caddyfile can write this value.
              f"# {NOT_EXPORTED} the header {name}: its value holds '{{' '$', which Caddy "
              f"reads as an environment variable wherever it appears"
              for name, value in route.headers]
    inner += _caddy_rewrites_back(route)
    if route.cors is not None and route.cors.backend_cors == "replace":
        inner.append("header_down -Access-Control-* # backend_cors: replace")
    inner.append("flush_interval -1 # SSE and downloads stream as they come")
    if route.wait_for_backend:
        inner += [f"lb_try_duration {route.wait_for_backend:g}s # wait_for_backend",
                  "lb_try_interval 100ms"]
    transport = [f"dial_timeout {route.timeout.connect:g}s",
                 f"response_header_timeout {route.timeout.response:g}s"]
    if limits.upstream_connections:
        transport.append(f"max_conns_per_host {limits.upstream_connections} "
                         f"# limits.upstream_connections")
    if target.scheme == "https":
        transport.append(f"tls_server_name {target.host}")
        if not route.secure:
            transport.append("tls_insecure_skip_verify # secure: false")
    inner += ["transport http {", *(f"\t{t}" for t in transport), "}"]
    shown = url_host(target.host)
    return [*lines, f"reverse_proxy {target.scheme}://{shown}:{target.port} {{",
            *(f"\t{line}" for line in inner), "}"]


def _caddy_paths(route: Route) -> list[str]:
    """``paths.upstream_path``: strip, base path, then each rewrite rule in order."""
    assert route.target is not None
    base, front = route.target.base_path, _front(route)
    front = _raw_regex(front)
    lines = []
    if front and base:
        lines.append(f"uri path_regexp {_cre('^' + front)} {_cvalue([base])}")
    elif front:
        # Not uri strip_prefix, which also merges "//" in the rest (/api//x reached the
        # backend as /x); path_regexp keeps the path as sent, as for a base path above.
        lines.append(f"uri path_regexp {_cre('^' + front + '(?:/|$)')} "
                     f"{_cvalue(['/'])}")
    elif base:
        lines.append(f"uri path_regexp ^ {_cvalue([base])}")
    for rule in route.rewrite:
        try:
            regex, pieces = _rewrite(rule, False, lambda k: "(")
        except _Untranslatable as exc:
            lines.append(f"# {NOT_EXPORTED} rewrite {_rule_text(rule)}: {exc}")
            continue
        lines += [f"# rewrite {_rule_text(rule)}",
                  f"uri path_regexp {_cre(regex)} {_cvalue(pieces)}"]
    if route.rewrite:  # as paths.upstream_path: a path always starts with "/"
        lines.append(f"uri path_regexp {_cre(_GO_NO_SLASH)} {_cvalue(['/', 1])}")
    return lines


def _caddy_rewrites_back(route: Route) -> list[str]:
    assert route.target is not None
    lines = ["# Redirects and cookies point back here, as devproxy maps them."]
    for regex, pieces in _location_rules(route, first_match=False):
        lines.append(f"header_down Location {_cre(regex)} {_cvalue(pieces)}")
    attribute, end = r"(;[ \t]*(?i:path)=[ \t]*)", r"([ \t]*(?:;|$))"
    for regex, pieces in _cookie_path_rules(route, first_match=False):
        shifted = [p + 1 if isinstance(p, int) else p for p in pieces]
        last = regex.count("(") - regex.count("(?") + 2
        lines.append(f"header_down Set-Cookie {_cre(attribute + regex + end)} "
                     f"{_cvalue([1, *shifted, last])}")
    domain = r"(?i);[ \t]*domain=[ \t]*" + _domain_regex(route.target) + r"[ \t]*(;|$)"
    lines.append(f"header_down Set-Cookie {_cre(domain)} {_cvalue([1])}")
    if _front(route) and not route.target.base_path:
        lines.append(f"# {NOT_EXPORTED} leaving a root-relative Location or a cookie Path the "
                     f"backend already wrote under {_front(route)} as it is")
    lines.append(f"# {NOT_EXPORTED} absolute Location URLs the backend built from the Host "
                 f"it was sent")
    if route.rewrite:
        lines.append(f"# {NOT_EXPORTED} undoing rewrite rules in Location and cookie paths")
    return lines


def _caddy_requested(regex: str) -> str:
    """A matcher of Access-Control-Request-Headers that also sees an absent header (as
    ""): header_regexp never matches a missing field, vars_regexp (2.6) expands no
    placeholder, so a CEL expression."""
    cel = json.dumps(regex).replace("`", "\\u0060")
    return f"expression `{{http.request.header.Access-Control-Request-Headers}}.matches({cel})`"


def _caddy_cors(policy: CorsPolicy, number: int) -> list[str]:
    name = f"@devproxy_cors{number}"
    origin = ["header Origin *", "not header Origin null"] if policy.any_origin \
        else [f"header_regexp Origin {_cre(_origins_regex(policy))}"]
    # One header_regexp per field in a matcher (Caddy): the common-methods matchers below
    # check the method their own way.
    asked = ["method OPTIONS", *origin]
    allow = [*asked,
             f"header_regexp Access-Control-Request-Method {_cre(_methods_regex(policy))}"]
    some = _request_headers_regex(policy, non_empty=False)
    named = _request_headers_regex(policy, non_empty=True) or r"[^\s,]"
    lines = ["# CORS mode: preflights are answered here and never reach the backend "
             "(Fetch §3.2.2).",
             f"{name}_preflight {{", "\tmethod OPTIONS", "\theader Origin *",
             "\theader Access-Control-Request-Method *", "}",
             f"{name}_allow {{", *(f"\t{c}" for c in allow),
             *([f"\t{_caddy_requested(some)}"] if some else []), "}",
             f"{name}_allow_headers {{", *(f"\t{c}" for c in allow),
             f"\t{_caddy_requested(named)}", "}"]
    headers = ["Access-Control-Allow-Origin {http.request.header.Origin}"]
    if policy.credentials:
        headers.append("Access-Control-Allow-Credentials true")
    if policy.methods is not None:
        headers.append(f"Access-Control-Allow-Methods {_cq(', '.join(policy.methods))}")
    if policy.max_age is not None:
        headers.append(f"Access-Control-Max-Age {policy.max_age}")
    headers.append(f"Vary {_cq(_vary_preflight(policy))}")
    echoed = "{http.request.header.Access-Control-Request-Headers}" + (
        ", *" if not policy.credentials else "")
    lines += [f"header {name}_allow {{", *(f"\t{h}" for h in headers), "}",
              f"header {name}_allow_headers Access-Control-Allow-Headers " + (
                  _cq(", ".join(policy.headers)) if policy.headers is not None
                  else f'"{echoed}"')]
    if policy.methods is None:  # the common methods, and the one asked if another
        common = "^(?:" + "|".join(COMMON_METHODS.split(", ")) + ")$"
        lines += [f"{name}_common {{", *(f"\t{c}" for c in asked),
                  f"\theader_regexp Access-Control-Request-Method {_cre(common)}", "}",
                  f"header {name}_common Access-Control-Allow-Methods {_cq(COMMON_METHODS)}",
                  f"{name}_other {{", *(f"\t{c}" for c in allow),
                  f"\tnot header_regexp Access-Control-Request-Method {_cre(common)}", "}",
                  f"header {name}_other Access-Control-Allow-Methods \"{COMMON_METHODS}, "
                  "{http.request.header.Access-Control-Request-Method}\""]
    if policy.private_network:
        lines += [f"{name}_pna {{", *(f"\t{c}" for c in allow),
                  "\theader Access-Control-Request-Private-Network true", "}",
                  f"header {name}_pna Access-Control-Allow-Private-Network true"]
    lines += [f"respond {name}_allow 204",
              f'respond {name}_preflight "CORS preflight refused" 403',
              "# CORS headers on every other response.",
              f"{name}_origin {{", *(f"\t{c}" for c in origin), "}"]
    actual = ["Access-Control-Allow-Origin {http.request.header.Origin}"]
    if policy.credentials:
        actual.append("Access-Control-Allow-Credentials true")
    if policy.expose:
        actual.append(f"Access-Control-Expose-Headers {_cq(', '.join(policy.expose))}")
    if policy.backend_cors == "keep":
       # "?": only when the backend sent none (its own CORS answer is kept).
        lines += [f"header {name}_origin ?{h}" for h in actual]
    else:
        lines += [f"header {name}_origin {{", *(f"\t{h}" for h in actual), "}"]
    lines += ["header +Vary Origin # RFC 9110 §12.5.5: the answer depends on Origin",
              f"# {NOT_EXPORTED} CORS headers on Caddy's own error responses (502, 504)"]
    return lines


# --- Traefik ----------------------------------------------------------------------------


def _yq(value: object) -> str:
    return json.dumps(value)  # JSON scalars and lists are YAML


def _traefik(config: Config) -> list[str]:
    listen = config.listen
    host = url_host(listen.host)
    out = ["# Traefik (v3) dynamic configuration for the file provider, generated by",
           f"# `devproxy export --format traefik` from {_source(config)}.",
           f"# Lines starting '# {NOT_EXPORTED}' name what Traefik does not do as devproxy does.",
           "# The static configuration it needs:",
           "#   entryPoints:",
           "#     devproxy:",
           f"#       address: \"{host}:{listen.port or 8080}\"",
           "#   providers:",
           "#     file:",
           "#       filename: this-file.yaml",
           f"# {NOT_EXPORTED} limits (entry point settings in the static configuration)",
           f"# {NOT_EXPORTED} the request inspector at /__devproxy/",
           "http:", "  routers:"]
    services: list[str] = []
    middlewares: list[str] = []
    transports: list[str] = []
    host_rule = ""
    if not config.any_host:
        exact, suffixes = _host_allowlist(config)
        names = "|".join(re.escape(url_host(h)) for h in exact if h)
        ends = "|".join(re.escape(s) for s in suffixes)
        host_rule = f" && HostRegexp(`(?i)^(?:(?:{names})|.*(?:{ends})|{_IP_HOST})$`)"
    for number, route in enumerate(_ordered(config)):
        name = f"devproxy-route{number}"
        path = "PathPrefix(`/`)" if route.path == "/" else \
            f"(Path(`{route.path}`) || PathPrefix(`{route.path}/`))"
        out += [f"    # {_title(route, config)}"]
        if "`" in route.path:
            out.append(f"    # {NOT_EXPORTED} a path with a backquote (Traefik's rule quotes)")
            continue
        if route.static is not None:
            out += [f"    # {NOT_EXPORTED} static folder {route.static} (Traefik serves no "
                    f"files: run a file server for it and route {route.path} there)"]
            continue
        target = route.target
        assert target is not None
        used, notes, mw = _traefik_middlewares(route, name)
        middlewares += mw
        out += [f"    {name}:", "      entryPoints: [\"devproxy\"]",
                f"      rule: {_yq(path + host_rule)}",
                f"      priority: {len(route.path) + 10}  # longest prefix first",
                f"      service: {name}"]
        if used:
            out.append(f"      middlewares: {_yq(used)}")
        out += [f"      {n}" for n in notes]
        services += [f"    {name}:", "      loadBalancer:",
                     f"        passHostHeader: {str(not route.change_origin).lower()}",
                     "        responseForwarding:",
                     "          flushInterval: \"-1ms\"  # SSE and downloads stream as they come",
                     f"        serversTransport: {name}",
                     "        servers:", f"          - url: {_yq(target.origin)}"]
        transports += [f"    {name}:", f"      insecureSkipVerify: {str(not route.secure).lower()}",
                       "      forwardingTimeouts:",
                       f"        dialTimeout: \"{route.timeout.connect:g}s\"",
                       f"        responseHeaderTimeout: \"{route.timeout.response:g}s\""]
    out += ["  services:", *(services or ["    {}"])]
    if middlewares:
        out += ["  middlewares:", *middlewares]
    if transports:
        out += ["  serversTransports:", *transports]
    return out


def _traefik_middlewares(route: Route, name: str) -> tuple[list[str], list[str], list[str]]:
    """(middleware names in order, not-exported notes, middleware definitions)."""
    assert route.target is not None
    used: list[str] = []
    notes: list[str] = []
    defs: list[str] = []
    if route.cors is not None:
        used.append(f"{name}-cors")
        cors_defs, cors_notes = _traefik_cors(route.cors)
        defs += [f"    {name}-cors:", "      headers:", *cors_defs]
        notes += cors_notes
    if _front(route):
        used.append(f"{name}-strip")  # also sets X-Forwarded-Prefix
        defs += [f"    {name}-strip:", "      stripPrefix:",
                 f"        prefixes: {_yq([_front(route)])}"]
    if route.target.base_path:
        used.append(f"{name}-base")
        defs += [f"    {name}-base:", "      addPrefix:",
                 f"        prefix: {_yq(route.target.base_path)}"]
    for index, rule in enumerate(route.rewrite):
        try:
            regex, pieces = _rewrite(rule, False, lambda k: "(")
        except _Untranslatable as exc:
            notes.append(f"# {NOT_EXPORTED} rewrite {_rule_text(rule)}: {exc}")
            continue
        replacement = "".join(f"${{{p}}}" if isinstance(p, int) else p.replace("$", "$$")
                              for p in pieces)
        used.append(f"{name}-rewrite{index}")
        defs += [f"    {name}-rewrite{index}:", "      replacePathRegex:",
                 f"        regex: {_yq(regex)}", f"        replacement: {_yq(replacement)}"]
    if route.rewrite:  # as paths.upstream_path: a path always starts with "/"
        used.append(f"{name}-slash")
        defs += [f"    {name}-slash:", "      replacePathRegex:",
                 f"        regex: {_yq(_GO_NO_SLASH)}", f"        replacement: {_yq('/${1}')}"]
    if route.headers:
        used.append(f"{name}-headers")
        defs += [f"    {name}-headers:", "      headers:", "        customRequestHeaders:",
                 *(f"          {_yq(k)}: {_yq(v)}" for k, v in route.headers)]
    notes.append(f"# {NOT_EXPORTED} Location and Set-Cookie rewriting (Traefik has none: "
                 f"have the backend write relative URLs and host-only cookies)")
    if not route.ws:
        notes.append(f"# {NOT_EXPORTED} ws: false (Traefik always passes upgrades)")
    if route.ws_origin != "keep":
        notes.append(f"# {NOT_EXPORTED} ws_origin: {route.ws_origin}")
    if route.wait_for_backend:
        notes.append(f"# {NOT_EXPORTED} wait_for_backend ({route.wait_for_backend:g}s)")
    return used, notes, defs


def _traefik_cors(policy: CorsPolicy) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    notes = [f"# {NOT_EXPORTED} refusing a preflight with 403, and answering allowed ones "
             f"with 204 (Traefik: 200)"]
    if policy.any_origin:
        lines.append("        accessControlAllowOriginList: [\"*\"]")
        notes.append(f"# {NOT_EXPORTED} echoing the origin for origins: '*' (Traefik sends *)")
    else:
        exact = [o for o in policy.origins if not o.endswith(":*")]
        ports = [o for o in policy.origins if o.endswith(":*")]
        if exact:
            lines.append(f"        accessControlAllowOriginList: {_yq(exact)}")
        if ports:
            lines.append("        accessControlAllowOriginListRegex: " + _yq(
                ["^" + re.escape(o[:-2]) + "(?::[0-9]+)?$" for o in ports]))
    lines.append(f"        accessControlAllowCredentials: {str(policy.credentials).lower()}")
    if policy.methods is not None:
        lines.append(f"        accessControlAllowMethods: {_yq(list(policy.methods))}")
    else:
        lines.append("        accessControlAllowMethods: " + _yq(
            ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]))
        notes.append(f"# {NOT_EXPORTED} allowing whatever method a preflight asks for "
                     f"(common methods listed)")
    if policy.headers is not None:
        lines.append(f"        accessControlAllowHeaders: {_yq(list(policy.headers))}")
    else:
        notes.append(f"# {NOT_EXPORTED} allowing whatever headers a preflight asks for "
                     f"(list them as cors.headers)")
    if policy.expose:
        lines.append(f"        accessControlExposeHeaders: {_yq(list(policy.expose))}")
    if policy.max_age is not None:
        lines.append(f"        accessControlMaxAge: {policy.max_age}")
    lines.append("        addVaryHeader: true")
    if policy.private_network:
        notes.append(f"# {NOT_EXPORTED} private_network")
    if policy.backend_cors == "replace":
        notes.append(f"# {NOT_EXPORTED} removing the backend's own CORS headers "
                     f"(backend_cors: replace)")
    return lines, notes
