"""What the inspector remembers: one ``Record`` per request, in a bounded ring.

Owns the record (the request as the browser sent it and as devproxy sent it upstream,
the response as the backend sent it and as the browser got it, timings, capped bodies,
WebSocket and SSE traffic), and the pure views of it: header diffs, the CORS and cookie
verdicts, "copy as curl" and HAR 1.2. No I/O: the shell fills records in as a request
passes; listeners (the live stream) are plain callbacks.
"""

from __future__ import annotations

import codecs
import functools
import http
import json
import marshal
import re
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from . import cors, h1
from .config import CorsPolicy
from .cookies import cookie_verdicts
from .corsadvice import (
    Ask,
    CorsOff,
    answered_by_devproxy,
    block_at,
    cause,
    declined_by_devproxy,
    failed_in_devproxy,
    fixes,
    from_static_folder,
    only_devproxy,
    refused_by_devproxy,
    stack_of,
    unrouted_in_devproxy,
)
from .curlcmd import curl
from .formdata import form_parts
from .headers import field_value
from .jsonindent import indent_json
from .wsframes import COMPRESSED

_new = object.__new__
_pack = marshal.dumps

# Tuples of strings, not lists: CPython stops tracking such tuples in its cycle
# collector, so 500 kept requests do not make every collection slower.
Headers = tuple[tuple[str, str], ...]
# A request's header fields as its parser read them (aiohttp's ``raw_headers``).
RawHeaders = tuple[tuple[bytes, bytes], ...]
# A header section as given to a record: pairs (decoded, or raw as parsed), a head's bytes
# as sent or received, or a multidict. Turned into pairs only when shown.
Fields = (Headers | RawHeaders | list[tuple[str, str]] | bytes | CIMultiDict[str]
          | CIMultiDictProxy[str])
# As kept: a multidict becomes one string of "name: value" lines. Kept by reference, a
# multidict and its strings are some twenty objects scattered over the heap, freed cold
# when the record leaves the ring 500 requests later: under callgrind's cache simulation
# (1 MiB last level) a small GET had 334 last-level misses with them, 221 without, for
# two joins that cost 16k instructions.
Kept = Headers | RawHeaders | list[tuple[str, str]] | bytes | str
# The browser's request fields as parsed are a tuple of pairs of bytes: a dozen fields
# from a real page are some 40 small objects, which kept 500 requests long cost more than
# all the rest of a record (side by side with Chromium's fetch() fields, inspector on
# read 1.059 of itself without them). Kept instead as one ``marshal`` string, made by one
# C call that only copies (5,200 instructions for those fields; a bytes join of "name:
# value" lines took 9,100) and read back exactly, surrogates and all: inspector on read
# 1.030 of itself keeping the tuple. Only strings this module made are ever loaded.
_PACK_VERSION = 2  # marshal 3 and later look up every object in a table of references
# Bytes of a request head a record keeps, each way (as the browser sent it, as sent
# upstream): limits allow 128 fields of 64 KiB, 8 MiB a head, which 500 records would
# keep whole. Past it, each value is cut to ``_VALUE_KEPT`` characters, and the fields
# that still fit are kept (``Record.head_cut`` says so).
HEAD_KEPT = 32 * 1024
_VALUE_KEPT = 256
_MESSAGES_KEPT = 20  # last WebSocket messages and SSE events per record
_PREVIEW = 500  # characters of one message or event
_HEX_PREVIEW = 64  # bytes of a binary WebSocket message shown, as hex
_NOT_CORS = ("navigate", "nested-navigate", "no-cors")  # Sec-Fetch-Modes without CORS
# Seconds after a preflight's answer by which the request it was for has come: a browser
# that passed it sends it at once (Fetch §4.1 "main fetch", after §4.8), so none by then
# is the browser stopping there (``Captures.settle``). A few records at most come first.
FOLLOW_WAIT = 1.0
_FOLLOW_SCAN = 64
_SSE_INFLATED = 1 << 20  # most bytes one piece of a compressed event stream inflates to
BODY_BUDGET = 4 * 1024 * 1024  # bytes of bodies kept across all records (64 whole 64 KiB ones)
# A block of SSE lines the browser dispatches as an event: one with a data field (HTML
# §9.2.6). Comments (": ping" keep-alives) and a lone "retry:" or "id:" dispatch none.
_DISPATCHED = re.compile(r"^data(?::|$)", re.MULTILINE)
# What a response's body is to the page, by its Content-Type (``Record._shown``).
_TEXT, _BINARY, _EVENTS = 0, 1, 2


# A record's error when the browser left before the response ended (the log line says
# "(browser went away)").
WENT_AWAY = "the browser closed the connection before the response ended"


class _Tally:
    """Body bytes kept by the records counted here, kept up as bodies grow, so checking
    the budget costs one comparison instead of a walk over every record; and the most a
    record here may keep of one body."""

    __slots__ = ("kept", "limit")

    def __init__(self, limit: int) -> None:
        self.kept = 0
        self.limit = limit


