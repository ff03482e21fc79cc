"""Each recipe in examples/ run for real: its backend, a real Vite, devproxy with the
recipe's own devproxy.yaml (ports swapped for free ones), and Chromium using the page.

Node packages come from tests/e2e/vite-app (installed by .ci/install-e2e.sh), linked
into a copy of the recipe, so CI installs them once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import trustme
from aiohttp import web
from playwright.async_api import Browser

from ..conftest import stop_child
from .conftest import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "tests" / "e2e" / "vite-app" / "node_modules"
VITE = NODE_MODULES / "vite" / "bin" / "vite.js"

@dataclass
class Proc:
    process: asyncio.subprocess.Process
    log: Path


Start = Callable[..., Awaitable[Proc]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """Start a process (logging to a file), wait until ``port`` accepts connections."""
    processes: list[tuple[asyncio.subprocess.Process, Path]] = []

    async def run(*args: str, cwd: Path, port: int | None = None,
                  env: dict[str, str] | None = None) -> Proc:
        log = tmp_path / f"process-{len(processes)}.log"
        with _open(log) as out:  # the child keeps its own descriptor
            process = await asyncio.create_subprocess_exec(
                *args, cwd=cwd, env={**os.environ, **(env or {})},
                stdout=out, stderr=asyncio.subprocess.STDOUT)
        processes.append((process, log))
        if port is not None:
            await _wait_for_port(port, process, log)
        return Proc(process, log)

    yield run
    for process, _ in processes:
        await stop_child(process, 10)


async def _wait_for_port(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    for _ in range(300):  # 30 s
        if process.returncode is not None:
            pytest.fail(f"exited with {process.returncode}:\n{_tail(log)}")
        for host in ("127.0.0.1", "::1"):
            try:
                _, writer = await asyncio.open_connection(host, port)
            except OSError:
                continue
            writer.close()
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"nothing listening on port {port}:\n{_tail(log)}")


def _open(log: Path) -> BinaryIO:
    return log.open("wb")


def _tail(log: Path, size: int = 2000) -> str:
    return log.read_text(errors="replace")[-size:]


def copy_recipe(name: str, tmp_path: Path, ports: dict[str, int]) -> Path:
    """A copy of examples/NAME with node_modules linked and its config's ports swapped."""
    if not VITE.exists():
        pytest.fail("tests/e2e/vite-app/node_modules is missing: run .ci/install-e2e.sh")
    folder = tmp_path / name
    shutil.copytree(ROOT / "examples" / name, folder,
                    ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
    for part in ("frontend", "backend"):
        if (folder / part / "package.json").exists():
            (folder / part / "node_modules").symlink_to(NODE_MODULES)
    config = folder / "devproxy.yaml"
    text = config.read_text().replace("listen: 127.0.0.1:8080", "listen: 127.0.0.1:0")
    for old, new in ports.items():
        assert old in text, f"{name}/devproxy.yaml no longer mentions {old}"
        text = text.replace(old, new)
    config.write_text(text)
    return folder


async def devproxy(start: Start, folder: Path, env: dict[str, str] | None = None) -> str:
    """Start ``devproxy up`` on the recipe's config; the URL from its start-up line."""
    proc = await start(sys.executable, "-m", "devproxy", "up", "-c",
                       str(folder / "devproxy.yaml"), "--no-reload", cwd=folder, env=env)
    for _ in range(150):
        for line in _tail(proc.log, 10_000).splitlines():
            if "open http://" in line:
                return line.split("open ", 1)[1].strip()
        if proc.process.returncode is not None:
            break
        await asyncio.sleep(0.1)
    pytest.fail(f"devproxy did not start:\n{_tail(proc.log, 10_000)}")


async def test_vite_fastapi(browser: Browser, start: Start, tmp_path: Path) -> None:
    api = free_port()
    front = free_port()
    folder = copy_recipe("vite-fastapi", tmp_path, {
        "localhost:8000": f"localhost:{api}", "localhost:5173": f"localhost:{front}"})
    await start(sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1",
                "--port", str(api), cwd=folder / "backend", port=api)
    await start("node", str(VITE), "--port", str(front), "--strictPort",
                cwd=folder / "frontend", port=front)
    url = await devproxy(start, folder)
    page = await browser.new_page()
    await page.goto(url)
    await page.wait_for_selector("body[data-state=loaded]")
    assert await page.inner_text("#items") == "first item"
    await page.fill("input[name=name]", "second item")
    await page.click("button")
    await page.wait_for_function("document.querySelectorAll('#items li').length === 2")


async def test_vite_express_with_a_cookie(browser: Browser, start: Start,
                                          tmp_path: Path) -> None:
    api = free_port()
    front = free_port()
    folder = copy_recipe("vite-express", tmp_path, {
        "localhost:3000": f"localhost:{api}", "localhost:5173": f"localhost:{front}"})
    await start("node", "server.js", cwd=folder / "backend", port=api, env={"PORT": str(api)})
    await start("node", str(VITE), "--port", str(front), "--strictPort",
                cwd=folder / "frontend", port=front)
    url = await devproxy(start, folder)
    page = await browser.new_page()
    await page.goto(url)
    await page.wait_for_selector("body[data-visits='1']")
    assert await page.inner_text("#message") == "Hello from Express"
    await page.click("#again")
    await page.wait_for_selector("body[data-visits='2']")  # the cookie came back


async def test_react_django_session_login(browser: Browser, start: Start,
                                          tmp_path: Path) -> None:
    api = free_port()
    front = free_port()
    folder = copy_recipe("react-django", tmp_path, {
        "localhost:8000": f"localhost:{api}", "localhost:5173": f"localhost:{front}"})
    await start(sys.executable, "manage.py", "runserver", f"127.0.0.1:{api}", "--noreload",
                cwd=folder / "backend", port=api)
    await start("node", str(VITE), "--port", str(front), "--strictPort",
                cwd=folder / "frontend", port=front)
    url = await devproxy(start, folder)
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_selector("form[data-user='']")
    await page.fill("input[name=username]", "ada")
    await page.fill("input[name=password]", "wrong")
    await page.click("button")
    await page.wait_for_selector("[role=alert]")
    await page.fill("input[name=password]", "lovelace")
    await page.click("button")
    await page.wait_for_selector("main[data-user=ada]")
    await page.reload()  # the session cookie keeps us signed in
    await page.wait_for_selector("main[data-user=ada]")
    cookies = {c["name"] for c in await context.cookies()}
    assert {"sessionid", "csrftoken"} <= cookies


async def test_static_build_with_a_remote_https_api(browser: Browser, start: Start,
                                                    tmp_path: Path, aiohttp_server: Any,
                                                    ) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    hosts: list[str] = []

    async def todo(request: web.Request) -> web.Response:
        hosts.append(request.host)
        if request.host != f"localhost:{request.url.port}":  # a virtual-hosted API
            return web.Response(status=421, text="misdirected request")
        return web.json_response({"id": 1, "title": "delectus aut autem"})

    app = web.Application()
    app.router.add_get("/todos/1", todo)
    remote = await aiohttp_server(app, ssl=server_context)
    folder = copy_recipe("static-remote-api", tmp_path, {
        "https://jsonplaceholder.typicode.com": f"https://localhost:{remote.port}"})
    url = await devproxy(start, folder, env={"SSL_CERT_FILE": str(ca_file)})
    page = await browser.new_page()
    await page.goto(url + "/some/client/route")  # spa: index.html
    await page.wait_for_selector("body[data-state=loaded]")
    assert await page.inner_text("#title") == "delectus aut autem"
    assert hosts == [f"localhost:{remote.port}"]
