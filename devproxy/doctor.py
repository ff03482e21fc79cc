"""``devproxy doctor``: do what a browser's ``fetch()`` from an origin would do, and say why.

Against any server, devproxy or not: decide whether a preflight is needed, send it,
run the browser's preflight checks, send the actual request following redirects as
Fetch does (tainting the origin to ``null`` across origins), run the CORS check on
every response, and report each step. The decisions are the pure functions of
``cors`` (shared with CORS mode's log lines); this module only performs the requests
and ``render`` turns the report into text for the CLI to print.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urljoin, urlsplit

import aiohttp
from yarl import URL

from . import cors
from .config import (
    DEFAULT_PORTS,
    SPECIAL_QUERY_ENCODED,
    TOKEN,
    browser_encoded,
    browser_path,
    is_ip,
    parse_origin,
    url_host,
    without_password,
)
from .cookies import cookie_verdicts
from .cors import Verdict
from .corsadvice import (
    Ask,
    Fix,
    cause,
    failed_in_devproxy,
    fixes,
    noted_by_devproxy,
    refused_by_devproxy,
    stack_of,
    unlisted_by_devproxy,
    unrouted_in_devproxy,
)
from .errorpages import failure_of, no_route_of
from .errors import DevproxyError
from .headers import field_value
from .upstream import LoopbackResolver

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 20  # Fetch §4.4 step 8
_BODY_HEADERS = ("content-encoding", "content-language", "content-location", "content-type")
_SHOWN_RESPONSE = ("vary", "location")
_EXCERPT = 300
_READ = 4096  # of an error body: all of a refusal devproxy wrote (``cors.refusal_of``)


class DoctorError(DevproxyError):
    """The server could not be reached (exit status 3)."""


@dataclass(frozen=True, slots=True)
class Probe:
    """The fetch to imitate, already validated by ``probe``."""

    url: str
    origin: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    credentials: bool = False
    body: bytes | None = None
    preflight_only: bool = False
    timeout: float = 10.0


def probe(url: str, origin: str, method: str = "GET", headers: Sequence[str] = (),
          credentials: bool = False, body: bytes | None = None, preflight_only: bool = False,
          timeout: float = 10.0) -> Probe:
    """Validate the command line the way a browser validates a fetch() call.

    Raises:
        ValueError: what a browser would refuse or silently change, and why.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"URL: expected an http:// or https:// URL, got {url!r}")
    try:
        port = parts.port  # urlsplit checks the port only when it is read
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"URL: the port must be a number from 1 to 65535, got {url!r}")
    if parts.username or parts.password:
        # Fetch §5.4 (the Request constructor): a URL with credentials throws before
        # anything is sent; the browser never asks the server.
        raise ValueError(f"fetch() throws for {without_password(url)!r} (TypeError: Request "
                         f"cannot be constructed from a URL that includes credentials); "
                         f"leave out the user:password@ and send the credentials in a "
                         f"header, such as -H 'Authorization: Basic ...'")
    try:
        origin = "null" if origin == "null" else parse_origin(origin)
    except ValueError as exc:
        raise ValueError(f"--origin: {exc}") from None
    if origin.endswith(":*") or origin == "*":
        raise ValueError(f"--origin is one page's origin, such as http://localhost:5173, "
                         f"not a pattern: {origin!r}")
    if not TOKEN.fullmatch(method):  # Fetch: a method is a token, or fetch() throws
        raise ValueError(f"fetch() throws on method {method!r}: a method is a token "
                         f"(letters, digits, !#$%&'*+-.^_`|~), such as PATCH")
    if not timeout > 0:
        raise ValueError(f"--timeout is a number of seconds above 0, got {timeout:g}")
    normalized = cors.normalize_method(method)
    if normalized.upper() in cors.FORBIDDEN_METHODS:
        raise ValueError(f"browsers refuse fetch() with method {method}")
    if body is not None and normalized in ("GET", "HEAD"):
        raise ValueError(f"fetch() refuses a body with {normalized} (TypeError: Request with "
                         f"GET/HEAD method cannot have body); add -X POST or drop -d")
    pairs = []
    for header in headers:
        name, colon, value = header.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not name or any(c in name for c in " \t\r\n"):
            raise ValueError(f"-H expects 'Name: value', got {header!r}")
        # Fetch §2.2.2 (header name, header value) and §5.1 (Headers): a name is a token,
        # a value holds no CR, LF or NUL, both are ByteStrings (U+0000-U+00FF), or
        # fetch() throws a TypeError before sending anything.
        if not TOKEN.fullmatch(name):
            raise ValueError(f"fetch() throws a TypeError for -H {header!r}: a header name is "
                             f"a token (letters, digits, !#$%&'*+-.^_`|~)")
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"fetch() throws a TypeError for -H {header!r}: a header value "
                             f"may not contain CR, LF or NUL (Fetch: header value)")
        if any(ord(c) > 0xFF for c in value):
            raise ValueError(f"fetch() throws a TypeError for -H {header!r}: a header value is "
                             f"a ByteString, no character beyond U+00FF; percent-encode it")
        if cors.is_forbidden_request_header(name):
            raise ValueError(f"a page cannot set {name}: fetch() silently drops it, the "
                             f"browser sets it itself (Fetch: forbidden request-header)")
        pairs.append((name, value))
    if body is not None and not any(name.lower() == "content-type" for name, _ in pairs):
        # Fetch §5.2 "extract a body": a string body is sent as text, a safelisted type.
        pairs.append(("Content-Type", "text/plain;charset=UTF-8"))
    return Probe(url, origin, normalized, tuple(pairs), credentials, body, preflight_only,
                 timeout)


