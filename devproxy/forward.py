"""HTTP forwarding: one browser request to one upstream request, streamed both ways.

Owns the request/response pump: build the upstream URL and headers (from the pure
``paths`` and ``headers`` modules), send the body as it arrives, wait for response
headers within ``timeout.response``, then copy the body chunk by chunk as the backend
sends it. Nothing is read whole, nothing is decompressed. It does not decide routes
and does not write error pages (``errorpages``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .capture import Record
from .config import Route, Target
from .headers import request_headers, response_headers
from .paths import upstream_path
from .state import CAPTURES, RECORD
from .upstream import (
    CONNECTING,
    Outages,
    client_timeout,
    map_exceptions,
    response_timeout_error,
)

logger = logging.getLogger(__name__)


class ProxiedResponse(web.StreamResponse):
    """A response relayed from upstream.

    aiohttp fills in ``Content-Type: application/octet-stream`` and its own ``Server``
    when a response lacks them; a proxy must not (a missing Content-Type lets the
    browser sniff, octet-stream makes it download). ``restore_headers`` undoes that.
    """

    upstream_lacks: tuple[str, ...] = ()


async def restore_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: drop headers aiohttp added to a relayed response."""
    if isinstance(response, ProxiedResponse):
        for name in response.upstream_lacks:
            response.headers.popall(name, None)


class _Deadline:
    """The response timeout, pushed forward while the request body is still uploading."""

    __slots__ = ("seconds", "timer")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.timer: asyncio.Timeout | None = None

    def extend(self) -> None:
        if self.timer is not None:
            self.timer.reschedule(asyncio.get_running_loop().time() + self.seconds)


async def _upload(content: aiohttp.StreamReader, deadline: _Deadline,
                  record: Record | None) -> AsyncIterator[bytes]:
    while chunk := await content.readany():
        deadline.extend()
        if record is not None:
            record.upload(chunk)
        yield chunk


async def forward_http(
    request: web.Request, route: Route, raw_path: str, session: aiohttp.ClientSession,
    outages: Outages,
) -> web.StreamResponse:
    """Relay ``request`` to ``route.target`` and stream the answer back.

    Args:
        raw_path: the request's raw path, without the query, that matched ``route``.
        outages: told when the target answers, so a finished outage is logged once.

    Returns:
        The prepared and finished response. If the backend breaks off mid-body the
        client connection is closed, so the client sees a truncated response.

    Raises:
        UpstreamError: no response headers could be had (refused, TLS, timeout, reset).
    """
    target = route.target
    assert target is not None
    query = request.raw_path[len(raw_path):]  # "" or "?..." exactly as sent
    url = URL(target.origin + upstream_path(route, raw_path) + query, encoded=True)
    headers = request_headers(
        request.headers, route,
        client_ip=request.remote, proxy_host=request.host, scheme=request.scheme,
    )
    deadline = _Deadline(route.timeout.response)
    record = request.get(RECORD)
    if record is not None:
        record.upstream_url, record.upstream_request = str(url), tuple(headers.items())
    body = _upload(request.content, deadline, record) if request.body_exists else None
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("upstream request %s %s\n%s", request.method, url, _dump(headers))

    upstream = await _send(session, request.method, url, headers, body, route, target, deadline,
                           record)
    outages.succeeded(target, route.path)
    if record is not None:
        record.ttfb_ms = record.elapsed_ms()
        record.backend_response = tuple(upstream.headers.items())
        if upstream.headers.get("Content-Type", "").startswith("text/event-stream"):
            record.kind = "sse"
    try:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("upstream response %s %s\n%s", upstream.status, url,
                         _dump(upstream.headers))
        return await _relay(request, upstream, route, record)
    finally:
        # A body read to the end returns the connection to the pool; anything else
        # (client gone, backend broke off) must not leave half a message on it.
        if upstream.content.is_eof():
            upstream.release()
        else:
            upstream.close()


async def _send(
    session: aiohttp.ClientSession, method: str, url: URL, headers: CIMultiDict[str],
    body: AsyncIterator[bytes] | None, route: Route, target: Target, deadline: _Deadline,
    record: Record | None,
) -> aiohttp.ClientResponse:
    connect = route.timeout.connect
    try:
        # The deadline covers connecting plus waiting for headers; uploading pushes it on.
        async with asyncio.timeout(connect + route.timeout.response) as timer:
            deadline.timer = timer
            with map_exceptions(target, connect):
                if record is None:
                    return await session.request(
                        method, url, headers=headers, data=body, allow_redirects=False,
                        ssl=route.secure, timeout=client_timeout(connect),
                    )
                token = CONNECTING.set(record)
                try:
                    response = await session.request(
                        method, url, headers=headers, data=body, allow_redirects=False,
                        ssl=route.secure, timeout=client_timeout(connect),
                    )
                finally:
                    CONNECTING.reset(token)
                if record.connect_ms is None:
                    record.connect_ms = 0.0  # a pooled connection
                return response
    except TimeoutError:
        raise response_timeout_error(target, route.timeout.response) from None
    finally:
        deadline.timer = None


async def _relay(
    request: web.Request, upstream: aiohttp.ClientResponse, route: Route,
    record: Record | None,
) -> web.StreamResponse:
    origin = f"{request.scheme}://{request.host}"
    response = ProxiedResponse(
        status=upstream.status, reason=upstream.reason or None,
        headers=response_headers(upstream.headers, route, proxy_origin=origin),
    )
    response.upstream_lacks = tuple(
        name for name in ("Content-Type", "Server") if name not in upstream.headers
    )
    content = upstream.content
    if content.is_eof():
        # The whole body came with the headers (most API and module responses): send
        # headers and body in one write, one syscall instead of three. Never for a body
        # still arriving: an SSE client must get the headers without waiting for data.
        response._send_headers_immediately = False  # aiohttp's own switch (web.Response)
        body = await content.read()
        if record is not None:
            record.download(body)
        await response.prepare(request)
        await response.write_eof(body)
        return response
    await response.prepare(request)
    if record is not None:  # a stream: show its status now, not when it ends
        record.status = response.status
        record.browser_response = tuple(response.headers.items())
        request.app[CAPTURES].done(record)
    while True:
        try:
            chunk = await content.readany()
        except (aiohttp.ClientError, OSError) as exc:
            logger.warning(
                "%s %s: %s broke off the response body (%s); the client gets a "
                "truncated response", request.method, request.path, route.destination,
                type(exc).__name__,
            )
            # Closing without a final chunk (or short of Content-Length) is how HTTP/1.1
            # tells the client the message is incomplete (RFC 9112 §8).
            if request.transport is not None:
                request.transport.close()
            return response
        if not chunk:
            break
        if record is not None:
            record.download(chunk)
        try:
            await response.write(chunk)
        except ConnectionError:
            return response  # the client went away; the upstream is closed by our caller
    await response.write_eof()
    return response


def _dump(headers: CIMultiDict[str] | CIMultiDictProxy[str]) -> str:
    return "\n".join(f"    {k}: {v}" for k, v in headers.items())

