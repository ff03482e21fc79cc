"""Read the literal part of a JavaScript/TypeScript config: objects, arrays, strings,
numbers, booleans. Anything else (a function, a variable, a call) is kept as its source
text in ``Code``, so an importer can translate the patterns it knows and report the
rest instead of dropping it. Enough for ``server.proxy`` in vite.config.ts and
``devServer.proxy`` in webpack.config.js; not a JavaScript parser. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True, slots=True)
class Code:
    """A value that is not a literal, as written."""

    source: str


class JsSyntaxError(ValueError):
    pass


def find_value(text: str, *keys: str) -> Any:
    """The literal at ``keys`` in the config object the file exports.

    ``find_value(src, "server", "proxy")`` reads the object at ``proxy:`` inside the
    object at ``server:`` of the exported object: ``export default {...}``,
    ``module.exports = {...}``, through calls (``defineConfig({...})``), functions that
    return one (``defineConfig(({ mode }) => ({...}))``) and a variable
    (``const config = {...}; export default config``). Never a nested ``server:`` such
    as Vitest's ``test.server``. A file that exports nothing is searched for the first
    ``key:`` anywhere, as a fragment. Returns None if a key is not found, or the value
    on the way is not an object.

    Raises:
        JsSyntaxError: the value is found but is not readable.
    """
    blank = _blank_comments(text)
    if _EXPORT.search(blank) is None:
        return _first_value(text, blank, keys)
    start = _exported(blank)
    if start is None:
        return None
    value = _Reader(text, start).value()
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _first_value(text: str, blank: str, keys: tuple[str, ...]) -> Any:
    start = 0
    for key in keys:
        found = re.compile(rf"(?<![\w$.])['\"]?{re.escape(key)}['\"]?\s*:").search(
            blank, start)
        if found is None:
            return None
        start = found.end()
    return _Reader(text, start).value()


_EXPORT = re.compile(r"(?<![\w$.])(?:export\s+default\b|module\.exports\s*=(?!=)"
                     r"|export\s*=(?!=))")
_ARROW = re.compile(r"\s*(?::\s*[\w$.<>\[\]| ]+)?\s*=>")  # `): UserConfig =>` too
_FUNCTION = re.compile(r"function\b\s*\*?\s*[\w$]*\s*(?=\()")


def _exported(blank: str) -> int | None:
    """Offset of the ``{`` of the exported object in ``blank`` (comments blanked)."""
    found = _EXPORT.search(blank)
    pos = found.end() if found else 0
    reader = _Reader(blank, 0)
    followed: set[str] = set()
    for _ in range(50):  # wrappers, arrows, a variable: a few steps, never a loop
        while pos < len(blank) and blank[pos].isspace():
            pos += 1
        rest = blank[pos:pos + 200]
        if blank.startswith("{", pos):
            return pos
        if blank.startswith("(", pos):
            end = _group_end(reader, pos)
            arrow = _ARROW.match(blank, end)
            pos = _body(reader, arrow.end()) if arrow else pos + 1  # else: call arguments
        elif rest.startswith("async") and not _IDENT.match(rest, 5):
            pos += 5
        elif function := _FUNCTION.match(rest):
            arrow_end = _group_end(reader, pos + function.end())
            pos = _body(reader, arrow_end)
        elif word := _IDENT.match(blank, pos):
            name, after = word.group(), word.end()
            arrow = _ARROW.match(blank, after)
            if arrow:  # env => ({...})
                pos = _body(reader, arrow.end())
            elif re.match(r"\s*(?:<[^>()]*>\s*)?\(", blank[after:]):  # defineConfig(
                pos = blank.index("(", after) + 1
            elif re.match(r"\s*,", blank[after:]):  # mergeConfig(base, {...})
                pos = blank.index(",", after) + 1
            elif name not in followed and (declared := re.search(
                    rf"(?<![\w$.])(?:(?:const|let|var)\s+{re.escape(name)}\s*(?::[^=]+)?="
                    rf"|function\s+{re.escape(name)}\s*(?=\())", blank)):
                followed.add(name)  # export default config, declared above
                pos = declared.end()
                if declared.group().startswith("function"):
                    pos = _body(reader, _group_end(reader, pos))
            else:
                return None
        else:
            return None
    return None


def _group_end(reader: _Reader, pos: int) -> int:
    """The offset after the bracket that closes the one at ``pos``."""
    depth: list[str] = []
    reader.pos = pos
    text = reader.text
    while reader.pos < len(text):
        char = text[reader.pos]
        if char in "'\"`":
            reader.skip_string()
            continue
        if char == "/" and reader.regex_allowed():
            reader.skip_regex()
            continue
        if char in _CLOSERS:
            depth.append(_CLOSERS[char])
        elif depth and char == depth[-1]:
            depth.pop()
            if not depth:
                return reader.pos + 1
        reader.pos += 1
    return len(text)


def _body(reader: _Reader, pos: int) -> int:
    """Where a function body at ``pos`` gives its value: an expression body as it is,
    a block's first ``return`` at the block's own level."""
    text = reader.text
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if not text.startswith("{", pos):
        return pos
    depth: list[str] = []
    reader.pos = pos
    while reader.pos < len(text):
        char = text[reader.pos]
        if char in "'\"`":
            reader.skip_string()
            continue
        if char == "/" and reader.regex_allowed():
            reader.skip_regex()
            continue
        if len(depth) == 1 and re.match(r"return\b", text[reader.pos:reader.pos + 7]) \
                and not re.match(r"[\w$.]", text[reader.pos - 1]):
            return reader.pos + len("return")
        if char in _CLOSERS:
            depth.append(_CLOSERS[char])
        elif depth and char == depth[-1]:
            depth.pop()
            if not depth:
                break
        reader.pos += 1
    return len(text)  # no return: nothing to read


def _blank_comments(text: str) -> str:
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


class _Reader:
    def __init__(self, text: str, pos: int) -> None:
        self.text = _blank_comments(text)
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
        if match and not _IDENT.match(self.text, match.end()):
            self.pos = match.end()
            number = float(match.group())
            return self._maybe_code(start, int(number) if number.is_integer() else number)
        word = _IDENT.match(self.text, self.pos)
        if word and word.group() in ("true", "false", "null", "undefined"):
            self.pos = word.end()
            literal = {"true": True, "false": False}.get(word.group())
            return self._maybe_code(start, literal)
        return Code(self._expression())

    def _maybe_code(self, start: int, literal: Any) -> Any:
        # `'a' + b` or `8080 || x`: not a plain literal after all.
        self._space()
        if self._peek() in (",", "}", "]", ""):
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
                raise JsSyntaxError(f"expected ',' or '}}' at offset {self.pos}")

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
                raise JsSyntaxError(f"expected ',' or ']' at offset {self.pos}")

    def _key(self) -> str:
        char = self._peek()
        if char in "'\"":
            return self._string()
        if char == "[":  # a computed key: keep its source
            return Code(self._expression()).source
        word = _IDENT.match(self.text, self.pos) or _NUMBER.match(self.text, self.pos)
        if word is None:
            raise JsSyntaxError(f"expected a key at offset {self.pos}")
        self.pos = word.end()
        return word.group()

    def _string(self) -> str:
        quote = self.text[self.pos]
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
        raise JsSyntaxError("unterminated string")

    def _expression(self) -> str:
        """Source text up to the next ',' '}' or ']' at this nesting level."""
        start, depth = self.pos, []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in "'\"`":
                self._string()
                continue
            if char == "/" and self._regex_allowed():
                self._regex()
                continue
            if char in _CLOSERS:
                depth.append(_CLOSERS[char])
            elif depth and char == depth[-1]:
                depth.pop()
            elif not depth and char in ",}])":
                break
            self.pos += 1
        return self.text[start:self.pos].strip()

    def skip_string(self) -> None:
        self._string()

    def regex_allowed(self) -> bool:
        return self._regex_allowed()

    def skip_regex(self) -> None:
        self._regex()

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
