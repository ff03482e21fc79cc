"""CORS, both sides of it, as pure functions of headers (WHATWG Fetch standard).

Owns (1) devproxy's decisions in CORS mode: ``CorsRules``, compiled once from a
``CorsPolicy``, answers preflights and says which headers an actual response gets; and
(2) the browser's side: whether a request needs a preflight and the CORS and preflight
checks a browser runs, with the reason in the browser's own words. ``devproxy doctor``
and the CORS-mode log lines share (2), so both explain a failure the same way. No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .config import TOKEN, CorsPolicy

# Fetch §2.2.1: methods a simple request may use without a preflight.
SAFELISTED_METHODS = frozenset({"GET", "HEAD", "POST"})
# Fetch §4.8 step 6: the preflight carries no credentials and the response must be "ok".
_OK = range(200, 300)
_CORS_RESPONSE_PREFIX = "access-control-"
_SAFE_CONTENT_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
# Fetch §2.2.2: a CORS-unsafe request-header byte.
_UNSAFE_BYTE = re.compile(r'[\x00-\x08\x0a-\x1f"():<>?@\[\\\]{}\x7f]')
_LANGUAGE_VALUE = re.compile(r"^[0-9A-Za-z *,\-.;=]*$")
_SIMPLE_RANGE = re.compile(r"^bytes=(\d+)-(\d+)?$")
# What Chromium takes for a URL in Access-Control-Allow-Origin (a scheme, and for a web
# origin a host): anything else, "" or "example.com", is an invalid value, not another
# origin.
_ORIGIN_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?://[^/?#\s]+|(?!//)\S)", re.ASCII)
# What to do about Origin: null, which no config fixes safely.
NULL_ORIGIN = ("the browser sent Origin: null, which it does for a sandboxed iframe, a "
               "file:// or data: page, and a request redirected to another origin. Load "
               "the page from its dev server, or keep the redirect on one origin: allowing "
               "'null' would let every sandboxed page read these responses")
VARY_PREFLIGHT = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
VARY_PREFLIGHT_PNA = VARY_PREFLIGHT + ", Access-Control-Request-Private-Network"

Headers = Mapping[str, str]


def header_list(value: str | None) -> list[str]:
    """Split a comma-separated header value into trimmed, non-empty items."""
    if not value:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def token_list(values: Sequence[str]) -> list[str] | None:
    """A browser's reading of Access-Control-Allow-Methods, -Allow-Headers or
    -Expose-Headers, each line of ``values`` a ``#token`` list (Fetch §3.2.3): empty items
    skipped, None if any item is not a token ("PUT;", "x bar"), which fails a
    preflight and exposes nothing. Lines combine as one list."""
    items = []
    for value in values:
        for item in value.split(","):
            item = item.strip(" \t")
            if not item:
                continue
            if TOKEN.fullmatch(item) is None:
                return None
            items.append(item)
    return items


# --- devproxy's side: CORS mode ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preflight:
    """devproxy's answer to a preflight: allowed with ``headers``, or refused with ``reason``."""

    allowed: bool
    headers: tuple[tuple[str, str], ...] = ()
    reason: str = ""
    fix: str = ""
    # Refused for what no block can allow (a null origin, a lower-case method): the fix
    # is the page's, not the block's.
    by_page: bool = False
    setting: str = ""  # the block's key that refused it: origins, methods or headers


_REFUSED = "CORS preflight refused by devproxy: "


def refusal_body(answer: Preflight) -> str:
    """The body of devproxy's 403 to a preflight it refused: the reason, then the fix
    (``refusal_of`` reads them back: the browser shows neither, ``doctor`` does)."""
    return f"{_REFUSED}{answer.reason}; {answer.fix}\n"


def origin_refused(origin: str) -> Preflight:
    """devproxy's refusal of an origin ``cors.origins`` does not allow."""
    return Preflight(False, reason=f"origin {origin} is not in cors.origins",
                     fix=NULL_ORIGIN if origin == "null" else f"add {origin!r} to cors.origins",
                     by_page=origin == "null", setting="" if origin == "null" else "origins")


