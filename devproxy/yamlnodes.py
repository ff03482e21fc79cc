"""Safe YAML composition and typed reads of pyyaml nodes, with line and column.

Owns the YAML-level rules: limits checked by the (iterative) scanner before the
(recursive) composer runs, no tags beyond the ones plain YAML resolves by itself, no
duplicate keys, and strict scalars: booleans are ``true``/``false`` only, integers have
no leading zero, strings are the text as written, so YAML 1.1's ``no`` -> false and
``010`` -> 8 never reach a value. It never constructs Python objects from the document
(so no tag can run code) and knows nothing of devproxy's schema (``loader`` does). It
records problems instead of stopping at the first, so one run reports every mistake.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import yaml

from .errors import ConfigError, Location
from .yamlsyntax import explain, invisible

MAX_DEPTH = 64
MAX_ALIASES = 100
_YAML = "tag:yaml.org,2002:"
# What the safe resolver gives untagged nodes: a plain `2024-01-01` is a timestamp and a
# plain `=` a "value", yet both are just text to us. Any other tag was written on purpose.
_PLAIN_TAGS = frozenset(_YAML + name for name in (
    "str", "int", "float", "bool", "null", "seq", "map", "timestamp", "value", "merge"))
_OPENERS = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
            yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
_CLOSERS = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
_YAML11_BOOLEANS = frozenset({"yes", "no", "on", "off", "y", "n"})
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_LEADING_ZERO = re.compile(r"^[+-]?0[0-9]+$")
_MAX_DIGITS = 30
T = TypeVar("T")


class Nodes:
    """Typed reads of the nodes of one file. A read that fails records a problem in
    ``problems`` (with the node's line and column) and returns None."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[ConfigError] = []
        self._keys: dict[int, yaml.Mark] = {}  # value node id -> where its key was written

    def problem(self, at: yaml.Node | yaml.Mark, message: str) -> None:
        mark = at.start_mark if isinstance(at, yaml.Node) else at
        self.problems.append(ConfigError(message, self.location(mark)))

    def key_problem(self, value: yaml.Node, message: str) -> None:
        """A problem with a key (not its value), reported where the key was written."""
        self.problem(self._keys.get(id(value), value.start_mark), message)

    def key_line(self, value: yaml.Node) -> int:
        """The line of the key ``value`` was written under (1-based)."""
        return self._keys.get(id(value), value.start_mark).line + 1

    def location(self, mark: yaml.Mark) -> Location:
        return Location(self.filename, mark.line + 1, mark.column + 1)

    def failed_since(self, count: int) -> bool:
        """Whether problems were recorded since ``len(problems)`` was ``count``."""
        return len(self.problems) > count

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError.collect(self.problems)

    def mapping(self, node: yaml.Node, where: str, allowed: Sequence[str],
                what: str = "", misplaced: Mapping[int, str] | None = None
                ) -> dict[str, yaml.Node] | None:
        """The known keys of a mapping node; unknown keys are problems with a suggestion,
        or with the words ``misplaced`` has for that key node (by ``id``)."""
        pairs = self.pairs(node, where, what or "a mapping with the keys " + ", ".join(allowed))
        if pairs is None:
            return None
        fields: dict[str, yaml.Node] = {}
        for key, value in pairs:
            if key.value in allowed:
                fields[key.value] = value
                self._keys[id(value)] = key.start_mark
                continue
            if misplaced and id(key) in misplaced:
                self.problem(key, f"{_join(where, key.value)}: {misplaced[id(key)]}")
                continue
            if key.value.lower() in allowed:  # `Path:`, as some other tools spell keys
                self.problem(key, f"{_join(where, key.value)}: keys are lower case: write "
                                  f"{key.value.lower()}")
                continue
            close = closest(key.value, allowed)
            hint = f"did you mean '{close}'? " if close else ""
            self.problem(key, f"{_join(where, key.value)}: unknown key; {hint}valid keys here: "
                              f"{', '.join(allowed)}")
        return fields

    def pairs(self, node: yaml.Node, where: str, what: str = "a mapping"
              ) -> list[tuple[yaml.ScalarNode, yaml.Node]] | None:
        """Key/value node pairs in file order; each key a plain name, written once."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{where or 'the file'}: expected {what}, got {_kind(node)}")
            return None
        seen: dict[str, int] = {}
        out = []
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _YAML + "null":
                self.problem(key, f"{where or 'the file'}: a key must be a name, got "
                                  f"{_kind(key)}")
            elif key.value == "<<":
                self.problem(key, f"{where or 'the file'}: '<<' merge keys are not supported; "
                                  f"write the keys out")
            elif key.value in seen:
                # pyyaml would silently keep the last value; say which two collide.
                self.problem(key, f"{_join(where, key.value)}: duplicate key (first written at "
                                  f"line {seen[key.value]}); keep only one of them")
            else:
                seen[key.value] = key.start_mark.line + 1
                out.append((key, value))
        return out

    def sequence(self, node: yaml.Node, where: str, what: str = "a list", *,
                 one: bool = False) -> list[yaml.Node] | None:
        """The items of a list node; ``one``: a single value written alone is told how to
        write it as a list of one."""
        if not isinstance(node, yaml.SequenceNode):
            fix = ""
            if one and isinstance(node, yaml.ScalarNode) and node.tag != _YAML + "null" \
                    and node.value and "\n" not in node.value:
                # Quoted where flow syntax would misread it: '[::1]' is no list of one.
                item = json.dumps(node.value) if any(c in node.value for c in "[]{}#") \
                    else node.value
                fix = f"; write it as a list: [{item}]"
            self.problem(node, f"{where}: expected {what}, got {_kind(node)}{fix}")
            return None
        return list(node.value)

    def string(self, node: yaml.Node, where: str, *, what: str = "a single value",
               allow_empty: bool = False) -> str | None:
        """The scalar exactly as written: YAML's type guessing never applies.

        ``allow_empty`` accepts an explicitly quoted ``""``; null never passes.
        """
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, f"{where}: expected {what}, got {_kind(node)}")
            return None
        if node.tag == _YAML + "null" or (node.value == "" and not allow_empty):
            self.problem(node, f"{where}: missing value; expected {what}")
            return None
        return str(node.value)

    def parsed(self, node: yaml.Node, where: str, parse: Callable[[str], T], what: str, *,
               allow_empty: bool = False) -> T | None:
        """``string``, then ``parse``; a ValueError it raises becomes a problem here."""
        text = self.string(node, where, what=what, allow_empty=allow_empty)
        if text is None:
            return None
        try:
            return parse(text)
        except ValueError as exc:
            self.problem(node, f"{where}: {exc}")
            return None

    def flag(self, fields: dict[str, yaml.Node], key: str, where: str, default: bool) -> bool:
        """``fields[key]`` as a boolean; ``default`` if absent (or wrong, with a problem)."""
        value = self.boolean(fields[key], _join(where, key)) if key in fields else None
        return default if value is None else value

    def boolean(self, node: yaml.Node, where: str) -> bool | None:
        text = self.string(node, where, what="true or false")
        if text is None:
            return None
        assert isinstance(node, yaml.ScalarNode)
        quoted = node.style in ("'", '"')
        if not quoted and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if quoted and text.lower() in ("true", "false"):
            self.problem(node, f"{where}: {node.style}{text}{node.style} is quoted, so it is a "
                               f"string; write {text.lower()} without quotes")
        elif not quoted and text.lower() in _YAML11_BOOLEANS:
            self.problem(node, f"{where}: write true or false, not {text!r} (YAML 1.1 reads "
                               f"{text!r} as a boolean, YAML 1.2 as the string {text!r}, so "
                               f"tools disagree on what it means)")
        else:
            self.problem(node, f"{where}: expected true or false, got {text!r}")
        return None

    def positive_number(self, node: yaml.Node, where: str, high: float | None = None
                        ) -> float | None:
        """A number greater than 0, and at most ``high`` if given."""
        text = self._numeric(node, where)
        if text is None:
            return None
        value = float(text)
        if not math.isfinite(value) or value <= 0 or (high is not None and value > high):
            bound = "" if high is None else f" and at most {high:g}"
            self.problem(node, f"{where}: expected a number greater than 0{bound}, "
                               f"got {_shown(text)}")
            return None
        return value

    def integer(self, node: yaml.Node, where: str, low: int = 0, high: int | None = None,
                hint: str = "") -> int | None:
        """A whole number from ``low`` to ``high`` (no upper bound if None); ``hint`` is
        added to the problem with a number below ``low``."""
        text = self._numeric(node, where)
        if text is None:
            return None
        digits = text.lstrip("+")
        rule = (f"a whole number, {low} or more" if high is None
                else f"a whole number from {low} to {high}")
        # int() refuses more than 4300 digits (CVE-2020-10735); so many are out of any
        # bound, and of what any setting means.
        value = int(digits) if digits.isdigit() and len(digits) <= _MAX_DIGITS else None
        if value is None or value < low or (high is not None and value > high):
            number = float(text)  # ``_numeric`` matched it
            why = (f"; {hint}" if hint and number < low else
                   ", which is too large" if value is None and digits.isdigit() else "")
            self.problem(node, f"{where}: expected {rule}, got {_shown(text)}{why}")
            return None
        return value

    def choice(self, node: yaml.Node, where: str, options: Sequence[str]) -> str | None:
        text = self.string(node, where, what="one of " + ", ".join(options))
        if text is not None and text not in options:
            self.problem(node, f"{where}: expected one of {', '.join(options)}, got {text!r}")
            return None
        return text

    def _numeric(self, node: yaml.Node, where: str) -> str | None:
        text = self.string(node, where, what="a number")
        if text is None:
            return None
        assert isinstance(node, yaml.ScalarNode)
        if node.style in ("'", '"') and _NUMBER.match(text):
            self.problem(node, f"{where}: {node.style}{text}{node.style} is quoted, so it is a "
                               f"string; write {text} without quotes")
        elif not _NUMBER.match(text) or node.style is not None:
            self.problem(node, f"{where}: expected a number, got {text!r}")
        elif _LEADING_ZERO.match(text):
            digits = text.lstrip("+-")
            meaning = (f"the octal number {int(digits, 8)}" if set(digits) <= set("01234567")
                       else "a string")
            self.problem(node, f"{where}: write {int(text)} without the leading zero (YAML 1.1 "
                               f"reads {text} as {meaning})")
        else:
            return text
        return None


def _shown(number: str) -> str:
    """A number as a message quotes it: a very long one by its start and its length."""
    return number if len(number) <= 40 else f"{number[:20]}... ({len(number)} characters)"


def compose_safely(text: str, nodes: Nodes) -> yaml.Node | None:
    """The document's root node, or None with the problems recorded in ``nodes``.

    The scanner is iterative, so depth and aliases are counted there first: pyyaml's
    C composer crashes the process on ~30,000 nested brackets and the pure one raises
    RecursionError, which is not a YAMLError.
    """
    pasted = invisible(text)
    if pasted:
        # Said before anything YAML makes of them: "mapping values are not allowed", an
        # unknown key that reads like a known one, a path that never matches.
        nodes.problems.extend(ConfigError(fix, Location(nodes.filename, line, column))
                              for line, column, fix in pasted)
        return None
    try:
        if not _within_limits(text, nodes):
            return None
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.reader.ReaderError as exc:
        # Not a MarkedYAMLError: its position is an index into the text.
        before = text[:exc.position]
        at = Location(nodes.filename, before.count("\n") + 1,
                      exc.position - before.rfind("\n"))
        what = ("a NUL byte; is this a text file?" if exc.character == 0 else
                f"the control character U+{exc.character:04X}, which YAML does not allow")
        nodes.problems.append(ConfigError(f"contains {what}", at))
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = Location(nodes.filename, 1, 1) if mark is None else nodes.location(mark)
        hint, fault = explain(exc, text)
        if fault is not None:  # the mistake is above where the parser stopped
            at = Location(nodes.filename, *fault)
        nodes.problems.append(ConfigError(_syntax_message(exc, hint, at.line), at))
        return None
    if not documents:
        nodes.problems.append(ConfigError("the file is empty; it needs at least a 'routes:' "
                                          "list", Location(nodes.filename, 1, 1)))
        return None
    if len(documents) > 1:
        nodes.problem(documents[1], "a second YAML document (after '---'); a config is one "
                                    "document, so remove the '---' line and merge them")
        return None
    tagged = _explicitly_tagged(documents[0])
    for node in tagged:
        tag = node.tag.replace(_YAML, "!!", 1)
        nodes.problem(node, f"the tag {tag} is not allowed; devproxy reads plain YAML only "
                            f"(remove the tag)")
    return None if tagged else documents[0]


def _within_limits(text: str, nodes: Nodes) -> bool:
    depth = aliases = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, _OPENERS):
            depth += 1
            if depth > MAX_DEPTH:
                nodes.problem(token.start_mark, f"nested more than {MAX_DEPTH} levels deep; a "
                                                f"config needs a handful")
                return False
        elif isinstance(token, _CLOSERS):
            depth -= 1
        elif isinstance(token, yaml.AliasToken):
            aliases += 1
            if aliases > MAX_ALIASES:
                nodes.problem(token.start_mark, f"more than {MAX_ALIASES} aliases (*name); a "
                                                f"config needs few, and many can make a small "
                                                f"file expand enormously ('billion laughs')")
                return False
    return True


def _tab_advice(mark: yaml.Mark | None) -> str:
    """What to write for the tab at ``mark``: one indenting a line is not allowed in
    YAML; one later on the line (after a key's ':', or a value) is, but this parser
    (PyYAML) reads none there."""
    buffer = getattr(mark, "buffer", None)
    if mark is not None and isinstance(buffer, str):
        before = buffer[buffer.rfind("\n", 0, mark.pointer) + 1:mark.pointer]
        if before.strip():
            return "write a space there, not a tab (devproxy's YAML parser, PyYAML, " \
                   "takes no tab outside quotes, after a ':' or a value alike)"
    return "indent with spaces, YAML does not allow tabs there"


def _syntax_message(exc: yaml.MarkedYAMLError, hint: str, line: int) -> str:
    """The error's words; ``line`` is where the message points (the mistake's line,
    which may be above where the parser stopped)."""
    message = str(exc.problem or exc.context)
    if (exc.problem and exc.context and exc.context_mark is not None and exc.problem_mark
            is not None and exc.context_mark.line != exc.problem_mark.line):
        message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
    if exc.problem and "'\\t'" in exc.problem:
        message += "; " + _tab_advice(exc.problem_mark)
    if hint:  # the likely mistake first, the parser's own words for the rest
        stopped = exc.problem_mark
        where = f", at line {stopped.line + 1}" if stopped is not None and \
            stopped.line + 1 != line else ""
        return f"invalid YAML: {hint}; YAML's parser says{where}: {message}"
    return f"invalid YAML: {message}"


def _explicitly_tagged(root: yaml.Node) -> list[yaml.Node]:
    # Iterative, and each node once: aliases make the tree a graph.
    seen: set[int] = set()
    stack, found = [root], []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.tag not in _PLAIN_TAGS:
            found.append(node)
        if isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return found


def closest(name: str, allowed: Sequence[str]) -> str | None:
    """The allowed key ``name`` is most likely a misspelling of, if any."""
    close = difflib.get_close_matches(name, allowed, n=1)
    return close[0] if close else None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _YAML + "null":
        return "nothing"
    return f"{node.value!r}"