class Record:
    """One request through devproxy, filled in as it happens.

    Written for the cost of a small proxied request (about 50 µs in all, with the
    inspector's share budgeted at a tenth): a field every request sets is a slot, set
    once; a field few requests set (WebSocket and SSE traffic, errors, truncation) is a
    class attribute holding its default, so creating a record does not write it, and a
    record that sets it gets its own copy in ``__dict__``. What exists anyway is kept by
    reference, not rebuilt: the heads as sent and received. The browser's fields as
    parsed are the exception, packed into one string (``_pack``). What a kept field
    already says is not kept twice: the origin comes from the Host field, the upstream
    URL's path from the head as sent.

    Made by ``Captures.start``, which sets every slot. The shell writes the fields the
    request fills in (``route``, ``upstream_origin``, ``upstream_head``, ``connect_ms``)
    directly, and calls a method where a phase needs more: each Python call saved is
    about 1,000 instructions (callgrind), a twentieth of what the inspector adds.
    """

    __slots__ = (
        "__dict__",
        "_backend_response",
        "_browser_request",
        "_browser_response",
        "_peer",
        "_shown",
        "_start",
        "_tally",
        "bytes_in",
        "bytes_out",
        "connect_ms",
        "duration_ms",
        "id",
        "method",
        "request_body",
        "response_body",
        "route",
        "started",
        "status",
        "target",
        "ttfb_ms",
        "upstream_head",
        "upstream_origin",
    )

    id: int
    started: float  # time.time() when the request arrived
    _start: float  # perf_counter() then
    method: str
    target: str  # the request-target as the browser sent it
    # The client's address as the connection's transport gave it (aiohttp's peername: a
    # (host, port, ...) tuple, a path, or None), shared by every request on the
    # connection: read as text only when shown (``remote``).
    _peer: Any
    route: str
    upstream_origin: str  # scheme://host:port the request went to; "" until sent
    upstream_head: Kept  # the request head as sent upstream, framing fields included
    _browser_request: bytes  # marshalled pairs (``_PACK_VERSION``)
    _backend_response: Kept
    _browser_response: Kept
    _tally: _Tally
    status: int
    connect_ms: float | None
    ttfb_ms: float | None
    duration_ms: float | None
    bytes_in: int
    bytes_out: int
    request_body: bytes | bytearray
    response_body: bytes | bytearray
    _shown: int

    kind = "http"  # http | sse | websocket | preflight | static | devproxy
    scheme = "http"  # devproxy's listener is plain HTTP: it never serves TLS
    version = "HTTP/1.1"  # the request line's (set where it is not 1.1)
    # The address the request reached, where its Host was absent (HTTP/1.0) or empty:
    # what its URL names instead.
    authority = ""
    error = ""
    request_body_cut = False
    response_body_cut = False
    messages: list[dict[str, Any]] | None = None  # WebSocket, newest last
    ws_up = 0  # WebSocket messages browser -> backend
    ws_down = 0  # and back
    ws_close: dict[str, Any] | None = None  # how a WebSocket ended: by, code, reason
    events: list[str] | None = None  # SSE events, newest last
    events_seen = 0  # and how many there were in all
    _sse_rest = ""  # the start of an SSE event not yet ended by a blank line
    _sse_decode: Callable[[bytes], str]  # the stream's UTF-8 decoder (``_events_start``)
    _sse_after_cr = False  # the stream's last piece ended with a CR
    _sse_begun = False  # some of the stream was decoded (past a byte order mark)
    refused: cors.Preflight | None = None  # devproxy's own refusal of this preflight
    # devproxy's refusal of the request before any route took it (a Host not allowed, a
    # reserved path, a limit): its detail and hint, the cause of any CORS failure.
    declined: tuple[str, str] | None = None
    # devproxy's own 502 or 504 for a backend it could not reach or that did not answer
    # in time: its title, detail and hint. No backend's CORS headers could be sent.
    failed: tuple[str, str, str] | None = None
    # devproxy's own 404 for a path no route matches: its detail, hint and the routes it
    # listed. No backend saw the request either.
    unrouted: tuple[str, str, tuple[str, ...]] | None = None
    from_static = False  # answered from a static folder, whatever its kind (a preflight)
    # A preflight's: the id of the request it was for, which the browser then sent; 0 if
    # none came within FOLLOW_WAIT; None if not looked for (``Captures.settle``).
    followed: int | None = None
    replay_of: int | None = None  # the id of the request the inspector's Replay sent again
    # ms from the start until the body's last byte went upstream (HAR's "send"): a
    # streamed one as it went, a small one once read whole from the browser.
    sent_ms: float | None = None
    # A compressed event stream's decoder; False for a coding not read here.
    _sse_inflate: Any = None
    head_cut = 0  # the browser's head, in bytes, when it was kept cut (``HEAD_KEPT``)
    insecure = False  # sent on a route with secure: false (its certificate not checked)

    # The four header sections: set from whatever the request has (its fields as
    # parsed, a head's bytes, a multidict), read as (name, value) pairs. The backend's
    # head is set by ``answered`` or ``relayed``.
    @property
    def browser_request(self) -> Headers:
        return pairs(marshal.loads(self._browser_request))

    def _cut_head(self) -> None:
        """Keep the browser's fields cut, if they pass ``HEAD_KEPT`` bytes as sent
        ("name: value" lines; the packed form is only a hint of that): each value to
        its first ``_VALUE_KEPT`` characters, and the fields that still fit."""
        fields = self.browser_request
        sizes = [len(name) + len(value.encode("utf-8", "surrogateescape")) + 4
                 for name, value in fields]
        if sum(sizes) <= HEAD_KEPT:
            return  # whole: its packing only looked longer
        self.head_cut = sum(sizes)
        kept: list[tuple[str, str]] = []
        size = 0
        for name, value in fields:
            if len(value) > _VALUE_KEPT:
                value = value[:_VALUE_KEPT] + "…"
            size += len(name) + len(value.encode("utf-8", "surrogateescape")) + 4
            if size > HEAD_KEPT:
                break
            kept.append((name, value))
        self._browser_request = _pack(tuple(kept), _PACK_VERSION)

    @property
    def upstream_request(self) -> Headers:
        return pairs(self.upstream_head)

    @property
    def backend_response(self) -> Headers:
        return pairs(self._backend_response)

    @property
    def browser_response(self) -> Headers:
        return pairs(self._browser_response)

    @browser_response.setter
    def browser_response(self, fields: Fields) -> None:
        self._browser_response = _kept(fields)

    @property
    def has_browser_response(self) -> bool:
        return bool(self._browser_response)

    def reason(self) -> str:
        """The reason phrase of the status line the browser got: as sent where its head
        was kept as bytes, else the standard one ("" for a status with none)."""
        head = self._browser_response
        if isinstance(head, bytes):
            line = _status_line(head)
            return line[2].decode("latin-1") if len(line) > 2 else ""
        try:
            return http.HTTPStatus(self.status).phrase
        except ValueError:
            return ""

    def response_version(self) -> str:
        """The version of the status line the browser got: as sent where its head was
        kept as bytes, else the one aiohttp answers a request of this version in (1.0 in
        1.0; 0.9 and 2.0, read as 1.1 to be refused, in 1.1)."""
        head = self._browser_response
        if isinstance(head, bytes):
            version = _status_line(head)[0].decode("latin-1")
            if version.startswith("HTTP/"):
                return version
        return "HTTP/1.0" if self.version == "HTTP/1.0" else "HTTP/1.1"

    def _backend_status(self) -> int | None:
        """The status in the backend's head, kept as bytes; None if not known."""
        head = self._backend_response
        if not isinstance(head, bytes):
            return None
        line = _status_line(head)
        return int(line[1]) if len(line) > 1 and line[1].isdigit() else None

    @property
    def remote(self) -> str:
        """The client's address, as aiohttp's ``request.remote`` reads it."""
        peer = self._peer
        if peer is None:
            return ""
        return str(peer[0] if isinstance(peer, (list, tuple)) else peer)

    def came_from(self, address: Any) -> bool:
        """Whether the request came over a connection from ``address``, a client
        socket's (host, port, ...) name."""
        peer = self._peer
        return isinstance(peer, tuple) and tuple(address)[:2] == peer[:2]

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self._start) * 1000

    def upload(self, chunk: bytes) -> None:
        self.bytes_in += len(chunk)
        self.request_body, cut = _keep(self, self.request_body, chunk)
        if cut:
            self.request_body_cut = True

    @property
    def origin(self) -> str:
        """The origin the browser asked, as aiohttp's ``request.host`` gives it."""
        return self.origin_of(self.browser_request)

    def origin_of(self, fields: Headers) -> str:
        """``origin``, from the request's header fields already decoded."""
        return f"{self.scheme}://{field_value(fields, 'host') or self.authority}"

    @property
    def upstream_url(self) -> str:
        """Where the request went: "" until it was sent."""
        head = self.upstream_head
        if not isinstance(head, bytes):
            return self.upstream_origin
        line = head[:head.find(b"\r\n")].split(b" ")
        return self.upstream_origin + (line[1].decode("utf-8", "surrogateescape")
                                       if len(line) > 2 else "")

    def answered(self, head: bytes, content_type: str = "",
                 arrived: float | None = None) -> None:
        """The backend's response head arrived (``arrived``, a perf_counter() reading;
        now if not given): the time to first byte, the head, and its Content-Type. An
        event stream's events are shown; a type the page shows as size and type only
        has its bytes counted, not kept (keeping them cost memory and cache for nothing
        shown)."""
        self.ttfb_ms = ((time.perf_counter() if arrived is None else arrived)
                        - self._start) * 1000
        self._backend_response = head
        if content_type:
            shown = self._shown = _shown_as(content_type)
            if shown == _EVENTS:
                self._events_start()

    def _events_start(self) -> None:
        self.kind = "sse"
        # UTF-8 is the only charset of an event stream (HTML §9.2.5), and a character
        # may be split across writes (an LLM's tokens, streamed byte by byte).
        self._sse_decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        coding = (field_value(self.backend_response, "content-encoding") or "").strip().lower()
        if coding in ("gzip", "x-gzip", "deflate"):
            # Events are counted as they pass, so the stream is inflated as it passes.
            self._sse_inflate = zlib.decompressobj(15 if coding == "deflate" else 31)
        elif coding not in ("", "identity"):
            self._sse_inflate = False

    def download(self, chunk: bytes) -> None:
        size = len(chunk)
        self.bytes_out += size
        shown = self._shown
        if shown == _BINARY:
            return
        if shown == _EVENTS:
            self._sse(chunk)
        if not self.response_body and size <= self._tally.limit:
            # The usual case, a body that came whole: kept as it is, nothing to cut.
            self.response_body = chunk
            self._tally.kept += size
            return
        self.response_body, cut = _keep(self, self.response_body, chunk)
        if cut:
            self.response_body_cut = True

    def message(self, up: bool, start: bytes, size: int, binary: bool = False) -> None:
        """A WebSocket message of ``size`` bytes (its frames' payloads, as on the wire)
        went by; ``start`` is its beginning, ``binary`` its type (else text). Its bytes
        count as the body's each way. A binary one is shown as hex: as text it would be
        mojibake."""
        if up:
            self.ws_up += 1
            self.bytes_in += size
        else:
            self.ws_down += 1
            self.bytes_out += size
        if self.messages is None:
            self.messages = []
        self.messages.append({"up": up, "at": time.time(), "size": size, "binary": binary,
                              "text": start[:_HEX_PREVIEW].hex(" ")
                              + (" …" if len(start) > _HEX_PREVIEW else "")
                              if binary and start != COMPRESSED
                              else start.decode("utf-8", "replace")[:_PREVIEW]})
        del self.messages[:-_MESSAGES_KEPT]

    def _sse_unread(self) -> str | None:
        if self._sse_inflate is not False:
            return None
        coding = (field_value(self.backend_response, "content-encoding") or "").strip().lower()
        if coding in ("gzip", "x-gzip", "deflate"):
            return (f"the {coding} stream could not be inflated here (corrupt, or past "
                    f"{_SSE_INFLATED >> 20} MiB in one piece): the events that follow are "
                    f"not shown")
        return (f"the stream is {coding}-encoded, which the inspector does not decode (it "
                f"decodes gzip and deflate): the browser got the events, they are not "
                f"shown here")

    def _sse(self, chunk: bytes) -> None:
        inflate = self._sse_inflate
        if inflate is not None:
            if inflate is False:
                return  # br or another coding: the bytes are counted, events not shown
            try:
                chunk = inflate.decompress(chunk, _SSE_INFLATED)
            except zlib.error:
                self._sse_inflate = False
                return
            if inflate.unconsumed_tail:  # a piece that inflates past 1 MiB: stop there
                self._sse_inflate = False
        # An event ends at a blank line, wherever the writes fell (Express writes
        # "event:" and "data:" apart): what follows the last one waits for the next.
        piece = self._sse_decode(chunk)
        if piece and not self._sse_begun:
            # HTML §9.2.6: one leading U+FEFF of the stream is ignored.
            self._sse_begun = True
            piece = piece.removeprefix("\ufeff")
        # A line ends at CRLF, LF or CR (HTML §9.2.6), as the browser reads them: a CR at
        # once, and an LF right after it, even in the next write, is part of that end.
        # Nothing decoded yet (a character's first bytes) leaves the CR pending.
        if piece:
            if self._sse_after_cr and piece[0] == "\n":
                piece = piece[1:]
            self._sse_after_cr = piece.endswith("\r")
        text = (self._sse_rest + piece).replace("\r\n", "\n").replace("\r", "\n")
        *whole, rest = text.split("\n\n")
        # Bounded: the start for the preview, the end for a boundary split across writes.
        self._sse_rest = rest if len(rest) <= 2 * _PREVIEW else rest[:_PREVIEW] + rest[-1]
        if self.events is None:
            self.events = []
        for event in whole:
            if _DISPATCHED.search(event):
                self.events.append(event.strip()[:_PREVIEW])
                self.events_seen += 1
        del self.events[:-_MESSAGES_KEPT]

    def finish(self, status: int) -> None:
        self.status = status
        self.duration_ms = (time.perf_counter() - self._start) * 1000

    def relayed(self, backend_head: bytes, content_type: str, arrived: float,
                status: int, head: Fields, body: bytes) -> None:
        """The whole response came and went to the browser at once (most do): what
        ``answered`` takes, then the head as sent, the body, and the end. One call where
        a stream takes one per piece."""
        start = self._start
        # ``answered``, inline: this runs on most requests.
        self.ttfb_ms = (arrived - start) * 1000
        self._backend_response = backend_head
        if content_type:
            shown = self._shown = _shown_as(content_type)
            if shown == _EVENTS:
                self._events_start()
        self._browser_response = head if head.__class__ is bytes else _kept(head)
        self.status = status
        self.duration_ms = (time.perf_counter() - start) * 1000
        size, tally, shown = len(body), self._tally, self._shown
        # ``download``'s usual cases, inline: this runs on most requests.
        if shown == _BINARY:  # an image, a font, a wasm module: counted, not kept
            self.bytes_out += size
        elif shown == _TEXT and size <= tally.limit and not self.response_body:
            self.bytes_out += size
            self.response_body = body
            tally.kept += size
        else:
            self.download(body)

    # -- views -------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        # A WebSocket may be cross-origin but has no CORS check (``_cors_checks``), so
        # the page shows it no CORS badge. The fields are decoded once here: this runs
        # for every row an open page is sent.
        fields = self.browser_request
        origin = self._cross_origin(fields)
        checks = self._cors_checks(fields, origin) if origin is not None else None
        return {
            "id": self.id, "started": self.started, "method": self.method,
            "target": self.target, "route": self.route, "upstream_url": self.upstream_url,
            "kind": self.kind, "status": self.status, "error": self.error,
            "connect_ms": _round(self.connect_ms), "ttfb_ms": _round(self.ttfb_ms),
            "duration_ms": _round(self.duration_ms), "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "cross_origin": origin is not None,
            # A 200 the page never saw is not a success: the list marks it.
            "cors_blocked": checks is not None and not checks.verdict.ok,
            # Blocked only if sent with credentials, which its answer's granting them
            # suggests and nothing in the request shows: the list says so.
            "cors_if_credentials": checks is not None and bool(checks.assumed)
            and not checks.preflight,
            # devproxy's own refusal (a limit, a Host not allowed): the page's "error"
            # filter finds it among the 4xx a backend may answer for good reasons.
            "declined": self.declined is not None,
            "replay_of": self.replay_of,
        }

    def detail(self, cors_block: CorsPolicy | None = None,
               where: str = "devproxy.yaml", cors_off: CorsOff | None = None
               ) -> dict[str, Any]:
        """Everything kept. ``cors_block`` is devproxy's CORS policy for the request's
        route, now, and ``where`` the config file: the CORS fix then edits that block;
        ``cors_off``: the route turned the top-level block off (the fix undoes that)."""
        # Each head decoded once: a kept head is bytes or parsed pairs, decoded per read.
        request, upstream = self.browser_request, self.upstream_request
        backend, response = self.backend_response, self.browser_response
        origin = self.origin_of(request)
        return {
            **self.summary(),
            "remote": self.remote,
            "browser_request": request,
            "upstream_request": upstream,
            # Empty where there is no other side: not forwarded, or answered by devproxy.
            "request_changes": header_diff(request, upstream) if upstream else [],
            "backend_response": backend,
            "browser_response": response,
            "reason": self.reason(),  # the status line's, as the browser got it
            "response_changes": header_diff(backend, response) if backend else [],
            "request_body": body_view(self.request_body, self.request_body_cut,
                                      field_value(request, "content-type"), self.bytes_in),
            "response_body": self.response_view(),
            "websocket": {"up": self.ws_up, "down": self.ws_down,
                          "last": self.messages or [], "closed": self.ws_close}
            if self.kind == "websocket" else None,
            "sse_events": (self.events or []) if self.kind == "sse" else None,
            "sse_count": self.events_seen if self.kind == "sse" else None,
            # Why the events are not shown though the browser got them, or None.
            "sse_unread": self._sse_unread() if self.kind == "sse" else None,
            "cors": self.cors_verdict(cors_block, where, cors_off),
            "cookies": cookie_verdicts(
                [v for k, v in response if k.lower() == "set-cookie"],
                origin, field_value(request, "sec-fetch-site") or "",
                field_value(request, "sec-fetch-mode") or "",
                self._cross_origin(request) is not None,
                field_value(request, "cookie") is not None, field_value(request, "origin") or "",
                field_value(request, "sec-fetch-dest") or ""),
            "curl": {"browser": curl(self.method, origin + self.target, request,
                                     self.request_body, self.request_body_cut, self.bytes_in),
                     "upstream": curl(self.method, self.upstream_url, upstream,
                                      self.request_body, self.request_body_cut, self.bytes_in,
                                      insecure=self.insecure)
                     if self.upstream_url else None},
            "replay_refused": self.replay_refusal(request),
            # Its head was over HEAD_KEPT: the fields shown (and copied) are cut.
            "request_head_cut": self.head_cut or None,
        }

    def replay_refusal(self, fields: Headers | None = None) -> str | None:
        """Why the inspector's Replay would not send this request as it was sent (None:
        it would); ``fields``: its header fields, if already decoded. The page offers no
        Replay button then, and says this instead."""
        if self.kind == "websocket":
            return ("a WebSocket handshake is not replayed: the socket it opened would "
                    "have no page to talk to. Copy it as curl to try the handshake.")
        if self.request_body_cut:
            why = ("was larger than the inspector keeps" if self.request_body else
                   "is no longer kept (the oldest bodies go first)")
            return f"the body {why}; cannot replay"
        if self.head_cut:
            return (f"its header fields came to {self.head_cut} bytes, more than the "
                    f"inspector keeps ({HEAD_KEPT >> 10} KiB): kept cut, so not replayed")
        fields = self.browser_request if fields is None else fields
        odd = [k for k, v in fields if holds_bytes(v)]
        if odd:
            # aiohttp's client writes a header value as UTF-8: it would drop the byte, and
            # the backend would get another request than the browser sent.
            return (f"{', '.join(odd)} held bytes that are not UTF-8, which devproxy's "
                    "client cannot send as they were: not replayed. Copy it as curl: that "
                    "sends them.")
        return None

    def response_view(self) -> dict[str, Any] | None:
        # The backend's head says what its body is; devproxy's own answers have only
        # the head the browser got, and so does one devproxy gave in the backend's place
        # (a 502 for an invalid 101: another status than the backend's).
        head = self.backend_response if self._backend_response and (
            not self.status or self._backend_status() in (None, self.status)) \
            else self.browser_response
        content_type = field_value(head, "content-type") or ""
        if self._shown == _BINARY:
            return {"type": content_type.split(";")[0].strip().lower(),
                    "size": self.bytes_out, "truncated": False, "binary": True}
        body: bytes | bytearray = self.response_body
        if self.kind == "static" and not body and self.bytes_out:
            # Sent from the file (sendfile), never held: said, not shown as no body.
            return {"type": content_type.split(";")[0].strip().lower(),
                    "size": self.bytes_out, "truncated": False, "binary": False,
                    "file": True}
        encoding = field_value(head, "content-encoding")
        stopped = False  # decoded only up to DECODED_LIMIT
        if encoding and body:
            # Kept as relayed; decoded only to be shown (the browser decodes it too).
            decoded = decode_body(body, encoding)
            if decoded is None:
                undecoded: dict[str, Any] = {
                    "type": content_type.split(";")[0].strip().lower(), "size": len(body),
                    "truncated": self.response_body_cut, "binary": True,
                    "encoding": encoding, "undecoded": True}
                if self.response_body_cut:
                    undecoded["kept"], undecoded["total"] = len(body), self.bytes_out
                return undecoded
            body, stopped = decoded
        view = body_view(body, self.response_body_cut or stopped, content_type,
                         self.bytes_out, dropped=not self.response_body)
        if view is not None and encoding:
            view["encoding"] = encoding
            if "kept" in view:
                view["kept"] = len(self.response_body)  # the coded bytes, as is the total
            if stopped:  # shown as cut: the text is not the whole body
                view["decoded_cut"] = DECODED_LIMIT
        return view

    def _cross_origin(self, fields: Headers | None = None) -> str | None:
        """The request's Origin if it is not the origin it asked (``fields``: its
        header fields, if already decoded)."""
        fields = self.browser_request if fields is None else fields
        origin = field_value(fields, "origin")
        return None if origin is None or origin == self.origin_of(fields) else origin

    def _cors_checks(self, fields: Headers | None = None, origin: str | None = None
                     ) -> _CorsChecks | None:
        """The browser's CORS check of this response, for a request that had one
        (``fields`` and its cross ``origin``, if already read)."""
        # No CORS for WebSockets: the server checks Origin itself (RFC 6455 §10.2).
        if not self.status or self.kind == "websocket":
            return None
        fields = self.browser_request if fields is None else fields
        origin = origin or self._cross_origin(fields)
        # Only a request in CORS mode is checked (Fetch §4.1 "main fetch", step 12): not
        # a navigation (a cross-site form POST, an OpenID form_post callback), whose page
        # the browser shows, nor a no-cors fetch, whose opaque answer raises no error.
        if origin is None or (field_value(fields, "sec-fetch-mode") or "").lower() in _NOT_CORS:
            return None
        return _CorsChecks(self, origin, fields)

    def cors_verdict(self, cors_block: CorsPolicy | None = None,
                     where: str = "devproxy.yaml", cors_off: CorsOff | None = None
                     ) -> dict[str, Any] | None:
        """What the browser made of the response, by the checker ``devproxy doctor`` uses."""
        checks = self._cors_checks()
        if checks is None:
            return None
        origin, credentials, verdict = checks.origin, checks.credentials, checks.verdict
        check = checks.check
        out: dict[str, Any] = {"origin": origin, "allowed": verdict.ok,
                               "credentials": credentials, "reason": verdict.reason}
        if verdict.warning:  # allowed by Chromium, not by the standard
            out["warning"] = verdict.warning
        notes = _preflight_notes(self, checks) if checks.preflight else None
        if notes is not None:
            out["note"] = notes[0]
        elif checks.assumed:
            out["note"] = (f"No cookie was sent, as none is until the page has one (a first "
                           f"login). Taken as sent with credentials ({_MODE}): "
                           f"{checks.assumed}.")
        if checks.assumed:
            out["headline"] = (f"Blocked for {origin} if the request is sent with "
                               f"credentials (cookies)")
        at = block_at(where, cors_block)
        stack = stack_of(self.backend_response)  # its fix first
        # In CORS mode the headers the browser checked are devproxy's (it answers
        # preflights, and replaces the backend's, or adds its own where the backend
        # sent none): the backends' fixes would change nothing.
        ours = cors_block is not None and (
            self.kind == "preflight" or cors_block.backend_cors == "replace"
            or field_value(self.backend_response, "access-control-allow-origin") is None)
        if not verdict.ok:
            ask = checks.ask(credentials)
            explained = _explained(verdict, ask, cors_block, where, cors_off, stack)
            out.update(explained)
            if self.declined is not None:
                out.update(declined_by_devproxy(*self.declined))
            elif (said := self._no_backend()) is not None:
                if ours:  # its error got the block's headers, and they do not pass
                    assert cors_block is not None
                    said["cause"] += " " + answered_by_devproxy(verdict, ask, cors_block, at)
                else:
                    said["cause"] += (f" With no cors: block "
                                      f"{'on the route' if self.route else 'at the top level'}"
                                      ", that error has no CORS headers, so the page sees "
                                      "only a CORS failure: a cors: block lets the page "
                                      "read devproxy's errors (README, CORS mode).")
                out["cause"] = said["cause"]
                out["fixes"] = said["fixes"] + only_devproxy(explained["fixes"])
            elif self.kind == "static" or self.from_static:
                # no block can fix it: say so, not to add one
                out.update(from_static_folder(self.route))
            elif self.refused is not None:
                # Not the backend's doing: it never saw the preflight.
                said = refused_by_devproxy(self.refused, where, cors_block)
                out["cause"] = said["cause"]
                out["fixes"] = said["fixes"] if said["fixes"] is not None else \
                    only_devproxy(explained["fixes"])
            elif ours:
                assert cors_block is not None
                out["cause"] = answered_by_devproxy(verdict, ask, cors_block, at)
                out["fixes"] = only_devproxy(explained["fixes"])
        elif not credentials and not (strict := check(True)).ok:
            ask = checks.ask(True)
            explained = _explained(strict, ask, cors_block, where, cors_off, stack)
            if ours:
                assert cors_block is not None
                explained = {"cause": answered_by_devproxy(strict, ask, cors_block, at),
                             "fixes": only_devproxy(explained["fixes"])}
            out["with_credentials"] = {"reason": strict.reason, **explained}
            if notes is not None:
                out["with_credentials"]["note"] = notes[1]
        return out

    def _no_backend(self) -> dict[str, Any] | None:
        """The cause and fixes where no backend answered: devproxy's own 502 or 504, or
        its 404 for a path no route matches; None where a backend did."""
        if self.failed is not None:
            return failed_in_devproxy(self.status, *self.failed)
        if self.unrouted is not None:
            return unrouted_in_devproxy(*self.unrouted)
        return None

    def awaits_request(self) -> bool:
        """Whether this is a browser's preflight whose answer passes only without
        credentials, the request it was for not yet looked for: whether that request
        follows tells which the page asked for (``Captures.settle``, ``FOLLOW_WAIT``
        later)."""
        if self.kind != "preflight" or self.followed is not None:
            return False
        fields = self.browser_request
        # Not a browser's (no Sec-Fetch-Mode): doctor --preflight-only, or curl, sends
        # nothing after it.
        if field_value(fields, "sec-fetch-mode") is None:
            return False
        checks = self._cors_checks(fields)
        return checks is not None and checks.undecided


