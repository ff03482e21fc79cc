"""The inspector's capture and JSON API over real sockets, and its pure views."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import gzip
import json
import logging
import random
import shlex
import socket
import time
import zlib
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from devproxy import cors
from devproxy.capture import FOLLOW_WAIT, Captures, body_view, header_diff
from devproxy.config import TOKEN_PATTERN, CorsPolicy, Inspector, Limits
from devproxy.cookies import cookie_verdicts
from devproxy.curlcmd import curl
from devproxy.har import har
from devproxy.state import CAPTURES

from .conftest import endless, raw_exchange, route, slow_at

FRONT = "http://localhost:5173"


async def echo_socket(request: web.Request) -> web.WebSocketResponse:
    """A backend's WebSocket that answers each text message with "echo " and it, and
    each binary one with its bytes reversed."""
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    async for message in socket:
        if message.type is aiohttp.WSMsgType.BINARY:
            await socket.send_bytes(message.data[::-1])
        else:
            await socket.send_str("echo " + message.data)
    return socket


async def api(client: aiohttp.ClientSession, proxy: Any, path: str) -> Any:
    async with client.get(f"{proxy.url}/__devproxy/api/{path}") as resp:
        assert resp.status == 200, await resp.text()
        assert "Access-Control-Allow-Origin" not in resp.headers  # never CORS
        return await resp.json()


async def test_a_request_is_captured_as_sent_and_as_forwarded(backend_factory, proxy_factory,
                                                               client) -> None:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True}, headers={
            "Set-Cookie": "sid=1; Path=/; HttpOnly", "Location": "/v1/next"})

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url + "/v1", strip_prefix=True,
                                      change_origin=True))
    async with client.post(proxy.url + "/api/items?x=1", json={"name": "widget"},
                           headers={"X-Custom": "1"}) as resp:
        assert resp.status == 200
    [summary] = await api(client, proxy, "requests")
    assert summary["method"] == "POST" and summary["target"] == "/api/items?x=1"
    assert summary["route"] == "/api" and summary["status"] == 200
    assert summary["upstream_url"] == f"{backend.url}/v1/items?x=1"
    assert summary["bytes_in"] == len(json.dumps({"name": "widget"}))
    assert summary["ttfb_ms"] is not None and summary["connect_ms"] is not None
    detail = await api(client, proxy, f"requests/{summary['id']}")
    assert detail["remote"] == "127.0.0.1"  # the client's address, from its connection
    changes = {c["name"]: c for c in detail["request_changes"]}
    assert changes["host"]["after"] == [f"127.0.0.1:{backend.port}"]  # change_origin
    assert changes["x-forwarded-prefix"]["change"] == "added"
    response_changes = {c["name"]: c for c in detail["response_changes"]}
    assert response_changes["location"]["after"] == ["/api/next"]  # mapped back
    assert json.loads(detail["request_body"]["text"]) == {"name": "widget"}
    assert detail["response_body"]["text"] == '{"ok": true}'
    # Shown re-indented, every token as sent (the page no longer parses and dumps it).
    assert detail["response_body"]["pretty"] == '{\n  "ok": true\n}'
    assert detail["cookies"] == [{"name": "sid", "stored": True, "reason": ""}]
    assert detail["curl"]["upstream"].startswith(f"curl -g -i -X POST '{backend.url}/v1/items?x=1'")
    # the origin the browser asked, read back from its Host field
    assert detail["curl"]["browser"].startswith(f"curl -g -i -X POST '{proxy.url}/api/items?x=1'")
    assert "-H 'X-Custom: 1'" in detail["curl"]["browser"]


async def test_the_cookie_verdict_reads_whether_a_navigation_was_a_frame(
        backend_factory, proxy_factory, client) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="<p>widget</p>", content_type="text/html",
                            headers={"Set-Cookie": "widget=1; Path=/"})

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    verdicts = {}
    for dest in ("iframe", "document"):  # framed by another site, then opened in a tab
        async with client.get(proxy.url + f"/{dest}", headers={
                "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Dest": dest}) as resp:
            assert resp.status == 200
    for row in await api(client, proxy, "requests"):
        [verdicts[row["target"]]] = (await api(client, proxy, f"requests/{row['id']}"))["cookies"]
    assert not verdicts["/iframe"]["stored"]
    assert "from a page in a cross-site frame" in verdicts["/iframe"]["reason"]
    assert verdicts["/document"] == {"name": "widget", "stored": True, "reason": ""}


async def test_cors_verdict_comes_from_the_doctor_checker(backend_factory, proxy_factory,
                                                          client) -> None:
    backend = await backend_factory()
    policy = CorsPolicy(origins=(FRONT,), credentials=True)
    proxy = await proxy_factory(route("/api", backend.url, cors=policy))
    async with client.options(proxy.url + "/api/x", headers={
            "Origin": "http://evil.test", "Access-Control-Request-Method": "PUT"}) as resp:
        assert resp.status == 403
    async with client.get(proxy.url + "/api/x", headers={"Origin": FRONT}) as resp:
        assert resp.status == 200
    allowed, refused = await api(client, proxy, "requests")
    assert refused["kind"] == "preflight" and refused["cross_origin"]
    assert (refused["cors_blocked"], allowed["cors_blocked"]) == (True, False)
    verdict = (await api(client, proxy, f"requests/{refused['id']}"))["cors"]
    assert verdict["allowed"] is False
    assert "doesn't pass access control check" in verdict["reason"]
    assert verdict["fixes"] and verdict["cause"]
    ok = (await api(client, proxy, f"requests/{allowed['id']}"))["cors"]
    assert ok["allowed"] is True and ok["origin"] == FRONT


async def test_a_200_the_browser_blocks_is_marked_blocked_in_the_list(
        backend_factory, proxy_factory, client) -> None:
    # One-origin mode, a backend without CORS headers: a page on another origin gets a
    # 200 it may not read. The list must not show that as a success.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    async with client.get(proxy.url + "/api/x", headers={"Origin": FRONT}) as resp:
        assert resp.status == 200
    async with client.get(proxy.url + "/api/x") as resp:
        assert resp.status == 200
    same_origin, cross = await api(client, proxy, "requests")
    assert (cross["status"], cross["cross_origin"], cross["cors_blocked"]) == (200, True, True)
    assert (same_origin["cross_origin"], same_origin["cors_blocked"]) == (False, False)
    detail = await api(client, proxy, f"requests/{cross['id']}")
    assert detail["cors_blocked"] is True and detail["cors"]["allowed"] is False
    # A cross-site form POST (an OpenID form_post callback) is a navigation: the browser
    # shows its page, CORS plays no part. So is a no-cors fetch (an opaque answer).
    for mode in ("navigate", "no-cors"):
        async with client.post(proxy.url + "/api/callback", headers={
                "Origin": "https://idp.example", "Sec-Fetch-Mode": mode}) as resp:
            assert resp.status == 200
        row = (await api(client, proxy, "requests"))[0]
        assert (row["cross_origin"], row["cors_blocked"]) == (True, False), mode
        assert (await api(client, proxy, f"requests/{row['id']}"))["cors"] is None


async def test_a_refusal_of_devproxys_own_is_marked_declined_and_a_backends_4xx_is_not(
        backend_factory, proxy_factory, client) -> None:
    # The page's "error" filter tells devproxy's own 4xx from a backend's by this.
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=404)

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url))
    async with client.get(proxy.url + "/api/x", headers={"Host": "rebound.example"}) as resp:
        assert resp.status == 403  # not an allowed Host name
    async with client.get(proxy.url + "/api/x") as resp:
        assert resp.status == 404
    backends, refused = await api(client, proxy, "requests")
    assert (refused["status"], refused["declined"]) == (403, True)
    assert (backends["status"], backends["declined"]) == (404, False)


_BACKEND_TOOLS = ("Express", "Django", "Flask", "FastAPI", "nginx")


@pytest.mark.parametrize(("case", "status"), [
    ("down", 502), ("down-preflight", 502), ("timeout", 504), ("cors-mode-unlisted", 502),
])
async def test_devproxys_own_error_is_not_blamed_on_the_backends_cors(
        backend_factory, proxy_factory, client, unused_tcp_port_factory, case: str,
        status: int) -> None:
    # No backend answered: devproxy did. "No CORS support at all" and Express or Django
    # settings sent the developer to a backend that never saw the request.
    settings: dict[str, Any] = {}
    if case == "timeout":
        target = (await backend_factory(slow_at("/api/x", 2))).url
        settings["timeout"] = {"connect": 1, "response": 0.2}
    else:
        target = f"http://127.0.0.1:{unused_tcp_port_factory()}"
    if case == "cors-mode-unlisted":
        settings["cors"] = CorsPolicy(origins=("http://localhost:3000",), line=4)
    proxy = await proxy_factory(route("/api", target, **settings))
    if case == "down-preflight":
        sent = client.options(proxy.url + "/api/x", headers={
            "Origin": FRONT, "Access-Control-Request-Method": "PUT"})
    else:
        sent = client.get(proxy.url + "/api/x", headers={"Origin": FRONT})
    async with sent as resp:
        assert resp.status == status
    [row] = await api(client, proxy, "requests")
    assert row["cors_blocked"] is True  # the page sees a CORS failure, as Chromium says
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    title = "Backend timed out" if case == "timeout" else "Backend not reachable"
    assert verdict["cause"].startswith(
        f"No backend answered this request: devproxy did, with its own {status} ({title}: ")
    assert "no CORS support" not in verdict["cause"]
    tools = [f["tool"] for f in verdict["fixes"]]
    assert tools[0] == "your backend"
    assert not [t for t in tools if t.startswith(_BACKEND_TOOLS)], tools
    first = verdict["fixes"][0]["text"]
    if case == "timeout":
        assert "timeout.response" in verdict["cause"] and "Start the backend" not in first
    else:
        assert first.startswith("Start the backend") and "is the backend running" in first
    if case == "cors-mode-unlisted":
        assert f"{FRONT} is not in its origins" in verdict["cause"]
        assert tools[1:] == ["devproxy (devproxy.yaml line 4)"]
    else:
        assert "a cors: block lets the page read devproxy's errors" in verdict["cause"]
        assert tools[1:] == ["devproxy (devproxy.yaml)"]
        assert verdict["fixes"][1]["text"].startswith(f"cors:\n  origins: [{FRONT}]")


async def test_the_devproxy_fix_edits_the_cors_block_in_force(backend_factory, proxy_factory,
                                                             client) -> None:
    # devproxy refused the origin: its fix must add it to the route's block, not offer a
    # new block with it alone (which would drop the origins already allowed).
    backend = await backend_factory()
    policy = CorsPolicy(origins=(FRONT,), headers=("Content-Type",), line=7)
    proxy = await proxy_factory(route("/api", backend.url, cors=policy))
    async with client.options(proxy.url + "/api/x", headers={
            "Origin": "http://evil.test", "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-token"}) as resp:
        assert resp.status == 403
    [row] = await api(client, proxy, "requests")
    fixes = (await api(client, proxy, f"requests/{row['id']}"))["cors"]["fixes"]
    assert fixes[0] == {"tool": "devproxy (devproxy.yaml line 7)", "text": (
        "cors:   # its keys from devproxy.yaml line 7; keys not shown here stay as they are\n"
        f"  origins: [{FRONT}, http://evil.test]\n"
        "  headers: [Content-Type, x-token]")}


async def test_a_file_from_a_static_folder_blocked_by_cors_gets_no_block_to_add(
        proxy_factory, client, tmp_path, caplog) -> None:
    # Static folders never get CORS headers: a cors: block (already in the file, or to
    # add) would change nothing, so the fix is the page's origin, or another server.
    (tmp_path / "data.json").write_text("{}")
    proxy = await proxy_factory(route("/files", static=tmp_path),
                                cors=CorsPolicy(origins=(FRONT,)))
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        for _ in range(2):
            async with client.get(proxy.url + "/files/data.json", headers={
                    "Origin": FRONT, "Sec-Fetch-Mode": "cors"}) as resp:
                assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
    # The terminal says it too, once: the cors: block in the file looks as if it should.
    said = [r.getMessage() for r in caplog.records if "static folders never" in r.getMessage()]
    assert len(said) == 1 and f"the page at {FRONT} cannot read /files/data.json" in said[0]
    row = (await api(client, proxy, "requests"))[0]
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    assert verdict["allowed"] is False
    assert "static folder of route /files" in verdict["cause"]
    assert [f["tool"] for f in verdict["fixes"]] == ["your page", "devproxy"]
    assert not any("cors:" in f["text"] for f in verdict["fixes"])


async def test_a_preflight_a_static_folder_answered_gets_no_block_to_add(
        proxy_factory, client, tmp_path) -> None:
    # Seen in Chromium 156: a PUT to a static route is preflighted, the folder answers
    # the OPTIONS with 405, and the page sees a CORS error. No cors: block fixes that.
    (tmp_path / "data.json").write_text("{}")
    proxy = await proxy_factory(route("/files", static=tmp_path),
                                cors=CorsPolicy(origins=(FRONT,)))
    async with client.options(proxy.url + "/files/data.json", headers={
            "Origin": FRONT, "Sec-Fetch-Mode": "cors",
            "Access-Control-Request-Method": "PUT"}) as resp:
        assert resp.status == 405
    [row] = await api(client, proxy, "requests")
    assert row["kind"] == "preflight"
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    assert verdict["allowed"] is False
    assert "static folder of route /files" in verdict["cause"]
    assert not any("cors:" in f["text"] for f in verdict["fixes"])


async def test_a_preflight_devproxy_refused_for_its_host_names_allowed_hosts(
        backend_factory, proxy_factory, client) -> None:
    # A name only /etc/hosts knows: devproxy's DNS-rebinding guard answers 403 (with CORS
    # headers), so the preflight fails for want of an ok status. The cors: block is not
    # what to change.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url), cors=CorsPolicy(origins=(FRONT,)))
    async with client.options(proxy.url + "/api/items", headers={
            "Host": f"devapp.test:{proxy.port}", "Origin": FRONT, "Sec-Fetch-Mode": "cors",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"}) as resp:
        assert resp.status == 403
    [row] = await api(client, proxy, "requests")
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    assert verdict["allowed"] is False
    assert verdict["cause"].startswith("devproxy refused this request itself, before its "
                                       "CORS check: devproxy refused a request for Host")
    assert [f["tool"] for f in verdict["fixes"]] == ["devproxy"]
    assert "allowed_hosts: [devapp.test]" in verdict["fixes"][0]["text"]
    assert backend.recorder.seen == []


async def test_the_devproxy_fix_for_a_route_with_cors_off_turns_it_back_on(
        backend_factory, proxy_factory, client) -> None:
    # The top-level block is in the file; the route said cors: false. Offering the block
    # again would change nothing: the fix is that route's line.
    backend = await backend_factory()
    top = CorsPolicy(origins=(FRONT,), line=3)
    proxy = await proxy_factory(route("/api", backend.url, cors=top),
                                dataclasses.replace(route("/nocors", backend.url), line=9),
                                cors=top)
    async with client.get(proxy.url + "/nocors/x", headers={"Origin": FRONT}) as resp:
        assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
    [row] = await api(client, proxy, "requests")
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    assert not verdict["allowed"]
    assert verdict["fixes"][0] == {"tool": "devproxy (devproxy.yaml line 9)", "text": (
        "# route /nocors: delete its 'cors: false', and the top-level block\n"
        "# answers for it as for the other routes, with these keys:\n"
        "cors:   # its keys from devproxy.yaml line 3; keys not shown here stay as they are\n"
        f"  origins: [{FRONT}]")}


async def test_a_verdict_without_a_cookie_names_what_credentials_would_change(
        backend_factory, proxy_factory, client) -> None:
    # fetch(url, {credentials: "include"}) with no cookie yet (a first login) sends
    # nothing that says so: a wildcard the backend keeps passes without credentials
    # and is blocked with them, and the verdict says both.
    async def star(request: web.Request) -> web.Response:
        return web.Response(text="ok", headers={"Access-Control-Allow-Origin": "*"})

    backend = await backend_factory(star)
    policy = CorsPolicy(origins=(FRONT,), backend_cors="keep")
    proxy = await proxy_factory(route("/api", backend.url, cors=policy))
    async with client.get(proxy.url + "/api/x", headers={"Origin": FRONT}) as resp:
        assert resp.status == 200
    async with client.get(proxy.url + "/api/x", headers={"Origin": FRONT,
                                                        "Cookie": "sid=1"}) as resp:
        assert resp.status == 200
    with_cookie, first = await api(client, proxy, "requests")
    verdict = (await api(client, proxy, f"requests/{first['id']}"))["cors"]
    assert verdict["allowed"] is True and verdict["credentials"] is False
    assert "'*' when the request's credentials mode is 'include'" in \
        verdict["with_credentials"]["reason"]
    assert verdict["with_credentials"]["fixes"]
    sent = (await api(client, proxy, f"requests/{with_cookie['id']}"))["cors"]
    assert sent["allowed"] is False and "with_credentials" not in sent


async def test_a_bearer_token_is_not_taken_for_credentials(backend_factory, proxy_factory,
                                                           client) -> None:
    # A page sets Authorization itself, in any credentials mode: with a wildcard and no
    # cookie the browser reads the response, so the verdict must not say "Blocked".
    async def star(request: web.Request) -> web.Response:
        return web.Response(text="ok", headers={"Access-Control-Allow-Origin": "*"})

    backend = await backend_factory(star)
    proxy = await proxy_factory(route("/api", backend.url))
    async with client.get(proxy.url + "/api/me", headers={
            "Origin": FRONT, "Authorization": "Bearer abc"}) as resp:
        assert resp.status == 200
    [row] = await api(client, proxy, "requests")
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    assert verdict["allowed"] is True and verdict["credentials"] is False
    assert "with_credentials" in verdict  # what credentials: "include" would change


async def test_a_preflight_the_backend_answers_is_judged_as_a_preflight(
        backend_factory, proxy_factory, client) -> None:
    # No cors on the route: the backend answers OPTIONS, and misses the asked header.
    async def options(request: web.Request) -> web.Response:
        return web.Response(status=204, headers={"Access-Control-Allow-Origin": "*",
                                                 "Access-Control-Allow-Methods": "PUT"})

    backend = await backend_factory(options)
    proxy = await proxy_factory(route("/api", backend.url))
    async with client.options(proxy.url + "/api/x", headers={
            "Origin": FRONT, "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-token"}) as resp:
        assert resp.status == 204
    async with client.options(proxy.url + "/api/x") as resp:  # a plain OPTIONS is not one
        assert resp.status == 204
    plain, preflight = await api(client, proxy, "requests")
    assert (preflight["kind"], plain["kind"]) == ("preflight", "http")
    verdict = (await api(client, proxy, f"requests/{preflight['id']}"))["cors"]
    assert verdict["allowed"] is False
    assert "Request header field x-token is not allowed" in verdict["reason"]


async def test_a_preflight_allowed_by_chromium_but_not_the_standard_is_marked(
        backend_factory, proxy_factory, client) -> None:
    async def options(request: web.Request) -> web.Response:
        return web.Response(status=204, headers={"Access-Control-Allow-Origin": "*",
                                                 "Access-Control-Allow-Headers": "*"})

    backend = await backend_factory(options)
    proxy = await proxy_factory(route("/api", backend.url))
    async with client.options(proxy.url + "/api/x", headers={
            "Origin": FRONT, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"}) as resp:
        assert resp.status == 204
    [row] = await api(client, proxy, "requests")
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    assert verdict["allowed"] is True
    assert verdict["warning"] == cors.AUTHORIZATION_BY_WILDCARD


# A browser's preflight (Sec-Fetch-Mode: cors, as Chromium sends it) for a PUT.
PREFLIGHT = {"Origin": FRONT, "Access-Control-Request-Method": "PUT",
             "Sec-Fetch-Mode": "cors"}


async def settled(client: aiohttp.ClientSession, proxy: Any, record_id: int,
                  before: dict[str, Any]) -> dict[str, Any]:
    """The preflight's row once it changed from ``before`` (``Captures.settle``)."""
    async with asyncio.timeout(FOLLOW_WAIT + 5):
        while True:
            [row] = [r for r in await api(client, proxy, "requests") if r["id"] == record_id]
            if row != before:
                return row
            await asyncio.sleep(0.05)


