"""``devproxy init``: guess a project's frontend and backend, write a commented config.

Pure: ``detect`` reads a ``Project`` (file names and the few texts it looks at), and
``render`` turns what was found, or imported (``importers``), into devproxy.yaml text.
The CLI reads the folder and writes the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from . import devservers
from .config import parse_target
from .devservers import dependencies, json_object
from .importers import Imported, ImportedRoute

# Default ports, as each tool documents them; the frontends are in ``devservers``.
_NODE_BACKENDS = (("express", "Express", 3000), ("fastify", "Fastify", 3000),
                  ("@nestjs/core", "NestJS", 3000), ("koa", "Koa", 3000))
# Frameworks that answer /api themselves: a route there would take it away.
_OWN_API = {"Next.js": "app/api", "Nuxt": "server/api"}


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    port: int
    why: str  # what gave it away, for the comment


@dataclass(frozen=True, slots=True)
class Detected:
    frontend: Server | None
    backend: Server | None
    notes: tuple[str, ...] = ()
    static: Static | None = None  # a build folder, when no dev server was found


# Where projects keep their halves; ``detect`` looks in these folders too.
SUBFOLDERS = ("", "frontend", "client", "web", "ui", "backend", "server", "api")
PROJECT_FILES = ("package.json", "angular.json", "manage.py", "requirements.txt",
                 "pyproject.toml", "Pipfile", "Gemfile",
                 # Every name Vite looks for, in its order; then webpack's, Astro's, Nuxt's.
                 *(f"vite.config.{ext}" for ext in ("js", "mjs", "ts", "cjs", "mts", "cts")),
                 "webpack.config.js", "webpack.config.cjs", "webpack.config.mjs",
                 "webpack.config.ts",
                 *(f"astro.config.{ext}" for ext in ("mjs", "js", "ts", "mts", "cjs", "cts")),
                 "nuxt.config.ts", "nuxt.config.js", "nuxt.config.mjs",
                 # Create React App's, for PORT; and its own proxy, which init names.
                 ".env.development.local", ".env.local", ".env.development", ".env",
                 "src/setupProxy.js")
# devproxy's port: the usual one, unless the project's servers use it (webpack's default).
_LISTEN_PORTS = (8080, 8081, 8082, 8090)
BUILD_FOLDERS = ("dist", "build", "public")  # a built site, if no dev server is found


@dataclass(frozen=True, slots=True)
class Static:
    folder: str  # relative, as written in the config
    why: str


def detect(files: Mapping[str, str], folders: tuple[str, ...] = ()) -> Detected:
    """Guess from ``files`` (relative path -> text, for the files present that matter)
    and ``folders`` (relative build folders that hold an index.html)."""
    frontend = backend = None
    notes: list[str] = []
    by_name: dict[str, list[tuple[str, str]]] = {}
    for path, text in files.items():
        folder, _, name = path.rpartition("/")
        by_name.setdefault(name, []).append((folder, text))
    for folder, text in by_name.get("package.json", []):
        package = json_object(text)
        where = f"{folder}/package.json" if folder else "package.json"
        if frontend is None and (found := devservers.find(files, folder, package)):
            frontend = _server(found, f"{found.tool.package} in {where}")
            notes.extend(found.notes)
        deps = dependencies(package)
        for dep, name, port in _NODE_BACKENDS:
            if backend is None and dep in deps:
                backend = Server(name, port, f"{dep} in {where}")
    for folder, _ in by_name.get("angular.json", []):
        if frontend is None and (found := devservers.find(
                files, folder, {"dependencies": {"@angular/core": "*"}})):
            frontend = _server(found, f"{folder}/angular.json" if folder else "angular.json")
            notes.extend(found.notes)
    python = " ".join(text for name in ("requirements.txt", "pyproject.toml", "Pipfile")
                      for _, text in by_name.get(name, [])).lower()
    if "manage.py" in by_name:
        backend = Server("Django", 8000, "manage.py")
    elif re.search(r"\bfastapi\b", python):
        backend = Server("FastAPI", 8000, "fastapi in the Python dependencies")
    elif re.search(r"\bflask\b", python):
        backend = Server("Flask", 5000, "flask in the Python dependencies")
    elif any("rails" in text for _, text in by_name.get("Gemfile", [])):
        backend = Server("Rails", 3000, "rails in Gemfile")
    if frontend and backend and frontend.port == backend.port:
        notes.append(f"{frontend.name} and {backend.name} both use port "
                     f"{frontend.port}: start one of them on another port and change its "
                     f"target below")
    static = None
    if frontend is None and folders:
        static = Static(folders[0], f"{folders[0]}/index.html")
    return Detected(frontend, backend, tuple(notes), static)


def _server(found: devservers.DevServer, why: str) -> Server:
    return Server(found.tool.name, found.port,
                  f"{why}; port from {found.source}" if found.source else why)


_HEADER = """\
# devproxy.yaml, written by `devproxy init`{source}.
# Run `devproxy up`, then open http://127.0.0.1:{port} instead of your dev server's URL:
# the browser sees one origin, so there is no CORS to fix. `devproxy check` validates
# this file; every key is described in devproxy.yaml.example and the README.
listen: 127.0.0.1:{port}

