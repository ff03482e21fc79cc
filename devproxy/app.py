"""Composition root: the aiohttp application and the lifetime of a running proxy.

Owns ``make_app`` (the app's state and lifetimes: the upstream pool and client session
opened and closed in ``cleanup_ctx``), the server that calls ``dispatch.handle`` for
every request without aiohttp's router, and ``ProxyServer`` (bind, serve, move to a
new address on reload, run the config watcher for as long as it serves, and an ordered
shutdown: stop watching, stop accepting, let in-flight requests finish within a bound,
then cancel).
It never prints or exits: ``cli`` does that.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import StreamReader, http_parser, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.helpers import reify
from aiohttp.http import HttpVersion, HttpVersion11
from aiohttp.http_parser import RawRequestMessage
from aiohttp.web_protocol import ERROR, RequestHandler
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .capture import Captures
from .config import Config, Limits, Listen
from .corsmode import (
    NOTED_CREDENTIALS,
    REFUSED,
    WARNED_COOKIES,
    RefusedOrigins,
    add_cors_headers,
)
from .deadline import DeadlineSite
from .dispatch import ACCESS_LOG, AccessLog, handle
from .errorpages import problem_response
from .errors import BindError
from .forward import restore_headers
from .inspector import REPLAYS, Replays
from .pool import Pool
from .refusals import refusal
from .reload import Reloader
from .screen import origin_form
from .state import (
    CAPTURES,
    CLIENT,
    EVENT_STREAMS,
    EXPLAINED,
    LIVE,
    OUTAGES,
    POOL,
    WARNED_HOSTS,
    WARNED_SOCKETS,
    EventStreams,
    Live,
    SaidOnce,
)
from .upstream import Outages, make_session
from .websocket import OPEN_SOCKETS, OpenSockets

logger = logging.getLogger(__name__)

DEFAULT_SHUTDOWN_TIMEOUT = 5.0
WATCHER_STOP_TIMEOUT = 2.0  # a reload under way may finish; then it is cancelled
# How far past the limits the parser reads a request, so that screening can refuse it
# with its Origin (and CORS headers): a URL up to 4 times limits.header_size, twice
# limits.headers fields. Bounded, so an over-limit request costs a few times an allowed
# one, not what any page could send (Chromium sends URLs up to 2 MiB).
_URL_CAP_TIMES = 4
_FIELDS_CAP_TIMES = 2
# How soon the answer to a request must begin once its client half-closed (sent its
# FIN), or the client is taken to have gone: a browser that leaves sends the same FIN.
HALF_CLOSE_GRACE = 1.0
# The pure-Python parser (AIOHTTP_NO_EXTENSIONS) holds the first line of every read to
# the line cap, header fields included (aiohttp 3.14): there the cap is the limit.
_C_PARSER = http_parser.HttpRequestParser is not http_parser.HttpRequestParserPy


def make_app(live: Live, access_log: AccessLog | None = None) -> web.Application:
    """The aiohttp app holding what serving ``live.current`` routes needs.

    It has no routes: ``ProxyServer`` hands every request to ``dispatch.handle``
    (``_route_everything``). ``access_log``: where each request's line goes (default:
    the ``devproxy.access`` logger).
    """
    app = web.Application()
    app[LIVE] = live
    app[ACCESS_LOG] = access_log or AccessLog()
    app[OUTAGES] = Outages()
    app[REFUSED] = RefusedOrigins()
    app[WARNED_COOKIES] = RefusedOrigins()
    app[NOTED_CREDENTIALS] = RefusedOrigins()
    app[WARNED_HOSTS] = SaidOnce()
    app[WARNED_SOCKETS] = set()
    app[EXPLAINED] = SaidOnce()
    settings = live.current.config.inspector  # fixed at start-up, like the limits
    if settings.enabled:
        app[CAPTURES] = Captures(settings.history, settings.body_limit)
        app[REPLAYS] = replays = Replays()
        app.on_shutdown.append(replays.close)
    # Event streams end first: closing sockets waits for their Close answers.
    app[EVENT_STREAMS] = streams = EventStreams()
    app.on_shutdown.append(streams.end_all)
    app[OPEN_SOCKETS] = sockets = OpenSockets()
    app.on_shutdown.append(sockets.close_all)
    app.cleanup_ctx.append(_client_session)
    app.on_response_prepare.append(restore_headers)
    app.on_response_prepare.append(add_cors_headers)
    return app


class _Request(web.Request):
    """A request that reaches ``dispatch.handle`` without aiohttp's router.

    devproxy matches paths against its own route table (a reload replaces it), so
    aiohttp's URL dispatcher, match info and middleware chain were pure cost: a trivial
    aiohttp handler takes 418k instructions per request through an Application and
    181k through the bare server (callgrind). It also means CONNECT's authority form
    and ``OPTIONS *``, which the router answered with its own 404, reach devproxy's
    screening like any request. ``app`` and the response-prepare signal work as on a
    routed request.
    """

    ATTRS = web.Request.ATTRS | frozenset(["_devproxy_app", "sent_version"])
    # The version a request line named when it was neither 1.0 nor 1.1 (0.9, 2.0): the
    # request is read as 1.1, so that its refusal is answered in 1.1 (RFC 9110 §6.2),
    # not in a status line echoing 2.0 over HTTP/1 framing; screening refuses it.
    sent_version: HttpVersion | None = None

    def __init__(self, *args: Any, app: web.Application | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._devproxy_app = app  # None only until ``clone`` sets it

    def clone(self, **changes: Any) -> web.Request:
        # aiohttp builds the copy with this class but without the app: hand it over.
        copy = super().clone(**changes)
        assert isinstance(copy, _Request)
        copy._devproxy_app = self._devproxy_app
        copy.sent_version = self.sent_version
        return copy

    @reify
    def keep_alive(self) -> bool:
        """Whether the connection takes another request after this one: not after a
        chunked body. aiohttp's parser (3.14, C) carries the last trailer field of a
        chunked body into the header section of the next request on the connection,
        where RFC 9112 §7.1.2 says trailers are never merged into a later message. So
        every answer to such a request, whoever makes it, says Connection: close and
        the connection ends. Browsers never send a chunked body over HTTP/1.1."""
        message = self._message
        return not (message.should_close or message.chunked)

    @property
    def app(self) -> web.Application:
        assert self._devproxy_app is not None
        return self._devproxy_app

    async def _prepare_hook(self, response: web.StreamResponse) -> None:
        await self.app.on_response_prepare.send(self, response)


class _Server(web.Server):
    """aiohttp's server, making devproxy's connection protocol for each connection.
    ``_route_everything`` makes the runner's server one of these."""

    limits: Limits  # as the parser was built with them (start-up's)

    def __call__(self) -> RequestHandler:
        handler = _Handler(self, loop=self._loop, **self._kwargs)
        handler.limits = self.limits
        return handler