async def test_a_preflight_granting_credentials_that_fails_with_them_is_flagged_until_sent(
        backend_factory, proxy_factory, client) -> None:
    # Allow-Credentials: true says the page sends cookies; with them the '*' is a method
    # named '*' and Chromium stops at the preflight. It showed a green 204 "Allowed…
    # Sent without cookies", though a preflight never carries any.
    async def answer(request: web.Request) -> web.Response:
        if request.method == "OPTIONS":
            return web.Response(status=204, headers={
                "Access-Control-Allow-Origin": FRONT, "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Methods": "*"})
        return web.Response(text="ok", headers={"Access-Control-Allow-Origin": FRONT})

    backend = await backend_factory(answer)
    proxy = await proxy_factory(route("/api", backend.url))
    async with client.options(proxy.url + "/api/x", headers=PREFLIGHT) as resp:
        assert resp.status == 204
    [row] = await api(client, proxy, "requests")
    assert (row["kind"], row["status"], row["cors_blocked"]) == ("preflight", 204, True)
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    assert verdict["allowed"] is False and verdict["credentials"] is True
    assert verdict["headline"] == (f"Blocked for {FRONT} if the request is sent with "
                                   "credentials (cookies)")
    assert verdict["note"].startswith("A preflight never carries cookies")
    assert "Access-Control-Allow-Credentials: true" in verdict["note"]
    assert "Method PUT is not allowed" in verdict["reason"]
    assert "answers '*'" in verdict["cause"]
    # The page sent the PUT after all: it did not ask for credentials.
    async with client.put(proxy.url + "/api/x", headers={"Origin": FRONT}) as resp:
        assert resp.status == 200
    row = await settled(client, proxy, row["id"], row)
    assert row["cors_blocked"] is False
    put = (await api(client, proxy, "requests"))[0]
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    assert verdict["allowed"] is True and "headline" not in verdict
    assert f"(#{put['id']})" in verdict["note"]
    assert verdict["with_credentials"]["note"].startswith(
        f"The request it was for (#{put['id']}) followed, so the page sent it without "
        "credentials")


async def test_a_preflight_no_request_followed_is_flagged_as_blocked_with_credentials(
        backend_factory, proxy_factory, client) -> None:
    # '*' passes without credentials, so a page that did not ask for them sends the PUT
    # at once. None came: the page asked for credentials, and the browser stopped here.
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=204, headers={"Access-Control-Allow-Origin": "*",
                                                 "Access-Control-Allow-Methods": "PUT"})

    backend = await backend_factory(answer)
    proxy = await proxy_factory(route("/api", backend.url))
    async with client.get(proxy.url + "/__devproxy/api/events") as feed:
        await read_events(feed, "reset")
        async with client.options(proxy.url + "/api/x", headers=PREFLIGHT) as resp:
            assert resp.status == 204
        # Not a browser's (doctor --preflight-only): nothing is read into what follows.
        async with client.options(proxy.url + "/api/y", headers={
                "Origin": FRONT, "Access-Control-Request-Method": "PUT"}) as resp:
            assert resp.status == 204
        tool, browser = await api(client, proxy, "requests")
        assert (browser["cors_blocked"], tool["cors_blocked"]) == (False, False)
        verdict = (await api(client, proxy, f"requests/{browser['id']}"))["cors"]
        assert verdict["allowed"] is True
        assert verdict["note"] == ("A preflight never carries cookies, whatever the page "
                                   "asked for: this answer passes for a request sent "
                                   "without credentials.")
        strict = verdict["with_credentials"]
        assert strict["note"].startswith("A preflight never carries cookies, whatever the "
                                         "page asked for, so nothing in it says whether the "
                                         "request will be sent with credentials")
        assert "wildcard '*'" in strict["reason"]
        # The list's row is told again, now marked.
        async with asyncio.timeout(FOLLOW_WAIT + 5):
            while True:
                told = (await read_events(feed, "update"))[-1][1]
                if told["id"] == browser["id"] and told["cors_blocked"]:
                    break
    verdict = (await api(client, proxy, f"requests/{browser['id']}"))["cors"]
    assert verdict["allowed"] is False and verdict["headline"].startswith("Blocked for")
    assert "the browser sent no request after it" in verdict["note"]
    assert "'*' when the request's credentials mode is 'include'" in verdict["reason"]
    assert verdict["fixes"]
    tool, _ = await api(client, proxy, "requests")
    assert tool["cors_blocked"] is False


# An Express backend whose cors() allows only Content-Type, as the `cors` package
# answers: the methods and headers it was given, whatever the preflight asked.
EXPRESS_PREFLIGHT = {"Access-Control-Allow-Origin": FRONT, "Vary": "Origin",
                     "Access-Control-Allow-Methods": "GET,HEAD,PUT,PATCH,POST,DELETE",
                     "Access-Control-Allow-Headers": "Content-Type",
                     "X-Powered-By": "Express"}


@pytest.mark.parametrize(("status", "headers", "reason"), [
    pytest.param(204, EXPRESS_PREFLIGHT, "Request header field x-custom is not allowed",
                 id="header-not-listed"),
    pytest.param(401, {"Access-Control-Allow-Origin": FRONT}, "It does not have HTTP ok",
                 id="401"),
    pytest.param(404, {}, "No 'Access-Control-Allow-Origin' header", id="404"),
])
async def test_a_preflight_that_fails_either_way_says_nothing_of_credentials(
        backend_factory, proxy_factory, client, status, headers, reason) -> None:
    # Its first line read "A preflight never carries cookies ...: this answer passes
    # for a request sent without credentials", above the real reason.
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, headers=headers)

    backend = await backend_factory(answer)
    proxy = await proxy_factory(route("/api", backend.url))
    async with client.options(proxy.url + "/api/missing-header", headers={
            **PREFLIGHT, "Access-Control-Request-Headers": "x-custom"}) as resp:
        assert resp.status == status
    [row] = await api(client, proxy, "requests")
    assert row["cors_blocked"] is True and row["cors_if_credentials"] is False
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    assert verdict["allowed"] is False and reason in verdict["reason"]
    assert "note" not in verdict and "headline" not in verdict
    assert "with_credentials" not in verdict


async def test_a_preflight_that_passes_either_way_says_so(backend_factory, proxy_factory,
                                                          client) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=204, headers={**EXPRESS_PREFLIGHT,
                                                 "Access-Control-Allow-Credentials": "true"})

    backend = await backend_factory(answer)
    proxy = await proxy_factory(route("/api", backend.url))
    async with client.options(proxy.url + "/api/x", headers=PREFLIGHT) as resp:
        assert resp.status == 204
    [row] = await api(client, proxy, "requests")
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    assert verdict["allowed"] is True and "with_credentials" not in verdict
    assert verdict["note"] == ("A preflight never carries cookies, whatever the page asked "
                               "for: this answer passes either way, with credentials or "
                               "without.")


async def test_the_express_fix_for_a_missing_header_keeps_the_ones_it_allowed_and_comes_first(
        backend_factory, proxy_factory, client) -> None:
    # allowedHeaders: ['x-custom'] alone replaced the backend's list: JSON POSTs then
    # failed on content-type. X-Powered-By: Express names the stack: its fix first.
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=204, headers=EXPRESS_PREFLIGHT)

    backend = await backend_factory(answer)
    proxy = await proxy_factory(route("/api", backend.url))
    async with client.options(proxy.url + "/api/missing-header", headers={
            **PREFLIGHT, "Access-Control-Request-Headers": "x-custom"}) as resp:
        assert resp.status == 204
    [row] = await api(client, proxy, "requests")
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    first, *others = verdict["fixes"]
    assert first == {"tool": "Express (cors package)", "text": (
        f"app.use(cors({{ origin: '{FRONT}', methods: ['GET', 'HEAD', 'PUT', 'PATCH', "
        "'POST', 'DELETE'], allowedHeaders: ['Content-Type', 'x-custom'] }))\n"
        "// before your routers and any auth middleware, so OPTIONS preflights are "
        "answered")}
    assert [f["tool"] for f in others] == [
        "devproxy (devproxy.yaml)", "Django (django-cors-headers)", "Flask (Flask-CORS)",
        "FastAPI / Starlette (CORSMiddleware)", "nginx"]


async def test_a_star_granting_credentials_marks_a_request_without_a_cookie_blocked_with_them(
        backend_factory, proxy_factory, client) -> None:
    # Express's cors({origin: '*', credentials: true}): a credentialed fetch() with no
    # cookie yet showed a plain green 200 in the list, and the 'blocked' filter missed
    # it. Granting credentials says the page asks for them, as for a preflight.
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"ok": True}, headers={
            "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true"})

    backend = await backend_factory(answer)
    proxy = await proxy_factory(route("/api", backend.url))
    fetch = {"Origin": FRONT, "Sec-Fetch-Mode": "cors"}
    async with client.get(proxy.url + "/api/me", headers=fetch) as resp:
        assert resp.status == 200
    async with client.get(proxy.url + "/api/me", headers={**fetch, "Cookie": "a=1"}) as resp:
        assert resp.status == 200
    with_cookie, first = await api(client, proxy, "requests")
    assert (first["cors_blocked"], first["cors_if_credentials"]) == (True, True)
    verdict = (await api(client, proxy, f"requests/{first['id']}"))["cors"]
    assert verdict["allowed"] is False and verdict["credentials"] is True
    assert verdict["headline"] == (f"Blocked for {FRONT} if the request is sent with "
                                   "credentials (cookies)")
    assert verdict["note"] == (
        "No cookie was sent, as none is until the page has one (a first login). Taken as "
        "sent with credentials (fetch's credentials: 'include', withCredentials): its "
        "answer says Access-Control-Allow-Credentials: true, which only a request sent "
        "with credentials needs.")
    assert "wildcard '*'" in verdict["reason"] and verdict["fixes"]
    assert "with_credentials" not in verdict
    # A cookie went: blocked, no "if" about it.
    assert (with_cookie["cors_blocked"], with_cookie["cors_if_credentials"]) == (True, False)
    assert "headline" not in (await api(client, proxy, f"requests/{with_cookie['id']}"))["cors"]


@pytest.mark.parametrize("preflight", [False, True])
async def test_a_path_no_route_matches_is_blamed_on_the_route_table_not_the_backend(
        backend_factory, proxy_factory, client, preflight) -> None:
    # devproxy's own 404: the verdict blamed a backend with "no CORS support" and gave
    # Express and Django fixes, though no backend saw the request.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    headers = PREFLIGHT if preflight else {"Origin": FRONT, "Sec-Fetch-Mode": "cors"}
    async with client.request("OPTIONS" if preflight else "GET", proxy.url + "/nothing",
                              headers=headers) as resp:
        assert resp.status == 404
    [row] = await api(client, proxy, "requests")
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    assert verdict["allowed"] is False
    assert verdict["cause"].startswith(
        "No backend answered this request: devproxy did, with its own 404, because no "
        f"configured route matches '/nothing' (its routes: /api -> {backend.url}). The "
        "backend's CORS settings play no part")
    assert "With no cors: block at the top level, that error has no CORS headers" \
        in verdict["cause"]
    tools = [f["tool"] for f in verdict["fixes"]]
    assert tools[:2] == ["devproxy", "your page"]
    assert "Express (cors package)" not in tools
    assert backend.recorder.seen == []


async def test_in_cors_mode_a_path_no_route_matches_reaches_a_listed_page_as_its_404(
        backend_factory, proxy_factory, client) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url), cors=CorsPolicy(origins=(FRONT,)))
    for origin in (FRONT, "http://localhost:3000"):
        async with client.get(proxy.url + "/nothing", headers={"Origin": origin}) as resp:
            assert resp.status == 404
    other, listed = await api(client, proxy, "requests")
    assert (await api(client, proxy, f"requests/{listed['id']}"))["cors"]["allowed"] is True
    verdict = (await api(client, proxy, f"requests/{other['id']}"))["cors"]
    assert verdict["cause"].startswith("No backend answered this request: devproxy did, "
                                       "with its own 404, because no configured route")
    assert "http://localhost:3000 is not in its origins" in verdict["cause"]
    assert [f["tool"] for f in verdict["fixes"]] == [
        "devproxy", "your page", "devproxy (devproxy.yaml)"]


@pytest.mark.parametrize(("origin", "method", "says", "tool", "fix"), [
    pytest.param(FRONT, "PUT", f"origin {FRONT} is not in cors.origins", "devproxy",
                 f"origins: [http://localhost:3000, {FRONT}]", id="origin"),
    pytest.param("http://localhost:3000", "patch", "method 'patch' is not upper case",
                 "your page", "Write 'PATCH' in the page's fetch() call", id="method-case"),
    pytest.param("null", "PUT", "origin null is not in cors.origins", "your page",
                 "null", id="null-origin"),
])
async def test_a_preflight_devproxy_refused_blames_its_cors_block(
        backend_factory, proxy_factory, client, origin, method, says, tool, fix) -> None:
    # CORS mode: devproxy answers preflights itself. Refused, the cause is its block or
    # the page, never the backend's auth or CSRF, and no backend config is offered.
    # Bodies are not kept here: the verdict must not depend on them.
    async def never(request: web.Request) -> web.Response:
        raise AssertionError("the backend never sees a preflight in CORS mode")

    backend = await backend_factory(never)
    policy = CorsPolicy(origins=("http://localhost:3000",), line=7)
    proxy = await proxy_factory(route("/api", backend.url, cors=policy),
                                inspector=Inspector(body_limit=0))
    async with client.options(proxy.url + "/api/x", headers={
            "Origin": origin, "Access-Control-Request-Method": method}) as resp:
        assert resp.status == 403
    [row] = await api(client, proxy, "requests")
    verdict = (await api(client, proxy, f"requests/{row['id']}"))["cors"]
    assert verdict["allowed"] is False
    assert verdict["cause"].startswith("devproxy answered this preflight itself")
    assert says in verdict["cause"]
    assert "line 7" in verdict["cause"]
    assert "CSRF" not in verdict["cause"]
    [offered] = verdict["fixes"]
    assert offered["tool"].startswith(tool)
    assert fix in offered["text"]


