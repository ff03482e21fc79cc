"""``devproxy init``: guess a project's frontend and backend, write a commented config.

Pure: ``detect`` reads a ``Project`` (file names and the few texts it looks at), and
``render`` turns what was found, or imported (``importers``), into devproxy.yaml text.
The CLI reads the folder and writes the file.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from . import devservers
from .backendports import uvicorn_port
from .config import is_localhost, parse_target
from .devservers import dependencies, json_object
from .importers import Imported, ImportedRoute, NoProxy, Unreadable, import_proxy
from .jsliteral import Code

# Default ports, as each tool documents them (NestJS's generated main.ts); the frontends
# are in ``devservers``. Express, Fastify and Koa have none: the app's own listen() picks
# it, and 3000 is what their guides use, a guess said as one.
_NODE_BACKENDS = (("express", "Express", 3000), ("fastify", "Fastify", 3000),
                  ("@nestjs/core", "NestJS", 3000), ("koa", "Koa", 3000))
_NO_DEFAULT_PORT = frozenset({"Express", "Fastify", "Koa"})
# Frameworks whose dev server answers /api itself (where its handlers live): a
# placeholder route there would take it away.
_OWN_API = {"Next.js": "app/api", "Nuxt": "server/api", "Astro": "src/pages/api",
            "Remix": "app/routes/api.*", "SvelteKit": "src/routes/api"}


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    port: int
    why: str  # what gave it away, for the comment
    https: bool = False  # serves HTTPS with a certificate of its own
    hmr: str = ""  # what sends its HMR socket past devproxy, if anything
    hmr_ready: bool = False  # its config already sends that socket through devproxy
    hmr_client_port: int | None = None  # the port its HMR client connects to, if set
    framework: str = ""  # what runs on it (SvelteKit on Vite), else ``name``
    guess: str = ""  # why its port is a guess, for the comment: "" when it was found
    hmr_host: str | Code | None = None  # Vite's server.hmr.host, at the page's port


@dataclass(frozen=True, slots=True)
class Detected:
    frontend: Server | None
    backend: Server | None
    notes: tuple[str, ...] = ()
    static: Static | None = None  # a build folder, when no dev server was found
    proxy: Imported | None = None  # the dev server's own proxy, imported
    proxy_file: str = ""  # where that proxy is set


# Where projects keep their halves; ``detect`` looks in these folders too.
SUBFOLDERS = ("", "frontend", "client", "web", "ui", "backend", "server", "api")
PROJECT_FILES = ("package.json", "angular.json", "manage.py", "requirements.txt",
                 "pyproject.toml", "Pipfile", "Gemfile",
                 # Where a FastAPI app's uvicorn.run(app, port=...) usually is.
                 "main.py", "app.py", "app/main.py",
                 # Every name Vite looks for, in its order; then webpack's, Astro's, Nuxt's.
                 *(f"vite.config.{ext}" for ext in ("js", "mjs", "ts", "cjs", "mts", "cts")),
                 "webpack.config.js", "webpack.config.cjs", "webpack.config.mjs",
                 "webpack.config.ts",
                 *(f"astro.config.{ext}" for ext in ("mjs", "js", "ts", "mts", "cjs", "cts")),
                 "nuxt.config.ts", "nuxt.config.js", "nuxt.config.mjs",
                 "vue.config.js", "vue.config.cjs", "vue.config.mjs",
                 # Create React App's, for PORT; and its own proxy, which init names.
                 ".env.development.local", ".env.local", ".env.development", ".env",
                 "src/setupProxy.js")
# devproxy's port: the usual one, unless the project's servers use it (webpack's default).
_LISTEN_PORTS = (8080, 8081, 8082, 8090)
BUILD_FOLDERS = ("dist", "build", "public")  # a built site, if no dev server is found


def built_site(index_html: str) -> bool:
    """Whether a build folder's index.html is a built page: Vue CLI's and Create React
    App's public/index.html is the template they build from (``<%= BASE_URL %>``)."""
    return "<%" not in index_html and "%PUBLIC_URL%" not in index_html


