"""The object a JavaScript/TypeScript config file exports, and the literal at a key of
it (``jsliteral`` reads the value). Follows ``export default`` / ``module.exports``
through wrapper calls, functions that return the object and an exported variable, the
way configs are written, and into an exported array of configs (webpack's
multi-compiler form); not a JavaScript interpreter. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .jsliteral import IDENT, Code, JsSyntaxError, Reader, blank_comments


def find_value(text: str, *keys: str) -> Any:
    """The literal at ``keys`` in the config object the file exports.

    ``find_value(src, "server", "proxy")`` reads the object at ``proxy:`` inside the
    object at ``server:`` of the exported object: ``export default {...}``,
    ``module.exports = {...}``, through calls (``defineConfig({...})``), functions that
    return one (``defineConfig(({ mode }) => ({...}))``) and a variable
    (``const config = {...}; export default config``). Never a nested ``server:`` such
    as Vitest's ``test.server``. Of an exported array of configs, the first element that
    sets ``keys[0]`` (``exported_element`` says which). A file that exports nothing is
    searched for the first ``key:`` anywhere, as a fragment. Returns None if a key is
    not found, or the value on the way is not an object.

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
    start, _ = _exported(blank, keys[0])
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


@dataclass(frozen=True, slots=True)
class Element:
    """The element of an exported array of configs that ``find_value`` reads."""

    index: int
    count: int  # elements in the array
    names: tuple[str | None, ...]  # each element's literal ``name:``, for a note
    also: tuple[int, ...]  # the later elements that set the key too
    unread: tuple[int, ...]  # elements that are no object literal: whether they do is unknown


def exported_element(text: str, key: str) -> Element | None:
    """Which element ``find_value(text, key, ...)`` reads when the file exports an array
    of configs (``module.exports = [{ name: 'client', devServer: {...} }, {...}]``):
    the first that sets ``key`` (webpack-cli starts a dev server for each compiler with a
    devServer, in order). None when the export is not an array, or no element sets
    ``key``."""
    blank = blank_comments(text)
    if _EXPORT.search(blank) is None:
        return None
    try:
        return _exported(blank, key)[1]
    except (JsSyntaxError, RecursionError):
        return None


def _exported(blank: str, key: str) -> tuple[int | None, Element | None]:
    """Offset of the ``{`` of the exported object in ``blank`` (comments blanked): of
    an exported array's first element that sets ``key``, and which element that is."""
    found = _EXPORT.search(blank)
    followed: set[str] = set()
    start = _value_at(blank, found.end() if found else 0, followed)
    if start is None or blank.startswith("{", start):
        return start, None
    return _element(blank, start, key, followed)


def _value_at(blank: str, pos: int, followed: set[str]) -> int | None:
    """Offset of the ``{`` or ``[`` the expression at ``pos`` gives its value with,
    through wrapper calls, functions and variables (``followed``: the names already
    followed there)."""
    reader = Reader(blank, 0)
    for _ in range(50):  # wrappers, arrows, a variable: a few steps, never a loop
        while pos < len(blank) and blank[pos].isspace():
            pos += 1
        rest = blank[pos:pos + 200]
        if blank.startswith(("{", "["), pos):
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
            elif (declared := _declared(reader, name, followed)) is not None:
                pos = declared  # export default config, declared above
            else:
                return None
        else:
            return None
    return None


def _declared(reader: Reader, name: str, followed: set[str]) -> int | None:
    """Where the value ``name`` is declared with begins (``const name = ...``, or the
    value ``function name() {...}`` returns); None if it is not, or already followed."""
    blank = reader.text
    declared = re.search(rf"(?<![\w$.])(?:(?:const|let|var)\s+{re.escape(name)}\s*"
                         rf"(?::[^=]+)?=|function\s+{re.escape(name)}\s*(?=\())", blank)
    if name in followed or declared is None:
        return None
    followed.add(name)
    if declared.group().startswith("function"):
        return _body(reader, _group_end(reader, declared.end()))
    return declared.end()


def _element(blank: str, start: int, key: str, followed: set[str]
             ) -> tuple[int | None, Element | None]:
    reader = Reader(blank, 0)
    objects: list[int | None] = []
    for item in list(_items(reader, start)):
        # An element that names a config (``[client, worker]``) is that config; the
        # names followed are each element's own, so [config, config] reads both.
        seen = set(followed)
        word = IDENT.match(blank, item)
        if word and re.match(r"\s*[,\]]", blank[word.end():]):
            at = _declared(reader, word.group(), seen)
            at = None if at is None else _value_at(blank, at, seen)
        else:
            at = _value_at(blank, item, seen)
        objects.append(at if at is not None and blank.startswith("{", at) else None)
    having = [i for i, at in enumerate(objects)
              if at is not None and _key(reader, at, key) is not None]
    if not having:
        return None, None
    names = tuple(None if at is None else _name(reader, at) for at in objects)
    unread = tuple(i for i, at in enumerate(objects) if at is None)
    return objects[having[0]], Element(having[0], len(objects), names, tuple(having[1:]),
                                       unread)


def _items(reader: Reader, start: int) -> Iterator[int]:
    """The offset of each element of the array literal at ``start``."""
    text, fresh = reader.text, True  # fresh: after the [ or a comma
    for at, depth in _walk(reader, start):
        if depth != 1 or text[at].isspace():
            continue
        if text[at] == ",":
            fresh = True
        elif fresh and text[at] != "]":
            fresh = False
            yield at


def _name(reader: Reader, start: int) -> str | None:
    """The literal ``name:`` of the object at ``start`` (webpack's config name)."""
    at = _key(reader, start, "name")
    try:
        name = Reader(reader.text, at).value() if at is not None else None
    except JsSyntaxError:
        return None
    return name if isinstance(name, str) else None


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
