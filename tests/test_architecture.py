"""The pure core stays pure: no event loop, no aiohttp, no CLI in decision modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import devproxy

PACKAGE = Path(devproxy.__file__).parent
PURE = ["errors", "config", "router", "paths", "headers", "cors", "corsadvice", "wsrules", "diff",
        "capture", "curlcmd", "har", "jsonindent",
        "screen", "schema", "jsliteral", "jsconfig", "importers", "npmscripts", "devservers",
        "scaffold", "backendports", "proxyorder",
        "h1", "wsframes",
        "export"]
FORBIDDEN = ("aiohttp", "asyncio", "click", "watchfiles")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", [m for m in PURE if (PACKAGE / f"{m}.py").exists()])
def test_pure_module_imports_no_io_framework(module: str) -> None:
    found = {
        name for name in imported_modules(PACKAGE / f"{module}.py")
        if name.split(".")[0] in FORBIDDEN
    }
    assert not found, f"devproxy/{module}.py imports {sorted(found)}"


def test_only_the_cli_ends_the_process() -> None:
    offenders = []
    for path in PACKAGE.glob("*.py"):
        if path.name in ("cli.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id == "SystemExit":
                    offenders.append(path.name)
            if isinstance(node, ast.Attribute) and node.attr == "exit" and \
                    isinstance(node.value, ast.Name) and node.value.id == "sys":
                offenders.append(path.name)
    assert not offenders
