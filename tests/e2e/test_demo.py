"""`devproxy demo` as a newcomer runs it: a real process, the page in a real Chromium."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from playwright.async_api import Browser

pytestmark = pytest.mark.e2e


async def test_demo_shows_the_cors_error_and_both_fixes_in_a_real_browser(
        browser: Browser, tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devproxy", "demo", "--listen", "127.0.0.1:0",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    try:
        line = (await asyncio.wait_for(process.stderr.readline(), 20)).decode()
        assert line.startswith("devproxy demo: open http://127.0.0.1:"), line
        url = line.split("open ", 1)[1].strip()
        page = await browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        await page.goto(url)
        await page.wait_for_selector("body[data-done=true]", timeout=15000)
        # Its own icon, so that a browser asks for no /favicon.ico, whose 404 was one red
        # console line more on a page that teaches them. (Headless Chromium asks for none
        # either way: the page must name one.)
        assert await page.get_attribute('link[rel="icon"]', "href") == "data:,"
        outcomes = await page.eval_on_selector_all(
            "section.card", "cards => cards.map(c => [c.id, c.dataset.outcome])")
        assert outcomes == [["direct", "blocked"], ["one-origin", "ok"], ["cors-mode", "ok"]]
        # The blocked call really was the browser's CORS refusal, as the page explains.
        assert any("blocked by CORS policy" in text for text in console), console
        assert "Failed to fetch" in await page.inner_text("#direct .result")
        assert "No 'Access-Control-Allow-Origin' header" in await page.inner_text("#direct .why")
        assert "demo-api" in await page.inner_text("#cors-mode .result")  # exposed header
        assert f"Access-Control-Allow-Origin: {url}" in await page.inner_text(
            "#cors-mode .headers")
        assert "target:" in await page.inner_text("#config-one")
        await page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        # Opened at localhost, the page shows that origin's headers and the whole list.
        local = url.replace("127.0.0.1", "localhost")
        await page.goto(local)
        await page.wait_for_selector("body[data-done=true]", timeout=15000)
        assert f"Access-Control-Allow-Origin: {local}" in await page.inner_text(
            "#cors-mode .headers")
        assert f"origins: [{url}, {local}]" in await page.inner_text("#config-cors")
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 15)
    assert process.returncode == 0
