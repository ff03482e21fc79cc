"""devproxy.yaml (or --route flags) -> a validated, frozen ``Config``.

Owns the file format: limits checked before parsing, safe YAML only, and a walk over
pyyaml's node tree (never its Python objects) so that every value keeps its line and
column and YAML 1.1's coercions (``no`` -> false, ``010`` -> 8) never reach a value.
Every problem in a file is collected and raised as one ``ConfigError`` that reads like
a compiler's diagnostics. Single values are checked by ``config``'s parsers; this module
adds where they were written. It never serves, prints or exits.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import yaml

from .config import (
    BACKEND_CORS_POLICIES,
    WS_ORIGIN_POLICIES,
    Config,
    CorsPolicy,
    Listen,
    Rewrite,
    Route,
    Target,
    Timeouts,
    check_header,
    normalize_prefix,
    parse_listen,
    parse_origin,
    parse_rewrite,
    parse_target,
)
from .errors import ConfigError
from .yamlnodes import Nodes, compose_safely

DEFAULT_CONFIG_NAME = "devproxy.yaml"
MAX_CONFIG_BYTES = 1024 * 1024

TOP_KEYS = ("listen", "routes", "cors")
TARGET_KEYS = ("target", "change_origin", "strip_prefix", "rewrite", "headers", "timeout",
               "secure", "ws", "ws_origin", "cors")
STATIC_KEYS = ("static", "spa", "dotfiles")
ROUTE_KEYS = ("path", *TARGET_KEYS, *STATIC_KEYS)
TIMEOUT_KEYS = ("connect", "response")
CORS_KEYS = ("origins", "credentials", "methods", "headers", "expose", "max_age",
             "private_network", "backend_cors")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
T = TypeVar("T")


def load_config(path: Path) -> Config:
    """Read and validate a config file.

    Raises:
        ConfigError: the file is missing, unreadable, too big, not UTF-8, or invalid;
            each problem names ``path`` and, where known, the line and column.
    """
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {size} bytes; a config may have at most 1 MiB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x})") from None
    return parse_config(text, str(path), path.resolve().parent)


def parse_config(text: str, filename: str, base_dir: Path) -> Config:
    """Validate config text. ``base_dir`` resolves relative static folders.

    Raises:
        ConfigError: every problem found, each with ``filename:line:col``.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{filename}: more than 1 MiB; a config may have at most 1 MiB")
    nodes = Nodes(filename)
    root = compose_safely(text, nodes)
    config = _Builder(nodes, base_dir).config(root) if root is not None else None
    nodes.raise_if_any()
    assert config is not None
    return replace(config, source=Path(filename))


def config_from_flags(
    routes: Sequence[str], *, listen: str | None = None, change_origin: bool = False,
    base_dir: Path | None = None,
) -> Config:
    """A config from ``--route PATH=TARGET`` flags alone.

    Raises:
        ConfigError: a flag is malformed; the message quotes the flag.
    """
    return Config(
        listen=_flag_listen(listen) or Listen("127.0.0.1", 8080),
        routes=_flag_routes(routes, change_origin, base_dir or Path.cwd()),
    )


def with_overrides(
    config: Config, *, listen: str | None = None, routes: Sequence[str] = (),
    change_origin: bool = False, base_dir: Path | None = None,
) -> Config:
    """``config`` with CLI flags applied: ``--listen`` replaces, each ``--route``
    replaces the file's route with the same path or is added.

    Raises:
        ConfigError: a flag is malformed.
    """
    extra = _flag_routes(routes, change_origin, base_dir or Path.cwd())
    replaced = {r.path for r in extra}
    merged = tuple(r for r in config.routes if r.path not in replaced) + extra
    return replace(config, listen=_flag_listen(listen) or config.listen, routes=merged)


def _flag_listen(listen: str | None) -> Listen | None:
    if listen is None:
        return None
    try:
        return parse_listen(listen)
    except ValueError as exc:
        raise ConfigError(f"--listen {listen!r}: {exc}") from None


