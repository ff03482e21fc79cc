"""The slow-header deadline: a new connection must finish its request headers in time.

aiohttp closes idle keep-alive connections, but sets no deadline on a connection that
opens and then trickles its headers (slowloris): each such socket would be held until
the client gives up. ``HeaderDeadline`` wraps aiohttp's per-connection protocol,
watches the bytes for the end of the first header block (CRLF CRLF) and closes the
connection if it has not arrived ``timeout`` seconds after the connection opened.
After the first request, aiohttp's own keep-alive timer bounds an idle or trickling
connection (``limits.idle_timeout``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiohttp import web

_END_OF_HEADERS = b"\r\n\r\n"


class HeaderDeadline(asyncio.Protocol):
    """Delegates every protocol call to ``inner``; only adds the deadline."""

    __slots__ = ("_handle", "_inner", "_loop", "_tail", "_timeout", "_transport")

    def __init__(self, inner: asyncio.Protocol, timeout: float,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._timeout = timeout
        self._loop = loop
        self._tail = b""  # the last bytes seen, for a CRLF CRLF split across reads
        self._handle: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._handle = self._loop.call_later(self._timeout, self._expire)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._handle is not None:
            seen = self._tail + data
            if _END_OF_HEADERS in seen:
                self._handle.cancel()
                self._handle = None
            else:
                self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _expire(self) -> None:
        self._handle = None
        if self._transport is not None:
            self._transport.close()


class DeadlineSite(web.TCPSite):
    """A ``TCPSite`` whose connections get a ``HeaderDeadline``."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *,
                 header_timeout: float, addresses: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self._header_timeout = header_timeout
        self._addresses = list(addresses) or host  # what to bind, if not ``host`` itself

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers with the runner, as TCPSite does
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        timeout = self._header_timeout
        # TCPSite.start with one change, the protocol factory (aiohttp has no hook for it).
        self._server = await loop.create_server(
            lambda: HeaderDeadline(server(), timeout, loop), self._addresses, self._port,
            backlog=self._backlog, reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
