"""Read the literal part of a JavaScript/TypeScript config: objects, arrays, strings,
numbers, booleans. Anything else (a function, a variable, a call) is kept as its source
text in ``Code``, so an importer can translate the patterns it knows and report the
rest instead of dropping it. Enough for ``server.proxy`` in vite.config.ts and
``devServer.proxy`` in webpack.config.js; not a JavaScript parser. Pure. Which object a
config file exports, and the value at a key of it, is ``jsconfig``'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
IDENT = re.compile(r"[A-Za-z_$][\w$]*")
CLOSERS = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True, slots=True)
class Code:
    """A value that is not a literal, as written."""

    source: str


class JsSyntaxError(ValueError):
    pass


def blank_comments(text: str) -> str:
    """Comments become spaces of the same length (offsets stay valid); strings are kept,
    so the // of 'http://...' is not a comment."""
    out = list(text)
    i, quote = 0, ""
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"`":
            quote = char
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = len(text) if end < 0 else end + 2
            out[i:end] = [c if c == "\n" else " " for c in text[i:end]]
            i = end
            continue
        i += 1
    return "".join(out)


class Reader:
    """Reads the value at ``pos`` of ``text`` (``value()``); the ``skip_*`` helpers let a
    caller walk code the way the reader does."""

    def __init__(self, text: str, pos: int) -> None:
        self.text = blank_comments(text)
        self.pos = pos

    def value(self) -> Any:
        self._space()
        char = self._peek()
        if char == "{":
            return self._object()
        if char == "[":
            return self._array()
        if char in "'\"`":
            start = self.pos
            text = self._string()
            if char == "`" and "${" in text:
                return Code(self.text[start:self.pos])
            return self._maybe_code(start, text)
        start = self.pos
        match = _NUMBER.match(self.text, self.pos)
        if match and not IDENT.match(self.text, match.end()):
            self.pos = match.end()
            number = float(match.group())
            return self._maybe_code(start, int(number) if number.is_integer() else number)
        word = IDENT.match(self.text, self.pos)
        if word and word.group() in ("true", "false", "null", "undefined"):
            self.pos = word.end()
            literal = {"true": True, "false": False}.get(word.group())
            return self._maybe_code(start, literal)
        return Code(self._expression())

    def _maybe_code(self, start: int, literal: Any) -> Any:
        # `'a' + b` or `8080 || x`: not a plain literal after all.
        self._space()
        if self._peek() in (",", "}", "]", ";", ""):  # ; ends a declaration's value
            return literal
        self.pos = start
        return Code(self._expression())

    def _object(self) -> dict[str, Any]:
        self.pos += 1
        out: dict[str, Any] = {}
        while True:
            self._space()
            if self._peek() == "}":
                self.pos += 1
                return out
            if self.text.startswith("...", self.pos):
                out[f"...{len(out)}"] = Code(self._expression())
            else:
                key = self._key()
                self._space()
                if self._peek() == ":":
                    self.pos += 1
                    out[key] = self.value()
                elif self._peek() == "(":  # a method: configure(proxy) { ... }
                    out[key] = Code(key + self._expression())
                elif self._peek() not in (",", "}"):  # async load() {...}, get x() {...}
                    out[key] = Code(key + " " + self._expression())
                else:  # shorthand { target }
                    out[key] = Code(key)
            self._space()
            if self._peek() == ",":
                self.pos += 1
            elif self._peek() != "}":
                raise JsSyntaxError(f"expected ',' or '}}' at {self._where()}")

    def _array(self) -> list[Any]:
        self.pos += 1
        out: list[Any] = []
        while True:
            self._space()
            if self._peek() == "]":
                self.pos += 1
                return out
            out.append(self.value())
            self._space()
            if self._peek() == ",":
                self.pos += 1
            elif self._peek() != "]":
                raise JsSyntaxError(f"expected ',' or ']' at {self._where()}")

    def _key(self) -> str:
        char = self._peek()
        if char in "'\"":
            return self._string()
        if char == "[":  # a computed key: keep its source
            return Code(self._expression()).source
        word = IDENT.match(self.text, self.pos) or _NUMBER.match(self.text, self.pos)
        if word is None:
            raise JsSyntaxError(f"expected a key at {self._where()}")
        self.pos = word.end()
        return word.group()

    def _string(self) -> str:
        quote, start = self.text[self.pos], self.pos
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append({"n": "\n", "t": "\t"}.get(self.text[self.pos + 1],
                                                       self.text[self.pos + 1]))
                self.pos += 2
                continue
            self.pos += 1
            if char == quote:
                return "".join(out)
            out.append(char)
        self.pos = start
        raise JsSyntaxError(f"unterminated string from {self._where()}")

    def _where(self) -> str:
        """Where the reader is, as an editor shows it: line and column."""
        before = self.text[:self.pos]
        return f"line {before.count(chr(10)) + 1}, column {len(before) - before.rfind(chr(10))}"

    def _expression(self) -> str:
        """Source text up to the next ',' '}' or ']' at this nesting level."""
        start = self.pos
        for at, depth in self.walk():
            if not depth and self.text[at] in ",}])":
                break
        return self.text[start:self.pos].strip()

    def walk(self) -> Iterator[tuple[int, int]]:
        """From ``pos`` on, each offset with the depth of the brackets opened since (as
        it stands before that character); a string or regex literal is one step.
        ``pos`` stays at the offset yielded until the next is asked for."""
        depth: list[str] = []
        text = self.text
        while self.pos < len(text):
            at = self.pos
            yield at, len(depth)
            char = text[at]
            if char in "'\"`":
                self._string()
                continue
            if char == "/" and self._regex_allowed():
                self._regex()
                continue
            if char in CLOSERS:
                depth.append(CLOSERS[char])
            elif depth and char == depth[-1]:
                depth.pop()
            self.pos = at + 1

    def _regex_allowed(self) -> bool:
        before = self.text[:self.pos].rstrip()
        return not before or before[-1] in "(,=:[!&|?{};+-*%<>~^"

    def _regex(self) -> None:
        self.pos += 1
        in_class = False
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                self.pos += 1
            elif char == "[":
                in_class = True
            elif char == "]":
                in_class = False
            elif char == "/" and not in_class:
                while self.pos < len(self.text) and self.text[self.pos].isalpha():
                    self.pos += 1
                return

    def _space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""