class _CorsChecks:
    """What a browser checks of one cross-origin response (Fetch §4.8, §4.9), and the
    verdict for the credentials mode its request showed."""

    def __init__(self, record: Record, origin: str, browser_request: Headers) -> None:
        self.origin, self._record = origin, record
        # A request that carries a cookie was sent with credentials; one that carries
        # none may have been too (fetch's credentials: "include" with no cookie yet, as
        # at a first login, and every preflight), which nothing in it says. Not so an
        # Authorization header: a page sets it itself (a bearer token) in any mode, and
        # it needs Access-Control-Allow-Headers, not credentials (Fetch §3.2.5).
        self.credentials = any(k.lower() == "cookie" for k, _ in browser_request)
        self.preflight = record.kind == "preflight"
        if self.preflight:
            self.method = field_value(browser_request, "access-control-request-method") or ""
            self.unsafe = [h.lower() for h in cors.header_list(
                field_value(browser_request, "access-control-request-headers"))]
        else:
            self.method, self.unsafe = record.method, []
        self._response = response = record.browser_response
        self.verdict = self.check(self.credentials)
        self.assumed = ""  # why the request is taken as sent with credentials
        self.undecided = False  # passes only without, and the browser's next move unseen
        # Whether credentials decide a preflight's verdict: it passes without them and
        # fails with them (never the other way: with them the checks only get stricter).
        self.by_credentials = False
        if self.preflight:
            # A preflight never carries credentials, whatever its request will (Fetch
            # §4.8): where its answer passes only without them, the answer and what the
            # browser did next tell which the page asked for.
            if self.verdict.ok and not (strict := self.check(True)).ok:
                self.by_credentials = True
                self.undecided = record.followed is None
                self.assumed = _shown_credentials(record, response)
                if self.assumed:
                    self.credentials, self.verdict = True, strict
        elif not self.credentials and self.verdict.ok \
                and field_value(response, "access-control-allow-credentials") == "true" \
                and not (strict := self.check(True)).ok:
            # No cookie, and an answer that passes only without credentials ("*") yet
            # grants them: taken as sent with them, as a preflight's answer is. A
            # credentialed fetch() carries no cookie until it has one (a first login).
            self.assumed = GRANTS_CREDENTIALS
            self.credentials, self.verdict = True, strict

    def ask(self, credentials: bool) -> Ask:
        """The request as the fixes see it, sent with ``credentials`` or not; for a
        preflight, with what its answer allowed, which the fixes keep."""
        lists = cors.allowed_lists(self._response) if self.preflight else (None, None)
        return Ask(self.origin, self.method, tuple(self.unsafe), credentials, *lists)

    def check(self, include: bool) -> cors.Verdict:
        """The verdict had the request been sent with credentials (``include``) or not."""
        if self.preflight:
            return cors.preflight_check(self.origin, self.method, self.unsafe, include,
                                        self._record.status, self._response)
        return cors.cors_check(self.origin, include, self._response)


