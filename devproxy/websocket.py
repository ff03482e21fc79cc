"""WebSocket pass-through: one browser socket to one backend socket, message for message.

Owns the aiohttp side of a WebSocket route: refuse hijacking origins, connect to the
backend first (so a refusal or an outage is answered as plain HTTP, with the backend's
own status and body), then accept the browser with the subprotocol the backend chose
and relay every frame kind both ways, closes with their code and reason. Each hop
negotiates its own permessage-deflate (RFC 7692), so compressed and plain peers mix;
devproxy offers it upstream only when the browser offered it.
The rules (origins, headers, close codes) live in ``wsrules``; nothing here decides
routes, writes error page markup or turns aiohttp errors into ``UpstreamError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Literal

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

from .capture import Record
from .config import Route
from .errorpages import problem_response
from .forward import ProxiedResponse
from .headers import response_headers
from .paths import upstream_path
from .state import CAPTURES, RECORD
from .upstream import (
    HandshakeRefused,
    Outages,
    capture_refusal,
    map_exceptions,
    response_timeout_error,
)
from .wsrules import (
    GOING_AWAY,
    close_code_to_send,
    offered_protocols,
    offers_deflate,
    origin_allowed,
    upstream_ws_headers,
)

logger = logging.getLogger(__name__)

# Messages are relayed whole, at any size: the browser and the backend bound their own.
_MAX_MESSAGE = 0
# RFC 6455 §7.1.1: after sending Close, how long to wait for the peer's Close.
_CLOSE_TIMEOUT = 1.0
# §7.1.5: the code reported for a connection that ended without a Close frame.
_NO_CLOSE_FRAME = 1006
_PREVIEW = 200

# decode_text=False: text arrives as its UTF-8 bytes and leaves as such, never re-encoded.
BrowserSocket = web.WebSocketResponse[Literal[False]]
BackendSocket = aiohttp.ClientWebSocketResponse[Literal[False]]
Socket = BrowserSocket | BackendSocket


class SocketStats:
    """Figures for one relayed socket, counted as messages pass (for the log and inspector)."""

    __slots__ = ("bytes_down", "bytes_up", "close_code", "closed_by", "messages_down",
                 "messages_up", "opened", "path", "record", "route")

    def __init__(self, route: str, path: str, record: Record | None = None) -> None:
        self.record = record  # the inspector's, when it is on
        self.route = route
        self.path = path
        self.opened = time.monotonic()
        self.messages_up = self.bytes_up = 0  # browser -> backend
        self.messages_down = self.bytes_down = 0  # backend -> browser
        self.closed_by = ""  # "browser", "backend" or "devproxy" (shutdown)
        self.close_code: int | None = None  # as received; 1006: gone without a Close frame


class _Relay:
    """One browser socket, its backend socket, and the first ending, which wins."""

    __slots__ = ("browser", "stats", "transport", "upstream")

    def __init__(self, browser: BrowserSocket, upstream: BackendSocket,
                 transport: asyncio.Transport | None, stats: SocketStats) -> None:
        self.browser = browser
        self.upstream = upstream
        self.transport = transport
        self.stats = stats

    async def end(self, side: str, code: int | None, reason: str) -> None:
        """``side`` sent Close ``code`` (None: it vanished); pass that on, close both."""
        stats = self.stats
        if stats.closed_by:
            return  # already ending: this is the echo of that
        stats.closed_by = side
        stats.close_code = _NO_CLOSE_FRAME if code is None else code
        here: Socket = self.browser if side == "browser" else self.upstream
        there: Socket = self.upstream if side == "browser" else self.browser
        if code is not None:
            # Relay the Close with its code and reason, and answer it (§5.5.1) at once;
            # each close() waits at most _CLOSE_TIMEOUT for its peer's reply.
            send, message = close_code_to_send(code), reason.encode()
            await asyncio.gather(there.close(code=send, message=message),
                                 here.close(code=send, message=message))
        elif there is self.browser:
            # The backend vanished: the browser must see that too (code 1006, wasClean
            # false), not a tidy Close, or dev clients that poll for a restart only after
            # an unclean close (older Vite HMR clients, for one) never reconnect.
            if self.transport is not None:
                self.transport.close()
        else:
            # The browser vanished; tell the backend as a browser leaving a page does.
            await self.upstream.close(code=GOING_AWAY, message=b"browser went away")


class OpenSockets:
    """The app's relayed sockets: shutdown closes them instead of hanging on them."""

    def __init__(self) -> None:
        self._relays: set[_Relay] = set()

    def __len__(self) -> int:
        return len(self._relays)

    def __iter__(self) -> Iterator[SocketStats]:
        return iter([relay.stats for relay in self._relays])

    def add(self, relay: _Relay) -> None:
        self._relays.add(relay)

    def discard(self, relay: _Relay) -> None:
        self._relays.discard(relay)

    async def close_all(self, app: web.Application) -> None:
        """``on_shutdown`` hook: 1001 "going away" to both sides of every socket (§7.4.1)."""
        relays, self._relays = self._relays, set()
        for relay in relays:
            relay.stats.closed_by = relay.stats.closed_by or "devproxy"
            relay.stats.close_code = relay.stats.close_code or GOING_AWAY
        await asyncio.gather(
            *(side.close(code=GOING_AWAY, message=b"devproxy is shutting down")
              for relay in relays for side in (relay.browser, relay.upstream)),
            return_exceptions=True,
        )