@dataclass(frozen=True, slots=True)
class Exchange:
    method: str
    url: str
    sent: tuple[tuple[str, str], ...]
    status: int
    reason: str
    received: tuple[tuple[str, str], ...]
    excerpt: str = ""  # the start of an error response's body: it often says why
    refused: cors.Preflight | None = None  # devproxy's own refusal of a preflight
    # devproxy's own 502 or 504, no backend having answered: its title, detail and hint
    failed: tuple[str, str, str] | None = None
    # devproxy's own 404 for a path no route matches: its detail, hint and listed routes
    unrouted: tuple[str, str, tuple[str, ...]] | None = None


@dataclass(frozen=True, slots=True)
class Step:
    title: str
    exchange: Exchange | None = None
    verdict: Verdict | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    probe: Probe
    steps: tuple[Step, ...]
    verdict: Verdict
    blocked_url: str = ""  # the URL the browser names in its console message
    cause: str = ""
    fixes: tuple[Fix, ...] = ()
    readable: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    response_checked: bool = True  # False with --preflight-only: the verdict is the preflight's

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict.ok else 1


async def run(p: Probe) -> Report:
    """Perform the fetch. Raises ``DoctorError`` if a server cannot be reached."""
    connector = aiohttp.TCPConnector(resolver=LoopbackResolver(), limit=4)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=p.timeout),
    ) as session:
        return await _Fetch(session, p).run()


