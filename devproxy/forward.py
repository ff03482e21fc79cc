"""HTTP forwarding: one browser request to one upstream request, streamed both ways.

Owns the request/response pump: build the upstream URL and headers (from the pure
``paths`` and ``headers`` modules), send the body as it arrives, wait for response
headers within ``timeout.response``, then copy the body chunk by chunk as the backend
sends it. Nothing is read whole, nothing is decompressed. It does not decide routes
and does not write error pages (``errorpages``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from aiohttp import StreamReader, web
from multidict import CIMultiDict

from . import h1
from .backendadvice import (
    carries_csrf_token,
    csrf_refused,
    fields_too_large,
    host_refused,
    misdirected,
    self_redirect,
)
from .capture import HEAD_KEPT, WENT_AWAY, Record, decoded_body, kept_head
from .config import Route, Target
from .corsmode import own_origin
from .headers import (
    HOP_COUNTED,
    accepts_event_stream,
    hops_left,
    reflected,
    request_headers,
    response_headers,
)
from .paths import upstream_path
from .pool import Broken, Busy, Connection, Pool, UploadStalled, broken_error
from .router import RouteTable
from .state import BODY, CAPTURES, EVENT_STREAMS, EXPLAINED, LIVE, STREAMING, UNSENT
from .upstream import (
    Outages,
    busy_error,
    closed_while_idle,
    response_timeout_error,
    upload_stalled_error,
)

logger = logging.getLogger(__name__)


class ProxiedResponse(web.StreamResponse):
    """A response relayed from upstream.

    aiohttp fills in ``Content-Type: application/octet-stream`` and its own ``Server``
    when a response lacks them; a proxy must not (a missing Content-Type lets the
    browser sniff, octet-stream makes it download). ``restore_headers`` undoes that.
    """

    upstream_lacks: tuple[str, ...] = ()
    body_sent = 0  # body bytes written to the browser, for the access log


class RawHeadResponse(ProxiedResponse):
    """A relayed response whose head aiohttp would not write as the backend sent it.

    Fields with bytes that are not UTF-8 (obs-text, which RFC 9110 §5.5 allows and Node
    sends for any character past U+007F in a header): aiohttp writes a head's characters
    as UTF-8 and drops the surrogates that stand for such bytes, so
    ``filename="\xe9t\xe9.pdf"`` reached the browser as ``"t.pdf"``. And control
    characters other than CR, LF and NUL (which ``h1`` refuses): invalid, but a recipient
    MAY keep them (RFC 9110 §5.5) and browsers do, while aiohttp refuses to write them,
    so a debug header with ANSI colours became a 500. This class writes the head with
    the bytes as they came; the usual class pays nothing.
    """

    async def _write_headers(self) -> None:
        request, writer = self._req, self._payload_writer
        assert request is not None and writer is not None
        status_line = f"HTTP/{request.version[0]}.{request.version[1]} {self.status} {self.reason}"
        # Written raw, past aiohttp's own check: CR, LF and NUL are refused here too
        # (h1 refuses them from a backend), or a head could be split (RFC 9112 §2.2).
        if h1.BREAKS_LINE.search(status_line) or any(
                h1.BREAKS_LINE.search(f"{name}{value}") for name, value in self._headers.items()):
            raise ValueError("a CR, LF or NUL in a relayed head")
        # The writer's hooks and state, from a copy it accepts.
        await writer.write_headers(_CONTROL.sub(" ", status_line), CIMultiDict(
            (name, _CONTROL.sub(" ", value)) for name, value in self._headers.items()))
        fields = "".join([f"{name}: {value}\r\n" for name, value in self._headers.items()])
        writer._headers_buf = f"{status_line}\r\n{fields}\r\n".encode(  # type: ignore[attr-defined]
            "utf-8", "surrogateescape")
        if self._send_headers_immediately:
            writer.send_headers()


async def write_raw_head(response: web.StreamResponse, refused: ValueError) -> None:
    """Write the head of ``response``, whose ``prepare`` raised ``refused``, as a
    ``RawHeadResponse`` when aiohttp refused a control character the backend sent; any
    other error stands. Called only then: the check would cost every response a scan."""
    if not (isinstance(response, ProxiedResponse) and "control character" in str(refused)):
        raise refused
    response.__class__ = RawHeadResponse
    await response._write_headers()


async def restore_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: drop headers aiohttp added to a relayed response."""
    if isinstance(response, ProxiedResponse):
        for name in response.upstream_lacks:
            response.headers.popall(name, None)


