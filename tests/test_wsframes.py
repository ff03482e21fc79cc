"""Frames watched in a spliced byte stream, without sockets (RFC 6455 §5, RFC 7692)."""

from __future__ import annotations

import os
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devproxy.wsframes import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    TEXT,
    FrameWatch,
    close_frame,
    deflate_accepted,
    unmask,
)

from .test_websocket import frame


def watched(stream: bytes, cuts: list[int], **kwargs) -> tuple[FrameWatch, list]:
    seen: list[tuple[bytes, int, bool]] = []
    watch = FrameWatch(lambda start, size, binary: seen.append((start, size, binary)),
                       **kwargs)
    last = 0
    for cut in [*sorted({c for c in cuts if 0 < c < len(stream)}), len(stream)]:
        watch.feed(stream[last:cut])
        last = cut
    return watch, seen


_STREAM = (frame(TEXT, b"hello", mask=True)
           + frame(PING, b"are you there", mask=True)
           + frame(BINARY, b"\x00\x01" * 100, mask=True)
           + frame(TEXT, b"frag", fin=False, mask=True)
           + frame(PING, b"ping!", mask=True)  # §5.4: control frames between fragments
           + frame(CONTINUATION, b"mented " * 50, fin=False, mask=True)
           + frame(CONTINUATION, b"end", mask=True)
           + frame(TEXT, b"x" * 70000, mask=True)
           + frame(CLOSE, struct.pack("!H", 4001) + b"unauthorized", mask=True))


@given(st.lists(st.integers(min_value=0, max_value=len(_STREAM)), max_size=30))
def test_messages_counts_and_close_survive_any_split(cuts: list[int]) -> None:
    watch, seen = watched(_STREAM, cuts, preview=10)
    assert watch.messages == 4  # pings are not messages; three fragments are one
    assert watch.bytes == 5 + 200 + 4 + 350 + 3 + 70000
    # The binary message is marked binary (its opcode), the fragmented text one text.
    assert seen == [(b"hello", 5, False), (b"\x00\x01" * 5, 200, True),
                    (b"fragmented", 357, False), (b"x" * 10, 70000, False)]
    assert watch.close == (4001, "unauthorized")
    assert watch.between_frames


def test_a_frame_cut_in_its_head_or_payload_is_not_between_frames() -> None:
    data = frame(TEXT, b"abcdef", mask=False)
    watch = FrameWatch()
    watch.feed(data[:1])
    assert not watch.between_frames  # half a head
    watch.feed(data[1:4])
    assert not watch.between_frames  # half a payload
    watch.feed(data[4:])
    assert watch.between_frames and watch.messages == 1


def test_counts_only_without_a_listener() -> None:
    watch = FrameWatch()
    watch.feed(frame(TEXT, b"a" * 300, mask=False) + frame(CLOSE, b"", mask=False))
    assert (watch.messages, watch.bytes, watch.close) == (1, 300, (None, ""))


def _deflated(messages: list[bytes], *, takeover: bool = True) -> list[bytes]:
    """Messages compressed as a permessage-deflate sender does (RFC 7692 §7.2.1)."""
    out, compressor = [], zlib.compressobj(wbits=-zlib.MAX_WBITS)
    for message in messages:
        if not takeover:
            compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4])
    return out


@pytest.mark.parametrize("takeover", [True, False], ids=["context-takeover", "no-takeover"])
def test_compressed_messages_are_previewed_inflated(takeover: bool) -> None:
    texts = [b"squeeze me " * 200, b"squeeze me again " * 100, b"short"]
    stream = b"".join(frame(TEXT, data, rsv1=True, mask=True)
                      for data in _deflated(texts, takeover=takeover))
    _, seen = watched(stream, [7, 50, len(stream) - 3], preview=30, deflate=True)
    assert [start for start, _, _ in seen] == [t[:30] for t in texts]


def test_a_ping_between_compressed_fragments_is_not_inflated() -> None:
    # Fed to the decompressor, its payload broke it for the rest of the connection.
    first, second = _deflated([b"fragmented and compressed " * 4, b"the next one"])
    stream = (frame(TEXT, first[:10], rsv1=True, fin=False, mask=True)
              + frame(PING, b"ping in the middle", mask=True)
              + frame(CONTINUATION, first[10:], mask=True)
              + frame(TEXT, second, rsv1=True, mask=True))
    _, seen = watched(stream, [], preview=20, deflate=True)
    assert [start for start, _, _ in seen] == [b"fragmented and compr", b"the next one"]


def test_without_a_listener_the_first_message_is_kept_inflated_and_no_more() -> None:
    # What a backend said as it refused a socket, read with the inspector off.
    texts = [b"Invalid Host/Origin header", b"the second one"]
    stream = b"".join(frame(TEXT, data, rsv1=True, mask=False) for data in _deflated(texts))
    watch = FrameWatch(deflate=True)
    watch.feed(stream)
    assert (watch.first, watch.messages) == (b"Invalid Host/Origin header", 2)
    assert watch._inflate is None  # its window is let go once the first is read


def test_compressed_messages_without_deflate_are_named_not_shown() -> None:
    stream = b"".join(frame(BINARY, d, rsv1=True, mask=False) for d in _deflated([b"abc" * 50]))
    _, seen = watched(stream, [])
    assert seen[0][0] == b"(compressed)"


def test_a_deflate_bomb_is_previewed_without_inflating_it_whole() -> None:
    bomb = _deflated([b"\x00" * (64 * 1024 * 1024)])[0]  # 64 MiB in about 64 KiB
    _, seen = watched(frame(BINARY, bomb, rsv1=True, mask=False), [1000, 20000], preview=8,
                      deflate=True)
    assert seen == [(b"\x00" * 8, len(bomb), True)]


def test_unmask_is_its_own_inverse_at_any_offset() -> None:
    key, data = os.urandom(4), os.urandom(1001)
    masked = unmask(data, key)
    assert masked == bytes(b ^ key[i % 4] for i, b in enumerate(data))
    assert unmask(masked[3:], key, 3) == data[3:]


@pytest.mark.parametrize("masked", [True, False])
def test_devproxys_close_frame_reads_back(masked: bool) -> None:
    watch = FrameWatch()
    watch.feed(close_frame(1001, "devproxy is shutting down", masked=masked))
    assert watch.close == (1001, "devproxy is shutting down")
    assert bool(close_frame(1001, "", masked=masked)[1] & 0x80) is masked


@pytest.mark.parametrize(("line", "accepted"), [
    ("permessage-deflate; client_max_window_bits=15", True),
    ("x-webkit-deflate-frame, Permessage-Deflate", True),
    ("permessage-deflate-ish", False),
    ("", False),
])
def test_deflate_is_found_in_the_extensions_answer(line: str, accepted: bool) -> None:
    assert deflate_accepted(line) is accepted
