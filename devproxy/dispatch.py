"""The one request handler: snapshot, match, then static | websocket | http.

Owns the order of decisions for every request and the per-request log line. A request
reads the live snapshot once and finishes on what it read, so a reload never changes
a request half way. It forwards nothing itself (``forward``, ``websocket``, ``static``)
and writes no error page markup (``errorpages``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion, HttpVersion11

from . import inspector
from .capture import FOLLOW_WAIT, WENT_AWAY, Captures, Record
from .config import DEFAULT_PORTS, RESERVED_PREFIX, Route, url_host
from .cors import CorsRules, in_cors_mode, is_preflight
from .corsmode import PreflightRefusal, mark, note, own_origin, preflight_response
from .errorpages import NO_ROUTE, problem_response
from .errors import UpstreamError
from .forward import ProxiedResponse, forward_http, held_back
from .h1 import NOT_HTTP
from .headers import accepts_event_stream
from .router import RouteTable
from .screen import (
    Refusal,
    host_refusal,
    is_reserved,
    over_limit_log,
    path_refusal,
    target_refusal,
    too_many_fields,
    url_too_long,
)
from .state import (
    CAPTURES,
    EXPLAINED,
    LIVE,
    OUTAGES,
    POOL,
    RECORD,
    SOCKET_END,
    STREAMING,
    UNSENT,
    WARNED_HOSTS,
    Snapshot,
)
from .static import StaticFile, serve_static
from .upstream import diagnose, served_over_tls, speaks_tls
from .websocket import proxy_websocket
from .wsrules import is_websocket_upgrade

logger = logging.getLogger(__name__)
_RETRY_EVERY = 0.1  # seconds between connection attempts under wait_for_backend
access_logger = logging.getLogger("devproxy.access")
_LOGGED_TARGET = 8192  # characters of a request-target an access line shows


async def handle(request: web.Request) -> web.StreamResponse:
    """Serve one request on the routes in force when it arrived."""
    start = time.perf_counter()
    host = request.headers.get("Host")
    if host is None:
        request = _with_authority(request)
    snapshot = request.app[LIVE].current
    captures = request.app.get(CAPTURES)
    route: Route | None = None
    path = request.raw_path.partition("?")[0]
    refusal = _screen(request, snapshot, host)
    if refusal is None and is_reserved(path):
        if captures is not None:  # the inspector's own traffic is not recorded
            try:
                own = await inspector.serve(request)
            except web.HTTPException as answer:  # its 403, 404 and 405
                _close_if_held_back(request, answer)
                raise
            _close_if_held_back(request, own)
            return own
        refusal = Refusal(404, "Not found", f"{path!r} is under {RESERVED_PREFIX}/, "
                          f"devproxy's own pages; the inspector is off (inspector: false).")
    elif refusal is None:
        refusal = path_refusal(snapshot.table, path)
        if refusal is not None and is_preflight(request.method, request.headers):
            refused = snapshot.table.match(path)
            if snapshot.cors_for(refused.route.path if refused else "",
                                 request.headers.get("Origin")) is not None:
                # devproxy answers this preflight and forwards nothing. Refused, the page
                # would see a CORS error; the request itself gets the readable 400, as
                # an over-long URL gets its 414.
                refusal = None
    # The route the path is for, served only if nothing refused it; a refused request is
    # still filed under it (the inspector) and answered in its CORS mode.
    routed = snapshot.table.match(path)
    match = routed if refusal is None else None
    method = request.method
    # Asked once: the inspector marks the request, ``_serve`` takes it to the WebSocket path.
    # Not in HTTP/1.0, where Upgrade is ignored (RFC 9110 §7.8) and no 1xx may be sent
    # (§15.2): such a request goes on as the plain GET it is.
    upgrade = method == "GET" and "Upgrade" in request.headers \
        and request.version >= (1, 1) and is_websocket_upgrade(request.headers)
    record = None
    if captures is not None:  # with its route: the page shows and filters it while open
        target = request.raw_path
        if len(target) > snapshot.config.limits.header_size:  # refused, or a preflight
            target = _cut(target)
        # The peername, not ``request.remote``: the text is made only if shown, and
        # aiohttp's two properties (scheme and remote) cost some 1,200 instructions a
        # request (callgrind).
        record = captures.start(method, target, request._transport_peername,
                                request.raw_headers, start,
                                routed.route.path if routed is not None else "")
        if not host:  # none (HTTP/1.0) or empty: its URL names the address it reached
            record.authority = reached_authority(request)
        # 1.0, or 0.9 and 2.0 (read as 1.1, to be refused): shown as it was (HAR)
        if request.version is not HttpVersion11 or refusal is not None:
            version = _version_sent(request)
            if version != HttpVersion11:
                record.version = f"HTTP/{version.major}.{version.minor}"
        if upgrade:
            record.kind = "websocket"  # a refused or failed handshake is one too
        elif method == "OPTIONS" and is_preflight("OPTIONS", request.headers):
            record.kind = "preflight"  # whoever answers it: devproxy or the backend
    try:
        if refusal is not None:
            response: web.StreamResponse = _refuse(request, refusal)
            if record is not None:
                record.declined = (refusal.detail, refusal.hint)
            # CORS mode covers devproxy's refusals too, or the page sees a CORS failure
            # instead of the reason (a Host not in allowed_hosts, say); not a WebSocket's,
            # which no CORS check applies to.
            if "Origin" in request.headers and not upgrade:
                rules = snapshot.cors_for(routed.route.path if routed is not None else "",
                                          request.headers["Origin"])
                if rules is not None:
                    mark(request, rules)
        else:
            route = match.route if match is not None else None
            # ``snapshot.cors_for`` inline: this runs on every request.
            cors = snapshot.cors.get(route.path) if route \
                else snapshot.cors_for("", request.headers.get("Origin"))
            if cors is not None and is_preflight(request.method, request.headers):
                # Fetch §3.2.2: devproxy answers preflights itself; the backend never
                # sees them.
                response = preflight_response(request, cors, route.path if route else "-",
                                              snapshot.config.source)
                if record is not None and isinstance(response, PreflightRefusal):
                    record.refused = response.answer
            else:
                # A WebSocket has no CORS check (browsers send its handshake without
                # Sec-Fetch-Mode): its own origin check decides (``proxy_websocket``).
                if cors is not None and not upgrade:
                    mark(request, cors)
                elif route is not None and not upgrade and snapshot.config.cors is not None \
                        and "Origin" in request.headers:
                    _uncovered(request, route, snapshot.config.source)
                if match is None:
                    response = _no_route(request, snapshot.table.routes, record)
                else:
                    assert route is not None
                    response = await _serve(request, route, path, match.rest, cors, record,
                                            upgrade, snapshot.table)
        if response.__class__ is not ProxiedResponse and not response.prepared:
            await _send(request, response, record)  # a relayed response always went out
    except asyncio.CancelledError:
        # The browser went away and aiohttp cancelled the handler: the request still
        # gets its log line, and its record an end instead of "in progress" for good.
        _abandoned(request, route, record, captures, start)
        raise
    if record is not None and captures is not None:
        if record.duration_ms is None:  # else the response was relayed whole, and said so
            _finish(record, route, response)
        if captures.listeners:  # a call saved on most requests: no page is open
            captures.done(record)
        if record.kind == "preflight" and record.awaits_request():
            # Whether the request it was for follows tells the page's credentials mode.
            asyncio.get_running_loop().call_later(FOLLOW_WAIT, captures.settle, record)
    _log(request, route, response, start)
    return response


def _version_sent(request: web.Request) -> HttpVersion:
    """The version the request line named: ``app._Request`` reads 0.9 and 2.0 as 1.1,
    to refuse them in 1.1, and keeps the one named."""
    return getattr(request, "sent_version", None) or request.version


def _uncovered(request: web.Request, route: Route, source: Path | None) -> None:
    """A request with an Origin, under a top-level cors: block, to a route the block does
    not cover: a static folder, or a target route that turned it off (``cors: false``).
    Its response says why in ``cors.REFUSED_FIELD`` if a page on another origin will be
    refused it."""
    if route.static is not None:
        note(request, f"route {route.path} serves a static folder, and static folders "
                      "never get CORS headers, whatever the cors: block says; open the "
                      "page through devproxy, or serve the folder from a server behind a "
                      "target route")
        _explain_static_cors(request, route)
        return
    where = f" ({source}:{route.line})" if source is not None and route.line else ""
    note(request, f"route {route.path} has cors: false, so the top-level cors: block does "
                  "not cover it, and the backend sent no CORS headers of its own; drop "
                  f"cors: false from the route{where}, or have the backend answer CORS")


def _explain_static_cors(request: web.Request, route: Route) -> None:
    """Say once per route that a page on another origin asked a static folder, which
    CORS mode never covers: the cors: block in the file looks as if it should."""
    origin = request.headers["Origin"]
    if origin == own_origin(request) \
            or not in_cors_mode(request.headers.get("Sec-Fetch-Mode", "")):
        return  # devproxy's own page, or a request the browser does not check
    if not request.app[EXPLAINED].first_time(f"{route.path} static cors"):
        return
    logger.warning("CORS: route %s serves a static folder, and static folders never get "
                   "CORS headers, whatever the cors: block says: the page at %s cannot read "
                   "%s. Open the page through devproxy, or serve the folder from a server "
                   "behind a target route", route.path, origin, request.path)


def _with_authority(request: web.Request) -> web.Request:
    """An HTTP/1.0 request without Host (aiohttp refuses HTTP/1.1 without one, RFC 9112
    §3.2), as one for the address it reached. aiohttp's ``host`` falls back to that
    address without its port, which the backend (spoken to in HTTP/1.1, so sent a Host)
    and the X-Forwarded-* fields would take as port 80."""
    host = reached_authority(request)
    return request.clone(host=host) if host else request


def reached_authority(request: web.Request) -> str:
    """The address a request reached, as a Host field names it ("" if not known)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not isinstance(sockname, tuple):
        return ""
    host = url_host(sockname[0])
    if sockname[1] != DEFAULT_PORTS.get(request.scheme):
        host = f"{host}:{sockname[1]}"
    return host