# The fields aiohttp adds that a relayed response lacked (``ProxiedResponse``).
# What aiohttp refuses to write in a head: control characters but HTAB (h1 already
# refused CR, LF and NUL from a backend).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LACKS_TYPE, _LACKS_SERVER = ("Content-Type",), ("Server",)
_LACKS_BOTH = ("Content-Type", "Server")
# A request body up to this size is read whole, then sent with its head.
_SMALL_BODY = 64 * 1024
# RFC 9110 §9.2.2: only these may be sent again after a connection fails unanswered.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
# Seconds within which a reused connection's close, after a request was sent on it,
# is read as the backend's idle timeout meeting the request (a race), not as the
# backend failing on the request. Loopback's round trip is well under a millisecond.
_RACE_WINDOW = 0.5
# RFC 9110 §8.6: a request whose method gives content meaning says its length, even 0.
_CONTENT_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def forward_http(
    request: web.Request, route: Route, raw_path: str, pool: Pool, outages: Outages,
    record: Record | None = None, routes: RouteTable | None = None,
) -> web.StreamResponse:
    """Relay ``request`` to ``route.target`` and stream the answer back.

    Args:
        raw_path: the request's raw path, without the query, that matched ``route``.
        pool: the app's upstream connections.
        outages: told when the target answers, so a finished outage is logged once.
        record: the inspector's record of this request, filled in as it passes.
        routes: the route table: a redirect to another route's target stays on devproxy.

    Returns:
        The prepared and finished response. If the backend breaks off mid-body the
        client connection is closed, so the client sees a truncated response.

    Raises:
        UpstreamError: no response headers could be had (refused, TLS, timeout, reset).
    """
    target = route.target
    assert target is not None
    query = request.raw_path[len(raw_path):]  # "" or "?..." exactly as sent
    path = upstream_path(route, raw_path) + query
    headers = request_headers(
        request.headers, route,
        client_ip=request.remote, proxy_host=request.host, scheme=request.scheme,
    )
    if request.method in HOP_COUNTED and "Max-Forwards" in headers:
        left = hops_left(headers["Max-Forwards"])
        if left == 0:  # RFC 9110 §7.6.2: not forwarded; answered as the final recipient
            body = reflected(request.method, request.raw_path,
                             tuple(request.version),  # type: ignore[arg-type]
                             request.headers)
            return web.Response(body=body, content_type="message/http" if body else None)
        if left is not None:
            headers["Max-Forwards"] = str(left - 1)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("upstream request %s %s%s\n%s", request.method, target.origin, path,
                     dump_headers(headers.items()))
    exchange = _Exchange(request, route, target, pool, record)
    head = await exchange.send(path, headers)
    outages.succeeded(target)
    try:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("upstream response %s %s%s\n%s", head.status, target.origin, path,
                         dump_headers(head.headers))
        return await _relay(request, exchange.conn, head, route, record, routes, exchange.body)
    finally:
        exchange.finish()