@pytest.mark.parametrize("backend_cors", ["replace", "keep"])
async def test_a_response_devproxy_gave_cors_headers_blames_its_cors_block(
        backend_factory, proxy_factory, client, backend_cors) -> None:
    # CORS mode writes the CORS headers of every response on the route: a GET from an
    # origin the block does not list is devproxy's doing, not a backend without CORS
    # support, and a backend's CORS config would change nothing.
    async def plain(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    backend = await backend_factory(plain)
    policy = CorsPolicy(origins=("http://localhost:3000",), line=7, backend_cors=backend_cors)
    proxy = await proxy_factory(route("/api", backend.url, cors=policy))
    async with client.get(proxy.url + "/api/x", headers={
            "Origin": "http://localhost:5173", "Cookie": "sid=1"}) as resp:
        assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
    async with client.options(proxy.url + "/api/x", headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"}) as resp:
        assert resp.status == 204  # allowed, though not with credentials (the block's)
    preflight, get = await api(client, proxy, "requests")
    verdict = (await api(client, proxy, f"requests/{get['id']}"))["cors"]
    assert verdict["allowed"] is False
    assert verdict["cause"].startswith("devproxy writes this route's CORS headers")
    assert "http://localhost:5173 is not in its origins" in verdict["cause"]
    assert "line 7" in verdict["cause"]
    assert [f["tool"] for f in verdict["fixes"]] == ["devproxy (devproxy.yaml line 7)"]
    assert "http://localhost:5173" in verdict["fixes"][0]["text"]
    verdict = (await api(client, proxy, f"requests/{preflight['id']}"))["cors"]
    strict = verdict["with_credentials"]
    assert verdict["allowed"] is True
    assert strict["cause"].startswith("devproxy writes this route's CORS headers")
    assert [f["tool"] for f in strict["fixes"]] == ["devproxy (devproxy.yaml line 7)"]
    assert "credentials: true" in strict["fixes"][0]["text"]


async def read_events(stream: aiohttp.ClientResponse, until: str,
                      ) -> list[tuple[str, Any]]:
    """Events of an inspector feed, parsed, up to and including the first ``until``."""
    told: list[tuple[str, Any]] = []
    event = ""
    async with asyncio.timeout(10):
        while not told or told[-1][0] != until:
            line = (await stream.content.readline()).decode()
            if line.startswith("event: "):
                event = line[7:].strip()
            elif line.startswith("data: "):
                told.append((event, json.loads(line[6:])))
    return told


async def test_live_stream_tells_of_each_request(backend_factory, proxy_factory,
                                                 client) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/before") as resp:
        assert resp.status == 200
    async with client.get(proxy.url + "/__devproxy/api/events") as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        # It opens with the list as kept now, so a page needs no fetch racing the stream.
        [(_, rows)] = await read_events(stream, "reset")
        assert [r["target"] for r in rows] == ["/before"]
        async with client.get(proxy.url + "/hello") as resp:
            assert resp.status == 200
        told = await read_events(stream, "update")
    assert [(e, r["target"], r["status"]) for e, r in told] == [
        ("request", "/hello", 0), ("update", "/hello", 200)]


async def test_the_live_socket_tells_what_the_event_stream_does(backend_factory,
                                                                proxy_factory, client) -> None:
    # The page's feed: a socket is not one of the 6 HTTP/1.1 connections Chromium
    # opens to an origin, which the inspector's EventSource took from the app.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/before") as resp:
        assert resp.status == 200
    url = proxy.url + "/__devproxy/api/live"
    async with client.ws_connect(url, headers={"Origin": proxy.url}) as live:
        [[event, rows]] = await live.receive_json(timeout=2)
        assert event == "reset" and [r["target"] for r in rows] == ["/before"]
        async with client.get(proxy.url + "/hello") as resp:
            assert resp.status == 200
        told: list[tuple[str, str, int]] = []
        while len(told) < 2:
            told += [(e, r["target"], r["status"])
                     for e, r in await live.receive_json(timeout=2)]
        assert told == [("request", "/hello", 0), ("update", "/hello", 200)]
        # Stopping closes it as going away: the page reconnects to the next devproxy.
        await proxy.server.stop()
        closed = await live.receive(timeout=2)
        assert (closed.type, closed.data) == (aiohttp.WSMsgType.CLOSE, 1001)


async def test_the_live_socket_is_only_for_the_inspectors_own_page(proxy_factory,
                                                                   client) -> None:
    # No CORS guards a socket: a page on another site could read every request.
    proxy = await proxy_factory()
    url = proxy.url + "/__devproxy/api/live"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(url, headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403
    async with client.get(url) as resp:  # not a socket: said how to ask
        assert resp.status == 426 and "new WebSocket(" in (await resp.json())["error"]


async def test_a_clear_reaches_every_open_page(backend_factory, proxy_factory,
                                              client) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/x") as resp:
        assert resp.status == 200
    async with client.get(proxy.url + "/__devproxy/api/events") as other_tab:
        [(_, rows)] = await read_events(other_tab, "reset")
        assert len(rows) == 1
        async with client.post(proxy.url + "/__devproxy/api/clear",
                               headers={"Origin": proxy.url}) as resp:
            assert resp.status == 200
        [(_, rows)] = await read_events(other_tab, "reset")
        assert rows == []


async def test_a_stream_cleared_while_open_does_not_come_back_when_it_ends(
        backend_factory, proxy_factory, client) -> None:
    # Cleared while open, an event stream was told to the page again as it ended: a
    # row back in the list, behind which the page found a 404.
    backend = await backend_factory(endless("text/event-stream", b"data: one\n\n"))
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/__devproxy/api/events") as page:
        await read_events(page, "reset")
        async with client.get(proxy.url + "/events") as sse:
            assert await sse.content.readline() == b"data: one\n"
            async with client.post(proxy.url + "/__devproxy/api/clear",
                                   headers={"Origin": proxy.url}) as resp:
                assert resp.status == 200
            [*_, (_, rows)] = await read_events(page, "reset")
            assert rows == []
        async with client.get(proxy.url + "/after") as resp:  # ends after the stream
            assert resp.status == 200
        told = await read_events(page, "update")
        while told[-1][1]["target"] != "/after":
            told += await read_events(page, "update")
    assert {row["target"] for _, row in told} == {"/after"}


async def test_a_backend_devproxy_could_not_use_is_marked_with_the_reason(
        proxy_factory, client) -> None:
    # The browser got a 502 that says why; the record had no error, so the list showed
    # a plain 502 and the "error" filter did not find it.
    async def bad_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:  # devproxy's probe: does it speak TLS?
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(bad_head, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with socket.socket() as unused:  # a port with nothing listening
        unused.bind(("127.0.0.1", 0))
        down = unused.getsockname()[1]
    async with server:
        proxy = await proxy_factory(route("/bad", f"http://127.0.0.1:{port}"),
                                    route("/down", f"http://127.0.0.1:{down}"))
        for path in ("/bad", "/down"):
            async with client.get(proxy.url + path) as resp:
                assert resp.status == 502
    rows = await api(client, proxy, "requests")
    assert [(r["target"], r["status"]) for r in rows] == [("/down", 502), ("/bad", 502)]
    assert f"cannot connect to 127.0.0.1:{down}" in rows[0]["error"]
    assert f"127.0.0.1:{port}" in rows[1]["error"]
    har = (await api(client, proxy, "har"))["log"]["entries"]  # oldest first
    assert [entry["_error"] for entry in har] == [rows[1]["error"], rows[0]["error"]]


async def test_a_request_refused_before_routing_is_filed_under_its_route(
        backend_factory, proxy_factory, client) -> None:
    # Refused for too many fields (or a Host not allowed), a request to /api/x showed
    # route "-": the route filter could not find it among /api's requests.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url), route("/", backend.url),
                                limits=Limits(headers=20))
    fields = "".join(f"X-H{i}: v\r\n" for i in range(30))
    answer = await raw_exchange(proxy.port, f"GET /api/x HTTP/1.1\r\nHost: 127.0.0.1:"
                                f"{proxy.port}\r\n{fields}Connection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 431")
    [row] = await api(client, proxy, "requests")
    assert (row["target"], row["route"], row["status"]) == ("/api/x", "/api", 431)
    assert backend.recorder.seen == []


async def test_after_a_burst_the_page_has_each_request_as_it_ended(
        backend_factory, proxy_factory, client) -> None:
    # 500 requests, 100 at a time, while the page reads nothing: whatever the feed sends
    # (events, or the list afresh if it fell behind), each ends as the browser got it.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/__devproxy/api/events") as stream:
        await read_events(stream, "reset")
        for _ in range(5):
            statuses = []
            for resp in await asyncio.gather(*(client.get(proxy.url + "/x")
                                               for _ in range(100))):
                statuses.append(resp.status)
                resp.release()
            assert statuses == [200] * 100
        async with client.get(proxy.url + "/last") as resp:
            assert resp.status == 200
        rows: dict[int, dict[str, Any]] = {}
        while not rows or rows[max(rows)]["target"] != "/last" or \
                rows[max(rows)]["status"] == 0:
            for event, data in await read_events(stream, "update"):
                if event == "reset":
                    rows = {r["id"]: r for r in data}
                else:
                    rows[data["id"]] = data
    newest = sorted(rows)[-500:]  # a list afresh holds the 500 kept; events, every one
    assert newest == list(range(newest[0], newest[0] + 500))
    assert all(r["status"] == 200 for r in rows.values())


async def test_open_streams_are_updated_live_not_only_when_they_end(
        backend_factory, proxy_factory, client) -> None:
    # An SSE stream and a socket stay open; their counts reach the page as they move.
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/ws":
            return await echo_socket(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: one\n\n")
        await asyncio.sleep(30)  # open until the client leaves
        return response

    def updates(seen: bytes, target: str) -> list[dict[str, Any]]:
        rows = [json.loads(line[6:]) for line in seen.split(b"\n")
                if line.startswith(b"data: ")]
        return [r for r in rows if isinstance(r, dict)  # not the opening list
                and r["target"] == target and r["duration_ms"] is None]

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/__devproxy/api/events") as stream, \
            client.get(proxy.url + "/events") as sse, \
            client.ws_connect(proxy.url + "/ws", headers={"Origin": proxy.url}) as ws:
        assert await sse.content.readline() == b"data: one\n"
        await ws.send_str("hi")
        assert (await ws.receive(timeout=5)).data == "echo hi"
        seen = b""
        async with asyncio.timeout(10):
            while not (any(r["bytes_out"] for r in updates(seen, "/events"))
                       and updates(seen, "/ws")):
                seen += await stream.content.readline()
    assert [r["bytes_out"] for r in updates(seen, "/events")][-1] == len(b"data: one\n\n")


async def test_a_request_waiting_on_its_backend_shows_where_it_went(
        backend_factory, proxy_factory, client) -> None:
    # Seen in Chromium: a hung request is when the upstream URL matters, and the list had
    # it only once the answer came.
    answer = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await answer.wait()
        return web.Response(text="late")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/api", backend.url))
    async with client.get(proxy.url + "/__devproxy/api/events") as stream:
        waiting = asyncio.ensure_future(client.get(proxy.url + "/api/slow"))
        try:
            seen: list[dict[str, Any]] = []
            async with asyncio.timeout(10):
                while not any(r["upstream_url"] for r in seen):
                    line = await stream.content.readline()
                    if line.startswith(b"data: "):
                        row = json.loads(line[6:])
                        if isinstance(row, dict) and row["target"] == "/api/slow":
                            seen.append(row)
            assert seen[-1]["upstream_url"] == f"{backend.url}/api/slow"
            assert seen[-1]["status"] == 0 and seen[-1]["duration_ms"] is None  # waiting
        finally:
            answer.set()
            async with await waiting as resp:
                assert await resp.text() == "late"


async def test_binary_websocket_messages_are_shown_as_hex_not_text(
        backend_factory, proxy_factory, client) -> None:
    backend = await backend_factory(echo_socket)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(proxy.url + "/ws", headers={"Origin": proxy.url}) as ws:
        await ws.send_bytes(b"\x00\xffbin")
        assert (await ws.receive()).data == b"nib\xff\x00"
        await ws.send_str("ok")
        assert (await ws.receive()).data == "echo ok"
    await asyncio.sleep(0.1)
    [socket] = await api(client, proxy, "requests")
    last = (await api(client, proxy, f"requests/{socket['id']}"))["websocket"]["last"]
    assert [(m["up"], m["binary"], m["text"], m["size"]) for m in last] == [
        (True, True, "00 ff 62 69 6e", 5), (False, True, "6e 69 62 ff 00", 5),
        (True, False, "ok", 2), (False, False, "echo ok", 7)]
    # HAR keeps them as Chrome's DevTools writes a socket's: binary in base64.
    [entry] = (await api(client, proxy, "har"))["log"]["entries"]
    assert entry["_resourceType"] == "websocket"
    assert [(m["type"], m["opcode"], m["data"], m["_size"])
            for m in entry["_webSocketMessages"]] == [
        ("send", 2, base64.b64encode(b"\x00\xffbin").decode(), 5),
        ("receive", 2, base64.b64encode(b"nib\xff\x00").decode(), 5),
        ("send", 1, "ok", 2), ("receive", 1, "echo ok", 7)]
    assert all(isinstance(m["time"], float) for m in entry["_webSocketMessages"])


async def test_websocket_and_sse_are_shown_with_their_traffic(backend_factory, proxy_factory,
                                                              client) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/ws":
            return await echo_socket(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: one\n\ndata: two\n\n")
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(proxy.url + "/ws", headers={"Origin": proxy.url},
                                 compress=15) as ws:
        assert ws.compress  # permessage-deflate end to end: the inspector inflates to show
        await ws.send_str("hi")
        assert (await ws.receive()).data == "echo hi"
        [open_socket] = await api(client, proxy, "requests")
        assert open_socket["route"] == "/" and open_socket["duration_ms"] is None
        assert open_socket["bytes_in"] > 0 and open_socket["bytes_out"] > 0  # while open
        await ws.close(code=4001, message=b"bye now")
    async with client.get(proxy.url + "/events") as resp:
        await resp.read()
    await asyncio.sleep(0.1)
    events, socket = await api(client, proxy, "requests")
    assert socket["kind"] == "websocket" and events["kind"] == "sse"
    assert socket["upstream_url"] == f"ws://127.0.0.1:{backend.port}/ws"
    detail = await api(client, proxy, f"requests/{socket['id']}")
    assert detail["websocket"]["up"] == 1 and detail["websocket"]["down"] == 1
    assert [m["text"] for m in detail["websocket"]["last"]] == ["hi", "echo hi"]
    closed = detail["websocket"]["closed"]
    assert (closed["by"], closed["code"], closed["reason"]) == ("browser", 4001, "bye now")
    # Bytes each way are the messages' (compressed, as on the wire), not 0.
    sent, echoed = (m["size"] for m in detail["websocket"]["last"])
    assert (socket["bytes_in"], socket["bytes_out"]) == (sent, echoed) and sent > 0
    assert (await api(client, proxy, f"requests/{events['id']}"))["sse_events"] == [
        "data: one", "data: two"]
    # In HAR, though, the handshake's GET and 101 have no body: the messages are not one.
    har_socket, har_events = (await api(client, proxy, "har"))["log"]["entries"]
    assert har_socket["request"]["method"] == "GET" and har_socket["response"]["status"] == 101
    assert har_socket["request"]["bodySize"] == har_socket["response"]["bodySize"] == 0
    assert har_socket["response"]["content"]["size"] == 0
    assert har_events["response"]["bodySize"] > 0


async def test_har_export_is_har_1_2(backend_factory, proxy_factory, client) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/a?b=c") as resp:
        await resp.read()
    log = (await api(client, proxy, "har"))["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "devproxy"
    [entry] = log["entries"]
    assert entry["request"]["url"] == f"{proxy.url}/a?b=c"
    assert entry["request"]["queryString"] == [{"name": "b", "value": "c"}]
    assert entry["response"]["status"] == 200
    assert set(entry["timings"]) >= {"send", "wait", "receive"}
    assert entry["startedDateTime"].endswith("Z")


async def test_a_coded_body_cut_too_short_to_decode_is_cut_not_dropped(
        backend_factory, proxy_factory, client) -> None:
    # Ten bytes of a gzip body decode into nothing: the view said "dropped" (by the
    # memory budget), where the page had kept the ten bytes its limit allows.
    coded = gzip.compress(b"a body longer than ten bytes, in gzip")

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=coded, headers={"Content-Type": "text/plain",
                                                 "Content-Encoding": "gzip"})

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url), inspector=Inspector(body_limit=10))
    async with client.get(proxy.url + "/g") as resp:
        assert await resp.read() == coded  # this client does not decode
    [row] = await api(client, proxy, "requests")
    body = (await api(client, proxy, f"requests/{row['id']}"))["response_body"]
    assert "dropped" not in body
    assert (body["truncated"], body["kept"], body["total"]) == (True, 10, len(coded))


async def test_har_lists_cookies_both_ways_and_a_gzip_bodys_real_size(
        backend_factory, proxy_factory, client) -> None:
    text = "".join(f"line {i}\n" for i in range(500))

    async def handler(request: web.Request) -> web.Response:
        response = web.Response(body=gzip.compress(text.encode()), headers={
            "Content-Type": "text/plain", "Content-Encoding": "gzip"})
        response.headers.add("Set-Cookie", "sid=abc123; Path=/; HttpOnly; SameSite=Lax; "
                             "Expires=Wed, 21 Oct 2037 07:28:00 GMT")
        response.headers.add("Set-Cookie", "theme=dark; Secure")
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/page", headers={
            "Cookie": "a=1; b=two=2", "Accept-Encoding": "gzip"}, auto_decompress=False) as resp:
        wire = len(await resp.read())
    [entry] = (await api(client, proxy, "har"))["log"]["entries"]
    assert entry["request"]["cookies"] == [{"name": "a", "value": "1"},
                                           {"name": "b", "value": "two=2"}]
    assert entry["response"]["cookies"] == [
        {"name": "sid", "value": "abc123", "path": "/", "httpOnly": True, "sameSite": "Lax",
         "expires": "2037-10-21T07:28:00Z"},
        {"name": "theme", "value": "dark", "secure": True}]
    content = entry["response"]["content"]
    # HAR 1.2: size is the body decoded; compression what the coding saved.
    assert (content["size"], content["compression"]) == (len(text), len(text) - wire)
    assert content["text"] == text and entry["response"]["bodySize"] == wire


@pytest.mark.parametrize(("peer", "shown"), [
    (("127.0.0.1", 50123), "127.0.0.1"),
    (("::1", 50123, 0, 0), "::1"),  # IPv6: flow info and scope id follow the port
    ("/run/devproxy.sock", "/run/devproxy.sock"),  # a path, as a Unix socket's peer
    (None, ""),  # a transport that gave none
])
def test_the_client_address_is_read_from_the_peer_kept(peer: object, shown: str) -> None:
    record = Captures().start("GET", "/", peer, ((b"Host", b"x.test"),))
    assert record.remote == shown and record.detail()["remote"] == shown


def test_har_gives_no_decoded_size_for_a_body_decoded_only_in_part() -> None:
    # A gzip bomb shown as its first 4 MiB: that is not the body's size decoded.
    bomb = gzip.compress(b"a" * (5 * 1024 * 1024))
    record = Captures().start("GET", "/big", None, ((b"Host", b"x.test"),))
    record.answered(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    b"Content-Encoding: gzip\r\n\r\n", "text/plain")
    record.download(bomb)
    record.finish(200)
    [entry] = har([record])["log"]["entries"]
    content = entry["response"]["content"]
    assert content["size"] == len(bomb) and "compression" not in content
    assert content["text"].startswith("aaaa")


@pytest.mark.parametrize("length", [3_000_000, 1 << 20])
def test_a_coded_body_decoded_only_up_to_the_limit_is_shown_and_exported_as_cut(
        length: int) -> None:
    # A 3 MB JSON list gzipped to 3 KB was shown as a whole 1.0 MiB, untruncated, its end
    # silently missing; one of exactly 1 MiB is whole.
    end = '"x"], "end": "THE-END"}'
    text = '{"items": [' + '"x", ' * ((length - 11 - len(end)) // 5) + end
    text += " " * (length - len(text))  # JSON may end in white space
    record = Captures().start("GET", "/list", None, ((b"Host", b"x.test"),))
    record.relayed(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                   b"Content-Type: application/json\r\n\r\n", "application/json",
                   time.perf_counter(), 200, b"HTTP/1.1 200 OK\r\n\r\n",
                   gzip.compress(text.encode()))
    shown = record.detail()["response_body"]
    [entry] = har([record])["log"]["entries"]
    content = entry["response"]["content"]
    if length == 1 << 20:
        assert shown["truncated"] is False and "decoded_cut" not in shown
        assert shown["text"] == text
        assert "comment" not in content and content["size"] == length
        return
    assert shown["truncated"] is True and shown["decoded_cut"] == 1 << 20
    assert len(shown["text"]) == 1 << 20 and "THE-END" not in shown["text"]
    assert shown["pretty"].startswith('{\n  "items": [\n    "x",')  # laid out as far as it goes
    assert content["text"] == shown["text"] and "compression" not in content
    assert content["comment"] == "decoded from gzip only up to 1 MiB: the text stops there"


def test_har_says_why_a_body_in_a_coding_it_cannot_decode_is_left_out() -> None:
    record = Captures().start("GET", "/x", None, ((b"Host", b"x.test"),))
    record.relayed(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n"
                   b"Content-Type: application/json\r\n\r\n", "application/json",
                   time.perf_counter(), 200, b"HTTP/1.1 200 OK\r\n\r\n", b"\x1b\x03\x00")
    [entry] = har([record])["log"]["entries"]
    assert entry["response"]["content"]["comment"].startswith("br-encoded, which the "
                                                              "inspector does not decode")


def test_har_gives_no_negative_compression_for_a_tiny_coded_body() -> None:
    record = Captures().start("GET", "/x", None, ((b"Host", b"x.test"),))
    record.relayed(b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n"
                   b"Content-Type: text/plain\r\n\r\n", "text/plain",
                   time.perf_counter(), 200, b"HTTP/1.1 200 OK\r\n\r\n", zlib.compress(b"ok"))
    [entry] = har([record])["log"]["entries"]
    content = entry["response"]["content"]
    assert (content["text"], content["size"]) == ("ok", 2) and "compression" not in content


def test_a_text_body_cut_inside_a_character_is_text_up_to_it() -> None:
    # Cut at the limit in the middle of "€" (3 bytes), UTF-8 text read as binary.
    text = "ü€😀 " * 20
    captures = Captures(body_limit=103)  # 10 bytes a round: 103 is inside a "€"
    record = captures.start("GET", "/t", None, ((b"Host", b"x.test"),))
    record.answered(b"HTTP/1.1 200 Fine\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
                    "text/plain; charset=utf-8")
    record.download(text.encode())
    record.finish(200)
    view = record.response_view()
    assert view is not None and view["truncated"] and not view["binary"]
    kept = text.encode()[:103]
    assert view["text"] == kept[:102].decode()
    [entry] = har([record])["log"]["entries"]
    assert entry["response"]["content"]["text"] == view["text"]
    # Not cut, the same bytes are not text: shown with the broken character marked.
    bad = len(kept) - len(kept[:102].decode().encode())
    assert body_view(kept, False, "text/plain") == {
        "type": "text/plain", "size": 103, "truncated": False, "binary": True,
        "lossy": kept[:102].decode() + "\ufffd" * bad, "bad_bytes": bad}


@pytest.mark.parametrize(("body", "shown"), [
    (b"name=caf\xe9 and more text", ("name=caf\ufffd and more text", 1)),
    (b"\xff" * 20, None),  # mostly not UTF-8: binary
    (b"a\x00b\xff", None),  # a NUL: binary
])
def test_text_with_a_few_bytes_that_are_not_utf_8_is_shown_marked(
        body: bytes, shown: tuple[str, int] | None) -> None:
    view = body_view(body, False, "text/plain; charset=utf-8")
    assert view is not None and view["binary"] and "text" not in view
    assert ((view["lossy"], view["bad_bytes"]) if "lossy" in view else None) == shown
    assert "lossy" not in (body_view(body, False, "text/plain; charset=shift_jis") or {})


@pytest.mark.parametrize(("charset", "shown"), [
    ("hex", None), ("base64", None), ("zlib", None), ("undefined", None),  # no text codecs
    ("us-ascii", "café € \x81"), ("ISO-8859-1", "café € \x81"),  # windows-1252, as browsers
    ("utf-8", None), ("no-such-charset", None),  # not UTF-8, read as UTF-8
])
def test_a_body_is_read_in_its_charset_as_a_browser_reads_it(charset: str,
                                                            shown: str | None) -> None:
    # A charset that names a bytes codec raised out of the detail view and the whole HAR.
    body = b"caf\xe9 \x80 \x81"
    record = Captures().start("POST", "/", None, (
        (b"Host", b"x.test"), (b"Content-Type", f"text/plain; charset={charset}".encode())))
    record.upload(body)
    record.finish(200)
    view = record.detail()["request_body"]
    assert view.get("text") == shown and view["binary"] == (shown is None)
    [entry] = har([record])["log"]["entries"]
    assert ("postData" in entry["request"]) == (shown is not None)


def test_har_gives_the_status_text_the_browser_got() -> None:
    record = Captures().start("GET", "/", None, ((b"Host", b"x.test"),))
    record.relayed(b"HTTP/1.1 404 Nope\r\n", "", time.perf_counter(), 404,
                   b"HTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n", b"")
    streamed = Captures().start("GET", "/", None, ((b"Host", b"x.test"),))
    streamed.browser_response = CIMultiDict({"Content-Type": "text/plain"})
    streamed.finish(201)
    assert [e["response"]["statusText"] for e in har([record, streamed])["log"]["entries"]
            ] == ["Nope", "Created"]  # a head kept as fields: the standard phrase


async def test_har_keeps_a_text_form_upload_as_post_data_with_its_boundary(
        backend_factory, proxy_factory, client) -> None:
    # Left out of postData, a plain form upload had no body in DevTools or Postman.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    form = aiohttp.FormData()
    form.add_field("user", "alice")
    form.add_field("note", "s3cr et é", content_type="text/plain")
    async with client.post(proxy.url + "/form", data=form) as resp:
        await resp.read()
    sent = backend.recorder.last
    [entry] = (await api(client, proxy, "har"))["log"]["entries"]
    post = entry["request"]["postData"]
    assert post["mimeType"] == sent.headers["Content-Type"]
    assert "boundary=" in post["mimeType"]
    assert post["text"].encode() == sent.body
    assert "_content" not in entry["request"]


async def test_har_keeps_a_binary_upload_as_base64_and_text_as_text(
        backend_factory, proxy_factory, client) -> None:
    # A binary body exported as "" would replay as an empty upload, and base64 in
    # postData as a base64 one: HAR 1.2's postData is text only.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url), inspector=Inspector(body_limit=300))
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    latin1 = "café".encode("latin-1")  # typed as text, not UTF-8: bytes all the same
    for path, body, kind in [("/json", '{"name": "é"}'.encode(), "application/json"),
                             ("/png", png, "image/png"), ("/latin1", latin1, "text/plain"),
                             ("/cut", png * 2, "image/png")]:
        async with client.post(proxy.url + path, data=body,
                               headers={"Content-Type": kind}) as resp:
            await resp.read()
    entries = (await api(client, proxy, "har"))["log"]["entries"]
    json_entry, png_entry, latin1_entry, cut_entry = (e["request"] for e in entries)
    assert json_entry["postData"] == {"mimeType": "application/json",
                                      "text": '{"name": "é"}'}
    for entry, body in [(png_entry, png), (latin1_entry, latin1)]:
        assert "postData" not in entry
        assert entry["_requestBodyStatus"] == "discarded:not-representable"
        content = entry["_content"]
        assert (content["encoding"], content["size"]) == ("base64", len(body))
        assert base64.b64decode(content["text"]) == body
    # Cut at the limit: no part passed off as the whole body.
    assert "_content" not in cut_entry
    assert cut_entry["postData"] == {"mimeType": "image/png", "text": "",
                                     "comment": "devproxy kept the first 300 of 528 bytes"}


async def test_har_keeps_a_response_that_is_not_text_in_its_charset_as_base64(
        backend_factory, proxy_factory, client) -> None:
    # HAR 1.2 content may carry bytes as base64 with encoding: "base64"; a latin-1 page
    # was exported with no body at all.
    latin1 = "<p>café</p>".encode("latin-1")
    bodies = {"/page": (latin1, {"Content-Type": "text/html; charset=iso-8859-1"}),
              "/gz": (gzip.compress(latin1), {"Content-Type": "text/plain",
                                              "Content-Encoding": "gzip"}),
              "/cut": (latin1 * 40, {"Content-Type": "text/plain"}),
              "/png": (b"\x89PNG\r\n\x1a\n", {"Content-Type": "image/png"})}

    async def handler(request: web.Request) -> web.Response:
        body, headers = bodies[request.path]
        return web.Response(body=body, headers=headers)

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url), inspector=Inspector(body_limit=300))
    for path in bodies:
        async with client.get(proxy.url + path, headers={"Accept-Encoding": "gzip"},
                              auto_decompress=False) as resp:
            await resp.read()
    entries = (await api(client, proxy, "har"))["log"]["entries"]
    page, coded, cut, png = (e["response"]["content"] for e in entries)
    # The charset it names reads it as text, as the page read it; HAR 1.2: the mimeType
    # is the Content-Type's value, charset included.
    assert (page["text"], page["mimeType"]) == ("<p>café</p>", "text/html; charset=iso-8859-1")
    assert "encoding" not in page
    # None named, and not UTF-8: bytes, the gzip one decoded.
    assert coded["encoding"] == "base64"
    assert base64.b64decode(coded["text"]) == latin1
    assert coded["size"] == len(latin1)  # HAR 1.2: the size decoded
    # HAR 1.2: the bytes the coding saved; none for one the coding made longer.
    saved = len(latin1) - len(bodies["/gz"][0])
    assert coded.get("compression") == (saved if saved > 0 else None)
    # Part of a body, or one whose bytes were never kept, is not passed off as whole.
    assert "text" not in cut and "encoding" not in cut
    assert "text" not in png and png["mimeType"] == "image/png"