@dataclass(frozen=True, slots=True)
class Static:
    folder: str  # relative, as written in the config
    why: str


def _unreadable_packages(files: Mapping[str, str]) -> list[str]:
    """A note for each package.json that is not JSON (npm refuses it too): read as
    nothing, its dev server and scripts would go unnamed with no reason given."""
    notes = []
    for path, text in files.items():
        if path.rpartition("/")[2] != "package.json" or not text.strip():
            continue
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            notes.append(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg}), so nothing was read from it; npm refuses it too")
        except RecursionError:
            notes.append(f"{path} is nested too deeply to read, so nothing was read from it")
    return notes


def detect(files: Mapping[str, str], folders: tuple[str, ...] = ()) -> Detected:
    """Guess from ``files`` (relative path -> text, for the files present that matter)
    and ``folders`` (relative build folders that hold an index.html).

    A proxy the frontend's dev server already has (vite.config.*'s server.proxy and
    the like) is imported as ``--from`` would: its routes stand for the backend.
    """
    notes: list[str] = [*_unreadable_packages(files)]
    frontend = proxy = None
    proxy_file = ""
    if found := _frontend(files):
        dev_server, why = found
        frontend = Server(dev_server.tool.name, dev_server.port,
                          f"{why}; port from {dev_server.source}" if dev_server.source
                          else why, dev_server.https, dev_server.hmr, dev_server.hmr_ready,
                          dev_server.hmr_client_port,
                          "SvelteKit" if dev_server.tool.name == "Vite"
                          and _uses(files, "@sveltejs/kit") else dev_server.tool.name,
                          hmr_host=dev_server.hmr_host)
        notes.extend(dev_server.notes)
        proxy_file = dev_server.proxy_file
        proxy = _own_proxy(files, proxy_file, notes)
    backend = _backend(files)
    if backend and proxy and proxy.routes:  # the proxy's routes, not the guess, are written
        if note := _unreached(backend, proxy.routes, proxy_file,
                              frontend.port if frontend else None):
            notes.append(note)
    elif frontend and backend and frontend.port == backend.port:
        notes.append(f"{frontend.name} and {backend.name} both use port "
                     f"{frontend.port}: start one of them on another port and change its "
                     f"target below")
    static = None
    if frontend is None and folders:
        static = Static(folders[0], f"{folders[0]}/index.html")
    return Detected(frontend, backend, tuple(notes), static, proxy, proxy_file)


def proxy_files(files: Mapping[str, str]) -> tuple[str, ...]:
    """The files ``detect`` would read that are not in ``files``: the proxy config that
    angular.json (or ``ng serve --proxy-config``) names. The CLI reads them too."""
    found = _frontend(files)
    path = found[0].proxy_file if found else ""
    return (path,) if path and path not in files else ()


def summary(detected: Detected) -> tuple[str, list[str]]:
    """What init found, in a few words, and the notes to print under it."""
    proxy, frontend, backend = detected.proxy, detected.frontend, detected.backend
    found = [f"{frontend.name} on {frontend.port}"] if frontend else []
    if proxy and proxy.routes:
        found.append(f"{len(proxy.routes)} route(s) from {detected.proxy_file}")
    elif backend:
        found.append(f"{backend.name} on {backend.port}"
                     + (" (a guess: check the port)" if _guessed(backend) else ""))
    return (", ".join(found) or ("a build folder" if detected.static else
                                 "nothing recognisable: wrote a template"),
            [*detected.notes, *(proxy.warnings if proxy else [])])


def _frontend(files: Mapping[str, str]) -> tuple[devservers.DevServer, str] | None:
    for path, text in files.items():
        folder, _, name = path.rpartition("/")
        if name == "package.json" and (found := devservers.find(files, folder,
                                                                json_object(text))):
            return found, f"{found.tool.package} in {path}"
    for path in files:  # an Angular workspace without a package.json of its own
        folder, _, name = path.rpartition("/")
        if name == "angular.json" and (found := devservers.find(
                files, folder, {"dependencies": {"@angular/core": "*"}})):
            return found, path
    return None