class _Exchange:
    """One request on one pooled connection: sending it, and giving the connection back."""

    __slots__ = ("body", "conn", "pool", "record", "request", "route", "target", "uploading")

    def __init__(self, request: web.Request, route: Route, target: Target, pool: Pool,
                 record: Record | None) -> None:
        self.request = request
        self.route = route
        self.target = target
        self.pool = pool
        self.record = record
        self.conn: Connection
        self.uploading: asyncio.Task[None] | None = None
        self.body = b""  # a small body, sent with the head (a CSRF 403 is read with it)

    async def send(self, path: str, headers: CIMultiDict[str]) -> h1.Head:
        """Write the request and wait for the response head, within the route's timeouts."""
        request, route = self.request, self.route
        method = request.method
        stream = False
        body: bytes | None = None
        # The body is framed here, whatever the browser's fields said (request_headers
        # passes none of Content-Length and Transfer-Encoding): as aiohttp read it.
        if request.body_exists:
            length = request.content_length
            if length is not None:
                headers["Content-Length"] = str(length)
            if length is not None and length <= _SMALL_BODY:
                # Read whole before a backend connection is taken, then sent with the
                # head: a browser that stalls mid-upload holds no place in the pool.
                body = await self._small_body()
            else:
                stream = True
                if length is None:  # chunked from the browser: chunked upstream too
                    headers["Transfer-Encoding"] = "chunked"
        elif method in _CONTENT_METHODS:
            headers["Content-Length"] = "0"
        head_bytes = h1.request_head(method, path, headers.items())
        record = self.record
        if record is not None:  # the head as sent, framing fields included
            record.upstream_origin = self.target.origin
            # ``kept_head``'s test inline: a call on every request costs 1,000 instructions.
            record.upstream_head = head_bytes if len(head_bytes) <= HEAD_KEPT \
                else kept_head(head_bytes)
            if not route.secure:  # its copy as curl skips the certificate check too
                record.insecure = True
        connect, response = route.timeout.connect, route.timeout.response
        # An EventSource waits as long as the stream takes to begin: a server may send
        # its head only with the first event (Node's writeHead without flushHeaders), and
        # an EventSource given a 504 closes for good (HTML §9.2.3), where direct it would
        # have waited. So for a GET that accepts an event stream, no limit.
        accept = request.headers.get("Accept", "").lower() if method == "GET" else ""
        wait: float | None = None if "text/event-stream" in accept \
            and accepts_event_stream(accept) else response
        try:
            for attempt in (1, 2):
                # timeout.connect bounds a new connection; timeout.response the wait for
                # the response head, from the request's last byte (``_upload`` starts it).
                conn = await self.pool.acquire(self.target, secure=route.secure,
                                               connect_timeout=connect,
                                               wait_timeout=connect + response)
                self.conn = conn
                if self.record is not None:
                    self.record.connect_ms = conn.connect_ms if not conn.uses else 0.0
                reused, sent = conn.uses > 0, False
                try:
                    if stream and attempt == 1:
                        await _continue(request)
                    conn.begin(method, wait, uploading=stream,
                               interim=self.interim if request.version >= (1, 1) else None)
                    conn.write(head_bytes + body if body else head_bytes)
                    sent = True
                    if stream:
                        self._start_upload("Transfer-Encoding" in headers)
                    return await conn.head()
                except Broken as exc:
                    self.finish()
                    # A connection the backend closed before anything was written (an
                    # idle one it let go while a slow body arrived): any request goes
                    # on another. One it closed as we sent: nothing was answered, so a
                    # request that can be sent again, is (RFC 9110 §9.2.2).
                    # A race with the backend's idle timeout closes at once; a close
                    # that came later is the backend failing on the request (a crash):
                    # not sent again, and not told as a keep-alive matter.
                    late = conn.loop.time() - conn.sent_at >= _RACE_WINDOW
                    stale = reused and not conn.received and exc.closed and not stream \
                        and not late
                    if attempt == 1 and (not sent or (stale and method in _IDEMPOTENT)):
                        continue
                    if stale and attempt == 1:  # held back only for its method
                        raise closed_while_idle(self.target, method, conn.sent_at
                                                - conn.idle_since, conn.idle_limit) from None
                    failed = broken_error(self.target, exc)
                    # A TLS server refuses plain HTTP at once, and never answered it.
                    failed.spoke_http = reused or late
                    raise failed from None
                except BaseException:
                    self.finish()
                    raise
            raise AssertionError("unreachable")
        except Busy as exc:
            raise busy_error(self.target, exc.cap, exc.waited, exc.uploads) from None
        except UploadStalled as exc:
            raise upload_stalled_error(self.target, response, exc.unsent) from None
        except TimeoutError:
            raise response_timeout_error(self.target, response) from None

    async def _small_body(self) -> bytes:
        """The whole body, read once (``wait_for_backend`` tries again with what was
        read), after a 100 Continue if the browser asked for one."""
        request = self.request
        body = request.get(BODY)
        if body is None:
            await _continue(request)
            body = request[BODY] = await request.content.read()
            if self.record is not None:
                self.record.upload(body)
                if body:  # its arrival from the browser is HAR's "send"
                    self.record.sent_ms = self.record.elapsed_ms()
        self.body = body  # a CSRF 403 is read with it
        return body

    def interim(self, head: h1.Head) -> None:
        """Pass a backend's 1xx on to the browser as it arrives: RFC 9110 §15.2 says a
        proxy MUST, unless it asked for it. devproxy answers the browser's ``Expect:
        100-continue`` itself (``_continue``) and never sends one upstream, so a 100 is
        not passed; a 1.0 client is sent none (``send``). Written on the transport,
        ahead of the final head, which aiohttp writes only once the relay prepares it.
        """
        transport = self.request.transport
        if head.status == 100 or transport is None or transport.is_closing():
            return
        request = self.request
        fields = response_headers(CIMultiDict(head.headers), self.route,
                                  proxy_origin=f"{request.scheme}://{request.host}")
        fields.popall("Content-Length", None)  # a 1xx has no body (RFC 9110 §15.2)
        transport.write(h1.response_head(head.status, head.reason, fields.items()))

    def _start_upload(self, chunked: bool) -> None:
        task = asyncio.create_task(_upload(self.conn, self.request.content, chunked,
                                           self.record))
        task.add_done_callback(_abort_on_failure(self.conn))
        self.uploading = task

    def finish(self) -> None:
        """Give the connection back; one still mid-upload or mid-response is closed."""
        uploading = self.uploading
        if uploading is not None and not uploading.done():
            uploading.cancel()
            self.conn.close()
        self.pool.release(self.conn)