def _shown_credentials(record: Record, answer: Headers) -> str:
    """Why a preflight whose answer passes only without credentials is taken to be for a
    request sent with them; "" if nothing shows it."""
    if record.followed:  # the browser sent it: the preflight passed for its mode
        return ""
    if record.followed == 0:
        return (f"the browser sent no request after it (none within {FOLLOW_WAIT:g} s), "
                "where one that passed it sends the request at once")
    if field_value(answer, "access-control-allow-credentials") == "true":
        return GRANTS_CREDENTIALS
    return ""


# Why a request whose answer grants credentials is taken as sent with them.
GRANTS_CREDENTIALS = ("its answer says Access-Control-Allow-Credentials: true, which only "
                      "a request sent with credentials needs")
_MODE = "fetch's credentials: 'include', withCredentials"


def _preflight_notes(record: Record, checks: _CorsChecks) -> tuple[str, str] | None:
    """What a preflight's verdict says of credentials, and what its "blocked if sent with
    credentials" card says: never that cookies were or were not sent, as a request's
    verdict does, since a preflight carries none whatever the page asked for. None where
    credentials do not decide it: a preflight that fails either way has its reason, and
    nothing to say of credentials."""
    never = "A preflight never carries cookies, whatever the page asked for"
    mode = _MODE
    if not checks.by_credentials:
        if not checks.verdict.ok:
            return None
        return (f"{never}: this answer passes either way, with credentials or without.", "")
    if checks.assumed:
        return (f"{never}. Taken as sent with credentials ({mode}): {checks.assumed}.", "")
    if record.followed:
        return (f"{never}; the browser then sent the request it was for (#{record.followed}), "
                f"so this answer passed for that request's credentials mode.",
                f"The request it was for (#{record.followed}) followed, so the page sent it "
                f"without credentials. Were it sent with them ({mode}), the browser would "
                f"stop at this preflight and never send it.")
    return (f"{never}: this answer passes for a request sent without credentials.",
            f"{never}, so nothing in it says whether the request will be sent with "
            f"credentials ({mode}). If it is, the browser stops at this preflight and "
            f"never sends it.")


