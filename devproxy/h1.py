"""HTTP/1.1 on the upstream side, as pure functions over bytes: no sockets, no asyncio.

Owns the bytes devproxy writes to a backend (``request_head``, ``chunk``) and how it
reads what comes back: ``parse_head`` turns one response head into a ``Head`` with its
message framing decided (RFC 9112 §6.3), and ``ChunkedDecoder`` undoes chunked
transfer coding incrementally. ``pool`` drives these over real connections.

Why devproxy's own: aiohttp's client spends most of a small proxied request's CPU in
per-request machinery a reverse proxy doesn't use (cookie jar, URL rebuilding, auto
headers, redirects, response objects). A proxy needs a head parser and two framings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .config import TOKEN

# A backend's big Set-Cookie (JWTs) must not become a 502: what Chromium reads from a
# server directly (its response-head limit), devproxy reads too.
HEAD_LIMIT = 256 * 1024
_CHUNK_LINE_LIMIT = 4096  # size plus extensions (RFC 9112 §7.1.1)
_TRAILER_LIMIT = 64 * 1024
# CR, LF and NUL: what splits a head written on (RFC 9112 §2.2, RFC 9110 §5.5).
BREAKS_LINE = re.compile(r"[\x00\r\n]")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_NO_BODY_STATUS = frozenset({204, 304})


# What to do about a response devproxy refused (a 502's hint), by what was wrong with it.
BROKE_RULES = ("the backend speaks HTTP, but this response breaks RFC 9112 and cannot "
               "be relayed safely: fix it in the backend")
NOT_HTTP = "is the target an HTTP server on that port?"


class ParseError(ValueError):
    """The backend sent something that is not a valid HTTP/1.x response (a 502);
    ``hint`` says what to do about it."""

    def __init__(self, message: str, hint: str = BROKE_RULES) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(slots=True)
class Head:
    """One response head and the framing of the body that follows it.

    ``length`` is the body size for a Content-Length (or bodiless) response and None
    otherwise; then ``chunked`` says whether chunked coding ends it or the connection's
    close does. ``reusable`` is False when the connection cannot carry another request.
    """

    status: int
    reason: str
    headers: list[tuple[str, str]]
    length: int | None
    chunked: bool
    reusable: bool
    block: bytes = b""  # the head as received, without its blank line (the inspector's)
    # Some field held bytes that are not UTF-8 (obs-text, RFC 9110 §5.5): kept in the
    # strings as surrogates, which must be encoded back with surrogateescape.
    escaped: bool = False
    # Seconds the backend keeps an idle connection open, from its Keep-Alive field.
    keep_alive: float | None = None


def request_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The request line and header section, ready to write (RFC 9112 §3, §5).

    ``headers`` come from ``headers.request_headers``: names are tokens and values were
    checked for CR/LF by llhttp (browser's) or the config loader (route's).
    """
    fields = "".join([f"{name}: {value}\r\n" for name, value in headers])
    return f"{method} {target} HTTP/1.1\r\n{fields}\r\n".encode("utf-8", "surrogateescape")


def response_head(status: int, reason: str, headers: Iterable[tuple[str, str]],
                  version: str = "HTTP/1.1") -> bytes:
    """A response head, ready to write (a 1xx ahead of the final one) or to show as
    written (RFC 9112 §4). Values may hold a backend's obs-text, kept as surrogates
    (``Head.escaped``)."""
    fields = "".join([f"{name}: {value}\r\n" for name, value in headers])
    return f"{version} {status} {reason}\r\n{fields}\r\n".encode("utf-8", "surrogateescape")


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of chunked transfer coding (RFC 9112 §7.1)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def head_end(buffer: bytes | bytearray, start: int = 0) -> tuple[int, int]:
    """Where the head in ``buffer`` ends: (end of header section, start of body).

    (-1, -1) while the blank line has not arrived. RFC 9112 §2.2 lets a recipient take a
    bare LF as a line end (ignoring a CR before it), and some small test servers do send
    them: the blank line is CRLF or LF, after a last field ended by either.
    """
    # "\n\r\n" is the end of "\r\n\r\n", and of a bare LF then CRLF.
    end = buffer.find(b"\n\r\n", start)
    if end >= 0:
        bare = buffer.find(b"\n\n", start, end)
        body = bare + 2 if bare >= 0 else end + 3
        end = bare if bare >= 0 else end
    else:
        end = buffer.find(b"\n\n", start)
        if end < 0:
            return -1, -1
        body = end + 2
    if end and buffer[end - 1] == 13:  # the last line's own CR is not part of the head
        end -= 1
    return end, body