async def test_har_timings_add_up_and_a_request_with_no_answer_was_waiting(
        backend_factory, proxy_factory, client) -> None:
    # HAR 1.2: the phases add up to "time". A backend that never answers (504) spent it
    # waiting, not sending a body that never came.
    backend = await backend_factory(slow_at("/slow", 3))
    proxy = await proxy_factory(route("/", backend.url, timeout={"connect": 1, "response": 0.3}))
    for path, status in (("/fast", 200), ("/slow", 504)):
        async with client.get(proxy.url + path) as resp:
            assert resp.status == status
            await resp.read()
    fast, slow = (await api(client, proxy, "har"))["log"]["entries"]
    for entry in (slow, fast):
        phases = [v for v in entry["timings"].values() if v >= 0]
        assert sum(phases) == pytest.approx(entry["time"], abs=0.01)
    assert slow["response"]["status"] == 504
    assert slow["timings"]["receive"] == 0 and slow["timings"]["wait"] >= 250


@pytest.mark.parametrize("framing", ["chunked", "length"])
async def test_har_send_is_the_time_an_upload_took(backend_factory, proxy_factory,
                                                   client, framing: str) -> None:
    # A body sent in two parts 0.4 s apart spent that time sending, not waiting: HAR's
    # "send" was always 0, and for a small body read whole (Content-Length) it stayed 0.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    chunked = framing == "chunked"
    writer.write(b"POST /up HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: text/plain\r\n"
                 % proxy.port + (b"Transfer-Encoding: chunked\r\n" if chunked
                                 else b"Content-Length: 8\r\n")
                 + b"Connection: close\r\n\r\n" + (b"4\r\nabcd\r\n" if chunked else b"abcd"))
    await writer.drain()
    await asyncio.sleep(0.4)
    writer.write(b"4\r\nefgh\r\n0\r\n\r\n" if chunked else b"efgh")
    assert (await reader.read()).startswith(b"HTTP/1.1 200")
    writer.close()
    [entry] = (await api(client, proxy, "har"))["log"]["entries"]
    timings = entry["timings"]
    assert timings["send"] >= 350 and timings["wait"] < 300, timings
    assert sum(v for v in timings.values() if v >= 0) == pytest.approx(entry["time"], abs=0.01)


async def test_a_request_not_kept_says_why(backend_factory, proxy_factory, client) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/x") as resp:
        await resp.read()
    async with client.post(proxy.url + "/__devproxy/api/clear",
                           headers={"Origin": proxy.url}) as resp:
        assert resp.status == 200
    for asked, said in (("1", "request 1 is no longer kept: cleared, or past the last 500"),
                        ("9", "no request 9 yet (the newest is 1)"),
                        ("abc", "'abc' is not a request id (a number, as the list gives)")):
        async with client.get(f"{proxy.url}/__devproxy/api/requests/{asked}") as resp:
            assert resp.status == 404 and (await resp.json())["error"] == said


async def test_changes_need_devproxys_own_origin(backend_factory, proxy_factory,
                                                 client) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/x") as resp:
        await resp.read()
    [record] = await api(client, proxy, "requests")
    replay = f"{proxy.url}/__devproxy/api/requests/{record['id']}/replay"
    async with client.post(replay, headers={"Origin": "http://evil.test"}) as resp:
        assert resp.status == 403
    async with client.post(replay) as resp:  # no Origin, no Sec-Fetch-Site: not a page
        assert resp.status == 403
    async with client.post(replay, headers={"Origin": proxy.url}) as resp:
        assert resp.status == 200 and (await resp.json())["status"] == 200
    assert len(backend.recorder.seen) == 2
    async with client.post(proxy.url + "/__devproxy/api/clear",
                           headers={"Origin": proxy.url}) as resp:
        assert resp.status == 200
    assert await api(client, proxy, "requests") == []


