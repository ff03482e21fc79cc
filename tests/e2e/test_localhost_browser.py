"""A browser at http://localhost:PORT, the URL devproxy prints for ``listen: localhost``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from playwright.async_api import Browser

from devproxy.app import ProxyServer, has_ipv6_loopback
from devproxy.config import Config, Listen
from devproxy.state import Live, Snapshot

from ..conftest import route
from .conftest import free_port


@pytest.fixture
async def at_localhost(backend_factory) -> AsyncIterator[int]:
    """devproxy on localhost:PORT in front of a backend that answers with the address
    devproxy saw the browser come from (X-Forwarded-For); the port."""
    async def whence(request: web.Request) -> web.Response:
        return web.Response(text=f"from {request.headers['X-Forwarded-For']}",
                            content_type="text/html")

    backend = await backend_factory(whence)
    port = free_port()
    config = Config(listen=Listen("localhost", port), routes=(route("/", backend.url),))
    server = ProxyServer(Live(Snapshot.build(config)), shutdown_timeout=1)
    await server.start()
    try:
        yield port
    finally:
        await server.stop()


async def test_a_browser_at_localhost_reaches_devproxy_over_ipv6_loopback_first(
        browser: Browser, at_localhost: int) -> None:
    # Chromium resolves localhost itself, ::1 first, whatever /etc/hosts says; devproxy
    # listening on localhost binds both loopback addresses, so that first try is
    # devproxy (not a refusal, nor another server on [::1]:PORT). What `devproxy init`
    # writes for Next.js, whose dev server serves its HMR socket only to localhost pages.
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    page = await (await browser.new_context()).new_page()
    await page.goto(f"http://localhost:{at_localhost}/")
    assert await page.inner_text("body") == "from ::1"
