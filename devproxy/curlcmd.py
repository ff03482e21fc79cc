"""Copy as curl: a request as one shell command that sends it again, byte for byte.

Pure: a method, URL, header pairs and body in, the command text out. It owns how a
value is quoted so that pasting it into an interactive shell changes nothing (bash's
$'...' for controls, kept bytes and "!"), and which of curl's own habits the command
turns off (its User-Agent, Accept, and the codings it can decode). It never runs a
shell, and never decides what the inspector keeps.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Sequence

from .headers import field_value


def curl(method: str, url: str, headers: Sequence[tuple[str, str]],
         body: bytes | bytearray, cut: bool, total: int = 0, insecure: bool = False) -> str:
    """A curl command that repeats the request (the body only if captured whole, else a
    trailing shell comment says it is missing; ``total`` is its size as sent).
    ``insecure``: it went to a route with ``secure: false``, whose certificate (a dev
    server's self-signed one) curl would refuse as devproxy did not."""
    # -g: browsers send [ ] { } in URLs unencoded, which curl would read as globs.
    parts = ["curl", "-g", "-I" if method == "HEAD" else "-i"]  # -X HEAD waits for a body
    if insecure and url.startswith(("https://", "wss://")):
        parts.append("-k")
    sends_body = bool(body) and not cut
    if method not in ("GET", "HEAD") or (sends_body and method == "GET"):
        parts += ["-X", method]  # a body alone would make curl send POST
    skip = {"host", "content-length", "connection", "transfer-encoding"}
    upgrade = field_value(headers, "upgrade")
    if upgrade is not None and "websocket" in upgrade.lower():
        # The handshake as an HTTP/1.1 request any curl sends (ws:// needs curl 8.11+):
        # it shows the 101, then the frames as they come.
        skip.discard("connection")
        parts += ["--http1.1", "-N"]
        if url.startswith(("ws://", "wss://")):
            url = "http" + url[2:]
    # As Chrome's "Copy as cURL": curl asks for the codings it can decode and prints the
    # body decoded; with the browser's list it could get one it lacks (zstd, br) and
    # fail, or print gzip bytes. Not for a list that takes no coding at all
    # ("identity;q=1, *;q=0", a media range request's): sent as it is.
    compressed = upgrade is None and _takes_a_coding(field_value(headers, "accept-encoding"))
    if compressed:
        skip.add("accept-encoding")
    parts.append(url)
    for name, value in headers:
        if name.lower() not in skip:
            # curl reads "Name:" as "remove Name"; "Name;" sends it empty.
            parts += ["-H", f"{name}: {value}" if value.strip() else f"{name};"]
    if headers:
        # curl sends these of its own; a request that had none gets none.
        for name in ("User-Agent", "Accept"):
            if field_value(headers, name.lower()) is None:
                parts += ["-H", f"{name}:"]
    if compressed:
        parts.append("--compressed")
    if not sends_body and (field_value(headers, "content-length") or "").strip() == "0":
        parts += ["-H", "Content-Length: 0"]  # sent for an empty POST/PATCH; curl would not
    feed = ""
    if sends_body:
        if field_value(headers, "content-type") is None:
            parts += ["-H", "Content-Type:"]  # else curl adds a form type of its own
        text = nul_free_text(body)
        if text is not None:
            # --data-raw: a body starting with "@" is text, not a file to upload.
            parts += ["--data-raw", text]
        else:
            # Bytes no shell argument can carry (NUL, which is valid UTF-8 too, as in a
            # form's zeroed file): piped in, from base64.
            feed = f"printf %s {base64.b64encode(body).decode()} | base64 -d | "
            parts += ["--data-binary", "@-"]
    if headers and field_value(headers, "host") is not None and "://" in url:
        host = field_value(headers, "host")
        if host and host != url.split("://", 1)[1].split("/", 1)[0]:
            parts += ["-H", f"Host: {host}"]
    command = feed + " ".join(map(_shell_word, parts))
    if cut:
        command += (f"  # without its {total}-byte body: the inspector kept "
                    f"{len(body) or 'none'} of it")
    return command


def _takes_a_coding(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding value admits a content coding (RFC 9110 §12.5.3): one
    named, or "*", with a weight above 0; "identity" is no coding."""
    for item in (accept_encoding or "").split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        if not name or name == "identity":
            continue
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        if weight > 0:
            return True
    return False


def nul_free_text(body: bytes | bytearray) -> str | None:
    """``body`` as UTF-8 text that a shell argument or HAR's postData can carry: None
    for bytes that are not UTF-8, or hold a NUL (valid UTF-8, as in a form's zeroed
    file, but no argument holds it)."""
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


# A character a pasted command would not carry as it is: a control (an interactive bash
# reads a pasted CR as LF, and a tab as a completion) or a byte kept as a lone surrogate.
# A terminal reads a C1 control (U+0080-U+009F) as one too.
_UNPASTABLE = re.compile("[\x00-\x1f\x7f-\x9f\udc80-\udcff]")
# And inside $'...', what quotes, and "!": bash 3.2's history expansion (macOS's
# /bin/bash) ends the quoted text at the ' of \', and would expand a "!" after it.
_ESCAPED = re.compile("[\\\\'!\x00-\x1f\x7f-\x9f\udc80-\udcff]")
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _escaped(char: re.Match[str]) -> str:
    text = char.group()
    code = ord(text)
    if 0x80 <= code <= 0x9F:  # the character, not its byte: \x80 would paste one byte
        return f"\\u{code:04x}"
    return _ESCAPES.get(text) or f"\\x{code - 0xDC00 if code > 0xFF else code:02x}"


def _shell_word(text: str) -> str:
    """``text`` as one bash word, the same bytes once pasted into an interactive shell.
    Text with a control character (C0 or C1) or a byte kept as a lone surrogate (a
    header's obs-text) goes in bash's $'...' quoting, each such character escaped
    ("\\r", "\\xe9", "\\u0085"), and "!" too, as Chrome's "Copy as cURL" writes it: a
    CR in quotes is pasted as LF (a multipart body's every line end), and shlex would
    quote a character no encoding can write, which would paste as U+FFFD."""
    if _UNPASTABLE.search(text) is None:
        return shlex.quote(text)
    return "$'" + _ESCAPED.sub(_escaped, text) + "'"