# Sent, in CORS mode, with a response to an origin not allowed, which gets no CORS
# headers: why. DevTools shows it on the blocked request; doctor reads it (the answer
# alone looks like a server with no CORS support at all).
REFUSED_FIELD = "X-Devproxy-CORS"


def refusal_field(answer: Preflight) -> str:
    """``REFUSED_FIELD``'s value: the reason, then the fix (``refusal_of_field``)."""
    return f"{answer.reason}; {answer.fix}"


def refusal_of_field(value: str) -> Preflight | None:
    """The refusal a ``refusal_field`` states; None for any other value."""
    if not value.startswith("origin ") or "; " not in value:
        return None
    return _stated(value)


def refusal_of(body: str) -> Preflight | None:
    """The refusal a ``refusal_body`` states, None for any other body. No reason holds
    "; ", so the first one ends it; ``by_page`` is whether the fix is not a setting's."""
    if not body.startswith(_REFUSED):
        return None
    return _stated(body[len(_REFUSED):].strip())


def _stated(text: str) -> Preflight:
    """A refusal written as "reason; fix" (``refusal_body``, ``refusal_field``)."""
    reason, _, fix = text.partition("; ")
    return Preflight(False, reason=reason, fix=fix, by_page="cors." not in fix)


class CorsRules:
    """A ``CorsPolicy`` compiled once; per request only the origin is checked.

    Args:
        policy: the validated policy (``origins`` non-empty, no ``*`` with credentials:
            the loader refuses that combination).
    """

    __slots__ = ("_actual_static", "_exact", "_methods", "_ports", "_preflight_static",
                 "policy")

    def __init__(self, policy: CorsPolicy) -> None:
        self.policy = policy
        self._exact = frozenset(o for o in policy.origins if not o.endswith(":*"))
        self._ports = frozenset(o[:-2] for o in policy.origins if o.endswith(":*"))
        self._methods = (
            None if policy.methods is None else frozenset(m.upper() for m in policy.methods)
        )
        actual: list[tuple[str, str]] = []
        if policy.credentials:
            actual.append(("Access-Control-Allow-Credentials", "true"))
        if policy.expose:
            actual.append(("Access-Control-Expose-Headers", ", ".join(policy.expose)))
        self._actual_static = tuple(actual)
        preflight = [h for h in actual if h[0] == "Access-Control-Allow-Credentials"]
        if policy.methods is not None:
            preflight.append(("Access-Control-Allow-Methods", ", ".join(policy.methods)))
        if policy.max_age is not None:
            preflight.append(("Access-Control-Max-Age", str(policy.max_age)))
        self._preflight_static = tuple(preflight)

    def allows(self, origin: str) -> bool:
        """Whether ``origin`` (as the browser sent it) is on the allowlist."""
        if origin in self._exact:
            return True
        if self.policy.any_origin:
            # "null" (sandboxed frames, file:// pages) is opaque: allow it only by name.
            return origin != "null"
        if self._ports:
            return _without_port(origin) in self._ports
        return False

    def preflight(
        self, origin: str, method: str, request_headers: str | None,
        private_network: bool = False, method_read: bool = True,
    ) -> Preflight:
        """Answer a preflight (``OPTIONS`` with ``Origin`` and ``-Request-Method``);
        ``method_read`` False: devproxy's HTTP parser refuses requests with ``method``."""
        if not self.allows(origin):
            return origin_refused(origin)
        if method != method.upper():
            # Fetch §2.2.1 upper-cases only DELETE, GET, HEAD, OPTIONS, POST and PUT;
            # "patch" is sent as written, and methods are case-sensitive (RFC 9110
            # §9.1): the browser would refuse an allowed "PATCH", and devproxy's
            # parser, like most servers', refuses the request "patch" itself.
            return Preflight(
                False, reason=f"method {method!r} is not upper case: fetch() sends it as "
                "written, and servers (devproxy too) refuse it",
                fix=f"write {method.upper()!r} in the page's fetch() call", by_page=True)
        if not method_read:
            # Allowed, the browser would send the request, and the parser's answer (501,
            # before any field is read, so without CORS headers) would reach the page
            # as a CORS error.
            return Preflight(
                False, reason=f"devproxy cannot take a {method} request: its HTTP parser "
                "(llhttp) knows only the registered methods and answers others with 501",
                fix=f"send {method} as POST (say, with the action in a header or the "
                "body), or call the backend without devproxy", by_page=True)
        if self._methods is not None and method not in self._methods \
                and method not in SAFELISTED_METHODS:
            return Preflight(False, reason=f"method {method} is not in cors.methods",
                             fix=f"add {method} to cors.methods", setting="methods")
        requested = header_list(request_headers)
        allowed_headers = self.policy.headers
        if allowed_headers is not None:
            allowed = {h.lower() for h in allowed_headers}
            missing = [h for h in requested if h.lower() not in allowed]
            if missing:
                return Preflight(
                    False, reason=f"request header(s) {', '.join(missing)} not in cors.headers",
                    fix=f"add {', '.join(missing)} to cors.headers", setting="headers")
        headers = [("Access-Control-Allow-Origin", origin), *self._preflight_static]
        # Any method or header allowed (the keys unset): the answer names the common
        # methods, and without credentials "*" for headers, besides what was asked.
        # Chromium keeps one cached preflight per origin and URL, which each answer
        # replaces: answering PUT alone, then DELETE alone, each request needed its own
        # preflight, whatever max_age said. (Fetch §4.8 caches per method and header.)
        if self._methods is None:
            # Named: with credentials "*" would be a method called "*".
            headers.append(("Access-Control-Allow-Methods", COMMON_METHODS if method
                            in _COMMON_METHOD_SET else f"{COMMON_METHODS}, {method}"))
        if requested:
            # Names as asked: "*" never covers Authorization, and with credentials it is a
            # header called "*" (Fetch §4.8 "CORS-preflight fetch", step 7.6).
            names = requested if allowed_headers is None else list(allowed_headers)
            if allowed_headers is None and not self.policy.credentials:
                names = [*names, "*"]
            headers.append(("Access-Control-Allow-Headers", ", ".join(names)))
        if private_network and self.policy.private_network:
            headers.append(("Access-Control-Allow-Private-Network", "true"))
        # The answer depends on the private-network ask only where the policy allows it.
        headers.append(("Vary", VARY_PREFLIGHT_PNA if self.policy.private_network
                        else VARY_PREFLIGHT))
        return Preflight(True, tuple(headers))

    def actual(self, origin: str | None) -> tuple[tuple[str, str], ...] | None:
        """CORS headers for an actual response to ``origin``; None if not allowed."""
        if origin is None or not self.allows(origin):
            return None
        return (("Access-Control-Allow-Origin", origin), *self._actual_static)


