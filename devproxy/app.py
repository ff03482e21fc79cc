"""Composition root: the aiohttp application and the lifetime of a running proxy.

Owns ``make_app`` (one catch-all handler, the shared client session opened and closed
in ``cleanup_ctx``) and ``ProxyServer`` (bind, serve, and an ordered shutdown: stop
accepting, let in-flight requests finish within a bound, then cancel). It never
prints or exits: ``cli`` does that.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from .config import Listen
from .corsmode import REFUSED, RefusedOrigins, add_cors_headers
from .dispatch import handle
from .errors import BindError
from .forward import restore_headers
from .state import LIVE, OUTAGES, SESSION, Live
from .upstream import Outages, make_session
from .websocket import OPEN_SOCKETS, OpenSockets

logger = logging.getLogger(__name__)

DEFAULT_SHUTDOWN_TIMEOUT = 5.0
HEADER_LIMIT = 64 * 1024
# aiohttp's router matches its patterns without DOTALL, so a plain ".*" would turn
# a path with an encoded newline into aiohttp's own 404; match everything.
_CATCH_ALL = "/{tail:(?s:.*)}"


def make_app(live: Live) -> web.Application:
    """The aiohttp app serving ``live.current`` routes, whatever they become later."""
    app = web.Application()
    app[LIVE] = live
    app[OUTAGES] = Outages()
    app[REFUSED] = RefusedOrigins()
    app[OPEN_SOCKETS] = sockets = OpenSockets()
    app.on_shutdown.append(sockets.close_all)
    app.cleanup_ctx.append(_client_session)
    app.on_response_prepare.append(restore_headers)
    app.on_response_prepare.append(add_cors_headers)
    app.router.add_route("*", _CATCH_ALL, handle)
    return app


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    async with make_session() as session:
        app[SESSION] = session
        yield


class ProxyServer:
    """A running devproxy: one app, one runner, one or more listening sites."""

    def __init__(self, live: Live, *, shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT):
        self.live = live
        self.app = make_app(live)
        self._runner = web.AppRunner(
            self.app,
            # A browser that goes away cancels its upstream request (frees the
            # backend connection) instead of letting it run to completion.
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=shutdown_timeout,
            # A request body is relayed as sent: inflating a Content-Encoding: gzip upload
            # here would hand the backend bytes that contradict its own headers.
            auto_decompress=False,
            # Dev machines pile up localhost cookies from many apps; aiohttp's 8 KiB
            # field limit would answer 400 where browsers and Node accept far more.
            max_line_size=HEADER_LIMIT,
            max_field_size=HEADER_LIMIT,
        )
        self._site: web.TCPSite | None = None

    async def start(self) -> None:
        """Set up the app and bind ``live.current.config.listen``.

        Raises:
            BindError: the address is in use or cannot be bound; nothing is left running.
        """
        await self._runner.setup()
        try:
            self._site = await self._bind(self.live.current.config.listen)
        except BindError:
            await self._runner.cleanup()
            raise

    @property
    def port(self) -> int:
        """The bound port (useful with ``--listen 127.0.0.1:0``)."""
        assert self._site is not None
        for address in self._runner.addresses:
            return int(address[1])
        raise RuntimeError("not listening")

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (bounded), then close everything."""
        await self._runner.cleanup()

    async def _bind(self, listen: Listen) -> web.TCPSite:
        site = web.TCPSite(self._runner, listen.host, listen.port)
        try:
            await site.start()
        except OSError as exc:
            raise BindError(_bind_message(listen, exc)) from exc
        return site


def _bind_message(listen: Listen, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"port {listen.port} on {listen.host} is already in use (another devproxy or "
                f"dev server?); choose another with --listen {listen.host}:PORT")
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {listen}: {listen.host} is not an address of this machine"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {listen}: permission denied (ports below 1024 need root)"
    return f"cannot listen on {listen}: {exc.strerror or exc}"