def _own_proxy(files: Mapping[str, str], path: str, notes: list[str]) -> Imported | None:
    if not path:
        return None
    if path not in files:
        notes.append(f"the proxy config {path} is not there: no routes imported from it")
        return None
    try:
        return import_proxy(path, files[path])
    except NoProxy:
        return None
    except ValueError as exc:
        reason = str(exc).removeprefix(f"{path.rpartition('/')[2]}: ")
        # Cut short, it may set no proxy at all: say where reading stopped, not "found".
        notes.append(f"{path}: {reason}; no proxy imported from it"
                     if isinstance(exc, Unreadable) else
                     f"found a proxy in {path}, not imported: {reason}")
        return None


def _backend(files: Mapping[str, str]) -> Server | None:
    backend = None
    by_name: dict[str, list[str]] = {}
    for path, text in files.items():
        by_name.setdefault(path.rpartition("/")[2], []).append(text)
    for path, text in files.items():
        deps = dependencies(json_object(text)) if path.endswith("package.json") else {}
        for dep, name, port in _NODE_BACKENDS:
            if backend is None and dep in deps:
                backend = Server(name, port, f"{dep} in {path}")
    python = " ".join(text for name in ("requirements.txt", "pyproject.toml", "Pipfile")
                      for text in by_name.get(name, [])).lower()
    if "manage.py" in by_name:
        backend = Server("Django", 8000, "manage.py")
    elif re.search(r"\bfastapi\b", python):
        backend = _fastapi(files)
    elif re.search(r"\bflask\b", python):
        backend = Server("Flask", 5000, "flask in the Python dependencies")
    elif any("rails" in text for text in by_name.get("Gemfile", [])):
        backend = Server("Rails", 3000, "rails in Gemfile")
    return backend


def _fastapi(files: Mapping[str, str]) -> Server:
    why = "fastapi in the Python dependencies"
    found = uvicorn_port(files)
    if found is not None:
        return Server("FastAPI", found[0], f"{why}; {found[1]}")
    return Server("FastAPI", 8000, why, guess="8000 is uvicorn's default, a guess: change it "
                                             "to the port your app runs on (uvicorn --port, "
                                             "uvicorn.run(port=...))")


def _unreached(backend: Server, routes: list[ImportedRoute], proxy_file: str,
               frontend_port: int | None) -> str | None:
    """The note for a backend the imported routes may not reach, or None."""
    if not _guessed(backend):
        if backend.port in _ports(routes):
            return None
        return (f"{backend.name} (found: {backend.why}) gets no route: {proxy_file} sends "
                f"nothing to port {backend.port}; add a route if the browser calls it")
    # Its port is only a guess, so the proxy not naming that port says nothing: a route
    # to this machine, other than the dev server's own port, may well be the backend.
    targets = [parse_target(route.target) for route in routes]
    if any(_this_machine(t.host) and t.port != frontend_port for t in targets):
        return None
    origins = ", ".join(dict.fromkeys(t.origin for t in targets))
    return (f"{backend.name} (found: {backend.why}) listens on a port devproxy could not "
            f"read; the routes from {proxy_file} go to {origins}: if none of them is "
            f"{backend.name}, add a route to the port it listens on")


def _guessed(backend: Server) -> bool:
    """Whether ``backend.port`` is a guess rather than read from the project."""
    return bool(backend.guess) or backend.name in _NO_DEFAULT_PORT


def _this_machine(host: str) -> bool:
    """Whether a target's host is this machine: localhost, a loopback address, or the
    0.0.0.0 a dev server prints (connecting to it reaches this machine)."""
    if is_localhost(host):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _ports(routes: list[ImportedRoute]) -> set[int]:
    # Every imported target parses: the importer leaves out any that does not.
    targets = [parse_target(route.target) for route in routes]
    return {target.port for target in targets if target.scheme == "http"}


