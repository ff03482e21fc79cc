"""YAML syntax errors told in the words of the mistake that usually causes them.

pyyaml reports where its parser gave up, in its own terms ("mapping values are not
allowed here", "expected <block end>, but found '?'"). The mistake behind those is
nearly always a line indented one column off, a key without its ':', a '-' without its
space, a value holding ': ', or a quote or bracket left open; and it is often on the
line above where the parser stopped. ``explain`` reads the text around the failure to
name that mistake and the line it is on. ``invisible`` finds the characters pasted
from a web page or a chat that look like a space or like nothing, which YAML reads as
text and which no message quoting them can show. Pure: text in, words out.
"""

from __future__ import annotations

import re

import yaml

# A block mapping key at the start of a line, after any list dash: "  - path: /api".
# A word the rules below take for a key's name (a URL is none: it holds ':' and '/'),
# and, with '/', for a key that is already written as one.
_NAME = r"[\w$][\w.$-]*"
_WRITTEN = r"[\w$][\w.$/-]*"
_KEY = re.compile(rf"(\s*)(-\s+)?({_WRITTEN})\s*:(?:\s|$)")
_ITEM = re.compile(r"\s*-(?:\s+|$)")  # a block list item's '-', and the blanks after it
# A value that starts as a flow list and goes on after it: "listen: [::1]:8080".
_BRACKETED = re.compile(r"\s*(?:-\s+)?([^\s:#]+):\s+(\[[^\]\[]*\]:\d+)\s*(?:#|$)")
# Where pyyaml starts a new line (YAML 1.1 §5.4): its marks count lines by these.
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
# Characters that look like a space, or like nothing, and are text to YAML: a no-break
# space after a ':' makes "path:\xa0/api" one string, a zero-width one in a key or a
# path makes another name that reads the same. Written as an escape ("\u00a0" in
# double quotes) they are meant, and pass.
_INVISIBLE = {
    "\u00a0": "no-break space", "\u202f": "narrow no-break space",
    "\u3000": "ideographic space", "\u00ad": "soft hyphen", "\u200b": "zero-width space",
    "\u200c": "zero-width non-joiner", "\u200d": "zero-width joiner",
    "\u2060": "word joiner", "\ufeff": "byte order mark",
}
_SPACES = ("\u00a0", "\u202f", "\u3000")
_INVISIBLE_RUN = re.compile("|".join(f"{char}+" for char in _INVISIBLE))


def invisible(text: str, reader: str = "YAML") -> list[tuple[int, int, str]]:
    """Each run of a character that looks like a space or like nothing, outside
    comments: its 1-based line and column, and what it is and what to do about it
    (``reader`` names what takes it as text)."""
    found: list[tuple[int, int, str]] = []
    if not _INVISIBLE_RUN.search(text, 1):  # the file's first character may be a BOM
        return found
    # pyyaml's columns leave out a byte order mark at the start, and so do editors'.
    for row, line in enumerate(_LINE_BREAK.split(text.removeprefix("\ufeff"))):
        if not _INVISIBLE_RUN.search(line):
            continue
        for run in _INVISIBLE_RUN.finditer(line, 0, _comment_at(line)):
            char, count = run.group()[0], len(run.group())
            name = _INVISIBLE[char] + ("s" if count > 1 else "")
            what = f"{count if count > 1 else 'a'} {name} (U+{ord(char):04X})"
            if char not in _SPACES:
                fix = (f"{what}, invisible but part of the text: delete "
                       f"{'them' if count > 1 else 'it'}")
            elif count > 1:
                fix = (f"{what}, which look like spaces but are text to {reader}: replace "
                       f"them with plain spaces")
            else:
                fix = (f"{what}, which looks like a space but is text to {reader}: replace it "
                       f"with a plain space")
            found.append((row + 1, run.start() + 1, fix))
    return found


def _comment_at(line: str) -> int:
    """Where ``line``'s comment starts (its length if it has none): a '#' at the start
    or after a blank, outside quotes. A quote opens a string only where a value starts,
    so the one in "it's" opens none."""
    quote, at = "", 0
    while at < len(line):
        char = line[at]
        if quote:
            if char == "\\" and quote == '"':
                at += 1  # an escaped character closes nothing
            elif char == quote:
                quote = ""
        elif char in "'\"" and (at == 0 or line[at - 1] in " \t[{,"):
            quote = char
        elif char == "#" and (at == 0 or line[at - 1] in " \t"):
            return at
        at += 1
    return len(line)