class _Fetch:
    def __init__(self, session: aiohttp.ClientSession, p: Probe) -> None:
        self.session = session
        self.p = p
        self.steps: list[Step] = []
        self.warnings: list[str] = []
        # devproxy said why the page is refused its answer (``cors.REFUSED_FIELD``).
        self.said: str | None = None

    async def run(self) -> Report:
        p = self.p
        if p.method != p.method.upper():
            self.warnings.append(
                f"fetch() sends the method {p.method!r} as written: it upper-cases only "
                f"DELETE, GET, HEAD, OPTIONS, POST and PUT. doctor's HTTP client sends the "
                f"actual request as {p.method.upper()!r}, but most servers (Node, aiohttp, "
                f"devproxy) refuse {p.method!r} with a 400 that the browser reports as a "
                f"CORS error. Write {p.method.upper()!r} in fetch().")
        url, method, headers, body = p.url, p.method, p.headers, p.body
        origin, tainted, crossed = p.origin, False, False
        for hop in range(_MAX_REDIRECTS + 1):
            unsafe = cors.unsafe_request_headers(headers)
            # Fetch §4.1 "main fetch": a response tainted "cors" stays so, even when a
            # later redirect comes back to the page's origin.
            crossed = crossed or _origin_of(url) != p.origin
            if not crossed:
                # Same origin: no preflight and no CORS check, until a redirect leaves it.
                if p.preflight_only:
                    self.steps.append(Step("Same origin", notes=(
                        f"{url} is on {p.origin} itself: no preflight. Not sent "
                        "(--preflight-only).",)))
                    return replace(self._report(Verdict(True)), response_checked=False)
                # Fetch §3.1: Origin goes with every request but a same-origin GET or HEAD.
                sent = headers if method in ("GET", "HEAD") else (("Origin", origin),
                                                                  *headers)
                exchange = await self._send(method, url, sent, body)
                verdict = Verdict(True)
                location = field_value(exchange.received, "location")
                if exchange.status not in _REDIRECTS or location is None:
                    self.steps.append(Step("Same origin", exchange, verdict, notes=(
                        f"{url} is on {p.origin} itself: CORS does not apply.",)))
                    return self._report(verdict)
            else:
                reasons = cors.needs_preflight(method, headers)
                if reasons:
                    verdict = await self._preflight(url, origin, method, unsafe, reasons)
                    if not verdict.ok:
                        return self._report(verdict, url, method, unsafe, origin=origin)
                elif hop == 0:
                    self.steps.append(Step("No preflight needed", notes=(
                        f"{method} with only CORS-safelisted headers is a simple request: "
                        "the browser sends it directly.",)))
                if p.preflight_only:
                    self.steps.append(Step("Actual request not sent (--preflight-only)"))
                    return replace(self._report(Verdict(True)), response_checked=False)
                exchange = await self._send(method, url, (("Origin", origin), *headers), body)
                verdict = cors.cors_check(origin, p.credentials, exchange.received)
                self._vary_warning(exchange)
                if not verdict.ok:
                    self.steps.append(Step("Actual request", exchange, verdict))
                    # devproxy's own word on why: an unlisted origin, or a route its
                    # cors: block does not cover.
                    self.said = field_value(exchange.received, cors.REFUSED_FIELD.lower())
                    return self._report(verdict, url, method, unsafe, origin=origin)
                location = field_value(exchange.received, "location")
                if exchange.status not in _REDIRECTS or location is None:
                    readable, hidden = cors.readable_headers(list(exchange.received),
                                                             p.credentials)
                    hidden = [name for name in hidden if not cors.is_cors_header(name)]
                    # Exposing Set-Cookie does nothing: the hint names only what it helps.
                    never = [n for n in hidden if n in cors.FORBIDDEN_RESPONSE_HEADERS]
                    exposable = [n for n in hidden if n not in never]
                    exposed = [v for k, v in exchange.received
                               if k.lower() == "access-control-expose-headers"]
                    if exposed and cors.token_list(exposed) is None:
                        # Listed already, but not as a list the browser reads.
                        self.warnings.append(
                            f"Access-Control-Expose-Headers {', '.join(exposed)!r} is not a "
                            f"list of names separated by commas (a ';' or a space inside an "
                            f"item), so the browser exposes none of it")
                    self._cookie_warnings(exchange, url)
                    self.steps.append(Step("Actual request", exchange, verdict, notes=(
                        "JavaScript can read: " + (", ".join(readable) or "nothing"),
                        *(["Hidden from JavaScript (add to Access-Control-Expose-Headers "
                           "to read them): " + ", ".join(exposable)] if exposable else []),
                        *(["Never readable by JavaScript, exposed or not (the browser keeps "
                           "cookies to itself): " + ", ".join(never)] if never else []),
                    )))
                    return self._report(verdict, readable=readable, hidden=hidden)
            target = urljoin(url, location)
            notes = [f"redirect to {target}"]
            there, here = _origin_of(target), _origin_of(url)
            moved = urlsplit(target)
            # Fetch §4.4: credentials in a URL of another origin than the page's.
            if there != p.origin and (moved.username or moved.password):
                blocked = Verdict(False, f"Redirect location '{target}' contains a username "
                                         f"and password, which is disallowed for "
                                         f"cross-origin requests.")
                self.steps.append(Step("Redirect", exchange, blocked))
                return self._report(blocked, url, method, unsafe)
            # Fetch §4.4 "HTTP-redirect fetch": leaving a cross-origin URL for another
            # origin taints the request's origin, which is then serialised as "null".
            if there != here and origin != here:
                if not tainted:
                    notes.append("cross-origin redirect: the browser now sends Origin: null")
                tainted, origin = True, "null"
            if there != here:
                # Fetch §4.4 "HTTP-redirect fetch": a redirect to another origin drops
                # the CORS non-wildcard request-header names, Authorization, so the next
                # hop may need no preflight at all.
                kept = tuple(h for h in headers if h[0].lower() != "authorization")
                if len(kept) != len(headers):
                    notes.append("to another origin: the browser drops Authorization")
                headers = kept
            if (exchange.status in (301, 302) and method == "POST") or (
                    exchange.status == 303 and method not in ("GET", "HEAD")):
                notes.append(f"{exchange.status} turns {method} into GET without a body")
                method, body = "GET", None
                headers = tuple(h for h in headers if h[0].lower() not in _BODY_HEADERS)
            self.steps.append(Step("Redirect", exchange, verdict, tuple(notes)))
            url = target
        blocked = Verdict(False, f"More than {_MAX_REDIRECTS} redirects.")
        return self._report(blocked, url, method)

    async def _preflight(self, url: str, origin: str, method: str, unsafe: list[str],
                         reasons: list[str]) -> Verdict:
        # Fetch §4.8: names lower-cased, sorted, joined with ","; never credentials.
        sent = [("Origin", origin), ("Access-Control-Request-Method", method)]
        if unsafe:
            sent.append(("Access-Control-Request-Headers", ",".join(unsafe)))
        exchange = await self._send("OPTIONS", url, tuple(sent), None)
        verdict = cors.preflight_check(origin, method, unsafe, self.p.credentials,
                                       exchange.status, exchange.received)
        if verdict.warning:
            self.warnings.append(verdict.warning)
        self.steps.append(Step("Preflight (" + "; ".join(reasons) + ")", exchange, verdict))
        return verdict

    async def _send(self, method: str, url: str, headers: Sequence[tuple[str, str]],
                    body: bytes | None) -> Exchange:
        try:
            async with self.session.request(
                method, as_browser_sends(url),
                headers=list(headers), data=body, allow_redirects=False,
                skip_auto_headers=("Content-Type",),  # probe() set the one fetch() sends
            ) as response:
                method = response.request_info.method  # as sent: the client upper-cases
                sent = tuple(response.request_info.headers.items())
                received = tuple(response.headers.items())
                excerpt, refused, failed, unrouted = "", None, None, None
                if response.status >= 400:
                    text = (await response.content.read(_READ)).decode("utf-8", "replace")
                    excerpt = " ".join(text.split())[:_EXCERPT]
                    if method == "OPTIONS" and response.status == 403:
                        refused = cors.refusal_of(text)
                    failed = failure_of(response.status, response.content_type, text)
                    unrouted = no_route_of(response.status, response.content_type, text)
                return Exchange(method, url, sent, response.status, response.reason or "",
                                received, excerpt, refused, failed, unrouted)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise DoctorError(f"could not fetch {url}: {_describe(exc)}") \
                from exc

    def _cookie_warnings(self, exchange: Exchange, url: str) -> None:
        """Each Set-Cookie of an allowed answer the browser will not store, by the
        inspector's checker: a login that "works" and a session that never sticks look
        alike in the verdict alone (a SameSite=Lax cookie from 127.0.0.1 to a page on
        localhost, say)."""
        lines = [v for k, v in exchange.received if k.lower() == "set-cookie"]
        if not lines:
            return
        p, there = self.p, _origin_of(url)
        if not p.credentials:
            # Fetch §4.6: without credentials, a cross-origin answer's cookies are ignored.
            self.warnings.append(
                f"{len(lines)} Set-Cookie in the answer, which the browser ignores: a "
                f"request to another origin stores cookies only with fetch's "
                f"credentials: 'include' (axios or XHR: withCredentials: true)")
            return
        for verdict in cookie_verdicts(lines, there, _fetch_site(p.origin, there), "cors",
                                       cross_origin=True, cookie_sent=True, page=p.origin):
            if not verdict["stored"]:
                self.warnings.append(f"the browser will not store the cookie "
                                     f"{verdict['name']!r}: {verdict['reason']}")
            elif verdict.get("third_party"):  # its note says so, and the fix
                self.warnings.append(f"the cookie {verdict['name']!r} is "
                                     f"{verdict['note']}")

    def _vary_warning(self, exchange: Exchange) -> None:
        acao = field_value(exchange.received, "access-control-allow-origin")
        vary = ",".join(v for k, v in exchange.received if k.lower() == "vary").lower()
        if acao not in (None, "*") and "origin" not in vary and "*" not in vary:
            self.warnings.append(
                "Access-Control-Allow-Origin names one origin but Vary does not include "
                "Origin: a browser or CDN cache may hand this answer to a page of another "
                "origin, which is then blocked at random.")

    def _report(self, verdict: Verdict, url: str = "", method: str = "",
                unsafe: Sequence[str] = (), readable: Sequence[str] = (),
                hidden: Sequence[str] = (), origin: str = "") -> Report:
        """``origin``: the one the failing request carried, "null" after a cross-origin
        redirect (then only avoiding that redirect helps, not another origin listed)."""
        p = self.p
        advice: tuple[Fix, ...] = ()
        why = ""
        last = self.steps[-1].exchange if self.steps else None
        refused = last.refused if last is not None else None
        if not verdict.ok and self.said is not None:
            unlisted = cors.refusal_of_field(self.said)
            said = unlisted_by_devproxy(unlisted, "devproxy.yaml") if unlisted is not None \
                else noted_by_devproxy(self.said, "devproxy.yaml")
            why = said["cause"]
            advice = tuple(Fix(f["tool"], f["text"]) for f in said["fixes"])
        elif not verdict.ok and refused is not None:
            # devproxy in CORS mode answered: the backend never saw the preflight, so
            # only devproxy's block, or the page, can change the answer. Said as the
            # inspector says it; the block's fix is the one its body named.
            said = refused_by_devproxy(refused, "devproxy.yaml")
            why = said["cause"]
            advice = tuple(Fix(f["tool"], f["text"]) for f in said["fixes"] or [
                {"tool": "devproxy (devproxy.yaml)",
                 "text": refused.fix[:1].upper() + refused.fix[1:] + "."}])
        elif not verdict.ok and last is not None and last.failed is not None:
            # devproxy's own 502/504: no backend answered, so no backend's CORS settings,
            # nor a cors: block, would change it (as the inspector says it).
            said = failed_in_devproxy(last.status, *last.failed)
            why = said["cause"]
            advice = tuple(Fix(f["tool"], f["text"]) for f in said["fixes"])
        elif not verdict.ok and last is not None and last.unrouted is not None:
            # devproxy's own 404: no route matches the path, so no backend saw it.
            said = unrouted_in_devproxy(*last.unrouted)
            why = said["cause"]
            advice = tuple(Fix(f["tool"], f["text"]) for f in said["fixes"])
        elif not verdict.ok:
            # The preflight this URL got, if any: its fixes keep what its answer allowed.
            answer = next((s.exchange.received for s in reversed(self.steps)
                           if s.exchange is not None and s.exchange.method == "OPTIONS"
                           and s.exchange.url == url), ())
            ask = Ask(origin or p.origin, method or p.method, tuple(unsafe), p.credentials,
                      *cors.allowed_lists(answer))
            # The stack the last answer names (X-Powered-By, Server): its fix first.
            stack = stack_of(last.received) if last is not None else ""
            why, advice = cause(verdict, ask), fixes(verdict, ask, stack=stack)
        return Report(p, tuple(self.steps), verdict, url, why, advice, tuple(readable),
                      tuple(hidden), tuple(dict.fromkeys(self.warnings)))


