"""Which proxy entry a dev server sends a path to, beside the route devproxy picks: the
notes ``importers`` adds where an imported proxy would send a path elsewhere. Pure.

The dev servers try their entries in order and the first that matches wins: Vite's
proxy middleware (``url.startsWith(context)``, over its keys in object order),
http-proxy-middleware under webpack-dev-server and Vue CLI (one middleware per entry,
``pathname.indexOf(context) === 0``), and Angular's dev server, which is one of the
two. A string context matches every path it begins, mid-segment too (``/api`` takes
``/api-docs``); a glob (``/api/**``, micromatch) whole segments. devproxy takes the
longest prefix that ends at a segment boundary, in any order (``router``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# The ``^`` keys Vite treats as regular expressions that ``importers`` imports as a prefix.
SIMPLE_REGEX = re.compile(r"\^(/[\w\-./]*?)(/?\.\*|/)?")
_GLOB = re.compile(r"(.*?)/\*\*?")


@dataclass(frozen=True, slots=True)
class Entry:
    """An imported route, as the dev server's proxy had it."""

    group: int  # the tool's entry: a webpack entry's contexts share one, and its options
    context: str  # as written, what the tool matches a path with
    path: str  # the devproxy route's
    target: str
    # What the route does to a request, equal for two routes only when a path sent by
    # either reaches the same backend as the same request (nothing strips or rewrites it).
    behaviour: object


def tool_matches(context: str, path: str) -> bool:
    """Whether the dev server sends ``path`` by the entry ``context``."""
    if simple := SIMPLE_REGEX.fullmatch(context):
        # ^/api/.* and ^/api/ need the slash; ^/api and ^/api.* match as /api does.
        slash = "/" if (simple.group(2) or "").startswith("/") else ""
        return path.startswith(simple.group(1).replace("\\", "") + slash)
    if glob := _GLOB.fullmatch(context):
        return path == glob.group(1) or path.startswith(glob.group(1) + "/")
    return path.startswith(context)


def order_notes(tool: str, entries: Sequence[Entry]) -> list[str]:
    """A note for each entry the dev server and devproxy match differently: one that
    ends mid-segment (``/api-``), and one an earlier entry takes first (``/api/v2``
    after ``/api``, or ``/api-docs`` after ``/api``), which devproxy gives the later,
    longer one.

    Args:
        tool: the dev server's name, for the notes.
        entries: the imported routes, in the order the dev server tries them.
    """
    notes = []
    for n, entry in enumerate(entries):
        if _mid_segment(entry.context):
            notes.append(
                f"{entry.context}: {tool} sends here every path that starts with "
                f"{entry.context} (such as {entry.context}x); devproxy matches whole path "
                f"segments, so this route takes only {entry.path} and what is under "
                f"{entry.path}/: add a route for each path it stands for")
        first = next((e for e in entries[:n] if e.group != entry.group
                      and tool_matches(e.context, entry.path + "/")), None)
        if first is None or first.behaviour == entry.behaviour:
            continue
        under = _under(entry.path, first.path)
        how = "" if under else f", and {first.context} matches every path that starts with it"
        note = (f"{entry.context}: {tool} tries its proxy entries in order and the first "
                f"that matches wins{how}, so {entry.path} and all under it go to "
                f"{first.context}'s target {first.target}; ")
        if not under:
            notes.append(note + f"devproxy matches whole path segments ({first.path} takes "
                                f"{first.path} and {first.path}/... only), so they come "
                                f"here, to {entry.target}")
            continue
        note += (f"devproxy, where the longest matching prefix wins, sends them here, to "
                 f"{entry.target}")
        parent = max((e.path for e in entries if e is not entry and _under(entry.path, e.path)),
                     key=len)
        notes.append(note + (f": delete this route to keep {tool}'s routing"
                             if parent == first.path else ""))
    return notes


def _under(path: str, prefix: str) -> bool:
    """Whether devproxy's route ``prefix`` matches ``path``."""
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def _mid_segment(context: str) -> bool:
    # /api- or /v1. (a plain string: globs and regular expressions are read otherwise)
    # ends inside a name, as the start of the names the tool matches it with.
    return context.endswith(("-", "_", ".")) and not context.startswith("^")
