"""JSON text re-indented for the inspector, every token kept as written.

A parse and a dump would show other values than were sent: a 64-bit id past 2**53 as
a float in the page, ``1.10`` as ``1.1``, ``1e400`` as ``null``, a repeated key once.
Only the whitespace between tokens changes here. No I/O.
"""

from __future__ import annotations

import json
import re

# RFC 8259's tokens: a string (its escapes whole), a structural character, or a run of
# a number or literal. Whitespace between them is what is rewritten.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+', re.DOTALL)


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


# Where a JSON text cut short may end: inside a literal or number where a value was
# expected, or inside a number already read in part ("1." or "1e", read as "1").
_PARTIAL_SCALAR = re.compile(r"[-+.\w]*\s*")
_PARTIAL_NUMBER = re.compile(r"[.eE][-+\d]*\s*")
_PARTIAL_ESCAPE = re.compile(r"u[0-9a-fA-F]{0,4}")  # after its backslash


def indent_json(text: str, step: str = "  ", partial: bool = False) -> str | None:
    """``text`` laid out one member or element a line, indented by ``step``; None when it
    is not one JSON text (RFC 8259: Python's NaN and Infinity are not). ``partial``:
    the text may be the start of one, cut anywhere (a body kept in part); its last
    token, if cut, is kept as it is."""
    if not text.strip():
        return None
    tail = ""
    try:
        json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        if not partial:
            return None
        # A valid start fails only where the text runs out: at its end, or at the start
        # of a string or scalar it cuts short.
        rest = text[exc.pos:]
        if exc.msg.startswith("Invalid \\uXXXX") and _PARTIAL_ESCAPE.fullmatch(rest):
            # Cut inside a string's escape: the string up to it is cut short too.
            shown = indent_json(text[:exc.pos - 1], step, partial=True)
            return None if shown is None else shown + text[exc.pos - 1:]
        if not rest.strip() or exc.msg.startswith("Unterminated string") \
                or (exc.msg == "Expecting value" and _PARTIAL_SCALAR.fullmatch(rest)) \
                or (exc.msg == "Expecting ',' delimiter" and _PARTIAL_NUMBER.fullmatch(rest)):
            text, tail = text[:exc.pos], rest
        else:
            return None
    except (ValueError, RecursionError):
        return None
    out: list[str] = []
    depth = 0
    opened = False  # the last token opened an object or array
    for token in _TOKEN.findall(text):
        if opened and token in ("}", "]"):  # empty: {} and [] stay on one line
            out[-1] = out[-1][0]
            out.append(token)
            depth -= 1
            opened = False
            continue
        opened = False
        if token in ("{", "["):
            depth += 1
            out.append(token + "\n" + step * depth)
            opened = True
        elif token in ("}", "]"):
            depth -= 1
            out.append("\n" + step * depth + token)
        elif token == ",":
            out.append(",\n" + step * depth)
        elif token == ":":
            out.append(": ")
        else:
            out.append(token)
    return "".join(out) + tail