class _Handler(RequestHandler):
    """aiohttp's connection protocol, but what its parser refuses, and whatever escapes
    the handler, gets devproxy's own answer (``refusals``): a 431 that names the limit
    to raise, not an HTTP/1.0 400 with a Python repr of the bytes. And a client that
    half-closes after its request still gets the answer (``eof_received``)."""

    limits: Limits

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None
                     ) -> web.StreamResponse:
        answer = refusal(exc, status, self.limits.header_size, self.limits.headers)
        if answer.bug:
            logger.error("%s", answer.log, exc_info=exc)
        else:
            logger.log(logging.DEBUG if answer.quiet else logging.WARNING, "%s", answer.log)
        if request.writer.output_size > 0:  # as aiohttp: too late for another answer
            raise ConnectionError("the response had started; cannot send an error instead")
        response = problem_response(request, answer.status, answer.title, answer.detail,
                                    hint=answer.hint)
        response.force_close()
        return response

    def eof_received(self) -> bool:  # type: ignore[override]  # asyncio's: bool | None
        """The client closed its sending side (aiohttp then closed the connection, and
        cancelled the request under way). A client that half-closes after its request
        (``printf ... | nc -N``, socat) still reads the answer, as nginx and Node give
        it; a browser that leaves sends the same FIN. So a complete request not yet
        answered is answered if its answer begins within ``HALF_CLOSE_GRACE`` (else it
        is cancelled, the browser gone: ``_silent``), and the connection closes after
        it; anything else closes now."""
        if not self._unanswered():
            return False
        messages = self._messages
        if not messages:
            self.close()  # after the answer under way: no request can follow
            request = self._current_request
            if request is not None:  # its answer not begun: it says it closes (§9.6)
                request._message = request._message._replace(should_close=True)
        else:
            last, payload = messages[-1]
            if isinstance(last, RawRequestMessage):  # else a refusal, which closes anyway
                messages[-1] = (last._replace(should_close=True), payload)  # then closed
        self._loop.call_later(HALF_CLOSE_GRACE, self._silent)
        return True  # the transport stays open for writing

    def _unanswered(self) -> bool:
        """Whether a whole request is queued or being handled, its answer not begun."""
        parser = self._parser
        if parser is None or self._payload_parser is not None or self._upgraded:
            return False  # lost already, or a WebSocket's end
        try:
            if parser.feed_eof() is not None:  # what a FIN means: a head cut off
                return False
        except Exception:  # a body cut off (ContentLengthError, ...)
            return False
        request = self._current_request
        if request is not None:
            return request.writer.output_size == 0  # else the browser left mid-answer
        # Queued; or taken from the queue, its handler not yet begun.
        return bool(self._messages) or (self._waiter is None and self._request_count > 0)

    def _silent(self) -> None:
        request = self._current_request
        if self.transport is not None and (request is None or request.writer.output_size == 0):
            self.force_close()  # the browser went away: the handler is cancelled (499)