def _flag_routes(flags: Sequence[str], change_origin: bool, base_dir: Path) -> tuple[Route, ...]:
    routes: dict[str, Route] = {}
    for flag in flags:
        path, eq, value = flag.partition("=")
        try:
            if not eq or not value:
                raise ValueError("expected PATH=TARGET, e.g. /api=http://127.0.0.1:3000")
            prefix = normalize_prefix(path)
            if value.startswith((".", "/")):
                route = Route(path=prefix, static=_folder(value, base_dir))
            else:
                route = Route(path=prefix, target=_target(value), change_origin=change_origin)
        except ValueError as exc:
            raise ConfigError(f"--route {flag!r}: {exc}") from None
        routes[prefix] = route  # a repeated flag path: the last one wins, as flags do
    return tuple(routes.values())


def _target(text: str) -> Target:
    try:
        return parse_target(text)
    except ValueError as exc:
        if "://" not in text and re.match(r"^[\w.\-\[\]:]+:\d+(/.*)?$", text):
            raise ValueError(f"{exc} (did you mean 'http://{text}'?)") from None
        raise


def _rewrite_rule(pattern: str, replacement: str) -> Rewrite:
    return parse_rewrite(pattern, replacement)


def _folder(text: str, base_dir: Path) -> Path:
    folder = (base_dir / text).resolve()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"static folder {text!r} ({folder}) {what}")
    return folder


