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


def indent_json(text: str, step: str = "  ") -> str | None:
    """``text`` laid out one member or element a line, indented by ``step``; None when it
    is not one JSON text (RFC 8259: Python's NaN and Infinity are not)."""
    try:
        json.loads(text, parse_constant=_not_json)
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
    return "".join(out)