def _explained(verdict: cors.Verdict, ask: Ask, cors_block: CorsPolicy | None,
               where: str, off: CorsOff | None = None, stack: str = "") -> dict[str, Any]:
    return {"cause": cause(verdict, ask),
            "fixes": [{"tool": f.tool, "text": f.text}
                      for f in fixes(verdict, ask, cors_block, where, off, stack)]}


def _keep(record: Record, body: bytes | bytearray, chunk: bytes
          ) -> tuple[bytes | bytearray, bool]:
    """``body`` (one of ``record``'s) with what fits of ``chunk`` appended, and whether
    anything was cut."""
    room = record._tally.limit - len(body)
    if room <= 0:
        return body, bool(chunk)
    kept = chunk[:room]  # the chunk itself when it all fits
    record._tally.kept += len(kept)
    if not body:
        body = kept
    else:
        if isinstance(body, bytes):
            body = bytearray(body)
        body += kept
    return body, len(chunk) > room


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class Captures:
    """The last ``history`` records, and the callbacks told about each change."""

    def __init__(self, history: int = 500, body_limit: int = 64 * 1024,
                 body_budget: int = BODY_BUDGET) -> None:
        self.history = history
        self.body_limit = body_limit
        self.since = time.time()  # tells a page a restarted devproxy (ids begin again)
        self.body_budget = body_budget
        # A ring indexed by id: record n is at n % history until record n + history
        # takes its place. One list read and write per request.
        self._ring: list[Record | None] = [None] * history
        self._newest = 0  # the last id given
        # Body bytes are counted in one of three tallies. A record is counted in
        # ``_tally`` while it is in the ring and keeps its bodies; in ``_evicted`` once
        # it left the ring (a stream still open fills it on, uncounted); in ``_spent``
        # (a limit of 0: nothing more is kept) once trimming took its bodies.
        self._tally = _Tally(body_limit)
        self._evicted = _Tally(body_limit)
        self._spent = _Tally(0)
        self._trimmed = 0  # records up to this id are trimmed or evicted
        self.listeners: list[Callable[[str, Record], None]] = []
        self.on_clear: list[Callable[[], None]] = []

    def start(self, method: str, target: str, peer: Any, headers: Fields,
              start: float | None = None, route: str = "") -> Record:
        """A new record of a request from ``peer`` (the transport's peername, kept as it
        is: ``Record.remote``); ``start`` is the request's perf_counter() reading, if
        taken; ``route`` the path of the route it matched, if any."""
        self._newest = record_id = self._newest + 1
        tally = self._tally
        # Every slot set here, not in an __init__: a second Python frame per request
        # cost 1,200 instructions (callgrind).
        record = _new(Record)
        record.id = record_id
        record.started = time.time()
        record._start = time.perf_counter() if start is None else start
        record.method, record.target, record._peer = method, target, peer
        try:
            record._browser_request = _pack(headers if headers.__class__ is tuple
                                            else pairs(_kept(headers)), _PACK_VERSION)
        except ValueError:  # marshal takes no subclass: multidict's istr names, say
            record._browser_request = _pack(
                tuple((str(n), str(v)) for n, v in pairs(_kept(headers))), _PACK_VERSION)
        if len(record._browser_request) > HEAD_KEPT:
            record._cut_head()
        record._tally = tally
        record.route, record.upstream_origin = route, ""
        record.upstream_head = record._backend_response = record._browser_response = ()
        record.status = record.bytes_in = record.bytes_out = 0
        record.connect_ms = record.ttfb_ms = None
        record.duration_ms = None  # None while still open (streams, sockets)
        # bytes until a second piece arrives: a body that comes whole (most do) is kept
        # by reference, never copied.
        record.request_body = record.response_body = b""
        record._shown = _TEXT
        ring, slot = self._ring, record_id % self.history
        old = ring[slot]
        ring[slot] = record
        if old is not None and old._tally is tally:
            # Its bodies stop counting, and so does a stream still filling it (an SSE
            # or an upload). Freed with it unless something still holds it.
            tally.kept -= len(old.request_body) + len(old.response_body)
            old._tally = self._evicted
        if tally.kept > self.body_budget:
            self.trim_bodies()
        if self.listeners:
            self._tell("request", record)
        return record

    def trim_bodies(self) -> None:
        """Forget the oldest bodies once all kept bodies pass ``body_budget`` bytes.

        500 requests x 64 KiB each way would be 64 MiB; the headers, timings and
        verdicts of old requests are kept, their bodies go first. Oldest first, so one
        walk from where the last one stopped: each record is passed once.
        """
        tally, ring, history = self._tally, self._ring, self.history
        record_id = max(self._trimmed, self._newest - history)
        while tally.kept > self.body_budget and record_id < self._newest:
            record_id += 1
            record = ring[record_id % history]
            if record is not None and record._tally is tally:
                _forget_bodies(record)
                record._tally = self._spent
            self._trimmed = record_id

    def done(self, record: Record) -> None:
        # Not of a record no longer kept (cleared, or out of the ring while a stream
        # went on): the page would list it again, and find nothing behind the row.
        if self.listeners and self.get(record.id) is record:
            self._tell("update", record)

    def settle(self, preflight: Record) -> None:
        """Note which request followed ``preflight`` (``Record.followed``: 0 for none),
        ``FOLLOW_WAIT`` after its answer, and tell the listeners: its verdict for the
        page's credentials mode may change with it."""
        if self.get(preflight.id) is not preflight:
            return  # cleared, or out of the ring
        fields = preflight.browser_request
        origin = field_value(fields, "origin")
        method = field_value(fields, "access-control-request-method")
        preflight.followed = 0
        for record_id in range(preflight.id + 1,
                               min(self._newest, preflight.id + _FOLLOW_SCAN) + 1):
            record = self.get(record_id)
            if record is not None and record.kind != "preflight" \
                    and record.method == method and record.target == preflight.target \
                    and field_value(record.browser_request, "origin") == origin:
                preflight.followed = record_id
                break
        self.done(preflight)

    def _tell(self, event: str, record: Record) -> None:
        for listener in list(self.listeners):
            listener(event, record)

    def get(self, record_id: int) -> Record | None:
        if not self._newest - self.history < record_id <= self._newest:
            return None
        return self._ring[record_id % self.history]

    @property
    def newest_id(self) -> int:
        """The id the last request was given (0: none yet)."""
        return self._newest

    def newest_first(self) -> list[Record]:
        ring, history = self._ring, self.history
        ids = range(self._newest, max(self._newest - history, 0), -1)
        kept = (ring[i % history] for i in ids)
        return [record for record in kept if record is not None]

    def still_open(self) -> list[Record]:
        """The records of requests not yet ended (streams, sockets), newest first."""
        return [record for record in self.newest_first() if record.duration_ms is None]

    def clear(self) -> None:
        """Forget every kept request, and tell each ``on_clear`` (the open pages)."""
        for record in self._ring:
            if record is not None and record._tally is self._tally:
                _forget_bodies(record)
                record._tally = self._evicted
        self._ring = [None] * self.history
        self._trimmed = self._newest
        for cleared in self.on_clear:
            cleared()


