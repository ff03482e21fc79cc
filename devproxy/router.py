"""Route matching: which route serves a request path.

Owns the matching rule: the longest route prefix that matches the raw request path on
a whole-segment boundary wins, whatever order the routes were written in. ``/api``
matches ``/api``, ``/api/`` and ``/api/x`` but not ``/apikey`` or ``/api.ts``; ``/``
matches every path. Matching is case-sensitive and byte-for-byte on the raw,
percent-encoded path: no decoding, no dot-segment removal, no slash merging (a proxy
that normalises differently from its backend invites routing bypasses). The one
equivalence read is the case of a percent-escape's hex digits (RFC 3986 §2.1: ``%c3``
is ``%C3``; browsers write upper case, curl lower case).

Must not rewrite paths (``paths.py``), touch headers, or do I/O. A ``RouteTable`` is
immutable; a reload builds a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from .config import Route, route_key
from .paths import hex_upper


@dataclass(frozen=True, slots=True)
class Match:
    """The route that serves a path, and the raw path after its prefix."""

    route: Route
    rest: str  # "" or starting with "/"; the whole path for the root route


class RouteTable:
    """An immutable set of routes, precomputed for matching on every request."""

    __slots__ = ("_by_length", "_decoded", "routes")

    def __init__(self, routes: Sequence[Route]) -> None:
        """Precompute the match order.

        Args:
            routes: in file order; kept in that order in ``routes`` for display.

        Raises:
            ValueError: two routes have the same ``path`` (the loader reports this
                with file positions first; this guards other callers).
        """
        seen: set[str] = set()
        for route in routes:
            decoded = route_key(route.path)
            if decoded in seen:
                raise ValueError(f"duplicate route path {route.path!r}")
            seen.add(decoded)
        self.routes: tuple[Route, ...] = tuple(routes)
        # The root route is stored as the empty prefix: every path starts with it, and
        # its rest is the whole path.
        prefixes = [("" if route.path == "/" else route.path, route) for route in routes]
        self._by_length = _longest_first([(hex_upper(p), route) for p, route in prefixes])
        # The same, decoded, for reading a decoded path (``screen.path_refusal``). A
        # route path escapes no '/' (``config.normalize_prefix``), so decoding keeps its
        # segments, and the loader refuses two paths that decode alike.
        self._decoded = _longest_first([(unquote(p), route) for p, route in prefixes])

    def match(self, raw_path: str) -> Match | None:
        """The route with the longest prefix that ``raw_path`` starts with on a segment
        boundary, or None when no route matches.

        Args:
            raw_path: the request target's path, percent-encoded as received, without
                the query.
        """
        # Escapes compared in one case; the rest is the path as sent (the same length).
        key = hex_upper(raw_path) if "%" in raw_path else raw_path
        # ``_longest`` inline: this runs on every request, and a call costs more than it.
        for prefix, length, route in self._by_length:
            if key.startswith(prefix) and (len(key) == length or key[length] == "/"):
                return Match(route, raw_path[length:])
        return None

    def match_decoded(self, path: str) -> Match | None:
        """``match`` for a path already percent-decoded, against the decoded route paths:
        ``/café/x`` is under the route ``/caf%C3%A9``."""
        return _longest(self._decoded, path)

    def __repr__(self) -> str:
        return f"RouteTable({[route.path for route in self.routes]!r})"


def _longest_first(prefixes: list[tuple[str, Route]]) -> tuple[tuple[str, int, Route], ...]:
    """(prefix, its length, route), longest prefix first, so the first hit is the longest
    match. Equal lengths cannot tie: two different prefixes of one length never both
    start the same path."""
    prefixes = sorted(prefixes, key=lambda entry: len(entry[0]), reverse=True)
    return tuple((prefix, len(prefix), route) for prefix, route in prefixes)


def _longest(prefixes: tuple[tuple[str, int, Route], ...], path: str) -> Match | None:
    for prefix, length, route in prefixes:
        if path.startswith(prefix) and (len(path) == length or path[length] == "/"):
            return Match(route, path[length:])
    return None