OPEN_SOCKETS = web.AppKey("open_sockets", OpenSockets)


async def proxy_websocket(
    request: web.Request, route: Route, raw_path: str, session: aiohttp.ClientSession,
    outages: Outages, *, listen_host: str, cors_allows: Callable[[str], bool] | None,
) -> web.StreamResponse:
    """Carry the browser's WebSocket handshake and then its messages to ``route.target``.

    Args:
        raw_path: the request's raw path, without the query, that matched ``route``.
        listen_host: the configured listen host (a name devproxy's own pages may use).
        cors_allows: origins CORS mode lets open sockets too; None for none.

    Returns:
        The browser's finished WebSocket; or, without one, devproxy's 403 (foreign
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
    if not origin_allowed(origin, port=port, listen_host=listen_host, cors_allows=cors_allows):
        logger.warning(
            "route %s: refused a WebSocket to %s from a page at %s (another site's page may "
            "not use your local servers); open the page through devproxy at "
            "http://localhost:%d, or list its origin in the route's cors.origins",
            route.path, request.path, origin, port)
        return problem_response(
            request, 403, "Cross-site WebSocket refused",
            f"A page at {origin} may not open WebSockets through devproxy.",
            hint=f"open the page through devproxy at http://localhost:{port}")
    protocols = offered_protocols(request.headers)
    if not web.WebSocketResponse(protocols=protocols).can_prepare(request):
        return problem_response(request, 400, "Invalid WebSocket handshake",
                                "Sec-WebSocket-Key or Sec-WebSocket-Version is missing or "
                                "invalid (RFC 6455 §4.1).")

    scheme = "wss" if target.scheme == "https" else "ws"
    query = request.raw_path[len(raw_path):]  # "" or "?..." exactly as sent
    url = URL(f"{scheme}://{target.authority}{upstream_path(route, raw_path)}{query}",
              encoded=True)
    headers = upstream_ws_headers(request.headers, route, client_ip=request.remote,
                                  proxy_host=request.host, scheme=request.scheme)
    try:
        with capture_refusal():
            record = request.get(RECORD)
            if record is not None:
                record.upstream_url, record.upstream_request = str(url), tuple(headers.items())
            upstream = await _connect(session, url, headers, protocols, route,
                                      compress=offers_deflate(request.headers))
    except HandshakeRefused as refusal:
        outages.succeeded(target, route.path)
        return await _refused(request, route, refusal)
    outages.succeeded(target, route.path)
    try:
        return await _relay(request, route, upstream)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(upstream.close(code=GOING_AWAY))


async def _connect(
    session: aiohttp.ClientSession, url: URL, headers: CIMultiDict[str], protocols: list[str],
    route: Route, *, compress: bool,
) -> BackendSocket:
    assert route.target is not None
    connect = route.timeout.connect
    try:
        async with asyncio.timeout(connect + route.timeout.response):
            with map_exceptions(route.target, connect):
                return await session.ws_connect(
                    # A client that asked for no compression gets none on any hop: the
                    # backend sees the offer it would have had directly, and no CPU
                    # goes into deflating for a peer that never wanted it.
                    url, headers=headers, protocols=protocols, compress=15 if compress else 0,
                    autoclose=False, autoping=False, max_msg_size=_MAX_MESSAGE,
                    decode_text=False, ssl=route.secure,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=_CLOSE_TIMEOUT),
                )
    except TimeoutError:
        raise response_timeout_error(route.target, route.timeout.response) from None


async def _refused(request: web.Request, route: Route, refusal: HandshakeRefused
                   ) -> web.StreamResponse:
    """The backend's own answer, for a handshake it did not accept (§4.1)."""
    preview = refusal.body[:_PREVIEW].decode("utf-8", "replace")
    logger.warning("route %s -> %s refused the WebSocket %s: %d %s%s", route.path,
                   route.destination, request.path, refusal.status, refusal.reason,
                   f": {preview!r}" if preview else " (no body)")
    headers = response_headers(refusal.headers, route,
                               proxy_origin=f"{request.scheme}://{request.host}")
    headers.popall("Content-Length", None)  # the body may have been cut at 64 KiB
    response = ProxiedResponse(status=refusal.status, reason=refusal.reason or None,
                               headers=headers)
    response.upstream_lacks = tuple(
        name for name in ("Content-Type", "Server") if name not in refusal.headers)
    response.content_length = len(refusal.body)
    await response.prepare(request)
    await response.write(refusal.body)
    await response.write_eof()
    return response


