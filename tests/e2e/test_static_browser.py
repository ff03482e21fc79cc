"""Static files in a real Chromium."""

from __future__ import annotations

from pathlib import Path

from ..conftest import route

PAGE = """<!doctype html>
<title>no meta charset</title>
<p id=text>wörld ✓</p>
<script src=app.js></script>
"""
SCRIPT = 'document.body.dataset.said = "grüße";\n'


async def test_a_page_without_meta_charset_reads_as_utf8(browser, proxy_factory, tmp_path):
    # Without a charset from the server, Chromium decodes this page and its classic
    # script as windows-1252: "wÃ¶rld".
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(PAGE, encoding="utf-8")
    (site / "app.js").write_text(SCRIPT, encoding="utf-8")
    proxy = await proxy_factory(route("/", static=Path(site)))
    page = await (await browser.new_context()).new_page()
    await page.goto(proxy.url + "/")
    await page.wait_for_selector("body[data-said]")
    assert await page.evaluate("document.characterSet") == "UTF-8"
    assert await page.inner_text("#text") == "wörld ✓"
    assert await page.get_attribute("body", "data-said") == "grüße"
