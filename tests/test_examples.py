"""The bundled example works as the README says: its page, its API, its login cookie."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
from pathlib import Path

import aiohttp

from devproxy.app import ProxyServer
from devproxy.config import Listen, parse_target
from devproxy.loader import load_config
from devproxy.state import Live, Snapshot

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "basic"


async def test_the_basic_example_serves_its_page_and_api_on_one_origin(
        unused_tcp_port_factory) -> None:
    api_port = unused_tcp_port_factory()
    api = await asyncio.create_subprocess_exec(sys.executable, str(EXAMPLE / "api.py"),
                                               str(api_port))
    config = load_config(EXAMPLE / "devproxy.yaml")
    routes = tuple(
        dataclasses.replace(r, target=parse_target(f"http://localhost:{api_port}"))
        if r.target is not None else r
        for r in config.routes
    )
    server = ProxyServer(Live(Snapshot.build(dataclasses.replace(
        config, listen=Listen("127.0.0.1", 0), routes=routes))))
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        # unsafe=True: keep cookies from an IP host (127.0.0.1), as browsers do.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            for _ in range(100):  # the API process needs a moment to listen
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(base + "/api/hello") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.1)
            async with session.get(base + "/") as resp:
                assert resp.status == 200
                assert "Served by devproxy" in await resp.text()
            async with session.post(base + "/api/login") as resp:
                assert resp.status == 200  # the 303 to /api/hello was followed
                assert resp.url.path == "/api/hello"
                assert (await resp.json())["message"] == "Hello, developer!"
            cookie = next(iter(session.cookie_jar))
            # Path=/ stays: the page at / shares the session with the API.
            assert (cookie.key, cookie["path"]) == ("user", "/")
    finally:
        await server.stop()
        api.terminate()
        await api.wait()
