"""WebSocket pass-through: the handshake relayed, then the bytes spliced both ways.

Owns the socket side of a WebSocket route: refuse hijacking origins, send the
browser's handshake to the backend first (so a refusal or an outage is answered as
plain HTTP, with the backend's own status and body), pass its 101 on to the browser,
then copy bytes each way as they arrive, the way nginx and Caddy do. Frames are not
parsed and re-made: what the two ends negotiated (subprotocol, permessage-deflate,
fragmentation, close codes) holds end to end, and a message costs one read and one
write per hop. ``wsframes`` watches the frames go by for the log, the inspector and
shutdown's Close. The rules (origins, headers, the 101's checks) live in ``wsrules``;
nothing here decides routes or writes error page markup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from multidict import CIMultiDict

from . import h1
from .capture import Record, kept_head
from .config import Route
from .errorpages import problem_response
from .forward import (
    ProxiedResponse,
    dump_headers,
    explain,
    printable,
    relayed_response,
    where_written,
    write_raw_head,
)
from .paths import upstream_path
from .pool import Broken, Connection, Pool, broken_error
from .state import CAPTURES, LIVE, RECORD, SOCKET_END, STREAMING, WARNED_SOCKETS
from .upstream import Outages, invalid_handshake, invalid_response, response_timeout_error
from .wsframes import FrameWatch, close_frame, deflate_accepted
from .wsrules import (
    GOING_AWAY,
    REFUSED_WITHIN,
    browser_handshake_problem,
    handshake_problem,
    offered_extensions,
    offered_protocols,
    origin_allowed,
    refusal_advice,
    refused_after_accepting,
    refused_without_http,
    unchosen_protocol,
    upstream_ws_headers,
)

logger = logging.getLogger(__name__)

# RFC 6455 §7.1.1: after a Close each way, how long the backend has to close the TCP
# connection (the server closes first) before devproxy does; also how long a closing
# side has to take the bytes still buffered for it.
_CLOSE_TIMEOUT = 1.0
# §7.1.5: the code reported for a connection that ended without a Close frame, and for
# a Close frame without a code.
_NO_CLOSE_FRAME = 1006
_NO_STATUS = 1005
_PREVIEW = 200  # characters of a refusal's body in the log
_REFUSAL_BODY_LIMIT = 64 * 1024  # bytes of a refusal's body relayed to the browser
_REFUSAL_READ_TIMEOUT = 5.0
# Bytes waiting to be written to the browser before the backend is paused; the other
# way, asyncio's own pause_writing on the backend transport pauses the browser.
_HIGH_WATER = 256 * 1024


class SocketStats:
    """Figures for one spliced socket (for the log and inspector), read off its frames."""

    __slots__ = ("close_code", "closed_by", "down", "opened", "path", "route", "up")

    def __init__(self, route: str, path: str, up: FrameWatch, down: FrameWatch) -> None:
        self.route = route
        self.path = path
        self.opened = time.monotonic()
        self.up = up  # browser -> backend
        self.down = down  # backend -> browser
        self.closed_by = ""  # "browser", "backend" or "devproxy" (shutdown)
        self.close_code: int | None = None  # as received; 1006: gone without a Close frame


class _Splice(asyncio.Protocol):
    """One browser socket and its backend socket after the handshakes.

    Two interfaces in one object: aiohttp's payload parser for the browser's connection
    (``feed_data``/``feed_eof``, given to ``set_parser``), and the asyncio protocol of
    the backend's connection. Every chunk is watched, then written to the other side,
    until devproxy ends a side itself (the other side vanished, or shutdown): then it
    sends that side a Close and reads on, dropping what comes, until that side's own
    Close answers it (RFC 6455 §7.1.1). Closing a socket with unread bytes would reset
    it, and the peer could lose the Close it was sent.
    """

    def __init__(self, browser: asyncio.Transport, writer: Any, stats: SocketStats,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.browser = browser
        self.backend: asyncio.Transport | None = None  # once the 101 is relayed
        self.writer = writer  # the browser side's writer, for waiting until it drains
        self.stats = stats
        self.loop = loop
        self.browser_open = True
        self.backend_open = True
        self.relaying = True  # False once devproxy is closing the sides itself
        self.ended: asyncio.Future[None] = loop.create_future()
        self._backend_paused = False
        self._draining: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- the browser's bytes (aiohttp's RequestHandler feeds them here) -----------------

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        up = self.stats.up
        up.feed(data)
        if self.relaying:
            if self.backend_open and self.backend is not None:
                self.backend.write(data)
            if up.close is not None and not self.stats.closed_by:
                self._closing("browser", up.close[0])
        elif up.close is not None and self.browser_open:
            self.browser.close()  # the browser answered devproxy's Close
        return False, b""

    def feed_eof(self) -> None:
        self._gone("browser")

    # -- the backend's bytes (asyncio calls these) -------------------------------------

    def data_received(self, data: bytes) -> None:
        down = self.stats.down
        down.feed(data)
        if self.relaying:
            browser = self.browser
            if self.browser_open:
                browser.write(data)
                if browser.get_write_buffer_size() > _HIGH_WATER and not self._backend_paused:
                    self._pause_backend()
            if down.close is not None and not self.stats.closed_by:
                self._closing("backend", down.close[0])
        elif down.close is not None and self.backend_open and self.backend is not None:
            self.backend.close()  # the backend answered devproxy's Close

    def eof_received(self) -> bool:
        return False  # the backend is done sending: close, as a WebSocket does

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone("backend")

    def pause_writing(self) -> None:
        if self.browser_open:
            self.browser.pause_reading()

    def resume_writing(self) -> None:
        if self.browser_open:
            self.browser.resume_reading()

    # -- flow control and endings ------------------------------------------------------

    def _pause_backend(self) -> None:
        assert self.backend is not None
        self._backend_paused = True
        self.backend.pause_reading()
        self._draining = asyncio.ensure_future(self._resume_backend())

    async def _resume_backend(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()  # returns once the browser has taken enough
        self._unpause_backend()

    def _unpause_backend(self) -> None:
        if self._backend_paused and self.backend_open and self.backend is not None:
            self._backend_paused = False
            self.backend.resume_reading()

    def _closing(self, side: str, code: int | None) -> None:
        """A Close frame from ``side`` went by: the first one names who ended it."""
        self.stats.closed_by = side
        self.stats.close_code = _NO_STATUS if code is None else code
        self._close_later()

    def _close_later(self) -> None:
        # §7.1.1: once the Close has gone both ways the backend (the server) closes the
        # TCP connection; a side that neither answers nor closes is dropped after this.
        if self._timer is None:
            self._timer = self.loop.call_later(2 * _CLOSE_TIMEOUT, self.abort)

    def _gone(self, side: str) -> None:
        """``side``'s connection closed: end the other one too."""
        stats = self.stats
        if side == "browser":
            if not self.browser_open:
                return
            self.browser_open = False
            if not stats.closed_by:
                stats.closed_by, stats.close_code = "browser", _NO_CLOSE_FRAME
            if self.backend_open and self.backend is not None:
                # Tell the backend as a browser leaving a page does (§7.4.1: 1001).
                self.relaying = False
                self._end_backend("browser went away")
        else:
            if not self.backend_open:
                return
            self.backend_open = False
            if not stats.closed_by:
                stats.closed_by, stats.close_code = "backend", _NO_CLOSE_FRAME
            if self.browser_open:
                # No Close frame of devproxy's own: a backend that vanished must look
                # vanished to the browser too (1006, wasClean false), or dev clients that
                # poll for a restart only after an unclean close never reconnect.
                self.browser.close()
        if self.browser_open or self.backend_open:
            self._close_later()
        else:
            self._end()

    def _end_backend(self, reason: str) -> None:
        """Send the backend a Close 1001 if one may go now, and read on until it answers."""
        assert self.backend is not None
        up, down = self.stats.up, self.stats.down
        if down.close is not None or up.close is not None or not up.between_frames:
            self.backend.close()  # already closing, or a frame was cut off half way
            return
        self.backend.write(close_frame(GOING_AWAY, reason, masked=True))
        self._unpause_backend()

    def _end_browser(self, reason: str) -> None:
        """The same towards the browser."""
        up, down = self.stats.up, self.stats.down
        if up.close is not None or down.close is not None or not down.between_frames:
            self.browser.close()
            return
        self.browser.write(close_frame(GOING_AWAY, reason, masked=False))
        self.browser.resume_reading()

    def shut_down(self) -> None:
        """devproxy is stopping: a Close 1001 to each side, then each closes on its answer."""
        stats = self.stats
        if not stats.closed_by:
            stats.closed_by, stats.close_code = "devproxy", GOING_AWAY
        self.relaying = False
        reason = "devproxy is shutting down"
        if self.browser_open:
            self._end_browser(reason)
        if self.backend_open and self.backend is not None:
            self._end_backend(reason)
        self._close_later()

    def abort(self) -> None:
        """Drop both connections now (a side that stopped reading keeps nothing open)."""
        if self.browser_open:
            self.browser.abort()
        if self.backend_open and self.backend is not None:
            self.backend.abort()
        self.browser_open = self.backend_open = False
        self._end()

    def _end(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._draining is not None:
            self._draining.cancel()
        if not self.ended.done():
            self.ended.set_result(None)


class OpenSockets:
    """The app's relayed sockets: shutdown closes them instead of hanging on them."""

    def __init__(self) -> None:
        self._splices: set[_Splice] = set()

    def __len__(self) -> int:
        return len(self._splices)

    def add(self, splice: _Splice) -> None:
        self._splices.add(splice)

    def discard(self, splice: _Splice) -> None:
        self._splices.discard(splice)

    async def close_all(self, app: web.Application) -> None:
        """``on_shutdown`` hook: 1001 "going away" to both sides of every socket (§7.4.1)."""
        splices, self._splices = self._splices, set()
        for splice in splices:
            splice.shut_down()
        if splices:
            await asyncio.wait([s.ended for s in splices], timeout=2 * _CLOSE_TIMEOUT)


OPEN_SOCKETS = web.AppKey("open_sockets", OpenSockets)


async def proxy_websocket(
    request: web.Request, route: Route, raw_path: str, pool: Pool,
    outages: Outages, *, host_allowed: Callable[[str], bool],
    cors_allows: Callable[[str], bool] | None, cors_off: bool = False,
) -> web.StreamResponse:
    """Carry the browser's WebSocket handshake and then its bytes to ``route.target``.

    Args:
        raw_path: the request's raw path, without the query, that matched ``route``.
        pool: opens the backend connection (outside its cap: a socket keeps its own).
        host_allowed: whether a Host is one devproxy serves its pages for.
        cors_allows: origins CORS mode lets open sockets too; None for none.
        cors_off: the route turned the top-level cors: block off (said in a refusal).

    Returns:
        The browser's finished 101 response; or, without one, devproxy's 403 (foreign
        Origin) or 400 (invalid handshake), or the backend's own refusal.

    Raises:
        UpstreamError: the backend could not be reached, did not answer in time, or
            answered 101 with an invalid handshake.
    """
    target = route.target
    assert target is not None
    origin = request.headers.get("Origin")
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = int(sockname[1]) if sockname else 0
    if not origin_allowed(origin, port=port, host_allowed=host_allowed,
                          cors_allows=cors_allows, own_host=request.headers.get("Host", "")):
        # Where the socket was opened to: an address that reaches devproxy (not always
        # localhost: listen may be 127.0.0.2 or a LAN address).
        why, fixes = refusal_advice(origin or "", f"{request.scheme}://{request.host}",
                                    port, route, cors_off)
        logger.warning("route %s: refused a WebSocket to %s from a page at %s (%s); %s",
                       route.path, request.path, origin, why, fixes)
        record = request.get(RECORD)
        if record is not None:  # the list marks it with the reason
            record.error = f"refused: a page at {origin} may not open WebSockets through " \
                           f"devproxy; {fixes}"
        return problem_response(
            request, 403, "Cross-site WebSocket refused",
            f"A page at {origin} may not open WebSockets through devproxy.", hint=fixes)
    # Not aiohttp's can_prepare: it wants Upgrade to be exactly "websocket", which
    # refused "Upgrade: foo, websocket" by blaming the key or version.
    problem = browser_handshake_problem(request.headers)
    if problem is not None:
        return problem_response(request, 400, "Invalid WebSocket handshake", problem)
    protocols = offered_protocols(request.headers)

    query = request.raw_path[len(raw_path):]  # "" or "?..." exactly as sent
    path = upstream_path(route, raw_path) + query
    headers = upstream_ws_headers(request.headers, route, client_ip=request.remote,
                                  proxy_host=request.host, scheme=request.scheme)
    head_bytes = h1.request_head("GET", path, headers.items())
    if logger.isEnabledFor(logging.DEBUG):  # -v: what the HTTP requests log too
        logger.debug("upstream WebSocket handshake GET %s%s\n%s", target.origin, path,
                     dump_headers(headers.items()))
    record = request.get(RECORD)
    if record is not None:
        scheme = "wss" if target.scheme == "https" else "ws"
        record.upstream_origin = f"{scheme}://{target.authority}"
        record.upstream_head = kept_head(head_bytes)
    conn = await pool.open(target, secure=route.secure, connect_timeout=route.timeout.connect)
    try:
        head = await _handshake(conn, head_bytes, route, port)
        outages.succeeded(target)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("upstream WebSocket answer %s %s%s\n%s", head.status, target.origin,
                         path, dump_headers(head.headers))
        if record is not None:
            record.connect_ms = conn.connect_ms
            record.answered(head.block)
        if head.status != 101:
            return await _refused(request, route, head, *await _some_body(conn))
        problem = handshake_problem(head.headers, request.headers["Sec-WebSocket-Key"],
                                    protocols, offered_extensions(request.headers))
        if problem is not None:
            raise invalid_handshake(target, problem, _handshake_fix(problem))
        advice = unchosen_protocol(head.headers, protocols, route)
        if advice is not None:  # relayed all the same: a client other than a browser may go on
            explain(request, f"{route.path} 101 {request.path}", advice, record)
        return await _splice(request, route, conn, head)
    finally:
        conn.close()


def _handshake_fix(problem: str) -> str:
    """What to do about a 101 that ``handshake_problem`` refused."""
    if problem.startswith("its 101 accepted extension"):
        return "make the backend accept only extensions the page offered, or none"
    if "subprotocol" in problem:
        return "make the backend choose one of the subprotocols offered, or none"
    return ""


async def _handshake(conn: Connection, head_bytes: bytes, route: Route, port: int
                     ) -> h1.Head:
    """Send the handshake; the backend's answer, within ``timeout.response``. ``port`` is
    devproxy's, where the browser opened the socket, for advice."""
    assert route.target is not None
    seconds = route.timeout.response
    try:
        async with asyncio.timeout(seconds):
            conn.begin("GET", seconds, upgrade=True)
            conn.write(head_bytes)
            return await conn.head()
    except TimeoutError:
        raise response_timeout_error(route.target, seconds) from None
    except Broken as exc:
        advice = None if exc.closed or exc.hint != h1.NOT_HTTP else \
            refused_without_http(str(exc), route, port)
        if advice is not None:
            raise invalid_response(route.target, str(exc), advice) from None
        raise broken_error(route.target, exc) from None


async def _some_body(conn: Connection) -> tuple[bytes, str]:
    """Up to 64 KiB of a refusal's body: enough for the page that explains it; and, if
    it ended short of its end, why."""
    pieces: list[bytes] = []
    size, short = 0, ""
    try:
        async with asyncio.timeout(_REFUSAL_READ_TIMEOUT):
            while size < _REFUSAL_BODY_LIMIT and (piece := await conn.read()):
                pieces.append(piece)
                size += len(piece)
    except TimeoutError:
        short = f"the backend sent no more of it for {_REFUSAL_READ_TIMEOUT:g} s"
    except Broken as exc:
        short = f"the backend broke it off ({exc})"
    return b"".join(pieces)[:_REFUSAL_BODY_LIMIT], short


async def _refused(request: web.Request, route: Route, head: h1.Head, body: bytes,
                   short: str = "") -> web.StreamResponse:
    """The backend's own answer (status, headers, up to 64 KiB of body), for a handshake
    it did not accept (§4.1: anything but 101 means no; the body says why). A body that
    ended ``short`` of its end is said to be cut, in the log and the inspector, and goes
    to the browser cut, as any relayed body does (RFC 9112 §8)."""
    preview = body[:_PREVIEW].decode("utf-8", "replace")
    cut = f"; its body was cut short: {short}" if short else ""
    logger.warning("route %s -> %s refused the WebSocket %s: %d %s%s%s", route.path,
                   route.destination, request.path, head.status, printable(head.reason),
                   f": {preview!r}" if preview else " (no body)", cut)
    record = request.get(RECORD)
    if record is not None:
        # Kept as any response body is (within the inspector's cap): it says why.
        record.download(body)
        if short:
            record.error = f"{route.destination} refused the WebSocket{cut}"
    response = _relayed_head(request, route, head, head.status)
    # The body may have been cut at 64 KiB, and goes with a length of its own.
    response.headers.popall("Content-Length", None)
    response.headers.popall("Transfer-Encoding", None)
    if short:
        response.enable_chunked_encoding()  # ended by the close below, unfinished
    else:
        response.content_length = len(body)
    try:
        await response.prepare(request)
    except ValueError as refused:
        await write_raw_head(response, refused)
    await response.write(body)
    response.body_sent = len(body)
    if short:
        # No last chunk: closing is how HTTP/1.1 says the message is incomplete.
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


async def _splice(request: web.Request, route: Route, conn: Connection, head: h1.Head
                  ) -> web.StreamResponse:
    """Relay the 101 to the browser, then its bytes both ways until either side ends."""
    response = _relayed_head(request, route, head, 101)
    # Hop-by-hop, so dropped with the rest; this hop switches protocols too.
    response.headers["Upgrade"] = "websocket"
    response.headers["Connection"] = "Upgrade"
    browser = request.transport
    if browser is None:
        raise ConnectionResetError("the browser went away during the handshake")
    try:
        await response.prepare(request)
    except ValueError as refused:
        await write_raw_head(response, refused)
    writer = response._payload_writer
    assert writer is not None
    # Said as it opens, not only as it ends: an HMR socket stays open for hours, and
    # its access line is written when it closes.
    protocol = response.headers.get("Sec-WebSocket-Protocol")
    logger.info("websocket %s (route %s) open%s", request.path, route.path,
                f", subprotocol {protocol}" if protocol else "")
    # The socket ends with its connection, and aiohttp then cancels this handler.
    request[STREAMING] = response
    record = request.get(RECORD)
    if record is not None:  # marked websocket by dispatch, from the request
        record.status = 101
        record.browser_response = response.headers
        request.app[CAPTURES].done(record)
    extensions = ", ".join(v for k, v in head.headers if k.lower() == "sec-websocket-extensions")
    deflate = deflate_accepted(extensions)
    up = FrameWatch(_inspected(record, True), deflate=deflate)
    down = FrameWatch(_inspected(record, False), deflate=deflate)
    stats = SocketStats(route.path, request.path, up, down)
    splice = _Splice(browser, writer, stats,
                     asyncio.get_running_loop())
    splice.backend = conn.hand_over(splice)
    # From here aiohttp hands the browser's bytes to the splice instead of parsing them,
    # starting with any that came with the handshake: so only once the backend is set.
    request.protocol.set_parser(cast(Any, splice))
    request.protocol.keep_alive(False)
    registry = request.app[OPEN_SOCKETS]
    registry.add(splice)
    try:
        await asyncio.shield(splice.ended)
    finally:
        # Also reached when aiohttp cancels this handler (the server is stopping).
        if not splice.ended.done():
            splice.abort()
        registry.discard(splice)
        # The access line counts what the browser got, as nginx's $body_bytes_sent does.
        response.body_sent = stats.down.bytes
        request[SOCKET_END] = _ended(stats)
        _advise_if_refused(request, route, stats)
        if record is not None:
            record.ws_close = _close_view(stats)
            if stats.closed_by == "backend" and stats.close_code == _NO_CLOSE_FRAME:
                # Marked in the list: the backend dropped it (a crash, a restart), and
                # the page saw an abnormal close, not a clean one.
                record.error = (f"{route.destination} dropped the WebSocket without a "
                                f"Close frame (1006)")
    return response


def _advise_if_refused(request: web.Request, route: Route, stats: SocketStats) -> None:
    """Say why, once per route, when the backend closed a socket it had just accepted
    and blamed the Host or Origin: the dev server's client would retry for ever, each
    retry logging only its close."""
    if stats.closed_by != "backend" or stats.up.messages > 1 \
            or time.monotonic() - stats.opened > REFUSED_WITHIN:
        return
    warned = request.app[WARNED_SOCKETS]
    if route.path in warned:  # each retry of an explained socket stops here
        return
    frame = stats.down.close
    message = (stats.down.first or b"").decode("utf-8", "replace")
    reason = frame[1] if frame is not None else ""
    if not message and not reason:
        return
    where = where_written(request, route)
    advice = refused_after_accepting(message, reason, route, where)
    if advice is not None:
        warned.add(route.path)
        logger.warning("websocket %s (route %s): %s", stats.path, route.path, advice)


def _relayed_head(request: web.Request, route: Route, head: h1.Head, status: int
                  ) -> ProxiedResponse:
    """The browser's response for the backend's ``head``, its headers rewritten as for HTTP."""
    upstream = CIMultiDict(head.headers)
    return relayed_response(request, route, head, status, upstream,
                            upstream.get("Content-Type"), request.app[LIVE].current.table)


def _inspected(record: Record | None, up: bool) -> Callable[[bytes, int, bool], None] | None:
    if record is None:
        return None
    return lambda preview, size, binary: record.message(up, preview, size, binary)


def _close_view(stats: SocketStats) -> dict[str, Any]:
    """How the socket ended, for the inspector: who, the code, the reason given."""
    frame = stats.up.close if stats.closed_by == "browser" else \
        stats.down.close if stats.closed_by == "backend" else None
    return {"by": stats.closed_by or "?", "code": stats.close_code,
            "reason": frame[1] if frame is not None else "",
            "after_ms": round((time.monotonic() - stats.opened) * 1000)}


def _ended(stats: SocketStats) -> str:
    """How the socket ended, as its access line's note (the line has its duration)."""
    code = "no Close frame (1006)" if stats.close_code == _NO_CLOSE_FRAME else stats.close_code
    return (f" (closed by {stats.closed_by or '?'} with {code}: up {stats.up.messages} msgs "
            f"{stats.up.bytes} B, down {stats.down.messages} msgs {stats.down.bytes} B)")
