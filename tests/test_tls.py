"""HTTPS targets: certificate verification on by default, `secure: false` for dev certs."""

from __future__ import annotations

import asyncio
import json
import ssl

import pytest
import trustme
from aiohttp import web

from .conftest import route, taking_no_connection
from .test_inspector import api, run_copied


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


async def test_a_trusted_certificate_for_another_name_is_not_called_self_signed(
        aiohttp_server, proxy_factory, client, tmp_path, monkeypatch):
    # `secure: false` would hide the real mistake: a target naming the wrong host.
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("api.example.test").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # trusted, as a real CA
    app = web.Application()
    server = await aiohttp_server(app, ssl=context)
    proxy = await proxy_factory(route("/", f"https://localhost:{server.port}"))
    async with client.get(proxy.url + "/hello") as resp:
        doc = json.loads(await resp.text())
    assert doc["reason"] == "tls" and "mismatch" in doc["detail"].lower()
    assert doc["hint"].startswith("the certificate is for other names")
    assert "secure: false" not in doc["hint"]


async def test_a_tls_server_refusing_the_name_asked_is_not_told_to_check_https(
        proxy_factory, client):
    # A server with certificates for other names only (Caddy's sites, chosen by SNI)
    # answers the ClientHello with a fatal alert: a TLS server, whatever the hint said.
    async def alerting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)  # the ClientHello
        writer.write(b"\x15\x03\x03\x00\x02\x02\x50")  # fatal internal_error
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(alerting, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        proxy = await proxy_factory(route("/", f"https://127.0.0.1:{port}"))
        async with client.get(proxy.url + "/x") as resp:
            doc = json.loads(await resp.text())
    finally:
        server.close()
    assert doc["reason"] == "tls" and "ALERT" in doc["detail"]
    assert doc["hint"] == ("the server refused the handshake: does it have a certificate "
                           "for 127.0.0.1 (the name devproxy asks for)?")


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


async def test_a_certificate_refused_on_one_loopback_outranks_a_timeout_on_the_other(
        proxy_factory, client):
    # localhost: 127.0.0.1 takes no connection (its queue full), ::1 answers with a
    # certificate devproxy does not trust. The 502 names the certificate, which is
    # what to fix, not a connect timeout.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("localhost", "::1").configure_cert(context)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with taking_no_connection("127.0.0.1") as port:
        server = await asyncio.start_server(serve, "::1", port, ssl=context)
        try:
            proxy = await proxy_factory(route("/", f"https://localhost:{port}",
                                              timeout={"connect": 1.0}))
            async with client.get(proxy.url + "/hello") as resp:
                assert resp.status == 502
                doc = json.loads(await resp.text())
        finally:
            server.close()
    assert doc["reason"] == "tls", doc


async def test_copied_curl_to_a_secure_false_backend_skips_its_check_too(
        https_backend, proxy_factory, client):
    # The copy "to the backend" is for testing it without devproxy: curl refused the dev
    # certificate devproxy was told to take (curl: (60) self-signed certificate).
    proxy = await proxy_factory(route("/", f"https://localhost:{https_backend.port}",
                                      secure=False))
    async with client.get(proxy.url + "/hello") as resp:
        assert resp.status == 200
    [row] = await api(client, proxy, "requests")
    copied = (await api(client, proxy, f"requests/{row['id']}"))["curl"]
    assert " -k " in copied["upstream"] and " -k " not in copied["browser"]  # http to devproxy
    out = await run_copied(copied["upstream"])
    assert out.startswith("HTTP/1.1 200") and "secret over https" in out, out