def kept_head(head: bytes) -> bytes:
    """A request head as a record keeps it: whole up to ``HEAD_KEPT`` bytes, past that
    its request line, each field's value cut to ``_VALUE_KEPT`` bytes, and the fields
    that fit."""
    if len(head) <= HEAD_KEPT:
        return head
    line, _, rest = head.partition(b"\r\n")
    out, size = [line], len(line)
    for field in rest.split(b"\r\n"):
        if not field:
            continue
        name, sep, value = field.partition(b": ")  # as h1.request_head writes it
        if len(value) > _VALUE_KEPT:
            value = value[:_VALUE_KEPT] + "…".encode()
        size += len(name) + len(value) + 4
        if size > HEAD_KEPT:
            break
        out.append(name + sep + value)
    return b"\r\n".join(out) + b"\r\n\r\n"


def _status_line(head: bytes) -> list[bytes]:
    """A response head's status line, as [version, status, reason] (fewer if absent)."""
    end = head.find(b"\r\n")
    return (head if end < 0 else head[:end]).split(b" ", 2)


def _kept(fields: Fields) -> Kept:
    kind = fields.__class__
    if kind is bytes or kind is tuple or kind is list:  # the usual cases, checked cheaply
        return fields  # type: ignore[return-value]
    if isinstance(fields, (bytes, tuple, list)):  # their subclasses
        return fields
    # Names are tokens and values hold no CR or LF (llhttp, h1 and the config loader
    # refuse them), so lines split back exactly.
    return "\n".join(map(": ".join, fields.items()))


