"""The object a JavaScript/TypeScript config file exports, and the literal at a key of
it (``jsliteral`` reads the value). Follows ``export default`` / ``module.exports``
through wrapper calls, functions that return the object and an exported variable, the
way configs are written; not a JavaScript interpreter. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .jsliteral import IDENT, Code, JsSyntaxError, Reader, blank_comments


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
        JsSyntaxError: the value is found but is not readable, or nested deeper than
            Python's stack lets the reader go.
    """
    try:
        return _find_value(text, keys)
    except RecursionError:
        raise JsSyntaxError("nested too deeply to read") from None


def _find_value(text: str, keys: tuple[str, ...]) -> Any:
    blank = blank_comments(text)
    if _EXPORT.search(blank) is None:
        return _first_value(text, blank, keys)
    start = _exported(blank)
    if start is None:
        return None
    pos = _key(Reader(blank, 0), start, keys[0])
    if pos is None:
        return None
    value = _followed(text, blank, Reader(text, pos).value())
    for key in keys[1:]:
        if not isinstance(value, dict) or key not in value:
            return None
        value = _followed(text, blank, value[key])
    return value


def _followed(text: str, blank: str, value: Any) -> Any:
    """A value that names a variable (``devServer: devServer``, the shorthand
    ``{ devServer }``, ``proxy: proxyRules``) as the value it is declared with
    (``const devServer = {...}``), if the file declares it; else as it is."""
    for _ in range(10):  # a chain of names, never a loop
        if not isinstance(value, Code) or not IDENT.fullmatch(value.source):
            return value
        declared = re.search(rf"(?<![\w$.])(?:const|let|var)\s+{re.escape(value.source)}"
                             rf"\s*(?::[^=]+)?=(?![=>])", blank)
        if declared is None:
            return value
        value = Reader(text, declared.end()).value()
    return value


def _first_value(text: str, blank: str, keys: tuple[str, ...]) -> Any:
    start = 0
    for key in keys:
        found = re.compile(rf"(?<![\w$.])['\"]?{re.escape(key)}['\"]?\s*:").search(
            blank, start)
        if found is None:
            return None
        start = found.end()
    return Reader(text, start).value()


_EXPORT = re.compile(r"(?<![\w$.])(?:export\s+default\b|module\.exports\s*=(?!=)"
                     r"|export\s*=(?!=))")
_ARROW = re.compile(r"\s*(?::\s*[\w$.<>\[\]| ]+)?\s*=>")  # `): UserConfig =>` too
_FUNCTION = re.compile(r"function\b\s*\*?\s*[\w$]*\s*(?=\()")


def _exported(blank: str) -> int | None:
    """Offset of the ``{`` of the exported object in ``blank`` (comments blanked)."""
    found = _EXPORT.search(blank)
    pos = found.end() if found else 0
    reader = Reader(blank, 0)
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
        elif rest.startswith("async") and not IDENT.match(rest, 5):
            pos += 5
        elif function := _FUNCTION.match(rest):
            arrow_end = _group_end(reader, pos + function.end())
            pos = _body(reader, arrow_end)
        elif word := IDENT.match(blank, pos):
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


def _walk(reader: Reader, pos: int) -> Iterator[tuple[int, int]]:
    """Each offset of the bracketed group at ``pos``, with its depth (1: directly inside
    the group), up to its closing bracket; a string or regex literal is one step."""
    reader.pos = pos
    for at, depth in reader.walk():
        if not depth and at > pos:  # past the bracket that closed the group
            return
        yield at, depth


def _group_end(reader: Reader, pos: int) -> int:
    """The offset after the bracket that closes the one at ``pos``."""
    offsets = [at for at, _ in _walk(reader, pos)]
    return offsets[-1] + 1 if offsets else len(reader.text)


def _body(reader: Reader, pos: int) -> int:
    """Where a function body at ``pos`` gives its value: an expression body as it is,
    a block's first ``return`` at the block's own level."""
    text = reader.text
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if not text.startswith("{", pos):
        return pos
    for at, depth in _walk(reader, pos):
        if depth == 1 and re.match(r"return\b", text[at:at + 7]) \
                and not re.match(r"[\w$.]", text[at - 1]):
            return at + len("return")
    return len(text)  # no return: nothing to read


def _key(reader: Reader, start: int, key: str) -> int | None:
    """Where the value of ``key:`` of the object at ``start`` begins, found without
    reading the object's other values (a plugin's code need not be readable)."""
    text = reader.text
    pattern = re.compile(rf"['\"]?{re.escape(key)}['\"]?\s*:")
    shorthand = re.compile(rf"{re.escape(key)}(?![\w$])(?=\s*[,}}])")  # { devServer }
    for at, depth in _walk(reader, start):
        if depth == 1 and text[:at].rstrip()[-1:] in ("{", ","):
            if found := pattern.match(text, at):
                return found.end()
            if shorthand.match(text, at):
                return at  # the name itself: read as code, then followed to its value
    return None