async def _upload(conn: Connection, content: StreamReader, chunked: bool,
                  record: Record | None) -> None:
    while chunk := await content.readany():
        if record is not None:
            record.upload(chunk)
        conn.write(h1.chunk(chunk) if chunked else chunk)
        await conn.drain()
    if chunked:
        conn.write(h1.LAST_CHUNK)
    if record is not None:  # the upload's end: HAR's "send"
        record.sent_ms = record.elapsed_ms()
    conn.uploaded()


async def _continue(request: web.Request) -> None:
    """Answer ``Expect: 100-continue`` once devproxy is about to read the body (RFC 9110
    §10.1.1): a refused request gets its final status instead (``held_back``), and the
    backend never sees the Expect (``headers`` drops it)."""
    if expects_continue(request):
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the response proper has not started


def expects_continue(request: web.Request) -> bool:
    """The request asks for a 100 Continue before it sends its body."""
    expect = request.headers.get("Expect")
    return expect is not None and expect.lower() == "100-continue" \
        and request.version >= (1, 1)


def held_back(request: web.Request) -> bool:
    """The browser may be holding back the body of ``request`` for a 100 Continue it was
    not sent: its body has not all come, and it asked for one (a 100 was sent only if
    devproxy went on to read the body, which then comes)."""
    return request.body_exists and not request.content.is_eof() \
        and expects_continue(request)


def _abort_on_failure(conn: Connection) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        # The browser went away mid-upload, or the backend stopped taking it: the
        # backend must not be left waiting for the rest of a body that won't come.
        if task.cancelled() or task.exception() is not None:
            conn.close()
    return done


