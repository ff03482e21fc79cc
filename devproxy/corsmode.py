"""CORS mode on the wire: preflight answers and CORS headers on every response.

Owns when the pure decisions of ``cors.CorsRules`` are applied: a preflight on a CORS
route is answered here and never forwarded; every other response on that route,
relayed or written by devproxy itself (404, 502, 504), gets its CORS headers in one
``on_response_prepare`` hook, so the page can read the real error instead of a
misleading CORS failure. Refusals are logged with the rule that failed and what to
add to the config. It makes no CORS decision of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_parser import HttpRequestParser
from multidict import CIMultiDict

from .cookies import cookie_verdicts
from .cors import (
    CREDENTIALS_NOT_TRUE,
    NULL_ORIGIN,
    REFUSED_FIELD,
    WILDCARD_WITH_CREDENTIALS,
    CorsRules,
    Preflight,
    cors_check,
    cors_header_names,
    in_cors_mode,
    merge_vary,
    origin_refused,
    refusal_body,
    refusal_field,
)
from .state import LIVE

logger = logging.getLogger(__name__)
# Methods every HTTP parser reads: no need to ask aiohttp's (``_parser_reads``).
_READ_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})

# Request-scoped: the rules the response to this request must follow, or (outside CORS
# mode, where a top-level block makes a page expect it) why it gets none: ``note``.
_RULES: web.RequestKey[CorsRules | str] = web.RequestKey("cors_rules")
_MAX_WARNED = 256


def mark(request: web.Request, rules: CorsRules) -> None:
    """Have the response to ``request`` follow ``rules``."""
    request[_RULES] = rules


def note(request: web.Request, why: str) -> None:
    """Have the response to ``request``, from a route CORS mode does not cover, say
    ``why`` ("reason; fix") in ``REFUSED_FIELD`` where a page on another origin will be
    refused it: DevTools shows it, and doctor reads it."""
    request[_RULES] = why


class PreflightRefusal(web.Response):
    """devproxy's 403 to a preflight its CORS block does not allow, with the answer that
    refused it (the inspector explains the request with it)."""

    def __init__(self, answer: Preflight) -> None:
        # No CORS headers: the browser blocks the request and DevTools shows this reason.
        super().__init__(status=403, text=refusal_body(answer))
        self.answer = answer


def preflight_response(
    request: web.Request, rules: CorsRules, route_path: str, source: Path | None
) -> web.Response:
    """Answer a preflight: 204 with the allowing headers, or 403 without any."""
    headers = request.headers
    origin = headers["Origin"]
    method = headers["Access-Control-Request-Method"]
    private_network = headers.get("Access-Control-Request-Private-Network") == "true"
    answer = rules.preflight(
        origin, method, headers.get("Access-Control-Request-Headers"),
        private_network=private_network,
        method_read=method in _READ_METHODS or _parser_reads(method),
    )
    if answer.allowed:
        if private_network and not rules.policy.private_network:
            _say_private_network(request, rules, origin, route_path, source)
        return web.Response(status=204, headers=answer.headers)
    # The line of the setting that refused it (methods:, headers:), not the block's first;
    # none when the page must change (a lower-case method, Origin: null).
    line = 0 if answer.by_page else rules.policy.line_of(answer.setting)
    where = f"{source}:{line}: " if source and line else ""
    logger.warning("CORS preflight %s %s from %s refused on route %s: %s (%s%s)",
                   headers["Access-Control-Request-Method"], request.raw_path, origin,
                   route_path, answer.reason, where, answer.fix)
    return PreflightRefusal(answer)


def _say_private_network(request: web.Request, rules: CorsRules, origin: str,
                         route_path: str, source: Path | None) -> None:
    """Log, once per origin, a Private Network Access preflight answered without
    Access-Control-Allow-Private-Network: a browser that enforces it blocks the request
    (one in its warning mode only warns, so the answer is not made a refusal)."""
    refused: RefusedOrigins | None = request.app.get(REFUSED)
    if refused is None or not refused.first_time(rules, f"{origin} private network"):
        return
    line = rules.policy.line_of("private_network")
    where = f"{source}:{line}: " if source and line else ""
    logger.warning("CORS preflight %s %s from %s on route %s asks for private network "
                   "access (Access-Control-Request-Private-Network), which cors."
                   "private_network does not allow: a browser that enforces it blocks the "
                   "request (%sset private_network: true in the cors block)",
                   request.headers["Access-Control-Request-Method"], request.raw_path,
                   origin, route_path, where)


@functools.lru_cache(maxsize=64)
def _parser_reads(method: str) -> bool:
    """Whether the parser devproxy's server reads requests with (aiohttp's, llhttp in
    its C build) takes a request with ``method``: llhttp knows a fixed list (WebDAV's,
    QUERY and more) and refuses any other token with 501; the pure-Python parser takes
    any token. Asked by parsing a request line, so the answer is the running build's."""
    loop = asyncio.get_running_loop()
    parser = HttpRequestParser(BaseProtocol(loop), loop, 2**16)
    try:
        parser.feed_data(method.encode("ascii", "replace") + b" / HTTP/1.1\r\nHost: x\r\n\r\n")
    except HttpProcessingError:
        return False
    return True