def explain(exc: yaml.MarkedYAMLError, text: str) -> tuple[str, tuple[int, int] | None]:
    """What most likely went wrong, or "" when no rule here fits; and the (line,
    column), 1-based, where the mistake is when that is not where the parser
    stopped."""
    mark, start = exc.problem_mark, exc.context_mark
    if mark is None:
        return "", None
    # pyyaml's columns leave out a byte order mark.
    lines = _LINE_BREAK.split(text.removeprefix("\ufeff"))
    row = mark.line
    if row >= len(lines) or (start is not None and start.line >= len(lines)):
        return "", None
    line = lines[row]
    problem, context = exc.problem or "", exc.context or ""
    # Before the rest: after a stray ']' pyyaml counts brackets below zero, and may stop
    # lines further on, at a ':' it then reads as misplaced.
    closer, still_open = _brackets(text, mark.index)
    if closer is not None:
        return closer
    if start is not None and "end of stream" in problem and "quoted scalar" in context:
        return (f"the quote opened at line {start.line + 1} is never closed",
                (start.line + 1, start.column + 1))
    if "<stream end>" in problem and "flow" in context and still_open:
        return _never_closed(*still_open[-1])
    if still_open and "flow" in context and re.match(r"expected ',' or '[\]}]', but got ",
                                                      problem):
        # The innermost bracket opened before the token the parser balked at (which
        # may be a bracket itself).
        before = [opened for opened in still_open if opened[0].index < mark.index]
        flow = _flow_stop(line, row, mark.column, before[-1],
                          text[mark.index:]) if before else None
        if flow is not None:
            return flow
    if start is not None and problem == "could not find expected ':'":
        word = (lines[start.line][start.column:].split() or [""])[0]
        glued = re.match(rf"{_NAME}:", word)
        if glued:
            return (f"put a space after the ':' on line {start.line + 1}, as in "
                    f"'listen: 8080'", (start.line + 1, start.column + glued.end()))
        if re.fullmatch(_NAME, word):
            return (f"line {start.line + 1} has no ':' after '{word}'",
                    (start.line + 1, start.column + 1))
    bracketed = _BRACKETED.match(line)
    if bracketed:
        key, value = bracketed.groups()
        return (f"a value that starts with '[' is read as a YAML list; quote it, as "
                f"{key}: '{value}'", None)
    if problem == "mapping values are not allowed here":
        return _colon_in_the_way(lines, row, mark.column)
    if problem.startswith("expected <block end>") and start is not None:
        return _out_of_line(lines, row, start, "collection" in context)
    if problem.startswith("expected '<document start>'"):
        return _indented_first_line(lines, row)
    return "", None


def _indented_first_line(lines: list[str], row: int) -> tuple[str, tuple[int, int] | None]:
    """A key at column 1 after a first key indented: the document ended with the block
    that indented key began, so nothing more may follow."""
    first = next((at for at, line in enumerate(lines[:row])
                  if line.strip() and not line.lstrip().startswith("#")), None)
    key = _key_at(lines[first]) if first is not None else None
    if first is None or key is None or key[1] == 1 or _indent(lines[row]) != 1:
        return "", None
    return (f"'{key[0]}' on line {first + 1} is at column {key[1]}, but the top-level keys "
            f"start at column 1, as on line {row + 1}: remove the spaces before it, and "
            f"before the keys lined up with it", (first + 1, key[1]))