def _idle_timeout(field: str) -> float | None:
    """The ``timeout`` parameter of a Keep-Alive field (RFC 2068 §19.7.1.1, as Node
    and Apache send it): how long the server keeps an idle connection."""
    for part in field.split(","):
        name, _, value = part.partition("=")
        if name.strip().lower() == "timeout":
            try:
                seconds = float(value.strip().strip('"'))
            except ValueError:
                return None
            return seconds if seconds >= 0 and seconds == seconds else None
    return None


def parse_head(block: bytes, *, method: str) -> Head:
    """Parse a response head (without its blank line) sent in answer to ``method``.

    Raises:
        ParseError: a malformed status line or field, or a Content-Length that does
            not give one length.
    """
    try:
        text, escaped = block.decode("utf-8"), False
    except UnicodeDecodeError:
        text, escaped = block.decode("utf-8", "surrogateescape"), True
    status_line, _, fields = text.partition("\n")
    status_line = status_line.rstrip("\r")
    if "\r" in status_line or "\x00" in status_line:
        # A bare CR would split the head devproxy writes, a 1xx's included (RFC 9112
        # §2.2); NUL is as dangerous (RFC 9110 §5.5). Other control characters in a
        # reason phrase are invalid too (§4) but harmless, and relayed as sent.
        raise ParseError(f"a CR or NUL in the status line: {status_line[:80]!r}")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        # RFC 9110 §6.2: a higher minor version is read as the highest one known.
        if len(version) != 8 or not version.startswith("HTTP/1.") \
                or not "0" <= version[7] <= "9":
            raise ParseError(f"not an HTTP/1.x status line: {status_line[:80]!r}", NOT_HTTP)
        version = "HTTP/1.1"
    # ASCII digits only (RFC 9112 §4: 3DIGIT): str.isdigit and int() take
    # full-width and other Unicode digits too.
    if len(code) != 3 or not code.isascii() or not code.isdigit():
        raise ParseError(f"not an HTTP/1.x status line: {status_line[:80]!r}", NOT_HTTP)
    status = int(code)
    if status < 100:
        raise ParseError(f"status code {code} out of range")
    headers = _parse_fields(fields) if fields else []
    lengths: list[str] = []
    codings = ""
    connection = keep_alive = ""
    for name, value in headers:
        if name[0] not in "cCtTkK":
            continue  # skips most fields without lower-casing them
        lower = name.lower()
        if lower == "content-length":
            lengths.extend([v.strip() for v in value.split(",")] if "," in value else [value])
        elif lower == "transfer-encoding":
            codings = f"{codings}, {value}" if codings else value
        elif lower == "connection":
            connection = f"{connection}, {value}" if connection else value
        elif lower == "keep-alive":
            keep_alive = value
    reusable = _keeps_alive(version, connection)
    if codings and (lengths or version == "HTTP/1.0"):
        # §6.1: Transfer-Encoding in a 1.0 message is faulty framing, and §6.3 (3): with
        # Content-Length, a hint of smuggling. Read as chunked, then the connection ends.
        reusable = False
    head = _frame(status, reason, headers, lengths, codings, method, reusable)
    head.block = block
    if keep_alive:
        head.keep_alive = _idle_timeout(keep_alive)
    if escaped:
        head.escaped = True
    return head