def as_browser_sends(url: str) -> URL:
    """``url`` as a browser's fetch() sends it (WHATWG URL): the host lower-cased, the
    scheme's default port dropped, dot segments ("..", "%2e%2e") resolved, "\\" read as
    "/", and only what the path and query percent-encode sets name encoded (as UTF-8),
    every escape already there kept as written ("%2f" stays "%2f", where aiohttp's
    client sends "%2F"). No fragment: it is never sent."""
    before, _, query = url.partition("#")[0].partition("?")
    parts = urlsplit(before.replace("\\", "/"))  # a special scheme's path: "\\" is "/"
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if not host.isascii():
        host = URL(url).raw_host or host  # IDNA, as the browser looks it up
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    authority = host if port in (None, DEFAULT_PORTS.get(scheme)) \
        else f"{host}:{port}"
    return URL.build(scheme=scheme, authority=authority, path=browser_path(parts.path),
                     query_string=browser_encoded(query, SPECIAL_QUERY_ENCODED), encoded=True)


def _fetch_site(page: str, there: str) -> str:
    """Sec-Fetch-Site for a request from ``page`` to ``there``, as a browser would send
    it. Without the public suffix list a site is the host's last two labels (an IP
    address or a one-label name, the host): a cookie is never called dropped for a
    site that is one, at worst let pass for one that is not."""
    if page == there:
        return "same-origin"
    ours, theirs = urlsplit(page), urlsplit(there)

    def site(host: str) -> str:
        return host if is_ip(host) else ".".join(host.split(".")[-2:])

    same = ours.scheme == theirs.scheme and \
        site(ours.hostname or "") == site(theirs.hostname or "")
    return "same-site" if same else "cross-site"


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = url_host(parts.hostname or "")
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time (--timeout)"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate not trusted ({exc.certificate_error})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        host = f"{exc.host}:{exc.port}"
        if exc.os_error.errno == errno.ECONNREFUSED:
            return f"connection refused: nothing is listening on {host}"
        return f"cannot connect to {host}: {exc.os_error.strerror or exc.os_error}"
    return str(exc) or type(exc).__name__