def _colon_in_the_way(lines: list[str], row: int, column: int
                      ) -> tuple[str, tuple[int, int] | None]:
    """A ': ' where no key can start: inside a value, or after a line that did not
    end its key, list item or quote as the writer meant."""
    line = lines[row]
    owner = _KEY.match(line[:column])
    if owner:  # this line already has its key: the ': ' is inside the value
        return _value_with_colon(owner.group(3), line[owner.end():].split(" #")[0].strip()), None
    above = _previous(lines, row)
    if above is None:
        return "", None
    previous = lines[above]
    open_quote = _open_quote(previous)
    if open_quote is not None:
        return (f"the quote opened at line {above + 1} is never closed",
                (above + 1, open_quote + 1))
    dash = re.match(r"(\s*)-[^\s-]", previous)
    if dash:
        return (f"put a space after the '-' on line {above + 1} to start a list item, "
                f"as in '- path:'", (above + 1, len(dash.group(1)) + 1))
    if re.search(r":(?:\s|$)", previous):  # the line above ends its key
        here, there = _key_at(line), _key_at(previous)
        if here and there and here[1] > there[1]:
            first = _previous(lines, above)
            keys = _key_at(lines[first]) if first is not None else None
            if first is not None and keys is not None and keys[1] == here[1] \
                    and not _key_in_column(lines, above, there[1]):
                # This line is where the keys above are, and the line between is where
                # no key above is (not a key after a nested block): it is out of line.
                return (f"'{there[0]}' on line {above + 1} is at column {there[1]}, but "
                        f"'{keys[0]}' on line {first + 1} starts at column {keys[1]}; "
                        f"the keys of one mapping start in the same column",
                        (above + 1, there[1]))
            # Pointed at the key, whose column the words name (the parser stops at its ':').
            return (f"'{here[0]}' is indented more than '{there[0]}' on line {above + 1} "
                    f"(column {here[1]}, not {there[1]}); the keys of one mapping start in "
                    f"the same column", (row + 1, here[1]))
        return "", None
    # The line above has no key: it and this one were read as one value. Said only where
    # this line's key is where that line's would be: under a list item's text, or
    # further in than a plain line (a value, such as a URL in a list, may hold ':').
    item = re.match(r"(\s*)-\s+", previous)
    here_column = _indent(line)
    if item is not None and here_column != item.end() + 1:
        return "", None
    if item is None and here_column < _indent(previous):
        return "", None
    glued = re.match(rf"\s*(?:-\s+)?{_NAME}:(?=[^\s/])", previous)
    if glued:
        return (f"put a space after the ':' on line {above + 1}, as in 'listen: 8080'",
                (above + 1, glued.end()))
    word = previous.strip().removeprefix("-").split()[0] if previous.strip("- ") else ""
    if item is not None and word.startswith("/") and len(previous.split()) == 2:
        # "- /auth" with the route's keys under it: the path, without its key.
        return (f"the list item on line {above + 1} is '{word}' alone, with no key, so "
                f"the keys under it cannot be its own; write it as '- path: {word}'",
                (above + 1, item.end() + 1))
    if not re.fullmatch(_NAME, word):  # not a key's name: a URL, say
        return "", None
    return (f"line {above + 1} has no ':' after '{word}', so it runs on into line "
            f"{row + 1} as one value", (above + 1, previous.find(word) + 1))


def _flow_stop(line: str, row: int, column: int, opened: tuple[yaml.Mark, str], rest: str
               ) -> tuple[str, tuple[int, int] | None] | None:
    """A token where a '[...]' or '{...}' wanted ',' or its closing bracket (``rest``:
    the text from there on). On a later line that starts a key or a list item: the
    bracket was left open, or, if it is closed further on, a ',' is missing between its
    entries. On the bracket's own line, a ':' in '{...}': a ',' missing between two
    entries (``{X-A: one X-B: two}``), or a value holding ': ' (``{Authorization:
    Bearer: abc}``)."""
    mark, pair = opened
    if row > mark.line and (_KEY.match(line) or re.match(r"\s*-\s", line)):
        if rest.count(pair[1]) > rest.count(pair[0]):  # closed further on
            return (f"a ',' is missing between the entries of the '{pair[0]}' at line "
                    f"{mark.line + 1}, before line {row + 1}", (row + 1, _indent(line)))
        return _never_closed(mark, pair)
    if row != mark.line or pair != "{}" or line[column:column + 1] != ":":
        return None
    begin = max(line.rfind(",", 0, column), line.rfind("{", 0, column)) + 1
    ends = [at for at in (line.find(",", column), line.find("}", column)) if at >= 0]
    key, sep, value = line[begin:min(ends, default=len(line))].strip().partition(": ")
    if not sep or not re.fullmatch(_WRITTEN, key):
        return None
    value = value.strip()
    run_on = re.search(rf"\s({_NAME}):", value)
    if run_on:  # "one X-B: two": the next entry, with no ',' before it
        return (f"a ',' is missing before '{run_on.group(1)}:' in the '{{...}}' on this "
                f"line (or, if '{value}' is one value, quote it)", None)
    quoted = _quoted(value)
    if not quoted:
        return None
    return (f"a value that holds ': ' is read as another key; quote it, as "
            f"{{{key}: {quoted}}}", None)


