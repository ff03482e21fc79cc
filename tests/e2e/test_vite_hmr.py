"""A real Vite app behind devproxy, in a real Chromium: HMR updates the page in place."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from ..conftest import route


async def test_vite_hmr_update_reaches_the_page_through_devproxy(
        browser, vite_server, backend_factory, proxy_factory):
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello from the API")

    api = await backend_factory(hello)
    proxy = await proxy_factory(route("/api", api.url, strip_prefix=True),
                                route("/", vite_server.url))
    page = await (await browser.new_context()).new_page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))

    await page.goto(proxy.url + "/")
    await page.wait_for_selector("#msg:text('original message')", timeout=15_000)
    await page.wait_for_selector("#api:text('api: hello from the API')", timeout=15_000)
    await page.evaluate("window.__marker = 'still the same page'")
    await _wait_for(lambda: any("token=" in url for url in sockets), "the HMR socket to open")

    message = vite_server.root / "src" / "message.js"
    message.write_text('export const text = "updated through devproxy";\n')
    try:
        await page.wait_for_selector("#msg:text('updated through devproxy')", timeout=15_000)
    except Exception as exc:
        raise AssertionError(f"no HMR update; sockets={sockets}\n{vite_server.log_tail()}") \
            from exc
    assert await page.evaluate("window.__marker") == "still the same page"  # not reloaded
    # Vite falls back to its own port if the proxied socket fails: the update must have
    # come through devproxy, with the token query intact, and never directly.
    hmr = [url for url in sockets if "token=" in url]
    assert hmr and all(re.match(rf"ws://127\.0\.0\.1:{proxy.port}/\?token=", u) for u in hmr), \
        sockets
    assert not any(f":{vite_server.port}" in url for url in sockets), sockets


async def _wait_for(condition, what: str, seconds: float = 15) -> None:
    for _ in range(int(seconds * 10)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
