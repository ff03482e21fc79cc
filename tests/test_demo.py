"""devproxy.demo without a browser: the address it gives is one a browser can open."""

from __future__ import annotations

import aiohttp
import pytest

from devproxy.demo import Demo


@pytest.mark.parametrize(("host", "shown"), [("::1", "[::1]"), ("127.0.0.1", "127.0.0.1")],
                         ids=["ipv6", "ipv4"])
async def test_the_demo_page_is_served_at_the_address_it_prints(host: str, shown: str) -> None:
    # On ::1 it built http://::1:PORT, refused as an origin: a traceback, no demo.
    demo = Demo(host, 0)
    urls = await demo.start()
    try:
        assert urls.page.startswith(f"http://{shown}:")
        async with aiohttp.ClientSession() as client, client.get(urls.page) as resp:
            assert resp.status == 200
            assert "<title>" in await resp.text()
    finally:
        await demo.stop()
