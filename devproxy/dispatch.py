"""The one request handler: snapshot, match, then static | websocket | http.

Owns the order of decisions for every request and the per-request log line. A request
reads the live snapshot once and finishes on what it read, so a reload never changes
a request half way. It forwards nothing itself (``forward``, ``websocket``, ``static``)
and writes no error page markup (``errorpages``).
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from .config import Route
from .cors import CorsRules, is_preflight
from .corsmode import mark, preflight_response
from .errorpages import problem_response
from .errors import UpstreamError
from .forward import forward_http
from .state import LIVE, OUTAGES, SESSION
from .static import serve_static
from .upstream import diagnose
from .websocket import proxy_websocket
from .wsrules import is_websocket_upgrade

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("devproxy.access")


async def handle(request: web.Request) -> web.StreamResponse:
    """Serve one request on the routes in force when it arrived."""
    start = time.perf_counter()
    snapshot = request.app[LIVE].current
    raw = request.raw_path
    route: Route | None = None
    if not raw.startswith("/"):
        # Absolute-form or asterisk-form targets: devproxy is a reverse proxy for its
        # configured routes, never an open forward proxy (RFC 9112 §3.2.2).
        response: web.StreamResponse = problem_response(
            request, 400, "Not a path", "devproxy only serves origin-form requests "
            "(a path such as /api/users), not absolute URLs or '*'.",
        )
    else:
        path = raw.partition("?")[0]
        match = snapshot.table.match(path)
        route = match.route if match is not None else None
        cors = snapshot.cors.get(route.path) if route else snapshot.fallback_cors
        if cors is not None and is_preflight(request.method, request.headers):
            # Fetch §3.2.2: devproxy answers preflights itself; the backend never sees them.
            response = preflight_response(request, cors, route.path if route else "-",
                                          snapshot.config.source)
        else:
            if cors is not None:
                mark(request, cors)
            if match is None:
                response = _no_route(request, snapshot.table.routes)
            else:
                assert route is not None
                response = await _serve(request, route, path, match.rest, cors)
    _log(request, route, response, start)
    return response


async def _serve(
    request: web.Request, route: Route, path: str, rest: str, cors: CorsRules | None
) -> web.StreamResponse:
    if route.static is not None:
        return await serve_static(request, route, rest)
    assert route.target is not None
    app = request.app
    try:
        if request.method == "GET" and is_websocket_upgrade(request.headers):
            if not route.ws:
                return problem_response(request, 404, "WebSockets are off on this route",
                                        f"Route {route.path} has ws: false.",
                                        hint="set ws: true on the route to forward upgrades")
            # CORS mode's "*" lets any page read responses; it must not let any page
            # open sockets, the hijacking the origin check exists to stop.
            named = cors if cors is not None and not cors.policy.any_origin else None
            return await proxy_websocket(
                request, route, path, app[SESSION], app[OUTAGES],
                listen_host=app[LIVE].current.config.listen.host,
                cors_allows=named.allows if named is not None else None,
            )
        return await forward_http(request, route, path, app[SESSION], app[OUTAGES])
    except UpstreamError as err:
        return await upstream_failure(request, route, err)


async def upstream_failure(
    request: web.Request, route: Route, err: UpstreamError
) -> web.StreamResponse:
    """The 502/504 for a target that could not be reached, logged once per outage."""
    target = route.target
    assert target is not None
    facts = {"Route": route.path, "Target": target.url, "Reason": err.kind}
    attempts: list[str] = []
    if err.kind == "refused":
        attempts = [f"{a.address}: {a.error or 'connected on retry'}"
                    for a in await diagnose(target)]
    if request.app[OUTAGES].failed(target):
        tried = f" (tried {'; '.join(attempts)})" if attempts else ""
        logger.error("route %s -> %s: %s%s. %s", route.path, target.url, err.detail, tried,
                     err.hint)
    title = "Backend timed out" if err.status_hint == 504 else "Backend not reachable"
    return problem_response(
        request, err.status_hint, title, err.detail, hint=err.hint, facts=facts,
        items=attempts, items_title="Addresses tried",
    )


def _no_route(request: web.Request, routes: tuple[Route, ...]) -> web.StreamResponse:
    listing = [f"{r.path} -> {r.destination}" for r in routes]
    return problem_response(
        request, 404, "No route matches",
        f"No configured route matches {request.path!r}.",
        hint="add a route for this path to devproxy.yaml, or a catch-all `path: /`",
        items=listing, items_title="Configured routes",
    )


def _log(
    request: web.Request, route: Route | None, response: web.StreamResponse, start: float
) -> None:
    if not access_logger.isEnabledFor(logging.INFO):
        return
    ms = (time.perf_counter() - start) * 1000
    access_logger.info(
        "%s %s -> %s %d %.1fms %dB",
        request.method, request.raw_path, route.path if route else "-", response.status, ms,
        # sendfile (static files) bypasses the writer's byte count; the length is known.
        response.body_length or response.content_length or 0, extra={"status": response.status},
    )
