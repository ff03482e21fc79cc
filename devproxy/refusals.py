"""What devproxy answers when aiohttp's parser refuses a request, in words a developer
can act on.

Owns the mapping from the parser's exceptions to a status, a title, a sentence and the
terminal's line. aiohttp's own answer is an HTTP/1.0 400 whose body is a Python repr of
the bytes it choked on, even for a request that is only over devproxy's size limits; a
browser that piled up localhost cookies from many apps deserves to learn which setting
to raise. No I/O: the shell (``app``) sends the answer and logs the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp.http_exceptions import (
    BadHttpMethod,
    HttpProcessingError,
    InvalidURLError,
    LineTooLong,
)

from . import screen
from .screen import field_too_long, over_limit_log, too_many_fields, url_too_long

# The pure-Python parser (AIOHTTP_NO_EXTENSIONS) reports the whole request line; the C
# parser only the request-target, in the bytearray it collects the URL in.
_REQUEST_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ ")
# llhttp stops at the HTTP/2 connection preface ("PRI * HTTP/2.0"), which a client
# sends when told to speak HTTP/2 without TLS ("prior knowledge").
_H2_PREFACE = "pause on pri/upgrade"
_H2_HINT = ("a client spoke HTTP/2 by prior knowledge (h2c, as curl --http2-prior-knowledge "
            "or a gRPC client does) to devproxy, which speaks HTTP/1.1: let it use HTTP/1.1")
# A request line whose method llhttp does not know (it reads only registered methods):
# the method, from the line the parser quotes. A port scan's bytes do not look like this.
_UNKNOWN_METHOD = re.compile(r"\n\s*b['\"]([!#$%&*+.^_`|~0-9A-Za-z-]{1,32}) \S+ HTTP/1\.[01]['\"]")
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
                            "TRACE", "PATCH", "QUERY"})
_TLS_HINT = ("a client spoke TLS (https://) to devproxy's plain-HTTP port: "
             "open the http:// address devproxy printed at start-up")


@dataclass(frozen=True, slots=True)
class Refusal:
    """An answer to a request devproxy could not read.

    ``log`` is the terminal's line; ``quiet`` says it belongs at debug level (a port
    scan or a TLS client is not the developer's mistake to fix in devproxy.yaml); ``bug``
    that devproxy itself failed, so the line is an error with its traceback.
    """

    status: int
    title: str
    detail: str
    hint: str
    log: str
    quiet: bool = False
    bug: bool = False


def refusal(exc: BaseException | None, status: int, header_size: int, headers: int
            ) -> Refusal:
    """Devproxy's answer in place of aiohttp's ``status`` for ``exc``.

    Args:
        exc: what the parser (or, with ``status`` 500, the handler) raised.
        status: the status aiohttp chose (400 for a parse error, 500, 504).
        header_size: ``limits.header_size`` as the parser was built with it.
        headers: ``limits.headers`` likewise.
    """
    if isinstance(exc, LineTooLong):
        line = exc.args[0] if exc.args else b""
        if isinstance(line, bytearray) or _REQUEST_LINE.match(bytes(line or b"")):
            return _over(url_too_long(header_size))
        return _over(field_too_long(header_size))
    if isinstance(exc, HttpProcessingError):
        said = (exc.message or "").strip().splitlines() or ["malformed request"]
        first = said[0].rstrip(":")
        if isinstance(exc, InvalidURLError) and not first.startswith("Invalid char in url"):
            return _bad_target(first)  # aiohttp's message is the target alone
        if first == "Bad status line":  # aiohttp's name, for a request's line too
            first = "Bad request line"
        # llhttp's "Bad status line" says what it expected on the line after.
        why = next((line.strip().rstrip(":") for line in said[1:2] if line.startswith("  ")
                    and not line.strip().startswith(("b'", 'b"'))), "")
        if why == "Expected CRLF after version" or why == "Expected LF after CR":
            return _malformed(f"{first}: a line ended in a bare LF, not CRLF",
                              "End every line of the head with CRLF (\\r\\n), as RFC 9112 "
                              "§2.2 asks: a bare LF, which some servers read and others "
                              "not, is how requests are smuggled past proxies.")
        if why:
            first = f"{first}: {why}"
        if first.lower() == "too many headers received":
            return _over(too_many_fields(headers))
        if isinstance(exc, BadHttpMethod) and first.startswith("Received HTTPS traffic"):
            return Refusal(400, "TLS on a plain-HTTP port",
                           "devproxy serves http://, and this client spoke TLS to it.",
                           "Use http:// in the address, not https://.", _TLS_HINT)
        unknown = _UNKNOWN_METHOD.search(exc.message or "") \
            if isinstance(exc, BadHttpMethod) else None
        if unknown is not None:
            return _unknown_method(unknown.group(1))
        if first.lower() == _H2_PREFACE:
            # The client reads HTTP/2 frames, not this; the line is for the terminal.
            return Refusal(505, "HTTP version not supported",
                           "devproxy speaks HTTP/1.1, and this client spoke HTTP/2.",
                           "Let the client use HTTP/1.1.", _H2_HINT)
        if first.startswith("Invalid char in url"):
            # curl sends a query's UTF-8 as it was typed; browsers percent-encode it.
            example = ("/caf%C3%A9, not /café" if "path" in first else
                       "?q=caf%C3%A9, not ?q=café (curl: -G --data-urlencode 'q=café')")
            return Refusal(400, "Malformed request",
                           f"devproxy could not read this request: {first}.",
                           "A URL holds only ASCII: other characters are percent-encoded "
                           f"as their UTF-8 bytes (RFC 3986 §2.1), as browsers send them: "
                           f"{example}.",
                           f"refused a malformed request with 400: {first}")
        return _malformed(first, "It breaks the HTTP/1.1 message syntax (RFC 9112); the "
                          "client that sent it needs fixing, not devproxy.yaml.",
                          quiet=isinstance(exc, BadHttpMethod))
    # Anything else escaped the handler (aiohttp's 500, or 504 for a TimeoutError): a bug.
    return Refusal(status, "devproxy failed", "devproxy hit an error of its own while "
                   "answering this request; the backend was not at fault.",
                   "The traceback is in devproxy's terminal. Please report it.",
                   f"answered {status}: an error of devproxy's own (a bug; please report it)",
                   bug=True)


def _unknown_method(method: str) -> Refusal:
    # RFC 9110 §15.6.2: 501 for a method the server does not recognise. Methods are an
    # open set (§16.1), but aiohttp's C parser refuses those llhttp does not know.
    upper = method.upper()
    case = f"methods are case-sensitive: did you mean {upper}?" \
        if upper != method and upper in _KNOWN_METHODS else ""
    return Refusal(501, "Method not supported",
                   f"devproxy's HTTP parser (llhttp, in aiohttp) reads only registered "
                   f"methods, and {method!r} is not one, so it was not forwarded"
                   + (f"; {case}" if case else "."),
                   "Send a registered method (GET, POST, PUT, PATCH, DELETE, ...); WebDAV's "
                   "and QUERY pass too.",
                   f"refused a {method} request with 501: aiohttp's HTTP parser reads only "
                   f"registered methods, so devproxy cannot forward it"
                   + (f" ({case})" if case else ""))


def _over(refused: screen.Refusal) -> Refusal:
    return Refusal(refused.status, refused.title, refused.detail, refused.hint,
                   over_limit_log(refused))


def _malformed(said: str, hint: str, quiet: bool = False) -> Refusal:
    return Refusal(400, "Malformed request", f"devproxy could not read this request: {said}.",
                   hint, f"refused a malformed request with 400: {said}", quiet=quiet)


def _bad_target(target: str) -> Refusal:
    """The parser read the request line, and not its target as a URL."""
    shown = target if len(target) <= 200 else target[:200] + "…"
    if target == "*":
        # Not "or OPTIONS *": devproxy refuses that too (``screen.target_refusal``).
        return _malformed("its target is '*', which only OPTIONS may have (RFC 9112 §3.2.4)",
                          "Send a path (/ or /api/...).")
    return _malformed(f"its target {shown!r} is not a path or a URL devproxy can read",
                      "A request names a path (/api/items?q=1), or a whole URL with a "
                      "host (http://host:port/path) as proxies are sent (RFC 9112 §3.2).")