def relayed_response(request: web.Request, route: Route, head: h1.Head, status: int,
                     upstream: CIMultiDict[str], content_type: str | None,
                     routes: RouteTable | None = None) -> ProxiedResponse:
    """The browser's response for the backend's ``head`` (``upstream``, its fields, and
    ``content_type``, their Content-Type or None), rewritten by ``response_headers``
    (``routes``: the route table, for a redirect to another route's target)."""
    response = (RawHeadResponse if head.escaped else ProxiedResponse)(
        status=status, reason=head.reason or None,
        headers=response_headers(upstream, route,
                                 proxy_origin=f"{request.scheme}://{request.host}",
                                 others=routes,
                                 # A redirect's page: read only for one (the usual case
                                 # is a 200, on every request).
                                 page_origin=_page_origin(request)
                                 if 300 <= status < 400 else ""),
    )
    if "Server" not in upstream:
        response.upstream_lacks = _LACKS_SERVER if content_type is not None else _LACKS_BOTH
    elif content_type is None:
        response.upstream_lacks = _LACKS_TYPE
    return response


async def _relay(
    request: web.Request, conn: Connection, head: h1.Head, route: Route, record: Record | None,
    routes: RouteTable | None = None, request_body: bytes = b"",
) -> web.StreamResponse:
    """Relay the backend's answer; ``request_body``: the request's, if sent whole."""
    upstream = CIMultiDict(head.headers)
    # One lookup for what aiohttp must not add, the inspector and the event-stream test.
    content_type = upstream.get("Content-Type")
    response = relayed_response(request, route, head, head.status, upstream, content_type,
                                routes)
    if head.status >= 300:
        _explain(request, route, head.status, response, record)
    content_type = content_type or ""
    if record is not None:  # what the inspector's answered() or relayed() will take
        arrived = time.perf_counter()
    if "Content-Length" not in response.headers and request.version < (1, 1) \
            and head.length != 0:
        # An HTTP/1.0 client has no chunked coding: the body ends when the connection
        # does (RFC 9112 §6.3 (8)), so it must close even if the client asked to keep it.
        # Not when there is no body (HEAD, 204, 304: §6.3 (1), length 0 in ``h1``).
        response.force_close()
    if conn.body_ready():
        # The whole body came with the headers (most API and module responses): send
        # headers and body in one write, one syscall instead of three. Never for a body
        # still arriving: an SSE client must get the headers without waiting for data.
        response._send_headers_immediately = False  # aiohttp's own switch (web.Response)
        body = conn.take_all()
        if head.status == 403:
            _explain_forbidden(request, route, body, upstream, record, request_body)
        try:
            try:
                await response.prepare(request)
            except ValueError as refused:
                await write_raw_head(response, refused)
            if record is not None:  # the backend's status as given; _head_as_sent's
                # bytes, inline (aiohttp holds them here, for the body's write)
                sent = getattr(response._payload_writer, "_headers_buf", None)
                record.relayed(head.block, content_type, arrived, head.status,
                               sent or response.headers, body)
            await response.write_eof(body)
            response.body_sent = len(body)
        except ConnectionError:
            # The client went away (wrk stopping, a tab closed): nothing to tell it. The
            # inspector still shows what the backend answered.
            if record is not None and record.duration_ms is None:
                record.answered(head.block, content_type, arrived)
        return response
    if conn.has_body_bytes():
        # Part of the body is here: it leaves with the headers in one write. With none
        # yet (an SSE stream before its first event) the headers go at once.
        response._send_headers_immediately = False
    if record is not None:
        record.answered(head.block, content_type, arrived)
    try:
        await response.prepare(request)
    except ValueError as refused:
        await write_raw_head(response, refused)
    request[STREAMING] = response  # for the log line if the browser goes away
    if record is not None:  # a stream: show its status now, not when it ends
        record.status = response.status
        record.browser_response = _head_as_sent(request, response)
        request.app[CAPTURES].done(record)
    streams = None
    if content_type.lower().startswith("text/event-stream"):
        # Never ends by itself: shutdown ends it cleanly instead of waiting for it.
        streams = request.app[EVENT_STREAMS]
        streams.add(conn.end_body)
    # A 403 that may be Django's CSRF page, coming in pieces (uvicorn): kept to read.
    sniff = bytearray() if head.status == 403 and (route.change_origin
                                                   or _cross_origin(request)) else None
    try:
        return await _stream_body(request, conn, route, record, response, sniff)
    finally:
        if streams is not None:
            streams.discard(conn.end_body)
        if sniff:
            _explain_csrf(request, route, bytes(sniff), upstream, record, request_body)


