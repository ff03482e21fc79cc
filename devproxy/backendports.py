"""Where a backend's own files say which port it runs on: uvicorn's ``--port`` in a
package.json script, or a literal ``uvicorn.run(..., port=N)`` in its code.

Pure: file texts in, a port and where it was written out. Reads what is plainly
written and nothing computed (``int(os.environ["PORT"])``): a port it cannot read is
the caller's guess to label as one, never this module's.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from .devservers import json_object
from .importers import literal_port
from .npmscripts import find_program


def uvicorn_port(files: Mapping[str, str]) -> tuple[int, str] | None:
    """The port a FastAPI app's uvicorn is given in ``files`` (path -> text), and where
    it was written; None if no file says it plainly. A script that runs uvicorn decides
    alone: it is what ``npm run`` starts, and uvicorn's command line never runs the
    module's ``if __name__ == "__main__"`` block, so a uvicorn.run(port=) there plays no
    part (without --port or UVICORN_PORT, uvicorn's 8000)."""
    for path, text in files.items():
        launch = find_program(_scripts(text), "uvicorn") \
            if path.rpartition("/")[2] == "package.json" else None
        if launch is None:
            continue
        where = f'the "{launch.script}" script of {path}'
        flag = _port_flag(launch.args)
        if flag is not None:  # a literal port, or one computed: only a guess
            return (flag, f"port from --port {flag} in {where}") if flag else None
        env = launch.env.get("UVICORN_PORT")
        if env is not None:
            port = literal_port(int(env)) if env.isascii() and env.isdigit() else None
            return (port, f"port from UVICORN_PORT={port} in {where}") if port else None
        return 8000, f"uvicorn's default port: {where} gives it no --port"
    for path, text in files.items():
        if path.endswith(".py") and (port := _run_port(text)):
            return port, f"port from uvicorn.run(port={port}) in {path}"
    return None


def _scripts(package_json: str) -> dict[str, object]:
    scripts = json_object(package_json).get("scripts")
    return scripts if isinstance(scripts, dict) else {}


def _port_flag(args: tuple[str, ...]) -> int | None:
    """The port uvicorn's ``--port`` gives (--port 8000 or --port=8000; the last one
    wins), 0 if it gives one not written plainly ($PORT), None if there is no --port."""
    found = None
    for i, arg in enumerate(args):
        value = args[i + 1] if arg == "--port" and i + 1 < len(args) else \
            arg.removeprefix("--port=") if arg.startswith("--port=") else None
        if value is not None:
            found = (literal_port(int(value)) if value.isascii() and value.isdigit()
                     else None) or 0
    return found


def _run_port(source: str) -> int | None:
    """The port a literal ``uvicorn.run(..., port=8123)`` passes; None when there is none,
    or it is computed, and so only a guess."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "run" and isinstance(node.func.value, ast.Name) \
                and node.func.value.id == "uvicorn":
            port = next((k.value for k in node.keywords if k.arg == "port"), None)
            return literal_port(port.value) if isinstance(port, ast.Constant) else None
    return None