def _finish(record: Record, route: Route | None, response: web.StreamResponse) -> None:
    if route is not None and route.static is not None:
        if record.kind == "http":
            record.kind = "static"
        else:  # a preflight the folder answered (405): still no CORS block can help
            record.from_static = True
    if not record.has_browser_response and (response.prepared or
                                            isinstance(response, web.Response)):
        record.browser_response = response.headers
    if isinstance(response, web.Response) and isinstance(response.body, bytes) \
            and not record.bytes_out and record.method != "HEAD":
        record.download(response.body)  # devproxy's own answer (404, 502, refusals)
    elif not record.bytes_out:
        record.bytes_out = _body_bytes(record.method, response)
    record.finish(response.status)


async def _send(request: web.Request, response: web.StreamResponse,
                record: Record | None) -> None:
    """Send a response the handler made but did not send (devproxy's own answers, static
    files), as aiohttp would once the handler returns: sent here, the access log and the
    inspector see what the browser got (a file's 304 or 206, its bytes, the time it
    took), not what was decided before sending. aiohttp's own send then finds it done."""
    request[STREAMING] = response  # for the log line if the handler is cancelled
    # ``_close_if_held_back``, its cheapest test first, inline: every file comes here.
    if hdrs.EXPECT in request.headers and held_back(request):
        response.force_close()
    try:
        await response.prepare(request)
        await response.write_eof()
    except ConnectionError:
        if isinstance(response, StaticFile) and response.body_sent:
            # Part of a file went (a download cut off, a video seeked away from).
            request[UNSENT] = " (browser went away)"
            if record is not None:
                record.error = WENT_AWAY
        else:
            # The browser went away, or devproxy closed the connection (an EventSource to
            # a backend that is down): logged with the status it was to get, no bytes.
            request[UNSENT] = " (connection closed, nothing sent)"
            if record is not None:  # no answer reached the browser: none is shown
                record.error = record.error or "the connection closed before the answer " \
                                               "was sent"
                record.finish(0)