_HEADER = """\
# devproxy.yaml, written by `devproxy init`{source}.
# Run `devproxy up`, then open http://{host}:{port} instead of your dev server's URL:
# the browser sees one origin, so there is no CORS to fix. `devproxy check` validates
# this file; `devproxy schema` describes every key.
listen: {host}:{port}

routes:
"""


def render(detected: Detected) -> str:
    """A config for what ``detect`` found; placeholders (commented) where it found nothing."""
    backend, frontend, proxy = detected.backend, detected.frontend, detected.proxy
    routes = proxy.routes if proxy else []
    taken = {backend.port if backend else 3000, frontend.port if frontend else 5173}
    listen = _listen_port(taken | _ports(routes))
    # Vite's server.hmr.clientPort (webpack's client.webSocketURL) is where its HMR client
    # expects a proxy: listening there sends the socket through devproxy as the config
    # means it to.
    wanted = frontend.hmr_client_port if frontend else None
    if frontend is not None and wanted is not None and wanted not in taken | _ports(routes):
        listen = wanted
        frontend = replace(frontend, hmr="", hmr_ready=True,
                           why=f"{frontend.why}; devproxy listens on {wanted}, the port its "
                               f"{_client_setting(frontend.name)} names")
    # Next.js 16 serves its dev resources (HMR, fonts, the error overlay) only to a page
    # at localhost or at a name in next.config's allowedDevOrigins: at 127.0.0.1 the page
    # never comes alive. Listening on localhost, devproxy binds both loopback addresses
    # (``Listen.addresses``) and `up` prints http://localhost:PORT, the URL that works.
    next_js = frontend is not None and frontend.name == "Next.js"
    lines = [_HEADER.format(source="", port=listen, host="localhost" if next_js
                            else "127.0.0.1")]
    if next_js:
        lines.append(f"  # NOTE: Next.js answers its dev resources (HMR, fonts, the error "
                     f"overlay) only to a page\n  # at localhost or at a name in "
                     f"next.config's allowedDevOrigins, so devproxy listens on\n  # "
                     f"localhost and `devproxy up` prints http://localhost:{listen}. A page "
                     f"at\n  # http://127.0.0.1:{listen} needs allowedDevOrigins: "
                     f"['127.0.0.1'].\n")
    own_api = frontend.framework if frontend is not None else ""
    for note in detected.notes:
        lines.append(f"  # NOTE: {_flat(note)}\n")
    if proxy is not None:
        source = _flat(detected.proxy_file)
        lines.append(f"  # From {source}, the dev server's own proxy (what\n"
                     f"  # `devproxy init --from {source}` imports):\n")
        lines.extend(f"  # NOT IMPORTED or changed: {_flat(w)}\n" for w in proxy.warnings)
        lines.extend(_route(route) for route in routes)
    if routes:
        pass  # the project's own proxy said where its API is
    elif backend is not None:
        guessed = f";\n  # {backend.guess}" if backend.guess else \
            "" if backend.name not in _NO_DEFAULT_PORT else (
            f";\n  # {backend.name} has no default port: change {backend.port} to the one "
            f"your app's listen() uses")
        lines.append(f"  # {_flat(backend.name)} (found: {_flat(backend.why)}){guessed}\n"
                     f"  - path: /api\n    target: http://localhost:{backend.port}\n")
    elif own_api in _OWN_API:
        lines.append(f"  # {own_api} answers /api itself ({_OWN_API[own_api]}). "
                     f"For a separate backend, add its route:\n"
                     f"  # - path: /backend\n  #   target: http://localhost:8000\n")
    else:
        port = 8000 if frontend is not None and frontend.port == 3000 else 3000
        lines.append("  # Your API: change the port to the one your backend listens on.\n"
                     f"  - path: /api\n    target: http://localhost:{port}\n")
    if any(route.path == "/" for route in routes):
        lines.append("  # The proxy above takes path /, so the dev server has no route.\n")
    elif frontend is not None:
        lines.append(_frontend_route(frontend, listen))
    elif detected.static is not None:
        lines.append(f"  # The built frontend (found: {_flat(detected.static.why)}).\n"
                     f"  - path: /\n    static: {_relative(detected.static.folder)}\n"
                     f"    spa: true\n")
    else:
        lines.append("  # Your frontend dev server (Vite: 5173, Angular: 4200, webpack: 8080),\n"
                     "  # or serve a build folder instead with `static: ./dist`.\n"
                     "  - path: /\n    target: http://localhost:5173\n")
    return "".join(lines)