def _explain(request: web.Request, route: Route, status: int, response: ProxiedResponse,
             record: Record | None) -> None:
    """Say why, once per route, status and path, when the backend answered what the
    browser will not explain (``backendadvice``), and mark the inspector's record."""
    target = request.raw_path
    if status in _FOLLOWED:
        location = response.headers.get("Location")
        # Not one that sets a cookie: a login or cookie check answers the second visit
        # otherwise. Nor a POST's 301, 302 or 303, which the browser follows with a GET
        # (Fetch §4.4): Post/Redirect/Get to the same URL is no loop.
        if location is None or "Set-Cookie" in response.headers or (
                request.method not in ("GET", "HEAD") and status not in (307, 308)):
            return
        advice = self_redirect(f"{request.scheme}://{request.host}", target, location,
                               route, upstream_path(route, target.partition("?")[0]),
                               where_written(request, route))
    elif status == 431:
        advice = fields_too_large(route, target, request.raw_headers, where_written(request, route))
    elif status == 421:  # the Host decides it, whatever the path: said once per route
        advice = misdirected(route, request.host, where_written(request, route))
        target = ""
    else:
        return
    if advice is not None:
        explain(request, f"{route.path} {status} {target}", advice, record)


def explain(request: web.Request, key: str, advice: str, record: Record | None) -> None:
    """Mark the inspector's ``record`` with ``advice`` (the list marks it, the detail
    says it), and log it the first time ``key`` comes up."""
    if record is not None:
        record.error = advice
    if request.app[EXPLAINED].first_time(key):
        logger.warning("%s", advice)


_SNIFFED = 64 * 1024  # bytes of a body read for what it says (``_explain_csrf``)


def _explain_forbidden(request: web.Request, route: Route, body: bytes,
                       upstream: CIMultiDict[str], record: Record | None,
                       sent: bytes = b"") -> None:
    """A 403 that came whole: a CSRF check devproxy upset (change_origin) or a page on
    another origin did (CORS mode), or a dev server's Host allowlist refusing a name
    allowed_hosts let through (no change_origin)."""
    if (route.change_origin or _cross_origin(request)) \
            and _explain_csrf(request, route, body, upstream, record, sent):
        return
    advice = host_refused(route, request.host, body, where_written(request, route))
    if advice is not None:
        explain(request, f"{route.path} 403 host", advice, record)


def _explain_csrf(request: web.Request, route: Route, body: bytes,
                  upstream: CIMultiDict[str], record: Record | None,
                  sent: bytes = b"") -> bool:
    """Say why, once per route, when Django refused a request's CSRF check because
    change_origin sent it the target's Host, or the page is on another origin; and mark
    the inspector's record. ``upstream``: the backend's fields (a gzipped page is read
    decoded); ``sent``: the request's body, if sent whole (else the inspector's copy
    is read for a token). True if that is what the 403 was."""
    coding = upstream.get("Content-Encoding")
    text = decoded_body(body[:_SNIFFED], coding) if coding else body[:_SNIFFED]
    token = carries_csrf_token(request.headers.keys(), sent or (
        record.request_body if record is not None else b""))
    advice = csrf_refused(route, request.headers.get("Origin", ""), text or b"",
                          where_written(request, route), own_origin(request), token)
    if advice is None:
        return False
    explain(request, f"{route.path} 403 csrf", advice, record)
    return True