async def test_replay_sends_the_target_and_body_as_the_browser_sent_them(
        backend_factory, proxy_factory) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    target = b"/x%7e%41?page[size]=1&q=a%2bb&e=%zz"
    await raw_exchange(proxy.port, b"POST " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Content-Length: 2\r\nConnection: close\r\n\r\nhi")
    async with aiohttp.ClientSession() as client:
        [record] = await api(client, proxy, "requests")
        # Nothing keeps it from being sent as it was: the page offers Replay.
        assert (await api(client, proxy, f"requests/{record['id']}"))["replay_refused"] is None
        replay = f"{proxy.url}/__devproxy/api/requests/{record['id']}/replay"
        async with client.post(replay, headers={"Origin": proxy.url}) as resp:
            assert resp.status == 200
            answer = await resp.json()
        newest = (await api(client, proxy, "requests"))[0]
    assert answer == {"status": 200, "id": newest["id"]} and newest["id"] > record["id"]
    # Marked as what it is, in the list (live) and the detail; the original is not.
    assert (newest["replay_of"], record["replay_of"]) == (record["id"], None)
    first, again = backend.recorder.seen
    assert again.raw_path == first.raw_path == target.decode()
    assert again.body == b"hi" and "Content-Type" not in again.headers


async def test_a_replay_amid_a_pages_requests_for_its_url_is_the_one_marked(
        backend_factory, proxy_factory, client) -> None:
    # Pages asking for the same URL while a replay is under way: the replay's record is
    # the one from devproxy's own client connection (its address), marked as a replay.
    release, held = asyncio.Event(), []

    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("X-Mark") == "again" and held:  # the replay: held
            await release.wait()
        return web.Response(text=request.headers.get("X-Mark", ""))

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/same", headers={"X-Mark": "again"}) as resp:
        await resp.read()
    held.append(True)
    [first] = await api(client, proxy, "requests")

    async def send_again() -> dict[str, Any]:
        async with client.post(f"{proxy.url}/__devproxy/api/requests/{first['id']}/replay",
                               headers={"Origin": proxy.url}) as resp:
            return await resp.json()  # type: ignore[no-any-return]

    replay = asyncio.create_task(send_again())
    for _ in range(200):  # the replay reached devproxy, and is held at the backend
        if len(await api(client, proxy, "requests")) == 2:
            break
        await asyncio.sleep(0.01)
    # A page's requests for the same URL arrive meanwhile, and are answered first.
    for _ in range(3):
        async with client.get(proxy.url + "/same", headers={"X-Mark": "page"}) as resp:
            assert await resp.text() == "page"
    release.set()
    answer = await replay
    detail = await api(client, proxy, f"requests/{answer['id']}")
    assert ("X-Mark", "again") in [tuple(h) for h in detail["browser_request"]]
    assert detail["replay_of"] == first["id"]


def test_a_record_knows_the_connection_it_came_over() -> None:
    record = Captures().start("GET", "/", ("127.0.0.1", 50000), ())
    assert record.came_from(("127.0.0.1", 50000))
    assert not record.came_from(("127.0.0.1", 50001))
    six = Captures().start("GET", "/", ("::1", 50000, 0, 0), ())
    assert six.came_from(("::1", 50000, 0, 0)) and not six.came_from(("::1", 1, 0, 0))
    assert not Captures().start("GET", "/", None, ()).came_from(("127.0.0.1", 1))


async def test_replaying_a_stream_answers_at_its_head_and_reads_it_on(
        backend_factory, proxy_factory, client) -> None:
    # An event stream never ends: waiting for its end, the replay never answered.
    more = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: one\n\n")
        await more.wait()
        await response.write(b"data: two\n\n")
        await asyncio.sleep(30)  # open until the client leaves
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/events") as sse:
        assert await sse.content.readline() == b"data: one\n"
    [first] = await api(client, proxy, "requests")
    async with asyncio.timeout(5), client.post(
            f"{proxy.url}/__devproxy/api/requests/{first['id']}/replay",
            headers={"Origin": proxy.url}) as resp:
        answer = await resp.json()
    assert answer["status"] == 200 and answer["id"] > first["id"]
    more.set()  # the replayed stream goes on, read as a page would
    for _ in range(100):  # up to 5 s
        detail = await api(client, proxy, f"requests/{answer['id']}")
        if detail["sse_count"] == 2:
            break
        await asyncio.sleep(0.05)
    assert detail["sse_events"] == ["data: one", "data: two"]
    assert detail["duration_ms"] is None  # still open, as the stream is


async def test_replay_keeps_the_host_the_browser_sent(backend_factory, proxy_factory,
                                                      client) -> None:
    # The page is open on 127.0.0.1, the app on localhost: the replay must still say
    # localhost, or its Origin no longer matches and a vhost backend answers another site.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    app_origin = f"http://localhost:{proxy.port}"
    async with client.post(f"{proxy.url}/form", data=b"x", headers={
            "Host": f"localhost:{proxy.port}", "Origin": app_origin}) as resp:
        assert resp.status == 200
    [record] = await api(client, proxy, "requests")
    async with client.post(f"{proxy.url}/__devproxy/api/requests/{record['id']}/replay",
                           headers={"Origin": proxy.url}) as resp:
        assert resp.status == 200
        replayed = await api(client, proxy, f"requests/{(await resp.json())['id']}")
    assert replayed["cors"] is None  # same origin, as the first time
    first, again = backend.recorder.seen
    assert again.headers["X-Forwarded-Host"] == first.headers["X-Forwarded-Host"] == \
        f"localhost:{proxy.port}"


async def test_a_websocket_refused_for_its_origin_is_not_explained_as_cors(
        backend_factory, proxy_factory, client) -> None:
    # Browsers apply no CORS to WebSockets: devproxy's origin check refused it, and the
    # inspector must not say "No 'Access-Control-Allow-Origin' header".
    backend = await backend_factory(echo_socket)
    proxy = await proxy_factory(route("/", backend.url))
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.ws_connect(proxy.url + "/ws", headers={"Origin": "http://evil.test"})
    [row] = await api(client, proxy, "requests")
    # Cross-origin it is, but no CORS check applies: never "blocked by CORS".
    assert (row["kind"], row["status"], row["cross_origin"], row["cors_blocked"]) == \
        ("websocket", 403, True, False)
    detail = await api(client, proxy, f"requests/{row['id']}")
    assert detail["cors"] is None
    assert "Cross-site WebSocket refused" in detail["response_body"]["text"]
    # In HAR a refusal has its body: only a 101 has none.
    [entry] = (await api(client, proxy, "har"))["log"]["entries"]
    assert entry["response"]["bodySize"] == entry["response"]["content"]["size"] > 0
    # Marked with its reason in the list; not forwarded, so nothing "removed" upstream.
    assert row["error"].startswith("refused: a page at http://evil.test may not open")
    assert detail["request_changes"] == [] and detail["response_changes"] == []
    # The ways out, as the log gives them: another server's page (port 80), which no
    # allowed_hosts entry lets in.
    text = detail["response_body"]["text"]
    assert all(fix in text for fix in ("open the page through devproxy", "cors.origins"))
    assert "allowed_hosts" not in text
    async with client.post(f"{proxy.url}/__devproxy/api/requests/{row['id']}/replay",
                           headers={"Origin": proxy.url}) as resp:
        assert resp.status == 409 and "Copy it as curl" in (await resp.json())["error"]


async def test_a_handshake_the_backend_refused_keeps_the_body_that_says_why(
        backend_factory, proxy_factory, client) -> None:
    # The browser and the log got the backend's "forbidden: bad token"; the inspector
    # showed no body, and the HAR had no text.
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=403, text="forbidden: bad token")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(proxy.url + "/ws", headers={"Origin": proxy.url})
    assert caught.value.status == 403
    [row] = await api(client, proxy, "requests")
    detail = await api(client, proxy, f"requests/{row['id']}")
    assert (detail["kind"], detail["status"], detail["bytes_out"]) == ("websocket", 403, 20)
    assert detail["response_body"]["text"] == "forbidden: bad token"
    [entry] = (await api(client, proxy, "har"))["log"]["entries"]
    content = entry["response"]["content"]
    assert (content["text"], content["size"]) == ("forbidden: bad token", 20)
    assert content["mimeType"].startswith("text/plain")


async def test_a_file_from_a_static_route_is_said_to_be_not_kept(proxy_factory, client,
                                                                 tmp_path) -> None:
    # It showed no body and no note, as if the page had got an empty answer.
    (tmp_path / "index.html").write_text("<h1>hi</h1>")
    proxy = await proxy_factory(route("/", static=tmp_path))
    async with client.get(proxy.url + "/") as resp:
        assert await resp.text() == "<h1>hi</h1>"
    [row] = await api(client, proxy, "requests")
    body = (await api(client, proxy, f"requests/{row['id']}"))["response_body"]
    assert body == {"type": "text/html", "size": 11, "truncated": False, "binary": False,
                    "file": True}
    [entry] = (await api(client, proxy, "har"))["log"]["entries"]
    assert "not keep" in entry["response"]["content"]["comment"]
    assert "text" not in entry["response"]["content"]


async def test_status_lists_the_routes_and_what_each_takes(proxy_factory, client,
                                                           tmp_path) -> None:
    proxy = await proxy_factory(route("/api", "http://127.0.0.1:9"),
                                route("/", static=tmp_path))
    routes = (await api(client, proxy, "status"))["routes"]
    assert [(r["path"], r["ws"]) for r in routes] == [("/api", True), ("/", False)]


async def test_a_head_of_the_live_stream_does_not_hold_its_connection(proxy_factory) -> None:
    proxy = await proxy_factory(route("/", "http://127.0.0.1:9"))
    reply = await raw_exchange(
        proxy.port, b"HEAD /__devproxy/api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        b"GET /__devproxy/api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Connection: close\r\n\r\n")
    assert reply.count(b"HTTP/1.1 200 OK") == 2
    assert b'"listen"' in reply  # the second answer came on the same connection


async def test_history_and_body_capture_are_bounded(backend_factory, proxy_factory,
                                                    client) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url),
                                inspector=Inspector(history=3, body_limit=10))
    for i in range(5):
        async with client.post(f"{proxy.url}/{i}", data=b"x" * 100) as resp:
            await resp.read()
    rows = await api(client, proxy, "requests")
    assert [r["target"] for r in rows] == ["/4", "/3", "/2"]
    detail = await api(client, proxy, f"requests/{rows[0]['id']}")
    assert detail["request_body"]["size"] == 10 and detail["request_body"]["truncated"]
    assert detail["bytes_in"] == 100


async def test_inspector_off_means_nothing_is_kept_and_the_prefix_is_404(
        backend_factory, proxy_factory, client) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url), inspector=Inspector(enabled=False))
    async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
        assert resp.status == 404
    assert "__devproxy" not in str(backend.recorder.seen)


async def test_inspector_page_is_served_behind_the_host_check(backend_factory, proxy_factory,
                                                              client) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/__devproxy/") as resp:
        assert resp.status == 200 and "devproxy inspector" in await resp.text()
    async with client.get(proxy.url + "/__devproxy/", headers={"Host": "evil.test"}) as resp:
        assert resp.status == 403


def test_header_diff_marks_added_removed_changed() -> None:
    diff = header_diff([("Host", "a"), ("Connection", "x"), ("Accept", "*/*")],
                       [("Host", "b"), ("Accept", "*/*"), ("X-Forwarded-For", "1")])
    assert diff == [
        {"name": "host", "change": "changed", "before": ["a"], "after": ["b"]},
        {"name": "connection", "change": "removed", "before": ["x"]},
        {"name": "x-forwarded-for", "change": "added", "after": ["1"]},
    ]


@pytest.mark.parametrize(("cookie", "origin", "reason"), [
    ("a=1; SameSite=None", "http://localhost:8080", "SameSite=None requires Secure"),
    ("a=1; Secure", "http://myapp.test:8080", "Secure cookies cannot be set"),
    ("a=1; Secure", "http://localhost:8080", ""),
    ("__Host-a=1; Secure; Path=/api", "https://x.test", "__Host- cookies"),
    ("a=1; Domain=example.com", "http://localhost:8080",
     "does not match localhost, the host that sent it"),
    # Seen in Chromium 156: a single-label Domain is a TLD to it, refused unless the host.
    ("a=1; Domain=.localhost", "http://app.localhost:8080", "names a top-level domain"),
    ("a=1; Domain=localhost", "http://localhost:8080", ""),
    ("a=1; Domain=app.localhost", "http://x.app.localhost:8080", ""),
    ("__host-a=1; Secure; Path=/api", "https://x.test", "__Host- cookies"),
    ("__SECURE-a=1", "https://x.test", "__Secure- cookies need Secure"),
    ("a=1; Partitioned", "http://localhost:8080", "Partitioned cookies need Secure"),
    ("a=1; Partitioned; Secure", "http://localhost:8080", ""),
    ("a=" + "x" * 4096, "http://localhost:8080", "pass 4096 bytes"),
    ("a=" + "x" * 4096 + "; Path=/", "http://localhost:8080", "pass 4096 bytes"),
    ("a=" + "x" * 4095, "http://localhost:8080", ""),
    # Seen in Chromium 156: all of 127.0.0.0/8 is this machine, a secure context.
    ("a=1; Secure", "http://127.0.0.2:8080", ""),
    ("__Host-a=1; Secure; Path=/", "http://127.1.2.3:8080", ""),
    ("a=1; Secure", "http://[::1]:8080", ""),
    # Seen in Chromium 156 on [::1]: a Domain is read as a URL host, IPv6 in brackets.
    ("a=1; Domain=[::1]", "http://[::1]:8080", ""),
    ("a=1; Domain=::1", "http://[::1]:8080", "write Domain=[::1]"),
    ("a=1; Domain=localhost:8080", "http://localhost:8080", "does not match localhost"),
    ("a=1; Secure", "http://128.0.0.1:8080", "Secure cookies cannot be set"),
    # RFC 6265bis §5.6, and Chromium: NoCookieContent, InvalidPrefix.
    ("=", "http://localhost:8080", "neither name nor value"),
    ("=__Host-evil", "http://localhost:8080", "may not begin with __Secure- or __Host-"),
    ("__secure-x", "http://localhost:8080", "may not begin with __Secure- or __Host-"),
    ("=ok", "http://localhost:8080", ""),  # a nameless cookie is otherwise kept
    # An attribute past 1024 bytes is ignored, not the cookie: no Domain to mismatch.
    ("a=1; Domain=" + "x" * 1025, "http://localhost:8080", ""),
    ("a=1; Domain=" + "x" * 1024, "http://localhost:8080", "does not match"),
])
def test_cookie_verdicts(cookie: str, origin: str, reason: str) -> None:
    [verdict] = cookie_verdicts([cookie], origin)
    assert verdict["stored"] is (reason == "")
    assert reason in verdict["reason"]