def pairs(fields: Kept) -> Headers:
    """A kept header section as (name, value) pairs, in order."""
    if isinstance(fields, tuple):
        if fields and isinstance(fields[0][0], bytes):  # as parsed: decoded as aiohttp does
            return tuple((name.decode("utf-8", "surrogateescape"),
                          value.decode("utf-8", "surrogateescape"))
                         for name, value in fields)
        return fields  # type: ignore[return-value]
    if isinstance(fields, bytes):
        return tuple(h1.fields_of(fields))
    if isinstance(fields, str):
        return tuple((name, value) for name, _, value in
                     (line.partition(": ") for line in fields.split("\n"))) if fields else ()
    return tuple(fields)


def _forget_bodies(record: Record) -> None:
    """Drop ``record``'s bodies, marked cut, and stop counting them."""
    record._tally.kept -= len(record.request_body) + len(record.response_body)
    if record.request_body:
        record.request_body, record.request_body_cut = b"", True
    if record.response_body:
        record.response_body, record.response_body_cut = b"", True


# -- pure views ------------------------------------------------------------------------


# json.dumps writes a byte kept as a lone surrogate (``surrogateescape``: a header's
# obs-text, RFC 9110 §5.5) as "\udcXX", which the page shows as U+FFFD and strict JSON
# readers refuse. Read escape by escape from the left, so that an escaped backslash
# (text that only looks like one) and the low half of a character past U+FFFF (an
# emoji, written as a pair "\ud83d\udca9") are left alone.
_BYTE_ESCAPE = re.compile(r"\\\\|\\ud[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2}|\\udc([89a-f][0-9a-f])")


def _byte_as_latin1(match: re.Match[str]) -> str:
    byte = match[1]
    return match[0] if byte is None else "\\u00" + byte


def to_json(value: Any) -> str:
    """``value`` as JSON for the page, a byte that is not UTF-8 shown as the Latin-1
    character it stands for (as browsers' DevTools show such header bytes)."""
    text = json.dumps(value)
    return _BYTE_ESCAPE.sub(_byte_as_latin1, text) if "\\udc" in text else text


