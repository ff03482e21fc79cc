"""What a ``multipart/form-data`` body holds, for the inspector to show: each part's
field name, file name, type and size, and a text field's value.

Pure: bytes in, the parts out. Lenient where a browser's body is never wrong, because the
body may be cut at the capture limit: the parts up to the cut are shown and the last
is marked cut, rather than the whole body shown as binary. Nothing here decides what
is forwarded; devproxy relays the body as it came.
"""

from __future__ import annotations

import re
from typing import Any

_PARTS_SHOWN = 100  # a form with more lists its first ones
_VALUE_SHOWN = 2000  # characters of one text field's value
# RFC 2046 §5.1.1: 1 to 70 of these characters, not ending in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# A parameter of Content-Type or Content-Disposition: name=token or name="quoted".
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def param(header: str, name: str) -> str | None:
    """A parameter's value (``boundary`` of a Content-Type, ``name`` of a
    Content-Disposition), unquoted; None if absent."""
    for key, given in _PARAM.findall(header):
        if key.lower() == name:
            value: str = given.strip()
            if value.startswith('"') and value.endswith('"') and len(value) > 1:
                # Only \" and \\ are undone: browsers write a quote as %22 (HTML) and
                # never escape, so a backslash in a Windows path is the name's own.
                value = re.sub(r'\\(["\\])', r"\1", value[1:-1])
            return value
    return None


def form_parts(body: bytes, content_type: str, cut: bool = False
               ) -> tuple[list[dict[str, Any]], int] | None:
    """The parts of a ``multipart/form-data`` body (RFC 7578, framed as RFC 2046
    §5.1.1 says), and how many more there are past the first ``_PARTS_SHOWN``; None if
    ``content_type`` is not one with a valid boundary or no part starts in ``body``.
    ``cut``: the body was cut at the capture limit, so a part it ends inside is marked
    ``truncated``."""
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        return None
    boundary = param(content_type, "boundary")
    if boundary is None or not _BOUNDARY.fullmatch(boundary):
        return None
    # Every delimiter but the first follows a CRLF, which belongs to it (§5.1.1): with
    # one put before the body, all of them split alike.
    delimiter = b"\r\n--" + boundary.encode("ascii")
    pieces = (b"\r\n" + body).split(delimiter)
    parts: list[dict[str, Any]] = []
    ended = False
    more = 0
    for number, piece in enumerate(pieces[1:], start=2):
        if piece.startswith(b"--"):
            ended = True  # the close delimiter: what follows is the epilogue
            break
        if len(parts) == _PARTS_SHOWN:
            more += 1  # counted, not parsed
            continue
        last = number == len(pieces)
        # Transport padding (spaces and tabs) may follow a delimiter, then its CRLF.
        _, newline, piece = piece.partition(b"\r\n")
        if piece.startswith(b"\r\n"):  # no header fields: the blank line at once (§5.1.1)
            head, blank, content = b"", b"\r\n", piece[2:]
        else:
            head, blank, content = piece.partition(b"\r\n\r\n")
        if not newline or not blank:
            if last and cut:  # cut inside the part's header: its whole lines are shown
                part = _part(piece[:piece.rfind(b"\r\n") + 1], b"", truncated=True)
                del part["size"]  # unknown
                part.pop("text", None)  # not begun
                parts.append(part)
            break
        if last and cut:
            content = content[:len(content) - _started(content, delimiter)]
        parts.append(_part(head, content, truncated=last and cut))
    if not parts:
        return None
    if not ended and not cut and not more:
        parts[-1]["unterminated"] = True  # the body ended without the close delimiter
    return parts, more


def _started(content: bytes, delimiter: bytes) -> int:
    """How many bytes at the end of ``content`` (cut at the capture limit) begin
    ``delimiter``: the part may have ended there, so they are not counted as its own."""
    for length in range(min(len(delimiter), len(content)), 0, -1):
        if content.endswith(delimiter[:length]):
            return length
    return 0


def _part(head: bytes, content: bytes, truncated: bool) -> dict[str, Any]:
    fields = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    disposition = fields.get("content-disposition", "")
    part: dict[str, Any] = {"name": param(disposition, "name") or "", "size": len(content)}
    filename = param(disposition, "filename")
    kind = fields.get("content-type", "")
    if filename is not None:
        part["filename"] = filename
    if kind:
        part["type"] = kind
    if truncated:
        part["truncated"] = True
    # A field's value (no file name) is text unless its type says otherwise (§4.4).
    if filename is None and (not kind or kind.lower().startswith("text/")):
        try:  # one cut inside a character is not a reason to show none of it
            text = content.decode("utf-8", "replace" if truncated else "strict")
        except UnicodeDecodeError:
            pass
        else:
            part["text"] = text[:_VALUE_SHOWN]
            if len(text) > _VALUE_SHOWN:
                part["text_cut"] = True
    return part