# Seen in Chromium 156, a page on localhost:38920 calling 127.0.0.1:38901 with fetch().
@pytest.mark.parametrize(("cookie", "site", "mode", "reason", "note"), [
    ("s=1; Path=/; HttpOnly", "cross-site", "cors", "SameSite=Lax (the default", ""),
    ("s=1; SameSite=Lax", "cross-site", "cors", "SameSite=Lax cookies from a cross-site", ""),
    ("s=1; SameSite=Strict", "cross-site", "no-cors", "SameSite=Strict", ""),
    ("s=1; SameSite=None; Secure", "cross-site", "cors", "", "a third-party cookie"),
    ("s=1; SameSite=None; Secure; Partitioned", "cross-site", "cors", "", ""),
    ("s=1; SameSite=Lax", "cross-site", "navigate", "", ""),  # a link from another site
    ("s=1", "same-site", "cors", "", ""),  # localhost:5173 -> localhost:8080
    ("s=1", "", "", "", ""),  # curl: no Sec-Fetch-*, nothing to say
    ("s=; Max-Age=0", "same-origin", "cors", "", "deletes the cookie"),
    ("s=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "", "", "", "deletes the cookie"),
    ("s=1; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "", "", "", ""),
    # An unknown SameSite is ignored (RFC 6265bis §5.6.7): Lax, not None.
    ("s=1; SameSite=Bogus; Secure", "cross-site", "cors", "SameSite=Bogus (unknown", ""),
    ("s=1; SameSite=Bogus", "same-site", "cors", "", "SameSite=Bogus is not a value"),
])
def test_cookie_verdicts_know_the_requests_site(cookie: str, site: str, mode: str,
                                                reason: str, note: str) -> None:
    [verdict] = cookie_verdicts([cookie], "http://127.0.0.1:38901", site, mode,
                                fetch_dest="document" if mode == "navigate" else "empty")
    assert verdict["stored"] is (reason == "")
    assert reason in verdict["reason"]
    assert note in verdict.get("note", "") and bool(note) is ("note" in verdict)


# Seen in Chromium 156: a page on 127.0.0.1 framing localhost:8080 (Sec-Fetch-Mode:
# navigate, Sec-Fetch-Dest: iframe); a nested navigation is not a top-level one.
@pytest.mark.parametrize(("cookie", "dest", "reason", "note"), [
    ("f=1; SameSite=Lax", "iframe", "SameSite=Lax cookies from a page in a cross-site frame",
     ""),
    ("f=1; SameSite=Strict", "frame", "SameSite=Strict", ""),
    ("f=1", "iframe", "SameSite=Lax (the default when unset)", ""),
    ("f=1; SameSite=None; Secure", "iframe", "", "a third-party cookie"),
    ("f=1", "document", "", ""),  # the tab's own page: a top-level navigation
    ("f=1", "", "", ""),  # no Sec-Fetch-Dest (an older browser): taken as top-level
])
def test_a_cross_site_frame_is_not_a_top_level_navigation(cookie: str, dest: str,
                                                          reason: str, note: str) -> None:
    [verdict] = cookie_verdicts([cookie], "http://localhost:8080", "cross-site", "navigate",
                                fetch_dest=dest)
    assert verdict["stored"] is (reason == "")
    assert reason in verdict["reason"]
    assert note in verdict.get("note", "") and bool(note) is ("note" in verdict)


@pytest.mark.parametrize(("mode", "cookie_sent", "unsure"), [
    ("cors", False, True),  # fetch() from another origin: credentials: "include" or not?
    ("", False, True),  # no Sec-Fetch-Mode (an older browser): the same question
    ("cors", True, False),  # it sent a cookie: credentials were included
    ("navigate", False, False),  # a form post from another origin: cookies go along
])
def test_a_cookie_from_another_origin_depends_on_the_credentials_mode(
        mode: str, cookie_sent: bool, unsure: bool) -> None:
    [verdict] = cookie_verdicts(["sid=1; Path=/"], "http://localhost:8080", "same-site",
                                mode, cross_origin=True, cookie_sent=cookie_sent)
    assert verdict["stored"] is True
    assert ("credentials: 'include'" in verdict.get("note", "")) is unsure
    assert verdict.get("needs_credentials", False) is unsure  # what CORS mode logs
    [same_origin] = cookie_verdicts(["sid=1; Path=/"], "http://localhost:8080",
                                    "same-origin", mode, cross_origin=False)
    assert "note" not in same_origin and "needs_credentials" not in same_origin
    # A cookie deleted (a logout) needs credentials too, but is not announced as set;
    # a third-party one is.
    deleted, third_party = cookie_verdicts(
        ["sid=; Max-Age=0", "t=1; SameSite=None; Secure"], "https://api.test",
        "cross-site" if mode else "", mode, cross_origin=True, cookie_sent=cookie_sent)
    assert "needs_credentials" not in deleted
    assert third_party.get("needs_credentials", False) is unsure


def test_cookie_verdicts_carry_the_flags_the_page_sorts_them_by() -> None:
    deleted, third_party, plain = cookie_verdicts(
        ["sid=; Max-Age=0; SameSite=None; Secure", "t=1; SameSite=None; Secure", "a=1"],
        "https://api.test", "cross-site", "cors", cross_origin=True, cookie_sent=True)
    assert deleted["stored"] and deleted.get("deletes") is True
    assert "third_party" not in deleted  # its note says it deletes; one badge
    assert third_party["stored"] and third_party.get("third_party") is True
    assert "deletes" not in third_party
    assert not plain["stored"]  # Lax by default, from a cross-site fetch()
    assert "deletes" not in plain and "third_party" not in plain


def test_a_domain_never_matches_an_ip_host_by_suffix() -> None:
    [verdict] = cookie_verdicts(["a=1; Domain=0.0.1"], "http://127.0.0.1:8080")
    assert not verdict["stored"] and "an IP address matches only itself" in verdict["reason"]


def test_curl_quotes_for_the_shell_and_names_a_rewritten_host() -> None:
    command = curl("POST", "http://127.0.0.1:3000/x", [("Host", "localhost:8080"),
                                                       ("X-A", "it's")], b'{"a": 1}', False)
    assert command == ("curl -g -i -X POST http://127.0.0.1:3000/x -H 'X-A: it'\"'\"'s' "
                       "-H User-Agent: -H Accept: "
                       "-H Content-Type: --data-raw '{\"a\": 1}' -H 'Host: localhost:8080'")


JSON = [("Content-Type", "application/json")]
# curl's own User-Agent and Accept, left out for a request that sent none.
NO_DEFAULTS = ["-H", "User-Agent:", "-H", "Accept:"]
BROWSER = [("User-Agent", "b"), ("Accept", "*/*")]


@pytest.mark.parametrize(("method", "url", "headers", "body", "cut", "argv"), [
    pytest.param("GET", "http://h/x?page[size]=1&sel={a,b}", [], b"", False,
                 ["curl", "-g", "-i", "http://h/x?page[size]=1&sel={a,b}"],
                 id="brackets-and-braces-are-not-globs"),
    pytest.param("HEAD", "http://h/x", [], b"", False, ["curl", "-g", "-I", "http://h/x"],
                 id="head-does-not-wait-for-a-body"),
    pytest.param("POST", "http://h/x", JSON, b"@/etc/passwd", False,
                 ["curl", "-g", "-i", "-X", "POST", "http://h/x", "-H",
                  "Content-Type: application/json", *NO_DEFAULTS, "--data-raw", "@/etc/passwd"],
                 id="a-body-starting-with-at-is-text"),
    pytest.param("GET", "http://h/x", JSON, b"q", False,
                 ["curl", "-g", "-i", "-X", "GET", "http://h/x", "-H",
                  "Content-Type: application/json", *NO_DEFAULTS, "--data-raw", "q"],
                 id="a-get-with-a-body-stays-a-get"),
    pytest.param("POST", "http://h/x", JSON, b"{", True,
                 ["curl", "-g", "-i", "-X", "POST", "http://h/x", "-H",
                  "Content-Type: application/json", *NO_DEFAULTS], id="a-cut-body-is-left-out"),
    # A media range request's: it takes no coding, so --compressed would ask for one.
    pytest.param("GET", "http://h/v", [*BROWSER, ("Accept-Encoding", "identity;q=1, *;q=0")],
                 b"", False, ["curl", "-g", "-i", "http://h/v", "-H", "User-Agent: b",
                              "-H", "Accept: */*", "-H", "Accept-Encoding: identity;q=1, *;q=0"],
                 id="a-list-taking-no-coding-is-sent-as-it-is"),
    pytest.param("GET", "http://h/v", [*BROWSER, ("Accept-Encoding", "gzip;q=0.5, br;q=0")],
                 b"", False, ["curl", "-g", "-i", "http://h/v", "-H", "User-Agent: b",
                              "-H", "Accept: */*", "--compressed"],
                 id="a-list-taking-a-coding-is-compressed"),
])
def test_curl_repeats_the_request(method: str, url: str, headers: list[tuple[str, str]],
                                  body: bytes, cut: bool, argv: list[str]) -> None:
    # As the shell splits it: each option and value its own argument.
    assert shlex.split(curl(method, url, headers, body, cut), comments=True) == argv


async def run_copied(command: str, seconds: float = 5) -> str:
    """Run a copied curl command as a user would paste it into bash; its output."""
    shell = await asyncio.create_subprocess_exec(
        "bash", "-c", f"{command} --max-time {seconds}", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(shell.communicate(), 10)
    return out.decode("utf-8", "replace")


@pytest.mark.parametrize("body", [
    bytes(range(256)) * 3,  # NUL and every other byte: no shell argument holds it
    b"--b\r\nfile: \x00\x00\x00\r\n--b--",  # NULs, yet valid UTF-8 (a form's zeroed file)
])
async def test_copied_curl_sends_a_binary_body_byte_for_byte(
        body: bytes, backend_factory, proxy_factory, client) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    async with client.put(proxy.url + "/blob", data=body,
                          headers={"Content-Type": "application/octet-stream"}) as resp:
        assert resp.status == 200
    [row] = await api(client, proxy, "requests")
    copied = (await api(client, proxy, f"requests/{row['id']}"))["curl"]
    out = await run_copied(copied["upstream"])
    assert out.startswith("HTTP/1.1 200")
    first, again = backend.recorder.seen
    assert again.method == "PUT" and again.body == first.body == body
    assert again.headers["Content-Type"] == "application/octet-stream"


async def test_copied_curl_pastes_a_body_and_header_with_line_ends_and_tabs_byte_for_byte(
        backend_factory, proxy_factory, client) -> None:
    # A multipart body's CRLFs went inside '...' as raw CRs: pasted into an interactive
    # bash each CR became LF, and the backend got another body. A tab there would be
    # read as a completion. As Chrome copies it: $'...\r\n...'.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    # And no "!" after a \' (bash 3.2's history expansion reads one there), and no C1
    # control (U+0085), which a terminal reads as one.
    body = (b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\n'
            b"it's a\tC:\\dir\r\nline\n\x1b[0m caf\xc3\xa9 '!!x \xc2\x85\r\n--b--\r\n")
    await raw_exchange(proxy.port, b"POST /up HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       b"X-Tab: a\tb\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                       b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                       % (proxy.port, len(body), body))
    [row] = await api(client, proxy, "requests")
    copied = (await api(client, proxy, f"requests/{row['id']}"))["curl"]
    for command in (copied["browser"], copied["upstream"]):
        assert not {"\r", "\t", "\x1b", "!", "\x85"} & set(command)  # what pasting changes
        assert (await run_copied(command)).startswith("HTTP/1.1 200")
    first, *again = backend.recorder.seen
    assert first.body == body and first.headers["X-Tab"] == "a\tb"
    assert [(seen.body, seen.headers["X-Tab"]) for seen in again] == [(body, "a\tb")] * 2


async def test_copied_curl_adds_no_user_agent_or_accept_the_request_had_not(
        backend_factory, proxy_factory, client) -> None:
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    await raw_exchange(proxy.port, b"GET /bare HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Connection: close\r\n\r\n")
    [row] = await api(client, proxy, "requests")
    copied = (await api(client, proxy, f"requests/{row['id']}"))["curl"]
    assert (await run_copied(copied["upstream"])).startswith("HTTP/1.1 200")
    first, again = backend.recorder.seen
    for name in ("User-Agent", "Accept"):
        assert name not in first.headers and name not in again.headers


async def test_copied_curl_prints_a_compressed_body_decoded(
        backend_factory, proxy_factory, client) -> None:
    # The browser's Accept-Encoding as it was, curl printed gzip bytes (or failed on a
    # coding it lacks): as Chrome copies it, --compressed takes its place.
    async def handler(request: web.Request) -> web.Response:
        gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
        return web.Response(body=gzip.compress(b"hello, decoded") if gzipped else b"plain",
                            headers={"Content-Encoding": "gzip"} if gzipped else {})

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/g", headers={
            "Accept-Encoding": "gzip, deflate, br, zstd"}, auto_decompress=False) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
    [row] = await api(client, proxy, "requests")
    copied = (await api(client, proxy, f"requests/{row['id']}"))["curl"]
    for command in (copied["browser"], copied["upstream"]):
        assert " --compressed" in command and "Accept-Encoding" not in command
        assert (await run_copied(command)).endswith("\r\n\r\nhello, decoded")


async def test_an_emoji_stays_one_character_in_every_json_the_inspector_writes(
        backend_factory, proxy_factory, client) -> None:
    # JSON writes a character past U+FFFF as a surrogate pair ("\ud83d\udca9"); the
    # low half of many emoji looks like a byte kept as a lone surrogate, and was turned
    # into Latin-1 ("\ud83d\u00a9"), which jq refuses and a page shows as "\ufffd©".
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    emoji = "\U0001f4a9 \U0001f4bb \U0001f4c5"  # 💩 💻 📅, low halves \udca9 \udcbb \udcc5
    await raw_exchange(proxy.port, b"POST /e HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       b"X-Emoji: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                       b"Connection: close\r\n\r\n%s" % (
                           proxy.port, emoji.encode(), len(emoji.encode()), emoji.encode()))
    [row] = await api(client, proxy, "requests")
    async with client.get(f"{proxy.url}/__devproxy/api/requests/{row['id']}") as resp:
        raw = (await resp.read()).decode("ascii")
    assert "\\ud83d\\udca9" in raw and "\\u00a9" not in raw
    detail = json.loads(raw)
    assert ["X-Emoji", emoji] in detail["browser_request"]
    assert detail["request_body"]["text"] == emoji
    assert all(emoji in command for command in detail["curl"].values())
    async with client.get(f"{proxy.url}/__devproxy/api/har") as resp:
        har = (await resp.read()).decode("ascii")
    assert "\\u00a9" not in har
    assert json.loads(har)["log"]["entries"][0]["request"]["postData"]["text"] == emoji


async def test_a_header_byte_that_is_not_utf8_is_shown_copied_and_never_altered(
        backend_factory, proxy_factory, client) -> None:
    # fetch() sends a header value's chars up to U+00FF as single bytes: Chromium sent
    # "é" as 0xE9. It was shown as U+FFFD, copied as curl as U+FFFD's bytes, replayed
    # without the byte, and written into the HAR as a lone surrogate.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    await raw_exchange(proxy.port, b"GET /odd HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       b"X-Odd: it's \"caf\xe9\" \\ \xc3\xbc\r\nConnection: close\r\n\r\n"
                       % proxy.port)
    sent = backend.recorder.last.headers["X-Odd"].encode("utf-8", "surrogateescape")
    assert sent == b"it's \"caf\xe9\" \\ \xc3\xbc"  # forwarded as it came
    [row] = await api(client, proxy, "requests")
    async with client.get(f"{proxy.url}/__devproxy/api/requests/{row['id']}") as resp:
        raw = await resp.read()
    assert b"\\udc" not in raw  # no lone surrogate for a strict JSON reader
    detail = json.loads(raw)
    assert ["X-Odd", 'it\'s "café" \\ ü'] in detail["browser_request"]  # as DevTools shows
    for command in (detail["curl"]["browser"], detail["curl"]["upstream"]):
        assert "$'X-Odd: it\\'s \"caf\\xe9\" \\\\ ü'" in command
        assert (await run_copied(command)).startswith("HTTP/1.1 200")
    assert [seen.headers["X-Odd"].encode("utf-8", "surrogateescape")
            for seen in backend.recorder.seen[1:]] == [sent, sent]  # the byte itself
    har_entry = (await api(client, proxy, "har"))["log"]["entries"][0]
    assert {"name": "X-Odd", "value": 'it\'s "café" \\ ü'} in har_entry["request"]["headers"]
    # The page offers no Replay of it, and says why (the detail knows, not only the POST).
    assert "X-Odd held bytes that are not UTF-8" in detail["replay_refused"]
    async with client.post(f"{proxy.url}/__devproxy/api/requests/{row['id']}/replay",
                           headers={"Origin": proxy.url}) as resp:
        assert resp.status == 409 and "X-Odd held bytes" in (await resp.json())["error"]
    assert len(backend.recorder.seen) == 3  # not sent with the byte dropped


async def test_copied_curl_sends_an_empty_header_and_an_empty_body_as_they_went(
        backend_factory, proxy_factory, client) -> None:
    # curl reads "-H 'X-Empty: '" as "remove X-Empty", and sends no Content-Length for
    # a PATCH without a body; devproxy sent both.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    async with client.patch(proxy.url + "/item", data=b"", headers={"X-Empty": ""}) as resp:
        assert resp.status == 200
    [row] = await api(client, proxy, "requests")
    copied = (await api(client, proxy, f"requests/{row['id']}"))["curl"]
    for command in (copied["browser"], copied["upstream"]):
        assert (await run_copied(command)).startswith("HTTP/1.1 200")
    first, *again = backend.recorder.seen
    for seen in again:
        assert seen.method == "PATCH"
        assert (seen.headers.get("X-Empty"), seen.headers.get("Content-Length")) \
            == (first.headers["X-Empty"], first.headers["Content-Length"]) == ("", "0")


async def test_copied_curl_of_a_websocket_repeats_the_handshake(backend_factory,
                                                                proxy_factory, client) -> None:
    backend = await backend_factory(echo_socket)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.ws_connect(proxy.url + "/ws", headers={"Origin": proxy.url}) as ws:
        await ws.send_str("hi")
        assert (await ws.receive(timeout=5)).data == "echo hi"
    await asyncio.sleep(0.1)
    [row] = await api(client, proxy, "requests")
    copied = (await api(client, proxy, f"requests/{row['id']}"))["curl"]
    for command in (copied["browser"], copied["upstream"]):  # curl ends it at --max-time
        out = await run_copied(command, 0.5)
        assert out.startswith("HTTP/1.1 101 Switching Protocols")


@pytest.mark.parametrize(("body", "comment"), [
    (b"{", "# without its 90000-byte body: the inspector kept 1 of it"),
    (b"", "# without its 90000-byte body: the inspector kept none of it"),
])
def test_curl_says_when_it_leaves_a_body_out(body: bytes, comment: str) -> None:
    # Run as copied, it would send no body: the command says so.
    command = curl("POST", "http://h/x", [], body, True, 90000)
    assert command.endswith("  " + comment)
    assert shlex.split(command, comments=True) == ["curl", "-g", "-i", "-X", "POST", "http://h/x"]


def test_captures_ring_drops_the_oldest() -> None:
    captures = Captures(history=2)
    assert captures.newest_first() == [] and captures.get(1) is None
    for i in range(3):
        captures.start("GET", f"/{i}", None, [])
    assert [r.target for r in captures.newest_first()] == ["/2", "/1"]
    assert har(captures.newest_first())["log"]["version"] == "1.2"
    assert captures.get(1) is None  # its slot now holds request 3
    assert [captures.get(n).target for n in (2, 3)] == ["/1", "/2"]  # type: ignore[union-attr]
    assert captures.get(4) is None and captures.get(0) is None
    captures.clear()
    assert captures.newest_first() == [] and captures.get(3) is None
    assert captures.start("GET", "/after", None, []).id == 4  # ids go on