def _frontend_route(frontend: Server, listen: int) -> str:
    if frontend.hmr.endswith("server.hmr: false"):
        return (f"  # {frontend.name} dev server (found: {_flat(frontend.why)});\n"
                f"  # HMR is off: {_flat(frontend.hmr)}.\n"
                + _dev_server_target(frontend.port, frontend.https))
    if frontend.hmr_host is not None:
        return (f"  # {frontend.name} dev server (found: {_flat(frontend.why)}).\n"
                + _hmr_host(frontend.hmr_host, listen)
                + _dev_server_target(frontend.port, frontend.https))
    if frontend.hmr:
        fix = ("  # For that, set devServer: { client: { webSocketURL: "
               "'auto://0.0.0.0:0/ws' } }.\n" if frontend.name == "webpack" else
               "  # Without that setting it would, on devproxy's one origin.\n")
        return (f"  # {frontend.name} dev server (found: {_flat(frontend.why)}).\n"
                f"  # Its HMR WebSocket does not go through devproxy: {_flat(frontend.hmr)}.\n"
                + fix + _dev_server_target(frontend.port, frontend.https))
    lines = [f"  # {frontend.name} dev server (found: {_flat(frontend.why)});\n"
             f"  # its HMR WebSocket goes through devproxy too.\n"]
    # webpack-dev-server aims its client's socket at its own host and port when its
    # config names them (Create React App's does), past whatever proxy served the page.
    if frontend.hmr_ready:
        lines.append(f"  # (its config's {_client_setting(frontend.name)} already aims it at "
                     f"devproxy, the page's origin.)\n")
    elif frontend.name == "webpack":
        lines.append("  # For that, webpack.config needs devServer: { client: { "
                     "webSocketURL: 'auto://0.0.0.0:0/ws' } }.\n")
    elif frontend.name == "Create React App":
        lines.append("  # For that, add WDS_SOCKET_PORT=0 to the project's .env.\n")
    lines.append(_dev_server_target(frontend.port, frontend.https))
    return "".join(lines)


# Names a browser reaches devproxy's 127.0.0.1 by (for localhost, it tries ::1 first and
# then 127.0.0.1).
_LOOPBACK = ("localhost", "127.0.0.1")


def _hmr_host(host: str | Code, listen: int) -> str:
    """Comment lines for Vite's ``server.hmr.host`` with no port of its own: its client
    connects to that host at the page's port, devproxy's when the page is opened through
    it, so the host decides whether the socket reaches devproxy."""
    shown = _flat(host.source if isinstance(host, Code) else json.dumps(host))
    said = (f"  # Vite's client connects its HMR WebSocket to server.hmr.host ({shown}) at "
            f"the page's port:\n  # for a page opened through devproxy, ")
    if isinstance(host, Code):
        return said + (f"port {listen} of that host, which is devproxy only if that host is "
                       f"this machine.\n")
    name = _flat(host)
    if host in _LOOPBACK:
        return said + f"{name}:{listen}, devproxy itself: it goes through devproxy too.\n"
    return said + (f"{name}:{listen}, which is devproxy when the page is opened at "
                   f"http://{name}:{listen},\n  # and bypasses devproxy when {name} is "
                   f"another machine.\n")


