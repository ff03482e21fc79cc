"""WebSocket pass-through: one browser socket to one backend socket, message for message.

Owns the aiohttp side of a WebSocket route: refuse hijacking origins, connect to the
backend first (so a refusal or an outage is answered as plain HTTP with the backend's
own status and body), then accept the browser with the subprotocol the backend chose
and relay every frame kind both ways, closes included with their code and reason.
Each hop negotiates its own permessage-deflate, so compressed and plain peers mix.
Decisions live in ``wsrules``; nothing here decides routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

from .config import Route
from .cors import header_list
from .errorpages import problem_response
from .paths import upstream_path
from .upstream import (
    Outages,
    Refusal,
    capturing_refusal,
    map_exceptions,
    response_timeout_error,
)
from .wsrules import origin_allowed, relayable_close_code, upstream_ws_headers

logger = logging.getLogger(__name__)

# Messages are relayed whole; the browser and backend already bound their own sizes.
_MAX_MESSAGE = 0
# RFC 6455 §7.1.1: after sending Close, wait this long for the peer's Close.
_CLOSE_TIMEOUT = 1.0


class OpenSockets:
    """The app's relayed sockets, so shutdown can close them instead of hanging on them."""

    def __init__(self) -> None:
        self._pairs: set[tuple[web.WebSocketResponse, aiohttp.ClientWebSocketResponse]] = set()

    def __len__(self) -> int:
        return len(self._pairs)

    def add(self, pair: tuple[web.WebSocketResponse, aiohttp.ClientWebSocketResponse]) -> None:
        self._pairs.add(pair)

    def discard(self, pair: tuple[web.WebSocketResponse, aiohttp.ClientWebSocketResponse]
                ) -> None:
        self._pairs.discard(pair)

    async def close_all(self, app: web.Application) -> None:
        """``on_shutdown`` hook: 1001 "going away" to both sides of every socket (§7.4.1)."""
        pairs, self._pairs = self._pairs, set()
        await asyncio.gather(
            *(side.close(code=1001, message=b"devproxy is shutting down")
              for pair in pairs for side in pair),
            return_exceptions=True,
        )


OPEN_SOCKETS = web.AppKey("open_sockets", OpenSockets)


@dataclass(slots=True)
class SocketStats:
    """Per-socket figures, counted cheaply as messages pass (for logs and the inspector)."""

    opened: float = field(default_factory=time.monotonic)
    messages_up: int = 0
    bytes_up: int = 0
    messages_down: int = 0
    bytes_down: int = 0
    closed_by: str = ""
    close_code: int | None = None


async def proxy_websocket(
    request: web.Request, route: Route, raw_path: str, session: aiohttp.ClientSession,
    outages: Outages, *, listen_host: str, cors_allows: Callable[[str], bool] | None,
) -> web.StreamResponse:
    """Carry the browser's WebSocket to ``route.target``.

    Raises:
        UpstreamError: the backend could not be reached or did not answer in time.
    """
    target = route.target
    assert target is not None
    origin = request.headers.get("Origin")
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = int(sockname[1]) if sockname else 0
    if not origin_allowed(origin, port=port, listen_host=listen_host, cors_allows=cors_allows):
        logger.warning(
            "refused a WebSocket to %s from a page at %s: only pages served by devproxy "
            "(http://localhost:%d) or allowed CORS origins may open sockets through it; open "
            "the page through devproxy, or add %s to cors.origins", request.path, origin, port,
            origin)
        return problem_response(request, 403, "Cross-site WebSocket refused",
                                f"A page at {origin} may not open WebSockets through devproxy.",
                                hint="open the page through devproxy, or list its origin in "
                                     "cors.origins")

    scheme = "wss" if target.scheme == "https" else "ws"
    query = request.raw_path[len(raw_path):]
    url = URL(f"{scheme}://{target.authority}{upstream_path(route, raw_path)}{query}",
              encoded=True)
    headers = upstream_ws_headers(request.headers, route, client_ip=request.remote,
                                  proxy_host=request.host, scheme=request.scheme)
    protocols = header_list(request.headers.get("Sec-WebSocket-Protocol"))
    refusal = Refusal()
    token = capturing_refusal.set(refusal)
    try:
        upstream = await _connect(session, url, headers, protocols, route)
    except aiohttp.WSServerHandshakeError as exc:
        return _refused(request, route, refusal, exc)
    finally:
        capturing_refusal.reset(token)
    outages.succeeded(target, route.path)
    try:
        return await _relay(request, route, upstream)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(upstream.close(code=1001))