def _route_everything(server: web.Server, app: web.Application,
                      loop: asyncio.AbstractEventLoop, limits: Limits) -> None:
    """Make ``server`` (the app's, after runner set-up) call ``dispatch.handle`` with a
    ``_Request`` for every request, and answer what it cannot parse itself (``_Handler``);
    connections made later pick this up."""

    def make_request(message: RawRequestMessage, payload: StreamReader,
                     protocol: RequestHandler, writer: AbstractStreamWriter,
                     task: asyncio.Task[None]) -> web.BaseRequest:
        if message is ERROR:  # aiohttp's stand-in for a request its parser refused
            # Answered in HTTP/1.1, as RFC 9110 §6.2 asks of a 1.1 server; aiohttp's
            # stand-in says 1.0, so its answers did.
            message = message._replace(version=HttpVersion11)
        elif message.version.major != 1:
            request = _Request(message._replace(version=HttpVersion11, should_close=True),
                               payload, protocol, writer, task, loop, app=app)
            request.sent_version = message.version
            return request
        elif message.path[:1] != "/" and message.method != "CONNECT":
            message = _as_origin_form(message)
        return _Request(message, payload, protocol, writer, task, loop, app=app)

    # The runner builds the server; only its class decides the protocol it makes.
    server.__class__ = _Server
    assert isinstance(server, _Server)
    server.limits = limits
    server.request_factory = make_request
    server.request_handler = handle  # type: ignore[assignment]  # always a _Request