def _never_closed(mark: yaml.Mark, pair: str) -> tuple[str, tuple[int, int]]:
    """The bracket opened at ``mark`` (of ``pair``, "[]" or "{}") is never closed."""
    return (f"the '{pair[0]}' at line {mark.line + 1} is never closed with '{pair[1]}'",
            (mark.line + 1, mark.column + 1))


def _quoted(value: str) -> str:
    """``value`` in the quotes it holds none of, or "" if it holds both kinds."""
    return f"'{value}'" if "'" not in value else f'"{value}"' if '"' not in value else ""


def _value_with_colon(key: str, value: str) -> str:
    """What to do with ``key: a: b``: a nested key on its own line, or text quoted."""
    nested = _KEY.match(value)
    quoted = _quoted(value)
    if nested:
        text = f"; for text, quote it, as {key}: {quoted}" if quoted else ""
        return (f"a value that holds ': ' is read as another key: for a mapping, put "
                f"'{value}' on a line of its own, indented under '{key}'{text}")
    if not quoted:
        return ""
    return f"a value that holds ': ' is read as another key; quote it, as {key}: {quoted}"


def _open_quote(line: str) -> int | None:
    """Where a quoted value that ``line`` never closes starts (0-based), if it does."""
    found = re.match(rf"\s*(?:-\s+)?(?:{_WRITTEN}:\s+)?([\"'])", line)
    if found is None:
        return None
    quote, at = found.group(1), found.start(1)
    # In "...", an escaped character never closes it; in '...', '' is a ' inside.
    rest = re.sub(r"\\.", "", line[at + 1:]) if quote == '"' else \
        line[at + 1:].replace("''", "")
    return None if quote in rest else at


def _out_of_line(lines: list[str], row: int, start: yaml.Mark, in_list: bool
                 ) -> tuple[str, tuple[int, int] | None]:
    """A line whose indent matches none of the blocks open above it (``start``: where
    the block the parser was in began)."""
    line = lines[row]
    column = _indent(line)
    opened = start.column + 1
    above = _previous(lines, row)
    if above is not None and _open_quote(lines[above]) is not None:
        return f"the quote opened at line {above + 1} is never closed", None
    if _ITEM.match(line):
        return _item_out_of_line(lines, row, start)
    here = _key_at(line)
    if here is None:
        return "", None
    key = here[0]
    if in_list and column == opened:
        # The item it lines up with is the nearest one above, not the list's first.
        nearest = _item_above(lines, row)
        dash = nearest[0] if nearest is not None and nearest[1] == column else start.line
        item = _key_at(lines[dash])
        if item is None:
            return "", None
        moves = [f"to column {item[1]} (under '{item[0]}') to put it in the item above"]
        parent = _parent(lines, start.line, opened)
        if parent is not None:
            moves.append(f"to column {parent[1]} (under '{parent[0]}') to make it a key of "
                         f"its own")
        return (f"'{key}' at column {column} lines up with the '-' of line {dash + 1}, so it "
                f"belongs to nothing; move it " + ", or ".join(moves)), None
    there = _key_at(lines[above]) if above is not None else None
    if above is None or there is None or there[1] == column:
        return "", None
    return (f"'{key}' at column {column} lines up with no key above it: '{there[0]}' on "
            f"line {above + 1} starts at column {there[1]}"), None


def _item_out_of_line(lines: list[str], row: int, start: yaml.Mark
                      ) -> tuple[str, tuple[int, int] | None]:
    """A list item (``row``) where no list is open: off the column of the items above
    it, under a key that already has its value, or among a mapping's keys."""
    column = _indent(lines[row])
    nearest = _item_above(lines, row)
    if nearest is not None:
        above, dash = nearest
        if dash == column:
            return "", None
        item = _ITEM.match(lines[above])
        assert item is not None  # ``_item_above`` finds list items only
        where = (f"where the keys of the item on line {above + 1} are, but that item's '-' "
                 f"is at column {dash}" if column == item.end() + 1
                 else f"but the '-' of the item on line {above + 1} is at column {dash}")
        return (f"this '-' is at column {column}, {where}; the items of one list line up: "
                f"move it to column {dash}"), None
    key_row = _previous(lines, row)
    owner = _KEY.match(lines[key_row]) if key_row is not None else None
    if key_row is not None and owner is not None and not owner.group(2):
        rest = lines[key_row][owner.end():]
        value = rest[:_comment_at(rest)].strip()
        if value and column > len(owner.group(1)) + 1:  # "routes: []", then the items
            return (f"'{owner.group(3)}' on line {key_row + 1} already has a value on its "
                    f"line ('{value}'), so the list below it belongs to nothing; remove "
                    f"'{value}' to make the list its value",
                    (key_row + 1, owner.end() + rest.index(value) + 1))
    first = lines[start.line]
    key = _key_at(first)
    parent = _parent(lines, start.line, column)
    if key is None or parent is None or _ITEM.match(first) or key[1] != column:
        return "", None
    # Keys, then an item in their column: an item written without its '-', most likely,
    # so the error points at the line the '-' is missing from.
    return (f"'{key[0]}' on line {start.line + 1} starts a mapping, and the '-' on line "
            f"{row + 1} a list, in the same column: what '{parent[0]}' holds is a list or a "
            f"mapping, not both; if line {start.line + 1} starts a list item, write it as "
            f"'- {first.strip()}', with the item's other keys lined up under '{key[0]}'",
            (start.line + 1, column))


