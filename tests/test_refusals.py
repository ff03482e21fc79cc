"""The answer to a request aiohttp's parser refused: status, words, log line."""

from __future__ import annotations

import pytest
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    InvalidURLError,
    LineTooLong,
)

from devproxy.refusals import refusal


def answer(exc: BaseException | None, status: int = 400):  # type: ignore[no-untyped-def]
    return refusal(exc, status, header_size=65536, headers=128)


@pytest.mark.parametrize("line", [
    bytearray(b"/aaaaaaaaaa..."),  # the C parser: the target, in its URL buffer
    b"GET /aaaaaaaaaa...",  # the pure-Python parser: the request line
])
def test_a_target_over_the_limit_is_414(line: bytes) -> None:
    got = answer(LineTooLong(line, 65536))
    assert got.status == 414 and "limits.header_size (65536 bytes)" in got.detail
    assert "over limits.header_size" in got.log


@pytest.mark.parametrize("line", [b"a=b; a=b; a=b; ...", b"Cookie: a=b; a=b; ...",
                                  b"X-Long-Name-..."])
def test_a_field_over_the_limit_is_431(line: bytes) -> None:
    got = answer(LineTooLong(line, 65536))
    assert got.status == 431 and "limits.header_size" in got.hint


def test_too_many_fields_is_431_naming_limits_headers() -> None:
    got = answer(BadHttpMessage("Too many headers received"))
    assert got.status == 431 and "limits.headers (128)" in got.detail


def test_a_broken_message_is_400_with_the_parsers_first_line_only() -> None:
    got = answer(BadHttpMessage("Invalid header token:\n\n  b'Bad Name: 1'\n       ^"))
    assert (got.status, got.title) == (400, "Malformed request")
    assert got.detail == "devproxy could not read this request: Invalid header token."
    assert not got.quiet


@pytest.mark.parametrize(("said", "example"), [
    ("Invalid char in url path:", "/caf%C3%A9, not /café."),
    ("Invalid char in url query:", "?q=caf%C3%A9, not ?q=café (curl: -G --data-urlencode"),
])
def test_a_url_typed_in_utf8_is_told_how_to_encode_where_it_was(said: str,
                                                                 example: str) -> None:
    got = answer(BadHttpMessage(f"{said}\n\n  b'GET /caf\\xc3\\xa9 HTTP/1.1'\n     ^"))
    assert got.status == 400 and example in got.hint, got.hint
    assert ("--data-urlencode" in got.hint) is ("query" in said)  # curl's way, for a query


@pytest.mark.parametrize(("exc", "said"), [
    # aiohttp's C parser, as it words each: the first line alone said little.
    (BadHttpMessage("Bad status line:\n  Expected CRLF after version:\n\n  b'GET / HTTP/1.1"
                    "\\nHost: a'\n                    ^"),
     "Bad request line: a line ended in a bare LF, not CRLF"),
    (BadHttpMessage("Bad status line:\n  Expected HTTP/, RTSP/ or ICE/:\n\n  b'GET /a b "
                    "HTTP/1.1'\n           ^"),
     "Bad request line: Expected HTTP/, RTSP/ or ICE/"),
    (InvalidURLError("*"), "its target is '*', which only OPTIONS may have"),
    (InvalidURLError("http:///x"), "its target 'http:///x' is not a path or a URL"),
])
def test_a_broken_request_line_says_what_was_wrong_with_it(exc: BaseException,
                                                            said: str) -> None:
    got = answer(exc)
    assert (got.status, got.title) == (400, "Malformed request")
    assert got.detail.startswith(f"devproxy could not read this request: {said}"), got.detail
    assert said in got.log


def test_tls_on_the_plain_port_says_so_and_is_not_quiet() -> None:
    got = answer(BadHttpMethod("\x16\x03\x01\x02"))
    assert got.title == "TLS on a plain-HTTP port" and "https://" in got.log
    assert not got.quiet


def test_an_http2_preface_is_505_naming_prior_knowledge_and_is_no_bug() -> None:
    got = answer(BadHttpMessage("Pause on PRI/Upgrade:\n\n  b''\n  ^"))
    assert got.status == 505 and "--http2-prior-knowledge" in got.log
    assert not got.quiet and not got.bug


@pytest.mark.parametrize(("line", "method", "said"), [
    ("FOO /x HTTP/1.1", "FOO", "'FOO' is not one, so it was not forwarded."),
    ("BREW-COFFEE /pot HTTP/1.0", "BREW-COFFEE", "'BREW-COFFEE' is not one"),
    ("get / HTTP/1.1", "get", "; methods are case-sensitive: did you mean GET?"),
])
def test_a_method_llhttp_does_not_know_is_501_and_logged(line: str, method: str,
                                                          said: str) -> None:
    # As aiohttp's C parser words it: the line it choked on, quoted.
    got = answer(BadHttpMethod("", f"Invalid method encountered:\n\n  b'{line}'\n     ^"))
    assert (got.status, got.title) == (501, "Method not supported")
    assert said in got.detail and f"refused a {method} request with 501" in got.log
    assert not got.quiet


def test_a_port_scanners_garbage_is_logged_at_debug_only() -> None:
    assert answer(BadHttpMethod("GARBAGE")).quiet
    got = answer(BadHttpMethod("", "Invalid method encountered:\n\n  b'GARBAGE'\n     ^"))
    assert got.status == 400 and got.quiet


@pytest.mark.parametrize("status", [500, 504])
def test_an_error_escaping_the_handler_is_devproxys_own_and_says_so(status: int) -> None:
    got = answer(RuntimeError("boom") if status == 500 else None, status)
    assert got.status == status and got.title == "devproxy failed"
    assert "bug" in got.log and "backend was not at fault" in got.detail
    assert got.bug