def _as_origin_form(message: RawRequestMessage) -> RawRequestMessage:
    """An absolute-form request as the origin-form one it stands for, its Host the URL's
    authority (``screen.origin_form``); anything else (``*``, another scheme) as it came,
    for screening to refuse."""
    parts = origin_form(message.method, message.path)
    if parts is None:
        return message
    authority, target = parts
    headers = CIMultiDict(message.headers)
    headers["Host"] = authority  # the first Host's place (else the end); any others go
    # The fields as parsed alike: the inspector shows these, in the order they came.
    host = (b"Host", authority.encode("utf-8", "surrogateescape"))
    raw, placed = [], False
    for name, value in message.raw_headers:
        if name.lower() != b"host":
            raw.append((name, value))
        elif not placed:
            raw.append((name, host[1]))
            placed = True
    if not placed:
        raw.append(host)
    path, _, fragment = target.partition("#")
    path, _, query = path.partition("?")
    # As aiohttp's parser builds an origin-form request's URL.
    url = URL.build(path=path, query_string=query, fragment=fragment, encoded=True)
    return message._replace(path=target, headers=CIMultiDictProxy(headers),
                            raw_headers=tuple(raw), url=url)


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    limits = app[LIVE].current.config.limits
    pool = app[POOL] = Pool(limits.upstream_connections)
    # WebSockets go through aiohttp's client, outside the pool: an HMR socket holds its
    # connection for hours and must neither count against nor wait for
    # limits.upstream_connections.
    try:
        async with make_session() as client:
            app[CLIENT] = client
            yield
    finally:
        await pool.close()


