"""devproxy's own error pages in a real Chromium."""

from __future__ import annotations

from aiohttp import web

from ..conftest import route
from .conftest import free_port


async def test_a_page_left_on_a_refused_backend_comes_back_with_it(browser, proxy_factory):
    # A dev server restarting: Vite 5's client reloads the page as soon as its ping gets
    # any answer, devproxy's 502 included, and the tab then stayed on the 502 page.
    port = free_port()
    proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
    page = await (await browser.new_context()).new_page()
    await page.goto(proxy.url + "/app")
    await page.wait_for_selector("text=Backend not reachable", timeout=15_000)
    assert "reloads itself" in await page.inner_text("body")

    async def app_page(request: web.Request) -> web.Response:
        return web.Response(text="<h1 id=back>the app</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/app", app_page)  # and HEAD
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await page.wait_for_selector("#back", timeout=15_000)
    finally:
        await runner.cleanup()
