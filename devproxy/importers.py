"""Existing dev-server proxy configs -> devproxy routes, with a warning for every option
that does not translate (never a silent drop).

Reads Vite's ``server.proxy`` (the static object form), webpack-dev-server's
``devServer.proxy`` (object or array form) and Vue CLI's (the same with its defaults, or
one URL, in vue.config.*), Angular's ``proxy.conf.json`` and Create React App's
``"proxy"`` field in package.json.
Their options are http-proxy's: ``target``, ``changeOrigin``, ``secure``, ``ws``,
``pathRewrite`` / Vite's ``rewrite``, ``headers``, ``auth``, ``timeout``,
``prependPath`` and Vite's ``rewriteWsOrigin``. Pure: text in, routes and warnings out.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from .config import (
    PER_REQUEST_FIELDS,
    ascii_digits,
    check_header,
    normalize_prefix,
    parse_rewrite,
    parse_target,
    route_key,
)
from .jsconfig import exported_element, find_value
from .jsliteral import Code, JsEndError, JsSyntaxError
from .proxyorder import SIMPLE_REGEX, Entry, order_notes

# Options devproxy covers by default, so dropping them loses nothing.
_BUILT_IN = {
    "xfwd": "devproxy always sends X-Forwarded-For/Host/Proto/Port/Prefix",
    "autoRewrite": "devproxy maps Location headers back to its own origin",
    "hostRewrite": "devproxy maps Location headers back to its own origin",
    "protocolRewrite": "devproxy maps Location headers back to its own origin",
    "cookieDomainRewrite": "devproxy maps Set-Cookie Domain and Path back",
    "cookiePathRewrite": "devproxy maps Set-Cookie Domain and Path back",
    "logLevel": "devproxy logs one line per request (-v for headers)",
    "logger": "devproxy logs one line per request (-v for headers)",
    "followRedirects": "devproxy relays redirects to the browser, as a proxy should",
}


@dataclass(frozen=True, slots=True)
class _Reading:
    """What a dev server makes of its proxy entries before http-proxy sees them."""

    string: tuple[tuple[str, Any], ...] = ()  # options a bare URL entry stands for, too
    defaults: tuple[tuple[str, Any], ...] = ()  # under every entry's own options


# webpack-dev-server (and Angular's, on it): a URL entry is ``{ target }``, nothing more.
_WEBPACK = _Reading()
# Vite's proxy plugin: ``if (typeof opts === 'string') opts = { target: opts,
# changeOrigin: true }``.
_VITE = _Reading(string=(("changeOrigin", True),))
# Vue CLI's prepareProxy: Object.assign({}, defaultConfig, config, ...) for each entry, so
# the user's keys win. Its xfwd: true and logLevel: 'silent' need nothing: devproxy always
# sends X-Forwarded-*, and logs one line per request.
_VUE_CLI = _Reading(defaults=(("secure", False), ("changeOrigin", True), ("ws", True)))


# prependPath first: rewrites are written against the target's path it may remove;
# auth last: it must see the headers, which Node lets win over it.
_ORDER = {"prependPath": -1, "auth": 1}


@dataclass(frozen=True, slots=True)
class ImportedRoute:
    path: str
    target: str
    change_origin: bool = False
    strip_prefix: bool = False
    secure: bool = True
    ws: bool = True
    rewrite: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    response_timeout: float | None = None
    ws_origin: str = "keep"


@dataclass
class Imported:
    source: str  # what was read, for the file's header comment
    routes: list[ImportedRoute] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The dev server the file belongs to, and its port: the target of path /.
    frontend: str = "Vite"
    frontend_port: int = 5173
    frontend_https: bool = False  # it serves HTTPS (``config_https``)
    # What the file says of the dev server's HMR socket, for a comment: what to set for
    # it to go through devproxy, or what sends it elsewhere; "" when it already goes.
    frontend_hmr: str = ""
    # Where its HMR client expects a proxy (``config_hmr_client_port``,
    # ``config_ws_client_port``): devproxy listening there carries the socket.
    frontend_hmr_client_port: int | None = None
    # Vite's server.hmr.host, when its client connects there at the page's port
    # (``config_hmr_host``).
    frontend_hmr_host: str | Code | None = None


class NoProxy(ValueError):
    """The file is of a kind devproxy imports, but sets no proxy."""


class Unreadable(ValueError):
    """The file ends inside a value (half-written, or a quote the reader never saw
    close), so whether it sets a proxy is not known."""


def import_config(filename: str, text: str) -> Imported:
    """Translate the proxy config in ``text`` (``filename`` says which kind it is), and
    the port of the dev server it belongs to, for path /.

    Raises:
        NoProxy: the file sets no proxy.
        ValueError: the file is not a kind devproxy reads, or its proxy is unreadable.
    """
    imported = import_proxy(filename, text)
    kind = _js_config(PurePath(filename).name)
    if kind == "vite":
        return _with_port(imported, text, "server")
    if kind == "webpack" and (note := config_element_note(text)):
        imported.warnings.insert(0, f"{PurePath(filename).name}: {note}")
    if kind in ("webpack", "vue"):
        return _with_port(imported, text, "devServer")
    return imported


# A JS or TS config, as the tools load them.
_JS = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts")


def _js_config(name: str) -> str | None:
    """Which tool's config a file is, by its name: vite.config.ts, and the others a
    script names with --config (vite.dev.ts, webpack.dev.js: a common split); Vue CLI
    reads vue.config.js alone."""
    if name.startswith("vue.config.") and name.endswith(_JS):
        return "vue"
    for tool in ("vite", "webpack"):
        if name.startswith(f"{tool}.") and name.endswith(_JS):
            return tool
    return None


def import_proxy(filename: str, text: str) -> Imported:
    """``import_config`` without the dev server's port, which ``init`` finds elsewhere
    (a port flag in package.json beats vite.config.*); ``frontend_port`` is the tool's
    default.

    Raises:
        NoProxy: the file sets no proxy.
        Unreadable: the file ends inside a value, before a proxy could be looked for.
        ValueError: the file is not a kind devproxy reads, or its proxy is unreadable.
    """
    name = PurePath(filename).name
    try:
        if name == "package.json":
            return _create_react_app(name, text)
        if name.endswith(".json"):  # Angular's convention, and its dev server's port
            return _entries(Imported(f"{name} (Angular / webpack-dev-server proxy config)",
                                     frontend="Angular", frontend_port=4200),
                            _proxy_json(name, json.loads(text)))
        kind = _js_config(name)
        if kind == "vite":
            value = find_value(text, "server", "proxy")
            return _entries(Imported(f"{name} (server.proxy)", frontend="Vite"),
                            _required(value, name, "server.proxy"), _VITE)
        if kind == "webpack":
            value = find_value(text, "devServer", "proxy")
            return _entries(Imported(f"{name} (devServer.proxy)", frontend="webpack-dev-server",
                                     frontend_port=8080),
                            _required(value, name, "devServer.proxy"))
        if kind == "vue":  # Vue CLI hands devServer to webpack's, after prepareProxy
            value = _required(find_value(text, "devServer", "proxy"), name, "devServer.proxy")
            out = Imported(f"{name} (devServer.proxy)", frontend="Vue CLI", frontend_port=8080)
            return _vue_cli_url(out, value) if isinstance(value, str) else \
                _entries(out, value, _VUE_CLI)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    except RecursionError:
        raise ValueError(f"{name}: nested too deeply to read") from None
    except JsEndError as exc:
        raise Unreadable(f"{name}: could not be read to its end: {exc}") from exc
    except JsSyntaxError as exc:
        raise ValueError(f"{name}: cannot read the proxy object: {exc}") from exc
    raise ValueError(f"{name}: devproxy imports vite.config.* (or vite.*.ts as --config "
                     f"names one), webpack.config.* (webpack.*.js), vue.config.*, "
                     f"proxy.conf.json and package.json")


def _proxy_json(name: str, value: Any) -> Any:
    """``value`` if it has a proxy config's shape: paths (or globs, or Vite's ^ regexes)
    mapped to an object or a URL, or a list of objects with a ``target`` and a ``context``
    (or ``path``). One such entry will do: the others are named as not imported. Any .json
    can be named with --from, and tsconfig.json read as one gave notes of nonsense.

    Raises:
        NoProxy: an empty one.
        ValueError: any other JSON.
    """
    if value in ({}, []):
        raise NoProxy(f"{name}: an empty proxy config")
    if isinstance(value, list) and any(isinstance(item, dict) and "target" in item
                                       and ("context" in item or "path" in item)
                                       for item in value):
        return value
    if isinstance(value, dict) and any(_route_shaped(key, options)
                                       for key, options in value.items()):
        return value
    keys = f" (its keys: {', '.join(map(json.dumps, list(value)[:3]))})" \
        if isinstance(value, dict) else ""
    raise ValueError(f"{name}: not a proxy config{keys}: devproxy imports a JSON file of "
                     f"paths and their targets, as Angular's proxy.conf.json is "
                     f"({{\"/api\": {{\"target\": \"http://localhost:3000\"}}}}), "
                     f"and package.json's \"proxy\" (Create React App's)")


def _route_shaped(key: str, options: Any) -> bool:
    # tsconfig.json's compilerOptions has a target too: "es2022", not a URL.
    if isinstance(options, dict) and "://" in str(options.get("target", "")):
        return True
    return key.startswith(("/", "*", "^")) and isinstance(options, (dict, str))


def config_port(text: str, key: str) -> int | Code | None:
    """The ``port`` of the object at ``key:`` in a JS config (``server`` for Vite): its
    own, not a nested one such as Vite's ``server.hmr.port``.

    Returns:
        The port; a ``Code`` when the object or its port is computed (its source, so
        it can be named, never silently dropped); None when neither sets one.
    """
    try:
        server = find_value(text, key)
    except JsSyntaxError:
        return None
    if isinstance(server, Code):
        return Code(f"{key}: {server.source}")
    port = server.get("port") if isinstance(server, dict) else None
    if isinstance(port, Code):  # a name declared above (const PORT = 4000) is read
        with contextlib.suppress(JsSyntaxError):
            port = find_value(text, key, "port")
    if isinstance(port, Code):
        return Code(f"{key}.port: {port.source}")
    if isinstance(port, str):
        # webpack-dev-server takes a port as a string too, and 'auto' (a free one).
        if not ascii_digits(port.strip()):  # JavaScript's Number() reads no other digits
            return Code(f"{key}.port: {json.dumps(port)}")
        port = int(port)
    return literal_port(port)


def config_element_note(text: str) -> str:
    """What a webpack config that exports an array of configs (the multi-compiler form)
    was read at: the first element with a ``devServer``, the one webpack-cli serves
    first; it starts one for each element that has one (webpack-cli's serve command).
    "" when the export is no such array."""
    element = exported_element(text, "devServer")
    if element is None:
        return ""

    def shown(indexes: tuple[int, ...]) -> str:
        return ", ".join(f"[{i}]" + (f" (name: {json.dumps(element.names[i])})"
                                     if element.names[i] is not None else "")
                         for i in indexes)

    note = (f"it exports an array of {element.count} configs (webpack's multi-compiler "
            f"form): read the devServer of element {shown((element.index,))}, the first "
            f"that has one, as webpack-cli serves it")
    if element.also:
        note += (f"; {shown(element.also)} {'has' if len(element.also) == 1 else 'have'} "
                 f"a devServer too, which webpack-cli also starts: not read, add what it "
                 f"serves by hand")
    if element.unread:
        one = len(element.unread) == 1
        note += (f"; {shown(element.unread)} {'is' if one else 'are'} not a literal object: "
                 f"not read, and if {'it' if one else 'one'} has a devServer, webpack-cli "
                 f"starts that too")
    return note


# Vite plugins that turn on HTTPS with a certificate of their own making.
_TLS_PLUGINS = re.compile(r"""['"](?:@vitejs/plugin-basic-ssl|vite-plugin-mkcert)['"]""")


def config_https(text: str, key: str = "server") -> bool:
    """Whether a dev server's config serves HTTPS: ``https`` set in the object at
    ``key`` (Vite's ``server.https``, webpack-dev-server 4's ``devServer.https``: an
    object of key and certificate, or true), its ``server`` (webpack-dev-server 5:
    ``'https'``, or ``{type: 'https'}``), or a Vite plugin that sets it (basic-ssl,
    mkcert). Its certificate is then one no system trusts: the target wants
    ``secure: false``."""
    if _TLS_PLUGINS.search(text):
        return True
    try:
        server = find_value(text, key)
    except JsSyntaxError:
        return False
    if not isinstance(server, dict):
        return False
    https, transport = server.get("https"), server.get("server")
    if isinstance(transport, dict):
        transport = transport.get("type")
    return https is True or isinstance(https, dict) or transport in ("https", "spdy")


def config_ws_url(text: str) -> str | None:
    """Where a webpack-dev-server config aims its client's socket: "" for the page's own
    origin (``webSocketURL`` with port 0, ``'auto://0.0.0.0:0/ws'``), so through devproxy;
    the setting as written when elsewhere; None when the config does not say (the
    client then uses devServer's own host and port when the config names them)."""
    try:
        client = find_value(text, "devServer", "client")
    except JsSyntaxError:
        return None
    url = client.get("webSocketURL") if isinstance(client, dict) else None
    if isinstance(url, str):
        own = re.search(r":0(?:/|$)", url) is not None
        return "" if own else f"devServer.client.webSocketURL: {json.dumps(url)}"
    if isinstance(url, dict) and "port" in url:
        if url["port"] in (0, "0"):
            return ""
        shown = url["port"].source if isinstance(url["port"], Code) else json.dumps(url["port"])
        return f"devServer.client.webSocketURL.port: {_short(shown)}"
    return None


# Hosts a webpack-dev-server client reads as this machine: 0.0.0.0 stands for the page's
# own host name.
_WS_LOOPBACK = ("localhost", "127.0.0.1", "::1", "0.0.0.0")


def config_ws_client_port(text: str) -> int | None:
    """The port of a webpack-dev-server config's literal ``client.webSocketURL`` when it
    names this machine over ws:// ('ws://localhost:8080/ws', or its object form): a port
    devproxy can listen on, which then carries the socket, as Vite's clientPort does
    (``config_hmr_client_port``). None otherwise: port 0 (the page's own), wss://
    (an HTTPS proxy), another host, a privileged or computed port."""
    try:
        client = find_value(text, "devServer", "client")
    except JsSyntaxError:
        return None
    url = client.get("webSocketURL") if isinstance(client, dict) else None
    scheme: Any
    if isinstance(url, str):
        parts = urlsplit(url)
        try:
            scheme, host, port = parts.scheme, parts.hostname, parts.port
        except ValueError:
            return None
    elif isinstance(url, dict):
        scheme, host, port = (str(url.get("protocol", "ws")).rstrip(":"),
                              url.get("hostname", "localhost"), url.get("port"))
        if isinstance(port, str) and port.isdigit():
            port = int(port)
    else:
        return None
    return literal_port(port, lowest=1024) if scheme in ("ws", "auto") \
        and host in _WS_LOOPBACK else None


def config_hmr(text: str) -> str:
    """What in a Vite config may send the HMR socket somewhere other than the page's own
    origin (so past devproxy), as written: ``server.hmr: false`` (no HMR at all), or
    the ``clientPort`` or ``port`` of ``server.hmr`` its client connects to (clientPort
    first, as the client reads them), or its ``host`` (at the page's port: see
    ``config_hmr_host``); "" when nothing does. A clientPort devproxy can listen on is
    no detour: see ``config_hmr_client_port``."""
    try:
        hmr = find_value(text, "server", "hmr")
    except JsSyntaxError:
        return ""
    if hmr is False:
        return "server.hmr: false"
    if not isinstance(hmr, dict):
        return ""
    for key in ("clientPort", "port", "host"):
        value = hmr.get(key)
        if value is None:
            continue
        shown = value.source if isinstance(value, Code) else json.dumps(value)
        return f"server.hmr.{key}: {_short(shown)}"
    return ""


def config_hmr_host(text: str) -> str | Code | None:
    """The ``server.hmr.host`` of a Vite config when its HMR client connects there at the
    page's own port, which is devproxy's when the page is opened through it: with no
    ``clientPort`` or ``port`` set (Vite's client: ``hmr.host || the page's hostname``,
    ``clientPort || port || the page's port``), and not over ``wss``, which devproxy's
    plain HTTP port does not speak. None otherwise."""
    try:
        hmr = find_value(text, "server", "hmr")
    except JsSyntaxError:
        return None
    if not isinstance(hmr, dict) or hmr.get("protocol") == "wss" \
            or any(hmr.get(key) is not None for key in ("clientPort", "port")):
        return None
    host = hmr.get("host")
    return host if isinstance(host, (str, Code)) else None


def config_hmr_client_port(text: str) -> int | None:
    """The literal ``server.hmr.clientPort`` of a Vite config, the port its HMR client
    connects to, which Vite documents for running behind a proxy, where devproxy can be
    that proxy: not a privileged port (443 means an HTTPS proxy, and needs root), and not
    with ``host`` (another name) or ``protocol: 'wss'`` set. None otherwise."""
    try:
        hmr = find_value(text, "server", "hmr")
    except JsSyntaxError:
        return None
    if not isinstance(hmr, dict) or "host" in hmr or hmr.get("protocol") == "wss":
        return None
    return literal_port(hmr.get("clientPort"), lowest=1024)


def literal_port(value: Any, lowest: int = 1) -> int | None:
    """``value`` if a config's literal reads as a port number from ``lowest`` (1024: one
    devproxy can listen on without root) to 65535; else None (true is no port)."""
    return value if isinstance(value, int) and not isinstance(value, bool) \
        and lowest <= value < 65536 else None


def _with_port(out: Imported, text: str, key: str) -> Imported:
    if key in ("server", "devServer"):
        out.frontend_https = config_https(text, key)
    if key == "server" and (host := config_hmr_host(text)) is not None:
        out.frontend_hmr_host = host
    elif key == "server" and (setting := config_hmr(text)):
        out.frontend_hmr = f"its HMR WebSocket does not go through devproxy: {setting}"
        out.frontend_hmr_client_port = config_hmr_client_port(text)
    elif key == "devServer":
        aimed = config_ws_url(text)
        if aimed is None:
            out.frontend_hmr = ("for its HMR WebSocket to go through devproxy, set devServer: "
                                "{ client: { webSocketURL: 'auto://0.0.0.0:0/ws' } }")
        elif aimed:
            out.frontend_hmr = (f"its HMR WebSocket does not go through devproxy: {aimed}; "
                                f"'auto://0.0.0.0:0/ws' would send it there")
            out.frontend_hmr_client_port = config_ws_client_port(text)
    port = config_port(text, key)
    if isinstance(port, int):
        out.frontend_port = port
    elif isinstance(port, Code):
        out.warnings.append(f"{_short(port.source)} is computed: path / goes to "
                            f"{out.frontend}'s default port {out.frontend_port}; change it "
                            f"if your dev server listens elsewhere")
    return out


def _required(value: Any, name: str, where: str) -> Any:
    if value is None:
        raise NoProxy(f"{name}: no {where} found")
    if isinstance(value, Code):
        raise ValueError(f"{name}: {where} is computed ({value.source[:60]}), not a "
                         f"literal object; write the routes by hand")
    return value


def _create_react_app(name: str, text: str) -> Imported:
    package = json.loads(text)
    proxy = package.get("proxy") if isinstance(package, dict) else None
    if proxy is None:
        raise NoProxy(f"{name}: no \"proxy\" field (Create React App's dev proxy)")
    if not isinstance(proxy, str):
        raise ValueError(f"{name}: \"proxy\" is not a URL; Create React App takes one "
                         f"string here")
    try:
        parse_target(proxy)
    except ValueError as exc:
        raise ValueError(f"{name}: \"proxy\": {exc}") from None
    out = Imported(f"{name} (Create React App \"proxy\")", frontend="Create React App",
                   frontend_port=3000)
    out.routes.append(ImportedRoute("/api", proxy, change_origin=True))
    out.warnings.append(
        "Create React App forwards every request it cannot serve that does not ask for "
        "HTML; devproxy routes by path prefix, so check that /api is your API's prefix")
    return out


def _vue_cli_url(out: Imported, url: str) -> Imported:
    # prepareProxy's string form, Create React App's: every request the dev server does not
    # serve itself (a built file, one in public/) that is not a GET asking for HTML.
    # devproxy routes by path, so /api stands for it, as for Create React App's.
    _entry(out, "/api", url, _VUE_CLI)
    if out.routes:
        out.warnings.insert(0, (
            "devServer.proxy is one URL: Vue CLI forwards there every request it cannot "
            "serve that does not ask for HTML; devproxy routes by path prefix, so it was "
            "imported as /api: check that /api is your API's prefix"))
    return out


def _entries(out: Imported, value: Any, reading: _Reading = _WEBPACK) -> Imported:
    entries: list[Entry] = []  # what was imported, in the order the dev server tries it

    def add(group: int, context: str, options: Any) -> None:
        if route := _entry(out, context, options, reading):
            plain = not (route.strip_prefix or route.rewrite)  # else the path tells them apart
            entries.append(Entry(group, context, route.path, route.target,
                                 replace(route, path="") if plain else route))

    if isinstance(value, list):  # webpack's array form: [{context: [...], target: ...}]
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                out.warnings.append(f"proxy[{i}] is not an object literal: not imported")
                continue
            # webpack-dev-server 5 takes ``context``, else ``path`` (its Server.js:
            # ``proxyConfig.context || proxyConfig.path``).
            key = "context" if item.get("context") not in (None, "") or "path" not in item \
                else "path"
            contexts = item.get(key)
            contexts = [contexts] if isinstance(contexts, str) else contexts
            if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
                out.warnings.append(f"proxy[{i}].{key} is not a list of paths: "
                                    f"not imported")
                continue
            options = {k: v for k, v in item.items() if k not in ("context", "path")}
            for context in contexts:
                add(i, context, options)
    elif isinstance(value, dict):
        for i, (context, options) in enumerate(value.items()):
            add(i, context, options)
    else:
        out.warnings.append("the proxy setting is neither an object nor a list: nothing "
                            "imported")
    out.warnings.extend(order_notes(out.frontend, entries))
    return out


def _entry(out: Imported, context: str, options: Any, reading: _Reading
           ) -> ImportedRoute | None:
    """The route for one context, appended to ``out.routes``; None if it is not imported
    (``out.warnings`` says why)."""
    path = _path(out, context)
    if path is None:
        return None
    key = route_key(normalize_prefix(path))
    same = next((r.path for r in out.routes
                 if route_key(normalize_prefix(r.path)) == key), None)
    if same is not None:
        out.warnings.append(f"{context}: the same prefix as {same}, imported above; "
                            f"devproxy routes a prefix once: not imported")
        return None
    if isinstance(options, str):
        options = {"target": options, **dict(reading.string)}
    if not isinstance(options, dict):
        out.warnings.append(f"{context}: options are not an object literal: not imported")
        return None
    options = {**dict(reading.defaults), **options}
    target = options.get("target")
    if not isinstance(target, str):
        shown = target.source if isinstance(target, Code) else target
        out.warnings.append(f"{context}: target {shown!r} is not a literal URL: not imported")
        return None
    scheme = target.partition("://")[0]
    if scheme in ("ws", "wss"):  # http-proxy accepts ws:// targets for socket routes
        target = ("http" if scheme == "ws" else "https") + target[len(scheme):]
        out.warnings.append(f"{context}: target {scheme}:// written as "
                            f"{target.partition('://')[0]}://; devproxy upgrades WebSockets "
                            f"on any route")
    try:
        parse_target(target)
    except ValueError as exc:
        out.warnings.append(f"{context}: target: {exc}: not imported")
        return None
    route = ImportedRoute(path, target.rstrip("/") if target.count("/") > 2 else target)
    if "timeout" in options and "proxyTimeout" in options:
        out.warnings.append(f"{context}.timeout: not imported: http-proxy's timeout is the "
                            f"browser connection's, which devproxy has no setting for; "
                            f"proxyTimeout, the backend's, is imported as timeout.response")
        options = {k: v for k, v in options.items() if k != "timeout"}
    for key, value in sorted(options.items(), key=lambda item: _ORDER.get(item[0], 0)):
        route = _option(out, context, route, key, value)
    out.routes.append(route)
    return route


def _path(out: Imported, context: str) -> str | None:
    path = context
    if path.startswith("^"):  # Vite: a key starting with ^ is a regular expression
        simple = SIMPLE_REGEX.fullmatch(path)
        if simple is None:
            out.warnings.append(f"{context}: a regular expression key; devproxy routes by "
                                f"path prefix: add the route by hand")
            return None
        out.warnings.append(f"{context}: a regular expression key, imported as the prefix "
                            f"{simple.group(1)}")
        path = simple.group(1).replace("\\", "")
    if path.endswith("/*"):
        # A glob's * is one path segment (micromatch, picomatch): /api/* took /api/users
        # but not /api/users/1, nor /api itself. A prefix route takes them all.
        out.warnings.append(f"{context}: a glob for one path segment, imported as the "
                            f"prefix {path[:-2] or '/'}, which also takes deeper paths "
                            f"({path[:-1]}a/b) and {path[:-2] or '/'} itself")
    path = re.sub(r"/\*\*?$", "", path) or "/"  # Angular/webpack globs: /api/** -> /api
    if not path.startswith("/") or any(c in path for c in "*?"):
        out.warnings.append(f"{context}: not a plain path prefix: add the route by hand")
        return None
    try:
        normalize_prefix(path)
    except ValueError as exc:
        out.warnings.append(f"{context}: not imported: {exc}")
        return None
    return path.rstrip("/") or "/"


def _option(out: Imported, context: str, route: ImportedRoute, key: str,
            value: Any) -> ImportedRoute:
    def code(what: str) -> ImportedRoute:
        out.warnings.append(f"{context}.{key}: {what}")
        return route

    if key == "target":
        return route
    if key in ("changeOrigin", "secure", "ws"):
        if not isinstance(value, bool):
            return code("not a literal true/false: not imported")
        field_name = {"changeOrigin": "change_origin", "secure": "secure", "ws": "ws"}[key]
        return _with(route, **{field_name: value})
    if key in ("pathRewrite", "rewrite"):
        return _rewrite(out, context, route, key, value)
    if key == "headers":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return code("not an object of strings: not imported")
        bad = [name for name, text in value.items() if not _sendable(name, text)]
        if bad:
            out.warnings.append(f"{context}.{key}: {', '.join(map(repr, bad))} not imported: "
                                f"not a header name, or a value with CR, LF or NUL")
            value = {name: text for name, text in value.items() if name not in bad}
        fixed = [name for name in value if name.lower() in PER_REQUEST_FIELDS]
        if fixed:
            out.warnings.append(f"{context}.{key}: {', '.join(fixed)} not imported: devproxy "
                                f"sets these for each request")
        return _with(route, headers=tuple((name, text) for name, text in value.items()
                                          if name.lower() not in PER_REQUEST_FIELDS))
    if key == "rewriteWsOrigin":  # Vite: the handshake's Origin becomes the target's
        if not isinstance(value, bool):
            return code("not a literal true/false: not imported")
        return _with(route, ws_origin="rewrite") if value else route
    if key == "auth":
        return _auth(out, context, route, value)
    if key == "prependPath":  # false: the target's own path is not put in front
        if not isinstance(value, bool):
            return code("not a literal true/false: not imported")
        parts = urlsplit(route.target)
        return route if value else _with(route, target=f"{parts.scheme}://{parts.netloc}")
    # proxyTimeout bounds the backend's answer. timeout is the browser's socket going idle,
    # as it does while the backend is slow to answer (http-proxy then aborts the backend
    # request): given alone, it ends that same wait (``_entry`` drops it beside the other).
    if key in ("timeout", "proxyTimeout"):
        if not isinstance(value, (int, float)) or value <= 0:
            return code("not a literal number: not imported")
        return _with(route, response_timeout=value / 1000)
    if key in _BUILT_IN:
        out.warnings.append(f"{context}.{key}: not needed, {_BUILT_IN[key]}")
        return route
    if isinstance(value, Code):
        return code(f"code ({_short(value.source)}) cannot be translated; devproxy has no "
                    f"hooks: drop it or handle it in your backend")
    return code(f"{key!r} has no devproxy equivalent: not imported")


def _auth(out: Imported, context: str, route: ImportedRoute, value: Any) -> ImportedRoute:
    # http-proxy hands auth to Node's http.request, which sends it as Basic credentials
    # unless the request already has an Authorization header.
    if not isinstance(value, str) or not _sendable("Authorization", value):
        out.warnings.append(f"{context}.auth: not a literal 'user:password': not imported")
        return route
    if any(name.lower() == "authorization" for name, _ in route.headers):
        out.warnings.append(f"{context}.auth: not imported: its headers set Authorization, "
                            f"which is sent instead")
        return route
    basic = base64.b64encode(value.encode()).decode("ascii")
    out.warnings.append(f"{context}.auth: written as an Authorization header: "
                        f"devproxy.yaml now holds that credential")
    return _with(route, headers=(*route.headers, ("Authorization", f"Basic {basic}")))


_REPLACE = re.compile(r"""\.replace\(\s*/(?P<re>(?:\\.|[^/])+)/[gimsuy]*\s*,\s*(?P<q>['"`])"""
                      r"""(?P<to>.*?)(?P=q)\s*\)""")


def _rewrite(out: Imported, context: str, route: ImportedRoute, key: str,
             value: Any) -> ImportedRoute:
    pairs: list[tuple[str, str]]
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        pairs = list(value.items())
    elif isinstance(value, Code) and (found := _REPLACE.search(value.source)) \
            and value.source.count(".replace(") == 1:
        pairs = [(found.group("re").replace("\\/", "/"), found.group("to"))]
    else:
        shown = value.source if isinstance(value, Code) else value
        out.warnings.append(f"{context}.{key}: {_short(str(shown))} cannot be translated: "
                            f"write a rewrite: rule by hand")
        return route
    prefix = "^" + re.escape(route.path).replace("\\/", "/")
    if len(pairs) == 1 and pairs[0][1] == "" and pairs[0][0].replace("\\/", "/") in (
            prefix, "^" + route.path):
        # http-proxy passes a redirect's Location as sent; devproxy maps it into the
        # route, so a login's "303 /dashboard" meant for the frontend changes place.
        out.warnings.append(
            f"{context}.{key}: imported as strip_prefix: true, and a redirect this "
            f"backend sends to /page now lands on {route.path.rstrip('/')}/page (devproxy "
            f"maps it into the route, the dev server did not): one meant for the "
            f"frontend's page must name it in full, http://localhost:PORT/page")
        return _with(route, strip_prefix=True)
    pairs = [(p.replace("\\/", "/"), r) for p, r in pairs]
    for pattern, replacement in list(pairs):
        try:
            parse_rewrite(pattern, replacement)
        except ValueError as exc:
            out.warnings.append(f"{context}.{key}: {exc}: not imported")
            pairs.remove((pattern, replacement))
    if not pairs:
        return route
    if len(pairs) > 1:
        out.warnings.append(f"{context}.{key}: http-proxy applies only the first rule that "
                            f"matches, devproxy each in turn: check that no rule matches "
                            f"what an earlier one wrote")
    base = urlsplit(route.target).path.rstrip("/")
    if base:
        # http-proxy rewrites the path before putting the target's path in front;
        # devproxy rewrites the path as sent, base path included (``paths.py``).
        loose = [p for p, _ in pairs if not p.startswith("^")]
        if loose:
            out.warnings.append(f"{context}.{key}: {', '.join(map(repr, loose))} not anchored "
                                f"with ^: devproxy applies it after the target's path {base} "
                                f"is in front; check it")
        pairs = [(f"^{re.escape(base)}(?:{p[1:]})", base + r) if p.startswith("^") else (p, r)
                 for p, r in pairs]
    return _with(route, rewrite=tuple(pairs))


def _sendable(name: str, value: str) -> bool:
    """Whether the loader takes this header (``config.check_header``'s rules)."""
    try:
        check_header(name, value)
    except ValueError:
        return False
    return True


def _with(route: ImportedRoute, **changes: Any) -> ImportedRoute:
    return replace(route, **changes)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."