class ProxyServer:
    """A running devproxy: one app, one runner, one listening site at a time.

    Args:
        live: the routes to serve; the reloader swaps its snapshot.
        shutdown_timeout: how long ``stop`` lets in-flight requests run.
        watch: the config file to reload on change, or None (``--no-reload``, or
            routes from flags alone).
        overrides: applied to each reloaded config (the CLI flags, which win).
        written: ``watch``'s config as start-up read it, before ``overrides``: what a
            first edit is compared with, to name what the flags keep from applying.
        access_log: where each request's line goes (default: the ``devproxy.access``
            logger).
    """

    def __init__(self, live: Live, *, shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
                 watch: Path | None = None,
                 overrides: Callable[[Config], Config] | None = None,
                 access_log: AccessLog | None = None, written: Config | None = None) -> None:
        self.live = live
        self.app = make_app(live, access_log)
        # Limits are the start-up config's: aiohttp fixes them when the runner is made.
        self.limits = limits = live.current.config.limits
        self._runner = web.AppRunner(
            self.app,
            # A browser that goes away cancels its upstream request (frees the
            # backend connection) instead of letting it run to completion.
            handler_cancellation=True,
            access_log=None,
            # aiohttp waits this long for a request, then cancels it and waits as long
            # again; its cancel reaches only a handler reading the request body, so a
            # relayed stream ran on for both. Half each: it gets the whole timeout.
            shutdown_timeout=shutdown_timeout / 2,
            # A request body is relayed as sent: inflating a Content-Encoding: gzip upload
            # here would hand the backend bytes that contradict its own headers.
            auto_decompress=False,
            # Dev machines pile up localhost cookies from many apps; aiohttp's 8 KiB
            # field limit would answer 400 where browsers and Node accept far more.
            # The URL's length and the number of fields are held to the limits after
            # parsing (dispatch._screen), where the answer has the request's Origin
            # and so, in CORS mode, its CORS headers; the parser only caps them.
            max_line_size=limits.header_size * (_URL_CAP_TIMES if _C_PARSER else 1),
            max_field_size=limits.header_size,
            max_headers=limits.headers * _FIELDS_CAP_TIMES,
            keepalive_timeout=limits.idle_timeout,
        )
        self._site: web.TCPSite | None = None
        self._listen: Listen | None = None
        self.reloader = None if watch is None else Reloader(
            watch, live, rebind=self.rebind, finish=overrides, bound=lambda: self.port,
            written=written)
        self._stop_watching = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Set up the app, bind ``live.current.config.listen``, start watching the file.

        Returns once edits to the file are being watched.

        Raises:
            BindError: the address is in use or cannot be bound; nothing is left running.
        """
        await self._runner.setup()
        assert self._runner.server is not None
        _route_everything(self._runner.server, self.app, asyncio.get_running_loop(),
                          self.limits)
        try:
            await self.rebind(self.live.current.config.listen)
        except BindError:
            await self._runner.cleanup()
            raise
        if self.reloader is not None:
            self._watcher = asyncio.create_task(self.reloader.run(self._stop_watching))
            await self.reloader.watching.wait()

    @property
    def port(self) -> int:
        """The bound port (useful with ``--listen 127.0.0.1:0``)."""
        if self._site is None:
            raise RuntimeError("not listening")
        return self._site.port

    async def rebind(self, listen: Listen) -> int:
        """Serve on ``listen``: the new address accepts before the old one stops (except
        on the same port, below), and connections already open on the old one go on.

        Returns:
            The port bound (the kernel's choice for port 0).

        Raises:
            BindError: ``listen`` cannot be bound; the old address keeps serving.
        """
        old, old_listen = self._site, self._listen
        try:
            new = await self._bind(listen)
        except BindError as exc:
            if old is None or old_listen is None or not _port_taken_by(old, listen, exc):
                raise
            # The same port on an overlapping address (127.0.0.1:8080 -> 0.0.0.0:8080):
            # the kernel lets only one of them listen, so the old one must go first, and
            # comes back if the new one still cannot be bound.
            await old.stop()
            self._site = None
            try:
                new = await self._bind(listen)
            except BindError:
                self._site = await self._bind(old_listen)
                raise
        else:
            if old is not None:
                await old.stop()
        self._site, self._listen = new, listen
        return new.port

    async def stop(self) -> None:
        """Stop watching, stop accepting, let in-flight requests finish (bounded), then
        close everything."""
        self.live.stopping = True
        if self._watcher is not None:
            self._stop_watching.set()  # awatch sees it within a step
            await asyncio.wait({self._watcher}, timeout=WATCHER_STOP_TIMEOUT)
            self._watcher.cancel()  # a no-op unless a reload is stuck
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self._runner.cleanup()

    def hurry(self) -> None:
        """Cut what ``stop`` is still waiting for (a second Ctrl+C): every open connection
        closes now, and each handler still running is cancelled."""
        server = self._runner.server
        if server is not None:
            for handler in server.connections:
                handler.force_close()

    async def _bind(self, listen: Listen) -> web.TCPSite:
        site = DeadlineSite(self._runner, listen.host, listen.port,
                            header_timeout=self.limits.header_timeout,
                            addresses=listen.addresses(ipv6=has_ipv6_loopback()))
        try:
            await site.start()
        except OSError as exc:
            raise BindError(*_bind_message(listen, exc)) from exc
        return site


def has_ipv6_loopback() -> bool:
    """Whether ::1 can be bound here: a machine with IPv6 turned off may still list it
    for localhost in /etc/hosts, and binding it would fail the whole address."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _port_taken_by(site: web.TCPSite, listen: Listen, exc: BindError) -> bool:
    cause = exc.__cause__
    return (listen.port == site.port and isinstance(cause, OSError)
            and cause.errno == errno.EADDRINUSE)


def _bind_message(listen: Listen, exc: OSError) -> tuple[str, str]:
    """Why ``listen`` could not be bound, and the flag that would help, if one would."""
    if exc.errno == errno.EADDRINUSE:
        return (f"port {listen.port} on {listen.host} is already in use (another devproxy or "
                f"dev server?)", f"choose another with -p PORT (or --listen {listen.host}:PORT)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {listen}: {listen.host} is not an address of this machine", ""
    if exc.errno == errno.EACCES:
        return f"cannot listen on {listen}: permission denied (ports below 1024 need root)", ""
    return f"cannot listen on {listen}: {exc.strerror or exc}", ""