# What a preflight answer names when any method is allowed (``CorsRules.preflight``),
# besides the one asked; ``export`` writes the same.
COMMON_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
_COMMON_METHOD_SET = frozenset(COMMON_METHODS.split(", "))


def _without_port(origin: str) -> str:
    base, colon, port = origin.rpartition(":")
    return base if colon and port.isdigit() and "//" in base else origin


def in_cors_mode(fetch_mode: str) -> bool:
    """Whether a request with this Sec-Fetch-Mode is a fetch() in CORS mode, the only
    kind the browser runs the CORS check on and sends cookies with only when asked
    (credentials "include"); "" (an older browser, or no browser) is taken as one. Not a
    navigation or a no-cors fetch, which carry Origin and cookies too."""
    return fetch_mode.lower() in ("", "cors")


def is_preflight(method: str, headers: Headers) -> bool:
    """Fetch §3.2.2: an OPTIONS with Origin and Access-Control-Request-Method."""
    return (method == "OPTIONS" and "Origin" in headers
            and "Access-Control-Request-Method" in headers)


def is_cors_header(name: str) -> bool:
    """A response header that belongs to the CORS protocol (Access-Control-*)."""
    return name.lower().startswith(_CORS_RESPONSE_PREFIX)


def cors_header_names(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that ``is_cors_header`` accepts; one pass, no call per
    name (run on every response on a CORS route)."""
    prefix, size = _CORS_RESPONSE_PREFIX, len(_CORS_RESPONSE_PREFIX)
    return [name for name in names if name[:size].lower() == prefix]


def merge_vary(existing: Sequence[str], name: str = "Origin") -> str:
    """One Vary value with ``name`` added once (RFC 9110 §12.5.5); ``*`` stays ``*``."""
    if not existing:
        return name  # the usual case: no Vary from the backend
    items = [item for value in existing for item in header_list(value)]
    if "*" in items:
        return "*"
    if name.lower() not in {item.lower() for item in items}:
        items.append(name)
    return ", ".join(items)


# --- the browser's side: what a browser will do -------------------------------------


def unsafe_request_headers(headers: Iterable[tuple[str, str]]) -> list[str]:
    """Lower-cased names of headers that are not CORS-safelisted (Fetch §4.8 step 3).

    These make a preflight necessary and are listed in Access-Control-Request-Headers.
    """
    safe_total = 0
    unsafe: list[str] = []
    pairs = list(headers)
    for name, value in pairs:
        lowered = name.lower()
        if _is_safelisted(lowered, value):
            safe_total += len(value)
        else:
            unsafe.append(lowered)
    if safe_total > 1024:  # Fetch §2.2.2: safelisted values may total 1024 bytes at most
        unsafe = [name.lower() for name, _ in pairs]
    return sorted(set(unsafe))


def _is_safelisted(name: str, value: str) -> bool:
    if len(value) > 128:
        return False
    if name == "accept":
        return not _UNSAFE_BYTE.search(value)
    if name in ("accept-language", "content-language"):
        return bool(_LANGUAGE_VALUE.match(value))
    if name == "content-type":
        essence = value.split(";")[0].strip().lower()
        return not _UNSAFE_BYTE.search(value) and essence in _SAFE_CONTENT_TYPES
    if name == "range":
        found = _SIMPLE_RANGE.match(value)
        if found is None:
            return False
        return found.group(2) is None or int(found.group(1)) <= int(found.group(2))
    return False


def needs_preflight(method: str, headers: Iterable[tuple[str, str]]) -> list[str]:
    """Why a browser would send a preflight first; empty if it would not."""
    reasons = []
    if method not in SAFELISTED_METHODS:
        reasons.append(f"method {method} is not one of GET, HEAD, POST")
    for name in unsafe_request_headers(headers):
        reasons.append(f"header {name} is not CORS-safelisted")
    return reasons


# Why a browser refused, as data: ``devproxy doctor`` picks its fixes by kind.
NO_ALLOW_ORIGIN = "no-allow-origin"
MULTIPLE_ALLOW_ORIGIN = "multiple-allow-origin"
WILDCARD_WITH_CREDENTIALS = "wildcard-with-credentials"
ORIGIN_MISMATCH = "origin-mismatch"
CREDENTIALS_NOT_TRUE = "credentials-not-true"
PREFLIGHT_REDIRECT = "preflight-redirect"
PREFLIGHT_NOT_OK = "preflight-not-ok"
METHOD_NOT_ALLOWED = "method-not-allowed"
HEADER_NOT_ALLOWED = "header-not-allowed"
INVALID_ALLOW_ORIGIN = "invalid-allow-origin"
INVALID_ALLOW_LIST = "invalid-allow-list"

# Fetch §4.8 lists Authorization as the one name a "*" in Access-Control-Allow-Headers
# does not cover. Chromium (156) still lets "*" cover it.
AUTHORIZATION_BY_WILDCARD = (
    "Access-Control-Allow-Headers answers '*' and the request sends Authorization: "
    "Chromium lets the '*' cover it, for now, but the Fetch standard does not, and a "
    "browser that follows it blocks the request. List authorization by name.")


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str = ""  # in the browser's words (Chromium's console messages)
    kind: str = ""  # one of the constants above when not ok
    subject: str = ""  # what the reason is about: the origin sent back, a method, a header
    warning: str = ""  # allowed by Chromium, but not by the standard (ok only)
    # METHOD_ or HEADER_NOT_ALLOWED where the list answered "*": with credentials that
    # is a name, not "any" (Fetch §3.2.5), so the item was not listed, as said.
    wildcard: bool = False


def cors_check(origin: str, credentials: bool, response: Headers | Sequence[tuple[str, str]]
               ) -> Verdict:
    """Fetch §4.9 "CORS check" of a response, as a browser runs it."""
    acao = _values(response, "access-control-allow-origin")
    if not acao:
        return Verdict(False, "No 'Access-Control-Allow-Origin' header is present on the "
                              "requested resource.", NO_ALLOW_ORIGIN)
    # Chromium reads a space as a second value too ("a b"), and then an origin that is
    # not a URL as invalid, before it compares.
    if len(acao) > 1 or "," in acao[0] or " " in acao[0].strip():
        both = ", ".join(acao)
        return Verdict(False, f"The 'Access-Control-Allow-Origin' header contains multiple "
                              f"values '{both}', but only one is allowed.",
                       MULTIPLE_ALLOW_ORIGIN, both)
    value = acao[0].strip()
    if value == "*" and not credentials:
        return Verdict(True)
    if value == "*":
        return Verdict(False, "The value of the 'Access-Control-Allow-Origin' header in the "
                              "response must not be the wildcard '*' when the request's "
                              "credentials mode is 'include'.", WILDCARD_WITH_CREDENTIALS)
    if value != origin and value != "null" and _ORIGIN_LIKE.match(value) is None:
        return Verdict(False, f"The 'Access-Control-Allow-Origin' header contains the "
                              f"invalid value '{value}'.", INVALID_ALLOW_ORIGIN, value)
    if value != origin:
        return Verdict(False, f"The 'Access-Control-Allow-Origin' header has a value "
                              f"'{value}' that is not equal to the supplied origin.",
                       ORIGIN_MISMATCH, value)
    if credentials:
        # Fetch §4.9 reads the field as the header list "gets" it: repeated fields
        # combined, so two "true" lines are "true, true", which is not "true".
        got = ", ".join(_values(response, "access-control-allow-credentials"))
        if got != "true":
            return Verdict(False, f"The value of the 'Access-Control-Allow-Credentials' header "
                                  f"in the response is '{got}' which must be 'true' when the "
                                  f"request's credentials mode is 'include'.",
                           CREDENTIALS_NOT_TRUE, got)
    return Verdict(True)


def preflight_check(
    origin: str, method: str, unsafe_headers: Sequence[str], credentials: bool,
    status: int, response: Headers | Sequence[tuple[str, str]],
) -> Verdict:
    """Fetch §4.8 "CORS-preflight fetch": the checks on the preflight's response."""
    prefix = "Response to preflight request doesn't pass access control check: "
    if 300 <= status < 400:
        return Verdict(False, prefix + "Redirect is not allowed for a preflight request.",
                       PREFLIGHT_REDIRECT)
    checked = cors_check(origin, credentials, response)
    if not checked.ok:
        if status not in _OK:
            # The browser names the missing header, but the cause is the status: nothing
            # answered OPTIONS (a 404/405) or auth refused it (a 401) before CORS ran.
            return Verdict(False, prefix + checked.reason, PREFLIGHT_NOT_OK, str(status))
        return Verdict(False, prefix + checked.reason, checked.kind, checked.subject)
    if status not in _OK:
        return Verdict(False, prefix + "It does not have HTTP ok status.", PREFLIGHT_NOT_OK,
                       str(status))
    lists = []
    for field in ("Access-Control-Allow-Methods", "Access-Control-Allow-Headers"):
        values = _values(response, field.lower())
        items = token_list(values)
        if items is None:
            return Verdict(False, f"Cannot parse {field} response header field in "
                                  f"preflight response.", INVALID_ALLOW_LIST,
                           f"{field}: {', '.join(values)}")
        lists.append(items)
    methods, allowed = lists[0], {h.lower() for h in lists[1]}
    wildcard = "*" in methods and not credentials
    if method not in SAFELISTED_METHODS and method not in methods and not wildcard:
        return Verdict(False, f"Method {method} is not allowed by Access-Control-Allow-Methods "
                              f"in preflight response.", METHOD_NOT_ALLOWED, method,
                       wildcard="*" in methods)
    everything = "*" in allowed and not credentials
    for name in unsafe_headers:
        if name not in allowed and not everything:
            return Verdict(False, f"Request header field {name} is not allowed by "
                                  f"Access-Control-Allow-Headers in preflight response.",
                           HEADER_NOT_ALLOWED, name, wildcard="*" in allowed)
    if everything and "authorization" in unsafe_headers and "authorization" not in allowed:
        return Verdict(True, warning=AUTHORIZATION_BY_WILDCARD)
    return Verdict(True)


def allowed_lists(response: Headers | Sequence[tuple[str, str]]
                  ) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """What a preflight's answer lists in Access-Control-Allow-Methods and -Headers, as
    written; None for a field it did not send, or not as a list the browser reads."""
    found: list[tuple[str, ...] | None] = []
    for name in ("access-control-allow-methods", "access-control-allow-headers"):
        values = _values(response, name)
        items = token_list(values) if values else None
        found.append(tuple(items) if items is not None else None)
    return found[0], found[1]


def _values(headers: Headers | Sequence[tuple[str, str]], name: str) -> list[str]:
    if isinstance(headers, Mapping):
        getall = getattr(headers, "getall", None)
        if getall is not None:
            return list(getall(name, []))
        return [v for k, v in headers.items() if k.lower() == name]
    return [v for k, v in headers if k.lower() == name]


# --- what a page may send and read (Fetch §2.2) ----------------------------------------

# Fetch §2.2.1 "normalize": only these six are upper-cased; fetch(url, {method: "patch"})
# really sends "patch", which then fails to match "PATCH" in Access-Control-Allow-Methods.
_NORMALIZED_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"})
FORBIDDEN_METHODS = frozenset({"CONNECT", "TRACE", "TRACK"})
# Fetch §2.2.2 "forbidden request-header": the browser sets these itself; a page can't.
_FORBIDDEN_REQUEST_HEADERS = frozenset({
    "accept-charset", "accept-encoding", "access-control-request-headers",
    "access-control-request-method", "connection", "content-length", "cookie", "cookie2",
    "date", "dnt", "expect", "host", "keep-alive", "origin", "referer", "set-cookie", "te",
    "trailer", "transfer-encoding", "upgrade", "via",
})
# Fetch §2.2.4 "CORS-safelisted response-header name": readable without being exposed.
SAFELISTED_RESPONSE_HEADERS = frozenset({
    "cache-control", "content-language", "content-length", "content-type", "expires",
    "last-modified", "pragma",
})
# Fetch §2.2.2: never readable by JavaScript, whatever is exposed (the browser keeps
# cookies to itself).
FORBIDDEN_RESPONSE_HEADERS = frozenset({"set-cookie", "set-cookie2"})


def normalize_method(method: str) -> str:
    """The method as fetch() sends it (Fetch §2.2.1)."""
    upper = method.upper()
    return upper if upper in _NORMALIZED_METHODS else method


def is_forbidden_request_header(name: str) -> bool:
    """Whether fetch() silently drops this header (the browser owns it)."""
    lowered = name.lower()
    return (lowered in _FORBIDDEN_REQUEST_HEADERS or lowered.startswith("proxy-")
            or lowered.startswith("sec-"))


def readable_headers(response: Headers | Sequence[tuple[str, str]], credentials: bool
                     ) -> tuple[list[str], list[str]]:
    """Response header names JavaScript can read, and those it cannot (Fetch §4.1 step 14).

    ``*`` in Access-Control-Expose-Headers exposes everything only without credentials.
    """
    # A list that does not parse exposes nothing (Fetch §4.1 "main fetch", step 14).
    exposed = {h.lower() for h in token_list(
        _values(response, "access-control-expose-headers")) or ()}
    everything = "*" in exposed and not credentials
    names = dict.fromkeys(
        (k.lower() for k, _ in (response.items() if isinstance(response, Mapping)
                                else response)))
    readable, hidden = [], []
    for name in names:
        if name in FORBIDDEN_RESPONSE_HEADERS:
            hidden.append(name)
        elif name in SAFELISTED_RESPONSE_HEADERS or everything or name in exposed:
            readable.append(name)
        else:
            hidden.append(name)
    return readable, hidden