class RefusedOrigins:
    """Origins already warned about, so a page polling an API logs its refusal once."""

    def __init__(self) -> None:
        self._seen: set[tuple[int, str]] = set()

    def first_time(self, rules: CorsRules, origin: str) -> bool:
        key = (id(rules), origin)
        if key in self._seen or len(self._seen) >= _MAX_WARNED:
            return False
        self._seen.add(key)
        return True


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: the CORS headers of the request's route, if any."""
    rules = request.get(_RULES)
    if rules is None or response.status == 101:
        return
    out = response.headers
    if rules.__class__ is str:
        origin = request.headers.get("Origin")
        if origin is not None and "Access-Control-Allow-Origin" not in out \
                and origin != own_origin(request) \
                and in_cors_mode(request.headers.get("Sec-Fetch-Mode", "")):
            out[REFUSED_FIELD] = rules
        return
    assert isinstance(rules, CorsRules)
    if rules.policy.backend_cors == "keep" and "Access-Control-Allow-Origin" in out:
        # The backend answers CORS itself and was asked to be trusted: adding ours
        # would give the browser two values, which it rejects.
        out["Vary"] = merge_vary(out.getall("Vary", []))
        origin = request.headers.get("Origin")
        if origin is not None:
            _check_backend(request, rules, origin, out)
            if "Set-Cookie" in out:
                _warn_dropped_cookies(request, rules, origin, out)
        return
    for name in cors_header_names(out):
        out.popall(name, None)  # backend_cors: replace (Fetch rejects duplicates)
    origin = request.headers.get("Origin")
    granted = rules.actual(origin)
    if granted is not None:
        out.extend(granted)
        if origin is not None and not rules.policy.credentials \
                and "Cookie" in request.headers:
            with _diagnostic(request, "credentials check"):
                _warn_no_credentials(request, rules, origin)
    elif origin is not None:
        _warn_refused(request, rules, origin)
        # Only where the browser checks, as the warning: not a page of devproxy's own,
        # a navigation or a no-cors fetch, where the advice would be wrong.
        if origin != own_origin(request) \
                and in_cors_mode(request.headers.get("Sec-Fetch-Mode", "")):
            out[REFUSED_FIELD] = refusal_field(origin_refused(origin))
    if origin is not None and "Set-Cookie" in out:
        _warn_dropped_cookies(request, rules, origin, out)
    # RFC 9110 §12.5.5: the answer depends on Origin even when it grants nothing.
    out["Vary"] = merge_vary(out.getall("Vary", []))


