"""WebSocket frames watched as they pass, never changed (RFC 6455 §5).

Once both handshakes are done devproxy copies a socket's bytes as they come, each way,
the way nginx and Caddy do; a ``FrameWatch`` per direction follows the frame
boundaries in that byte stream to count messages and payload bytes, to see the Close
frame go by (its code and reason), to know when a frame of devproxy's own (a Close at
shutdown) may be put in between two frames, and, for the inspector, to keep the start
of each message (unmasked, and inflated when permessage-deflate is in use). Pure: no
I/O, no event loop.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
# RFC 7692 §7.2.2: each compressed message lost these four bytes of its final flush.
_FLUSH_TAIL = b"\x00\x00\xff\xff"
_INFLATE_STEP = 64 * 1024  # output per zlib call, so a deflate bomb never balloons

# Told about each whole data message: (its start, at most ``preview`` bytes; its size).
# The preview of a compressed message that could not be inflated.
COMPRESSED = b"(compressed)"
OnMessage = Callable[[bytes, int, bool], None]  # start, size, binary


class FrameWatch:
    """One direction of a spliced WebSocket, followed frame by frame.

    ``feed`` every chunk in the order it passes. Bytes that are not valid frames are
    not refused here: the endpoint reading them fails the connection itself, as it
    would without devproxy.
    """

    __slots__ = ("_binary", "_buffer", "_compressed", "_control", "_fin", "_inflate",
                 "_left", "_mask", "_message_size", "_offset", "_opcode", "_preview", "bytes",
                 "close", "first", "messages", "on_message", "preview")

    def __init__(self, on_message: OnMessage | None = None, *, preview: int = 500,
                 deflate: bool = False) -> None:
        """
        Args:
            on_message: called with each whole data message's start, its size and whether
                it is binary (opcode 2) rather than text; None keeps counts only.
            preview: bytes of each message kept for ``on_message``.
            deflate: permessage-deflate was negotiated, so messages with RSV1 set are
                inflated for their preview (one decompressor per direction: with
                context takeover each message refers back to the ones before it).
        """
        self.on_message = on_message
        self.preview = preview
        self.messages = 0  # whole data messages
        self.bytes = 0  # payload bytes of data frames, as on the wire
        self.close: tuple[int | None, str] | None = None  # a Close frame that passed
        # The first data message's start, kept whatever ``on_message`` is: what a backend
        # says as it refuses a socket it accepted (webpack's "Invalid Host/Origin header").
        self.first: bytes | None = None
        self._buffer = b""  # a frame head split across chunks
        self._left = 0  # payload bytes of the current frame still to pass
        self._offset = 0  # payload bytes of the current frame passed so far
        self._opcode = 0
        self._fin = True
        self._mask = b""
        self._control = bytearray()  # a Close frame's payload
        self._message_size = 0
        self._compressed = False
        self._binary = False  # the message under way is binary
        self._preview: bytearray | None = None
        # Fed only while a preview is taken: every message for ``on_message``, else the
        # first one alone.
        self._inflate = zlib.decompressobj(-zlib.MAX_WBITS) if deflate else None

    @property
    def between_frames(self) -> bool:
        """True when a frame of devproxy's own may be written now (§5.4 allows control
        frames between the fragments of a message)."""
        return not self._left and not self._buffer

    def feed(self, data: bytes) -> None:
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        pos, end = 0, len(data)
        while pos < end:
            left = self._left
            if left:
                take = left if left <= end - pos else end - pos
                opcode = self._opcode
                # A ping or pong may come between a message's fragments (§5.4): its
                # payload is no part of the message's preview.
                if opcode == CLOSE or (self._preview is not None and opcode < CLOSE):
                    self._payload(data[pos:pos + take])
                self._offset += take
                self._left = left - take
                pos += take
                if not self._left:
                    self._frame_done()
                continue
            pos = self._head(data, pos, end)
            if pos < 0:
                return

    def _head(self, data: bytes, pos: int, end: int) -> int:
        """Read the frame head at ``pos``: where its payload starts, -1 if incomplete."""
        if end - pos < 2:
            self._buffer = data[pos:]
            return -1
        first, second = data[pos], data[pos + 1]
        size = second & 0x7F
        size_end = pos + (2 if size < 126 else 4 if size == 126 else 10)
        payload = size_end + (4 if second & 0x80 else 0)
        if payload > end:  # at most 13 bytes wait for the rest of their head
            self._buffer = data[pos:]
            return -1
        if size == 126:
            size = struct.unpack_from("!H", data, pos + 2)[0]
        elif size == 127:
            size = struct.unpack_from("!Q", data, pos + 2)[0]
        self._mask = data[size_end:payload] if second & 0x80 else b""
        opcode = first & 0x0F
        self._opcode, self._fin = opcode, bool(first & 0x80)
        self._left, self._offset = size, 0
        if opcode < CLOSE:  # a data frame: starts (text, binary) or continues a message
            self.bytes += size
            if opcode != CONTINUATION:
                self._message_size = 0
                self._compressed = bool(first & 0x40)  # RSV1: permessage-deflate (RFC 7692)
                self._binary = opcode == BINARY
                self._preview = bytearray() \
                    if self.on_message is not None or self.first is None else None
            self._message_size += size
        elif opcode == CLOSE:
            self._control.clear()
        if not size:
            self._frame_done()
        return payload

    def _payload(self, piece: bytes) -> None:
        if self._mask:
            piece = unmask(piece, self._mask, self._offset)
        if self._opcode == CLOSE:
            self._control += piece[:125 - len(self._control)]
            return
        preview = self._preview
        assert preview is not None
        if not self._compressed:
            room = self.preview - len(preview)
            if room > 0:
                preview += piece[:room]
        elif self._inflate is not None:
            self._inflated(piece)

    def _inflated(self, piece: bytes) -> None:
        """Feed the decompressor every compressed byte (it needs them all for what
        follows) and keep what fits of its output."""
        assert self._inflate is not None and self._preview is not None
        try:
            while piece:
                out = self._inflate.decompress(piece, _INFLATE_STEP)
                room = self.preview - len(self._preview)
                if room > 0:
                    self._preview += out[:room]
                piece = self._inflate.unconsumed_tail
            if self._inflate.eof:  # a message ended with a final block: start afresh
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        except zlib.error:
            self._inflate = None  # lost track: later previews say "compressed" only

    def _frame_done(self) -> None:
        opcode = self._opcode
        if opcode == CLOSE:
            payload = bytes(self._control)
            code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else None
            self.close = (code, payload[2:].decode("utf-8", "replace"))
        elif opcode < CLOSE and self._fin:
            self.messages += 1
            preview = self._preview
            if preview is not None:
                if self._compressed:
                    if self._inflate is not None:
                        self._inflated(_FLUSH_TAIL)
                        preview = self._preview or bytearray()
                    else:
                        preview = bytearray(COMPRESSED)
                self._preview = None
                if self.first is None:
                    self.first = bytes(preview)
                    if self.on_message is None:
                        self._inflate = None  # its 32 KiB window is needed no more
                if self.on_message is not None:
                    self.on_message(bytes(preview), self._message_size, self._binary)


def unmask(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    """``data`` XORed with the masking key (§5.3), starting ``offset`` bytes into it."""
    size = len(data)
    turn = offset & 3
    key = (mask[turn:] + mask[:turn]) * (size // 4 + 1)
    return (int.from_bytes(data, "little") ^ int.from_bytes(key[:size], "little")
            ).to_bytes(size, "little")


def close_frame(code: int, reason: str, *, masked: bool) -> bytes:
    """A Close frame (§5.5.1): masked from a client's side, as every client frame is."""
    payload = struct.pack("!H", code) + reason.encode()[:123]
    if not masked:
        return bytes([0x80 | CLOSE, len(payload)]) + payload
    key = os.urandom(4)
    return bytes([0x80 | CLOSE, 0x80 | len(payload)]) + key + unmask(payload, key)


def deflate_accepted(extensions: str) -> bool:
    """Whether a handshake answer's ``Sec-WebSocket-Extensions`` accepted
    permessage-deflate (RFC 7692 §5)."""
    return any(part.split(";", 1)[0].strip().lower() == "permessage-deflate"
               for part in extensions.split(","))