def _close_if_held_back(request: web.Request, response: web.StreamResponse) -> None:
    """Close the connection after an answer to a request whose body may never come: it
    asked for a 100 Continue and got none (RFC 9110 §10.1.1: the answer says whether the
    connection goes on). Kept open, the client's next request would be read as the
    rest of that body."""
    if hdrs.EXPECT in request.headers and held_back(request):
        response.force_close()


def _body_bytes(method: str, response: web.StreamResponse) -> int:
    """The body bytes a sent response gave the browser, as nginx's ``$body_bytes_sent``
    counts them. Not aiohttp's ``body_length``: that counts the head with the body, and
    leaves out a file sent with sendfile."""
    if isinstance(response, ProxiedResponse):
        return response.body_sent
    if isinstance(response, StaticFile) and response.body_sent is not None:
        return response.body_sent  # the file ended early
    # RFC 9110 §6.4.1: no content in a response to HEAD, nor in a 1xx, 204 or 304.
    if method == "HEAD" or response.status < 200 or response.status in (204, 304):
        return 0
    return response.content_length or 0


def _screen(request: web.Request, snapshot: Snapshot, host: str | None) -> Refusal | None:
    # The request's shape first (CONNECT, absolute form, smuggling leftovers), then the
    # Host, before anything is routed or answered: the DNS-rebinding defence covers HTTP
    # and WebSocket, devproxy's own pages and its 404s alike.
    # The URL's length and the field count are held to the limits here, after parsing,
    # not by the parser, so the refusal has the request's Origin and, in CORS mode, its
    # CORS headers (a readable 414, not a CORS error); the parser's caps are higher
    # (``app``), and what it refuses has no Origin to answer (``refusals``).
    limits = snapshot.config.limits
    over: Refusal | None = None
    if len(request.raw_path) > limits.header_size:
        # A preflight is answered as usual (or forwarded): refused, the page would see
        # a failed preflight, a CORS error; the request itself gets the readable 414.
        if not is_preflight(request.method, request.headers):
            over = url_too_long(limits.header_size)
    elif len(request.raw_headers) > limits.headers:
        over = too_many_fields(limits.headers)
    if over is not None:
        logger.warning("%s", over_limit_log(over))
        return over
    refusal = target_refusal(request.method, request.raw_path, _version_sent(request),
                             request.headers.get("Transfer-Encoding"))
    if refusal is not None:
        return refusal
    refusal = host_refusal(snapshot.hosts, host)  # the field as sent
    if refusal is not None and refusal.status == 403:  # a 400 is no name to allow
        _warn_host(request, snapshot.hosts.where)
    return refusal


