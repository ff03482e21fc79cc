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


class JsEndError(JsSyntaxError):
    """The text ends inside a value: a half-written file, or a quote that opened a
    string the reader never saw close."""


# ECMA-262 §12.9.4 (string literals) and §12.9.6 (template literals).
_SINGLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_LINE_TERMINATORS = ("\r\n", "\n", "\r", "\u2028", "\u2029")
_DIGITS = frozenset("0123456789")  # ASCII only: \٣ is ٣, as \q is q
_SUBSTITUTION = re.compile(r"(?<!\\)(?:\\\\)*\$\{")  # ${ in a template, not \${
_HEX = re.compile(r"x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|u\{([0-9A-Fa-f]+)\}")


def unescape(body: str, template: bool = False) -> str:
    """The value of a string literal whose text between the quotes is ``body`` (a
    template's without ``${}`` when ``template``): its escapes decoded, a surrogate pair
    of \\u escapes joined into the character it stands for.

    Raises:
        JsSyntaxError: an escape JavaScript refuses (``\\x4``, ``\\u{110000}``), a legacy
            octal one (``\\1``, ``\\08``: refused in modules and templates, and read as
            nothing else here), or half a surrogate pair, which no UTF-8 file can hold.
    """
    out: list[str] = []
    at = 0
    while (escape := body.find("\\", at)) >= 0:
        out.append(_raw(body[at:escape], template))
        char, at = body[escape + 1], escape + 2
        if char in _SINGLE_ESCAPES:
            out.append(_SINGLE_ESCAPES[char])
        elif char == "0" and body[at:at + 1] not in _DIGITS:
            out.append("\0")
        elif char in _DIGITS:
            shown = body[escape:at + (char == "0")]
            raise JsSyntaxError(f"the escape {shown} is not read: a legacy octal one, which "
                                f"strict mode and templates refuse")
        elif char in "xu":
            found = _HEX.match(body, escape + 1)
            code = int(next(g for g in found.groups() if g), 16) if found else 0x110000
            if code > 0x10FFFF:
                shown = found.group() if found else body[escape + 1:escape + 6]
                raise JsSyntaxError(f"malformed escape \\{shown}")
            out.append(chr(code))
            at = found.end() if found else at
        elif line_end := next((t for t in _LINE_TERMINATORS
                               if body.startswith(t, escape + 1)), ""):
            at = escape + 1 + len(line_end)  # a line continuation: nothing
        else:
            out.append(char)  # \q is q, \' is '
    out.append(_raw(body[at:], template))
    text = "".join(out)
    try:  # JavaScript strings are UTF-16: "\ud83d\ude00" is one character
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise JsSyntaxError("half a surrogate pair (a lone \\uD800-\\uDFFF) is not "
                            "read") from exc


def _raw(text: str, template: bool) -> str:
    # A template's line breaks are LF whatever the file's (§12.9.6, TV of a CR or CRLF).
    return text.replace("\r\n", "\n").replace("\r", "\n") if template else text


def blank_comments(text: str) -> str:
    """Comments become spaces of the same length (offsets stay valid); strings and regex
    literals are kept, so the // of 'http://...' or of /^\\/api\\//, is not a comment."""
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
        elif char == "/" and text[i + 1:i + 2] not in ("/", "*") and regex_allowed(text, i):
            i = regex_end(text, i)
            continue
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


# Keywords after which an expression begins, so a "/" starts a regex literal
# (``return /^\/api\//.test(url)``), where after a name or a number it divides.
_BEFORE_EXPRESSION = frozenset({
    "return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void",
    "throw", "yield", "await", "instanceof"})


def regex_allowed(text: str, at: int) -> bool:
    """Whether a "/" at ``at`` starts a regex literal, not a division: by the token
    before it (ECMA-262 tells them apart by grammar; this is the usual shortcut)."""
    end = at
    while end and text[end - 1].isspace():
        end -= 1
    if not end or text[end - 1] in "(,=:[!&|?{};+-*%<>~^":
        return True
    start = end
    while start and (text[start - 1].isalnum() or text[start - 1] in "_$"):
        start -= 1
    # Not a property that happens to be called so (``options.in / 2``).
    return text[start:end] in _BEFORE_EXPRESSION and (not start or text[start - 1] != ".")


def regex_end(text: str, at: int) -> int:
    """Where the regex literal starting with the "/" at ``at`` ends, its flags included;
    a line end ends it too (a regex literal holds none)."""
    at += 1
    in_class = False
    while at < len(text):
        char = text[at]
        at += 1
        if char == "\\":
            at += 1
        elif char == "\n":
            return at
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "/" and not in_class:
            while at < len(text) and text[at].isalpha():
                at += 1
            return at
    return at


class Reader:
    """Reads the value at ``pos`` of ``text`` (``value()``); the ``skip_*`` helpers let a
    caller walk code the way the reader does."""

    def __init__(self, text: str, pos: int) -> None:
        self.text = blank_comments(text)
        self.pos = pos

    def value(self) -> Any:
        self._space()
        char = self._peek()
        if not char:  # "" would pass every `in` test below
            raise JsEndError(f"the file ends at {self._where()}, where a value should be")
        if char == "{":
            return self._object()
        if char == "[":
            return self._array()
        if char in "'\"`":
            start = self.pos
            self._skip_string()
            if char == "`" and _SUBSTITUTION.search(self.text, start + 1, self.pos - 1):
                return Code(self.text[start:self.pos])
            self.pos = start
            return self._maybe_code(start, self._string())
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
        opened = self._where()
        self.pos += 1
        out: dict[str, Any] = {}
        while True:
            self._space()
            self._not_ended("object", opened)
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
            self._not_ended("object", opened)
            if self._peek() == ",":
                self.pos += 1
            elif self._peek() != "}":
                raise JsSyntaxError(f"expected ',' or '}}' at {self._where()}")

    def _array(self) -> list[Any]:
        opened = self._where()
        self.pos += 1
        out: list[Any] = []
        while True:
            self._space()
            self._not_ended("array", opened)
            if self._peek() == "]":
                self.pos += 1
                return out
            out.append(self.value())
            self._space()
            self._not_ended("array", opened)
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
        """The value of the string (or template) literal at ``pos``, escapes decoded."""
        start = self.pos
        self._skip_string()
        try:
            return unescape(self.text[start + 1:self.pos - 1], self.text[start] == "`")
        except JsSyntaxError as exc:
            self.pos = start
            raise JsSyntaxError(f"{exc}, in the string at {self._where()}") from None

    def _skip_string(self) -> None:
        # Only its end is found here: a tagged template (String.raw`\u`) may hold escapes
        # no plain string could, and code is skipped, never read.
        quote, start = self.text[self.pos], self.pos
        self.pos += 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 2 if char == "\\" else 1
            if char == quote:
                return
        self.pos = start
        raise JsEndError(f"unterminated string from {self._where()}")

    def _not_ended(self, what: str, opened: str) -> None:
        if self.pos >= len(self.text):
            raise JsEndError(f"the file ends at {self._where()}, inside the {what} opened "
                             f"at {opened}")

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
                self._skip_string()
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
        return regex_allowed(self.text, self.pos)

    def _regex(self) -> None:
        self.pos = regex_end(self.text, self.pos)

    def _space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""
