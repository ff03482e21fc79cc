"""The inspector page in a real Chromium: live list, detail, diff, CORS verdict, curl, HAR."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict
from playwright.async_api import Browser, Locator, Page
from yarl import URL

from devproxy.app import ProxyServer
from devproxy.config import Config, CorsPolicy, Inspector, Listen
from devproxy.loader import load_config
from devproxy.state import Live, Snapshot

from ..conftest import endless, route, slow_at
from .conftest import free_port

pytestmark = pytest.mark.e2e
FRONT = "http://localhost:5173"
SCREENSHOT = os.environ.get("DEVPROXY_SCREENSHOT")  # set to refresh the README's picture


async def open_inspector(browser: Browser, base: str, **page_options: Any) -> Page:
    """A new page on the inspector at ``base``, once its first list has come."""
    page = await browser.new_page(**page_options)
    await page.goto(base + "/__devproxy/")
    await page.wait_for_selector("body[data-ready=true]")
    return page


async def start_devproxy(backend_url: str, port: int = 0) -> ProxyServer:
    """devproxy in this process with one route, /api, on ``port``: for tests that stop
    it and start it again on the same port, as a developer restarting it would."""
    config = Config(listen=Listen("127.0.0.1", port), routes=(route("/api", backend_url),))
    server = ProxyServer(Live(Snapshot.build(config)), shutdown_timeout=1)
    await server.start()
    return server


async def start_watching(path: Path) -> ProxyServer:
    """devproxy in this process on the config at ``path``, watched as ``devproxy up``
    watches its file: for tests that edit it while the page is open."""
    server = ProxyServer(Live(Snapshot.build(load_config(path))), shutdown_timeout=1,
                         watch=path)
    await server.start()
    return server


async def response_body_shown(page: Page, path: str) -> Locator:
    """Fetch ``path`` from the inspector's own page, open its row, and the response body
    as the detail shows it, once it is there."""
    assert await page.evaluate(f"async () => (await fetch('{path}')).status") == 200
    await page.locator("#list tbody tr", has_text=path).click()
    shown = page.locator('pre[data-place="Response body"]')
    await shown.wait_for()
    return shown


async def test_inspector_shows_traffic_live_and_explains_it(
        browser: Browser, backend_factory: Any, proxy_factory: Any, tmp_path: Path) -> None:
    async def api(request: web.Request) -> web.Response:
        await request.read()
        if request.path.endswith("/login"):
            return web.json_response({"user": "ada"}, headers=CIMultiDict([
                ("Set-Cookie", "sid=abc; Path=/; HttpOnly; SameSite=None"),
                ("Set-Cookie", "theme=dark; Path=/"),
                ("Set-Cookie", "pref=1; Domain=127.0.0.1; Path=/")]))  # Domain rewritten
        return web.json_response({"items": [1, 2, 3]}, headers={"X-Total-Count": "3"})

    backend = await backend_factory(api)
    policy = CorsPolicy(origins=(FRONT,), credentials=True)
    proxy = await proxy_factory(
        route("/api", backend.url, change_origin=True),
        route("/public", backend.url, cors=policy))
    page = await open_inspector(browser, proxy.url, viewport={"width": 1440, "height": 900})

    async with aiohttp.ClientSession() as client:  # traffic after the page is open
        async with client.get(proxy.url + "/api/items?page=2") as resp:
            assert resp.status == 200
        async with client.post(proxy.url + "/api/login", json={"user": "ada"}) as resp:
            assert resp.status == 200
        async with client.options(proxy.url + "/public/x", headers={
                "Origin": "http://evil.test", "Access-Control-Request-Method": "PUT"}) as resp:
            assert resp.status == 403

    # Live: the three rows arrive without a reload, newest first.
    rows = page.locator("#list tbody tr")
    await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 3")
    assert "OPTIONS" in await rows.nth(0).inner_text()
    assert "preflight" in await rows.nth(0).inner_text()
    # The refused preflight is marked blocked in the list, not shown as an answer: beside
    # "preflight", "blocked" says it, leaving a short path room to be read.
    assert await rows.nth(0).locator(".badge.cors.blocked").text_content() == "blocked"
    assert await rows.nth(0).locator(".target").evaluate(
        "t => t.scrollWidth <= t.clientWidth")  # "/public/x" whole, not cut short
    assert "blocked" in (await rows.nth(0).locator(".status").get_attribute("class") or "")
    assert "CORS blocked" not in await rows.nth(1).inner_text()

    # Detail: the upstream diff marks what devproxy changed.
    await page.locator("#list tbody tr", has_text="/api/items?page=2").click()
    await page.wait_for_selector("#request-diff")
    diff = await page.inner_text("#request-diff")
    assert "x-forwarded-for" in diff.lower() and "ADDED" in diff.upper()
    assert f"127.0.0.1:{backend.port}" in diff  # Host rewritten by change_origin
    assert backend.url + "/api/items?page=2" == await page.inner_text("#upstream-url")
    curl_upstream = await page.inner_text("#curl-upstream")
    assert curl_upstream.startswith(f"curl -g -i '{backend.url}/api/items?page=2'")

    # The cookie verdict for the login response.
    await page.locator("#list tbody tr", has_text="/api/login").click()
    await page.wait_for_selector("#cookies")
    # Each verdict leads with a badge to scan by; the heading counts them.
    dropped = page.locator("#cookies .cookie.dropped")
    assert await dropped.count() == 1
    assert "SameSite=None requires Secure" in await dropped.inner_text()
    assert await dropped.locator("strong").text_content() == "sid"
    assert await dropped.locator(".badge").text_content() == "dropped"
    stored = page.locator("#cookies .cookie.stored")
    assert await stored.locator("strong").all_text_contents() == ["theme", "pref"]
    assert await page.locator("h3", has_text="Cookies set").text_content() \
        == "Cookies set · 1 dropped · 2 stored"
    # Of the three Set-Cookie rows the browser got, only the rewritten one is marked.
    changed = page.locator("#response-diff tr.changed")
    assert await changed.count() == 1
    assert (await changed.inner_text()).startswith("Set-Cookie\tpref=1; Path=/")
    # and the value it replaced is shown on its row, not as a field removed.
    assert await changed.locator(".was").inner_text() == \
        "was pref=1; Domain=127.0.0.1; Path=/"
    assert await page.locator("#response-diff tr.removed").count() == 0

    # The CORS verdict for the refused preflight, in the browser's words.
    await page.locator("#list tbody tr", has_text="OPTIONS").click()
    await page.wait_for_selector("#cors-verdict")
    verdict = await page.inner_text("#cors-verdict")
    assert "Blocked for http://evil.test" in verdict
    assert "doesn't pass access control check" in verdict
    curl_browser = await page.inner_text("#curl-browser")
    assert "-X OPTIONS" in curl_browser and "Origin: http://evil.test" in curl_browser

    # Filters narrow the list.
    await page.select_option("#filter-method", "POST")
    await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 1")
    await page.select_option("#filter-method", "")

    # HAR export downloads valid HAR 1.2.
    async with page.expect_download() as download_info:
        await page.click("#export-har")
    download = await download_info.value
    saved = tmp_path / "export.har"
    await download.save_as(saved)
    log = json.loads(saved.read_text())["log"]
    assert log["version"] == "1.2" and len(log["entries"]) == 3

    await page.locator("#list tbody tr", has_text="/api/items?page=2").click()
    await page.wait_for_selector("#request-diff")
    await page.screenshot(path=SCREENSHOT or str(tmp_path / "inspector.png"))


async def test_the_list_keeps_what_devproxy_keeps_newest_first_and_opens_from_the_keyboard(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url), inspector=Inspector(history=3))
    async with aiohttp.ClientSession() as client:  # two before the page opens
        for n in (1, 2):
            async with client.get(f"{proxy.url}/api/{n}") as resp:
                assert resp.status == 200
        page = await open_inspector(browser, proxy.url)
        for n in (3, 4, 5):  # the ring keeps 3: /api/1 and /api/2 are forgotten
            async with client.get(f"{proxy.url}/api/{n}") as resp:
                assert resp.status == 200
    await page.wait_for_function(
        "document.querySelector('#list tbody tr')?.innerText.includes('/api/5')")
    rows = page.locator("#list tbody tr td.path")
    assert [text.split()[0] for text in await rows.all_inner_texts()] == [
        "/api/5", "/api/4", "/api/3"]
    # Tab to a row: a request arriving remakes the list, and the focus stays on the row.
    await page.locator("#list tbody tr").nth(1).focus()
    async with aiohttp.ClientSession() as client, client.get(f"{proxy.url}/api/6") as resp:
        assert resp.status == 200
    await page.wait_for_function(
        "document.querySelector('#list tbody tr')?.innerText.includes('/api/6')")
    assert await page.evaluate("document.activeElement.dataset.id") == \
        await page.locator("#list tbody tr", has_text="/api/4").get_attribute("data-id")
    # Enter opens it.
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#detail h2")
    assert await page.inner_text("#detail h2") == "GET /api/4"
    # Two more and it has left the ring: still shown, said to be gone, not replayable.
    async with aiohttp.ClientSession() as client:
        for n in (7, 8):
            async with client.get(f"{proxy.url}/api/{n}") as resp:
                assert resp.status == 200
    await page.wait_for_selector("#gone")
    assert await page.inner_text("#gone") == \
        "No longer kept (devproxy keeps the last 3 requests): shown as it was."
    assert await page.inner_text("#detail h2") == "GET /api/4"
    assert await page.locator("#replay").count() == 0


async def test_a_unicode_path_is_shown_and_found_as_text(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # Sent as UTF-8 escapes, as browsers send them. An escape of ASCII stays one: shown
    # decoded, %2e%2e and %25 read as the .. and % that devproxy refuses or reads apart.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    page = await open_inspector(browser, proxy.url)
    async with aiohttp.ClientSession() as client:
        for target in ("/api/caf%C3%A9/%E6%97%A5?q=a%2Fb", "/api/bad%FF%C3%A9%A9",
                       "/api/%252e%252e/100%25%5C", "/api/users%E2%80%8B%E2%80%AE%C2%A0%EF%BC%8F",
                       "/api/cafe%CC%81/%E2%84%AAelvin", "/api/plain"):
            async with client.get(URL(proxy.url + target, encoded=True)) as resp:
                assert resp.status == 200
    await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 6")
    shown = [t.split()[0] for t in await page.locator("#list tbody tr td.path").all_inner_texts()]
    # Nor one that passes for another or for nothing: zero width, bidi, a no-break space,
    # a fullwidth slash, a combining accent, the Kelvin sign.
    assert shown == ["/api/plain", "/api/cafe%CC%81/%E2%84%AAelvin",
                     "/api/users%E2%80%8B%E2%80%AE%C2%A0%EF%BC%8F",
                     "/api/%252e%252e/100%25%5C", "/api/bad%FFé%A9", "/api/café/日?q=a%2Fb"]
    await page.fill("#filter-text", "café")
    await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 1")
    # The detail reads it as the list does: its heading said caf%C3%A9/%E6%97%A5.
    await page.locator("#list tbody tr").first.click()
    await page.wait_for_selector("#upstream-url")
    assert await page.inner_text("#detail h2") == "GET /api/café/日?q=a%2Fb"
    assert await page.get_attribute("#detail h2", "title") == "/api/caf%C3%A9/%E6%97%A5?q=a%2Fb"
    assert (await page.inner_text("#upstream-url")).endswith("/api/café/日?q=a%2Fb")
    await page.fill("#filter-text", "users")
    await page.locator("#list tbody tr").first.click()
    await page.wait_for_function("document.querySelector('#detail h2')?.innerText"
                                 " === 'GET /api/users%E2%80%8B%E2%80%AE%C2%A0%EF%BC%8F'")


async def test_a_request_devproxy_explains_is_marked_found_and_readable(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # A redirect back to the URL asked (Vite's base behind a stripped prefix) is marked
    # in the list and the detail alike; "error" and its own words find it; its prose
    # wraps between words.
    async def handler(request: web.Request) -> web.Response:
        if request.path == "/":
            return web.Response(status=302, headers={"Location": "/app/"})
        return web.Response(text="ok")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/app", backend.url, strip_prefix=True))
    page = await open_inspector(browser, proxy.url)
    async with aiohttp.ClientSession() as client:
        for target in ("/app/", "/app/fine"):
            async with client.get(proxy.url + target, allow_redirects=False) as resp:
                assert resp.status in (200, 302)
    await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 2")
    for text, rows in (("error", 1), ("too_many_redirects", 1), ("strip_prefix", 1), ("", 2)):
        await page.fill("#filter-text", text)
        await page.wait_for_function(
            f"document.querySelectorAll('#list tbody tr').length === {rows}")
    await page.fill("#filter-text", "error")
    await page.locator("#list tbody tr").first.click()
    await page.wait_for_selector("#error")
    assert "ERR_TOO_MANY_REDIRECTS" in await page.inner_text("#error")
    assert await page.get_attribute("#detail dd.status", "class") == "status blocked"
    assert await page.evaluate(
        "getComputedStyle(document.querySelector('#error')).wordBreak") == "normal"


NO_ROUTE = "No route (\u2013)"  # an en dash, as the list shows no route


async def test_error_finds_what_went_wrong_and_the_route_filter_finds_requests_no_route_took(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # "error" found CORS failures and devproxy's 502 but not a backend's 500 or the 404
    # devproxy answers when no route matches; the route filter had no choice for those.
    async def handler(request: web.Request) -> web.Response:
        status = {"/api/boom": 500, "/api/gone": 404}.get(request.path, 200)
        return web.Response(status=status, text="…")

    backend = await backend_factory(handler)
    down = free_port()
    proxy = await proxy_factory(route("/api", backend.url),
                                route("/down", f"http://127.0.0.1:{down}"))
    async with aiohttp.ClientSession() as client:
        for target, headers, status in (
                ("/api/fine", {}, 200), ("/api/boom", {}, 500), ("/api/gone", {}, 404),
                ("/down/x", {}, 502), ("/nowhere", {}, 404),
                ("/api/host", {"Host": "rebound.example"}, 403),  # refused by devproxy
                ("/api/cors", {"Origin": FRONT}, 200)):  # no CORS headers: blocked
            async with client.get(proxy.url + target, headers=headers) as resp:
                assert resp.status == status, target
    page = await open_inspector(browser, proxy.url, viewport={"width": 1280, "height": 800})
    await page.wait_for_function(f"{SHOWN}.length === 7")
    await page.fill("#filter-text", "error")
    await page.wait_for_function(f"{SHOWN}.length === 5")
    assert sorted(await page.evaluate(SHOWN)) == [
        "/api/boom", "/api/cors", "/api/host", "/down/x", "/nowhere"]
    await page.fill("#filter-text", "")
    assert await page.locator("#filter-route option").all_inner_texts() == [
        "All routes", "/api", "/down", NO_ROUTE]
    await page.select_option("#filter-route", label=NO_ROUTE)
    await page.wait_for_function(f"{SHOWN}.join() === '/nowhere'")
    await page.select_option("#filter-route", "/down")
    await page.wait_for_function(f"{SHOWN}.join() === '/down/x'")

async def test_after_a_burst_the_list_shows_every_request_ended(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # 1,000 requests, 50 at a time, with the page open: none may stay "…" (pending) for
    # good because the page fell behind and its "update" was lost.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    page = await open_inspector(browser, proxy.url)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as client:
        async def one(n: int) -> int:
            async with client.get(f"{proxy.url}/api/{n}") as resp:
                await resp.read()
                return resp.status
        for start in range(0, 1000, 100):
            statuses = await asyncio.gather(*(one(n) for n in range(start, start + 100)))
            assert set(statuses) == {200}
    await page.wait_for_function(
        "document.querySelector('#list tbody tr td.path')?.innerText.startsWith('/api/999')")
    await page.wait_for_function("""() => {
        const cells = [...document.querySelectorAll('#list tbody tr td.status')];
        return cells.length === 500 && cells.every((c) => c.innerText === '200');
    }""", timeout=10_000)


async def test_a_request_arriving_or_ending_touches_its_own_row_only(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # Each event remade all 500 rows: at 70 requests/s the page spent its main thread
    # on that, with frames of 200 ms (benchmarks/inspector_page.py measures it). Rows
    # are now kept, and the filters, the row open and the one tab stop still hold.
    backend = await backend_factory(slow_at("/api/slow", 1.5))
    proxy = await proxy_factory(route("/api", backend.url))
    async with aiohttp.ClientSession() as client:
        for n in range(5):
            async with client.get(f"{proxy.url}/api/{n}") as resp:
                assert resp.status == 200
        page = await open_inspector(browser, proxy.url)
        await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 5")
        await page.locator("#list tbody tr", has_text="/api/2").click()
        await page.hover("#detail")  # off the list, which holds still under the pointer
        # Each row element marked, and every change to the list's rows written down.
        await page.evaluate("""() => {
            for (const tr of document.querySelectorAll('#list tbody tr')) tr.kept = true;
            window.added = [];
            window.removed = 0;
            new MutationObserver((changes) => {
                for (const change of changes) {
                    window.added.push(...[...change.addedNodes].map((n) => n.dataset.id));
                    window.removed += change.removedNodes.length;
                }
            }).observe(document.querySelector('#list tbody'), { childList: true });
        }""")
        await page.select_option("#filter-status", "0")  # pending only
        await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 0")

        async def get_slow() -> int:
            async with client.get(f"{proxy.url}/api/slow") as resp:
                return resp.status

        slow = asyncio.create_task(get_slow())
        await page.wait_for_function(  # in, as pending
            "document.querySelector('#list tbody tr td.path')?.innerText === '/api/slow'")
        assert await slow == 200  # its end takes it out of "pending"
        await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 0")
    await page.select_option("#filter-status", "")
    await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 6")
    rows = page.locator("#list tbody tr")
    assert await rows.first.evaluate("tr => tr.kept") is None  # the new one
    assert await rows.first.locator("td.status").inner_text() == "200"
    # The five others are the elements they were, shown again.
    assert await page.evaluate(
        "[...document.querySelectorAll('#list tbody tr')].slice(1).every((tr) => tr.kept)")
    new_id = await rows.first.get_attribute("data-id")
    added = await page.evaluate("window.added")
    assert added.count(new_id) == 2  # in as pending, and back with the rest
    assert await page.locator("#list tbody tr.selected .target").all_inner_texts() == ["/api/2"]
    assert await page.locator('#list tbody tr[tabindex="0"] .target').all_inner_texts() \
        == ["/api/2"]


SHOWN = "[...document.querySelectorAll('#list tbody td.path .target')].map((t) => t.innerText)"
WAITING = "document.querySelector('#waiting')"


async def test_a_row_pressed_as_requests_arrive_opens_and_new_ones_wait_above_the_list(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # A person holds the button ~100 ms: a request arriving meanwhile put its row on top,
    # the row pressed moved down, and the click landed on <tbody> (6 clicks of 8 lost at
    # 20 requests/s). Under the pointer the list now holds still; what comes waits.
    backend = await backend_factory(slow_at("/api/slow", 1.5))
    proxy = await proxy_factory(route("/api", backend.url))
    async with aiohttp.ClientSession() as client:
        async def get(path: str) -> None:
            async with client.get(proxy.url + path) as resp:
                assert resp.status == 200

        for n in range(1, 6):
            await get(f"/api/{n}")
        page = await open_inspector(browser, proxy.url, viewport={"width": 1440, "height": 900})
        slow = asyncio.create_task(get("/api/slow"))
        await page.wait_for_function(f"{SHOWN}.length === 6")
        box = await page.locator("#list tbody tr", has_text="/api/3").bounding_box()
        assert box is not None
        await page.mouse.move(box["x"] + 60, box["y"] + box["height"] / 2)
        await page.mouse.down()
        await get("/api/6")
        # Drawn by now, on top or in the bar.
        await page.wait_for_function(f"{SHOWN}.length === 7 || {WAITING}?.hidden === false")
        await page.mouse.up()
        await page.wait_for_function(
            "document.querySelector('#detail h2')?.innerText === 'GET /api/3'", timeout=5000)
        assert await page.inner_text("#waiting") == "1 new request ↑ show"
        held = ["/api/slow", "/api/5", "/api/4", "/api/3", "/api/2", "/api/1"]
        assert await page.evaluate(SHOWN) == held
        # A row shown still changes in place: the slow request's end.
        await slow
        await page.wait_for_function(
            "document.querySelector('#list tbody td.status').innerText === '200'")
        await get("/api/7")
        await page.wait_for_function(f"{WAITING}.innerText === '2 new requests ↑ show'")
        assert await page.evaluate(SHOWN) == held
        # A filter applies at once, to the requests waiting too.
        await page.fill("#filter-text", "api/7")
        await page.wait_for_function(f"{SHOWN}.join() === '/api/7'")
        assert await page.locator("#waiting").is_hidden()
        await page.fill("#filter-text", "")
        await page.wait_for_function(f"{SHOWN}.length === 8")
        # The bar shows what waits; the pointer still on the list, it holds it again.
        await get("/api/8")
        await page.locator("#waiting").click()
        await page.wait_for_function(f"{SHOWN}[0] === '/api/8' && {WAITING}.hidden")
        await get("/api/9")
        await page.wait_for_function(f"{WAITING}.innerText === '1 new request ↑ show'")
        # The pointer leaving the list shows them.
        await page.hover("#detail h2")
        await page.wait_for_function(f"{SHOWN}[0] === '/api/9' && {WAITING}.hidden")
        # A clear (this page's own, by its API) empties the list under the pointer too.
        await page.hover("#list tbody tr >> nth=2")
        await get("/api/10")
        await page.wait_for_function(f"{WAITING}.hidden === false")
        assert await page.evaluate(
            "async () => (await fetch('api/clear', {method: 'POST'})).status") == 200
        await page.wait_for_function(f"{SHOWN}.length === 0 && {WAITING}.hidden")
        # and an empty list has nothing to move: the next request is shown at once.
        await get("/api/11")
        await page.wait_for_function(f"{SHOWN}.join() === '/api/11'")


async def test_pause_holds_the_list_for_the_keyboard_and_the_bar_goes_on_to_the_newest_row(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    page = await open_inspector(browser, proxy.url)
    async with aiohttp.ClientSession() as client:
        async def get(path: str) -> None:
            async with client.get(proxy.url + path) as resp:
                assert resp.status == 200

        await get("/api/1")
        await page.wait_for_function(f"{SHOWN}.length === 1")
        assert await page.inner_text("#pause") == "Pause"
        await page.focus("#pause")
        await page.keyboard.press("Enter")
        # Says what a press does now; "Pause" kept its word, only its colour changed.
        assert await page.inner_text("#pause") == "Resume"
        assert (await page.get_attribute("#pause", "title") or "").startswith("Paused")
        await get("/api/2")
        await get("/api/3")
        await page.wait_for_function(f"{WAITING}.innerText === '2 new requests ↑ show'")
        assert await page.evaluate(SHOWN) == ["/api/1"]
        # The bar is the tab stop before the rows; used, it leaves the focus on the newest.
        await page.focus("#filter-route")
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.id") == "waiting"
        await page.keyboard.press("Enter")
        await page.wait_for_function(f"{SHOWN}.join() === '/api/3,/api/2,/api/1'")
        assert await page.evaluate(
            "document.activeElement.closest('tr')?.querySelector('.target').innerText") == "/api/3"
        await get("/api/4")  # still paused
        await page.wait_for_function(f"{WAITING}.innerText === '1 new request ↑ show'")
        await page.focus("#pause")
        await page.keyboard.press("Enter")
        assert await page.inner_text("#pause") == "Pause"
        await page.wait_for_function(f"{SHOWN}[0] === '/api/4' && {WAITING}.hidden")


async def test_a_narrow_window_gets_one_column_without_sideways_scrolling(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    async with aiohttp.ClientSession() as client, \
            client.get(f"{proxy.url}/api/a/rather/long/path/to/something?with=a&query=1"):
        pass
    page = await open_inspector(browser, proxy.url, viewport={"width": 420, "height": 800})
    await page.locator("#list tbody tr").first.click()
    await page.wait_for_selector("#request-diff")
    assert await page.evaluate("document.documentElement.scrollWidth") == 420
    detail = await page.locator("#detail").bounding_box()
    listing = await page.locator(".list-pane").bounding_box()
    assert detail and listing and detail["y"] >= listing["y"] + listing["height"] - 1
    assert detail["width"] <= 420


async def test_at_1280_wide_every_column_is_in_view_and_badges_are_found_by_name(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # At 1280 px the Bytes column was cut off by the detail pane. The upstream URL gets a
    # column where there is room, and is the route's tooltip where there is not.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, change_origin=True))
    async with aiohttp.ClientSession() as client:
        for target, origin in (("/api/users?page=2&sort=name", None),
                               ("/api/a/longer/path/of/some/length", FRONT)):
            headers = {"Origin": origin} if origin else {}
            async with client.get(proxy.url + target, headers=headers) as resp:
                assert resp.status == 200
    page = await open_inspector(browser, proxy.url, viewport={"width": 1280, "height": 800})
    await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 2")
    assert await page.evaluate("(() => { const t = document.querySelector('.table-wrap');"
                               " return t.scrollWidth <= t.clientWidth; })()")
    assert not await page.locator("th.upstream").is_visible()
    # A path beside its CORS badge keeps room to be read.
    target = page.locator("#list tbody tr").first.locator("td.path .target")
    assert (await target.bounding_box() or {"width": 0})["width"] >= 100
    route_cell = page.locator("#list tbody tr").first.locator("td").nth(3)
    assert await route_cell.get_attribute("title") == \
        f"{backend.url}/api/a/longer/path/of/some/length"
    # A badge's words find its rows, "error" every row marked ✕; filters that match
    # nothing say so.
    for text, rows in (("cors blocked", 1), ("cors", 1), ("error", 1), ("websocket", 0)):
        await page.fill("#filter-text", text)
        await page.wait_for_function(
            f"document.querySelectorAll('#list tbody tr').length === {rows}")
    assert await page.inner_text("#empty") == "No request matches these filters."
    await page.set_viewport_size({"width": 1800, "height": 1000})
    await page.fill("#filter-text", "")
    await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 2")
    assert await page.locator("#list tbody tr").nth(1).locator("td.upstream").inner_text() \
        == f"{backend.url}/api/users?page=2&sort=name"
    assert await page.evaluate("(() => { const t = document.querySelector('.table-wrap');"
                               " return t.scrollWidth <= t.clientWidth; })()")


async def test_filtering_leaves_the_split_between_list_and_detail_where_it_was(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # The list is as wide as its rows need: a filter taking the wider rows away moved
    # the split by 77 px (775 -> 698 px at 1280 wide) as one typed.
    backend = await backend_factory()
    wide = "/services/billing-and-invoicing-v2"
    proxy = await proxy_factory(route("/api", backend.url), route(wide, backend.url))
    async with aiohttp.ClientSession() as client:
        for target in ("/api/x", f"{wide}/x"):
            async with client.get(proxy.url + target, headers={"Origin": FRONT}):
                pass
    page = await open_inspector(browser, proxy.url, viewport={"width": 1280, "height": 800})
    await page.wait_for_function(f"{SHOWN}.length === 2")
    width = "document.querySelector('.list-pane').getBoundingClientRect().width"
    before = await page.evaluate(width)
    assert before > 1280 * 1.2 / 2.2 + 10  # wider than its share: sized by the wide route
    await page.fill("#filter-text", "api/x")
    await page.wait_for_function(f"{SHOWN}.join() === '/api/x'")
    assert await page.evaluate(width) == before
    await page.select_option("#filter-route", "/api")
    await page.fill("#filter-text", "")
    await page.wait_for_function(f"{SHOWN}.join() === '/api/x'")
    assert await page.evaluate(width) == before
    await page.select_option("#filter-route", "")
    await page.wait_for_function(f"{SHOWN}.length === 2")
    assert await page.evaluate(width) == before
    # Filtered, a window made narrower takes its share, not a width held from before.
    await page.select_option("#filter-route", "/api")
    await page.set_viewport_size({"width": 1000, "height": 800})
    # Chromium fires resize at its next frame, after the detail has taken its minimum:
    # waited for, not read at once (a race that failed one run in three).
    await page.wait_for_function(
        "document.querySelector('#detail').getBoundingClientRect().width >= 380"
        " && (t => t.scrollWidth <= t.clientWidth)(document.querySelector('.table-wrap'))")


async def test_fields_merged_into_one_are_shown_gone_not_as_what_it_was(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # CORS mode merges two Vary fields into one, adding Origin: the row said "was
    # Accept-Encoding", as if Cookie had been dropped from it.
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok", headers=CIMultiDict(
            [("Vary", "Accept-Encoding"), ("Vary", "Cookie")]))

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url, cors=CorsPolicy(origins=(FRONT,))))
    async with aiohttp.ClientSession() as client, \
            client.get(proxy.url + "/api/v", headers={"Origin": FRONT}) as resp:
        assert resp.headers.getall("Vary") == ["Accept-Encoding, Cookie, Origin"]
    page = await open_inspector(browser, proxy.url, viewport={"width": 1440, "height": 900})
    await page.locator("#list tbody tr").first.click()
    await page.wait_for_selector("#response-diff")
    changed = page.locator("#response-diff tr.changed")
    assert (await changed.inner_text()).startswith("Vary\tAccept-Encoding, Cookie, Origin")
    assert await changed.locator(".was").count() == 0
    gone = await page.locator("#response-diff tr.removed").all_inner_texts()
    assert [text.split("\t")[1] for text in gone] == ["Accept-EncodingREMOVED", "CookieREMOVED"]


async def test_an_event_source_closed_before_its_head_came_reads_closed(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(30)  # the head would come with the first event
        return web.Response()

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url))
    page = await open_inspector(browser, proxy.url, viewport={"width": 1440, "height": 900})
    async with aiohttp.ClientSession() as client:
        with pytest.raises(asyncio.TimeoutError):
            async with client.get(proxy.url + "/api/events",
                                  headers={"Accept": "text/event-stream"},
                                  timeout=aiohttp.ClientTimeout(total=0.3)) as resp:
                await resp.read()
    status = page.locator("#list tbody tr").first.locator("td.status")
    await page.wait_for_function(
        "document.querySelector('#list tbody tr td.status')?.innerText === 'closed'")
    assert "blocked" not in (await status.get_attribute("class") or "")
    await page.select_option("#filter-status", "0")  # pending: it is not
    await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 0")


async def test_a_long_path_is_cut_short_and_its_badge_stays_in_view(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # The path cell used to cut the badges off with the path: a long API path hid the
    # CORS verdict the row is there to show.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    long = "/api/" + "/".join(f"segment-{n}" for n in range(20))
    async with aiohttp.ClientSession() as client, \
            client.get(proxy.url + long, headers={"Origin": "http://localhost:5173"}):
        pass
    page = await open_inspector(browser, proxy.url, viewport={"width": 1400, "height": 900})
    cell = page.locator("#list tbody tr td.path").first
    badge = cell.locator(".badge.cors")
    assert await badge.inner_text() == "CORS blocked"  # no CORS mode: the backend sent none
    cell_box, badge_box = await cell.bounding_box(), await badge.bounding_box()
    assert cell_box and badge_box
    assert badge_box["x"] + badge_box["width"] <= cell_box["x"] + cell_box["width"]
    assert badge_box["width"] > 40  # all of it, not a sliver
    # The path is cut with an ellipsis, and whole in the cell's title.
    assert await cell.locator(".target").evaluate("e => e.scrollWidth > e.clientWidth")
    assert await cell.get_attribute("title") == long


async def test_a_path_that_would_fit_alone_is_whole_its_badges_below_it(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # At 1280 px "CORS blocked" beside a path cut it to "/api/missin…".
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    path = "/api/missing-resource/42"
    async with aiohttp.ClientSession() as client:
        for target, origin in (("/api/users", None), (path, FRONT)):
            async with client.get(proxy.url + target,
                                  headers={"Origin": origin} if origin else {}):
                pass
    page = await open_inspector(browser, proxy.url, viewport={"width": 1280, "height": 800})
    await page.wait_for_function(f"{SHOWN}.length === 2")
    row = page.locator("#list tbody tr", has_text=path)
    target, badge = row.locator(".target"), row.locator(".badge")
    assert await target.evaluate("t => t.scrollWidth <= t.clientWidth")  # whole
    target_box, badge_box = await target.bounding_box(), await badge.bounding_box()
    cell_box = await row.locator("td.path").bounding_box()
    assert target_box and badge_box and cell_box
    assert badge_box["y"] >= target_box["y"] + target_box["height"] - 1  # below it
    assert badge_box["x"] + badge_box["width"] <= cell_box["x"] + cell_box["width"]
    # A row whose path and badge fit side by side stays one line.
    users = page.locator("#list tbody tr", has_text="/api/users")
    assert (await users.bounding_box() or {"height": 99})["height"] < 34


async def test_badges_never_cover_the_next_column_and_the_path_stays_readable_at_any_width(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # Between 901 and 1100 px and below 600 px the path cell shrank to 45 px: the
    # badges of a preflight were drawn over the Route and Status columns.
    async def star(request: web.Request) -> web.Response:  # "blocked with credentials"
        return web.Response(headers={"Access-Control-Allow-Origin": "*",
                                     "Access-Control-Allow-Credentials": "true"})

    backend, starred = await backend_factory(), await backend_factory(star)
    proxy = await proxy_factory(route("/api", backend.url, cors=CorsPolicy(
        origins=(FRONT,), methods=("GET", "PUT"))), route("/star", starred.url))
    preflight = {"Access-Control-Request-Method": "DELETE"}
    async with aiohttp.ClientSession() as client:
        for method, target, origin, extra in (
                ("GET", "/star/me", FRONT, {}),
                ("OPTIONS", "/api/x", FRONT, preflight),
                ("OPTIONS", "/api/x", "http://evil.example", preflight),
                ("GET", "/api/x", "http://evil.example", {}),
                ("GET", "/api/users/1234/orders?page=2&sort=name", FRONT, {}),
                ("GET", "/api/" + "/".join(f"segment-{n}" for n in range(20)), None, {})):
            headers = {"Origin": origin, **extra} if origin else {}
            async with client.request(method, proxy.url + target, headers=headers):
                pass
    page = await open_inspector(browser, proxy.url)
    await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 6")
    assert await page.locator(".badge.cors").all_inner_texts() == [
        "CORS", "CORS blocked", "blocked", "blocked", "blocked with credentials"]
    for width in (320, 390, 600, 768, 901, 1024, 1100, 1280, 1440, 1920):
        await page.set_viewport_size({"width": width, "height": 900})
        faults = await page.evaluate("""() => {
            const faults = [];
            for (const tr of document.querySelectorAll('#list tbody tr')) {
                const cell = tr.querySelector('td.path'), box = cell.getBoundingClientRect();
                const next = cell.nextElementSibling.getBoundingClientRect();
                const target = tr.querySelector('.target');
                const name = target.textContent.slice(0, 20);
                for (const badge of cell.querySelectorAll('.badge')) {
                    const b = badge.getBoundingClientRect();
                    if (b.left < box.left || b.right > box.right || b.right > next.left
                        || badge.scrollWidth > badge.clientWidth) {
                        faults.push(`${name}: ${badge.textContent} out of its cell`);
                    }
                }
                // Readable: whole, or at least its first dozen characters.
                const room = Math.min(target.scrollWidth, 12 * 7.5);
                if (target.getBoundingClientRect().width < room - 1) {
                    faults.push(`${name}: ${target.getBoundingClientRect().width} px`);
                }
            }
            return faults;
        }""")
        assert faults == [], width
        if width >= 1100:  # the list takes the room its columns need from the detail
            assert await page.evaluate("(() => { const t = document.querySelector"
                                       "('.table-wrap'); return t.scrollWidth <= t.clientWidth;"
                                       " })()"), width
    # A long path is still cut with an ellipsis where the window is narrow.
    long_target = page.locator("#list tbody tr").first.locator(".target")
    assert await long_target.evaluate("t => t.scrollWidth > t.clientWidth")
    assert await long_target.evaluate("t => getComputedStyle(t).textOverflow") == "ellipsis"


async def test_timing_says_only_the_parts_a_request_had_and_each_curl_is_named(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # A 502 read "connect (dash) ms · first byte (dash) ms", over a bar all blue
    # ("waiting") with no legend; the two curl commands had no names.
    backend = await backend_factory(slow_at("/api/slow", 1.0))
    down = free_port()
    proxy = await proxy_factory(route("/api", backend.url, timeout={"response": 0.3}),
                                route("/down", f"http://127.0.0.1:{down}"))
    async with aiohttp.ClientSession() as client:
        for target, status in (("/api/slow", 504), ("/api/fine", 200), ("/down/x", 502),
                               ("/nowhere", 404)):
            async with client.get(proxy.url + target) as resp:
                assert resp.status == status, target
    page = await open_inspector(browser, proxy.url, viewport={"width": 1280, "height": 800})
    number = r"[\d.]+ ms"
    for target, words, legend in (
            ("/down/x", f"no connection · total {number}", []),
            ("/nowhere", f"total {number}", []),
            ("/api/slow", f"connect {number} · no response · total {number}",
             ["waiting: no response"]),
            ("/api/fine", f"connect {number} · first byte {number} · total {number}",
             ["waiting for the first byte"])):
        await page.locator("#list tbody tr", has_text=target).click()
        await page.wait_for_function(
            f"document.querySelector('#detail h2')?.innerText === 'GET {target}'")
        timing = page.locator("#timing")
        said = await timing.evaluate("t => t.firstChild.textContent")
        assert re.fullmatch(words, said), (target, said)
        bar = timing.locator(".timing span")
        names = await timing.locator(".timing-legend span").all_inner_texts()
        # Each segment drawn is named below the bar and in its own title.
        assert await bar.count() == len(names), target
        titles = await bar.evaluate_all("spans => spans.map((s) => s.title)")
        assert [t.rsplit(" ", 2)[0] for t in titles] == names, target  # "connecting 1.2 ms"
        assert set(legend) <= set(names) <= {"connecting", *legend, "receiving"}, target
        if not legend:
            assert await timing.locator(".timing").count() == 0, target
    # The curl commands under the names the copy buttons give them.
    await page.locator("#list tbody tr", has_text="/down/x").click()
    await page.wait_for_function("document.querySelector('#detail h2')?.innerText"
                                 " === 'GET /down/x'")
    assert await page.inner_text("#curl-browser-label") == "As the browser sent it"
    assert await page.inner_text("#curl-upstream-label") == "As devproxy sent it to the backend"
    assert (await page.inner_text("#curl-upstream")).startswith(
        f"curl -g -i http://127.0.0.1:{down}/down/x ")
    await page.locator("#list tbody tr", has_text="/nowhere").click()
    await page.wait_for_function("document.querySelector('#detail h2')?.innerText"
                                 " === 'GET /nowhere'")
    assert await page.locator("#curl-browser-label").is_visible()
    assert await page.locator("#curl-upstream-label").count() == 0


async def test_a_url_tens_of_kilobytes_long_is_cut_in_the_detail_and_whole_in_its_title(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # The heading was cut at 300 characters, but the upstream URL was printed whole:
    # 60 KB of it made the detail 21,000 px tall.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    long = "/api/" + "a" * 60_000
    async with aiohttp.ClientSession() as client, client.get(proxy.url + long) as resp:
        assert resp.status == 400  # past aiohttp's line limit, and recorded all the same
    page = await open_inspector(browser, proxy.url, viewport={"width": 1440, "height": 900})
    await page.locator("#list tbody tr").first.click()
    upstream = page.locator("#upstream-url")
    await upstream.wait_for()
    assert await upstream.inner_text() == f"{backend.url}{long}"[:300] + "…"
    assert await upstream.get_attribute("title") == f"{backend.url}{long}"
    assert await page.inner_text("#detail h2") == f"GET {long[:300]}…"
    assert await page.evaluate("document.querySelector('#detail').scrollHeight") < 3000


async def test_the_live_pill_says_in_words_when_devproxy_is_not_answering(
        browser: Browser, backend_factory: Any) -> None:
    # Only its dot turned red: it still read "live" with devproxy stopped.
    backend = await backend_factory()
    server = await start_devproxy(backend.url)
    port = server.port
    try:
        page = await open_inspector(browser, f"http://127.0.0.1:{port}")
        pill = page.locator("#live")
        assert await pill.inner_text() == "live"
        assert "requests appear" in (await pill.get_attribute("title") or "")
    finally:
        await server.stop()
    await page.wait_for_function(
        "document.querySelector('#live').innerText === 'reconnecting…'", timeout=10_000)
    assert "devproxy is not answering" in (await pill.get_attribute("title") or "")
    assert await pill.get_attribute("role") == "status"
    server = await start_devproxy(backend.url, port)  # back: the browser reconnects
    try:
        await page.wait_for_function(
            "document.querySelector('#live').innerText === 'live'", timeout=15_000)
        assert "off" not in (await pill.get_attribute("class") or "")
    finally:
        await server.stop()


async def test_an_open_inspector_leaves_the_app_all_six_connections_to_its_origin(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # Chromium opens 6 HTTP/1.1 connections to an origin, shared by every tab of a
    # profile. The inspector's EventSource held one for good: an app with five
    # streams of its own then waited on its next fetch() while the inspector was open.
    backend = await backend_factory(_items_or_events)
    proxy = await proxy_factory(route("/api", backend.url))
    context = await browser.new_context()
    try:
        inspector = await context.new_page()
        await inspector.goto(proxy.url + "/__devproxy/")
        await inspector.wait_for_selector("body[data-ready=true]")
        app = await context.new_page()
        await app.goto(proxy.url + "/api/items")
        opened = await app.evaluate("""async () => {
            const opened = [];
            for (let i = 0; i < 5; i++) {
              const source = new EventSource('/api/events?n=' + i);
              opened.push(new Promise((ok) => source.onmessage = ok));
            }
            await Promise.all(opened);
            return opened.length;
        }""")
        assert opened == 5
        status = await app.evaluate("""async () => {
            const timeout = new AbortController();
            setTimeout(() => timeout.abort(), 5000);
            try {
              return (await fetch('/api/items', {signal: timeout.signal})).status;
            } catch (e) { return String(e); }
        }""")
        assert status == 200, status
        # And the inspector is live all the while.
        await inspector.locator("#list tbody tr", has_text="/api/items").first.wait_for()
    finally:
        await context.close()


async def _items_or_events(request: web.Request) -> web.StreamResponse:
    if request.path == "/api/events":
        return await endless("text/event-stream", b"data: hi\n\n")(request)
    return web.json_response({"items": []})


async def test_with_devproxy_stopped_each_click_says_so_where_it_was_made(
        browser: Browser, backend_factory: Any) -> None:
    # A row clicked was highlighted while the detail kept the last request; Replay and
    # Clear did nothing to see, each an uncaught "Failed to fetch".
    backend = await backend_factory()
    server = await start_devproxy(backend.url)
    port = server.port
    try:
        async with aiohttp.ClientSession() as client:
            for n in (1, 2):
                async with client.get(f"http://127.0.0.1:{port}/api/{n}") as resp:
                    assert resp.status == 200
        page = await open_inspector(browser, f"http://127.0.0.1:{port}")
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        rows = page.locator("#list tbody tr")
        # A call that does not get through is said, then made good once devproxy answers.
        await page.route("**/api/requests/*", lambda request: request.abort())
        await rows.filter(has_text="/api/1").click()
        await page.wait_for_selector("#unanswered")
        await page.unroute("**/api/requests/*")
        await page.wait_for_selector("#replay", timeout=10_000)  # the status, every 3 s
        assert await page.locator("#unanswered").count() == 0
    finally:
        await server.stop()
    await page.wait_for_function("document.querySelector('#live').innerText !== 'live'",
                                 timeout=10_000)
    await page.click("#replay")
    said = page.locator("#detail #action-error")
    await said.wait_for()
    assert "Not replayed: devproxy is not answering" in await said.inner_text()
    assert await page.inner_text("#replay") == "Replay"  # not left waiting

    await rows.filter(has_text="/api/2").click()
    await page.wait_for_selector("#unanswered")
    assert await page.inner_text("#detail h2") == "GET /api/2"
    assert await page.locator("#list tbody tr.selected .target").inner_text() == "/api/2"
    assert "devproxy is not answering" in await page.inner_text("#unanswered")

    await page.click("#clear")
    notice = page.locator("#notice")
    await notice.wait_for()
    assert (await notice.inner_text()).startswith("Not cleared: devproxy is not answering")
    assert await rows.count() == 2  # nothing was cleared
    assert errors == []

    server = await start_devproxy(backend.url, port)  # a new devproxy, its own requests
    try:
        await page.wait_for_function(
            "document.querySelector('#detail').innerText === 'devproxy restarted.'",
            timeout=15_000)
        await page.wait_for_function("document.querySelector('#live').innerText === 'live'",
                                     timeout=15_000)
        assert await notice.is_hidden()
        await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 0")
    finally:
        await server.stop()
    assert errors == []


# Counts the page's WebSocket closes and times its last close and open (performance.now()).
SOCKET_WATCH = """
const Native = window.WebSocket;
window.__closes = 0;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener("close", () => {
      window.__closes++;
      window.__closedAt = performance.now();
    });
    this.addEventListener("open", () => { window.__openedAt = performance.now(); });
  }
};
"""


async def test_a_restarted_devproxy_is_seen_by_the_list_as_soon_as_by_the_status(
        browser: Browser, backend_factory: Any) -> None:
    # With devproxy away for a while the list's socket tries again every 5 s, and the
    # status every 3 s: the page said "devproxy restarted." for seconds while the old
    # list stayed under it, "reconnecting…".
    backend = await backend_factory()
    server = await start_devproxy(backend.url)
    port = server.port
    page = await browser.new_page()
    await page.add_init_script(SOCKET_WATCH)
    await page.goto(f"http://127.0.0.1:{port}/__devproxy/")
    await page.wait_for_selector("body[data-ready=true]")
    await server.stop()
    # The first close and five failed tries (250 ms to 2 s apart): the next waits 5 s.
    await page.wait_for_function("window.__closes >= 6", timeout=15_000)
    server = await start_devproxy(backend.url, port)
    try:
        await page.evaluate("loadStatus()")  # as the page does every 3 s
        await page.wait_for_function("document.querySelector('#live').innerText === 'live'",
                                     timeout=15_000)
        waited = await page.evaluate("window.__openedAt - window.__closedAt")
        assert waited < 4000, waited  # not the 5 s the socket's own retry waits
        await page.wait_for_function(
            "document.querySelector('#detail').innerText === 'devproxy restarted.'")
    finally:
        await server.stop()


async def test_a_broken_config_save_is_spelled_out_on_the_page(
        browser: Browser, backend_factory: Any, tmp_path: Path) -> None:
    # A reload that failed said so only in a tooltip: the file, line and problem belong
    # in plain sight, with what devproxy does meanwhile.
    backend = await backend_factory()
    path = tmp_path / "devproxy.yaml"
    good = f"listen: 127.0.0.1:0\nroutes:\n  - path: /api\n    target: {backend.url}\n"
    path.write_text(good)
    server = await start_watching(path)
    try:
        page = await open_inspector(browser, f"http://127.0.0.1:{server.port}")
        assert await page.locator("#reload-note").is_hidden()
        path.write_text(good + "    change_origin: maybe\n")
        note = page.locator("#reload-note.bad")
        await note.wait_for(timeout=15_000)  # the page asks for the status every 3 s
        text = await note.inner_text()
        assert f"{path}:5:" in text and "change_origin" in text
        assert "Still serving the routes below" in text
        assert "/api" in await page.locator("#routes").inner_text()
        path.write_text(good)  # fixed: the note goes
        await page.locator("#reload-note").wait_for(state="hidden", timeout=15_000)
    finally:
        await server.stop()


async def test_a_reload_of_many_changes_keeps_the_header_one_line_and_the_diff_whole(
        browser: Browser, backend_factory: Any, tmp_path: Path) -> None:
    # A dozen routes added wrapped the reload pill to three lines at 1440 px, and out of
    # its pill at 390 px.
    backend = await backend_factory()
    path = tmp_path / "devproxy.yaml"
    good = f"listen: 127.0.0.1:0\nroutes:\n  - path: /api\n    target: {backend.url}\n"
    path.write_text(good)
    server = await start_watching(path)
    try:
        page = await open_inspector(browser, f"http://127.0.0.1:{server.port}",
                                    viewport={"width": 1440, "height": 900})
        path.write_text(good + "".join(f"  - path: /service-{n}\n    target: {backend.url}\n"
                                       for n in range(12)))
        pill = page.locator("#reload")
        await page.wait_for_function(
            "document.querySelector('#reload').innerText.startsWith('reload ok')",
            timeout=15_000)  # the page asks for the status every 3 s
        title = await pill.get_attribute("title") or ""
        assert [line for line in title.splitlines() if "/service-" in line] == [
            f"+ /service-{n} -> {backend.url}" for n in sorted(range(12), key=str)]
        for width in (1440, 901, 390, 320):
            await page.set_viewport_size({"width": width, "height": 900})
            box = await pill.bounding_box()
            assert box is not None
            assert box["height"] < 26, width  # one line
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, width
            assert await pill.evaluate("p => p.scrollWidth > p.clientWidth"), width  # cut…
            assert await pill.evaluate("p => getComputedStyle(p).textOverflow") == "ellipsis"
            for other in ("#live", "#export-har", "#clear"):  # …not the others
                assert await page.locator(other).evaluate(
                    "e => e.scrollWidth <= e.clientWidth"
                    " && e.getBoundingClientRect().height < 32"), (width, other)
            # The address (here with the config's long temporary path) on one line too.
            assert (await page.locator("#listen").bounding_box() or {"height": 99})["height"] \
                < 26, width
        # When the change was made, and kept so through a save that changed nothing.
        first = title.splitlines()[0]
        assert re.fullmatch(r"reload ok at \d\d:\d\d:\d\d:", first), first
        path.write_text("# a comment\n" + path.read_text())
        await page.wait_for_function(
            "document.querySelector('#reload').title.includes('saved again at')",
            timeout=15_000)
        title = await pill.get_attribute("title") or ""
        assert title.splitlines()[0] == first and title.splitlines()[-1].endswith(
            ": no route changed"), title
    finally:
        await server.stop()


async def test_a_cors_block_deleted_reads_removed_in_the_reload_pill(
        browser: Browser, backend_factory: Any, tmp_path: Path) -> None:
    # The pill read "reload ok: ~ cors {origins=http://localhost:47310, credentials=false,
    # meth…", as if CORS mode were still on: its "-> none" was cut off.
    backend = await backend_factory()
    path = tmp_path / "devproxy.yaml"
    routes = f"listen: 127.0.0.1:0\nroutes:\n  - path: /api\n    target: {backend.url}\n"
    path.write_text(routes + f"cors:\n  origins: [{FRONT}]\n")
    server = await start_watching(path)
    try:
        page = await open_inspector(browser, f"http://127.0.0.1:{server.port}",
                                    viewport={"width": 1280, "height": 800})
        path.write_text(routes)
        await page.wait_for_function(
            "document.querySelector('#reload').innerText.startsWith('reload ok')",
            timeout=15_000)  # the page asks for the status every 3 s
        assert await page.inner_text("#reload") == "reload ok: - cors"
    finally:
        await server.stop()

async def test_an_open_streams_detail_keeps_the_readers_place(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # The detail of an open stream is shown again each second: a box the user scrolled
    # must stay where it was, and one scrolled to its end must follow new events.
    async def events(request: web.Request) -> web.StreamResponse:
        stream = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await stream.prepare(request)
        for n in range(400):  # bounded: ends by itself within 100 s
            # Later events are longer, so the box grows as they replace older ones.
            lines = "".join(f"data: {n}.{i}\n" for i in range(max(n - 29, 0)))
            await stream.write(f"event: tick\ndata: {n}\n{lines}\n".encode())
            await asyncio.sleep(0.25 if n >= 30 else 0)
        return stream

    backend = await backend_factory(events)
    proxy = await proxy_factory(route("/", backend.url))
    page = await open_inspector(browser, proxy.url, viewport={"width": 1440, "height": 900})
    async with aiohttp.ClientSession() as client, client.get(proxy.url + "/events") as resp:
        await resp.content.readuntil(b"data: 29\n\n")
        await page.locator("#list tbody tr", has_text="/events").click()
        box = page.locator("#sse-events")
        await box.wait_for()
        heading = page.locator("#detail h3", has_text="Server-sent events")

        async def shown_again() -> None:  # the heading's count moves on each showing
            before = await heading.text_content()  # as written, not as CSS capitalizes
            await page.wait_for_function(
                "(before) => [...document.querySelectorAll('#detail h3')].some((h) =>"
                " h.textContent.startsWith('Server-sent events') && h.textContent !== before)",
                arg=before, timeout=10_000)

        assert "the last 20 shown" in (await heading.text_content() or "")
        assert await box.evaluate("(b) => b.scrollHeight > b.clientHeight + 100")
        # The event at the top of the box: four new ones a second push the oldest out,
        # so a place kept in pixels would show other events there.
        first_in_view = """(b) => [...b.querySelectorAll('[data-n]')].find((s) =>
            s.getBoundingClientRect().bottom > b.getBoundingClientRect().top + 1
        ).dataset.n"""
        read = await box.evaluate("(b) => { const s = b.querySelectorAll('[data-n]')[12];"
                                  " b.scrollTop += s.getBoundingClientRect().top"
                                  " - b.getBoundingClientRect().top; return s.dataset.n; }")
        assert await box.evaluate(first_in_view) == read
        await shown_again()
        assert await page.locator("#sse-events").evaluate(first_in_view) == read
        await box.evaluate("(b) => { b.scrollTop = b.scrollHeight; }")
        await shown_again()
        await shown_again()
        assert await page.locator("#sse-events").evaluate(
            "(b) => b.scrollTop > 0 && b.scrollTop + b.clientHeight >= b.scrollHeight - 2")


async def test_an_open_streams_detail_keeps_the_keyboard_focus_and_a_buttons_word(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # Made afresh each second, the detail sent the focus on "Copy as curl" to <body>,
    # and wiped its "Copied ✓".
    async def events(request: web.Request) -> web.StreamResponse:
        stream = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await stream.prepare(request)
        for n in range(100):  # bounded: ends by itself within 20 s
            await stream.write(f"data: {n}\n\n".encode())
            await asyncio.sleep(0.2)
        return stream

    backend = await backend_factory(events)
    proxy = await proxy_factory(route("/", backend.url))
    page = await open_inspector(browser, proxy.url, viewport={"width": 1440, "height": 900},
                                permissions=["clipboard-read", "clipboard-write"])
    async with aiohttp.ClientSession() as client, client.get(proxy.url + "/events") as resp:
        await resp.content.readuntil(b"data: 0\n\n")
        await page.locator("#list tbody tr", has_text="/events").click()
        await page.wait_for_selector("#copy-upstream")
        # Each showing: where the focus is, what the button says, how long after the click.
        await page.evaluate("""() => {
            window.shown = [];
            new MutationObserver(() => window.shown.push([
                document.activeElement.id,
                document.querySelector('#copy-upstream').textContent,
                performance.now() - window.pressed,
            ])).observe(document.querySelector('#detail'), { childList: true });
        }""")
        await page.focus("#copy-upstream")
        await page.evaluate("window.pressed = performance.now()")
        await page.keyboard.press("Enter")
        await page.wait_for_function("window.shown.length >= 3", timeout=10_000)
        shown = await page.evaluate("window.shown")
        assert [on for on, _, _ in shown] == ["copy-upstream"] * len(shown)
        # "Copied ✓" for 1.2 s, made afresh or not.
        assert all(said == "Copied ✓" for _, said, after in shown if after < 1100), shown
        assert shown[-1][1] == "Copy as curl (to backend)"
        await page.keyboard.press("Tab")  # and the keyboard goes on from there
        assert await page.evaluate("document.activeElement.id") == "replay"
        assert await page.evaluate("navigator.clipboard.readText()") \
            == await page.inner_text("#curl-upstream")


async def test_a_form_uploaded_by_the_page_shows_its_fields(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # Chromium's own multipart body (its boundary, its quoting), not a test client's.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    page = await open_inspector(browser, proxy.url)
    status = await page.evaluate("""async () => {
      const form = new FormData();
      form.append("title", "holiday");
      form.append("upload", new Blob([new Uint8Array(3000)], {type: "image/png"}),
                  'beach "1".png');
      return (await fetch("/photos", {method: "POST", body: form})).status;
    }""")
    assert status == 200
    await page.locator("#list tbody tr", has_text="/photos").click()
    await page.wait_for_selector("table.form-parts")
    rows = await page.locator("table.form-parts tr").all_inner_texts()
    assert [" ".join(row.split()) for row in rows] == [
        # As the backend gets it: the HTML standard has the browser write " as %22.
        "title holiday", 'upload file "beach %221%22.png" · image/png · 2.9 KiB']


async def test_a_json_body_is_shown_with_the_numbers_it_carried(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # JSON.parse in the page had shown 12345678901234567000, 1.1 and null.
    sent = '{"id": 12345678901234567891, "price": 1.10, "n": 1e400, "tags": []}'

    async def api(request: web.Request) -> web.Response:
        return web.Response(text=sent, content_type="application/json")

    backend = await backend_factory(api)
    proxy = await proxy_factory(route("/", backend.url))
    page = await open_inspector(browser, proxy.url)
    shown = await response_body_shown(page, "/order")
    assert await shown.inner_text() == (
        '{\n  "id": 12345678901234567891,\n  "price": 1.10,\n  "n": 1e400,\n  "tags": []\n}')


async def test_long_cors_field_names_leave_their_values_room_at_1280_wide(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # Names were kept on one line: Access-Control-Request-Headers took the column, and
    # each value read a few characters a line.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    page = await open_inspector(browser, proxy.url, viewport={"width": 1280, "height": 800})
    preflight = {"Origin": FRONT, "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "content-type,x-token"}
    async with aiohttp.ClientSession() as client, \
            client.options(proxy.url + "/api/x", headers=preflight) as resp:
        assert resp.status == 200
    await page.locator("#list tbody tr").first.click()
    row = page.locator("#request-diff tr", has_text="Access-Control-Request-Headers").first
    await row.wait_for()
    name, value = row.locator("td").nth(0), row.locator("td").nth(1)
    name_box, value_box = await name.bounding_box(), await value.bounding_box()
    assert name_box is not None and value_box is not None
    assert value_box["width"] > name_box["width"]
    assert await value.inner_text() == "content-type,x-token"
    # the value on one line: its height is the name's at most
    assert value_box["height"] <= name_box["height"]


# Each place a header name's text goes on to a new line, but after a hyphen.
MID_WORD_BREAKS = """() => {
    const faults = [];
    for (const td of document.querySelectorAll('#detail table.headers td:first-child')) {
        const text = td.firstChild, range = document.createRange();
        let top = null;
        for (let i = 0; i < text.length; i++) {
            range.setStart(text, i);
            range.setEnd(text, i + 1);
            const rect = range.getClientRects()[0];
            if (!rect) continue;  // a space the line ends at
            if (top !== null && rect.top > top + 2 && text.data[i - 1] !== '-') {
                faults.push(`${text.data.slice(0, i)} / ${text.data.slice(i)}`);
            }
            top = rect.top;
        }
    }
    return faults;
}"""


async def test_header_names_wrap_at_their_hyphens_never_mid_word(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # At 1280 px wide, with the list taking 775 px, a name read "Allow-Credential / s".
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url, cors=CorsPolicy(
        origins=(FRONT,), credentials=True, expose=("X-Request-Id",))))
    preflight = {"Origin": FRONT, "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "content-type,x-token"}
    async with aiohttp.ClientSession() as client, \
            client.options(proxy.url + "/api/x", headers=preflight) as resp:
        assert resp.status == 204
    page = await open_inspector(browser, proxy.url, viewport={"width": 1280, "height": 800})
    await page.locator("#list tbody tr").first.click()
    await page.locator("#response-diff tr", has_text="Access-Control-Allow-Credentials").wait_for()
    for width in (1280, 1100, 1000, 901):
        await page.set_viewport_size({"width": width, "height": 800})
        assert await page.evaluate(MID_WORD_BREAKS) == [], width
        # and nothing pushed out sideways for it
        assert await page.evaluate(
            "(() => { const d = document.querySelector('#detail');"
            " return d.scrollWidth <= d.clientWidth; })()"), width


async def test_replay_opens_the_request_it_sent_marked_as_a_replay(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    page = await open_inspector(browser, proxy.url)
    assert await page.evaluate(
        "async () => (await fetch('/orders', {method: 'POST', body: 'x'})).status") == 200
    await page.locator("#list tbody tr", has_text="/orders").click()
    await page.click("#replay")
    # The new row, opened, says what it is: in the list and in the detail.
    await page.wait_for_selector("#replay-of")
    rows = page.locator("#list tbody tr")
    assert await rows.count() == 2
    assert await rows.nth(0).locator(".badge.replay").text_content() == "replay"
    assert await rows.nth(1).locator(".badge.replay").count() == 0
    first_id = await rows.nth(1).get_attribute("data-id")
    assert (await page.inner_text("#replay-of")).startswith(f"#{first_id}")
    assert [seen.body for seen in backend.recorder.seen] == [b"x", b"x"]
    # Its link opens the request it sent again.
    await page.click("#replay-of a")
    await page.wait_for_function("!document.querySelector('#replay-of')")


async def test_replay_from_the_keyboard_leaves_the_focus_on_the_request_it_opened(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # Enter on Replay opened the new request and the focus fell to <body>: the next Tab
    # started again from the top of the page.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    page = await open_inspector(browser, proxy.url)
    assert await page.evaluate(
        "async () => (await fetch('/orders', {method: 'POST', body: 'x'})).status") == 200
    await page.locator("#list tbody tr", has_text="/orders").click()
    await page.focus("#copy-browser")
    for _ in range(3):  # past the other copy button
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == "replay":
            break
    assert await page.evaluate("document.activeElement.id") == "replay"
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#replay-of")
    await page.wait_for_function("document.activeElement.tagName !== 'BUTTON'")
    assert await page.evaluate("document.activeElement === document.querySelector('#detail h2')")
    assert await page.inner_text("#detail h2") == "POST /orders"
    await page.keyboard.press("Tab")  # and goes on into its detail: the link to the first
    assert await page.evaluate("document.activeElement.closest('#replay-of') !== null")


async def test_text_with_a_byte_that_is_not_utf_8_is_shown_and_said_so(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    async def api(request: web.Request) -> web.Response:
        return web.Response(body=b"caf\xe9 au lait", content_type="text/plain",
                            charset="utf-8")

    backend = await backend_factory(api)
    proxy = await proxy_factory(route("/", backend.url))
    page = await open_inspector(browser, proxy.url)
    shown = await response_body_shown(page, "/menu")
    assert await shown.inner_text() == "caf\ufffd au lait"
    assert await page.inner_text('[data-place="Response body note"]') == \
        "not valid UTF-8: 1 byte shown as \ufffd"


async def test_a_request_replay_would_alter_offers_no_replay_and_says_why(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # fetch() sends "é" in a header as the byte 0xE9, which devproxy's client cannot
    # send as it was: the button was shown all the same, and a click only alerted.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    page = await open_inspector(browser, proxy.url)
    assert await page.evaluate("""async () =>
        (await fetch('/odd', {headers: {'X-Odd': 'caf\\u00e9'}})).status""") == 200
    assert backend.recorder.last.headers["X-Odd"].encode("utf-8", "surrogateescape") \
        == b"caf\xe9"
    alerts: list[str] = []
    page.on("dialog", lambda dialog: alerts.append(dialog.message))
    await page.locator("#list tbody tr", has_text="/odd").click()
    await page.wait_for_selector("#replay-refused")
    assert await page.locator("#replay").count() == 0
    said = await page.inner_text("#replay-refused")
    assert said.startswith("X-Odd held bytes that are not UTF-8") and "Copy it as curl" in said
    assert await page.locator("#copy-browser").is_visible()
    assert alerts == [] and len(backend.recorder.seen) == 1


async def test_the_list_is_one_tab_stop_walked_with_the_arrow_keys(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # Every row was a tab stop: from the list, the detail was one Tab per row away (500).
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    async with aiohttp.ClientSession() as client:
        for n in range(1, 6):
            async with client.get(f"{proxy.url}/api/{n}") as resp:
                assert resp.status == 200
    page = await open_inspector(browser, proxy.url)
    await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 5")
    tab_stops = "document.querySelectorAll('#list tbody tr[tabindex=\"0\"]').length"
    on = "document.activeElement.closest('tr')?.querySelector('td.path')?.innerText.trim()"

    await page.focus("#filter-route")
    await page.keyboard.press("Tab")  # into the list: its first row
    assert await page.evaluate(on) == "/api/5" and await page.evaluate(tab_stops) == 1
    for key, row in (("ArrowDown", "/api/4"), ("ArrowDown", "/api/3"), ("End", "/api/1"),
                     ("ArrowDown", "/api/1"), ("Home", "/api/5"), ("ArrowUp", "/api/5"),
                     ("ArrowDown", "/api/4")):
        await page.keyboard.press(key)
        assert await page.evaluate(on) == row, key
        assert await page.evaluate(tab_stops) == 1
    assert await page.locator("#detail h2").count() == 0  # moving opens nothing
    await page.keyboard.press("Enter")
    await page.wait_for_function("document.querySelector('#detail h2')?.innerText === 'GET /api/4'")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press(" ")
    await page.wait_for_function("document.querySelector('#detail h2')?.innerText === 'GET /api/3'")
    assert await page.evaluate(on) == "/api/3"  # the list made afresh kept the focus
    # One Tab from the list to the detail, and back to the row open.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "copy-browser"
    await page.keyboard.press("Shift+Tab")
    assert await page.evaluate(on) == "/api/3"
    await page.keyboard.press("Shift+Tab")
    assert await page.evaluate("document.activeElement.id") == "filter-route"
    # Each filter has a name a screen reader says, not only its first option.
    for name in ("Filter by method", "Filter by status", "Filter by route"):
        assert await page.get_by_role("combobox", name=name, exact=True).count() == 1


async def test_an_event_stream_in_a_coding_not_read_says_so_not_no_events(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # Express's compression() picks br for Chromium: the page said "0 · no events yet"
    # of a stream whose events the browser got.
    async def brotli_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Content-Encoding": "br"})
        await response.prepare(request)
        await response.write(b"\x8b\x02\x80data: 1\n\n\x03")  # not read, so any bytes
        await response.write_eof()
        return response

    backend = await backend_factory(brotli_stream)
    proxy = await proxy_factory(route("/", backend.url))
    async with aiohttp.ClientSession(auto_decompress=False) as client, \
            client.get(proxy.url + "/events") as resp:
        assert resp.status == 200 and await resp.read()
    page = await open_inspector(browser, proxy.url)
    await page.locator("#list tbody tr", has_text="/events").click()
    await page.wait_for_selector("#sse-unread")
    assert "server-sent events · not read" in (await page.inner_text("#detail")).lower()
    assert (await page.inner_text("#sse-unread")).startswith(
        "The stream is br-encoded, which the inspector does not decode")
    assert "no events yet" not in await page.inner_text("#detail")


async def test_another_site_cannot_frame_the_inspector(
        browser: Browser, backend_factory: Any, proxy_factory: Any) -> None:
    # Framed, invisible, under a page of its own, a site could have a click land on Clear
    # or on Replay, which resends a request with its cookies (clickjacking).
    async def evil(request: web.Request) -> web.Response:
        return web.Response(text=f'<iframe id=f src="{request.query["url"]}"></iframe>',
                            content_type="text/html")

    backend = await backend_factory(evil)
    proxy = await proxy_factory(route("/api", backend.url))
    page = await browser.new_page()
    inspector = proxy.url.replace("127.0.0.1", "localhost") + "/__devproxy/"
    await page.goto(f"{backend.url}/evil?url={inspector}")
    await page.wait_for_timeout(500)
    [frame] = [f for f in page.frames if f is not page.main_frame]
    # Chromium shows its own error page in the frame: the inspector never loaded.
    assert await frame.query_selector("#list") is None
    await page.close()