def _refuse(request: web.Request, refusal: Refusal) -> web.StreamResponse:
    response = problem_response(request, refusal.status, refusal.title, refusal.detail,
                                hint=refusal.hint)
    # Whatever body or pipelined bytes follow a refused request are not read as a
    # request of their own.
    response.force_close()
    return response


def _warn_host(request: web.Request, where: str) -> None:
    host = request.headers.get("Host", "")
    if request.app[WARNED_HOSTS].first_time(host):
        logger.warning("refused a request for Host %r (DNS-rebinding defence); if that name "
                       "is yours, add it to allowed_hosts in %s", host, where)


async def _serve(
    request: web.Request, route: Route, path: str, rest: str, cors: CorsRules | None,
    record: Record | None, upgrade: bool, routes: RouteTable | None = None,
) -> web.StreamResponse:
    if route.static is not None:
        if upgrade:  # a file is no socket: said, not served (a page would get a 200)
            return problem_response(
                request, 404, "No WebSockets on a static route",
                f"Route {route.path} serves files ({route.shown_destination}); a WebSocket "
                f"needs a route with a target.",
                hint="route the socket's path to the server that speaks WebSocket (a dev "
                     "server's HMR path, say), ahead of this one")
        return await serve_static(request, route, rest)
    assert route.target is not None
    app = request.app
    try:
        if upgrade:
            if not route.ws:
                return problem_response(request, 404, "WebSockets are off on this route",
                                        f"Route {route.path} has ws: false.",
                                        hint="set ws: true on the route to forward upgrades")
            if record is not None:
                request[RECORD] = record
            # CORS mode's "*" lets any page read responses; it must not let any page
            # open sockets, the hijacking the origin check exists to stop.
            named = cors if cors is not None and not cors.policy.any_origin else None
            return await _waiting(route, lambda: proxy_websocket(
                request, route, path, app[POOL], app[OUTAGES],
                host_allowed=app[LIVE].current.hosts.allows,
                cors_allows=named.allows if named is not None else None,
                cors_off=route.cors is None and app[LIVE].current.config.cors is not None,
            ))
        return await _waiting(route, lambda: forward_http(request, route, path, app[POOL],
                                                          app[OUTAGES], record, routes))
    except UpstreamError as err:
        return await upstream_failure(request, route, err, record)


