"""CORS mode judged by a real browser: a page on one origin calls devproxy on another."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web

from devproxy.capture import FOLLOW_WAIT
from devproxy.config import CorsPolicy

from ..conftest import route

FETCH = """async (url) => {
  try {
    const response = await fetch(url, {
      method: "PUT", credentials: "include",
      headers: {"Content-Type": "application/json", "Authorization": "Bearer secret"},
      body: JSON.stringify({name: "widget"}),
    });
    return {ok: true, status: response.status, body: await response.json(),
            total: response.headers.get("X-Total-Count"),
            hidden: response.headers.get("X-Internal")};
  } catch (error) {
    return {ok: false, error: String(error)};
  }
}"""


async def page_server(aiohttp_server):
    async def index(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>frontend</title>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    return await aiohttp_server(app)


async def test_browser_accepts_a_credentialed_json_call_from_a_listed_origin_and_blocks_others(
        browser, aiohttp_server, backend_factory, proxy_factory):
    calls: list[str] = []

    async def api(request: web.Request) -> web.Response:
        calls.append(request.method)
        body = await request.json()
        return web.json_response(
            {"saved": body["name"], "auth": request.headers.get("Authorization")},
            headers={"X-Total-Count": "42", "X-Internal": "not exposed",
                     "Access-Control-Allow-Origin": "*"})  # a backend's own, to be replaced

    backend = await backend_factory(api)
    allowed_page = await page_server(aiohttp_server)
    other_page = await page_server(aiohttp_server)
    allowed_origin = f"http://127.0.0.1:{allowed_page.port}"
    policy = CorsPolicy(origins=(allowed_origin,), credentials=True, expose=("X-Total-Count",))
    proxy = await proxy_factory(route("/api", backend.url, cors=policy))
    context = await browser.new_context()

    page = await context.new_page()
    await page.goto(allowed_origin + "/")
    result = await page.evaluate(FETCH, proxy.url + "/api/items/1")
    assert result == {"ok": True, "status": 200, "total": "42", "hidden": None,
                      "body": {"saved": "widget", "auth": "Bearer secret"}}, json.dumps(result)
    assert calls == ["PUT"]  # the preflight was answered by devproxy, never forwarded

    blocked = await context.new_page()
    await blocked.goto(f"http://127.0.0.1:{other_page.port}/")
    result = await blocked.evaluate(FETCH, proxy.url + "/api/items/1")
    assert result["ok"] is False
    assert "Failed to fetch" in result["error"]
    assert calls == ["PUT"]  # the refused preflight kept the PUT from reaching the backend


# The page logs in (with fetch's credentials ``mode``) and asks who it is: whether the
# login's cookie was stored shows in what /api/me got.
SESSION = """async ([base, mode]) => {
  const login = await fetch(base + "/api/login", {method: "POST", credentials: mode});
  const me = await fetch(base + "/api/me", {credentials: "include"});
  return {login: login.status, cookie: (await me.json()).cookie};
}"""


async def session_page(browser, aiohttp_server, backend_factory, proxy_factory):
    """A page on localhost, and devproxy in CORS mode (that origin, credentials allowed)
    in front of a backend whose /api/login sets a session cookie and whose /api/me
    answers with the Cookie it got."""
    async def api(request: web.Request) -> web.Response:
        if request.path == "/api/login":
            response = web.json_response({})
            response.headers["Set-Cookie"] = "sid=1; Path=/; HttpOnly"
            return response
        return web.json_response({"cookie": request.headers.get("Cookie")})

    backend = await backend_factory(api)
    frontend = await page_server(aiohttp_server)
    origin = f"http://localhost:{frontend.port}"
    proxy = await proxy_factory(route("/api", backend.url, cors=CorsPolicy(
        origins=(origin,), credentials=True)))
    page = await (await browser.new_context()).new_page()
    await page.goto(origin + "/")
    return page, proxy


async def test_the_logged_fix_for_a_dropped_session_cookie_works_in_the_browser(
        browser, aiohttp_server, backend_factory, proxy_factory, caplog):
    # A page on localhost calling devproxy as 127.0.0.1 is cross-site: Chromium drops
    # the default (Lax) session cookie and devproxy says so; calling devproxy as
    # localhost, as the line says, keeps it.
    page, proxy = await session_page(browser, aiohttp_server, backend_factory, proxy_factory)

    assert await page.evaluate(SESSION, [proxy.url, "include"]) == \
        {"login": 200, "cookie": None}
    [warning] = [r.getMessage() for r in caplog.records if "'sid'" in r.getMessage()]
    fixed = f"http://localhost:{proxy.port}"
    assert f"call devproxy as {fixed}" in warning

    assert await page.evaluate(SESSION, [fixed, "include"]) == \
        {"login": 200, "cookie": "sid=1"}


async def test_a_login_fetched_without_credentials_is_explained_and_the_fix_works(
        browser, aiohttp_server, backend_factory, proxy_factory, caplog):
    # Same site (localhost both), a cookie the browser would take: a login fetch() at
    # its default credentials mode still never stores it. The log says why; sent with
    # credentials: 'include', as it says, the session sticks.
    page, proxy = await session_page(browser, aiohttp_server, backend_factory, proxy_factory)
    base = f"http://localhost:{proxy.port}"
    with caplog.at_level(logging.INFO, logger="devproxy"):
        assert await page.evaluate(SESSION, [base, "same-origin"]) == \
            {"login": 200, "cookie": None}
    [line] = [r.getMessage() for r in caplog.records if "'sid'" in r.getMessage()]
    assert "keeps it only if the page sent the request with credentials (fetch's " \
           "credentials: 'include'" in line

    assert await page.evaluate(SESSION, [base, "include"]) == \
        {"login": 200, "cookie": "sid=1"}


# A PUT with a custom header, sent with fetch's credentials ``mode``: whether it passed.
PUT_AS = """async ([url, mode]) => {
  try {
    const response = await fetch(url, {method: "PUT", credentials: mode,
                                       headers: {"X-Custom": "1"}});
    return {ok: true, status: response.status};
  } catch (error) {
    return {ok: false};
  }
}"""


async def test_chromium_stops_a_credentialed_put_at_a_star_and_the_inspector_says_why(
        browser, aiohttp_server, backend_factory, proxy_factory):
    # With credentials '*' in Allow-Methods or Allow-Headers is a name, and Chromium
    # fails the preflight (MethodDisallowedByPreflightResponse): the inspector must not
    # show it as a green 204, nor say the list "does not list PUT". Without credentials
    # the same answer passes, and the PUT follows.
    async def api(request: web.Request) -> web.Response:
        origin = request.headers.get("Origin", "")
        cors = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true"}
        if request.method == "OPTIONS":
            star = request.path.rsplit("/", 1)[1]  # "methods" or "headers"
            return web.Response(status=204, headers={
                **cors, "Access-Control-Allow-Methods": "*" if star == "methods" else "PUT",
                "Access-Control-Allow-Headers": "*" if star == "headers" else "X-Custom"})
        return web.json_response({}, headers=cors)

    backend = await backend_factory(api)
    frontend = await page_server(aiohttp_server)
    proxy = await proxy_factory(route("/api", backend.url))
    page = await (await browser.new_context()).new_page()
    await page.goto(f"http://127.0.0.1:{frontend.port}/")
    for star in ("methods", "headers"):
        url = f"{proxy.url}/api/{star}/{{}}/{star}"
        assert await page.evaluate(PUT_AS, [url.format("include"), "include"]) == {"ok": False}
        assert await page.evaluate(PUT_AS, [url.format("omit"), "omit"]) == \
            {"ok": True, "status": 200}

    async def rows() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as client, \
                client.get(proxy.url + "/__devproxy/api/requests") as resp:
            return list(await resp.json())

    async def verdict(row: dict[str, Any]) -> dict[str, Any]:
        async with aiohttp.ClientSession() as client, \
                client.get(f"{proxy.url}/__devproxy/api/requests/{row['id']}") as resp:
            return dict((await resp.json())["cors"])

    await asyncio.sleep(FOLLOW_WAIT + 0.5)  # for what followed each preflight to be seen
    preflights = {r["target"]: r for r in await rows() if r["kind"] == "preflight"}
    for star, field in (("methods", "Methods"), ("headers", "Headers")):
        stopped = preflights[f"/api/{star}/include/{star}"]
        assert (stopped["status"], stopped["cors_blocked"]) == (204, True)
        said = await verdict(stopped)
        assert said["headline"].endswith("if the request is sent with credentials (cookies)")
        assert "the browser sent no request after it" in said["note"]
        assert said["cause"].startswith(f"The preflight's Access-Control-Allow-{field} "
                                        "answers '*'")
        passed = preflights[f"/api/{star}/omit/{star}"]
        assert passed["cors_blocked"] is False
        said = await verdict(passed)
        assert said["allowed"] is True and "followed" in said["with_credentials"]["note"]

    # The page says so: the row marked, the verdict's own words, no "Sent without cookies".
    inspector = await (await browser.new_context()).new_page()
    await inspector.goto(proxy.url + "/__devproxy/")
    preflight = inspector.locator("#list tbody tr").filter(has_text="preflight")
    row = preflight.filter(has_text="/api/methods/include/")
    await row.locator(".badge.cors.blocked").wait_for()
    await row.click()
    await inspector.wait_for_selector("#cors-verdict")
    shown = await inspector.inner_text("#cors-verdict")
    assert f"Blocked for http://127.0.0.1:{frontend.port} if the request is sent with " \
           "credentials (cookies)" in shown
    assert "A preflight never carries cookies" in shown and "Sent without" not in shown
    await preflight.filter(has_text="/api/methods/omit/").click()
    await inspector.wait_for_selector("#cors-credentials")
    assert "followed, so the page sent it without credentials" in \
        await inspector.inner_text("#cors-credentials")
    assert "No cookie was sent" not in await inspector.inner_text("#cors-credentials")


async def test_the_list_marks_a_star_granting_credentials_and_a_preflight_shows_every_fix(
        browser, aiohttp_server, backend_factory, proxy_factory):
    # Express's cors({origin: '*', credentials: true}) answers a credentialed fetch()
    # that Chromium then blocks; no cookie went, and the list showed a green 200 that
    # the 'blocked' filter did not find. Its cors() allowing only Content-Type fails a
    # preflight for X-Custom: the Express fix comes first, all six are there.
    async def api(request: web.Request) -> web.Response:
        if request.method == "OPTIONS":
            return web.Response(status=204, headers={
                "Access-Control-Allow-Origin": request.headers["Origin"], "Vary": "Origin",
                "Access-Control-Allow-Methods": "GET,HEAD,PUT,PATCH,POST,DELETE",
                "Access-Control-Allow-Headers": "Content-Type", "X-Powered-By": "Express"})
        return web.json_response({}, headers={"Access-Control-Allow-Origin": "*",
                                              "Access-Control-Allow-Credentials": "true"})

    backend = await backend_factory(api)
    frontend = await page_server(aiohttp_server)
    proxy = await proxy_factory(route("/api", backend.url))
    page = await (await browser.new_context()).new_page()
    await page.goto(f"http://localhost:{frontend.port}/")
    assert await page.evaluate("""async (base) => {
      const tries = [fetch(base + "/api/me", {credentials: "include"}),
                     fetch(base + "/api/missing-header", {headers: {"X-Custom": "1"}})];
      return (await Promise.allSettled(tries)).map((t) => t.status);
    }""", proxy.url) == ["rejected", "rejected"]

    inspector = await (await browser.new_context()).new_page()
    await inspector.goto(proxy.url + "/__devproxy/")
    rows = inspector.locator("#list tbody tr")
    me = rows.filter(has_text="/api/me")
    await me.locator(".badge.cors.blocked", has_text="blocked with credentials").wait_for()
    assert await me.locator("td.status").inner_text() == "200 ✕"
    for text, shown in (("blocked", 2), ("blocked with credentials", 1), ("cors", 2)):
        await inspector.fill("#filter-text", text)
        await inspector.wait_for_function(
            f"document.querySelectorAll('#list tbody tr').length === {shown}")
    await inspector.fill("#filter-text", "")
    await me.click()
    await inspector.wait_for_selector("#cors-verdict")
    shown = await inspector.inner_text("#cors-verdict")
    assert "if the request is sent with credentials (cookies)" in shown
    assert "Access-Control-Allow-Credentials: true" in shown

    await rows.filter(has_text="preflight").click()
    await inspector.wait_for_selector("#cors-verdict .more-fixes")
    verdict = inspector.locator("#cors-verdict")
    assert "A preflight never carries cookies" not in await verdict.inner_text()
    tools = verdict.locator("h4")
    assert await tools.first.inner_text() == "Express (cors package)"
    assert "allowedHeaders: ['Content-Type', 'x-custom']" in \
        await verdict.locator("pre").first.inner_text()
    more = verdict.locator(".more-fixes summary")
    assert await more.inner_text() == ("3 more fixes: Flask (Flask-CORS), FastAPI / "
                                       "Starlette (CORSMiddleware), nginx")
    assert not await tools.nth(5).is_visible()
    await more.click()
    await tools.nth(5).wait_for()
    assert await tools.all_inner_texts() == [
        "Express (cors package)", "devproxy (devproxy.yaml)", "Django (django-cors-headers)",
        "Flask (Flask-CORS)", "FastAPI / Starlette (CORSMiddleware)", "nginx"]


async def test_a_cross_site_none_cookie_chromium_blocks_is_called_third_party(
        browser, aiohttp_server, backend_factory, proxy_factory):
    # A page on localhost, devproxy as 127.0.0.1: cross-site. Headless Chromium blocks
    # third-party cookies (UserPreferences), so the SameSite=None; Secure login cookie
    # never comes back; the inspector said "stored" with a "needs credentials" badge.
    async def api(request: web.Request) -> web.Response:
        cors = {"Access-Control-Allow-Origin": request.headers.get("Origin", ""),
                "Access-Control-Allow-Credentials": "true"}
        if request.path == "/api/login":
            return web.json_response({}, headers={
                **cors, "Set-Cookie": "sid=1; Path=/; SameSite=None; Secure"})
        return web.json_response({"cookie": request.headers.get("Cookie")}, headers=cors)

    backend = await backend_factory(api)
    frontend = await page_server(aiohttp_server)
    proxy = await proxy_factory(route("/api", backend.url))
    page = await (await browser.new_context()).new_page()
    await page.goto(f"http://localhost:{frontend.port}/")
    assert await page.evaluate(SESSION, [proxy.url, "include"]) == \
        {"login": 200, "cookie": None}

    inspector = await (await browser.new_context()).new_page()
    await inspector.goto(proxy.url + "/__devproxy/")
    await inspector.locator("#list tbody tr").filter(has_text="/api/login").click()
    cookie = inspector.locator("#cookies .cookie")
    await cookie.wait_for()
    assert await cookie.locator(".badge").inner_text() == "third-party"
    said = await cookie.locator(".why").inner_text()
    assert said.startswith("a third-party cookie, which browsers that block third-party "
                           "cookies drop")
    assert f"have the page call devproxy as http://localhost:{proxy.port}" in said
