"""Kept-alive HTTP/1.1 connections to backends, and one exchange on each at a time.

Owns the asyncio side of plain HTTP forwarding: opening connections (``localhost``
tried on both loopback addresses, TLS when the target is https), reading responses
with ``h1`` and handing the body over chunk by chunk with flow control both ways, and
the pool that reuses connections per target within ``limits.upstream_connections``.
It decides no routes and rewrites no headers (``forward`` does); its failures are
``UpstreamError`` through ``upstream.connect_error``, like the rest of the upstream side.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import ssl
import struct
import sys
from collections.abc import Callable
from typing import cast

try:  # Linux: how much a socket's kernel send queue holds (``Connection.unsent``)
    import fcntl
    import termios
    _OUTQ: int | None = termios.TIOCOUTQ if sys.platform == "linux" else None
except ImportError:  # Windows
    _OUTQ = None

from . import h1
from .config import Target, is_localhost
from .errors import UpstreamError
from .upstream import closed_unanswered, connect_error, invalid_response

IDLE_TIMEOUT = 4.0  # under Node's and uvicorn's 5 s, so devproxy lets go first
TICK = 0.1  # seconds between checks of response deadlines and idle connections
_HIGH_WATER = 256 * 1024  # body bytes buffered from a backend before it is paused
_LOW_WATER = 64 * 1024



def _head_too_large() -> h1.ParseError:
    return h1.ParseError(
        f"response head larger than {h1.HEAD_LIMIT // 1024} KiB",
        f"devproxy reads response heads up to {h1.HEAD_LIMIT // 1024} KiB, as Chromium "
        "does: a header or cookie that large is most likely a bug in the backend")

class Broken(Exception):
    """The backend broke off a response (``closed``), or sent one that cannot be parsed."""

    def __init__(self, message: str, *, closed: bool = True, hint: str = h1.NOT_HTTP) -> None:
        super().__init__(message)
        self.closed = closed
        self.hint = hint  # for one that cannot be parsed: what to do about it


class Busy(TimeoutError):
    """No place among a target's ``cap`` connections came free in time: every one was in
    use, by streams that stay open (SSE, long polls), slow requests, or ``uploads`` still
    carrying a request body."""

    def __init__(self, cap: int, waited: float, uploads: int = 0) -> None:
        super().__init__(f"all {cap} connections busy for {waited:g}s")
        self.cap, self.waited, self.uploads = cap, waited, uploads


class UploadStalled(TimeoutError):
    """The backend took none of the request body for ``timeout.response``: it stopped
    reading it (stuck, or waiting for something else), with ``unsent`` bytes waiting in
    devproxy's write buffer and the kernel's send queue."""

    def __init__(self, unsent: int) -> None:
        super().__init__(f"the backend stopped reading the request body ({unsent} bytes "
                         f"waiting)")
        self.unsent = unsent


class Connection(asyncio.Protocol):
    """One connection to a backend, carrying one request/response at a time.

    The reader side: ``head()`` waits for the response head, then ``read()`` gives body
    chunks until b"" at its end. ``received`` says whether any response byte came,
    which decides whether a failed request on a reused connection may be retried.
    """

    def __init__(self, key: str, on_lost: Callable[[Connection], None],
                 loop: asyncio.AbstractEventLoop, on_deadline: Callable[[], None]) -> None:
        self.key = key
        self._on_lost = on_lost
        self._on_deadline = on_deadline  # makes sure the pool's tick will see it
        # Kept, not looked up: asyncio.get_running_loop() costs a getpid() syscall.
        self.loop = loop
        # When the response head is overdue (loop time), while one is awaited; the pool's
        # tick enforces it, so no request pays for a timer of its own.
        self.deadline: float | None = None
        self.sent_at = 0.0  # loop time the last request began (``begin``)
        self._wait: float | None = 0.0  # seconds the head may take (timeout.response)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = True
        self.received = False
        self.uses = 0  # exchanges begun on this connection
        self.counted = False  # handed out by the pool, so its close frees a place
        self.connect_ms = 0.0  # how long opening it took
        self.idle_since = 0.0  # loop time it was last given back
        # Seconds it may stay idle: the pool's limit, less if the backend said so.
        self.idle_limit = math.inf
        self._method = "GET"
        self._upgrade = False  # a 101 ends this exchange and hands the connection over
        # Told of each interim (1xx) head of the current exchange, but 101's (``begin``).
        self._interim: Callable[[h1.Head], None] | None = None
        self.upgraded = b""  # bytes that came after a 101's head, for whoever took over
        self._buffer = bytearray()
        self._head: h1.Head | None = None
        self._head_waiter: asyncio.Future[h1.Head] | None = None
        self._body: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._left: int | None = None  # Content-Length bytes still to come
        self._chunked: h1.ChunkedDecoder | None = None
        self._until_close = False
        self.complete = False  # the whole response has been received
        self._error: Broken | None = None
        self._body_waiter: asyncio.Future[None] | None = None
        self._paused_reading = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._paused_writing = False
        self._uploading = False  # a body is being written after the head (``begin``)
        # ``deadline`` measures the backend taking the body, not answering: set when it
        # stops taking it mid-upload, and after the last write while bytes still wait.
        self._body_clock = False
        self._unsent = 0  # bytes not yet taken when it was last seen to take some

    @property
    def uploading(self) -> bool:
        """A request body is still being written (from ``begin`` to ``uploaded``)."""
        return self._uploading

    # -- asyncio callbacks -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's transports are not asyncio's classes.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        clean = exc is None
        if not clean and self._head is None and self._head_waiter is not None:
            clean = self._salvage()
        self.closed = True
        self.reusable = False
        if self._until_close and not self.complete and self._head is not None and clean:
            # A close-delimited body ends with a clean close (RFC 9112 §6.3 (8)); a reset
            # ends it unfinished, "an error indicated by the underlying connection" (§8).
            self.complete = True
        elif not self.complete and self._head is None and self._buffer \
                and not b"HTTP/".startswith(bytes(self._buffer[:5])):
            # Something else than a response, then the close: a dev server refusing a
            # WebSocket with a bare "Unauthorized" (Next.js), say. The backend is up.
            if _http2_settings(self._buffer):
                self._fail(Broken("an HTTP/2 SETTINGS frame (it speaks HTTP/2 only), then "
                                  "it closed the connection", closed=False, hint=HTTP2_ONLY))
            else:
                shown = bytes(self._buffer[:60]).decode("utf-8", "replace")
                self._fail(Broken(f"{shown!r}, then it closed the connection", closed=False))
        elif not self.complete:
            self._fail(Broken("the backend closed the connection"
                              + (f" ({type(exc).__name__}: {exc})" if exc else "")))
        self._wake_body()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        self._on_lost(self)

    def _salvage(self) -> bool:
        """Read what the backend sent before the connection failed unanswered; True if
        that ended with its clean close (a close-delimited body is then whole).

        A backend that refuses an upload early (413) answers and closes while devproxy
        is still sending the body; the next write fails and the event loop closes the
        transport before its reader ran, though the answer is already in the socket
        (RFC 9112 §9.5: a client that gets an answer mid-body stops sending, it does
        not drop the answer). The socket is still open while the loop reports the
        loss, so what it holds is read through a duplicate of it, in bounded reads.
        """
        assert self.transport is not None
        if self.transport.get_extra_info("ssl_object") is not None:
            return False  # the socket holds TLS records, not the response: none to read
        try:
            sock = self.transport.get_extra_info("socket").dup()
        except (AttributeError, OSError):
            return False
        with sock:
            sock.setblocking(False)
            for _ in range(16):  # a head and a short body; a long one is cut anyway
                try:
                    data = sock.recv(65536)
                except OSError:  # nothing more (would block), or the reset itself
                    return False
                if not data:
                    return True
                self.data_received(data)
        return False

    def pause_writing(self) -> None:
        self._paused_writing = True
        waiter = self._head_waiter
        if self._uploading and self._wait is not None and self.deadline is None \
                and waiter is not None and not waiter.done():
            # The backend stopped taking the body, with no answer yet: that wait is the
            # backend's, so timeout.response bounds it, as nginx's proxy_send_timeout
            # does. One not reading at all hung the request until it closed; a browser
            # slow to send never fills this buffer, so never starts the clock.
            self._body_clock, self._unsent = True, self.unsent()
            self.deadline = self.loop.time() + self._wait
            self._on_deadline()

    def resume_writing(self) -> None:
        self._paused_writing = False
        if self._body_clock and self._uploading:  # it took some: no clock until the next
            self._body_clock = False  # pause
            self.deadline = None
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            if self._head is None:
                self._read_head(data)
            else:
                self._read_body(data)
        except h1.ParseError as exc:
            self._fail(Broken(str(exc), closed=False, hint=exc.hint))
            assert self.transport is not None
            self.transport.close()

    # -- parsing -----------------------------------------------------------------------

    def _read_head(self, data: bytes) -> None:
        if self._head_waiter is None:
            # Nothing was asked: bytes from an idle connection are not a response.
            self.reusable = False
            assert self.transport is not None
            self.transport.close()
            return
        buffer = self._buffer
        pending: bytes | bytearray
        if buffer:
            search_from = max(0, len(buffer) - 3)
            buffer += data
            pending = buffer
        else:
            # The usual case, a head that came whole in one read: parsed from ``data``
            # itself, so a body that came with it is copied once, not three times.
            search_from = 0
            pending = data
        while True:
            end, body_start = h1.head_end(pending, search_from)
            if end < 0:
                if pending is data:
                    buffer += data
                if len(buffer) > h1.HEAD_LIMIT:
                    raise _head_too_large()
                return
            if end > h1.HEAD_LIMIT:  # the same limit however the head's bytes arrived
                raise _head_too_large()
            # From ``data`` the slices are bytes and bytes() keeps them as they are; from
            # the buffer they are bytearrays, copied once more.
            head = h1.parse_head(bytes(pending[:end]), method=self._method)
            rest = bytes(pending[body_start:])
            buffer.clear()
            if 100 <= head.status < 200:
                if head.status == 101:
                    if not self._upgrade:
                        raise h1.ParseError("101 Switching Protocols to a request that "
                                            "asked for no upgrade")
                    self._switched(head, rest)
                    return
                # Interim responses (100 Continue, 103 Early Hints): passed on, and
                # read past.
                if self._interim is not None:
                    self._interim(head)
                buffer += rest
                pending = buffer
                search_from = 0
                continue
            break
        self._head = head
        self._interim = None  # an idle connection must not keep the request alive
        self.reusable = self.reusable and head.reusable
        if head.keep_alive is not None:
            # Let go a good while before the backend does: a request sent as it closes
            # fails, and one that is not idempotent cannot be sent again (RFC 9110
            # §9.2.2). The pool's own limit stays the upper bound.
            self.idle_limit = min(self.idle_limit,
                                  max(head.keep_alive - 1, head.keep_alive / 2))
        if head.length is not None:
            self._left = head.length
        elif head.chunked:
            self._chunked = h1.ChunkedDecoder()
        else:
            self._until_close = True
        if head.length == 0:
            self._finish(rest)
        elif rest:
            self._read_body(rest)
        self.deadline = None
        waiter = self._head_waiter
        if not waiter.done():
            waiter.set_result(head)

    def _switched(self, head: h1.Head, rest: bytes) -> None:
        """A 101 to an upgrade: the bytes after it belong to another protocol, so reading
        stops until its owner takes the transport over (``hand_over``)."""
        self._buffer.clear()
        self.upgraded = rest
        self.reusable = False
        self.complete = True
        self.deadline = None
        assert self.transport is not None and self._head_waiter is not None
        self.transport.pause_reading()
        self._head = head
        if not self._head_waiter.done():
            self._head_waiter.set_result(head)

    def hand_over(self, protocol: asyncio.Protocol) -> asyncio.Transport:
        """After a 101: ``protocol`` gets the transport, starting with the bytes that
        came after the 101's head; this connection is done with it."""
        transport = self.transport
        assert transport is not None and self._upgrade and self._head is not None
        self.transport = None
        self.closed = True
        transport.set_protocol(protocol)
        if self.upgraded:
            protocol.data_received(self.upgraded)
            self.upgraded = b""
        transport.resume_reading()
        return transport

    def _read_body(self, data: bytes) -> None:
        if self.complete:
            # Bytes beyond the response, arriving apart from it (idle in the pool, say):
            # the connection is spent, and must not carry another request, whose answer
            # they would pose as (RFC 9112 §9.3: no pipelining is in use here).
            self.close()
            return
        if self._left is not None:
            if len(data) >= self._left:
                piece, extra = data[:self._left], data[self._left:]
                self._left = 0
                self._push(piece)
                self._finish(extra)
                return
            self._left -= len(data)
            self._push(data)
            return
        if self._chunked is not None:
            for piece in self._chunked.feed(data):
                self._push(piece)
            if self._chunked.done:
                self._finish(self._chunked.tail)
            return
        self._push(data)  # until close

    def _push(self, piece: bytes) -> None:
        if not piece:
            return
        self._body.append(piece)
        self._buffered += len(piece)
        if self._buffered > _HIGH_WATER and not self._paused_reading and self.transport:
            self._paused_reading = True
            self.transport.pause_reading()
        self._wake_body()

    def _finish(self, extra: bytes) -> None:
        self.complete = True
        if extra:
            # A backend that sends more than it framed can't be trusted with another
            # request (RFC 9112 §9.3: no pipelining is in use here).
            self.reusable = False
        self._wake_body()

    def _fail(self, exc: Broken) -> None:
        self.reusable = False
        self.deadline = None
        if self._error is None:
            self._error = exc
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self._wake_body()

    def _wake_body(self) -> None:
        waiter = self._body_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the exchange ------------------------------------------------------------------

    def begin(self, method: str, response_timeout: float | None, *, upgrade: bool = False,
              uploading: bool = False, interim: Callable[[h1.Head], None] | None = None
              ) -> None:
        """Prepare to read the answer to a ``method`` request about to be written.

        ``head()`` raises TimeoutError if no response head came within
        ``response_timeout`` seconds (None: no limit) of the request's last byte, give
        or take the pool's ``TICK``; only for connections the pool handed out.
        ``uploading``: the body follows, and the time starts at ``uploaded``, so a pause
        in the browser's upload does not count against the response; while the body is
        written, the same time bounds a backend that takes none of it (``pause_writing``).
        ``upgrade``: the request asks to switch protocols, so a 101 is its answer.
        ``interim``: called with each 1xx head but a 101, as it arrives.
        """
        self.uses += 1
        self._method = method
        self._upgrade = upgrade
        self._interim = interim
        self._head = None
        self._head_waiter = self.loop.create_future()
        self._wait = response_timeout
        # When the request went: a close soon after is the backend's idle timeout
        # meeting it (``forward``), a later one the backend failing on it.
        self.sent_at = now = self.loop.time()
        self._uploading, self._body_clock = uploading, False
        if uploading or response_timeout is None:
            self.deadline = None
        else:
            self.deadline = now + response_timeout
            self._on_deadline()
        self._body.clear()
        self._buffered = 0
        self._resume_reading()
        self._left = None
        self._chunked = None
        self._until_close = False
        self.complete = False
        self._error = None
        self.received = False

    def uploaded(self) -> None:
        """The request's last byte is written: the response timeout starts once the
        backend has taken what still waits in the buffers (``watch_body``), at once if
        nothing does."""
        self._uploading = False
        if self._head_waiter is not None and not self._head_waiter.done() and not self.closed \
                and self._wait is not None:
            self._unsent = unsent = self.unsent()
            self._body_clock = bool(unsent)
            self.deadline = self.loop.time() + self._wait
            self._on_deadline()

    def unsent(self) -> int:
        """Bytes written that the backend has not taken: devproxy's buffer, and on Linux
        the kernel's send queue (SIOCOUTQ, sent but unacknowledged included; a byte in
        the backend's receive buffer is acknowledged). Megabytes on loopback."""
        transport = self.transport
        if transport is None:
            return 0
        size = transport.get_write_buffer_size()
        sock = transport.get_extra_info("socket")
        if sock is not None and _OUTQ is not None:
            with contextlib.suppress(OSError, ValueError):
                size += struct.unpack("i", fcntl.ioctl(sock.fileno(), _OUTQ, b"\0" * 4))[0]
        return size

    def watch_body(self, now: float) -> None:
        """On each of the pool's ticks while the deadline measures the body: a backend
        that took some since is slow, not stuck, and gets the whole timeout again; one
        that took the last of it gets the whole timeout from now to answer.

        Taking is seen as the kernel sees it: a backend reading a little at a time frees
        its receive window in steps (some 64 KiB on loopback), so one reading less than
        a step within ``timeout.response`` looks stuck."""
        if not self._body_clock:
            return
        unsent = self.unsent()
        if unsent < self._unsent:
            self._unsent = unsent
            self._body_clock = self._uploading or bool(unsent)
            self.deadline = now + self._wait  # type: ignore[operator]  # set with the clock

    def timed_out(self) -> None:
        """The deadline passed with no response head: ``head()`` raises TimeoutError, or
        ``UploadStalled`` if the deadline measured a body the backend stopped taking."""
        self.deadline = None
        self.reusable = False  # its answer may still come, to a request nobody awaits
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(UploadStalled(self._unsent) if self._body_clock
                                 else TimeoutError())

    def write(self, data: bytes) -> None:
        if self.transport is None or self.closed:
            raise Broken("the backend closed the connection")
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the backend is not reading what was written (upload flow control)."""
        if self.closed:
            raise Broken("the backend closed the connection")
        if self._paused_writing:
            self._drain_waiter = self.loop.create_future()
            await self._drain_waiter
            if self.closed:
                raise Broken("the backend closed the connection")

    async def head(self) -> h1.Head:
        assert self._head_waiter is not None
        if self.closed and not self._head_waiter.done():
            self._fail(Broken("the backend closed the connection"))
        return await self._head_waiter

    def body_ready(self) -> bool:
        """True when the whole body is already here (``take_all`` won't wait)."""
        return self.complete and self._error is None

    def has_body_bytes(self) -> bool:
        """True when some body bytes are here already (``read`` won't wait)."""
        return bool(self._body)

    def take_all(self) -> bytes:
        body = b"".join(self._body)
        self._body.clear()
        self._buffered = 0
        # A body that passed the high-water mark as it completed paused reading: left
        # paused, the next response on this connection would never be read.
        self._resume_reading()
        return body

    def _resume_reading(self) -> None:
        if self._paused_reading and self.transport:
            self._paused_reading = False
            self.transport.resume_reading()

    async def read(self) -> bytes:
        """The next body bytes, b"" at the end; raises ``Broken`` if cut short."""
        while not self._body:
            if self._error is not None:
                raise self._error
            if self.complete:
                return b""
            self._body_waiter = self.loop.create_future()
            try:
                await self._body_waiter
            finally:
                self._body_waiter = None
        piece = self._body.popleft()
        self._buffered -= len(piece)
        if self._buffered < _LOW_WATER:
            self._resume_reading()
        return piece

    def end_body(self) -> None:
        """Stop relaying this response here (an event stream at shutdown): ``read``
        returns b"" as if the body had ended, and the connection closes, never reused,
        since the rest of the body is still on its way."""
        self._body.clear()
        self._buffered = 0
        self.complete = True
        self.close()
        self._wake_body()

    def close(self) -> None:
        self.reusable = False
        self.deadline = None
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Idle connections per target, and a cap on how many one target may have open.

    Owned by one app; used only from its event loop. ``per_target`` 0 means no cap;
    otherwise requests beyond it wait (in order) for a connection to come free, rather
    than flooding a dev server with hundreds of sockets.
    """

    def __init__(self, per_target: int = 64, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.per_target = per_target
        self.idle_timeout = idle_timeout
        self._idle: dict[str, list[Connection]] = {}
        self._open: dict[str, int] = {}
        self._waiters: dict[str, collections.deque[asyncio.Future[None]]] = {}
        self._preferred: dict[str, int] = {}  # key -> index of the address that answered
        self._tls: dict[bool, ssl.SSLContext] = {}
        self._closed = False
        self._busy: set[Connection] = set()  # handed out, not yet given back
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticking: asyncio.TimerHandle | None = None

    @staticmethod
    def key(target: Target, secure: bool) -> str:
        # Unverified TLS connections never serve a route that asked for verification.
        return target.pool_key if secure else target.pool_key + " unverified"

    def idle_count(self) -> int:
        return sum(len(c) for c in self._idle.values())

    async def acquire(self, target: Target, *, secure: bool, connect_timeout: float,
                      wait_timeout: float) -> Connection:
        """A connection to ``target``: an idle one if any, else a new one.

        Args:
            wait_timeout: how long to wait for a place when ``target`` is at its cap.

        Raises:
            UpstreamError: no connection could be opened.
            Busy: no place came free within ``wait_timeout``.
        """
        key = self.key(target, secure)
        conn = self._take_idle(key)
        if conn is not None:
            return conn
        cap = self.per_target
        while cap and self._open.get(key, 0) >= cap:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(key, collections.deque()).append(waiter)
            try:
                async with asyncio.timeout(wait_timeout):
                    await waiter
            except BaseException as exc:
                if waiter.done() and not waiter.cancelled():
                    self._wake(key)  # pass the turn on
                if isinstance(exc, TimeoutError):
                    uploads = sum(c.key == key and c.uploading for c in self._busy)
                    raise Busy(cap, wait_timeout, uploads) from None
                raise
            conn = self._take_idle(key)
            if conn is not None:
                return conn
        self._open[key] = self._open.get(key, 0) + 1
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            conn = await self._connect(key, target, secure, connect_timeout)
            conn.connect_ms = (loop.time() - started) * 1000
        except BaseException:
            self._forget(key)
            raise
        self._busy.add(conn)
        return conn

    async def open(self, target: Target, *, secure: bool, connect_timeout: float
                   ) -> Connection:
        """A new connection of its own to ``target``, outside the pool and its cap: for a
        WebSocket, which keeps its connection for as long as it lives.

        Raises:
            UpstreamError: no connection could be opened.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        conn = await self._connect(self.key(target, secure), target, secure, connect_timeout)
        conn.counted = False  # its close frees no place
        conn.connect_ms = (loop.time() - started) * 1000
        return conn

    def _take_idle(self, key: str) -> Connection | None:
        """The most recently used idle connection to ``key`` still fit to send on."""
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.closed or not conn.reusable:  # closing, its loss not yet reported
                conn.close()  # idempotent; never left open outside the pool
                continue
            if conn.loop.time() - conn.idle_since > conn.idle_limit:
                conn.close()  # about to be closed by the backend: don't race it
                continue
            self._busy.add(conn)
            return conn
        return None

    def release(self, conn: Connection) -> None:
        """Give ``conn`` back after its exchange: kept if it can carry another, else closed."""
        self._busy.discard(conn)
        if conn.closed or not conn.reusable or not conn.complete or self._closed:
            conn.close()
            return  # connection_lost calls _forget
        conn.idle_since = conn.loop.time()
        self._idle.setdefault(conn.key, []).append(conn)
        self._tick_soon()
        self._wake(conn.key)

    def _tick_soon(self) -> None:
        """Have ``_tick`` run within TICK (a response head is awaited, or a connection
        is idle)."""
        if self._ticking is None and not self._closed:
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._ticking = self._loop.call_later(TICK, self._tick)

    def _tick(self) -> None:
        """Enforce response deadlines and let go of connections idle too long.

        One timer for the whole pool while it has work, instead of two per request
        (a timer costs a heap push and pop, in Python comparisons, and its cancel).
        """
        assert self._loop is not None
        self._ticking = None
        now = self._loop.time()
        awaited = [c for c in self._busy if c.deadline is not None]
        for conn in awaited:
            conn.watch_body(now)
            if now >= conn.deadline:  # type: ignore[operator]  # not None, filtered above
                conn.timed_out()
        for idle in self._idle.values():
            for conn in [c for c in idle if now - c.idle_since > c.idle_limit]:
                idle.remove(conn)
                conn.close()
        # Streams being relayed (SSE, downloads) need no tick: the process sleeps.
        if awaited or any(self._idle.values()):
            self._tick_soon()

    def _lost(self, conn: Connection) -> None:
        """A counted connection closed, whoever closed it: it leaves the pool."""
        if not conn.counted:
            return  # closed while still connecting: acquire gives its place back
        self._busy.discard(conn)
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)
        self._forget(conn.key)

    def _forget(self, key: str) -> None:
        left = self._open.get(key, 0) - 1
        if left > 0:
            self._open[key] = left
        else:
            self._open.pop(key, None)
        self._wake(key)

    def _wake(self, key: str) -> None:
        waiters = self._waiters.get(key)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        if self._ticking is not None:
            self._ticking.cancel()
            self._ticking = None
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

    # -- connecting --------------------------------------------------------------------

    async def _connect(self, key: str, target: Target, secure: bool,
                       connect_timeout: float) -> Connection:
        loop = asyncio.get_running_loop()
        tls = self.tls_context(secure) if target.scheme == "https" else None
        hosts = _addresses(target.host)
        first = self._preferred.get(key, 0)
        order = hosts[first:] + hosts[:first]
        last_error: BaseException | None = None
        timed_out: TimeoutError | None = None
        # One timeout.connect for all the addresses: an address before the last may
        # take half of what is left, so the next (localhost: a backend on ::1 while
        # 127.0.0.1 drops the connection) still has time, and the error's "within
        # timeout.connect" holds.
        deadline = loop.time() + connect_timeout
        for tried, host in enumerate(order, 1):
            conn = Connection(key, self._lost, loop, self._tick_soon)
            conn.idle_limit = self.idle_timeout
            left = deadline - loop.time()
            try:
                async with asyncio.timeout(left if tried == len(order) else left / 2):
                    await loop.create_connection(
                        lambda c=conn: c, host, target.port, ssl=tls,
                        server_hostname=target.host if tls is not None else None)
            except TimeoutError as exc:
                last_error = timed_out = exc
                continue
            except OSError as exc:  # refused, unreachable, DNS, TLS
                last_error = exc
                if isinstance(exc, ssl.SSLError):
                    break  # the address answered; another won't answer differently
                continue
            if len(hosts) > 1:
                self._preferred[key] = hosts.index(host)
            conn.counted = True
            return conn
        assert last_error is not None
        # An address that took no connection in time says more than one refusing it;
        # one that answered with TLS says most.
        raise connect_error(target, last_error if isinstance(last_error, ssl.SSLError)
                            else timed_out or last_error, connect_timeout)

    def tls_context(self, secure: bool) -> ssl.SSLContext:
        """The TLS settings for targets (``secure``: verify certificates), made once."""
        context = self._tls.get(secure)
        if context is None:
            context = ssl.create_default_context()
            if not secure:  # `secure: false`: a self-signed development certificate
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._tls[secure] = context
        return context


HTTP2_ONLY = ("devproxy talks HTTP/1.1 to backends: let the backend speak it too (Node's "
              "http2.createServer: allowHTTP1: true, or http.createServer)")


def _http2_settings(data: bytes | bytearray) -> bool:
    """Whether ``data`` begins as an HTTP/2 server does, with a SETTINGS frame on stream
    0 (RFC 9113 §3.4): a 9-byte header of type 4, a length a multiple of 6."""
    return len(data) >= 9 and data[3] == 4 and data[5:9] == b"\0\0\0\0" \
        and int.from_bytes(data[:3], "big") % 6 == 0


def _addresses(host: str) -> list[str]:
    """The addresses to try in turn: both loopbacks for ``localhost`` (RFC 6761 §6.3;
    a Node 17+ backend may listen on ::1 only), else the name itself: an IP address, or
    a name the loop resolves, every address tried in turn."""
    return ["127.0.0.1", "::1"] if is_localhost(host) else [host]


def broken_error(target: Target, exc: Broken) -> UpstreamError:
    """The 502 for a backend that broke off before its response head was complete."""
    return closed_unanswered(target) if exc.closed \
        else invalid_response(target, str(exc), exc.hint)
