"""Safe YAML composition and typed reads of pyyaml nodes, with line and column.

Owns the YAML-level rules: limits checked by the (iterative) scanner before the
(recursive) composer runs, no tags beyond YAML's standard ones, no duplicate keys, and
strict scalars: booleans are ``true``/``false`` only, integers have no leading zero, so
YAML 1.1's ``no`` -> false and ``010`` -> 8 never reach a value. It knows nothing of
devproxy's schema (``loader`` does) and records problems instead of stopping at the
first, so one run reports every mistake in a file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import yaml

from .errors import ConfigError, Location

MAX_DEPTH = 64
MAX_ALIASES = 100
_STANDARD_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "seq", "map")
)
_OPENERS = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
            yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
_CLOSERS = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
_YAML11_BOOLEANS = frozenset({"yes", "no", "on", "off", "y", "n"})
_NUMBER = re.compile(r"^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class Nodes:
    """Typed access to the nodes of one file; problems accumulate in ``problems``."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[ConfigError] = []
        self._keys: dict[int, yaml.Mark] = {}  # value node id -> where its key was written

    def key_problem(self, value: yaml.Node, message: str) -> None:
        """A problem with a key (not its value), reported where the key was written."""
        self.problem(self._keys.get(id(value), value.start_mark), message)

    def problem(self, node: yaml.Node | yaml.Mark, message: str) -> None:
        mark = node.start_mark if isinstance(node, yaml.Node) else node
        self.problems.append(ConfigError(message, self.location(mark)))

    def location(self, mark: yaml.Mark) -> Location:
        return Location(self.filename, mark.line + 1, mark.column + 1)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError.collect(self.problems)

    def mapping(self, node: yaml.Node, where: str,
                allowed: Sequence[str]) -> dict[str, yaml.Node] | None:
        """The known keys of a mapping node; unknown keys are problems with a suggestion."""
        pairs = self.pairs(node, where, what="a mapping of " + ", ".join(allowed))
        if pairs is None:
            return None
        fields: dict[str, yaml.Node] = {}
        prefix = f"{where}." if where else ""
        for key, value in pairs:
            if key.value in allowed:
                fields[key.value] = value
                self._keys[id(value)] = key.start_mark
                continue
            close = difflib.get_close_matches(key.value, allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            self.problem(key, f"{prefix}{key.value}: unknown key; {hint}valid keys here: "
                              f"{', '.join(allowed)}")
        return fields

    def pairs(self, node: yaml.Node, where: str, what: str = "a mapping"
              ) -> list[tuple[yaml.ScalarNode, yaml.Node]] | None:
        """Key/value node pairs in file order, each key a string written once."""
        if not self._standard(node, where):
            return None
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{where or 'the file'}: expected {what}, got {_kind(node)}")
            return None
        seen: dict[str, int] = {}
        out = []
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag.endswith(":null"):
                self.problem(key, f"{where}: keys must be plain names")
                continue
            if key.value == "<<":
                self.problem(key, f"{where}: '<<' merge keys are not supported; write the "
                                  f"keys out")
                continue
            if key.value in seen:
                self.problem(key, f"{where + '.' if where else ''}{key.value}: duplicate key "
                                  f"(first written at line {seen[key.value]}); YAML would "
                                  f"silently keep only the last one")
                continue
            seen[key.value] = key.start_mark.line + 1
            out.append((key, value))
        return out

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node] | None:
        if not self._standard(node, where):
            return None
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{where}: expected a list, got {_kind(node)}")
            return None
        return list(node.value)

    def string(self, node: yaml.Node, where: str) -> str | None:
        """The scalar exactly as written (YAML's type guessing never applies)."""
        if not self._standard(node, where):
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, f"{where}: expected a value, got {_kind(node)}")
            return None
        if node.tag.endswith(":null"):
            self.problem(node, f"{where}: missing value")
            return None
        return str(node.value)

    def boolean(self, node: yaml.Node, where: str) -> bool | None:
        text = self.string(node, where)
        if text is None:
            return None
        assert isinstance(node, yaml.ScalarNode)
        if node.style is None and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if node.style is None and text.lower() in _YAML11_BOOLEANS:
            self.problem(node, f"{where}: write true or false, not {text!r} (YAML 1.1 reads "
                               f"{text!r} as a boolean, other tools as a string)")
        elif node.style is not None and text.lower() in ("true", "false"):
            self.problem(node, f"{where}: {node.style}{text}{node.style} is a string; write "
                               f"{text.lower()} without quotes for a boolean")
        else:
            self.problem(node, f"{where}: expected true or false, got {text!r}")
        return None

    def number(self, node: yaml.Node, where: str, *, positive: bool = False) -> float | None:
        text = self._numeric(node, where)
        if text is None:
            return None
        value = float(text)
        if positive and value <= 0:
            self.problem(node, f"{where}: must be more than 0, got {text}")
            return None
        return value

    def integer(self, node: yaml.Node, where: str) -> int | None:
        text = self._numeric(node, where)
        if text is None:
            return None
        if not text.lstrip("+").isdigit():
            self.problem(node, f"{where}: expected a whole number, got {text}")
            return None
        return int(text)

    def choice(self, node: yaml.Node, where: str, options: Sequence[str]) -> str | None:
        text = self.string(node, where)
        if text is not None and text not in options:
            self.problem(node, f"{where}: expected one of {', '.join(options)}, got {text!r}")
            return None
        return text

    def _numeric(self, node: yaml.Node, where: str) -> str | None:
        text = self.string(node, where)
        if text is None:
            return None
        assert isinstance(node, yaml.ScalarNode)
        if node.style is not None or not _NUMBER.match(text):
            self.problem(node, f"{where}: expected a number, got {text!r}")
            return None
        if re.match(r"^\+?0\d", text):
            self.problem(node, f"{where}: write {text.lstrip('+0') or '0'} without the leading "
                               f"zero (YAML 1.1 reads {text} as an octal number)")
            return None
        return text

    def _standard(self, node: yaml.Node, where: str) -> bool:
        if node.tag in _STANDARD_TAGS:
            return True
        self.problem(node, f"{where or 'the file'}: the tag {node.tag!r} is not allowed; "
                           f"devproxy reads plain YAML only")
        return False


