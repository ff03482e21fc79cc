"""The validated, frozen configuration model.

Owns the shape of a config (``Config``, ``Route``, ``Target``, ...) and the rules for
single values (a target URL, a listen address, a route prefix, a rewrite rule). The
value parsers raise ``ValueError`` with a message that says what was expected; the
loader (``loader.py``) adds the file, line and column. Nothing here does I/O: a
``Route`` is handed its static folder as an absolute path by the loader (the folder
itself left unresolved, so a symlink there is followed per request).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

DEFAULT_LISTEN_HOST = "127.0.0.1"
DEFAULT_LISTEN_PORT = 8080
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_RESPONSE_TIMEOUT = 60.0

WS_ORIGIN_POLICIES = ("keep", "rewrite", "drop")
# devproxy's own pages and APIs (the inspector) live here; no route may claim it.
RESERVED_PREFIX = "/__devproxy"
# The names of this machine's loopback (RFC 6761 §6.3 for localhost), as hosts are kept
# (IPv6 without brackets): a server on one is reached, and may name itself, by any.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_localhost(host: str) -> bool:
    """RFC 6761 §6.3: ``localhost`` and ``*.localhost`` always mean loopback."""
    return host == "localhost" or host.endswith(".localhost")

DEFAULT_PORTS = {"http": 80, "https": 443}  # of the schemes devproxy speaks (RFC 9110 §4.2)
# RFC 9110 §5.6.2: token = 1*tchar; header field names (§5.1), methods (§9.1) and
# extension names are tokens. The one spelling of the rule: use TOKEN.fullmatch.
TOKEN_PATTERN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
TOKEN = re.compile(TOKEN_PATTERN)


@dataclass(frozen=True, slots=True)
class Listen:
    """The address devproxy binds: the origin the browser opens."""

    host: str
    port: int

    def url(self, port: int) -> str:
        """What to open in the browser when bound to ``port`` (the kernel's, for port 0):
        a wildcard address is opened as localhost."""
        shown = "localhost" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{url_host(shown)}:{port}"

    def addresses(self, ipv6: bool) -> tuple[str, ...]:
        """The addresses to bind: the host as written (the resolver gives a name's), but
        localhost as a browser resolves it, whatever /etc/hosts says: both loopback
        addresses (RFC 6761 §6.3; Chromium tries ::1 first, then 127.0.0.1), ::1 only
        where this machine has IPv6 (``ipv6``). Port 0 binds 127.0.0.1 alone: the kernel
        would give each address a port of its own."""
        if _address(self.host) != "localhost":
            return (self.host,)
        return ("127.0.0.1", "::1") if ipv6 and self.port != 0 else ("127.0.0.1",)

    @property
    def is_loopback(self) -> bool:
        mine = _address(self.host)
        return mine == "localhost" or (not isinstance(mine, str) and mine.is_loopback)

    def reached_by(self, target: Target) -> bool:
        """Whether requests for ``target`` would come back to this address: a route that
        loops to devproxy itself (``devproxy init`` for webpack once wrote one)."""
        if target.scheme != "http" or target.port != self.port or self.port == 0:
            return False
        mine, theirs = _address(self.host), _address(target.host)
        if mine == theirs:
            return True
        if not isinstance(theirs, str) and theirs.is_unspecified:
            # Connecting to 0.0.0.0 or :: reaches this machine (Linux and macOS): what
            # uvicorn and others print is copied as a target, so it counts as loopback.
            theirs = (ipaddress.IPv4Address("127.0.0.1") if theirs.version == 4
                      else ipaddress.IPv6Address("::1"))
            if mine == theirs:
                return True
        if theirs == "localhost":  # either family: it reaches whichever loopback is bound
            return self.is_loopback or self.host in ("0.0.0.0", "::")
        if isinstance(theirs, str) or not theirs.is_loopback:
            return False  # a name or another machine's address: cannot be known here
        # On Linux "::" takes IPv4 too; "0.0.0.0" only IPv4; "localhost" binds either.
        return (mine == "localhost" or self.host == "::"
                or (self.host == "0.0.0.0" and theirs.version == 4))

    def __str__(self) -> str:
        return f"{url_host(self.host)}:{self.port}"


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | str:
    """``host`` as an IP address if it is one (the resolver's IPv4 shorthands, such as
    127.1 and 0, and IPv4-mapped IPv6 included), else as a lower-case name without a
    trailing dot, every ``*.localhost`` as "localhost" (RFC 6761 §6.3: it is loopback)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        mapped = getattr(address, "ipv4_mapped", None)
        return mapped if mapped is not None else address
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        name = host.lower().rstrip(".")
        return "localhost" if is_localhost(name) else name


@dataclass(frozen=True, slots=True)
class Target:
    """An upstream base URL, split once so requests never re-parse it."""

    scheme: str  # "http" or "https"
    host: str  # lower-case hostname or IP literal, IPv6 without brackets
    port: int  # explicit, or the scheme's default
    base_path: str  # "" or a path without trailing slash, e.g. "/v1"
    # Derived once, as every proxied request names them.
    authority: str = field(init=False, compare=False)  # host[:port] as Host names it
    origin: str = field(init=False, compare=False)  # scheme://authority
    pool_key: str = field(init=False, compare=False, repr=False)  # one pool per address

    def __post_init__(self) -> None:
        host = url_host(self.host)
        authority = host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"
        object.__setattr__(self, "authority", authority)
        object.__setattr__(self, "origin", f"{self.scheme}://{authority}")
        object.__setattr__(self, "pool_key", f"{self.scheme}://{host}:{self.port}")

    @property
    def url(self) -> str:
        return self.origin + self.base_path

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One path rewrite rule: regex -> replacement (Python template syntax)."""

    pattern: re.Pattern[str]
    replacement: str
    source: str  # the replacement as the user wrote it, for display

    def apply(self, path: str) -> str:
        return self.pattern.sub(self.replacement, path, count=1)


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = DEFAULT_CONNECT_TIMEOUT  # TCP + TLS handshake
    response: float = DEFAULT_RESPONSE_TIMEOUT  # request sent -> response headers


@dataclass(frozen=True, slots=True)
class Route:
    """One path prefix and where it goes: a ``target`` URL or a ``static`` folder.

    ``path`` is normalised: it starts with "/" and has no trailing slash unless it
    is the root. Exactly one of ``target`` and ``static`` is set.
    """

    path: str
    target: Target | None = None
    static: Path | None = None
    spa: bool = False
    dotfiles: bool = False
    change_origin: bool = False
    strip_prefix: bool = False
    rewrite: tuple[Rewrite, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    timeout: Timeouts = field(default_factory=Timeouts)
    secure: bool = True
    ws: bool = True
    ws_origin: str = "keep"
    cors: CorsPolicy | None = None  # CORS mode, already resolved from the top-level block
    wait_for_backend: float = 0.0  # seconds to hold requests while the target refuses
    line: int = 0  # where the route was written (0: a --route flag)
    target_at: tuple[int, int] = (0, 0)  # line and column of its target's value, as ``line``

    @property
    def destination(self) -> str:
        """What the route serves, for tables and messages."""
        if self.target is not None:
            return self.target.url
        return f"static {self.static}"

    @property
    def shown_destination(self) -> str:
        """``destination`` as a response may say it: a static folder by its name only,
        never the machine path (``static``'s rule: a response names no machine path)."""
        if self.static is not None:
            return f"static folder {self.static.name or self.static}/"
        return self.destination


@dataclass(frozen=True, slots=True)
class Limits:
    """What one client may cost devproxy; fixed at start-up (a reload cannot rebind them)."""

    header_size: int = 65536  # bytes in the request line or in one header field
    headers: int = 128  # header fields in one request
    header_timeout: float = 10.0  # seconds from a connection's first byte to its headers' end
    idle_timeout: float = 75.0  # seconds a keep-alive connection may sit idle
    upstream_connections: int = 64  # open connections per target; further requests queue


# The most each `limits` and `inspector` number may be (the loader names the bound it
# refuses): far above any real need, yet low enough that `up` can build what it asks
# for. 10^20 bytes of header made the HTTP parser fail on every connection, and a
# 10^8-request history took 800 MB before the first request.
MAX_LIMITS: dict[str, float] = {
    "header_size": 4 * 1024 * 1024,  # twice the longest URL Chromium sends (2 MiB)
    "headers": 10_000,
    "header_timeout": 86_400.0,  # a day
    "idle_timeout": 86_400.0,
    "upstream_connections": 10_000,  # 0 is no cap
}
MAX_INSPECTOR: dict[str, int] = {
    "history": 10_000,  # some 2 KiB each (benchmarks/README.md), bodies apart
    "body_limit": 16 * 1024 * 1024,
}


@dataclass(frozen=True, slots=True)
class Inspector:
    """The request inspector at /__devproxy/; fixed at start-up like ``Limits``."""

    enabled: bool = True
    history: int = 500  # requests kept, oldest dropped first
    body_limit: int = 64 * 1024  # bytes of each body kept, per direction


@dataclass(frozen=True, slots=True)
class Config:
    listen: Listen
    routes: tuple[Route, ...]
    source: Path | None = None  # the file it came from; None for --route flags
    cors: CorsPolicy | None = None  # the top-level block; routes carry their resolved own
    allowed_hosts: tuple[str, ...] = ()  # beyond the defaults; "*.x" allows x's subdomains
    any_host: bool = False  # `allowed_hosts: all`: the DNS-rebinding defence is off
    limits: Limits = field(default_factory=Limits)
    inspector: Inspector = field(default_factory=Inspector)
    # The line of ``listen:`` in ``source``, for the error if it cannot be bound; 0 when
    # the address is the default or a flag's. Not a setting: two configs alike but for
    # where ``listen:`` was written are equal.
    listen_line: int = field(default=0, compare=False)

    def listen_error(self, reason: str, flag_hint: str = "") -> str:
        """Why the address could not be bound, with where it was set: the line of the
        file, whose edit then also applies on a reload, or else ``flag_hint``."""
        if self.source is None or not self.listen_line:
            return f"{reason}; {flag_hint}" if flag_hint else reason
        where = f"{self.source}:{self.listen_line}: listen: {reason}"
        return f"{where}; choose another port on that line" if flag_hint else where


def parse_allowed_host(text: str) -> str:
    """One ``allowed_hosts`` entry: a host name or IP, or ``*.domain`` for its subdomains.

    Raises:
        ValueError: a URL, a port or a path was written, showing what to write instead.
    """
    if ENV_VARIABLE.search(text):
        raise ValueError(env_refusal(text, "a host name", "the name", parse_allowed_host,
                                     "myapp.test"))
    value = text.strip().lower().rstrip(".")
    if "://" in value or "/" in value:
        host = urlsplit(value if "://" in value else "http://" + value).hostname or value
        raise ValueError(f"write the host name alone, {host!r}, not {text!r}: the Host "
                         f"check ignores scheme, port and path")
    bare = value[2:] if value.startswith("*.") else value
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    if not bare or (not is_ip(bare) and not _is_hostname(bare)):
        if ":" in bare and _is_hostname(bare.rpartition(":")[0]):
            raise ValueError(f"write the host without its port, "
                             f"{bare.rpartition(':')[0]!r}, not {text!r}")
        raise ValueError(f"expected a host name such as myapp.test, '*.myapp.test' or an IP "
                         f"address, got {text!r}")
    return value


def ascii_digits(text: str) -> bool:
    """Whether ``text`` is digits 0-9 alone. Not ``str.isdigit()`` or ``int()`` alone,
    which take full-width digits (U+FF10-U+FF19) and "45_431" (Python's separator) for
    numbers that YAML, URLs and other tools never read as one."""
    return text.isascii() and text.isdigit()


def ascii_note(text: str) -> str:
    """The words to add to a message refusing ``text`` when it is a number to Python
    alone (" in ASCII digits 0-9"), else ""."""
    python_only = text.replace("_", "").isdigit() and not ascii_digits(text)
    return " in ASCII digits 0-9" if python_only else ""


def parse_listen(text: str) -> Listen:
    """Parse ``host:port``, ``[v6]:port``, ``:port`` or ``port`` (loopback) into a ``Listen``.

    Raises:
        ValueError: not of that form, the port is not 0..65535, or it names an
            environment variable.
    """
    text = written = text.strip()
    if ENV_VARIABLE.search(text):  # ${PORT:-8080}: its ':' and '$' would be misread below
        raise ValueError(env_refusal(text, "a listen address", "the address", parse_listen,
                                     "127.0.0.1:8080"))
    if ascii_digits(text):  # a bare port, quoted in YAML or given to --listen
        text = f":{text}"
    elif ascii_note(text):
        raise ValueError(f"expected a port number 0-65535 in ASCII digits 0-9, got {text!r}")
    scheme, sep, rest = text.partition("://")
    if sep and scheme.isalpha():  # the URL devproxy prints, pasted back
        raise ValueError(f"write the address without {scheme}://, as "
                         f"{rest.rstrip('/') or '127.0.0.1:8080'}, got {text!r}")
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [IPv6]:PORT, got {text!r}")
        if ":" not in host or not is_ip(host):  # brackets hold an IPv6 address only
            raise ValueError(f"expected an IPv6 address in the brackets of [IPv6]:PORT, "
                             f"got {host!r} in {text!r}")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8080, got {text!r}")
        if ":" in host:
            if is_ip(host) and ascii_digits(port_text) and int(port_text) <= 65535:
                raise ValueError(f"write an IPv6 address in brackets, as "
                                 f"[{host}]:{port_text}, got {text!r}")
            if is_ip(text):  # an IPv6 address alone
                raise ValueError(f"add a port, as [{text}]:8080, got {text!r}")
            raise ValueError(f"expected HOST:PORT with one ':', such as 127.0.0.1:8080, "
                             f"got {text!r}")
    host = host or DEFAULT_LISTEN_HOST
    if not ascii_digits(port_text) or not 0 <= int(port_text) <= 65535:
        # Quoting what was written: a bare port is "70000", not the ":70000" read here.
        whole = f" in {written!r}" if written != port_text else ""
        raise ValueError(f"expected a port number 0-65535{ascii_note(port_text)}, got "
                         f"{port_text!r}{whole}")
    if host != "localhost" and not is_ip(host) and not _is_hostname(host):
        raise ValueError(f"expected an IP address or host name, got {host!r}")
    if all(ascii_digits(label) for label in host.rstrip(".").split(".")) \
            and (problem := _ipv4_problem(host)):  # 256.1.1.1: `check` passed, `up` failed
        raise ValueError(problem)
    return Listen(host=host, port=int(port_text))


# A URL's password: after the scheme, the user and a colon, up to the authority's last
# "@" (RFC 3986 §3.2.1; a password with a raw "@" in it ends at the last one, as
# urlsplit reads it).
_PASSWORD = re.compile(r"^([^:/?#]+://[^/?#@:]*:)[^/?#]*@")


def without_password(url: str) -> str:
    """``url`` to quote in a message: a password in it shown as "(hidden)"."""
    return _PASSWORD.sub(r"\1(hidden)@", url)


def parse_target(text: str) -> Target:
    """Parse an absolute http(s) URL, optionally with a base path.

    Raises:
        ValueError: not an absolute http:// or https:// URL, or it carries a query,
            fragment or credentials (which a base URL cannot meaningfully have).
    """
    # Messages quote the target without its password: they reach terminals and logs.
    shown = without_password(text)
    expected = f"expected an http:// or https:// URL such as http://127.0.0.1:3000, got {shown!r}"
    if "://" not in text and ENV_VARIABLE.match(text.strip()):  # the whole URL: $API_URL
        raise ValueError(env_refusal(text, "a target", "the URL", parse_target, shown=shown))
    if "://" not in text:
        raise ValueError(expected)
    if ENV_VARIABLE.search(text.partition("://")[2].partition("/")[0]):  # in host or port
        raise ValueError(env_refusal(text, "a target", "the host and port", parse_target,
                                     shown=shown))
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(_url_problem(str(exc), shown, expected)) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(expected)
    if parts.netloc.endswith(":"):
        raise ValueError(f"the port after ':' is missing; write it, or leave out the ':' for "
                         f"{scheme}'s default {DEFAULT_PORTS[scheme]}, got {shown!r}")
    if port == 0:
        raise ValueError(f"port 0 is no server's port; use the port your server listens on, "
                         f"got {shown!r}")
    if problem := _host_problem(parts.hostname):
        raise ValueError(f"{problem}, got {shown!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"credentials in a target URL are not supported; send them in the "
                         f"route's headers: (Authorization: Basic ...), got {shown!r}")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError(f"a target cannot have a query or fragment, got {shown!r}")
    if any(c.isspace() for c in text):
        raise ValueError(f"a target URL cannot contain white space, got {shown!r}")
    host = parts.hostname.lower()
    if not host.isascii():
        # A Host field and DNS take ASCII: an internationalised name goes as its
        # A-label (RFC 5890), as a browser sends it (bücher.localhost: xn--bcher-kva).
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{parts.hostname!r} is not a host name that has an ASCII "
                             f"form (IDNA), got {shown!r}") from None
    # A request-target is ASCII (RFC 9112 §3.2): /bäse goes as /b%C3%A4se, as a browser
    # sends it; escapes written stay as written.
    base_path = browser_encoded(parts.path)
    return Target(
        scheme=scheme,
        host=host,
        port=port if port is not None else DEFAULT_PORTS[scheme],
        base_path=base_path.rstrip("/"),
    )


def _url_problem(said: str, text: str, expected: str) -> str:
    """urlsplit's complaint about ``text`` in devproxy's words."""
    if said.startswith("Port could not be cast"):
        port = said.rpartition(" as ")[2]
        return (f"expected one port number (1-65535) after the host, got {port} in "
                f"{text!r}" if port.strip("'").strip() else expected)
    if said.startswith("Port out of range"):
        return f"a port is 1-65535, got {text!r}"
    if said == "Invalid IPv6 URL":
        return f"close the brackets around an IPv6 address, as http://[::1]:3000, got {text!r}"
    return f"{expected} ({said})"


ENV_VARIABLE = re.compile(r"\$\{?[A-Za-z_]")  # $HOST or ${API_PORT}, as in a .env file
# The same in a value that may hold a '$' of its own (OData's /$metadata, a cookie's
# $Version): ${name...} in braces, or $NAME in capitals, as environment variables are named.
ENV_REFERENCE = re.compile(r"\$\{[A-Za-z_]\w*(?:[:?+=#%/^,@-][^}]*)?\}"
                           r"|\$[A-Z_][A-Z0-9_]*(?!\w)")
# ${NAME:-default}, ${NAME-default}: what the shell puts there when NAME is unset.
_ENV_DEFAULT = re.compile(r"\$\{[A-Za-z_]\w*:?-([^}$]*)\}")


def env_refusal(text: str, what: str, noun: str, parse: Callable[[str], object],
                such_as: str = "", shown: str | None = None) -> str:
    """Why ``text``, a ``what`` (such as "a target"), is refused: it names an environment
    variable, which devproxy does not expand (a shell, Docker Compose or a .env loader
    would have). What to write is the value with each ``${NAME:-default}`` replaced by
    its default, if ``parse`` takes that, else ``such_as``; ``shown``: ``text`` as a
    message may quote it (a URL's password hidden)."""
    defaulted = _ENV_DEFAULT.sub(lambda found: found.group(1), text)
    example = f", such as {such_as}" if such_as else ""
    if defaulted != text and not ENV_VARIABLE.search(defaulted):
        try:
            parse(defaulted)
            example = f", as {defaulted}"
        except ValueError:
            pass
    quoted = text if shown is None else shown
    return (f"devproxy does not expand environment variables in {what}; write {noun} out"
            f"{example}, got {quoted!r}")


# RFC 1123 §2.1 host names; underscores too, as Docker Compose service names have them.
_NAME_LABEL = re.compile(r"^\w([\w-]{0,61}\w)?$")


def _host_problem(host: str) -> str:
    """What is wrong with a target's host (lower-case, IPv6 without brackets), or ""."""
    if ":" in host:
        return ""  # urlsplit has checked an IPv6 literal
    labels = host.rstrip(".").split(".")
    if all(label.isdigit() for label in labels):
        return _ipv4_problem(host)
    bad = next((label for label in labels if not _NAME_LABEL.match(label)), None)
    if bad is not None:
        return (f"{host!r} is not a host name (each dot-separated part is letters, digits, "
                f"'-' and '_', not starting or ending with '-')")
    return ""


def _ipv4_problem(host: str) -> str:
    """For a host of numbers and dots: "" if the resolver reads it as an IPv4 address
    (127.0.0.1, and shorthands such as 127.1), else what is wrong. Such a host is
    never looked up as a name, so what inet_aton refuses cannot be connected to or
    bound ("Name or service not known")."""
    try:
        socket.inet_aton(host)
    except (OSError, UnicodeError):
        return f"{host!r} is not an IPv4 address (four numbers 0-255, such as 127.0.0.1)"
    return ""


def route_key(path: str) -> str:
    """What two normalised route paths are compared by to find the same route twice:
    decoded, since /a%21 and /a! are two spellings a backend reads as one path."""
    return unquote(path)


def pattern_prefix(text: str) -> str | None:
    """The prefix before a wildcard segment of a route path (``/api`` of ``/api/*``), or
    None if it has none. Express's /api/*, a glob's /api/**: here "*" would match only
    itself, so the route would never be used; a prefix already covers all under it."""
    parts = text.split("/")
    wildcard = next((i for i, part in enumerate(parts) if part and not part.strip("*")), None)
    return None if wildcard is None else "/".join(parts[:wildcard]) or "/"


def normalize_prefix(text: str) -> str:
    """A route path as matched: leading "/", no trailing "/" (except the root), spelled
    as browsers send it (``/café`` is matched as ``/caf%C3%A9``).

    Raises:
        ValueError: it does not start with "/", or has a query, fragment, dot
            segment, wildcard segment ("*", "**"), white space, a malformed escape or
            an environment variable (``ENV_REFERENCE``).
    """
    if ENV_REFERENCE.search(text) or ENV_VARIABLE.match(text):  # ${BASE}/auth
        raise ValueError(env_refusal(text, "a route path", "the path", normalize_prefix,
                                     "/api"))
    if not text.startswith("/"):
        raise ValueError(f"a route path must start with '/', got {text!r}")
    if any(c.isspace() for c in text):
        escaped = re.sub(r"\s", lambda space: quote(space.group()), text)
        raise ValueError(f"a route path cannot hold white space (a browser sends a space "
                         f"as %20), got {text!r}: write {escaped!r}")
    if any(c in text for c in "?#"):
        raise ValueError(f"a route path is a plain path prefix, with no query or fragment, "
                         f"got {text!r}")
    prefix = pattern_prefix(text)
    if prefix is not None:
        raise ValueError(f"a route path is a prefix, not a pattern: {prefix} already "
                         f"matches everything under it; write {prefix!r}, got {text!r}")
    text = _as_sent(text)
    if text == RESERVED_PREFIX or text.startswith(RESERVED_PREFIX + "/"):
        raise ValueError(f"{RESERVED_PREFIX}/ is reserved for devproxy's own pages; "
                         f"choose another path")
    segments = text.split("/")
    if any(s in (".", "..") for s in segments):
        raise ValueError(f"a route path cannot contain '.' or '..' segments, got {text!r}")
    if "//" in text.rstrip("/"):
        raise ValueError(f"a route path cannot contain an empty segment, got {text!r}")
    return text.rstrip("/") or "/"


# RFC 3986 §2.3: unreserved characters mean the same encoded or not.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# WHATWG URL: the path and query percent-encode sets, less "#" (which ends both) and "?"
# (which ends the path); C0 controls, DEL and non-ASCII are encoded in both.
PATH_ENCODED = frozenset(' "<>`{}')
QUERY_ENCODED = frozenset(' "<>')
# The special-query set: what a browser encodes in an http(s) URL's query.
SPECIAL_QUERY_ENCODED = QUERY_ENCODED | {"'"}
_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def _as_sent(text: str) -> str:
    """A route path spelled as a browser sends it, so matching byte for byte finds it:
    non-ASCII and the characters browsers encode in UTF-8 %XX escapes, escapes in upper
    case, and escaped unreserved characters decoded (RFC 3986 §6.2.2).

    Raises:
        ValueError: a '%' starts no escape, escapes decode to no UTF-8 text, or an
            escape stands for '/' or '\\', which backends read apart or not.
    """
    if "%" in _ESCAPES.sub("", text):
        raise ValueError(f"a '%' in a route path must start a %XX escape (write a "
                         f"literal '%' as %25), got {text!r}")

    def decoded(escapes: re.Match[str]) -> str:
        try:
            chars = bytes.fromhex(escapes.group().replace("%", "")).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{escapes.group()!r} in route path {text!r} is not UTF-8 "
                             f"once decoded, so no browser sends it") from None
        if any(c in "/\\" for c in chars):
            raise ValueError(f"a route path cannot contain an escaped '/' or '\\' (%2F, "
                             f"%5C): servers differ on how they read them, got {text!r}")
        return "".join(c if c in _UNRESERVED else _escaped(c) for c in chars)

    return browser_encoded(_ESCAPES.sub(decoded, text))


def browser_encoded(text: str, encode: frozenset[str] = PATH_ENCODED) -> str:
    """``text`` with what a browser percent-encodes in a URL (``encode``, controls and
    non-ASCII) written as UTF-8 %XX escapes; escapes already there are left alone."""
    return "".join(_escaped(c) if c in encode or not "\x1f" < c < "\x7f" else c
                   for c in text)


def _escaped(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


_SINGLE_DOT = (".", "%2e")
_DOUBLE_DOT = ("..", ".%2e", "%2e.", "%2e%2e")


def browser_path(path: str) -> str:
    """A URL's path (from its "/") as a browser sends it (WHATWG URL, path state): "\\"
    read as "/", dot segments (".", "..", "%2e%2e") resolved, what the path
    percent-encode set names written as UTF-8 %XX."""
    segments = (path.replace("\\", "/") or "/").split("/")[1:]
    kept: list[str] = []
    for number, segment in enumerate(segments, 1):
        last = number == len(segments)
        if segment.lower() in _DOUBLE_DOT:
            if kept:
                kept.pop()
            if last:
                kept.append("")
        elif segment.lower() in _SINGLE_DOT:
            if last:
                kept.append("")
        else:
            kept.append(segment)
    return browser_encoded("/" + "/".join(kept))


def parse_rewrite(pattern: str, replacement: str) -> Rewrite:
    """Compile one rewrite rule. ``$1`` and ``$<name>`` (JavaScript style, as in Vite
    and http-proxy-middleware configs) are accepted as well as ``\\1`` and ``\\g<name>``.

    Raises:
        ValueError: the regex does not compile, or the replacement names a group
            the regex does not have.
    """
    # Paths go upstream ASCII (RFC 9112 §3.2), /bäse as /b%C3%A4se: what a pattern and a
    # replacement say in other characters, they say in those escapes.
    pattern, replacement = _escaped_pattern(pattern), _escaped_text(replacement)
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    except (RecursionError, OverflowError):
        # re.compile raises these, not re.error, on "(" * 1000 or a{99999999999}.
        raise ValueError(f"regular expression {pattern!r} is too complex") from None
    template = re.sub(r"\$(\d+)|\$<(\w+)>|\$\{(\w+)\}", _js_group_to_python, replacement)
    for ref in re.findall(r"\\g<(\w+)>|\\(\d+)", template):
        name = ref[0] or ref[1]
        if name.isdigit():
            if int(name) > compiled.groups:
                raise ValueError(
                    f"replacement {replacement!r} refers to group {name}, but "
                    f"{pattern!r} has {compiled.groups} group(s)"
                )
        elif name not in compiled.groupindex:
            raise ValueError(f"replacement {replacement!r} refers to unknown group {name!r}")
    return Rewrite(pattern=compiled, replacement=template, source=replacement)


def _escaped_text(text: str) -> str:
    """``text`` with each character outside ASCII as its UTF-8 %XX escapes."""
    if text.isascii():
        return text
    return "".join(c if c.isascii() else _escaped(c) for c in text)


def _escaped_pattern(pattern: str) -> str:
    """A regular expression with each character outside ASCII matched as its UTF-8
    escapes, as the path it is tested against spells it.

    Raises:
        ValueError: such a character in a class ([äö]), where its escapes would be
            several characters of the class, not one.
    """
    if pattern.isascii():
        return pattern
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        if char.isascii():
            out.append(char)
        elif in_class:
            raise ValueError(f"{char!r} in a [...] class of {pattern!r}: the path holds it "
                             f"as {_escaped(char)}, several characters; write that "
                             f"as an alternative instead, as (?:{_escaped(char)}|...)")
        else:
            out.append(_escaped(char))
    return "".join(out)


# Fields that frame the message or manage the connection: devproxy sets them for each
# request (RFC 9112 §6, RFC 9110 §7.6.1), so a route may not fix them; a fixed length
# would break or smuggle bodies.
PER_REQUEST_FIELDS = frozenset({"content-length", "transfer-encoding", "connection",
                                "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
                                "expect"})


def check_header(name: str, value: str) -> None:
    """Refuse header names that are not tokens and values that could split a message.

    Raises:
        ValueError: says which rule the name or value breaks.
    """
    if not TOKEN.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid header name")
    # RFC 9110 §5.5: CR, LF and NUL are never allowed in a field value.
    if any(c in value for c in "\r\n\x00"):
        raise ValueError(f"the value of header {name!r} contains CR, LF or NUL")


def _js_group_to_python(m: re.Match[str]) -> str:
    return f"\\g<{m.group(1) or m.group(2) or m.group(3)}>"


def url_host(host: str) -> str:
    """``host`` as a URL or a Host field writes it: an IPv6 address in brackets (RFC 3986
    §3.2.2), anything else as it is."""
    return f"[{host}]" if ":" in host else host


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_hostname(host: str) -> bool:
    return bool(re.fullmatch(r"(?i)[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?(?:\.[a-z0-9\-]+)*", host))


BACKEND_CORS_POLICIES = ("replace", "keep")


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """CORS mode for a route: which origins may read its responses, and how.

    ``origins`` holds serialised origins (``http://localhost:5173``), patterns with a
    wildcard port (``http://127.0.0.1:*``), or ``*`` alone for any origin. ``methods``
    and ``headers`` of None mean "whatever the preflight asks for".
    """

    origins: tuple[str, ...]
    credentials: bool = False
    methods: tuple[str, ...] | None = None
    headers: tuple[str, ...] | None = None
    expose: tuple[str, ...] = ()
    max_age: int | None = None
    private_network: bool = False
    backend_cors: str = "replace"  # or "keep": leave the backend's own CORS headers
    line: int = 0  # where the block was written, for "add it at line N" hints
    key_lines: tuple[tuple[str, int], ...] = ()  # where each key written was written

    def line_of(self, key: str) -> int:
        """The line of ``key`` in the block, or the block's own line if it is not written
        (or the setting refused is not one key, ``key`` "")."""
        return next((line for name, line in self.key_lines if name == key), self.line)

    @property
    def any_origin(self) -> bool:
        return self.origins == ("*",)


def parse_origin(text: str) -> str:
    """Validate one allowed origin as the browser serialises it (WHATWG HTML §7.1.1).

    Accepts ``scheme://host[:port]``, a ``*`` port, or ``null``; refuses a path,
    trailing slash, query or upper case, showing the correct serialisation.

    Raises:
        ValueError: says what is wrong and what to write instead.
    """
    if text in ("*", "null"):
        return text
    if ENV_VARIABLE.search(text):  # $FRONTEND_URL, http://localhost:${VITE_PORT:-5173}
        raise ValueError(env_refusal(text, "an origin", "the origin", parse_origin,
                                     "http://localhost:5173"))
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        raise ValueError(f"expected an origin such as http://localhost:5173, got {text!r}")
    authority, slash, _ = rest.partition("/")
    authority = authority.split("?")[0].split("#")[0]
    if "@" in authority:
        raise ValueError(f"an origin has no user name or password: {text!r}")
    host, colon, port = authority.rpartition(":") if not authority.endswith("]") else (
        authority, "", "")
    if not colon:
        host, port = authority, ""
    if port and port != "*" and not (ascii_digits(port) and 0 < int(port) < 65536):
        raise ValueError(f"invalid port {port!r} in origin {text!r}"
                         + ("; write it in ASCII digits 0-9" if ascii_note(port) else ""))
    _check_origin_host(host, text)
    if ascii_digits(port):
        port = str(int(port))  # URL §4.4 serialises a port without leading zeros
    default = {"http": "80", "https": "443"}[scheme.lower()]
    try:
        ipv4 = _whatwg_ipv4(host)
    except ValueError as exc:
        raise ValueError(f"invalid host in origin {text!r}: {exc}") from None
    correct = f"{scheme.lower()}://{ipv4 or host.lower()}" + (
        f":{port}" if port and port != default else "")
    if correct != text:
        why = ("an origin has no path, not even a trailing slash" if slash
               else "an origin has no query or fragment" if "?" in rest or "#" in rest
               else "browsers send an IPv4 address as four decimal numbers, with no "
               "trailing dot" if ipv4 and ipv4 != host
               else "origins are written in lower case without the default port or "
               "leading zeros")
        raise ValueError(f"{why}: write {correct!r}, not {text!r} (browsers send exactly "
                         f"the serialised origin, so anything else never matches)")
    return text


_ORIGIN_HOST = re.compile(r"[A-Za-z0-9._-]+")
_URL_NUMBER = re.compile(r"0[xX][0-9A-Fa-f]*|[0-9]+")


def _whatwg_ipv4(host: str) -> str | None:
    """The dotted-decimal address a browser reads ``host`` as, or None if it reads it as
    a name. URL §3.5 (the IPv4 parser): a host whose last label is a number is an IPv4
    address, with parts in decimal, octal (leading 0) or hex (0x), and fewer than four
    parts filling the last one, so 0x7f.1 and 2130706433 are both 127.0.0.1.

    Raises:
        ValueError: a number-ended host that is no address, which browsers refuse.
    """
    labels = host.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()  # a trailing dot
    if not _URL_NUMBER.fullmatch(labels[-1]):
        return None
    if len(labels) > 4 or not all(_URL_NUMBER.fullmatch(label) for label in labels):
        raise ValueError(f"{host!r} is neither a name nor an IPv4 address")
    numbers = []
    for label in labels:
        if label[:2].lower() == "0x":
            numbers.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            if any(digit in "89" for digit in label):
                raise ValueError(f"{label!r} in {host!r} is not an octal number")
            numbers.append(int(label, 8))
        else:
            numbers.append(int(label))
    *parts, last = numbers
    if any(part > 255 for part in parts) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(f"{host!r} is out of the IPv4 range")
    value = sum(part << (8 * (3 - i)) for i, part in enumerate(parts)) + last
    return ".".join(str((value >> shift) & 255) for shift in (24, 16, 8, 0))


def _check_origin_host(host: str, text: str) -> None:
    """Refuse a host no browser sends in an Origin, so it could never match."""
    if "*" in host:
        raise ValueError(f"{text!r}: only the port may be '*' (http://localhost:*); a "
                         f"browser sends one exact host, so list each origin")
    if host.startswith("[") and host.endswith("]"):
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"invalid IPv6 address {host!r} in origin {text!r}") from None
        if address.compressed != host[1:-1]:
            raise ValueError(f"browsers send an IPv6 address compressed: write "
                             f"{text.replace(host, f'[{address.compressed}]', 1)!r}, "
                             f"not {text!r}")
        return
    if host.isascii() and _ORIGIN_HOST.fullmatch(host):
        return
    if not host:
        raise ValueError(f"no host in origin {text!r}")
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = ""
    if not ascii_host or not _ORIGIN_HOST.fullmatch(ascii_host):
        raise ValueError(f"invalid host {host!r} in origin {text!r}")
    raise ValueError(f"browsers send a host in its ASCII form: write "
                     f"{text.replace(host, ascii_host.lower(), 1)!r}, not {text!r}")
