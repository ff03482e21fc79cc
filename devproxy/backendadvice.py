"""What devproxy tells a developer about a backend's answer that the browser will not
explain: a redirect back to the URL asked (ERR_TOO_MANY_REDIRECTS), a 431 with no body
(a blank page). The answer itself goes to the browser as the backend sent it.

Pure: values in, sentences out. The shell (``forward``) logs them once and marks the
inspector's record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

from .config import DEFAULT_PORTS, Route

# Node's http servers (Vite, webpack-dev-server, Next.js, Express) refuse a request head
# over this by default (--max-http-header-size), answering a bare 431.
NODE_HEADER_LIMIT = 16 * 1024


def self_redirect(origin: str, target: str, location: str, route: Route, upstream: str,
                  where: str = "") -> str | None:
    """What to tell a developer whose backend answered the browser's ``target`` (path
    and query, at devproxy's ``origin``) with a redirect to ``location`` (as the browser
    gets it) that leads back to it, or None if it leads elsewhere. A browser follows
    such a redirect until it gives up (Fetch §4.4, HTTP-redirect fetch: the 21st is a
    network error) and shows ERR_TOO_MANY_REDIRECTS, which names no cause.
    ``upstream``: the path the backend got; ``where``: the route's line, if known.

    The usual cause is a prefix the route strips that the dev server wants: Vite with
    ``base: '/app/'`` redirects ``/`` to ``/app/``, which devproxy strips to ``/`` again.
    """
    url = origin + target
    if not _same_url(url, location):
        return None
    said = (f"{route.destination} answered {target} with a redirect to {location}, the "
            f"same URL: the browser follows it until it gives up "
            f"(ERR_TOO_MANY_REDIRECTS).")
    if route.strip_prefix and route.path != "/":
        return (f"{said} Route {route.path}{where} strips its prefix, so the backend got "
                f"{upstream}; a dev server that serves under {route.path} itself (Vite's "
                f"base, Next.js's basePath) sends it back there. Set strip_prefix: false "
                f"on route {route.path}.")
    return (f"{said} Check the backend's redirect rules: a trailing slash, http to https, "
            f"a base path or Host it expects (change_origin: true sends the target's own).")


def _same_url(url: str, location: str) -> bool:
    """Whether ``location``, resolved against ``url`` (RFC 3986 §5.2), is ``url`` as a
    browser compares URLs: scheme and host in any case, a default port or none, the
    fragment aside. Never raises: a Location urllib cannot read is no loop devproxy
    can see (the browser reports that one itself)."""
    try:
        resolved = urljoin(url, location)
        reference = location.partition("#")[0]
        if reference.endswith("?") and not resolved.endswith("?"):
            resolved += "?"  # urljoin drops an empty query, which the browser keeps
        return _key(resolved.partition("#")[0]) == _key(url)
    except ValueError:  # an unclosed "[", a port that is no number, NFKC tricks
        return False


def _key(url: str) -> tuple[str, str, str, str, bool]:
    parts = urlsplit(url)
    scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    authority = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    return scheme, authority, parts.path or "/", parts.query, url.endswith("?")


def fields_too_large(route: Route, target: str, fields: Iterable[tuple[bytes, bytes]],
                     where: str = "") -> str:
    """What to tell a developer whose backend answered the browser's ``target`` with 431
    (RFC 6585 §5: the request's header fields are too large), given the ``fields`` the
    browser sent (as parsed, bytes). A dev server's 431 has no body, so the browser
    shows a blank page; the usual cause is cookies, which browsers share between every
    port of a host (RFC 6265 §8.5), piled up by every app run on localhost."""
    size = cookies = 0
    for name, value in fields:
        size += len(name) + len(value) + 4  # "name: value\r\n"
        if name.lower() == b"cookie":
            cookies += len(value)
    said = (f"Route {route.path}{where}: {route.destination} refused {target} with 431 "
            f"(header fields too large); the browser sent {size:,} bytes of header fields")
    if cookies:
        said += (f", {cookies:,} of them cookies. Cookies for a host are shared by every "
                 f"port and every app run on it: delete the ones you do not need for this "
                 f"site (DevTools > Application > Cookies)")
    return (f"{said}. A Node server (Vite, webpack-dev-server, Next.js) refuses more than "
            f"{NODE_HEADER_LIMIT // 1024} KiB by default: if that is the one, start it with "
            f"NODE_OPTIONS=--max-http-header-size=65536 to raise it; other servers name "
            f"their own limit.")


# Django's CSRF failure page (DEBUG on or off), and Django REST framework's, in a 403.
_DJANGO_CSRF = re.compile(rb"CSRF verification failed|CSRF Failed")
# With DEBUG on, the page names its reason: one of these is what change_origin causes.
# With DEBUG off, the page names one reason only: the missing cookie ("this site
# requires a CSRF cookie"), which no Origin setting fixes.
_REASON = re.compile(rb"(?:Origin|Referer) checking failed|CSRF cookie not set|"
                     rb"CSRF token (?:missing|incorrect)|requires a CSRF cookie")
_ORIGIN_REASON = re.compile(rb"(?:Origin|Referer) checking failed")


# A dev server's refusal of the Host it was sent: webpack-dev-server's "Invalid Host
# header", Vite's "Blocked request. This host (...) is not allowed." Short, whole words.
_HOST_BLAMED = re.compile(rb"(?i)\bhost\b")
_HOST_REFUSED = re.compile(rb"(?i)\b(?:invalid|not allowed|disallowed|blocked|forbidden)\b")


def host_refused(route: Route, host: str, body: bytes, where: str = "") -> str | None:
    """What to tell a developer whose dev server answered 403 over the Host it got
    (``host``, the browser's: the route has no change_origin), from its short ``body``;
    None if that is not it. A name in allowed_hosts (myapp.test) passes devproxy's own
    check, then the dev server's: its allowlist knows only localhost and addresses."""
    if route.change_origin or len(body) > 200 or not _HOST_BLAMED.search(body) \
            or not _HOST_REFUSED.search(body):
        return None
    said = " ".join(body.decode("utf-8", "replace").split())  # one line in the log
    return (f"Route {route.path}{where}: {route.destination} refused the Host it was sent, "
            f"{host!r} (the browser's), answering 403 {said!r}. Set change_origin: true on "
            f"route {route.path} (it then gets its own Host), or allow the name in the dev "
            f"server's own settings (Vite: server.allowedHosts; webpack-dev-server: "
            f"devServer.allowedHosts).")


def misdirected(route: Route, host: str, where: str = "") -> str | None:
    """What to tell a developer whose backend answered 421 Misdirected Request: it does
    not serve the authority it was sent (RFC 9110 §15.5.20), the browser's ``host``
    or, with change_origin, the target's. A virtual-hosted server (nginx server_name,
    Caddy site blocks, a PaaS router) picks the site by Host and says 421 for others."""
    target = route.target
    if target is None:
        return None
    said = f"Route {route.path}{where}: {route.destination} answered 421 Misdirected Request"
    written = next((value for name, value in route.headers if name.lower() == "host"), None)
    if written is not None:  # the route's headers set it, whatever change_origin says
        return (f"{said}: it does not serve the Host route {route.path}'s headers set, "
                f"{written!r}. Write there the name its site is served by.")
    if not route.change_origin:
        return (f"{said}: it does not serve the Host it was sent, {host!r} (the "
                f"browser's). A virtual-hosted backend picks its site by Host: set "
                f"change_origin: true on route {route.path}, and it gets Host "
                f"{target.authority}.")
    return (f"{said} for Host {target.authority!r}, its own (change_origin): it serves "
            f"other names. Write the route's target with the name its site is served by, "
            f"or, where that name does not resolve, set it as the route's Host "
            f"(headers: {{Host: NAME}}).")


def csrf_refused(route: Route, origin: str, body: bytes, where: str = "",
                 own: str = "", token: bool = False) -> str | None:
    """What to tell a developer whose Django backend refused a request's CSRF check over
    its Origin (its 403 ``body``, decoded), or None if that is not it.

    Two causes. With change_origin the backend gets the target's Host while the
    browser's Origin names devproxy, and Django's check compares the two: devproxy's
    doing, though the 403 comes from Django. In CORS mode the page is on another
    origin than devproxy's (``own``, as the browser reached it), which Django trusts
    only once told: CORS headers let the page read the answer, not pass this check.
    Not when there is no Origin, or it already names the target, or the page gives
    another reason (a missing cookie or token): those are the page's to fix, with or
    without devproxy. A page that names no reason (DEBUG off) reads the same for a
    missing token: unless the request carried one (``token``: ``carries_csrf_token``),
    the advice names both causes and how to tell them apart."""
    target = route.target
    if target is None or not origin or not _DJANGO_CSRF.search(body):
        return None
    named = _REASON.search(body)
    if named and not _ORIGIN_REASON.search(body):
        return None
    unsure = named is None and not token
    head = f"Route {route.path}{where}: {route.destination} refused the request's CSRF check"
    if own and origin != own:
        why = (f"the page is on {origin}, not {own}, and Django trusts another origin "
               f"only if told")
        fix = (f"add '{origin}' to CSRF_TRUSTED_ORIGINS in settings.py (the CORS headers "
               f"devproxy adds let the page read answers; they do not pass this check)")
        if unsure:
            return _csrf_unsure(head, f"the Origin: {why}, so {fix}")
        return f"{head}: {why}. {_capital(fix)}."
    if not route.change_origin or origin == target.origin:
        return None
    if target.scheme == "https":  # the scheme differs too: the forwarded Host is not enough
        fix = (f"add '{origin}' to CSRF_TRUSTED_ORIGINS in settings.py, or drop "
               f"change_origin from route {route.path}")
    else:
        fix = (f"set USE_X_FORWARDED_HOST = True in settings.py (devproxy sends "
               f"X-Forwarded-Host), or add '{origin}' to CSRF_TRUSTED_ORIGINS, or drop "
               f"change_origin from route {route.path}")
    if unsure:
        return _csrf_unsure(head, f"the Origin {origin}: with change_origin it gets Host "
                                  f"{target.authority}, not the page's, and Django "
                                  f"compares the two, so {fix}")
    return (f"{head} (Origin {origin}). With change_origin it gets Host "
            f"{target.authority}, not the page's, and Django compares that with the "
            f"Origin. {_capital(fix)}.")


def _csrf_unsure(head: str, origin_cause: str) -> str:
    """A CSRF refusal whose page names no reason, of a request that sent no token:
    Django with DEBUG off words a missing token and a refused Origin alike."""
    return (f"{head}, and its 403 names no reason (Django with DEBUG = False). Two causes "
            f"look alike there: a missing CSRF token (this request sent no X-CSRFToken "
            f"header and no csrfmiddlewaretoken form field: send the csrftoken cookie's "
            f"value as X-CSRFToken, or put {{% csrf_token %}} in the form), or {origin_cause}."
            f" With DEBUG = True the 403 names which.")


def _capital(advice: str) -> str:
    return advice[:1].upper() + advice[1:]


# Where Django looks for the token: CSRF_HEADER_NAME's default, and the form's field.
_TOKEN_FIELD = b"csrfmiddlewaretoken"


def carries_csrf_token(names: Iterable[str], body: bytes | bytearray) -> bool:
    """Whether a request, by its header field ``names`` and (the start of) its
    ``body``, carried a Django CSRF token: an X-CSRFToken header, or a
    csrfmiddlewaretoken form field (urlencoded or multipart)."""
    return any(name.lower() == "x-csrftoken" for name in names) or _TOKEN_FIELD in body
