"""devproxy.yaml (or --route flags) -> a validated, frozen ``Config``.

Owns devproxy's file format: which keys exist where, their types and defaults, and the
rules that span keys (a route has a target or a folder, each path once). The YAML-level
safety and typed reads live in ``yamlnodes``; single values are checked by ``config``'s
parsers and this module adds where they were written. Every problem in a file is
collected and raised as one ``ConfigError`` that reads like a compiler's diagnostics.
It never serves, prints or exits.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TypeGuard

import yaml

from .config import (
    BACKEND_CORS_POLICIES,
    DEFAULT_LISTEN_HOST,
    DEFAULT_LISTEN_PORT,
    ENV_REFERENCE,
    ENV_VARIABLE,
    MAX_INSPECTOR,
    MAX_LIMITS,
    PER_REQUEST_FIELDS,
    TOKEN,
    WS_ORIGIN_POLICIES,
    Config,
    CorsPolicy,
    Inspector,
    Limits,
    Listen,
    Rewrite,
    Route,
    Target,
    Timeouts,
    check_header,
    env_refusal,
    normalize_prefix,
    parse_allowed_host,
    parse_listen,
    parse_origin,
    parse_rewrite,
    parse_target,
    pattern_prefix,
    route_key,
    without_password,
)
from .errors import ConfigError
from .yamlnodes import MAX_DEPTH, Nodes, closest, compose_safely
from .yamlsyntax import invisible

__all__ = ["DEFAULT_CONFIG_NAME", "MAX_CONFIG_BYTES", "MAX_DEPTH", "SYMLINK_LOOP",
           "config_from_flags",
           "dangling_link", "load_config", "loop_message", "loop_refusal", "parse_config",
           "with_overrides"]

DEFAULT_CONFIG_NAME = "devproxy.yaml"
SYMLINK_LOOP = "a symlink loop: following it never reaches a file"  # ``dangling_link``
MAX_CONFIG_BYTES = 1024 * 1024

TOP_KEYS = ("listen", "routes", "cors", "allowed_hosts", "limits", "inspector")
INSPECTOR_KEYS = ("history", "body_limit")
TARGET_KEYS = ("target", "change_origin", "strip_prefix", "rewrite", "headers", "timeout",
               "secure", "ws", "ws_origin", "cors", "wait_for_backend")
LIMIT_KEYS = ("header_size", "headers", "header_timeout", "idle_timeout",
              "upstream_connections")
STATIC_KEYS = ("static", "spa", "dotfiles")
ROUTE_KEYS = ("path", *TARGET_KEYS, *STATIC_KEYS)
TIMEOUT_KEYS = ("connect", "response")
CORS_KEYS = ("origins", "credentials", "methods", "headers", "expose", "max_age",
             "private_network", "backend_cors")
_HOST_PORT = re.compile(r"^[\w.\-\[\]:]+:[0-9]+(/.*)?$")
_SCHEME_NO_SLASHES = re.compile(r"^(https?):/?(?!/)(.+)$", re.IGNORECASE)
_SCHEME_NO_COLON = re.compile(r"^(https?)//(.+)$", re.IGNORECASE)


def load_config(path: Path, name: str | None = None, *, loops: bool = True) -> Config:
    """Read and validate a config file; relative static folders are resolved against
    the file's folder. ``name`` is how messages call it (default: ``path``); ``loops``:
    as ``parse_config``'s.

    Raises:
        ConfigError: the file is missing, unreadable, over ``MAX_CONFIG_BYTES``, not
            UTF-8, or invalid; each problem names ``path`` and, where known, the line
            and column.
    """
    shown = str(path) if name is None else name
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{shown}: is a folder, not a config file")
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device could block or never end
            raise ConfigError(f"{shown}: not a regular file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{shown}: {info.st_size} bytes; a config may have at most 1 MiB")
        data = path.read_bytes()
    except FileNotFoundError:
        link = dangling_link(path)
        raise ConfigError(f"{shown}: {link}; point it at your config file" if link
                          else f"{shown}: no such file") from None
    except OSError as exc:
        link = dangling_link(path)  # a loop: "too many levels of symbolic links"
        raise ConfigError(f"{shown}: {link}; point it at your config file" if link
                          else f"{shown}: cannot read it: {exc.strerror or exc}") from None
    return parse_config(utf8_text(shown, data), shown, path.resolve().parent, loops=loops)


def _means_all(node: yaml.Node) -> bool:
    """``all`` in another case, or ``*``: what ``allowed_hosts: all`` says, written
    otherwise."""
    return isinstance(node, yaml.ScalarNode) and node.value.strip().lower() in ("all", "*")


def dangling_link(path: Path) -> str:
    """What ``path`` is if it is a symbolic link that leads to no file ("a symlink to
    TARGET, which does not exist", "a symlink loop"), else "": told as such, not as a
    file that is not there, which sends the user looking for the wrong thing."""
    try:
        os.stat(path)
        return ""
    except FileNotFoundError:
        pass
    except OSError as exc:
        return SYMLINK_LOOP if exc.errno == errno.ELOOP else ""
    try:
        target = os.readlink(path)
    except OSError:  # not a link: a plain file that is not there
        return ""
    final = os.path.realpath(path)
    if final != os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), target)):
        return f"a symlink to {target}, which leads to {final}, which does not exist"
    return f"a symlink to {target}, which does not exist"


def _utf16(data: bytes) -> str:
    """How ``data`` is UTF-16 text, or "": by its byte order mark, or without one by
    the NUL each ASCII character takes as its other byte (UTF-8 text has none)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text (it starts with a UTF-16 byte order mark)"
    sample = data[:1024]
    pairs = len(sample) // 2
    if not pairs or b"\x00" not in sample:
        return ""
    for order, ascii_byte, nul_byte in (("little-endian", 0, 1), ("big-endian", 1, 0)):
        nuls = sample[nul_byte:2 * pairs:2].count(0)
        if nuls * 2 > pairs and not sample[ascii_byte:2 * pairs:2].count(0):
            return f"UTF-16 text ({order}, with no byte order mark)"
    return ""


def utf8_text(name: str, data: bytes) -> str:
    """``data`` decoded as UTF-8.

    Raises:
        ConfigError: the text is UTF-16 (Windows editors and PowerShell's ``>`` write
            it), or at the line and column of the first byte that is not UTF-8.
    """
    utf16 = _utf16(data)
    if utf16:
        raise ConfigError(f"{name}: {utf16}, not UTF-8; save it as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise ConfigError(f"{name}:{line}:{column}: not UTF-8 text (byte "
                          f"{data[exc.start]:#04x}); save the file as UTF-8") from None


def parse_config(text: str, filename: str, base_dir: Path, *, loops: bool = True) -> Config:
    """Validate config text.

    Args:
        text: the YAML document.
        filename: names the file in messages; becomes ``Config.source``.
        base_dir: the folder relative ``static:`` folders are resolved against.
        loops: refuse a route whose target is the file's own ``listen``. False when
            command-line flags will change the address or the routes: the caller then
            checks the result (``with_overrides`` does), as flags win over the file.

    Returns:
        The frozen config, defaults filled in.

    Raises:
        ConfigError: every problem found, each with ``filename:line:col``.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{filename}: more than 1 MiB; a config may have at most 1 MiB")
    nodes = Nodes(filename)
    root = compose_safely(text, nodes)
    config = None if root is None else _Builder(nodes, base_dir, loops).config(root)
    nodes.raise_if_any()
    assert config is not None  # every path that yields no config records a problem
    return replace(config, source=Path(filename))


def config_from_flags(
    routes: Sequence[str], *, listen: str | None = None, change_origin: bool = False,
    base_dir: Path | None = None,
) -> Config:
    """A config from ``--route PATH=TARGET`` flags alone.

    Args:
        routes: ``PATH=URL`` for a target, ``PATH=FOLDER`` (starting with "." or "/")
            for static files. A repeated path: the last flag wins.
        listen: ``HOST:PORT``, ``:PORT`` or ``PORT``; default 127.0.0.1:8080.
        change_origin: set ``change_origin`` on every target route.
        base_dir: what relative folders are relative to; the working directory if None.

    Raises:
        ConfigError: a flag is malformed; the message quotes the flag.
    """
    config = Config(
        listen=_flag_listen(listen) or Listen(DEFAULT_LISTEN_HOST, DEFAULT_LISTEN_PORT),
        routes=_flag_routes(routes, change_origin, base_dir or Path.cwd(), None))
    return _no_loops(config, "")


def with_overrides(
    config: Config, *, listen: str | None = None, port: int | None = None,
    routes: Sequence[str] = (), change_origin: bool = False, base_dir: Path | None = None,
) -> Config:
    """``config`` with CLI flags over it: ``--listen`` replaces the address, ``-p`` its
    port (the host stays the file's, as a dev server's --port keeps its host setting);
    each ``--route`` takes the place of the file's route with the same normalised path,
    or is added after them. Target routes from flags get the file's top-level CORS
    policy.

    Raises:
        ConfigError: a flag is malformed, or makes a route loop to devproxy; the message
            names the flag, and the file's line for a route of the file's.
    """
    if listen is None and port is None and not routes:
        return config
    extra = {route_key(r.path): r for r in _flag_routes(
        routes, change_origin, base_dir or Path.cwd(), config.cors)}
    merged = tuple(extra.pop(route_key(r.path), r) for r in config.routes) \
        + tuple(extra.values())
    address = _flag_listen(listen) or (config.listen if port is None
                                       else Listen(config.listen.host, port))
    moved = "--listen" if listen is not None else f"-p {port}" if port is not None else ""
    return _no_loops(replace(config, listen=address, routes=merged,
                             listen_line=0 if moved else config.listen_line), moved)


def _no_loops(config: Config, moved: str) -> Config:
    """``config``, unless a route's target is devproxy's own address (``moved``: the flag
    that gave the address, if one did)."""
    refused = loop_refusal(config.routes, config.listen, str(config.source),
                           f"from {moved}" if moved else "")
    if refused:
        raise ConfigError(refused)
    return config


def loop_refusal(routes: Sequence[Route], listen: Listen, source: str, given: str) -> str:
    """Why the first of ``routes`` whose target is ``listen`` is refused, "" if none:
    a route of the file (``source``) named by its target's line and column, one from a
    --route flag (no line) by the flag; ``given`` says where ``listen`` came from."""
    for number, route in enumerate(routes):
        if route.target is not None and listen.reached_by(route.target):
            line, column = route.target_at
            where = (f"{source}:{line}:{column}: routes[{number}].target" if line
                     else f"--route {route.path}={route.target}: its target")
            return loop_message(where, route, listen, given)
    return ""


def loop_message(where: str, route: Route, listen: Listen, given: str = "") -> str:
    """Why ``route`` (at ``where``) is refused: its target is ``listen``, devproxy's own
    address; ``given``: where that address came from, if not the file's listen."""
    said = f"listen: {listen}" + (f", {given}" if given else "")
    flag = given.removeprefix("from ").partition(" ")[0]  # "-p" of "from -p 3000"
    move = f"give {flag} another port" if flag else "move listen to another port"
    return (f"{where}: {route.target} is devproxy's own address ({said}), so every "
            f"request would come back to devproxy in a loop; point it at your dev "
            f"server's port, or {move}")


def _flag_listen(listen: str | None) -> Listen | None:
    if listen is None:
        return None
    try:
        return parse_listen(listen)
    except ValueError as exc:
        raise ConfigError(f"--listen {listen!r}: {exc}") from None


def _shown_flag(flag: str) -> str:
    """A --route flag to quote in a message, its target's password hidden."""
    path, eq, value = flag.partition("=")
    return f"{path}{eq}{without_password(value)}"


def _flag_routes(flags: Sequence[str], change_origin: bool, base_dir: Path,
                 cors: CorsPolicy | None) -> tuple[Route, ...]:
    routes: dict[str, Route] = {}
    for flag in flags:
        path, eq, value = flag.partition("=")
        try:
            if not eq or not value:
                raise ValueError("expected PATH=TARGET, e.g. /api=http://127.0.0.1:3000 or "
                                 "/=./dist")
            pasted = invisible(flag, "devproxy")  # from a chat or a web page, as in the file
            if pasted:
                raise ValueError(f"character {pasted[0][1]} is {pasted[0][2]}")
            if path != path.rstrip() or value != value.lstrip():
                # "/api = http://..." as written in prose: the spaces are not the path's.
                raise ValueError(f"no spaces around '=': write "
                                 f"{path.strip()}={without_password(value.strip())}")
            prefix = normalize_prefix(path)
            if value.startswith((".", "/")):
                route = Route(path=prefix, static=_folder(value, base_dir))
            elif ENV_VARIABLE.match(value):  # '--route /api=$API_URL': single quotes
                raise ValueError("devproxy does not expand environment variables; quote the "
                                 "flag with double quotes so that the shell does, or write "
                                 "the URL out")
            elif "://" not in value and ":" not in value and not value.isdigit():
                raise ValueError(f"expected an http:// or https:// URL, or a folder starting "
                                 f"with '.' or '/' (such as './{value}'), got {value!r}")
            else:
                route = Route(path=prefix, target=_target(value), change_origin=change_origin,
                              cors=cors)
        except ValueError as exc:
            raise ConfigError(f"--route {_shown_flag(flag)!r}: {exc}") from None
        if route_key(prefix) in routes:  # as two routes with one path in the file are
            raise ConfigError(f"--route {_shown_flag(flag)!r}: {prefix} is already given by "
                              f"an earlier --route; each path may appear once")
        routes[route_key(prefix)] = route
    return tuple(routes.values())


def _target(text: str) -> Target:
    try:
        return parse_target(text)
    except ValueError as exc:
        guess = _meant_target(text)
        if guess is not None:
            why = " a route forwards WebSocket upgrades to its http(s):// target" \
                if text.lower().startswith(("ws://", "wss://")) else ""
            raise ValueError(f"{exc} (did you mean {guess!r}?{why})") from None
        raise


def _meant_target(text: str) -> str | None:
    """The URL a mistyped target most likely meant, if that one is valid: a bare port
    ('3000'), a WebSocket scheme ('ws://x:3000'), a misspelt one ('htp://'), or one
    that lost its colon or slashes ('http//x:3000', 'http:127.0.0.1:3000', 'http:/x'),
    or the scheme itself ('localhost:3000')."""
    text = text.strip()
    scheme, sep, rest = text.partition("://")
    lost_colon = _SCHEME_NO_COLON.match(text)
    slashes = _SCHEME_NO_SLASHES.match(text)
    if text.isdigit():
        guess = f"http://localhost:{text}"
    elif sep and scheme.lower() in ("ws", "wss"):
        guess = f"http{scheme[2:].lower()}://{rest}"
    elif sep:
        close = difflib.get_close_matches(scheme.lower(), ["http", "https"], n=1)
        if not close or close[0] == scheme.lower():
            return None
        guess = f"{close[0]}://{rest}"
    elif lost_colon is not None:
        guess = f"{lost_colon[1].lower()}://{lost_colon[2]}"
    elif slashes is not None:
        guess = f"{slashes[1].lower()}://{slashes[2]}"
    elif _HOST_PORT.match(text):
        guess = f"http://{text}"
    else:
        return None
    try:
        parse_target(guess)
    except ValueError:
        return None
    return guess


def _folder(text: str, base_dir: Path) -> Path:
    # The folder itself is not resolved: a symlink (Nix's ./result, a `current` link
    # swapped to each new build) is followed on every request, as nginx does, not fixed
    # to where it pointed when the config loaded; ``static._lookup`` resolves it. The
    # folders above it are, so that a `..` means what it does to the shell.
    written = base_dir / Path(text).expanduser()
    folder = written.resolve() if written.name in ("", "..") else \
        written.parent.resolve() / written.name
    if not folder.is_dir():
        if ENV_VARIABLE.search(text):  # ${DIST:-./dist}: no folder is named that
            raise ValueError(env_refusal(text, "a static folder", "the folder", partial(
                _folder, base_dir=base_dir), "./dist"))
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"static folder {text!r} ({folder}) {what}")
    if not os.access(folder, os.R_OK | os.X_OK):
        # Else every file in it would be answered 404, as if it were not there.
        raise ValueError(f"static folder {text!r} ({folder}) cannot be read by this user "
                         f"(permission denied)")
    return folder


def _regex(pattern: str) -> str:
    # Compiled here too, not only in parse_rewrite: this tells a bad pattern (reported at
    # the key) from a bad replacement (at the value), and re raises more than re.error.
    try:
        re.compile(pattern)
    except (re.error, OverflowError) as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    except RecursionError:
        raise ValueError("invalid regular expression: nested too deeply") from None
    return pattern


def _header_name(name: str) -> str:
    check_header(name, "")
    if name.lower() in PER_REQUEST_FIELDS:
        raise ValueError(f"{name} frames the request or manages the connection, which "
                         f"devproxy does itself for each request; remove it")
    return name


def _header_value(name: str, value: str) -> str:
    check_header(name, value)
    # Sent as written, "Bearer $TOKEN" fails at the backend as a bad credential, far
    # from this line. Only the reference is quoted: the rest may be a secret.
    found = ENV_REFERENCE.search(value)
    if found:
        raise ValueError(f"devproxy does not expand environment variables in a header "
                         f"value, so {found.group()!r} would be sent as written; write the "
                         f"value itself in its place")
    return value


# Top-level keys that hold a block of their own, and the keys that block takes.
_BLOCKS = {"cors": CORS_KEYS, "limits": LIMIT_KEYS, "inspector": INSPECTOR_KEYS,
           "routes": ROUTE_KEYS}


def _misplaced(root: yaml.Node) -> tuple[dict[int, str], set[str]]:
    """Top-level keys that belong in the empty block just above them (``cors:`` with its
    lines not indented, say), by key node id, with what to tell each; and those blocks.
    Otherwise each would be an unknown key, and the block "got nothing"."""
    words: dict[int, str] = {}
    emptied: set[str] = set()
    if not isinstance(root, yaml.MappingNode):
        return words, emptied
    block = ""
    line = 0
    for key, value in root.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else None
        if name in _BLOCKS and isinstance(value, yaml.ScalarNode) \
                and value.tag == "tag:yaml.org,2002:null":
            block, line = name, key.start_mark.line + 1
        elif block and name not in TOP_KEYS and name in _BLOCKS[block]:
            words[id(key)] = (
                f"belongs in a route under 'routes:' (line {line}), which is empty: write "
                f"the route as a list item, indented, as '  - path: /api' with its other "
                f"keys lined up under 'path'" if block == "routes" else
                f"belongs under '{block}:' (line {line}), which is empty: indent it, and "
                f"the rest of that block, by two spaces")
            emptied.add(block)
        else:
            block = ""
    return words, emptied


def _misspelt(node: yaml.Node, name: str, keys: Sequence[str] = TOP_KEYS) -> bool:
    """Whether a key of the mapping ``node`` that is not one of ``keys`` is a near miss
    of ``name``, as the unknown-key problem says (``Nodes.mapping``): "missing" would
    say it twice, and wrongly."""
    return isinstance(node, yaml.MappingNode) and any(
        isinstance(key, yaml.ScalarNode) and key.value not in keys
        and (key.value.lower() == name or closest(key.value, keys) == name)
        for key, _ in node.value)


def _shown(key: str) -> str:
    return repr(key if len(key) <= 40 else key[:37] + "...")


class _Builder:
    """Turns the node tree into config objects, recording problems in ``nodes``.

    Each part checks every key it can before giving up, so one run reports all of a
    file's mistakes; a part with problems yields None (or a default nobody will use).
    """

    def __init__(self, nodes: Nodes, base_dir: Path, loops: bool = True) -> None:
        self.n = nodes
        self.base_dir = base_dir
        self.loops = loops
        self.top_cors = 0  # the line of the top-level cors block, 0 if there is none
        self.paths: dict[str, int] = {}  # each route path written (``route_key``) -> its line
        # The same, as checked: line, as written, normalised.
        self.first: dict[str, tuple[int, str, str]] = {}

    def config(self, root: yaml.Node) -> Config | None:
        misplaced, emptied = _misplaced(root)
        f = self.n.mapping(root, "", TOP_KEYS, misplaced=misplaced)
        if f is None:
            return None
        for block in emptied:  # reported as the keys below it; "got nothing" says less
            del f[block]
        before = len(self.n.problems)
        listen = self._listen(f["listen"]) if "listen" in f else None
        self.top_cors = f["cors"].start_mark.line + 1 if "cors" in f else 0
        cors = None
        if "cors" in f and _is_word(f["cors"]):  # `cors: true`: not "expected a mapping"
            self.n.problem(f["cors"], _cors_not_a_block(f["cors"], "cors", None))
        elif "cors" in f:
            cors = self._cors(f["cors"], "cors")
        hosts, any_host = self._allowed_hosts(f["allowed_hosts"]) if "allowed_hosts" in f \
            else ((), False)
        limits = self._limits(f["limits"]) if "limits" in f else Limits()
        inspector = self._inspector(f["inspector"]) if "inspector" in f else Inspector()
        if "routes" in emptied:
            return None
        if "routes" not in f:
            if not _misspelt(root, "routes"):  # else "did you mean 'routes'?" says it
                self.n.problem(root, "routes: missing; add a list of routes, e.g.\n  routes:"
                                     "\n    - path: /api\n      target: http://127.0.0.1:3000")
            return None
        if isinstance(f["routes"], yaml.MappingNode):
            self.n.problem(f["routes"], _as_list(f["routes"]))
            return None
        items = self.n.sequence(f["routes"], "routes", "a list of routes (- path: ...)")
        if items is not None and not items:
            self.n.problem(f["routes"], "routes: the list is empty; add at least one route")
        self.paths = _paths(items or [])
        listen = listen or Listen(DEFAULT_LISTEN_HOST, DEFAULT_LISTEN_PORT)
        routes = [self._route(item, f"routes[{i}]", cors, listen)
                  for i, item in enumerate(items or ())]
        if self.n.failed_since(before):
            return None
        return Config(listen=listen,
                      routes=tuple(r for r in routes if r is not None), cors=cors,
                      allowed_hosts=hosts, any_host=any_host, limits=limits,
                      inspector=inspector,
                      listen_line=f["listen"].start_mark.line + 1 if "listen" in f else 0)

    def _inspector(self, node: yaml.Node) -> Inspector:
        if isinstance(node, yaml.ScalarNode):
            enabled = self.n.boolean(node, "inspector")
            return Inspector(enabled=enabled if enabled is not None else True)
        f = self.n.mapping(node, "inspector", INSPECTOR_KEYS) or {}
        values = {}
        for key, value in f.items():
            history = key == "history"
            number = self.n.integer(value, f"inspector.{key}", int(history), MAX_INSPECTOR[key],
                                    "write inspector: false to turn the inspector off"
                                    if history else "")
            if number is not None:
                values[key] = number
        return replace(Inspector(), **values)  # type: ignore[arg-type]

    def _allowed_hosts(self, node: yaml.Node) -> tuple[tuple[str, ...], bool]:
        if isinstance(node, yaml.ScalarNode) and node.value == "all":
            return (), True
        if _means_all(node):  # "[*]", the list the generic advice would give, is YAML's alias
            self.n.problem(node, f"allowed_hosts: to allow every host, write "
                                 f"allowed_hosts: all, not {node.value!r}")
            return (), False
        items = self.n.sequence(node, "allowed_hosts", "a list of host names, or all", one=True)
        hosts = []
        for i, item in enumerate(items or ()):
            if _means_all(item):  # read as a host named "all", the check stayed on
                self.n.problem(item, f"allowed_hosts[{i}]: to allow every host, write "
                                     f"allowed_hosts: all on its own, not {item.value!r} in "
                                     f"a list")
                continue
            hosts.append(self.n.parsed(item, f"allowed_hosts[{i}]", parse_allowed_host,
                                       "a host name"))
        return tuple(h for h in hosts if h is not None), False

    def _limits(self, node: yaml.Node) -> Limits:
        f = self.n.mapping(node, "limits", LIMIT_KEYS) or {}
        default = Limits()
        values: dict[str, float | int] = {}
        for key, value in f.items():
            where, high = f"limits.{key}", MAX_LIMITS[key]
            number = (self.n.positive_number(value, where, high) if key.endswith("timeout")
                      else self.n.integer(value, where, int(key in ("header_size", "headers")),
                                          int(high)))
            if number is not None:
                values[key] = number
        return replace(default, **values)  # type: ignore[arg-type]

    def _listen(self, node: yaml.Node) -> Listen | None:
        if isinstance(node, yaml.ScalarNode) and node.style is None and node.value.isdigit():
            # `listen: 8080`, a bare port; read as a number first to refuse `010`.
            if self.n.integer(node, "listen") is None:
                return None
            return self.n.parsed(node, "listen", parse_listen, "")
        return self.n.parsed(node, "listen", parse_listen, "HOST:PORT such as 127.0.0.1:8080")

    def _route(self, node: yaml.Node, where: str, cors: CorsPolicy | None,
               listen: Listen) -> Route | None:
        before = len(self.n.problems)
        if isinstance(node, yaml.ScalarNode) and node.value.startswith("/"):  # "- /api"
            self.n.problem(node, f"{where}: {node.value!r} alone is no route; write it as "
                                 f"'- path: {node.value}', with its target: or static: under "
                                 f"'path'")
            return None
        f = self.n.mapping(node, where, ROUTE_KEYS, "a route, such as {path: /api, target: "
                                                    "'http://127.0.0.1:3000'}")
        if f is None:
            return None
        unknown_keys = self.n.failed_since(before)
        path = self._path(node, f, where)
        if "target" in f and "static" in f:
            second = max(f["target"], f["static"], key=lambda n: n.start_mark.index)
            self.n.key_problem(second, f"{where}: a route serves either a target or a folder, "
                                       f"never both; split it into two routes")
            return None
        if "target" not in f and "static" not in f:
            if not unknown_keys:  # most likely a misspelt target:, already reported
                self.n.problem(node, f"{where}: needs a 'target:' URL or a 'static:' folder, "
                                     f"e.g. target: http://127.0.0.1:3000")
            return None
        kind, other, wrong_keys = (("target", "static", STATIC_KEYS) if "target" in f
                                   else ("static", "target", TARGET_KEYS))
        for key in (k for k in wrong_keys if k in f):
            self.n.key_problem(f[key], f"{where}.{key}: only applies to routes with a {other}:, "
                                       f"and this one has a {kind}:; remove it")
        line = node.start_mark.line + 1
        if kind == "static":
            folder = self.n.parsed(f["static"], f"{where}.static", partial(
                _folder, base_dir=self.base_dir), "a folder such as ./dist")
            route = Route(path="/", static=folder, spa=self.n.flag(f, "spa", where, False),
                          dotfiles=self.n.flag(f, "dotfiles", where, False), line=line)
        else:
            route = self._target_route(f, where, line, cors)
            if self.loops and route.target is not None and listen.reached_by(route.target):
                self.n.problem(f["target"], loop_message(f"{where}.target", route, listen))
        if path is None or self.n.failed_since(before):
            return None
        return replace(route, path=path)

    def _path(self, node: yaml.Node, f: dict[str, yaml.Node], where: str) -> str | None:
        if "path" not in f:
            if not _misspelt(node, "path", ROUTE_KEYS):
                self.n.problem(node, f"{where}: missing 'path:', the prefix this route serves, "
                                     f"e.g. path: /api")
            return None
        path = self.n.parsed(f["path"], f"{where}.path", partial(_route_path, paths=self.paths),
                             "a path such as /api")
        if path is None:
            return None
        written, key = str(f["path"].value), route_key(path)
        if key not in self.first:
            self.first[key] = (node.start_mark.line + 1, written, path)
        else:
            # Quoted as written, in both routes: '/api' for '/api/' hid why they are one.
            first_line, first_written, first_path = self.first[key]
            route = f"the route at line {first_line}"
            if written == path and path != first_path:  # '/a!' and '/a%21'
                said = (f"{written!r} and {first_written!r}, the path of {route}, are one path "
                        f"once %XX escapes are decoded")
            else:
                said = (repr(written) if written == path
                        else f"{written!r} normalises to {path}, which")
                said += f" is already the path of {route}" + (
                    f" (written there as {first_written!r})"
                    if first_written not in (written, path) else "")
            self.n.problem(f["path"], f"{where}.path: {said}; each path may appear once")
        return path

    def _target_route(self, f: dict[str, yaml.Node], where: str, line: int,
                      cors: CorsPolicy | None) -> Route:
        ws_origin = "keep"
        if "ws_origin" in f:
            ws_origin = self.n.choice(f["ws_origin"], f"{where}.ws_origin",
                                      WS_ORIGIN_POLICIES) or ws_origin
        at = f["target"].start_mark
        return Route(
            path="/", line=line, target_at=(at.line + 1, at.column + 1),
            target=self.n.parsed(f["target"], f"{where}.target", _target,
                                 "a URL such as http://127.0.0.1:3000"),
            change_origin=self.n.flag(f, "change_origin", where, False),
            strip_prefix=self.n.flag(f, "strip_prefix", where, False),
            secure=self.n.flag(f, "secure", where, True), ws=self.n.flag(f, "ws", where, True),
            ws_origin=ws_origin,
            rewrite=self._rewrite(f["rewrite"], f"{where}.rewrite") if "rewrite" in f else (),
            headers=self._headers(f["headers"], f"{where}.headers") if "headers" in f else (),
            timeout=self._timeout(f["timeout"], f"{where}.timeout") if "timeout" in f
            else Timeouts(),
            cors=self._route_cors(f["cors"], f"{where}.cors") if "cors" in f else cors,
            wait_for_backend=(self.n.positive_number(f["wait_for_backend"],
                                                     f"{where}.wait_for_backend") or 0.0)
            if "wait_for_backend" in f else 0.0,
        )

    def _rewrite(self, node: yaml.Node, where: str) -> tuple[Rewrite, ...]:
        rules = []
        for key, value in self.n.pairs(node, where, "a mapping of pattern: replacement, "
                                                    "e.g. {'^/v1/': /v2/}") or ():
            label = f"{where}[{_shown(key.value)}]"
            pattern = self.n.parsed(key, label, _regex, "a regular expression")
            rule = None if pattern is None else self.n.parsed(
                value, label, partial(parse_rewrite, pattern), "a replacement path",
                allow_empty=True)  # "" deletes what matched
            rules.extend([rule] if rule is not None else [])
        return tuple(rules)

    def _headers(self, node: yaml.Node, where: str) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        first: dict[str, yaml.ScalarNode] = {}  # lower-case name -> its key node
        for key, value in self.n.pairs(node, where, "a mapping of header: value, e.g. "
                                                    "{X-Dev-User: alice}") or ():
            label = f"{where}.{key.value}"
            name = self.n.parsed(key, label, _header_name, "a header name")
            text = None if name is None else self.n.parsed(
                value, label, partial(_header_value, name), "a header value", allow_empty=True)
            if name is None or text is None:
                continue
            earlier = first.setdefault(name.lower(), key)
            if earlier is not key:
                self.n.problem(key, f"{label}: the same header as {earlier.value!r} at line "
                                    f"{earlier.start_mark.line + 1} (header names ignore case); "
                                    f"keep one")
            else:
                out.append((name, text))
        return tuple(out)

    def _timeout(self, node: yaml.Node, where: str) -> Timeouts:
        f = self.n.mapping(node, where, TIMEOUT_KEYS) or {}
        seconds = {key: self.n.positive_number(f[key], f"{where}.{key}") for key in f}
        default = Timeouts()
        return Timeouts(connect=seconds.get("connect") or default.connect,
                        response=seconds.get("response") or default.response)

    def _route_cors(self, node: yaml.Node, where: str) -> CorsPolicy | None:
        if isinstance(node, yaml.ScalarNode):
            if not _plain_false(node):
                self.n.problem(node, _cors_not_a_block(node, where, self.top_cors))
            return None
        return self._cors(node, where)

    def _cors(self, node: yaml.Node, where: str) -> CorsPolicy | None:
        f = self.n.mapping(node, where, CORS_KEYS)
        if f is None:
            return None
        if "origins" not in f:
            self.n.problem(node, f"{where}: missing 'origins', e.g. origins: "
                                 f"[http://localhost:5173]")
            return None
        origins = self._origins(f["origins"], f"{where}.origins")
        credentials = self.n.flag(f, "credentials", where, False)
        if origins == ("*",) and credentials:
            self.n.problem(f["origins"], f"{where}.origins: '*' cannot be used with "
                           "credentials: true. Browsers refuse a wildcard "
                           "Access-Control-Allow-Origin on requests that carry cookies or "
                           "Authorization, because any site could then read a logged-in "
                           "user's data. List the frontend origins instead, e.g. origins: "
                           "[http://localhost:5173]")
        backend_cors = "replace"
        if "backend_cors" in f:
            backend_cors = self.n.choice(f["backend_cors"], f"{where}.backend_cors",
                                         BACKEND_CORS_POLICIES) or backend_cors
        policy = CorsPolicy(
            origins=origins or (), credentials=credentials,
            methods=self._names(f, "methods", where, upper=True),
            headers=self._names(f, "headers", where),
            expose=self._names(f, "expose", where, credentials=credentials) or (),
            max_age=self.n.integer(f["max_age"], f"{where}.max_age") if "max_age" in f else None,
            private_network=self.n.flag(f, "private_network", where, False),
            backend_cors=backend_cors, line=node.start_mark.line + 1,
            key_lines=tuple((key, self.n.key_line(value)) for key, value in f.items()),
        )
        return None if origins is None else policy

    def _origins(self, node: yaml.Node, where: str) -> tuple[str, ...] | None:
        if isinstance(node, yaml.ScalarNode) and node.value == "*":
            return ("*",)
        items = self.n.sequence(node, where, "a list of origins or '*'", one=True)
        if items is not None and not items:
            self.n.problem(node, f"{where}: the list is empty; name at least one origin")
        star = self._star(items or [], where, "origins", "allows every origin", "origins")
        if star is not False:
            return ("*",) if star else None  # ['*'] says what '*' says
        origins = [self.n.parsed(item, f"{where}[{i}]", parse_origin, "an origin")
                   for i, item in enumerate(items or ())]
        return tuple(o for o in origins if o is not None) if items and all(origins) else None

    def _star(self, items: Sequence[yaml.Node], where: str, key: str, meaning: str,
              things: str) -> bool | None:
        """Whether ``items`` is '*' alone (True) or has no '*' (False); None, reported,
        when '*' stands among other items, where it would match nothing."""
        stars = [item for item in items if getattr(item, "value", None) == "*"]
        if not stars:
            return False
        if len(stars) == len(items):
            return True
        self.n.problem(stars[0], f"{where}: '*' {meaning} on its own and matches nothing in "
                       f"a list: write {key}: '*', or list {things} without it")
        return None

    def _names(self, f: dict[str, yaml.Node], key: str, where: str, upper: bool = False,
               credentials: bool = False) -> tuple[str, ...] | None:
        """A list of methods or header names. ``'*'`` (as the ``cors`` packages spell
        "any") is what leaving ``methods`` or ``headers`` out means: devproxy then names
        in each preflight answer what was asked, which works with credentials too, where
        a literal ``*`` does not (Fetch §3.2.3). In ``expose`` it is the wildcard, which
        credentials make literal: refused then."""
        if key not in f:
            return None
        node = f[key]
        items = [node] if isinstance(node, yaml.ScalarNode) and node.value == "*" \
            else self.n.sequence(node, f"{where}.{key}", one=True) or []
        star = self._star(items, f"{where}.{key}", key, "means any", "names")
        if star is None or (star and key != "expose"):
            return None
        if star and credentials:
            self.n.problem(items[0], f"{where}.expose: with credentials: true, browsers read "
                           "'*' as a header literally named '*' and expose nothing: list the "
                           "headers the page reads, e.g. expose: [X-Total-Count]")
            return None
        if star:
            return ("*",)
        names = [self.n.parsed(item, f"{where}.{key}[{i}]", _name, "a name")
                 for i, item in enumerate(items)]
        return tuple(n.upper() if upper else n for n in names if n is not None)


_BOOLEAN_WORDS = ("true", "false", "yes", "no", "on", "off", "y", "n")
_CORS_BLOCK = "cors: {origins: [http://localhost:5173]}"


def _is_word(node: yaml.Node) -> TypeGuard[yaml.ScalarNode]:
    """Whether ``node`` is one of the words YAML 1.1 reads as a boolean, in any case."""
    return isinstance(node, yaml.ScalarNode) and node.value.lower() in _BOOLEAN_WORDS


def _plain_false(node: yaml.ScalarNode) -> bool:
    return node.style is None and node.value.lower() == "false"


def _cors_not_a_block(node: yaml.ScalarNode, where: str, top: int | None) -> str:
    """Why a single value where a cors block belongs is refused. A route's cors is
    ``false`` or a block, never ``true``: CORS mode needs the origins it allows. ``top``:
    for a route, the line of the top-level block (0: none); None for that block itself."""
    text, said = node.value, node.value.lower()
    if top is None:
        if said in ("true", "yes", "on", "y"):
            return (f"{where}: CORS mode needs the origins to allow, so {text!r} is not "
                    f"enough: write a block, e.g. {_CORS_BLOCK}")
        return (f"{where}: CORS mode is off without a cors block, so remove this line (a "
                f"route's cors: false turns it off for that route alone)")
    if said in ("true", "yes", "on", "y"):
        use = (f"leave cors out of this route to use the top-level cors block (line {top})"
               if top else "put that block at the top level, for every target route")
        return (f"{where}: CORS mode needs the origins to allow, so {text!r} is not enough: "
                f"give the route a block of its own, e.g. {_CORS_BLOCK}, or {use}")
    if said == "false":  # quoted
        return (f"{where}: {node.style}{text}{node.style} is quoted, so it is a string; write "
                f"false without quotes to turn CORS mode off for this route")
    if said in _BOOLEAN_WORDS:
        return (f"{where}: write false to turn CORS mode off for this route, not {text!r} "
                f"(YAML 1.1 reads {text!r} as a boolean, YAML 1.2 as the string {text!r})")
    got = "nothing" if node.tag == "tag:yaml.org,2002:null" else repr(text)
    return (f"{where}: expected false (CORS mode off for this route) or a block of its own, "
            f"e.g. {_CORS_BLOCK}, got {got}")


def _paths(items: Sequence[yaml.Node]) -> dict[str, int]:
    """Each valid route path in ``items`` (by ``route_key``), with the line of its first
    route: known before any route is checked, as a route may name one further down."""
    paths: dict[str, int] = {}
    for item in items:
        value = next((v for k, v in item.value if isinstance(k, yaml.ScalarNode)
                      and k.value == "path"), None) if isinstance(item, yaml.MappingNode) \
            else None
        if isinstance(value, yaml.ScalarNode):
            with contextlib.suppress(ValueError):
                paths.setdefault(route_key(normalize_prefix(value.value)),
                                 item.start_mark.line + 1)
    return paths


def _route_path(text: str, paths: dict[str, int]) -> str:
    """``normalize_prefix``; a pattern whose prefix is the path of a route (``paths``) is
    told so: "write '/api'" would make a second route /api."""
    prefix = pattern_prefix(text)
    line = None
    if prefix is not None:
        with contextlib.suppress(ValueError):  # a prefix that is no path: said as it is
            line = paths.get(route_key(normalize_prefix(prefix)))
    if line is not None:
        raise ValueError(f"a route path is a prefix, not a pattern, and the route {prefix} at "
                         f"line {line} already matches everything under it; remove this "
                         f"route, or move its settings into that one, got {text!r}")
    return normalize_prefix(text)


def _name(text: str) -> str:
    if not TOKEN.fullmatch(text):
        raise ValueError(f"{text!r} is not a valid name")
    return text


def _as_list(node: yaml.MappingNode) -> str:
    """What to write for routes given as a mapping (Vite's ``server.proxy`` shape):
    the user's own entries as list items, a URL as a target, anything else a folder."""
    if any(isinstance(k, yaml.ScalarNode) and k.value in ROUTE_KEYS for k, _ in node.value):
        # One route, its dash left out: every setting as written.
        shown = [f"{_written(k)}: {_written(v)}" for k, v in node.value]
        return "\n".join(["routes: expected a list of routes, got a single route; start it "
                          "with a dash:", "  routes:", f"    - {shown[0]}",
                          *(f"      {line}" for line in shown[1:])])
    lines = ["routes: expected a list of routes, got a mapping; write each route as an item:",
             "  routes:"]
    for key, value in node.value[:3]:
        settings = value.value if isinstance(value, yaml.MappingNode) else []
        if any(isinstance(k, yaml.ScalarNode) and k.value == "path" for k, _ in settings):
            # A named route (`api: {path: /api, ...}`): the name is no path, its own is.
            shown = [f"{_written(k)}: {_written(v)}" for k, v in settings]
            lines += [f"    - {shown[0]}", *(f"      {line}" for line in shown[1:])]
            continue
        name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
        # A name (`api:`) stands for its path; a path (`/api:`) is written as it was.
        lines.append(f"    - path: /{name}" if re.fullmatch(r"[\w.-]+", name)
                     else f"    - path: {_written(key)}")
        if isinstance(value, yaml.ScalarNode):
            text = str(value.value)
            if text.isdigit():  # a port
                lines.append(f"      target: http://127.0.0.1:{text}")
            else:
                lines.append(f"      {'target' if '://' in text else 'static'}: {_written(value)}")
        elif isinstance(value, yaml.MappingNode):  # its settings, as they were
            lines += [f"      {_written(k)}: {_written(v)}" for k, v in value.value]
    if len(node.value) > 3:
        lines.append("    ...")
    return "\n".join(lines)


def _written(node: yaml.Node) -> str:
    """``node`` as YAML on one line (flow style), quoted where it was."""
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        node.flow_style = True
        for child in (node.value if isinstance(node, yaml.SequenceNode)
                      else [part for pair in node.value for part in pair]):
            _written(child)
    text = yaml.serialize(node, width=10_000).strip()
    return text.removesuffix("\n...").strip()
