"""End-to-end fixtures: Debian's Chromium driven by Playwright, and a real Vite dev server.

Chromium is never downloaded: it is /usr/bin/chromium (``.ci/install-e2e.sh`` installs
it), started with the flags that keep it off the network. Everything listens on
127.0.0.1 ephemeral ports; every process started here is ended here, by PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, async_playwright

from ..conftest import stop_child

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VITE_APP = Path(__file__).parent / "vite-app"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _require(path: Path, what: str) -> None:
    if not path.exists():
        pytest.fail(f"{what} is missing: run .ci/install-e2e.sh")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    _require(Path(CHROMIUM), CHROMIUM)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class ViteServer:
    url: str
    port: int
    root: Path
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def _copy_app(tmp_path: Path) -> Path:
    modules = VITE_APP / "node_modules"
    _require(modules, "tests/e2e/vite-app/node_modules")
    root = tmp_path / "app"
    shutil.copytree(VITE_APP, root, ignore=shutil.ignore_patterns("node_modules"))
    (root / "node_modules").symlink_to(modules)
    return root


@pytest.fixture
async def vite_server(tmp_path: Path) -> AsyncIterator[ViteServer]:
    """The real Vite dev server on a copy of tests/e2e/vite-app (tests edit the copy)."""
    root = _copy_app(tmp_path)
    port = free_port()
    log = tmp_path / "vite.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            "node", "node_modules/vite/bin/vite.js", "--host", "127.0.0.1", "--port",
            str(port), "--strictPort", "--clearScreen", "false",
            cwd=root, stdout=out, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
    server = ViteServer(f"http://127.0.0.1:{port}", port, root, log)
    try:
        await _wait_until_serving(server, process)
        yield server
    finally:
        await stop_child(process, 5)


async def _wait_until_serving(server: ViteServer, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):  # 30 s at most
            if process.returncode is not None:
                pytest.fail(f"vite exited with {process.returncode}:\n{server.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(server.url + "/") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    pytest.fail(f"vite did not answer within 30 s:\n{server.log_tail()}")