def _page_origin(request: web.Request) -> str:
    """The origin of the page the request came from: its Origin, or for a navigation by
    a link (which sends none) its Referer's; "" if neither says."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin
    try:
        parts = urlsplit(request.headers.get("Referer", ""))
    except ValueError:  # an unclosed "[", NFKC tricks: no page is known
        return ""
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.netloc else ""


def _cross_origin(request: web.Request) -> bool:
    """The request came from a page on another origin than devproxy's (CORS mode)."""
    origin = request.headers.get("Origin")
    return origin is not None and origin != own_origin(request)


# The redirect statuses a browser follows (Fetch §4.4, "redirect status").
_FOLLOWED = frozenset({301, 302, 303, 307, 308})


def where_written(request: web.Request, route: Route) -> str:
    """" (file:line)" of ``route`` in the config file, if it has one."""
    config = request.app[LIVE].current.config
    return f" ({config.source}:{route.line})" if config.source is not None and route.line \
        else ""


async def _stream_body(request: web.Request, conn: Connection, route: Route,
                       record: Record | None, response: ProxiedResponse,
                       sniff: bytearray | None = None) -> web.StreamResponse:
    """Relay the body as it comes; ``sniff``, if given, gets its first 64 KiB."""
    while True:
        try:
            chunk = await conn.read()
        except Broken as exc:
            logger.warning(
                "%s %s: %s broke off the response body (%s); the client gets a "
                "truncated response", request.method, request.path, route.destination, exc,
            )
            # Closing without a final chunk (or short of Content-Length) is how HTTP/1.1
            # tells the client the message is incomplete (RFC 9112 §8).
            if request.transport is not None:
                request.transport.close()
            if record is not None:  # not a clean 200 in the list
                record.error = (f"{route.destination} broke off the response body ({exc}); "
                                "the browser got it truncated")
            return response
        if not chunk:
            break
        if record is not None:
            record.download(chunk)
        if sniff is not None and len(sniff) < _SNIFFED:
            sniff += chunk[:_SNIFFED - len(sniff)]
        try:
            await response.write(chunk)
        except ConnectionError:
            # The browser went away (an aborted fetch, a closed tab): logged and listed
            # so, with the bytes it was sent; the caller closes the upstream. Listed as
            # an error unless an event stream, which never ends by itself: the page
            # closing it is its end, as when aiohttp saw the close first and cancelled
            # the handler (``dispatch._abandoned``).
            request[UNSENT] = " (browser went away)"
            if record is not None:
                if record.kind != "sse":
                    record.error = WENT_AWAY
                record.bytes_out -= len(chunk)
            return response
        response.body_sent += len(chunk)
    await response.write_eof()
    return response


def _head_as_sent(request: web.Request, response: web.StreamResponse) -> bytes:
    """The response head as the browser got it: aiohttp's own serialised bytes while it
    holds them for the first body write (one object to keep, nothing to join), else as
    ``prepare`` wrote it, the backend's reason phrase and the browser's version
    included."""
    sent = getattr(response._payload_writer, "_headers_buf", None)
    if sent:
        return sent  # type: ignore[no-any-return]
    version = request.version
    return h1.response_head(response.status, response.reason, response.headers.items(),
                            f"HTTP/{version.major}.{version.minor}")


def dump_headers(headers: Iterable[tuple[str, str]]) -> str:
    """Header fields as ``-v`` logs them: one indented line each."""
    return "\n".join(f"    {k}: {printable(v)}" for k, v in headers)


def printable(text: str) -> str:
    """``text`` for a terminal: a backend's control characters (an ANSI colour escape
    in a header, now relayed as sent) escaped, not obeyed."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)