routes:
"""


def render(detected: Detected) -> str:
    """A config for what ``detect`` found; placeholders (commented) where it found nothing."""
    backend, frontend = detected.backend, detected.frontend
    taken = {backend.port if backend else 3000, frontend.port if frontend else 5173}
    lines = [_HEADER.format(source="", port=_listen_port(taken))]
    for note in detected.notes:
        lines.append(f"  # NOTE: {note}\n")
    if backend is not None:
        lines.append(f"  # {backend.name} (found: {backend.why})\n"
                     f"  - path: /api\n    target: http://localhost:{backend.port}\n")
    elif frontend is not None and frontend.name in _OWN_API:
        lines.append(f"  # {frontend.name} answers /api itself ({_OWN_API[frontend.name]}). "
                     f"For a separate backend, add its route:\n"
                     f"  # - path: /backend\n  #   target: http://localhost:8000\n")
    else:
        port = 8000 if frontend is not None and frontend.port == 3000 else 3000
        lines.append("  # Your API: change the port to the one your backend listens on.\n"
                     f"  - path: /api\n    target: http://localhost:{port}\n")
    if frontend is not None:
        lines.append(f"  # {frontend.name} dev server (found: {frontend.why});\n"
                     f"  # its HMR WebSocket goes through devproxy too.\n")
        # webpack-dev-server aims its client's socket at its own host and port when its
        # config names them (Create React App's does), past whatever proxy served the page.
        if frontend.name == "webpack":
            lines.append("  # For that, webpack.config needs devServer: { client: { "
                         "webSocketURL: 'auto://0.0.0.0:0/ws' } }.\n")
        elif frontend.name == "Create React App":
            lines.append("  # For that, add WDS_SOCKET_PORT=0 to the project's .env.\n")
        lines.append(f"  - path: /\n    target: http://localhost:{frontend.port}\n")
    elif detected.static is not None:
        lines.append(f"  # The built frontend (found: {detected.static.why}).\n"
                     f"  - path: /\n    static: {_relative(detected.static.folder)}\n"
                     f"    spa: true\n")
    else:
        lines.append("  # Your frontend dev server (Vite: 5173, Angular: 4200, webpack: 8080),\n"
                     "  # or serve a build folder instead with `static: ./dist`.\n"
                     "  - path: /\n    target: http://localhost:5173\n")
    return "".join(lines)


def _relative(folder: str) -> str:
    return folder if folder.startswith((".", "/")) else "./" + folder


def _listen_port(taken: set[int]) -> int:
    return next((port for port in _LISTEN_PORTS if port not in taken), max(taken) + 1)


def render_imported(imported: Imported) -> str:
    # Every imported target parses: the importer leaves out any that does not.
    targets = [parse_target(route.target) for route in imported.routes]
    taken = {imported.frontend_port} | {t.port for t in targets if t.scheme == "http"}
    lines = [_HEADER.format(source=f" from {imported.source}", port=_listen_port(taken))]
    for warning in imported.warnings:
        lines.append(f"  # NOT IMPORTED or changed: {warning}\n")
    for route in imported.routes:
        lines.append(_route(route))
    if not any(route.path == "/" for route in imported.routes):
        lines.append(f"  # Your {imported.frontend} dev server, so the page and the API share "
                     f"one origin.\n"
                     f"  - path: /\n    target: http://localhost:{imported.frontend_port}\n")
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
    if route.response_timeout is not None:
        out.append(f"    timeout: {{response: {route.response_timeout:g}}}\n")
    if route.rewrite:
        out.append("    rewrite:\n")
        out.extend(f"      {_quote(p)}: {_quote(r)}\n" for p, r in route.rewrite)
    if route.headers:
        out.append("    headers:\n")
        out.extend(f"      {_quote(k)}: {_quote(v)}\n" for k, v in route.headers)
    return "".join(out)


def _quote(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid YAML scalar, escapes and all