async def test_the_response_is_shown_as_the_browser_received_it(backend_factory, proxy_factory
                                                                ) -> None:
    # Read off the wire, the head the client got must be the one the inspector shows,
    # with what devproxy added after the backend answered (CORS headers, its framing).
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="hi", headers={"X-Backend": "1", "Set-Cookie": "a=1; Path=/"})

    backend = await backend_factory(handler)
    policy = CorsPolicy(origins=(FRONT,), credentials=True)
    proxy = await proxy_factory(route("/api", backend.url, cors=policy))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(f"GET /api/x HTTP/1.1\r\nHost: 127.0.0.1:{proxy.port}\r\n"
                 f"Origin: {FRONT}\r\nConnection: close\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    await reader.read()
    writer.close()
    received = [tuple(line.split(": ", 1)) for line in head.split("\r\n")[1:] if line]
    captures = proxy.server.app[CAPTURES]
    [record] = captures.newest_first()
    assert [list(pair) for pair in record.browser_response] == [list(p) for p in received]
    names = {name.lower() for name, _ in received}
    assert {"access-control-allow-origin", "x-backend", "set-cookie"} <= names



async def test_the_request_is_shown_field_for_field_as_the_browser_sent_it(
        backend_factory, proxy_factory, client) -> None:
    # Kept packed (capture._pack), the fields must come back as written: order, case,
    # a repeated name, an empty value, and a byte that is not UTF-8 (obs-text, RFC 9110
    # §5.5), which aiohttp decodes with surrogateescape.
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    fields = [("Host", f"127.0.0.1:{proxy.port}"), ("x-MiXeD", "Case"), ("Accept", "*/*"),
              ("X-Twice", "1"), ("X-Empty", ""), ("X-Twice", "2"),
              ("X-Name", "caf\udce9"), ("Connection", "close")]
    lines = "".join(f"{name}: {value}\r\n" for name, value in fields)
    answer = await raw_exchange(proxy.port, f"GET /p HTTP/1.1\r\n{lines}\r\n".encode(
        "utf-8", "surrogateescape"))
    assert answer.startswith(b"HTTP/1.1 200")
    [summary] = await api(client, proxy, "requests")
    detail = await api(client, proxy, f"requests/{summary['id']}")
    # The record keeps the byte; the page is shown it as the Latin-1 character it is,
    # as DevTools shows it (JSON with a lone surrogate is refused by strict readers).
    record = proxy.server.app[CAPTURES].get(summary["id"])
    assert record is not None and list(record.browser_request) == fields
    assert [tuple(pair) for pair in detail["browser_request"]] == [
        (name, "café" if name == "X-Name" else value) for name, value in fields]
    assert "-H 'X-Twice: 1' -H 'X-Empty;' -H 'X-Twice: 2'" in detail["curl"]["browser"]


@pytest.mark.parametrize("head", [
    # aiohttp gives names it knows its own spelling: Node's fetch sends them lower-case.
    "GET /p HTTP/1.1\r\nhost: {host}\r\naccept: */*\r\nuser-agent: node\r\n"
    "connection: close\r\n\r\n",
    # An absolute-form target: its authority is the Host, where Host stood.
    "GET http://{host}/p HTTP/1.1\r\nX-A: 1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
    # ... or, without one (HTTP/1.0 may omit it), last.
    "GET http://{host}/p HTTP/1.0\r\nX-A: 1\r\nx-b: 2\r\n\r\n",
])
async def test_the_names_are_shown_as_the_browser_spelt_them(
        backend_factory, proxy_factory, client, head: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    host = f"127.0.0.1:{proxy.port}"
    answer = await raw_exchange(proxy.port, head.format(host=host).encode())
    assert answer.split(b"\r\n")[0].endswith(b" 200 OK")
    [summary] = await api(client, proxy, "requests")
    detail = await api(client, proxy, f"requests/{summary['id']}")
    browser = record_raw(head, host)
    assert [tuple(pair) for pair in detail["browser_request"]] == [
        (name.decode(), value.decode()) for name, value in browser]


async def test_a_request_without_host_is_recorded_at_the_address_it_reached(
        backend_factory, proxy_factory, client) -> None:
    # HTTP/1.0 may omit Host: the URL in the HAR and the copied curl was "http:///ten",
    # which curl refuses; and the HAR said HTTP/1.1 for both request and response.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    answer = await raw_exchange(proxy.port, b"GET /ten?x=1 HTTP/1.0\r\nUser-Agent: ua\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 200")
    [row] = await api(client, proxy, "requests")
    detail = await api(client, proxy, f"requests/{row['id']}")
    url = f"http://127.0.0.1:{proxy.port}/ten?x=1"
    assert f" '{url}'" in detail["curl"]["browser"]
    [entry] = (await api(client, proxy, "har"))["log"]["entries"]
    assert entry["request"]["url"] == url
    assert entry["request"]["httpVersion"] == entry["response"]["httpVersion"] == "HTTP/1.0"
    assert (await run_copied(detail["curl"]["browser"])).startswith("HTTP/1.1 200")
    assert backend.recorder.seen[-1].raw_path == "/ten?x=1"


async def test_a_request_line_of_another_version_is_recorded_with_it(
        backend_factory, proxy_factory, client) -> None:
    # HTTP/2.0 on an HTTP/1 connection is read as 1.1 to be refused in 1.1; the HAR said
    # the request was HTTP/1.1.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    answer = await raw_exchange(proxy.port, b"GET /two HTTP/2.0\r\nHost: 127.0.0.1:%d\r\n"
                                b"\r\n" % proxy.port)
    assert answer.startswith(b"HTTP/1.1 505")
    [entry] = (await api(client, proxy, "har"))["log"]["entries"]
    assert entry["request"]["httpVersion"] == "HTTP/2.0"
    assert entry["response"]["httpVersion"] == "HTTP/1.1"  # as answered


@pytest.mark.parametrize("version", ["1.1", "1.0"])
async def test_a_streamed_response_keeps_the_backends_reason_phrase(
        backend_factory, proxy_factory, client, version: str) -> None:
    # A head sent before its body (a stream) was kept as fields: its reason phrase came
    # back as the standard one ("OK"), not the one the browser got.
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=201, reason="Made It",
                                      headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await asyncio.sleep(0.1)
        await response.write(b"hi")
        return response

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    answer = await raw_exchange(proxy.port, f"GET /s HTTP/{version}\r\nHost: 127.0.0.1:"
                                f"{proxy.port}\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(f"HTTP/{version} 201 Made It\r\n".encode())
    [entry] = (await api(client, proxy, "har"))["log"]["entries"]
    assert entry["response"]["statusText"] == "Made It"
    [row] = await api(client, proxy, "requests")
    assert (await api(client, proxy, f"requests/{row['id']}"))["reason"] == "Made It"
    assert entry["response"]["httpVersion"] == f"HTTP/{version}"
    assert entry["response"]["content"]["text"] == "hi"


def record_raw(head: str, host: str) -> list[tuple[bytes, bytes]]:
    """The fields of ``head`` as aiohttp's parser reads them (an absolute-form target's
    authority is Host, where the first stood, else last)."""
    lines = head.format(host=host).split("\r\n")[1:-2]
    fields = [tuple(line.encode().split(b": ", 1)) for line in lines]
    if head.startswith("GET http://") and not any(f[0] == b"Host" for f in fields):
        fields.append((b"Host", host.encode()))
    return fields  # type: ignore[return-value]


@pytest.mark.parametrize("method, headers, changed", [
    # The route's own header replaces the browser's where it stood.
    ("GET", (("X-Api-Key", "devproxy"),), ("X-Api-Key", "devproxy")),
    # Max-Forwards is counted down in place (RFC 9110 §7.6.2).
    ("OPTIONS", (), ("Max-Forwards", "2")),
])
async def test_a_field_changed_in_place_is_shown_as_the_browser_sent_it(
        backend_factory, proxy_factory, client, method: str,
        headers: tuple[tuple[str, str], ...], changed: tuple[str, str]) -> None:
    # The fields as the browser sent them, not as devproxy changed them where they stood.
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url, headers=headers))
    fields = [("Host", f"127.0.0.1:{proxy.port}"), ("X-Api-Key", "browser"),
              ("Max-Forwards", "3"), ("Accept", "*/*"), ("Connection", "close")]
    lines = "".join(f"{name}: {value}\r\n" for name, value in fields)
    answer = await raw_exchange(proxy.port, f"{method} /p HTTP/1.1\r\n{lines}\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 200")
    [summary] = await api(client, proxy, "requests")
    detail = await api(client, proxy, f"requests/{summary['id']}")
    assert [tuple(pair) for pair in detail["browser_request"]] == fields
    assert list(changed) in detail["upstream_request"]


def test_request_fields_given_as_a_head_read_back_before_and_after_packing() -> None:
    record = Captures().start("GET", "/", None, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert record.browser_request == (("Host", "x"),)
    record.finish(200)
    assert record.browser_request == (("Host", "x"),)


def test_request_fields_with_name_subclasses_are_kept_as_plain_strings() -> None:
    # marshal packs no subclass of str; multidict's istr names are one.
    fields = CIMultiDict([("Accept", "*/*")])
    record = Captures().start("GET", "/", None, tuple(fields.items()))
    assert record.browser_request == (("Accept", "*/*"),)

def test_bodies_of_old_requests_go_first_when_the_budget_is_reached() -> None:
    captures = Captures(history=500, body_limit=1000, body_budget=10_000)
    for i in range(60):
        record = captures.start("POST", f"/{i}", None, [])
        record.upload(b"x" * 1000)
        # Checked as each request starts: only the newest body can be over the budget.
        assert sum(len(r.request_body) for r in captures.newest_first()) <= 10_000 + 1000
    captures.trim_bodies()
    kept = [r.target for r in captures.newest_first() if r.request_body]
    assert kept == [f"/{i}" for i in range(59, 49, -1)]  # the newest, within 10,000 bytes
    assert len(captures.newest_first()) == 60  # the requests themselves stay


def test_har_cookies_follow_the_browsers_parsing() -> None:
    # RFC 6265bis §5.6: an empty Set-Cookie is ignored; a pair without "=" is a value
    # with an empty name; an empty Path or Domain is ignored; Max-Age wins over Expires.
    record = Captures().start("GET", "/", None, [("Host", "h")])
    lines = ["", "novalue", "a=b; Path=; Domain=; HttpOnly; SameSite=",
             "c=d; Max-Age=3600; Expires=Wed, 21 Oct 2037 07:28:00 GMT", "e=f; Max-Age=x"]
    record.relayed(b"", "text/plain", 0.0, 200, [("Set-Cookie", v) for v in lines], b"")
    before = datetime.datetime.now(datetime.UTC)
    [entry] = har([record])["log"]["entries"]
    cookies = entry["response"]["cookies"]
    assert cookies[:2] == [{"name": "", "value": "novalue"},
                           {"name": "a", "value": "b", "httpOnly": True}]
    expires = datetime.datetime.fromisoformat(cookies[2].pop("expires"))
    assert cookies[2:] == [{"name": "c", "value": "d"}, {"name": "e", "value": "f"}]
    assert datetime.timedelta(seconds=3590) < expires - before < datetime.timedelta(seconds=3610)


def test_a_body_dropped_or_cut_says_so_in_the_detail_and_the_har() -> None:
    # An empty body and one the budget took must not look alike, nor a cut one whole.
    captures = Captures(history=10, body_limit=1000, body_budget=1500)
    types = [("Content-Type", "application/json")]
    first = captures.start("POST", "/first", None, [("Host", "h"), *types])
    first.upload(b"{" + b" " * 899)
    first.relayed(b"", "text/plain", 0.0, 200, types, b"a" * 900)
    second = captures.start("POST", "/second", None, [("Host", "h"), *types])
    second.upload(b"[" + b" " * 1499)
    captures.trim_bodies()
    dropped, cut = first.detail(), second.detail()
    assert dropped["request_body"] == {"type": "application/json", "size": 0,
                                       "truncated": True, "kept": 0, "total": 900,
                                       "dropped": True, "binary": False}
    assert dropped["response_body"]["dropped"] and dropped["response_body"]["total"] == 900
    assert cut["request_body"]["size"] == 1000 and cut["request_body"]["total"] == 1500
    assert "without its 900-byte body" in dropped["curl"]["browser"]
    entries = har([second, first])["log"]["entries"]
    assert entries[0]["request"]["postData"]["comment"] == \
        "devproxy kept the first 1000 of 1500 bytes"
    assert entries[1]["request"]["postData"]["comment"] == "devproxy kept none of 900 bytes"
    assert entries[1]["response"]["content"]["comment"] == "devproxy kept none of 900 bytes"
    assert "text" not in entries[1]["response"]["content"]


@pytest.mark.parametrize("coding", ["br", "gzip"])
def test_a_coded_body_cut_at_the_limit_counts_its_coded_bytes(coding: str) -> None:
    # What was kept and what went by are both coded bytes; the text shown is decoded.
    # A br one cut made the HAR export fail (its view had no total).
    captures = Captures(history=10, body_limit=100)
    record = captures.start("GET", "/x", None, [("Host", "h")])
    text = random.Random(0).randbytes(3000).hex().encode()  # compresses to about half
    coded = gzip.compress(text) if coding == "gzip" else text
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: {coding}\r\n"
    record.answered(head.encode(), "text/plain", 0.0)
    record.download(coded)
    record.finish(200)
    view = record.detail()["response_body"]
    assert (view["truncated"], view["kept"], view["total"]) == (True, 100, len(coded))
    [entry] = har([record])["log"]["entries"]
    assert entry["response"]["content"]["comment"] == \
        f"devproxy kept the first 100 of {len(coded)} bytes" + (
            "; br-encoded, which the inspector does not decode (it decodes gzip and "
            "deflate): not included" if coding == "br" else "")


def test_trimming_takes_the_oldest_bodies_and_counts_them_exactly() -> None:
    captures = Captures(history=50, body_limit=1000, body_budget=5_000)
    for i in range(5000):
        record = captures.start("GET", f"/{i}", None, [])
        record.download(b"x" * (1000 if i % 3 == 0 else 10))
        if i % 7 == 0:
            record.upload(b"u" * 100)
    kept = [r for r in captures.newest_first() if r.request_body or r.response_body]
    assert sum(len(r.request_body) + len(r.response_body) for r in kept) <= 5_000 + 1000
    # The bodies kept are the newest ones: once one went, none older than it is kept.
    ids = [r.id for r in captures.newest_first()]
    assert ids[:len(kept)] == [r.id for r in kept]
    # The running count the budget is checked against is the bytes the ring holds.
    assert captures._tally.kept == sum(len(r.request_body) + len(r.response_body)
                                       for r in captures.newest_first())


def test_a_stream_evicted_from_the_ring_stops_counting_against_the_body_budget() -> None:
    captures = Captures(history=2, body_limit=1000, body_budget=1400)
    stream = captures.start("GET", "/events", None, [])
    stream.download(b"x" * 500)
    for i in range(2):  # pushes the stream out of the ring
        captures.start("GET", f"/{i}", None, [])
    stream.download(b"y" * 500)  # still open, still filling its own record
    newest = captures.start("POST", "/new", None, [])
    newest.upload(b"z" * 1000)
    captures.start("GET", "/next", None, [])
    # Had the evicted stream still counted, 1,500 bytes > 1,400 would trim the newest body.
    assert bytes(newest.request_body) == b"z" * 1000


_TOKEN = st.from_regex(TOKEN_PATTERN, fullmatch=True).filter(lambda name: len(name) < 30)
# A field value as llhttp and h1 let one through: no CR, LF or NUL; inner spaces and
# colons allowed.
_VALUE = st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)),
                 max_size=40).map(str.strip)


@given(st.lists(st.tuples(_TOKEN, _VALUE), max_size=12))
def test_a_kept_header_section_reads_back_as_it_was(fields: list[tuple[str, str]]) -> None:
    # Multidicts are kept as one string (fewer objects in the ring); what the page shows
    # must be the same names, values and order.
    record = Captures().start("GET", "/", None, CIMultiDict(fields))
    record.browser_response = CIMultiDict(fields)
    assert list(record.browser_request) == fields
    assert list(record.browser_response) == fields


@given(st.lists(st.tuples(_TOKEN, _VALUE), max_size=12))
def test_header_fields_kept_as_parsed_read_back_decoded(fields: list[tuple[str, str]]) -> None:
    # A request's fields are kept as aiohttp's parser read them, bytes, and decoded only
    # when shown: as UTF-8, the way aiohttp decodes its own header values.
    raw = tuple((name.encode(), value.encode()) for name, value in fields)
    record = Captures().start("GET", "/", None, raw)
    assert list(record.browser_request) == fields


def test_what_one_record_sets_stays_its_own() -> None:
    # The fields few requests set default on the class; setting one on a record must
    # not show on another.
    captures = Captures()
    socket, other = (captures.start("GET", f"/{i}", None, ()) for i in range(2))
    socket.message(True, b"hello", 5)
    socket.error = "reset"
    socket.kind = "websocket"
    assert socket.messages and socket.ws_up == 1
    assert (other.messages, other.ws_up, other.error, other.kind) == (None, 0, "", "http")


@pytest.mark.parametrize(("content_type", "kind"), [
    ("text/event-stream", "sse"),
    ("Text/Event-Stream; charset=utf-8", "sse"),  # RFC 9110 §8.3.1: case-insensitive
    (" text/event-stream", "sse"),
    ("text/event-streams", "http"),
    ("text/plain", "http"),
])
def test_an_event_stream_is_known_by_its_media_type(content_type: str, kind: str) -> None:
    record = Captures().start("GET", "/events", None, ())
    record.answered(b"HTTP/1.1 200 OK\r\n\r\n", content_type)
    record.download(b"data: one\n\n")
    assert record.kind == kind
    assert record.events == (["data: one"] if kind == "sse" else None)