def header_diff(before: Sequence[tuple[str, str]], after: Sequence[tuple[str, str]]
                ) -> list[dict[str, Any]]:
    """What changed between two header lists, by lower-cased name."""
    def grouped(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in headers:
            out.setdefault(name.lower(), []).append(value)
        return out

    old, new = grouped(before), grouped(after)
    changes = []
    for name in [*old, *(n for n in new if n not in old)]:
        if name not in new:
            changes.append({"name": name, "change": "removed", "before": old[name]})
        elif name not in old:
            changes.append({"name": name, "change": "added", "after": new[name]})
        elif old[name] != new[name]:
            changes.append({"name": name, "change": "changed", "before": old[name],
                            "after": new[name]})
    return changes


def body_view(body: bytes | bytearray, cut: bool, content_type: str | None, total: int = 0,
              forms: bool = True, dropped: bool | None = None) -> dict[str, Any] | None:
    """How the page shows a body: text (JSON also re-indented, ``pretty``), an upload form's
    parts (unless not ``forms``), or size and type. A body cut at the capture limit says
    so with ``total``, the bytes that went by; one dropped whole (the memory budget,
    ``Captures.trim_bodies``) is ``dropped``, so it never reads as an empty body. That
    is what a cut body with nothing kept is, unless ``dropped`` says otherwise (a coded
    body kept too short to decode into anything)."""
    if not body and not cut:
        return None
    kind = (content_type or "").split(";")[0].strip().lower()
    view: dict[str, Any] = {"type": kind, "size": len(body), "truncated": cut}
    if cut:  # bytes kept and sent as relayed (for a coded body, not what is shown)
        view["kept"], view["total"] = len(body), total
    if not body if dropped is None else dropped:
        view.update(dropped=True, binary=False)
        return view
    # A NUL is no text's (a zero-filled file, a bomb of zeros): each would be six
    # characters of JSON, \u0000, for nothing the page can show.
    textual = shown_as_text(kind) and b"\x00" not in body
    if textual:
        text = _text_of(bytes(body), content_type or "", cut)
        if text is None:
            textual = False
            # Text with a few bytes that are not UTF-8 (a mangled character): shown,
            # those bytes as U+FFFD, and said so. Its bytes stay binary (HAR, curl).
            shown = _with_bad_bytes(bytes(body), content_type or "")
            if shown is not None:
                view["lossy"], view["bad_bytes"] = shown
        else:
            view["text"] = text
            if "json" in kind:  # shown re-indented, its tokens as sent; a cut one too
                pretty = indent_json(text, partial=cut)
                if pretty is not None and pretty != text:
                    view["pretty"] = pretty
    view["binary"] = not textual
    if forms and not textual and kind == "multipart/form-data":
        form = form_parts(bytes(body), content_type or "", cut)
        if form is not None:
            view["parts"], more = form
            if more:
                view["parts_more"] = more
    return view


_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([\w.:-]+)", re.IGNORECASE)


_WINDOWS_1252 = frozenset({"ascii", "us-ascii", "iso-8859-1", "iso8859-1", "iso_8859-1",
                           "latin1", "latin-1", "l1", "cp1252", "windows-1252", "x-cp1252",
                           "cp819", "ibm819", "iso-ir-100", "csisolatin1", "ansi_x3.4-1968"})


def _text_of(body: bytes, content_type: str, cut: bool) -> str | None:
    """``body`` as text in the charset its type names (UTF-8 if none, or one Python
    does not know), None if it is not. A body cut at the capture limit may end inside a
    character: it is text up to there."""
    named = _CHARSET.search(content_type)
    charset = named.group(1).lower() if named else "utf-8"
    # The WHATWG Encoding Standard reads these labels as windows-1252, as browsers do.
    charset = "cp1252" if charset in _WINDOWS_1252 else charset
    try:
        if not codecs.lookup(charset)._is_text_encoding:  # hex, base64, zlib: bytes
            charset = "utf-8"
    except LookupError:
        charset = "utf-8"
    try:
        return body.decode(charset)
    except UnicodeDecodeError as exc:
        # The first error is the cut's (a character's bytes at most 4): all before it
        # decoded.
        if cut and exc.end == len(body) and len(body) - exc.start < 4:
            return body[:exc.start].decode(charset)
        if charset == "cp1252":  # the five bytes Python's cp1252 leaves out: C1 controls
            return _KEPT_BYTE.sub(lambda byte: chr(ord(byte.group()) - 0xDC00),
                                  body.decode(charset, "surrogateescape"))
        return None
    except UnicodeError:  # a codec that decodes nothing ("undefined")
        return None


_BAD_BYTE = re.compile("[\udc80-\udcff]")


def _with_bad_bytes(body: bytes, content_type: str) -> tuple[str, int] | None:
    """A text body in UTF-8 (named, or no charset) that a few bytes keep from decoding
    (at most 8, or one in 64): its text with each such byte as U+FFFD, and how many."""
    named = _CHARSET.search(content_type)
    if named and named.group(1).lower() not in ("utf-8", "utf8"):
        return None
    text = body.decode("utf-8", "surrogateescape")
    bad = len(_BAD_BYTE.findall(text))
    if not 0 < bad <= max(8, len(body) // 64) or "\x00" in text:
        return None
    return _BAD_BYTE.sub("\ufffd", text), bad


_KEPT_BYTE = re.compile("[\udc80-\udcff]")


def holds_bytes(text: str) -> bool:
    """Whether ``text`` holds a byte that was not UTF-8, kept as a lone surrogate."""
    return _KEPT_BYTE.search(text) is not None


DECODED_LIMIT = 1024 * 1024  # bytes of a compressed body decoded to show it


def decoded_body(body: bytes | bytearray, encoding: str) -> bytes | None:
    """A ``Content-Encoding: gzip`` or ``deflate`` body decoded, as far as it goes (a body
    cut at the capture limit decodes up to the cut; at most ``DECODED_LIMIT`` bytes,
    so a bomb stays small); None for any other coding (br, zstd, several)."""
    decoded = decode_body(body, encoding)
    return None if decoded is None else decoded[0]


def decode_body(body: bytes | bytearray, encoding: str) -> tuple[bytes, bool] | None:
    """``decoded_body``, and whether it stopped at ``DECODED_LIMIT`` with more to come."""
    coding = encoding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        tries = [16 + zlib.MAX_WBITS]
    elif coding == "deflate":
        # RFC 9110 §8.4.1.2 says zlib's format; some servers send raw deflate.
        tries = [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    else:
        return None
    for wbits in tries:
        decoder = zlib.decompressobj(wbits)
        try:
            decoded = decoder.decompress(bytes(body), DECODED_LIMIT)
        except zlib.error:
            continue
        if len(decoded) < DECODED_LIMIT:
            return decoded, False
        try:  # at the limit: whole if what is left (a gzip trailer, say) gives no more
            return decoded, bool(decoder.decompress(decoder.unconsumed_tail, 1))
        except zlib.error:
            return decoded, True
    return None


@functools.lru_cache(maxsize=256)
def shown_as_text(content_type: str) -> bool:
    """Whether the page shows a body of this type as text (else as size and type).

    Asked once per response, of a handful of distinct values: remembered (a fifth of
    the cost of working it out)."""
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith("text/") or kind.endswith(("json", "xml", "javascript")) or \
        kind in ("application/x-www-form-urlencoded", "")


@functools.lru_cache(maxsize=256)
def _shown_as(content_type: str) -> int:
    """How the page shows a response body of this Content-Type: as text, as size and
    type only (binary), or as the events of an event stream."""
    # RFC 9110 §8.3.1: the type and subtype are case-insensitive.
    if content_type.split(";")[0].strip().lower() == "text/event-stream":
        return _EVENTS
    return _TEXT if shown_as_text(content_type) else _BINARY