# --- text for the terminal ---------------------------------------------------------


def render(report: Report) -> str:
    """The report as the CLI prints it."""
    p = report.probe
    lines = [f"fetch {p.method} {p.url}", f"  from a page on {p.origin}"
             + (", credentials: include" if p.credentials else "")]
    for number, step in enumerate(report.steps, 1):
        lines.append("")
        lines.append(f"{number}. {step.title}")
        if step.exchange is not None:
            lines.extend(_exchange(step.exchange))
        if step.verdict is not None:
            lines.append("   passes the browser's check" if step.verdict.ok
                         else f"   FAILS: {step.verdict.reason}")
        for note in step.notes:
            lines.append(f"   {note}")
    for warning in report.warnings:
        lines += ["", f"warning: {warning}"]
    lines.append("")
    if report.verdict.ok and not report.response_checked:
        if any(step.title.startswith("Preflight") for step in report.steps):
            lines.append("PREFLIGHT PASSES: the browser would send the actual request. Its "
                         "response was not checked (--preflight-only); the browser also "
                         "needs Access-Control-Allow-Origin on it.")
        else:
            lines.append("NO PREFLIGHT: the browser sends this request directly, so "
                         "--preflight-only checked nothing; run without it to check the "
                         "response.")
        return "\n".join(lines)
    if report.verdict.ok:
        lines.append(f"ALLOWED: the browser lets {p.origin} read this response.")
        return "\n".join(lines)
    moved = f" (redirected from '{p.url}')" if report.blocked_url != p.url else ""
    lines.append(f"BLOCKED: Access to fetch at '{report.blocked_url}'{moved} from origin "
                 f"'{p.origin}' has been blocked by CORS policy: {report.verdict.reason}")
    if report.cause:
        lines += ["", f"Why: {report.cause}"]
    if report.fixes:
        # Alternatives for each server that may answer CORS; else devproxy's or the page's.
        servers = any(not f.tool.startswith(("devproxy", "your ")) for f in report.fixes)
        lines += ["", "Fix it on one layer, whichever answers CORS:"
                  if len(report.fixes) > 1 and servers else "Fix it:"]
        for fix in report.fixes:
            lines.append(f"  {fix.tool}:")
            lines.extend(f"      {text}" for text in fix.text.splitlines())
    return "\n".join(lines)


def _exchange(exchange: Exchange) -> list[str]:
    lines = [f"   > {exchange.method} {exchange.url}"]
    lines.extend(f"   >   {name}: {value}" for name, value in exchange.sent
                 if name.lower() not in _CLIENT_DEFAULTS)
    lines.append(f"   < {exchange.status} {exchange.reason}".rstrip())
    if not any(cors.is_cors_header(k) for k, _ in exchange.received):
        lines.append("   <   (no Access-Control-* headers)")
    lines.extend(f"   <   {name}: {value}" for name, value in exchange.received
                 if cors.is_cors_header(name) or name.lower() in _SHOWN_RESPONSE)
    if exchange.excerpt:
        lines.append(f"   <   body: {exchange.excerpt}")
    return lines


# What the HTTP client adds on its own: not part of the story.
_CLIENT_DEFAULTS = frozenset({"host", "accept", "accept-encoding", "user-agent",
                              "content-length"})
