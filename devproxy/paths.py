"""Path mapping between what the browser asks for and what the backend is sent.

Owns both directions for a route with a target:

- ``upstream_path``: browser path -> backend path (strip the prefix, prepend the
  target's base path, apply the rewrite rules);
- ``client_path``: backend path -> browser path, the inverse used for ``Location`` and
  cookie ``Path`` (nginx's ``proxy_redirect default``), or None when the backend path
  lies outside what the route maps.

Paths stay raw and percent-encoded throughout: nothing here decodes or normalises
(``%2F``, ``//`` and ``..`` pass as they are), because a proxy that normalises
differently from its backend changes what the backend sees. Must not do I/O or look
at headers.
"""

from __future__ import annotations

import functools
import re

from .config import Rewrite, Route, Target

# Characters that make a regex more than literal text (unescaped). "{" and "}" are
# literal in some positions in Python's re, but treating them as special only means a
# rule is not inverted.
_REGEX_SPECIAL = frozenset(".^$*+?{}[]|()\\")


_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def hex_upper(path: str) -> str:
    """``path`` with each percent-escape's hex digits in upper case: the one spelling of
    equivalent escapes (RFC 3986 §2.1, §6.2.2.1), as browsers write them (curl writes
    lower case). The same length as ``path``."""
    return _ESCAPE.sub(lambda found: found.group().upper(), path) if "%" in path else path


def upstream_path(route: Route, raw_path: str) -> str:
    """The raw path to send upstream for ``raw_path``.

    Args:
        route: a route with a target.
        raw_path: the browser's raw path (no query), which matched ``route.path``.

    Returns:
        The path with the route prefix removed (``strip_prefix``, not for the root
        route), the target's base path prepended ("" becomes "/"), then each rewrite
        rule applied in order; a result that does not start with "/" gets one ("" is
        "/", "b/x" is "/b/x").

    Raises:
        ValueError: ``route`` has no target (a static route), or ``raw_path`` does not
            start with a prefix that is to be stripped.
    """
    path = raw_path
    if route.strip_prefix and route.path != "/":
        if not (raw_path.startswith(route.path) or
                hex_upper(raw_path).startswith(hex_upper(route.path))):
            raise ValueError(f"{raw_path!r} did not match route {route.path!r}")
        path = raw_path[len(route.path):]
    path = (_target(route).base_path + path) or "/"
    for rule in route.rewrite:
        path = rule.apply(path)
    # RFC 9112 §3.2.1: origin-form starts with "/", and an empty path is sent as "/".
    # A rule that drops a prefix (^/api -> "") or writes a relative one (^/a -> b) would
    # otherwise send a request line such as "GET  HTTP/1.1" or "GET b/x HTTP/1.1".
    return path if path.startswith("/") else "/" + path


def client_path(route: Route, upstream_path: str) -> str | None:
    """The path the browser must use for a path the backend used.

    The inverse of ``upstream_path``: undo the invertible rewrite rules in reverse
    order, remove the target's base path, then put back a stripped prefix. A rule is
    invertible when its regex is ``^`` followed by literal text (``^/v1/``, ``^/api``);
    any other rule is skipped, so a path behind a non-literal rewrite is mapped
    through the base path and prefix only.

    Args:
        route: a route with a target.
        upstream_path: a raw path as the backend wrote it (no query or fragment).

    Returns:
        The browser's path; identity when nothing in the route moves paths, and when a
        stripped prefix is already there (a backend that honours X-Forwarded-Prefix).
        None when the path is not under the target's base path (on a segment boundary).

    Raises:
        ValueError: ``route`` has no target (a static route).
    """
    base = _target(route).base_path
    path = upstream_path
    if route.rewrite:
        for replaced, literal in _inverses(route.rewrite):
            if path.startswith(replaced):
                path = literal + path[len(replaced):]
    if base:
        if not path.startswith(base) or (len(path) > len(base) and path[len(base)] != "/"):
            return None
        path = path[len(base):]
    if route.strip_prefix and route.path != "/":
        if _under(path, route.path):
            # devproxy sends X-Forwarded-Prefix, and backends that honour it (Spring's
            # ForwardedHeaderFilter, ASP.NET UsePathBase, Werkzeug's ProxyFix) already
            # write browser paths; prefixing again would give /api/api/login.
            return path
        return route.path + path
    return path or "/"


def _under(path: str, prefix: str) -> bool:
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")


@functools.lru_cache(maxsize=256)
def _inverses(rules: tuple[Rewrite, ...]) -> tuple[tuple[str, str], ...]:
    """(replacement text, literal) for each invertible rule, last rule first.

    Cached per rule tuple (rules are frozen), so a route pays for this once; bounded
    so that reloads cannot grow it without limit.
    """
    inverses = []
    for rule in reversed(rules):
        literal = _anchored_literal(rule.pattern.pattern)
        if literal is not None:
            # The regex matches exactly ``literal`` at the start, so applying the rule
            # to ``literal`` alone yields the replacement as expanded: escapes are
            # processed, and \g<0> (the only group reference a literal can have) is
            # the literal itself. A replacement without its leading "/" went upstream
            # with one (``upstream_path``); "" matches any path, so it stays "".
            replaced = rule.apply(literal)
            if replaced and not replaced.startswith("/"):
                replaced = "/" + replaced
            inverses.append((replaced, literal))
    return tuple(inverses)


def _anchored_literal(pattern: str) -> str | None:
    """``/v1/`` for ``^/v1/`` (and ``/a.b`` for ``^/a\\.b``); None unless ``pattern`` is
    ``^`` followed by literal text."""
    if not pattern.startswith("^"):
        return None
    literal = []
    chars = iter(pattern[1:])
    for char in chars:
        if char == "\\":
            # A compiled regex cannot end in a lone backslash, so one always follows.
            escaped = next(chars)
            # \d, \w, \A, \1 ... are classes, anchors or references, not literals.
            if escaped.isalnum():
                return None
            literal.append(escaped)
        elif char in _REGEX_SPECIAL:
            return None
        else:
            literal.append(char)
    return "".join(literal)


def _target(route: Route) -> Target:
    if route.target is None:
        raise ValueError(f"route {route.path!r} serves static files and has no target")
    return route.target