async def _relay(request: web.Request, route: Route,
                 upstream: BackendSocket) -> web.StreamResponse:
    browser: BrowserSocket = web.WebSocketResponse(
        protocols=(upstream.protocol,) if upstream.protocol else (),
        compress=True, autoclose=False, autoping=False, max_msg_size=_MAX_MESSAGE,
        timeout=_CLOSE_TIMEOUT, decode_text=False,
    )
    await browser.prepare(request)
    record = request.get(RECORD)
    if record is not None:
        record.kind = "websocket"
        record.status = 101
        record.browser_response = tuple(browser.headers.items())
        request.app[CAPTURES].done(record)
    relay = _Relay(browser, upstream, request.transport,
                   SocketStats(route.path, request.path, record))
    registry = request.app[OPEN_SOCKETS]
    registry.add(relay)
    pumps = (asyncio.create_task(_pump(relay, upward=True)),
             asyncio.create_task(_pump(relay, upward=False)))
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Also reached when aiohttp cancels this handler because the browser connection
        # closed, which is how most relayed closes end. Either way one side has ended
        # and the pumps are closing both; each close waits for its peer at most
        # _CLOSE_TIMEOUT, so this bound only cuts off a peer that stopped reading.
        _, stuck = await asyncio.wait(pumps, timeout=2 * _CLOSE_TIMEOUT)
        for pump in stuck:
            pump.cancel()
        if stuck and relay.transport is not None:
            relay.transport.abort()  # a browser that stopped reading would keep it open
        for result in await asyncio.gather(*pumps, return_exceptions=True):
            if isinstance(result, Exception):
                logger.error("websocket %s: relay failed", request.path, exc_info=result)
        registry.discard(relay)
        _log_closed(relay.stats)
    return browser


async def _pump(relay: _Relay, *, upward: bool) -> None:
    """Copy messages one way until the source ends; then end the relay accordingly."""
    source: Socket = relay.browser if upward else relay.upstream
    sink: Socket = relay.upstream if upward else relay.browser
    stats = relay.stats
    try:
        while True:
            msg = await source.receive()
            kind = msg.type
            if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                data: bytes = msg.data
                # A fragmented message arrives here whole and leaves as one frame.
                await sink.send_frame(data, kind)
                if upward:
                    stats.messages_up += 1
                    stats.bytes_up += len(data)
                else:
                    stats.messages_down += 1
                    stats.bytes_down += len(data)
                if stats.record is not None:
                    stats.record.message(upward, data)
            elif kind is WSMsgType.PING:
                await sink.ping(msg.data)
            elif kind is WSMsgType.PONG:
                await sink.pong(msg.data)
            else:
                break
    except ConnectionError:
        # The sink went away while being written to.
        await relay.end("backend" if upward else "browser", None, "")
        return
    side = "browser" if upward else "backend"
    if kind is WSMsgType.CLOSE:
        await relay.end(side, msg.data, msg.extra or "")
    elif kind is not WSMsgType.CLOSING:  # CLOSING: the relay is already closing this side
        await relay.end(side, None, "")  # CLOSED, ERROR: gone without a Close frame


def _log_closed(stats: SocketStats) -> None:
    logger.info(
        "websocket %s (route %s) closed by %s with %s after %.1fs: up %d msgs %d B, "
        "down %d msgs %d B", stats.path, stats.route, stats.closed_by or "?",
        "no Close frame (1006)" if stats.close_code == _NO_CLOSE_FRAME else stats.close_code,
        time.monotonic() - stats.opened, stats.messages_up, stats.bytes_up,
        stats.messages_down, stats.bytes_down)
