"""The upstream HTTP/1.1 wire rules, as pure functions over bytes (RFC 9112)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from devproxy import h1


def head(text: str, method: str = "GET") -> h1.Head:
    return h1.parse_head(text.replace("\n", "\r\n").encode(), method=method)


def test_a_content_length_response_is_framed_by_its_length_and_keeps_the_connection() -> None:
    parsed = head("HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 12")
    assert (parsed.status, parsed.reason, parsed.length, parsed.chunked, parsed.reusable) == \
        (200, "OK", 12, False, True)
    assert parsed.headers == [("Content-Type", "text/plain"), ("Content-Length", "12")]


def test_field_order_case_and_repeats_survive() -> None:
    parsed = head("HTTP/1.1 200 OK\nset-cookie: a=1\nX-One: 1\nSet-Cookie: b=2\nContent-Length: 0")
    assert parsed.headers[:3] == [("set-cookie", "a=1"), ("X-One", "1"), ("Set-Cookie", "b=2")]


def test_chunked_overrides_content_length_which_is_then_removed() -> None:
    # RFC 9112 §6.3 (3): a proxy must not forward the Content-Length of such a message.
    parsed = head("HTTP/1.1 200 OK\nContent-Length: 5\nTransfer-Encoding: chunked")
    assert parsed.chunked and parsed.length is None
    assert [n for n, _ in parsed.headers] == ["Transfer-Encoding"]


def test_a_response_without_framing_runs_to_the_close() -> None:
    parsed = head("HTTP/1.1 200 OK\nContent-Type: text/plain")
    assert parsed.length is None and not parsed.chunked and not parsed.reusable


@pytest.mark.parametrize("codings", ["chunked, gzip", "gzip, chunked", "gzip"])
def test_transfer_codings_other_than_chunked_are_refused_not_passed_on_undecoded(
        codings: str) -> None:
    # RFC 9112 §6.1: per hop. Dropping the field and relaying the bytes handed the
    # browser gzip bytes as if they were the body.
    with pytest.raises(h1.ParseError, match="decodes only chunked"):
        head(f"HTTP/1.1 200 OK\nTransfer-Encoding: {codings}")


@pytest.mark.parametrize("codings", ["chunked, chunked", "chunked, identity, Chunked"])
def test_chunked_applied_twice_is_refused_for_what_it_is(codings: str) -> None:
    # RFC 9112 §7: a sender never applies chunked more than once.
    with pytest.raises(h1.ParseError, match="applies chunked more than once"):
        head(f"HTTP/1.1 200 OK\nTransfer-Encoding: {codings}")


@pytest.mark.parametrize("text", [
    "HTTP/1.0 200 OK\nConnection: keep-alive\nTransfer-Encoding: chunked",  # §6.1
    "HTTP/1.1 200 OK\nContent-Length: 5\nTransfer-Encoding: chunked",  # §6.3 (3)
])
def test_faulty_framing_is_read_as_chunked_then_the_connection_ends(text: str) -> None:
    parsed = head(text)
    assert parsed.chunked and not parsed.reusable


@pytest.mark.parametrize("codings", ["Chunked", " chunked ", "identity, chunked"])
def test_chunked_alone_in_any_spelling_is_chunked(codings: str) -> None:
    assert head(f"HTTP/1.1 200 OK\nTransfer-Encoding: {codings}").chunked


def test_identity_alone_runs_to_the_close() -> None:
    parsed = head("HTTP/1.1 200 OK\nTransfer-Encoding: identity")
    assert not parsed.chunked and parsed.length is None and not parsed.reusable


@pytest.mark.parametrize("status", [204, 304, 101, 103])
def test_statuses_that_never_have_a_body(status: int) -> None:
    assert head(f"HTTP/1.1 {status} X\nContent-Length: 50").length == 0


def test_a_head_response_keeps_its_content_length_but_has_no_body() -> None:
    parsed = head("HTTP/1.1 200 OK\nContent-Length: 5000", method="HEAD")
    assert parsed.length == 0 and ("Content-Length", "5000") in parsed.headers


@pytest.mark.parametrize(("status", "method"), [(200, "HEAD"), (204, "GET"), (304, "GET")])
def test_a_bodiless_responses_content_length_is_one_valid_number_too(status: int,
                                                                     method: str) -> None:
    # Passed on as they came, "5, 5" or "abc" made aiohttp answer the browser 500.
    parsed = head(f"HTTP/1.1 {status} X\nContent-Length: 5, 5", method=method)
    assert parsed.length == 0 and parsed.headers == [("Content-Length", "5")]
    for bad in ("abc", "+5", "5, 6"):
        with pytest.raises(h1.ParseError, match="invalid Content-Length"):
            head(f"HTTP/1.1 {status} X\nContent-Length: {bad}", method=method)


@pytest.mark.parametrize("fields,reusable", [
    ("HTTP/1.1 200 OK\nConnection: close", False),
    ("HTTP/1.1 200 OK\nConnection: keep-alive, Close", False),
    ("HTTP/1.0 200 OK", False),
    ("HTTP/1.0 200 OK\nConnection: keep-alive", True),
    ("HTTP/1.1 200 OK", True),
])
def test_connection_reuse_follows_version_and_connection_options(fields: str,
                                                                 reusable: bool) -> None:
    assert head(fields + "\nContent-Length: 0").reusable is reusable


def test_identical_repeated_content_lengths_are_one_length_passed_on_once() -> None:
    # RFC 9110 §8.6; passed on as they came, "7, 7" made aiohttp answer the browser 500.
    parsed = head("HTTP/1.1 200 OK\nContent-Length: 7\nX-A: 1\nContent-Length: 7, 7")
    assert parsed.length == 7
    assert parsed.headers == [("X-A", "1"), ("Content-Length", "7")]


@pytest.mark.parametrize("text", [
    "HTTP/1.1 200 OK\nContent-Length: 7\nContent-Length: 8",
    "HTTP/1.1 200 OK\nContent-Length: -1",
    "HTTP/1.1 200 OK\nContent-Length: 0x10",
    "HTTP/1.1 200 OK\nContent-Length: ٣",  # a digit, but not an ASCII one
    "HTTP/2 200 OK",
    "HTTP/2.0 200 OK",
    "HTTP/1.x 200 OK",
    "HTTP/1.10 200 OK",
    "ICY 200 OK",
    "HTTP/1.1 2000 OK",
    "HTTP/1.1 099 Low",
    "HTTP/1.1 \uff12\uff10\uff10 OK",  # full-width digits, which int() reads as 200
    "HTTP/1.1 2\u0660\u0660 OK",  # Arabic-Indic zeros
    "HTTP/1.\uff12 200 OK",
    "HTTP/1.1 200 OK\nno colon here",
    "HTTP/1.1 200 OK\nBad Name: x",
    "HTTP/1.1 200 OK\n: empty name",
    " folded: first",
])
def test_malformed_heads_are_refused(text: str) -> None:
    with pytest.raises(h1.ParseError):
        head(text)


@pytest.mark.parametrize("line", [b"HTTP/1.1 200 O\rK", b"HTTP/1.1 103 Early\rSet-Cookie: a=1",
                                  b"HTTP/1.1 200 O\x00K"])
def test_a_cr_or_nul_in_the_status_line_is_refused(line: bytes) -> None:
    # It would split the head written to the browser (RFC 9112 §2.2); aiohttp raised on
    # the final response's reason (a 500 blaming devproxy), and a 1xx went out as is.
    with pytest.raises(h1.ParseError, match="a CR or NUL in the status line"):
        h1.parse_head(line + b"\r\nContent-Length: 0", method="GET")


def test_a_higher_minor_version_is_read_as_http_1_1() -> None:
    # RFC 9110 §6.2: nginx accepts it too; it was a 502.
    parsed = head("HTTP/1.2 200 OK\nContent-Length: 2")
    assert (parsed.status, parsed.length, parsed.reusable) == (200, 2, True)


def test_a_bare_cr_or_nul_in_a_value_is_refused() -> None:
    for bad in (b"a\rb", b"a\x00b"):
        with pytest.raises(h1.ParseError):
            h1.parse_head(b"HTTP/1.1 200 OK\r\nX: " + bad + b"\r\nContent-Length: 0",
                          method="GET")


# Field lines near the edges: names empty, spaced, non-ASCII or with rarer token
# characters; values with a bare CR, a NUL or raw bytes; CRLF and bare LF line ends.
_LINE = st.builds(
    "{}{}{}{}".format,
    st.text("Aa9-_!~ \té", max_size=6),
    st.sampled_from([":", ": ", " :", ""]),
    st.text("ab \t\r\x00:é\udce9", max_size=6),
    st.sampled_from(["", "\r"]),
)


@given(st.lists(_LINE, min_size=1, max_size=4))
@example(["A: x", ": empty name beside a good one"])
@example(["é: non-ASCII letters beside", "A: ASCII ones"])
@example(["A: x", "NoColon"])
@example(["A: a\rb"])
@example(["A: a\x00b"])
@example(["X_Rare!~: token characters", "B: y"])
def test_the_quick_field_parse_agrees_with_the_careful_one(lines: list[str]) -> None:
    # The quick path is only a faster way to the careful path's answer: the same fields,
    # or a refusal where it refuses.
    section = "\n".join(lines)
    try:
        expected = h1._parse_fields_carefully(section)
    except h1.ParseError:
        with pytest.raises(h1.ParseError):
            h1._parse_fields(section)
    else:
        assert h1._parse_fields(section) == expected


def test_obs_fold_becomes_a_space_and_space_before_the_colon_is_removed() -> None:
    # RFC 9112 §5.2 and §5.1, what a proxy does with each in a response.
    parsed = head("HTTP/1.1 200 OK\nX-Long: one\n  two\nX-Spaced : v\nContent-Length: 0")
    assert parsed.headers[:2] == [("X-Long", "one two"), ("X-Spaced", "v")]


def test_a_missing_reason_phrase_is_allowed() -> None:
    assert head("HTTP/1.1 404\nContent-Length: 0").reason == ""


def test_non_ascii_values_pass_through_as_their_utf8_bytes() -> None:
    raw = "attachment; filename=\"résumé.pdf\"".encode()
    parsed = h1.parse_head(b"HTTP/1.1 200 OK\r\nContent-Disposition: " + raw, method="GET")
    assert parsed.headers[0][1].encode("utf-8", "surrogateescape") == raw


def test_head_end_finds_crlf_and_bare_lf_blank_lines() -> None:
    assert h1.head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody") == (21, 25)
    assert h1.head_end(b"HTTP/1.1 200 OK\nA: b\n\nbody") == (20, 22)
    assert h1.head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n") == (-1, -1)
    # A bare LF ends the last field, a CRLF the head; and the other way round.
    assert h1.head_end(b"HTTP/1.1 200 OK\r\nA: b\n\r\nbody") == (21, 24)
    assert h1.head_end(b"HTTP/1.1 200 OK\nA: b\r\n\nbody") == (20, 23)
    assert h1.head_end(b"HTTP/1.1 200 OK\r\n\r\n") == (15, 19)
    # Searched from a point in the middle (a head that came in pieces).
    assert h1.head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n", 22) == (21, 25)


def test_request_head_is_request_line_then_fields_then_a_blank_line() -> None:
    assert h1.request_head("POST", "/a?b=1", [("Host", "x:1"), ("X-A", "é")]) == \
        "POST /a?b=1 HTTP/1.1\r\nHost: x:1\r\nX-A: é\r\n\r\n".encode()


def decode_all(pieces: list[bytes]) -> tuple[bytes, bytes]:
    decoder = h1.ChunkedDecoder()
    out = b""
    for piece in pieces:
        out += b"".join(decoder.feed(piece))
        if decoder.done:
            break
    assert decoder.done
    return out, decoder.tail


def test_chunked_body_with_extensions_and_trailers_decodes_to_its_data() -> None:
    wire = b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT"
    assert decode_all([wire]) == (b"hello world", b"NEXT")


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=8), st.data())
def test_chunked_decoding_does_not_depend_on_how_the_bytes_are_split(
        chunks: list[bytes], data: st.DataObject) -> None:
    wire = b"".join(h1.chunk(c) for c in chunks) + h1.LAST_CHUNK
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    assert decode_all([p for p in pieces if p]) == (b"".join(chunks), b"")


@pytest.mark.parametrize("wire", [
    b"zz\r\nhello\r\n",
    b"5\r\nhelloXX\r\n",
    b"-5\r\nhello\r\n",
    b"1" * 20 + b"\r\n",
])
def test_malformed_chunks_are_refused(wire: bytes) -> None:
    with pytest.raises(h1.ParseError):
        h1.ChunkedDecoder().feed(wire)


def test_an_endless_chunk_size_line_is_refused() -> None:
    decoder = h1.ChunkedDecoder()
    with pytest.raises(h1.ParseError):
        for _ in range(10):
            decoder.feed(b"0" * 1000)


def test_fields_of_a_head_skip_its_first_line_and_blank_lines() -> None:
    sent = h1.request_head("GET", "/x", [("Host", "a"), ("X-Two", "2")])
    assert h1.fields_of(sent) == [("Host", "a"), ("X-Two", "2")]
    received = head("HTTP/1.1 200 OK\nX-Long: one\n  two\nContent-Length: 0")
    assert h1.fields_of(received.block) == [("X-Long", "one two"), ("Content-Length", "0")]
    assert h1.fields_of(b"HTTP/1.1 204 No Content") == []
