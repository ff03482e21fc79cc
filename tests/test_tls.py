"""HTTPS targets: certificate verification on by default, `secure: false` for dev certs."""

from __future__ import annotations

import asyncio
import json
import ssl

import pytest
import trustme
from aiohttp import web

from .conftest import route


@pytest.fixture
async def https_backend(aiohttp_server):
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"secret over {request.scheme}, host {request.host}")

    app = web.Application()
    app.router.add_get("/hello", hello)
    return await aiohttp_server(app, ssl=context)


async def test_self_signed_target_is_refused_with_a_502_naming_secure_false(
        https_backend, proxy_factory, client):
    proxy = await proxy_factory(route("/", f"https://localhost:{https_backend.port}"))
    async with client.get(proxy.url + "/hello") as resp:
        assert resp.status == 502
        doc = json.loads(await resp.text())
    assert doc["reason"] == "tls"
    assert "certificate verification failed" in doc["detail"]
    assert "secure: false" in doc["hint"]


async def test_secure_false_accepts_a_self_signed_target(https_backend, proxy_factory, client):
    proxy = await proxy_factory(route("/", f"https://localhost:{https_backend.port}",
                                      secure=False, change_origin=True))
    async with client.get(proxy.url + "/hello") as resp:
        assert resp.status == 200
        assert await resp.text() == f"secret over https, host localhost:{https_backend.port}"


async def test_http_spoken_to_an_https_port_is_a_clear_502(https_backend, proxy_factory, client):
    proxy = await proxy_factory(route("/", f"http://127.0.0.1:{https_backend.port}"))
    async with client.get(proxy.url + "/hello") as resp:
        assert resp.status == 502
        doc = json.loads(await resp.text())
    assert doc["reason"] in ("protocol", "reset")
    # What to change, not only what happened: Vite with server.https behind http://.
    assert "it speaks HTTPS on that port" in doc["detail"]
    assert f"write the target as https://127.0.0.1:{https_backend.port}" in doc["hint"]
    # The inspector's record says the same, not only that the connection closed.
    async with client.get(proxy.url + "/__devproxy/api/requests") as resp:
        [row] = await resp.json()
    assert row["error"] == doc["detail"]


async def test_a_plain_backend_that_closes_is_not_called_https(proxy_factory, client,
                                                               unused_tcp_port_factory):
    port = unused_tcp_port_factory()

    async def close_at_once(reader, writer) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", port)
    async with server:
        proxy = await proxy_factory(route("/", f"http://127.0.0.1:{port}"))
        async with client.get(proxy.url + "/hello") as resp:
            assert resp.status == 502
            doc = json.loads(await resp.text())
    assert doc["reason"] == "reset" and "HTTPS" not in doc["detail"] + doc["hint"]