class _Builder:
    """Turns the node tree into config objects, recording problems in ``nodes``."""

    def __init__(self, nodes: Nodes, base_dir: Path) -> None:
        self.n = nodes
        self.base_dir = base_dir

    def config(self, root: yaml.Node) -> Config | None:
        fields = self.n.mapping(root, "", TOP_KEYS)
        if fields is None:
            return None
        listen = Listen("127.0.0.1", 8080)
        if "listen" in fields:
            listen = self._listen(fields["listen"]) or listen
        cors = self._cors(fields["cors"], "cors") if "cors" in fields else None
        if "routes" not in fields:
            self.n.problem(root, "routes: missing; add a list of routes, e.g.\n"
                                 "  routes:\n    - path: /api\n      target: http://127.0.0.1:3000")
            return None
        items = self.n.sequence(fields["routes"], "routes")
        if items is not None and not items:
            self.n.problem(fields["routes"], "routes: the list is empty; add at least one route")
        routes: list[Route] = []
        first_line: dict[str, int] = {}
        for index, item in enumerate(items or []):
            where = f"routes[{index}]"
            built = self._route(item, where, cors)
            if built is None:
                continue
            if built.path in first_line:
                self.n.problem(item, f"{where}.path: {built.path!r} is already a route at line "
                                     f"{first_line[built.path]}; each path may appear once")
                continue
            first_line[built.path] = built.line
            routes.append(built)
        return Config(listen=listen, routes=tuple(routes), cors=cors)

    def _listen(self, node: yaml.Node) -> Listen | None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int"):
            number = self.n.integer(node, "listen")
            return None if number is None else self._value(node, "listen", parse_listen,
                                                            f":{number}")
        text = self.n.string(node, "listen")
        return None if text is None else self._value(node, "listen", parse_listen, text)

    def _route(self, node: yaml.Node, where: str, cors: CorsPolicy | None) -> Route | None:
        fields = self.n.mapping(node, where, ROUTE_KEYS)
        if fields is None:
            return None
        if "path" not in fields:
            self.n.problem(node, f"{where}: missing 'path' (the prefix this route serves)")
            return None
        text = self.n.string(fields["path"], f"{where}.path")
        path = None if text is None else self._value(fields["path"], f"{where}.path",
                                                      normalize_prefix, text)
        has_target, has_static = "target" in fields, "static" in fields
        if has_target == has_static:
            self.n.problem(node, f"{where}: a route serves either a target or a folder, never "
                                 f"both" if has_target else
                                 f"{where}: needs a 'target:' URL or a 'static:' folder")
            return None
        wrong = [k for k in (STATIC_KEYS if has_target else TARGET_KEYS) if k in fields]
        for key in wrong:
            kind = "static" if has_target else "target"
            self.n.key_problem(fields[key], f"{where}.{key}: only applies to {kind} routes")
        if path is None or wrong:
            return None
        line = node.start_mark.line + 1
        if has_static:
            return self._static_route(fields, where, path, line)
        return self._target_route(fields, where, path, line, cors)

    def _static_route(self, f: dict[str, yaml.Node], where: str, path: str,
                      line: int) -> Route | None:
        text = self.n.string(f["static"], f"{where}.static")
        folder = None if text is None else self._value(
            f["static"], f"{where}.static", lambda t: _folder(t, self.base_dir), text)
        spa = self._flag(f, "spa", where, False)
        dotfiles = self._flag(f, "dotfiles", where, False)
        if folder is None or spa is None or dotfiles is None:
            return None
        return Route(path=path, static=folder, spa=spa, dotfiles=dotfiles, line=line)

    def _target_route(self, f: dict[str, yaml.Node], where: str, path: str, line: int,
                      cors: CorsPolicy | None) -> Route | None:
        text = self.n.string(f["target"], f"{where}.target")
        target = None if text is None else self._value(f["target"], f"{where}.target",
                                                        _target, text)
        flags = {key: self._flag(f, key, where, default) for key, default in (
            ("change_origin", False), ("strip_prefix", False), ("secure", True), ("ws", True))}
        ws_origin = "keep"
        if "ws_origin" in f:
            ws_origin = self.n.choice(f["ws_origin"], f"{where}.ws_origin",
                                      WS_ORIGIN_POLICIES) or "keep"
        rewrite = self._rewrite(f["rewrite"], f"{where}.rewrite") if "rewrite" in f else ()
        headers = self._headers(f["headers"], f"{where}.headers") if "headers" in f else ()
        timeout = self._timeout(f["timeout"], f"{where}.timeout") if "timeout" in f else None
        if "cors" in f:
            cors = self._route_cors(f["cors"], f"{where}.cors")
        if target is None or None in flags.values() or rewrite is None or headers is None:
            return None
        return Route(
            path=path, target=target, change_origin=bool(flags["change_origin"]),
            strip_prefix=bool(flags["strip_prefix"]), secure=bool(flags["secure"]),
            ws=bool(flags["ws"]), ws_origin=ws_origin, rewrite=rewrite, headers=headers,
            timeout=timeout or Timeouts(), cors=cors, line=line,
        )

    def _flag(self, f: dict[str, yaml.Node], key: str, where: str, default: bool) -> bool | None:
        return self.n.boolean(f[key], f"{where}.{key}") if key in f else default

    def _rewrite(self, node: yaml.Node, where: str) -> tuple[Rewrite, ...] | None:
        pairs = self.n.pairs(node, where)
        if pairs is None:
            return None
        rules = []
        for key_node, value_node in pairs:
            pattern = self.n.string(key_node, where)
            replacement = self.n.string(value_node, f"{where}[{key_node.value!r}]")
            if pattern is None or replacement is None:
                return None
            rule = self._value(key_node, f"{where}[{pattern!r}]",
                               functools.partial(_rewrite_rule, replacement=replacement),
                               pattern)
            if rule is None:
                return None
            rules.append(rule)
        return tuple(rules)

    def _headers(self, node: yaml.Node, where: str) -> tuple[tuple[str, str], ...] | None:
        pairs = self.n.pairs(node, where)
        if pairs is None:
            return None
        out = []
        for key_node, value_node in pairs:
            name = self.n.string(key_node, where)
            value = self.n.string(value_node, f"{where}.{key_node.value}")
            if name is None or value is None:
                return None
            try:
                check_header(name, value)
            except ValueError as exc:
                self.n.problem(key_node, f"{where}.{name}: {exc}")
                return None
            out.append((name, value))
        return tuple(out)

    def _timeout(self, node: yaml.Node, where: str) -> Timeouts | None:
        fields = self.n.mapping(node, where, TIMEOUT_KEYS)
        if fields is None:
            return None
        connect = response = None
        if "connect" in fields:
            connect = self.n.number(fields["connect"], f"{where}.connect", positive=True)
        if "response" in fields:
            response = self.n.number(fields["response"], f"{where}.response", positive=True)
        defaults = Timeouts()
        return Timeouts(connect=connect or defaults.connect, response=response or defaults.response)

    def _route_cors(self, node: yaml.Node, where: str) -> CorsPolicy | None:
        if isinstance(node, yaml.ScalarNode):
            if self.n.boolean(node, where) is not False:
                self.n.problem(node, f"{where}: write 'cors: false' to turn CORS mode off for "
                                     f"this route, or give the route its own cors block")
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
        credentials = self._flag(f, "credentials", where, False)
        private_network = self._flag(f, "private_network", where, False)
        methods = self._names(f, "methods", where, upper=True)
        headers = self._names(f, "headers", where)
        expose = self._names(f, "expose", where)
        max_age = self.n.integer(f["max_age"], f"{where}.max_age") if "max_age" in f else None
        backend_cors = "replace"
        if "backend_cors" in f:
            backend_cors = self.n.choice(f["backend_cors"], f"{where}.backend_cors",
                                         BACKEND_CORS_POLICIES) or "replace"
        if origins is None or credentials is None or private_network is None:
            return None
        if origins == ("*",) and credentials:
            self.n.problem(f["origins"], f"{where}.origins: '*' cannot be used with "
                           "credentials: true. Browsers refuse a wildcard "
                           "Access-Control-Allow-Origin on requests that carry cookies or "
                           "Authorization, because any site could then read a logged-in "
                           "user's data. List the frontend origins instead, e.g. origins: "
                           "[http://localhost:5173]")
            return None
        return CorsPolicy(
            origins=origins, credentials=credentials, methods=methods, headers=headers,
            expose=expose or (), max_age=max_age, private_network=private_network,
            backend_cors=backend_cors, line=node.start_mark.line + 1,
        )

    def _origins(self, node: yaml.Node, where: str) -> tuple[str, ...] | None:
        if isinstance(node, yaml.ScalarNode):
            text = self.n.string(node, where)
            if text is None:
                return None
            if text != "*":
                self.n.problem(node, f"{where}: expected a list of origins or '*', e.g. "
                                     f"[{text}]")
                return None
            return ("*",)
        items = self.n.sequence(node, where)
        if not items:
            if items is not None:
                self.n.problem(node, f"{where}: the list is empty; name at least one origin")
            return None
        origins = []
        for index, item in enumerate(items):
            text = self.n.string(item, f"{where}[{index}]")
            origin = None if text is None else self._value(item, f"{where}[{index}]",
                                                            parse_origin, text)
            if origin is None:
                return None
            origins.append(origin)
        return tuple(origins)

    def _names(self, f: dict[str, yaml.Node], key: str, where: str,
               upper: bool = False) -> tuple[str, ...] | None:
        if key not in f:
            return None
        items = self.n.sequence(f[key], f"{where}.{key}")
        names = []
        for index, item in enumerate(items or []):
            text = self.n.string(item, f"{where}.{key}[{index}]")
            if text is not None and not _TOKEN.match(text):
                self.n.problem(item, f"{where}.{key}[{index}]: {text!r} is not a valid name")
            elif text is not None:
                names.append(text.upper() if upper else text)
        return tuple(names)

    def _value(self, node: yaml.Node, where: str, parse: Callable[[str], T],
               text: str) -> T | None:
        try:
            return parse(text)
        except ValueError as exc:
            self.n.problem(node, f"{where}: {exc}")
            return None