def _dev_server_target(port: int, https: bool) -> str:
    if not https:
        return f"  - path: /\n    target: http://localhost:{port}\n"
    return (f"  - path: /\n    target: https://localhost:{port}\n"
            "    secure: false  # it serves HTTPS with a certificate of its own, "
            "trusted by no system\n")


def _relative(folder: str) -> str:
    return folder if folder.startswith((".", "/")) else "./" + folder


def _client_setting(tool: str) -> str:
    """The setting that names the port a dev server's HMR client connects to."""
    return "server.hmr.clientPort" if tool == "Vite" else "devServer.client.webSocketURL"


def _uses(files: Mapping[str, str], package: str) -> bool:
    """Whether a package.json among ``files`` depends on ``package``."""
    return any(package in dependencies(json_object(text)) for path, text in files.items()
               if path.rpartition("/")[2] == "package.json")


def _listen_port(taken: set[int]) -> int:
    return next((port for port in _LISTEN_PORTS if port not in taken), max(taken) + 1)


def render_imported(imported: Imported) -> str:
    taken = {imported.frontend_port} | _ports(imported.routes)
    listen = _listen_port(taken)
    wanted = imported.frontend_hmr_client_port  # where its HMR client expects a proxy
    if wanted is not None and wanted not in taken:
        listen = wanted
        imported = replace(imported, frontend_hmr=(
            f"its HMR WebSocket goes through devproxy, which listens on {wanted}, the port "
            f"its {_client_setting(imported.frontend)} names"))
    lines = [_HEADER.format(source=f" from {_flat(imported.source)}", port=listen,
                            host="127.0.0.1")]
    for warning in imported.warnings:
        lines.append(f"  # NOT IMPORTED or changed: {_flat(warning)}\n")
    for route in imported.routes:
        lines.append(_route(route))
    if not any(route.path == "/" for route in imported.routes):
        said = _flat(imported.frontend_hmr)
        hmr = f"  # {said[:1].upper()}{said[1:]}.\n" if said else ""
        if imported.frontend_hmr_host is not None:
            hmr = _hmr_host(imported.frontend_hmr_host, listen)
        lines.append(f"  # Your {imported.frontend} dev server, so the page and the API share "
                     f"one origin.\n" + hmr
                     + _dev_server_target(imported.frontend_port, imported.frontend_https))
    return "".join(lines)


def _route(route: ImportedRoute) -> str:
    # A path YAML could misread (a ':' ends a key) is written quoted.
    path = route.path if re.fullmatch(r"/[\w\-./~%]*", route.path) else _quote(route.path)
    out = [f"  - path: {path}\n    target: {_quote(route.target)}\n"]
    if route.change_origin:
        out.append("    change_origin: true\n")
    if route.strip_prefix:
        out.append("    strip_prefix: true\n")
    if not route.secure:
        out.append("    secure: false\n")
    if not route.ws:
        out.append("    ws: false\n")
    if route.ws_origin != "keep":
        out.append(f"    ws_origin: {route.ws_origin}\n")
    if route.response_timeout is not None:
        out.append(f"    timeout: {{response: {route.response_timeout:g}}}\n")
    if route.rewrite:
        out.append("    rewrite:\n")
        out.extend(f"      {_quote(p)}: {_quote(r)}\n" for p, r in route.rewrite)
    if route.headers:
        if any(name.lower() == "authorization" for name, _ in route.headers):
            out.append("    # A credential: keep this file out of version control.\n")
        out.append("    headers:\n")
        out.extend(f"      {_quote(k)}: {_quote(v)}\n" for k, v in route.headers)
    return "".join(out)


def _flat(text: str) -> str:
    """``text`` on one line, for a comment: the notes quote the project's files (a
    script, a computed port over several lines), and a line break there would end the
    comment and write the rest as config (a route to anywhere, from a package.json)."""
    return " ".join(text.splitlines())


def _quote(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid YAML scalar, escapes and all