def _item_above(lines: list[str], row: int) -> tuple[int, int] | None:
    """The nearest list item above ``row`` whose block holds every line between (its
    '-' at or left of where each starts): its row and the 1-based column of its '-'."""
    least: int | None = None
    above = _previous(lines, row)
    while above is not None:
        column = _indent(lines[above])
        if _ITEM.match(lines[above]) and (least is None or column <= least):
            return above, column
        least = column if least is None else min(least, column)
        above = _previous(lines, above)
    return None


def _brackets(text: str, until: int
              ) -> tuple[tuple[str, tuple[int, int]] | None, list[tuple[yaml.Mark, str]]]:
    """One walk over the '[' and '{' up to index ``until`` (where the parser stopped):
    the first ']' or '}' that closes nothing, or the other kind of bracket, with what to
    do about it and where; and the brackets still open there (their mark and pair),
    innermost last."""
    opened: list[tuple[yaml.Mark, str]] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index > until:
                break
            if isinstance(token, yaml.FlowSequenceStartToken):
                opened.append((token.start_mark, "[]"))
            elif isinstance(token, yaml.FlowMappingStartToken):
                opened.append((token.start_mark, "{}"))
            elif isinstance(token, (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)):
                closer = "]" if isinstance(token, yaml.FlowSequenceEndToken) else "}"
                at = (token.start_mark.line + 1, token.start_mark.column + 1)
                if not opened:
                    return (f"the '{closer}' at line {at[0]} closes nothing; delete it",
                            at), opened
                start, pair = opened.pop()
                if pair[1] == closer:
                    continue
                if opened and opened[-1][1][1] == closer:
                    # It closes the bracket outside: the inner one was left open.
                    return (f"the '{pair[0]}' at line {start.line + 1} is never closed; "
                            f"add '{pair[1]}' before the '{closer}' at line {at[0]}, "
                            f"column {at[1]}", at), opened
                return (f"the '{pair[0]}' at line {start.line + 1} is closed with "
                        f"'{closer}'; close it with '{pair[1]}'", at), opened
    except yaml.YAMLError:
        pass  # the tokens up to the error are the ones that count
    return None, opened


def _key_in_column(lines: list[str], row: int, column: int) -> bool:
    """Whether a key above ``row`` starts at ``column``, in the block ``row`` is in: up
    to a line that starts further left."""
    above = _previous(lines, row)
    while above is not None:
        key = _key_at(lines[above])
        if key is not None and key[1] == column:
            return True
        if _indent(lines[above]) < column:
            return False
        above = _previous(lines, above)
    return False


def _indent(line: str) -> int:
    """The 1-based column where ``line``'s text starts."""
    return len(line) - len(line.lstrip()) + 1


def _key_at(line: str) -> tuple[str, int] | None:
    """The block key that starts ``line``, and its 1-based column."""
    found = _KEY.match(line)
    if not found:
        return None
    return found.group(3), len(found.group(1)) + len(found.group(2) or "") + 1


def _previous(lines: list[str], row: int) -> int | None:
    """The nearest line above ``row`` that holds more than a comment."""
    for above in range(row - 1, -1, -1):
        stripped = lines[above].strip()
        if stripped and not stripped.startswith("#"):
            return above
    return None


def _parent(lines: list[str], row: int, column: int) -> tuple[str, int] | None:
    """The key, above ``row``, that holds the block starting at ``column``."""
    for above in range(row - 1, -1, -1):
        key = _key_at(lines[above])
        if key is not None and key[1] < column:
            return key
    return None