def test_a_trimmed_stream_keeps_no_more_of_its_body() -> None:
    # Once trimming took a record's bodies it keeps none of what still arrives (a
    # stream): else the budget would be passed with nothing older left to trim, and
    # the newest bodies would go in its place.
    captures = Captures(history=50, body_limit=1000, body_budget=1500)
    stream = captures.start("GET", "/events", None, ())
    stream.download(b"s" * 1000)
    newest = captures.start("GET", "/a", None, ())
    newest.download(b"a" * 1000)
    captures.start("GET", "/b", None, ())  # over budget: the stream's body goes
    assert not stream.response_body and stream.response_body_cut
    stream.download(b"t" * 600)
    captures.start("GET", "/c", None, ())
    assert not stream.response_body and stream.bytes_out == 1600
    assert bytes(newest.response_body) == b"a" * 1000
    assert captures._tally.kept == 1000


async def test_binary_bodies_are_counted_not_kept(backend_factory, proxy_factory,
                                                  client) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path == "/image":
            return web.Response(body=b"\x89PNG" + bytes(5000), content_type="image/png")
        return web.json_response({"ok": True})

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    for path in ("/image", "/data"):
        async with client.get(proxy.url + path) as resp:
            await resp.read()
    await asyncio.sleep(0.1)
    data, image = await api(client, proxy, "requests")
    image_detail = await api(client, proxy, f"requests/{image['id']}")
    # The page shows binary bodies as type and size only, so none is held in memory.
    assert image_detail["response_body"] == {"type": "image/png", "size": 5004,
                                             "truncated": False, "binary": True}
    kept = proxy.server.app[CAPTURES].get(image["id"])
    assert kept is not None and kept.response_body == b""
    data_detail = await api(client, proxy, f"requests/{data['id']}")
    assert data_detail["response_body"]["text"] == '{"ok": true}'


def test_a_header_section_of_a_subclass_is_kept_as_given() -> None:
    # The cheap exact-class checks come first; a subclass of bytes or tuple must still be
    # kept as it is, not taken for a multidict.
    class Head(bytes):
        pass

    record = Captures().start("GET", "/", None, ())
    record.browser_response = Head(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n")
    assert record.browser_response == (("X-A", "1"),)


@pytest.mark.parametrize(("encoding", "encode"), [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),  # raw, as some send
])
async def test_a_compressed_body_is_shown_decoded_and_relayed_as_sent(
        backend_factory, proxy_factory, client, encoding, encode) -> None:
    payload = json.dumps({"items": list(range(50))}).encode()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=encode(payload), headers={
            "Content-Type": "application/json", "Content-Encoding": encoding})

    backend = await backend_factory(handler)
    proxy = await proxy_factory(route("/", backend.url))
    async with client.get(proxy.url + "/x") as resp:
        assert await resp.read() == encode(payload)  # untouched on the way
    [record] = await api(client, proxy, "requests")
    body = (await api(client, proxy, f"requests/{record['id']}"))["response_body"]
    assert (body["text"], body["encoding"], body["binary"]) == (payload.decode(), encoding,
                                                                False)
    [entry] = (await api(client, proxy, "har"))["log"]["entries"]
    assert entry["response"]["content"]["text"] == payload.decode()


def test_a_body_in_a_coding_devproxy_cannot_decode_is_named_not_garbled() -> None:
    captures = Captures()
    record = captures.start("GET", "/x", None, ())
    record.answered(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Encoding: br\r\n\r\n", "application/json")
    record.download(b"\x1b\x03\x00\xf8\xa5")
    view = record.response_view()
    assert view is not None and view["binary"] and view["undecoded"]
    assert view["encoding"] == "br" and "text" not in view


async def test_a_request_is_announced_live_with_its_route(
        backend_factory, proxy_factory, client) -> None:
    # The page filters by route: a request still open must carry it from its first event.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/api", backend.url))
    told: list[tuple[str, str]] = []
    proxy.server.app[CAPTURES].listeners.append(
        lambda event, record: told.append((event, record.summary()["route"])))
    async with client.get(proxy.url + "/api/x") as resp:
        assert resp.status == 200
    assert told[0] == ("request", "/api")


async def test_an_id_that_is_not_a_number_is_404(proxy_factory, client) -> None:
    proxy = await proxy_factory(route("/", "http://127.0.0.1:9"))
    for text in ("abc", "%C2%B2", "-1"):  # "²" passed str.isdigit(), then int() failed
        async with client.get(f"{proxy.url}/__devproxy/api/requests/{text}") as resp:
            assert resp.status == 404, text
            assert "error" in await resp.json()


@pytest.mark.parametrize("pieces", [
    [b"event: tick\n", b"data: 1\n\n", b"event: tick\n", b"data: 2\n\n"],  # as Express writes
    [b"event: tick\ndata: 1\n", b"\nevent: tick\r\ndata: 2\r", b"\n\r\n"],  # split blank lines
    [b"event: tick\ndata: 1\n\nevent: tick\ndata: 2\n\nevent: half"],  # an unfinished third
    # HTML §9.2.6: a line may end with a CR alone; an LF after a CR, in any write, is
    # part of that end.
    [b"event: tick\rdata: 1\r\r", b"event: tick\rdata: 2\r", b"\r"],
    [b"event: tick\r", b"\ndata: 1\r", b"\n\r", b"\nevent: tick\ndata: 2\r\r"],
    [b"event: tick\ndata: 1\r", b"\n", b"\n", b"event: tick\ndata: 2\n\n"],  # LF alone
], ids=["fields-apart", "boundary-split", "unfinished-last", "cr-only", "crlf-split",
        "lf-written-alone"])
def test_sse_events_are_counted_across_writes(pieces: list[bytes]) -> None:
    record = Captures().start("GET", "/events", None, ())
    record.answered(b"HTTP/1.1 200 OK\r\n\r\n", "text/event-stream")
    for piece in pieces:
        record.download(piece)
    assert record.events == ["event: tick\ndata: 1", "event: tick\ndata: 2"]
    assert record.events_seen == 2


def test_sse_blocks_the_browser_dispatches_no_event_for_are_not_counted() -> None:
    # HTML §9.2.6: a block without a data field dispatches nothing: a keep-alive
    # comment, a retry or id alone, an event type alone. "data" with no colon does.
    record = Captures().start("GET", "/events", None, ())
    record.answered(b"HTTP/1.1 200 OK\r\n\r\n", "text/event-stream")
    record.download(b"retry: 1000\r\n: comment\r\n\r\n: ping\n\nid: 7\n\nevent: x\n\n"
                    b"data: 1\n\ndata\n\n: note\ndata: 2\n\n")
    assert record.events == ["data: 1", "data", ": note\ndata: 2"]
    assert record.events_seen == 3


def test_an_event_streams_byte_order_mark_is_not_part_of_its_first_event() -> None:
    # HTML §9.2.6: ignored, split across writes or not; Chromium counts the event.
    record = Captures().start("GET", "/events", None, ())
    record.answered(b"HTTP/1.1 200 OK\r\n\r\n", "text/event-stream")
    for piece in (b"\xef\xbb", b"\xbfdata:\n\n", b"\xef\xbb\xbfdata: 2\n\n"):
        record.download(piece)
    # Only the first: a later one makes the field "\ufeffdata", which is no data field.
    assert record.events == ["data:"] and record.events_seen == 1


def test_sse_events_keep_characters_split_across_writes() -> None:
    # An LLM's tokens, streamed a few bytes at a time: the page shows what the browser
    # decodes, not one replacement character per broken piece.
    record = Captures().start("GET", "/events", None, ())
    record.answered(b"HTTP/1.1 200 OK\r\n\r\n", "text/event-stream; charset=utf-8")
    data = 'data: {"token": "café 😀 你好"}\n\ndata: second é\n\n'.encode()
    for at in range(0, len(data), 3):
        record.download(data[at:at + 3])
    assert record.events == ['data: {"token": "café 😀 你好"}', "data: second é"]


def test_an_event_stream_keeps_its_last_events_and_counts_them_all() -> None:
    record = Captures().start("GET", "/events", None, ())
    record.answered(b"HTTP/1.1 200 OK\r\n\r\n", "text/event-stream")
    for n in range(1, 31):
        record.download(f"data: {n}\n\n".encode())
    record.download(b": ping\n\n")  # a keep-alive comment: no event (its bytes count)
    detail = record.detail()
    assert detail["sse_count"] == 30 and len(detail["sse_events"]) == 20
    assert detail["sse_events"][0] == "data: 11" and detail["sse_events"][-1] == "data: 30"


@pytest.mark.parametrize(("coding", "compressor"), [
    ("gzip", lambda: zlib.compressobj(wbits=31)),
    ("deflate", lambda: zlib.compressobj(wbits=15)),
])
def test_a_compressed_event_stream_shows_its_events(coding: str, compressor: Any) -> None:
    # compression's middleware gzips text/event-stream too, flushing after each event.
    record = Captures().start("GET", "/events", None, ())
    record.answered(f"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\n\r\n".encode(),
                    "text/event-stream")
    stream = compressor()
    for n in (1, 2):
        record.download(stream.compress(f"data: {n}\n\n".encode())
                        + stream.flush(zlib.Z_SYNC_FLUSH))
    assert record.events == ["data: 1", "data: 2"]
    assert record.detail()["sse_unread"] is None


def test_an_event_stream_in_a_coding_not_read_shows_no_garbled_events() -> None:
    record = Captures().start("GET", "/events", None, ())
    record.answered(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\n",
                    "text/event-stream")
    record.download(b"\x8b\x02\x80data: 1\n\n\x03")
    assert not record.events and record.bytes_out == 13
    # Said so, where "0 events" would say the browser got none (it got them all).
    detail = record.detail()
    assert detail["sse_count"] == 0
    assert detail["sse_unread"].startswith("the stream is br-encoded, which the inspector "
                                           "does not decode")


def test_an_sse_event_without_end_keeps_its_start_not_all_of_it() -> None:
    record = Captures().start("GET", "/events", None, ())
    record.answered(b"HTTP/1.1 200 OK\r\n\r\n", "text/event-stream")
    for _ in range(100):
        record.download(b"data: " + b"x" * 1000 + b"\n")
    record.download(b"\n")
    assert record.events is not None and len(record.events[0]) == 500
    assert len(record._sse_rest) == 0


async def test_devproxys_own_answer_is_shown_with_its_type(proxy_factory, client) -> None:
    proxy = await proxy_factory(route("/api", "http://127.0.0.1:9"))  # nothing listens
    async with client.get(proxy.url + "/api/x", headers={"Accept": "application/json"}) as r:
        assert r.status == 502
    [row] = await api(client, proxy, "requests")
    body = (await api(client, proxy, f"requests/{row['id']}"))["response_body"]
    assert body["type"] == "application/problem+json" and "Backend" in body["text"]


async def test_a_method_the_resource_does_not_take_is_405_with_allow(
        proxy_factory, client) -> None:
    # RFC 9110 §15.5.6: the resource exists; 404 said it did not.
    proxy = await proxy_factory(route("/", "http://127.0.0.1:9"))
    base = f"{proxy.url}/__devproxy/"
    own = {"Origin": proxy.url}
    for method, path, allow in (("POST", "api/requests", "GET, HEAD"),
                                ("DELETE", "api/har", "GET, HEAD"),
                                ("GET", "api/clear", "POST"),
                                ("GET", "api/requests/1/replay", "POST"),
                                ("PUT", "", "GET, HEAD")):
        async with client.request(method, base + path, headers=own) as resp:
            assert resp.status == 405, (method, path)
            assert [m.strip() for m in resp.headers["Allow"].split(",")] == allow.split(", ")
            assert allow.split(", ")[0] in (await resp.json())["error"]
    # Nothing there at all: 404, whatever the method.
    for method, path in (("GET", "api/nothing"), ("POST", "api/nothing"), ("PUT", "api/nothing"),
                         ("POST", "api/requests/abc"), ("GET", "api/requests/1/other")):
        async with client.request(method, base + path, headers=own) as resp:
            assert resp.status == 404, (method, path)


async def test_an_upload_form_shows_its_fields_and_files(backend_factory, proxy_factory,
                                                         client) -> None:
    # "The backend says the file is missing": the form's field names answer it.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    form = aiohttp.FormData()
    form.add_field("title", "holiday")
    form.add_field("upload", b"\x89PNG" + bytes(5000), filename="beach.png",
                   content_type="image/png")
    async with client.post(proxy.url + "/photos", data=form) as resp:
        assert resp.status == 200
    assert backend.recorder.last.body.count(b"\x89PNG") == 1  # relayed as sent
    [row] = await api(client, proxy, "requests")
    body = (await api(client, proxy, f"requests/{row['id']}"))["request_body"]
    assert body["type"] == "multipart/form-data" and body["binary"] is True
    assert body["parts"] == [
        {"name": "title", "size": 7, "text": "holiday",
         "type": "text/plain; charset=utf-8"},
        {"name": "upload", "size": 5004, "filename": "beach.png", "type": "image/png"}]


async def test_a_huge_request_head_is_kept_cut_and_said_to_be(
        backend_factory, proxy_factory, client) -> None:
    # Limits allow 128 fields of 64 KiB: 8 MiB a head, kept twice (as sent, as sent
    # upstream) by each of 500 records, was 16 MB of memory a request.
    backend = await backend_factory()
    proxy = await proxy_factory(route("/", backend.url))
    fields = b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 4_000) for n in range(40))
    reply = await raw_exchange(proxy.port, b"GET /big HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s"
                               b"Connection: close\r\n\r\n" % (proxy.port, fields))
    assert reply.startswith(b"HTTP/1.1 200")
    assert backend.recorder.last.headers["X-H39"] == "v" * 4_000  # forwarded whole
    [record] = proxy.server.app[CAPTURES].newest_first()
    assert len(record._browser_request) < 40_000 and len(record.upstream_head) < 40_000
    detail = await api(client, proxy, f"requests/{record.id}")
    assert detail["request_head_cut"] > 160_000
    shown = dict(detail["browser_request"])
    assert shown["X-H0"] == "v" * 256 + "…"
    assert dict(detail["upstream_request"])["X-H0"] == "v" * 256 + "…"
    assert detail["replay_refused"].startswith("its header fields came to ")


def test_a_head_under_the_bound_is_kept_whole_whatever_its_packing_or_characters() -> None:
    # Its packed form ran past 32 KiB (15 bytes a field, where the wire has 4), and it
    # was called cut, and its Replay refused, with every field kept whole. Past the
    # bound, the bytes sent count: a character of CJK text is three of them.
    captures = Captures()
    whole = tuple((b"X-F%02d" % n, b"x" * 310) for n in range(100))  # 31,900 bytes
    record = captures.start("GET", "/", None, whole)
    assert len(record._browser_request) > 32 * 1024
    assert record.head_cut == 0 and record.replay_refusal() is None
    assert dict(record.browser_request)["X-F99"] == "x" * 310
    cjk = tuple((b"X-F%02d" % n, ("漢" * 120).encode()) for n in range(100))
    record = captures.start("GET", "/", None, cjk)
    assert record.head_cut == 100 * (5 + 360 + 4)
    kept = record.browser_request
    assert 80 < len(kept) < 100 and kept[0][1] == "漢" * 120


def test_a_json_body_kept_in_part_is_shown_laid_out_as_far_as_it_goes() -> None:
    # Past the cap it was shown as one unindented block: 64 KiB of an API's answer.
    captures = Captures(body_limit=1024)
    items = json.dumps([{"id": n, "name": f"item {n}"} for n in range(200)]).encode()
    record = captures.start("GET", "/items", None, ())
    record.relayed(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n",
                   "application/json", time.perf_counter(), 200,
                   b"HTTP/1.1 200 OK\r\n\r\n", items)
    shown = record.detail()["response_body"]
    assert shown["truncated"] and shown["kept"] == 1024
    assert shown["pretty"].startswith('[\n  {\n    "id": 0,\n    "name": "item 0"\n  },')
    assert "".join(shown["pretty"].split()) == "".join(shown["text"].split())


def test_a_har_export_holds_a_bounded_amount_of_decoded_text() -> None:
    # Seventy 194 KB gzip bombs made a 1.6 GB export, and held every other request.
    captures = Captures(body_limit=64 * 1024, body_budget=64 * 1024 * 1024)
    bomb = gzip.compress(b"a" * (2 << 20))  # 2 MiB of text, some 2 KiB as sent
    for _ in range(12):
        record = captures.start("GET", "/bomb", None, ())
        record.relayed(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                       b"Content-Type: text/plain\r\n\r\n", "text/plain",
                       time.perf_counter(), 200, b"HTTP/1.1 200 OK\r\n\r\n", bomb)
    shown = captures.newest_first()[0].detail()["response_body"]
    assert len(shown["text"]) == 1 << 20  # decoded to show it: up to 1 MiB
    entries = har(reversed(captures.newest_first()))["log"]["entries"]
    texts = [e["response"]["content"].get("text", "") for e in entries]
    assert sum(map(len, texts)) <= 8 << 20 and texts[0] and not texts[-1]
    assert "past the 8 MiB of decoded text one export holds" in \
        entries[-1]["response"]["content"]["comment"]