def _check_backend(request: web.Request, rules: CorsRules, origin: str,
                   out: CIMultiDict[str]) -> None:
    # The browser's own check (shared with devproxy doctor) says whether what the
    # backend sent will pass. The request's credentials mode is not sent: a Cookie shows
    # it was "include", whatever the config allows; without one it may have been either
    # (a page sets Authorization itself, in any mode).
    credentials = rules.policy.credentials or "Cookie" in request.headers
    verdict = cors_check(origin, credentials, out)
    if verdict.ok:
        return
    if origin != own_origin(request) and in_cors_mode(request.headers.get("Sec-Fetch-Mode", "")):
        out[REFUSED_FIELD] = (
            f"backend_cors: keep passes the backend's own CORS headers, and the browser "
            f"refuses them: {_clause(verdict.reason)}; set backend_cors: replace "
            f"({_where(request, rules, 'backend_cors')}), and devproxy writes them from "
            f"the block")
    refused: RefusedOrigins | None = request.app.get(REFUSED)
    if refused is None or not refused.first_time(rules, origin + verdict.kind):
        return
    sure = (not credentials or "Cookie" in request.headers
            or not cors_check(origin, False, out).ok)
    logger.warning("CORS: the backend's own CORS headers (backend_cors: keep) make the "
                   "browser block %s %s for %s%s: %s", request.method, request.path, origin,
                   "" if sure else " when the page sends credentials (credentials: "
                   "'include')", verdict.reason)


def _warn_refused(request: web.Request, rules: CorsRules, origin: str) -> None:
    if origin == own_origin(request):
        return  # a page on devproxy itself (Chromium sends Origin on a same-origin POST)
    # Fetch §4.1 runs the CORS check only in CORS mode: a form posted from another site
    # (an OpenID form_post callback) or a no-cors fetch is shown or used, never read, and
    # adding its origin to cors.origins would only let that site read the API.
    if not in_cors_mode(request.headers.get("Sec-Fetch-Mode", "")):
        return
    refused: RefusedOrigins | None = request.app.get(REFUSED)
    if refused is None or not refused.first_time(rules, origin):
        return
    if origin == "null":
        logger.warning("CORS: %s %s came from Origin null, which cors.origins does not "
                       "list: %s", request.method, request.path, NULL_ORIGIN)
        return
    logger.warning("CORS: %s is not in cors.origins, so the browser will not let that "
                   "page read %s %s (add %r to cors.origins to allow it)", origin,
                   request.method, request.path, origin)


def _warn_dropped_cookies(request: web.Request, rules: CorsRules, origin: str,
                          out: CIMultiDict[str]) -> None:
    """Log, once each, the cookies of this response the browser will not store (the
    inspector's checker). The browser says so only in DevTools' Network and Issues
    panels, so a login that "works" and a session that never sticks look alike."""
    # Their own budget: a backend that names a cookie per login (OIDC state, ASP.NET
    # correlation) must not use up the warnings of refused origins.
    warned: RefusedOrigins | None = request.app.get(WARNED_COOKIES)
    if warned is None:
        return
    headers = request.headers
    ours = own_origin(request)
    verdicts = None
    with _diagnostic(request, "cookie check"):
        verdicts = cookie_verdicts(
            out.getall("Set-Cookie"), ours, headers.get("Sec-Fetch-Site", ""),
            headers.get("Sec-Fetch-Mode", ""), origin != ours, "Cookie" in headers, origin,
            headers.get("Sec-Fetch-Dest", ""))
    if verdicts is None:
        return
    noted: RefusedOrigins | None = request.app.get(NOTED_CREDENTIALS)
    for verdict in verdicts:
        if verdict["stored"]:
            # Once per origin: a backend that names a cookie per login (OIDC state) would
            # otherwise repeat it, and the line is about the page's fetch(), not the cookie.
            if verdict.get("needs_credentials") and noted is not None \
                    and noted.first_time(rules, origin):
                with _diagnostic(request, "credentials note"):
                    _say_cookie_needs_credentials(request, rules, origin, verdict["name"],
                                                  out)
            continue
        if not warned.first_time(rules,
                                 f"{origin} cookie {verdict['name']}: {verdict['reason']}"):
            continue
        logger.warning("CORS: the browser will not store the cookie %r that %s %s sets "
                       "for the page at %s: %s", verdict["name"], request.method,
                       request.path, origin, verdict["reason"])


def _say_cookie_needs_credentials(request: web.Request, rules: CorsRules, origin: str,
                                 name: str, out: CIMultiDict[str]) -> None:
    # Fetch §4.6 (HTTP-network fetch): a response's cookies are stored only when the
    # request included credentials, which a cross-origin fetch() does only if asked.
    # Nothing in a request without a Cookie says which it was, so this is said once, as
    # information: a login that answers 200 and a session that never sticks is the
    # usual sign of a fetch() left at its default.
    logger.info("CORS: %s %s sets the cookie %r for the page at %s, and the browser keeps "
                "it only if the page sent the request with credentials (fetch's "
                "credentials: 'include', axios or XHR withCredentials: true); this request "
                "carried no cookie, so devproxy cannot tell whether it did%s",
                request.method, request.path, name, origin, _unreadable(request, rules,
                                                                        origin, out))