def fields_of(block: bytes) -> list[tuple[str, str]]:
    """The fields of a head devproxy already parsed or wrote (a request or status line,
    then fields, maybe a blank line): for showing them later, not for deciding."""
    text = block.decode("utf-8", "surrogateescape").rstrip("\r\n")
    _, _, fields = text.partition("\n")
    if not fields:
        return []
    try:
        return _parse_fields_carefully(fields)
    except ParseError:
        return []  # not a head this module made or accepted


def _parse_fields(fields: str) -> list[tuple[str, str]]:
    """A head's field lines, the common well-formed case in a few passes of C string
    methods: every line a token, a colon and a value without NUL, with CR only before
    the LF. Anything else takes the careful path, which mends what RFC 9112 lets a
    proxy mend and refuses the rest. A regex over the whole section cost 5,000 more
    instructions on nginx's eight fields (callgrind, per proxied request): sre tests
    each value character against a class, and saves state on the heap per line."""
    if "\x00" in fields or fields.count("\r") != fields.count("\r\n") + fields.endswith("\r"):
        return _parse_fields_carefully(fields)
    headers = []
    for line in fields.split("\n"):
        name, colon, value = line.partition(":")
        if not colon:
            return _parse_fields_carefully(fields)
        headers.append((name, value.strip(" \t\r")))
    # Names: nearly all are letters, digits and "-", checked all at once; an empty name
    # or another token character is checked name by name.
    names = [name for name, _ in headers]
    joined = "".join(names).replace("-", "")
    if not (joined.isascii() and joined.isalnum() and all(names)) \
            and not all(TOKEN.fullmatch(name) for name in names):
        return _parse_fields_carefully(fields)
    return headers


def _parse_fields_carefully(fields: str) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for raw in fields.split("\n"):
        line = raw[:-1] if raw.endswith("\r") else raw
        if line[:1] in (" ", "\t"):
            # obs-fold: RFC 9112 §5.2 lets a proxy replace it with spaces.
            if not headers:
                raise ParseError("a folded line before any field")
            name, value = headers.pop()
            folded = line.strip(" \t")
            headers.append((name, f"{value} {folded}" if folded else value))
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ParseError(f"a field line without a colon: {line[:80]!r}")
        # RFC 9112 §5.1: a proxy removes whitespace before the colon in a response.
        name = name.rstrip(" \t")
        if not TOKEN.fullmatch(name):
            raise ParseError(f"invalid field name {name[:80]!r}")
        value = value.strip(" \t")
        if BREAKS_LINE.search(value):
            raise ParseError(f"field {name} has a CR, LF or NUL in its value")
        headers.append((name, value))
    return headers