async def _waiting(route: Route, attempt: Callable[[], Awaitable[web.StreamResponse]]
                   ) -> web.StreamResponse:
    """``attempt``, retried while the target refuses connections, up to
    ``route.wait_for_backend`` seconds: a backend restarting under nodemon or
    ``uvicorn --reload`` costs the browser a pause, not a 502. A refused connection sent
    nothing, so any request, whatever its method, can be tried again."""
    if route.wait_for_backend <= 0:
        return await attempt()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + route.wait_for_backend
    while True:
        try:
            return await attempt()
        except UpstreamError as err:
            if err.kind != "refused" or loop.time() + _RETRY_EVERY > deadline:
                raise
        await asyncio.sleep(_RETRY_EVERY)


# The page's heading for each way a target failed (``UpstreamError.kind``).
_TITLES = {"reset": "Backend closed the connection", "keep-alive": "Backend closed the connection",
           "protocol": "Invalid response from backend",
           "response-timeout": "Backend timed out", "connect-timeout": "Backend timed out",
           "busy": "All connections to the backend busy",
           "upload-stalled": "Backend stopped reading the upload"}


async def upstream_failure(
    request: web.Request, route: Route, err: UpstreamError, record: Record | None = None
) -> web.StreamResponse:
    """The 502/504 for a target that could not be reached, logged once per outage."""
    target = route.target
    assert target is not None
    facts = {"Route": route.path, "Target": target.url, "Reason": err.kind}
    attempts: list[str] = []
    if err.kind == "refused":
        attempts = [f"{a.address}: {a.error or 'connected on retry'}"
                    for a in await diagnose(target)]
    elif (err.kind == "reset" or (err.kind == "protocol" and err.hint == NOT_HTTP)) \
            and target.scheme == "http" and not err.spoke_http \
            and await speaks_tls(target, request.app[POOL].tls_context(secure=False)):
        # Only where no HTTP came back: a response that broke HTTP's rules (two
        # Content-Lengths) is from an HTTP server, and the probe would cost a second.
        err = served_over_tls(target, err)
    title = _TITLES.get(err.kind, "Backend not reachable")
    if record is not None:  # the list marks it, and the "error" filter finds it
        record.error = err.detail
        # Its CORS verdict then blames devproxy's error, not the backend's CORS.
        record.failed = (title, err.detail, err.hint)
    if request.app[OUTAGES].failed(target, err.kind):
        tried = f" (tried {'; '.join(attempts)})" if attempts else ""
        logger.error("route %s -> %s: %s%s. %s", route.path, target.url, err.detail, tried,
                     err.hint[:1].upper() + err.hint[1:])  # a sentence of its own
    if (err.kind == "refused" and request.method == "GET" and request.transport is not None
            and accepts_event_stream(request.headers.get("Accept", ""))):
        # An EventSource fails for good on any answer but a 200 event stream, and tries
        # again after a network error (HTML §9.2.3): a backend restarting under nodemon or
        # uvicorn --reload refused it, and so does devproxy, by closing the connection.
        request.transport.close()
        if record is not None:
            record.kind = "sse"  # listed as the EventSource it was, though no stream came
            record.error += "; devproxy closed the connection so that the EventSource " \
                            "tries again"
    return problem_response(
        request, err.status_hint, title, err.detail, hint=err.hint, facts=facts,
        items=attempts, items_title="Addresses tried",
        reloads=err.kind == "refused" and request.method == "GET",
    )


