"""What changed between two configs, one line per change, for the reload log.

Owns the wording of a config diff: ``+ /auth -> http://127.0.0.1:4000``,
``~ /api target http://127.0.0.1:3000 -> http://127.0.0.1:3001``, ``- /legacy``,
``~ /api strip_prefix false -> true``, ``~ listen 127.0.0.1:8080 -> 127.0.0.1:9000``,
``- cors``, ``~ /api headers removed (was X-Env: dev)``.
Pure: it compares two frozen configs and never reads files, logs or touches the proxy.
"""

from __future__ import annotations

import dataclasses
import re

from .config import Config, CorsPolicy, Rewrite, Route, Timeouts

# Not options: the key routes are matched by, what they serve (reported on its own
# line first), and where they were written (moving a route in the file changes nothing).
_NOT_OPTIONS = ("path", "target", "static", "line", "target_at")
_WHERE = ("line", "key_lines")  # where a block was written, not what it does
_OPTIONS = tuple(f.name for f in dataclasses.fields(Route) if f.name not in _NOT_OPTIONS)
# A header a route sets is often a credential (a bearer token, an API key): the reload
# log, on screen and in shared terminals, says that it changed, never what it holds.
_SECRET_NAME = re.compile(r"auth|cookie|token|secret|key|pass|session|credential|signature"
                          r"|jwt|bearer|private", re.IGNORECASE)


def diff_routes(old: Config, new: Config) -> list[str]:
    """The changes that take ``old`` to ``new``.

    Returns:
        One line per change: the listen address first, then routes in path order
        (``+`` added, ``-`` removed, ``~`` changed: what it serves, then each option
        that differs, nested settings as ``timeout.connect``), then the top-level CORS
        block and ``allowed_hosts``. Empty when nothing that affects serving changed
        (comments, order, formatting).
    """
    lines: list[str] = []
    if old.listen != new.listen:
        lines.append(f"~ listen {old.listen} -> {new.listen}")
    before = {r.path: r for r in old.routes}
    after = {r.path: r for r in new.routes}
    for path in sorted(before.keys() | after.keys()):
        was, now = before.get(path), after.get(path)
        if was is None:
            assert now is not None
            lines.append(f"+ {path} -> {now.destination}")
        elif now is None:
            lines.append(f"- {path}")
        else:
            lines.extend(_route_changes(was, now, (old.cors, new.cors)))
    lines.extend(_block_changes("cors", old.cors, new.cors))
    hosts = (_hosts(old), _hosts(new))
    if hosts[0] != hosts[1]:
        lines.append(f"~ allowed_hosts {hosts[0]} -> {hosts[1]}")
    return lines


def _block_changes(name: str, before: object, after: object) -> list[str]:
    """A top-level block added (``+ cors {...}``) or removed (``- cors``) reads so from
    its first character, as a route does: "~ cors {origins=...} -> none", cut short in
    the inspector's pill, read as CORS mode still on."""
    if before is None and after is not None:
        return [f"+ {name} {_show(after, name)}"]
    if before is not None and after is None:
        return [f"- {name}"]
    return _changes("~", name, before, after)


def _hosts(config: Config) -> str:
    return "all" if config.any_host else f"[{', '.join(config.allowed_hosts)}]"


def _route_changes(was: Route, now: Route,
                   top: tuple[CorsPolicy | None, CorsPolicy | None]) -> list[str]:
    """``top``: the top-level cors block before and after. A route that inherits it
    both times changes with it, which its own line (``~ cors``) says once."""
    lines = []
    if was.target is not None and now.target is not None:
        lines.extend(_changes(f"~ {now.path}", "target", was.target, now.target))
    elif was.static is not None and now.static is not None:
        lines.extend(_changes(f"~ {now.path}", "static", was.static, now.static))
    else:  # a target became a folder or the other way round
        lines.append(f"~ {now.path} {was.destination} -> {now.destination}")
    inherited = was.cors is top[0] and now.cors is top[1]
    for name in _OPTIONS:
        if name != "cors" or not inherited:
            lines.extend(_changes(f"~ {now.path}", name, getattr(was, name),
                                  getattr(now, name)))
    return lines


def _changes(prefix: str, name: str, before: object, after: object) -> list[str]:
    """``prefix name before -> after``, field by field for a settings block."""
    if _comparable(before) == _comparable(after):
        return []
    fields = _fields(before)
    if fields and type(before) is type(after):
        return [line for field in fields for line in _changes(
            prefix, f"{name}.{field}", getattr(before, field), getattr(after, field))]
    # A setting taken away or a block put in says so before its value, which may be long
    # enough to be cut off (the inspector's pill shows one line).
    shown = _show(after, name)
    if shown == "none" and _show(before, name) != "none":
        return [f"{prefix} {name} removed (was {_show(before, name)})"]
    if before is None and _fields(after):
        return [f"{prefix} {name} added {shown}"]
    if name == "headers" and isinstance(before, tuple) and isinstance(after, tuple):
        return [f"{prefix} {name} {_show(before, name)} -> {_headers_after(before, after)}"]
    return [f"{prefix} {name} {_show(before, name)} -> {shown}"]


def _headers_after(before: tuple[tuple[str, str], ...], after: tuple[tuple[str, str], ...]
                   ) -> str:
    """A route's new headers, a hidden value marked when it is not the one it replaced:
    "(hidden) -> (hidden)" would not say which credential changed."""
    was = {name.lower(): value for name, value in before}
    shown = []
    for name, value in after:
        if not _SECRET_NAME.search(name):
            shown.append(f"{name}: {value}")
        elif name.lower() not in was:
            shown.append(f"{name}: (hidden, new)")
        else:
            changed = was[name.lower()] != value
            shown.append(f"{name}: (hidden{', changed' if changed else ''})")
    return ", ".join(shown) or "none"


def _fields(value: object) -> list[str]:
    """The settings of a nested block, or [] for a plain value."""
    if isinstance(value, (Timeouts, CorsPolicy)):
        # A block's ``line`` says where it was written, not how it behaves.
        return [f.name for f in dataclasses.fields(value) if f.name not in _WHERE]
    return []


def _comparable(value: object) -> object:
    return dataclasses.replace(value, line=0, key_lines=()) \
        if isinstance(value, CorsPolicy) else value


def _show(value: object, name: str = "") -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None and name in ("cors.methods", "cors.headers"):
        return "as asked"  # None: whatever the preflight asks for
    if value is None or value == ():
        return "none"
    if name.startswith("timeout.") and isinstance(value, (int, float)):
        return f"{value:g}s"
    if name == "wait_for_backend" and isinstance(value, (int, float)):
        return f"{value:g}s" if value > 0 else "off"
    if isinstance(value, Rewrite):
        return f"{value.pattern.pattern} -> {value.source}"
    if name == "headers" and isinstance(value, tuple):  # a route's (name, value) pairs
        return ", ".join(f"{n}: {'(hidden)' if _SECRET_NAME.search(n) else v}"
                         for n, v in value)
    if isinstance(value, tuple):
        return ", ".join(_show(v) for v in value)
    if fields := _fields(value):
        return "{" + ", ".join(f"{f}={_show(getattr(value, f), f'{name}.{f}')}"
                               for f in fields) + "}"
    return str(value)