def _unreadable(request: web.Request, rules: CorsRules, origin: str,
                out: CIMultiDict[str]) -> str:
    """What keeps the page from reading this answer had it been sent with credentials, as
    a sentence to append; "" if nothing does. The cookie is stored either way (the CORS
    check comes after the cookies are set), but the page sees a failed fetch()."""
    verdict = cors_check(origin, True, out)
    # Only what credentials change: a refused origin has had its own warning.
    if verdict.kind not in (CREDENTIALS_NOT_TRUE, WILDCARD_WITH_CREDENTIALS):
        return ""
    fix = (f"backend_cors: keep, so the backend must answer with Access-Control-Allow-"
           f"Origin: {origin} and Access-Control-Allow-Credentials: true, "
           f"each once"
           if rules.policy.backend_cors == "keep" else _credentials_fix(request, rules))
    return f". Sent so, the page cannot read the answer: {verdict.reason.rstrip('.')} ({fix})"


def _credentials_fix(request: web.Request, rules: CorsRules) -> str:
    # "*" cannot go with credentials (Fetch §3.2.5, and the loader refuses it): the
    # page's origin has to be listed.
    listed = "list the page's origin in origins and " if rules.policy.any_origin else ""
    return f"{listed}set credentials: true, {_where(request, rules)}"


def _warn_no_credentials(request: web.Request, rules: CorsRules, origin: str) -> None:
    """Log, once per origin, that a page sends cookies to a route whose cors block does
    not allow credentials: the request goes through, and the page is refused its answer."""
    if origin == own_origin(request):
        return  # a page on devproxy itself: no CORS check
    # Only in CORS mode does the browser check, and does a Cookie prove credentials.
    if not in_cors_mode(request.headers.get("Sec-Fetch-Mode", "")):
        return
    refused: RefusedOrigins | None = request.app.get(REFUSED)
    if refused is None or not refused.first_time(rules, f"{origin} credentials"):
        return
    # The browser then needs Access-Control-Allow-Credentials: true (Fetch §4.9, CORS
    # check; §3.2.5 for why).
    logger.warning("CORS: %s %s from %s carries cookies, so the page sent it with "
                   "credentials (fetch's credentials: 'include', axios or XHR "
                   "withCredentials: true), and the cors block does not allow them: the "
                   "browser will not let the page read the answer (%s)", request.method,
                   request.path, origin, _credentials_fix(request, rules))


@contextlib.contextmanager
def _diagnostic(request: web.Request, what: str) -> Iterator[None]:
    """Run a diagnostic of ``request``'s answer: one that fails is logged at debug
    level and skipped, since it must never fail the response it looks at."""
    try:
        yield
    except Exception:
        logger.debug("%s of %s %s failed", what, request.method, request.path,
                     exc_info=True)


def own_origin(request: web.Request) -> str:
    """devproxy's origin as this request reached it: a page there is not cross-origin."""
    return f"{request.scheme}://{request.host}"


def _where(request: web.Request, rules: CorsRules, key: str = "credentials") -> str:
    """Where the route's cors block says ``key`` (or would): "FILE:LINE", or "in the
    route's cors block" when the routes came from no file."""
    live = request.app.get(LIVE)
    source = live.current.config.source if live is not None else None
    line = rules.policy.line_of(key)
    return f"{source}:{line}" if source is not None and line else "in the route's cors block"


def _clause(reason: str) -> str:
    """A checker's sentence as a clause of a "reason; fix" field value: one line, no
    "; " (which ends the reason), no full stop."""
    return " ".join(reason.split()).replace("; ", ", ").rstrip(".")


REFUSED = web.AppKey("refused_origins", RefusedOrigins)
WARNED_COOKIES = web.AppKey("warned_cookies", RefusedOrigins)
NOTED_CREDENTIALS = web.AppKey("noted_credentials", RefusedOrigins)
