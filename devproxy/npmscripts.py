"""package.json scripts read as the shell lines they are: which one starts a program,
with which arguments, and which variables it sets for it. Pure, and not a shell: enough
for ``PORT=4000 vite --port 4000``, ``cross-env``/``env``/``npx`` in front, ``&&``
chains, ``export``/``set`` before them, and commands quoted inside another
(``concurrently "vite" "node api"``, ``sh -c "..."``).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

# The scripts people start a dev server with, looked at before any other.
USUAL_SCRIPTS = ("dev", "start", "serve", "develop")
_ASSIGNMENT = re.compile(r"([A-Za-z_]\w*)=(.*)", re.S)


@dataclass(frozen=True, slots=True)
class Launch:
    script: str  # its name in package.json
    args: tuple[str, ...]  # after the command, e.g. ("--port", "4000")
    env: Mapping[str, str]  # what the script sets for it
    cwd: str = ""  # where an earlier `cd` in the script left it, relative: "frontend"


def find_launch(scripts: Mapping[str, object], commands: tuple[str, ...]) -> Launch | None:
    """The first script that runs one of ``commands``, looking at ``USUAL_SCRIPTS``
    first, then the others in their order.

    A command is a program and its subcommand (``"next dev"``), or a program alone
    (``"vite"``): then it matches when no subcommand follows (``vite --port 4000`` and
    ``vite ./app``, not ``vite build``).
    """
    for name in script_order(scripts):
        text = scripts[name]
        for env, argv, cwd in _commands(text if isinstance(text, str) else ""):
            for spec in commands:
                program, *sub = spec.split()
                at = next((i for i, word in enumerate(argv) if _program(word) == program),
                          None)
                if at is None:
                    continue
                rest = argv[at + 1:]
                if sub and rest[:len(sub)] == sub:
                    rest = rest[len(sub):]
                elif sub or (rest and not rest[0].startswith(("-", "."))
                             and "/" not in rest[0]):
                    continue  # another subcommand: `vite build`, `next start`
                return Launch(name, tuple(rest), {**env, **_assignments(argv[:at])}, cwd)
    return None


def find_program(scripts: Mapping[str, object], program: str) -> Launch | None:
    """The first script that runs ``program``, in ``find_launch``'s order, with whatever
    follows it: ``uvicorn main:app --port 8000`` names an app there, not a subcommand."""
    for name in script_order(scripts):
        text = scripts[name]
        for env, argv, cwd in _commands(text if isinstance(text, str) else ""):
            at = next((i for i, word in enumerate(argv) if _program(word) == program), None)
            if at is not None:
                return Launch(name, tuple(argv[at + 1:]), {**env, **_assignments(argv[:at])},
                              cwd)
    return None


def script_order(scripts: Mapping[str, object]) -> list[str]:
    """The script names in the order ``find_launch`` looks at them."""
    return sorted(scripts, key=lambda n: USUAL_SCRIPTS.index(n)
                  if n in USUAL_SCRIPTS else len(USUAL_SCRIPTS))


def _assignments(words: list[str]) -> dict[str, str]:
    # PORT=4000 before a command; cross-env and env take the same form
    found = (_ASSIGNMENT.fullmatch(word.strip()) for word in words)
    return {m.group(1): m.group(2) for m in found if m}


def _program(word: str) -> str:
    # node_modules/.bin/vite, vite.cmd on Windows, node_modules/vite/bin/vite.js
    return re.sub(r"\.(cmd|js|mjs|cjs)$", "", re.split(r"[/\\]", word)[-1])


def _commands(text: str, depth: int = 0, cwd: str = ""
              ) -> Iterator[tuple[dict[str, str], list[str], str]]:
    """Each simple command of a shell line, with what ``export``/``set`` gave it and the
    folder ``cd`` left it in ("" for the package's own)."""
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:  # an unclosed quote
        words = text.split()
    exported: dict[str, str] = {}
    command: list[str] = []
    for word in [*words, ";"]:
        if word and not set(word) - set("();<>|&"):  # && || ; | & > between commands
            if command[:1] in (["export"], ["set"]):  # POSIX, and Windows' cmd
                exported.update(_assignments(command[1:]))
            elif len(command) == 2 and command[0] in ("cd", "pushd"):
                cwd = posixpath.normpath(posixpath.join(cwd, command[1].replace("\\", "/")))
            elif command:
                yield dict(exported), command, cwd
                # concurrently "vite --port 4000" "node api", sh -c "...": commands in words
                # (concurrently's are commands even without a space: "vite")
                runner = _program(command[0]) == "concurrently"
                for inner in command:
                    if depth < 2 and (" " in inner.strip() or runner):
                        yield from _commands(inner, depth + 1, cwd)
            command = []
        else:
            command.append(word)