def _keeps_alive(version: str, connection: str) -> bool:
    if not connection:  # most responses: no set to build
        return version == "HTTP/1.1"
    options = {o.strip().lower() for o in connection.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in options
    return "close" not in options


def _frame(status: int, reason: str, headers: list[tuple[str, str]], lengths: list[str],
           codings: str, method: str, reusable: bool) -> Head:
    # RFC 9112 §6.3, in its order.
    if method == "HEAD" or status < 200 or status in _NO_BODY_STATUS:
        # No body, whatever the fields say; a Content-Length there still describes one
        # (a HEAD's is the GET's), passed on only as one valid number, as below.
        if lengths:
            headers = _one_length(headers, lengths)
        return Head(status, reason, headers, 0, False, reusable)
    if codings:
        # §6.3 (3): Transfer-Encoding overrides Content-Length, which a proxy must then
        # remove before forwarding (a hint of smuggling).
        if lengths:
            headers = [(n, v) for n, v in headers if n.lower() != "content-length"]
        if codings == "chunked":  # the usual case, checked cheaply
            return Head(status, reason, headers, None, True, reusable)
        listed = [c for c in (c.strip().lower() for c in codings.split(","))
                  if c and c != "identity"]  # identity: an old way of saying none
        if listed == ["chunked"]:
            return Head(status, reason, headers, None, True, reusable)
        if listed.count("chunked") > 1:
            # §7: chunked is never applied twice; no reading of the body is safe.
            raise ParseError(f"Transfer-Encoding {codings[:80]!r} applies chunked more than "
                             "once, which RFC 9112 §7 forbids: the body's framing is unknown")
        if listed:
            # §6.1: Transfer-Encoding is per hop. Passed on without it, a gzip coding's
            # bytes would reach the browser as if they were the body.
            raise ParseError(f"Transfer-Encoding {codings[:80]!r}: devproxy decodes only "
                             "chunked, and cannot pass other transfer codings on",
                             "browsers take no transfer coding but chunked either: have the "
                             "backend compress with Content-Encoding instead")
        # §6.3 (4): a response whose final coding isn't chunked ends with the connection.
        return Head(status, reason, headers, None, False, False)
    if lengths:
        headers = _one_length(headers, lengths)
        return Head(status, reason, headers, int(lengths[0]), False, reusable)
    # §6.3 (8): no framing at all: the body runs to the connection's close.
    return Head(status, reason, headers, None, False, False)


def _one_length(headers: list[tuple[str, str]], lengths: list[str]) -> list[tuple[str, str]]:
    """``headers`` with their Content-Length ``lengths`` as one field; ParseError unless
    all are one valid number (§6.3 (5))."""
    first = lengths[0]
    if not first.isdigit() or not first.isascii() or any(v != first for v in lengths):
        raise ParseError(f"invalid Content-Length {', '.join(lengths)[:80]!r}")
    if len(lengths) > 1:  # §8.6: one value passed on, as browsers and aiohttp want
        headers = [(n, v) for n, v in headers if n.lower() != "content-length"]
        headers.append(("Content-Length", first))
    return headers


class ChunkedDecoder:
    """Undo chunked transfer coding (RFC 9112 §7.1) as bytes arrive.

    ``feed`` returns the body bytes found so far; ``done`` turns True after the last
    chunk and trailer section, and ``tail`` then holds any bytes that followed the
    message. Trailer fields are read and dropped: the browser side cannot send them.
    """

    __slots__ = ("_buffer", "_remaining", "_state", "_trailer_size", "done", "tail")

    _SIZE, _DATA, _DATA_END, _TRAILER = range(4)

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._state = self._SIZE
        self._remaining = 0
        self._trailer_size = 0
        self.done = False
        self.tail = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Body bytes in ``data``; raises ParseError on a malformed chunk."""
        out: list[bytes] = []
        view = memoryview(data)
        pos, size = 0, len(data)
        while pos < size and not self.done:
            state = self._state
            if state == self._DATA:
                take = min(self._remaining, size - pos)
                out.append(bytes(view[pos:pos + take]))
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = self._DATA_END
                continue
            # The other states read whole lines.
            newline = data.find(b"\n", pos)
            if newline < 0:
                self._buffer += view[pos:]
                self._check_line_size()
                return out
            self._buffer += view[pos:newline]
            pos = newline + 1
            line = bytes(self._buffer).rstrip(b"\r")
            self._buffer.clear()
            self._line(line)
        if self.done:
            self.tail = bytes(view[pos:])
        return out

    def _check_line_size(self) -> None:
        limit = _TRAILER_LIMIT if self._state == self._TRAILER else _CHUNK_LINE_LIMIT
        if len(self._buffer) > limit:
            raise ParseError("a chunk size or trailer line is too long")

    def _line(self, line: bytes) -> None:
        if self._state == self._SIZE:
            digits = line.split(b";", 1)[0].strip(b" \t")
            if not _HEX.fullmatch(digits.decode("latin-1")) or len(digits) > 16:
                raise ParseError(f"invalid chunk size {line[:40]!r}")
            self._remaining = int(digits, 16)
            self._state = self._DATA if self._remaining else self._TRAILER
        elif self._state == self._DATA_END:
            if line:
                raise ParseError("chunk data longer than its size")
            self._state = self._SIZE
        elif not line:  # the blank line that ends the trailer section
            self.done = True
        else:
            self._trailer_size += len(line)
            if self._trailer_size > _TRAILER_LIMIT:
                raise ParseError("the trailer section is too long")