def _no_route(request: web.Request, routes: tuple[Route, ...], record: Record | None = None
              ) -> web.StreamResponse:
    listing = [f"{r.path} -> {r.shown_destination}" for r in routes]
    detail = f"No configured route matches {request.path!r}."
    hint = "add a route for this path to devproxy.yaml, or a catch-all `path: /`"
    if record is not None:  # its CORS verdict then blames the route table, not a backend
        record.unrouted = (detail, hint, tuple(listing))
    return problem_response(request, 404, NO_ROUTE, detail, hint=hint, items=listing,
                            items_title="Configured routes")


class AccessLog:
    """Where the line per request goes.

    By default a ``devproxy.access`` log record at INFO. The CLI gives ``write`` instead,
    which stamps and buffers the ready-made line itself: a log record per request
    (record object, formatter, handler lock) costs a tenth of a small proxied request's
    CPU. ``write(line, status)`` must not block.
    """

    __slots__ = ("write",)

    def __init__(self, write: Callable[[str, int], None] | None = None) -> None:
        self.write = write


ACCESS_LOG = web.AppKey("access_log", AccessLog)


def _abandoned(request: web.Request, route: Route | None, record: Record | None,
               captures: Captures | None, start: float) -> None:
    stream = request.get(STREAMING)
    if stream is not None and not stream.prepared:
        stream = None  # a file or an answer cancelled before its head went
    # A spliced WebSocket ends with its connection: that is its normal end; and so does
    # an event stream, which never ends by itself (EventSource.close(), a tab closed),
    # even before its head came (a server that sends it with the first event).
    socket = stream is not None and stream.status == 101
    if record is not None and record.kind == "http" and not record.status \
            and request.method == "GET" \
            and accepts_event_stream(request.headers.get("Accept", "")):
        record.kind = "sse"
    normal_end = socket or (record is not None and record.kind == "sse")
    # Past the shutdown timeout aiohttp cancels what still runs: devproxy cut it.
    stopping = request.app[LIVE].stopping
    if record is not None and record.duration_ms is None:
        if stopping:
            record.error = "devproxy stopped before the response ended"
        elif not normal_end:
            record.error = WENT_AWAY
        if stream is not None and not socket and stream.__class__ is not ProxiedResponse \
                and not record.status:
            _finish(record, route, stream)  # a file cut off: its status, the bytes that went
        else:
            record.finish(record.status)  # 0 if no head was sent
        if captures is not None and captures.listeners:
            captures.done(record)
    # A stream's head went out, so the browser had its status; else nginx's "client
    # closed request".
    if stopping:  # a socket devproxy closed (1001), or a response it cut
        said = " (closed at shutdown)" if socket else " (cut at shutdown)"
    else:  # an event stream's end too: the log says who ended it
        said = "" if socket else " (browser went away)"
    _log(request, route, stream, start, said)


def _cut(target: str, keep: int = 2048) -> str:
    """A request-target too long to keep or print whole: its start, and its size."""
    return f"{target[:keep]}... ({len(target)} bytes in all)"


def _log(request: web.Request, route: Route | None, response: web.StreamResponse | None,
         start: float, note: str = "") -> None:
    write = request.app[ACCESS_LOG].write
    if write is None and not access_logger.isEnabledFor(logging.INFO):
        return
    ms = (time.perf_counter() - start) * 1000
    if response is None:
        status, size = 499, 0
    elif UNSENT in request:
        status, note = response.status, note or request[UNSENT]
        # What went before the browser left (a file, a relayed stream); else nothing.
        size = response.body_sent or 0 \
            if isinstance(response, (StaticFile, ProxiedResponse)) else 0
    else:
        status = response.status
        # A relayed response's count inline: it is most requests.
        size = (response.body_sent if response.__class__ is ProxiedResponse
                else _body_bytes(request.method, response))
    if status == 101:  # how the socket ended, however the handler did
        note = note or request.get(SOCKET_END, "")
    target = request.raw_path
    if len(target) > _LOGGED_TARGET:
        target = _cut(target, _LOGGED_TARGET)
    line = (f"{request.method} {target} -> {route.path if route else '-'} "
            f"{status} {ms:.1f}ms {size}B{note}")
    if write is None:
        access_logger.info(line, extra={"status": status})
    else:
        write(line, status)