def compose_safely(text: str, nodes: Nodes) -> yaml.Node | None:
    """The document's root node, or None with the problems recorded in ``nodes``.

    The scanner is iterative, so depth and aliases are counted there first: pyyaml's
    C composer crashes the process on ~30,000 nested brackets and the pure one raises
    RecursionError, which is not a YAMLError.
    """
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        nodes.problems.append(ConfigError("contains a NUL byte; is it a text file?",
                                          Location(nodes.filename, line, 1)))
        return None
    try:
        depth = aliases = 0
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, _OPENERS):
                depth += 1
                if depth > MAX_DEPTH:
                    nodes.problem(token.start_mark, f"nested more than {MAX_DEPTH} levels deep")
                    return None
            elif isinstance(token, _CLOSERS):
                depth -= 1
            elif isinstance(token, yaml.AliasToken):
                aliases += 1
                if aliases > MAX_ALIASES:
                    nodes.problem(token.start_mark, f"more than {MAX_ALIASES} aliases (*name); "
                                                    f"a config needs few, and many can make "
                                                    f"a small file expand enormously")
                    return None
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"invalid YAML: {exc.problem or exc.context}"
        if mark is None:
            nodes.problems.append(ConfigError(message, Location(nodes.filename, 1, 1)))
        else:
            nodes.problem(mark, message)
        return None
    except yaml.YAMLError as exc:
        nodes.problems.append(ConfigError(f"invalid YAML: {exc}", Location(nodes.filename, 1, 1)))
        return None
    documents = [d for d in documents if d is not None]
    if not documents:
        nodes.problems.append(ConfigError("the file is empty; it needs at least 'routes:'",
                                          Location(nodes.filename, 1, 1)))
        return None
    if len(documents) > 1:
        nodes.problem(documents[1], "more than one YAML document ('---'); keep one")
        return None
    return documents[0]


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "nothing"
    return f"{node.value!r}"