async def _connect(
    session: aiohttp.ClientSession, url: URL, headers: CIMultiDict[str], protocols: list[str],
    route: Route,
) -> aiohttp.ClientWebSocketResponse:
    assert route.target is not None
    connect = route.timeout.connect
    try:
        async with asyncio.timeout(connect + route.timeout.response):
            with map_exceptions(route.target, connect):
                return await session.ws_connect(
                    url, headers=headers,
                    protocols=protocols, compress=15, autoclose=False, autoping=False,
                    max_msg_size=_MAX_MESSAGE, ssl=route.secure,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=_CLOSE_TIMEOUT),
                )
    except TimeoutError:
        raise response_timeout_error(route.target, route.timeout.response) from None


def _refused(request: web.Request, route: Route, refusal: Refusal,
             exc: aiohttp.WSServerHandshakeError) -> web.StreamResponse:
    status = refusal.status or exc.status
    if status == 101:
        # A 101 that failed aiohttp's checks (bad accept key, protocol not offered).
        return problem_response(request, 502, "Invalid WebSocket handshake",
                                f"{route.destination} answered 101 but {exc.message}.",
                                facts={"Route": route.path, "Target": route.destination})
    preview = refusal.body[:200].decode("utf-8", "replace").strip()
    logger.warning("route %s -> %s refused the WebSocket %s: %d %s%s", route.path,
                   route.destination, request.path, status, refusal.reason,
                   f": {preview}" if preview else "")
    headers = {k: v for k, v in refusal.headers.items()
               if k.lower() in ("content-type", "www-authenticate", "location", "retry-after")}
    return web.Response(status=status, body=refusal.body, headers=headers)


async def _relay(
    request: web.Request, route: Route, upstream: aiohttp.ClientWebSocketResponse
) -> web.StreamResponse:
    browser = web.WebSocketResponse(
        protocols=(upstream.protocol,) if upstream.protocol else (),
        compress=True, autoclose=False, autoping=False, max_msg_size=_MAX_MESSAGE,
        timeout=_CLOSE_TIMEOUT,
    )
    await browser.prepare(request)
    stats = SocketStats()
    registry = request.app[OPEN_SOCKETS]
    pair = (browser, upstream)
    registry.add(pair)
    down = asyncio.create_task(_pump(upstream, browser, stats, "backend"))
    up = asyncio.create_task(_pump(browser, upstream, stats, "browser"))
    try:
        await asyncio.wait((down, up), return_when=asyncio.FIRST_COMPLETED)
    finally:
        registry.discard(pair)
        for task in (down, up):
            task.cancel()
        await asyncio.gather(down, up, return_exceptions=True)
    if not browser.closed:
        await browser.close(code=1011, message=b"devproxy: backend connection lost")
    logger.info(
        "websocket %s -> %s closed by %s (%s) after %.1fs: %d msgs/%dB up, %d msgs/%dB down",
        request.path, route.path, stats.closed_by or "?", stats.close_code,
        time.monotonic() - stats.opened, stats.messages_up, stats.bytes_up,
        stats.messages_down, stats.bytes_down)
    return browser


async def _pump(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    stats: SocketStats, name: str,
) -> None:
    """Copy frames from ``source`` to ``sink`` until ``source`` closes; relay that close."""
    upward = name == "browser"
    while True:
        msg = await source.receive()
        kind = msg.type
        if kind is WSMsgType.TEXT:
            await sink.send_str(msg.data)
            size = len(msg.data)
        elif kind is WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
            size = len(msg.data)
        elif kind is WSMsgType.PING:
            await sink.ping(msg.data)
            continue
        elif kind is WSMsgType.PONG:
            await sink.pong(msg.data)
            continue
        else:
            break
        if upward:
            stats.messages_up += 1
            stats.bytes_up += size
        else:
            stats.messages_down += 1
            stats.bytes_down += size
    stats.closed_by = stats.closed_by or name
    if kind is WSMsgType.CLOSE:
        # Relay the peer's code and reason first, then complete its closing handshake.
        code = relayable_close_code(msg.data)
        reason = (msg.extra or "").encode()
        stats.close_code = code
        await sink.close(code=code, message=reason)
        await source.close(code=code, message=reason)
    else:
        # Gone without a Close frame (connection lost): RFC 6455 §7.1.7 style failure.
        stats.close_code = 1006
        await sink.close(code=1001 if upward else 1011,
                         message=b"devproxy: " + name.encode() + b" connection lost")
