"""The request inspector at /__devproxy/: a page, a JSON API and a live event stream.

Owns devproxy's own endpoints under the reserved prefix. They are reached only after
the Host check (``dispatch``), never get CORS headers, and state-changing calls
(replay, clear) must come from a page on devproxy's own origin, so another site open in
the browser cannot drive them. The records themselves are ``capture``'s.

API (all JSON; see the README):
    GET  /__devproxy/api/requests          newest first, summaries
    GET  /__devproxy/api/requests/{id}     one request in full
    GET  /__devproxy/api/events            text/event-stream: "reset", then "request"/"update"
    GET  /__devproxy/api/har               every kept request as HAR 1.2
    GET  /__devproxy/api/status            routes, the last reload, inspector settings
    POST /__devproxy/api/requests/{id}/replay   send it again through devproxy
    POST /__devproxy/api/clear             forget every kept request
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import aiohttp
from aiohttp import WSCloseCode, web
from yarl import URL

from .capture import Captures, Record, to_json
from .config import RESERVED_PREFIX
from .corsadvice import CorsOff
from .feed import Feed
from .har import har
from .headers import HOP_BY_HOP, field_value
from .state import CAPTURES, CLIENT, EVENT_STREAMS, LIVE, Snapshot

logger = logging.getLogger(__name__)
_UI = "inspector_ui"
_FILES = {"": ("index.html", "text/html"), "app.js": ("app.js", "text/javascript"),
          "style.css": ("style.css", "text/css")}
# Never shown in another site's frame: a page there could lay it, invisible, under its
# own and have a click land on Clear or Replay (which resends a request with its
# cookies), past the same-origin check those make (clickjacking).
_NOT_FRAMED = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
_HEARTBEAT = 15.0  # seconds between SSE comments that keep idle streams open
_PROGRESS = 1.0  # seconds between updates of a request still open (a stream, a socket)
_QUEUE = 2000  # events a slow page may fall behind before it is sent the list afresh


async def serve(request: web.Request) -> web.StreamResponse:
    """Answer a request under the reserved prefix."""
    captures = request.app[CAPTURES]
    rest = request.path[len(RESERVED_PREFIX):]
    if rest == "":
        raise web.HTTPPermanentRedirect(RESERVED_PREFIX + "/")
    rest = rest[1:]
    allowed = _methods_for(rest)
    if allowed and request.method not in allowed:
        # RFC 9110 §15.5.6: the resource is there, the method is not one it takes.
        raise web.HTTPMethodNotAllowed(request.method, allowed, text=json.dumps(
            {"error": f"{request.method} {request.path}: use {' or '.join(allowed)}"}),
            content_type="application/json")
    if request.method in ("GET", "HEAD"):
        if rest in _FILES:
            name, kind = _FILES[rest]
            text = resources.files("devproxy").joinpath(_UI, name).read_text("utf-8")
            return web.Response(text=text, content_type=kind,
                                headers={"Cache-Control": "no-store", **_NOT_FRAMED})
        if rest == "api/requests":
            return _json([r.summary() for r in captures.newest_first()])
        if rest.startswith("api/requests/"):
            record = _record(captures, rest.removeprefix("api/requests/"))
            snapshot = request.app[LIVE].current
            # As the route's block stands now.
            rules = snapshot.cors_for(record.route,
                                      field_value(record.browser_request, "origin"))
            source = snapshot.config.source
            return _json(record.detail(rules.policy if rules else None,
                                       source.name if source else "devproxy.yaml",
                                       None if rules else _cors_off(snapshot, record.route)))
        if rest == "api/events":
            return await _events(request, captures)
        if rest == "api/live":
            return await _live(request, captures)
        if rest == "api/har":
            return _json(har(reversed(captures.newest_first())), headers={
                "Content-Disposition": f'attachment; filename="devproxy-'
                                       f'{time.strftime("%Y%m%d-%H%M%S")}.har"'})
        if rest == "api/status":
            return _json(_status(request, captures))
    elif request.method == "POST":
        _same_origin(request)
        if rest == "api/clear":
            captures.clear()
            return _json({"cleared": True})
        if rest.startswith("api/requests/") and rest.endswith("/replay"):
            record = _record(captures, rest.removeprefix("api/requests/")[:-len("/replay")])
            return await _replay(request, record)
    raise web.HTTPNotFound(text=json.dumps({"error": f"nothing at {request.path}"}),
                           content_type="application/json")


_READ = ("api/requests", "api/events", "api/live", "api/har", "api/status")


def _methods_for(rest: str) -> tuple[str, ...]:
    """The methods the resource at ``rest`` (the path under the prefix) answers; ()
    when there is none."""
    if rest == "api/clear":
        return ("POST",)
    if rest in _FILES or rest in _READ:
        return ("GET", "HEAD")
    number, _, replay = rest.removeprefix("api/requests/").partition("/")
    if rest.startswith("api/requests/") and _request_id(number) is not None:
        return ("POST",) if replay == "replay" else ("GET", "HEAD") if not replay else ()
    return ()


def _request_id(text: str) -> int | None:
    # isdigit() alone takes "²", which int() refuses.
    return int(text) if text.isascii() and text.isdigit() else None


def _json(value: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=to_json(value), content_type="application/json",
                        headers={"Cache-Control": "no-store", **(headers or {})})


def _record(captures: Captures, text: str) -> Record:
    number = _request_id(text)
    record = captures.get(number) if number is not None else None
    if record is None:
        if number is None:
            why = f"{text!r} is not a request id (a number, as the list gives)"
        elif number > captures.newest_id:
            why = f"no request {number} yet (the newest is {captures.newest_id})"
        else:
            why = (f"request {number} is no longer kept: cleared, or past the last "
                   f"{captures.history}")
        raise web.HTTPNotFound(text=json.dumps({"error": why}),
                               content_type="application/json")
    return record


def _same_origin(request: web.Request) -> None:
    # Fetch sends Origin on every POST; Sec-Fetch-Site where Origin may be absent.
    own = f"{request.scheme}://{request.host}"
    origin = request.headers.get("Origin")
    if origin == own or (origin is None and
                         request.headers.get("Sec-Fetch-Site") == "same-origin"):
        return
    raise web.HTTPForbidden(
        text=json.dumps({"error": "devproxy's inspector only accepts changes from its own "
                                  f"page on {own}"}),
        content_type="application/json")


@contextlib.contextmanager
def _following(request: web.Request, captures: Captures) -> Iterator[Feed]:
    """A feed of every change to ``captures`` while the block runs, for one page: told
    of each request, reset by a clear from any tab, ended when devproxy stops."""
    feed = Feed(_QUEUE, lambda: [r.summary() for r in captures.newest_first()], to_json)

    def listener(event: str, record: Record) -> None:
        feed.put(event, record.summary())

    captures.listeners.append(listener)
    captures.on_clear.append(feed.reset)  # a clear from another tab reaches this one
    streams = request.app[EVENT_STREAMS]
    streams.add(feed.end)
    try:
        yield feed
    finally:
        captures.listeners.remove(listener)
        captures.on_clear.remove(feed.reset)
        streams.discard(feed.end)


async def _events(request: web.Request, captures: Captures) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    if request.method == "HEAD":
        return response  # the head is all a HEAD gets; waiting would hold the connection
    loop = asyncio.get_running_loop()
    # What each request still open (a stream, a socket) was last shown with: it is told
    # again as it moves, at most every _PROGRESS, not only when it ends.
    shown: dict[int, tuple[int, ...]] = {}
    with _following(request, captures) as feed, \
            contextlib.suppress(ConnectionError, asyncio.CancelledError):
        await response.write(b": devproxy inspector\n\n")
        written = progress = loop.time()
        while True:
            await feed.wait(min(progress + _PROGRESS, written + _HEARTBEAT))
            if feed.ended:
                break
            text = feed.take()
            if loop.time() >= progress + _PROGRESS:
                progress = loop.time()
                moved, shown = _moved(captures, shown)
                text += "".join(f"event: update\ndata: {to_json(record.summary())}\n\n"
                                for record in moved)
            if text:
                await response.write(text.encode())
                written = loop.time()
            elif loop.time() >= written + _HEARTBEAT:
                await response.write(b": keep-alive\n\n")
                written = loop.time()
    return response


async def _live(request: web.Request, captures: Captures) -> web.StreamResponse:
    """``_events`` over a WebSocket, which the page uses: an EventSource holds one of
    the 6 HTTP/1.1 connections Chromium opens to an origin, shared with every tab of
    the app being debugged, and with five of its own streams open the inspector's took
    the last, and the app's next fetch() waited. A socket is not counted among them.
    Each message is a JSON list of [event, data] pairs, the events ``_events`` sends."""
    origin = request.headers.get("Origin")
    own = f"{request.scheme}://{request.host}"
    if origin is not None and origin != own:
        # No CORS guards a socket: a page on any site could read every request's
        # headers and cookies here.
        raise web.HTTPForbidden(
            text=json.dumps({"error": f"devproxy's inspector feed is only for its own page "
                                      f"on {own}"}), content_type="application/json")
    if request.method == "HEAD" or not _asks_websocket(request):
        raise web.HTTPUpgradeRequired(
            headers={"Upgrade": "websocket", "Connection": "Upgrade"},
            text=json.dumps({"error": "a WebSocket: new WebSocket('ws://.../__devproxy/"
                                      "api/live'); api/events is the same as an event "
                                      "stream"}), content_type="application/json")
    socket = web.WebSocketResponse(heartbeat=_HEARTBEAT)
    await socket.prepare(request)
    loop = asyncio.get_running_loop()
    shown: dict[int, tuple[int, ...]] = {}
    with _following(request, captures) as feed:
        # The page sends nothing; reading is how its close (and the pings' answers)
        # are seen, and its close ends the feed.
        reading = asyncio.create_task(_read_until_closed(socket))
        reading.add_done_callback(lambda _: feed.end())
        try:
            progress = loop.time()
            while True:
                await feed.wait(progress + _PROGRESS)
                if feed.ended:
                    break
                events = feed.take_events()
                if loop.time() >= progress + _PROGRESS:
                    progress = loop.time()
                    moved, shown = _moved(captures, shown)
                    events += [("update", record.summary()) for record in moved]
                if events:
                    await socket.send_str(to_json(events))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            reading.cancel()
            # devproxy stopping: 1001, and the page reconnects to the next one.
            await socket.close(code=WSCloseCode.GOING_AWAY)
    return socket


def _asks_websocket(request: web.Request) -> bool:
    return "websocket" in request.headers.get("Upgrade", "").lower()


async def _read_until_closed(socket: web.WebSocketResponse) -> None:
    async for _ in socket:
        pass


# ``_moved``'s mark of a request as its "request" event showed it: nothing sent yet.
_AS_STARTED = (0, 0, 0, 0, 0, False, False)


def _moved(captures: Captures, shown: dict[int, tuple[int, ...]]
           ) -> tuple[list[Record], dict[int, tuple[int, ...]]]:
    """The open requests that moved since ``shown``, and what each is shown with now."""
    moved: list[Record] = []
    now: dict[int, tuple[int, ...]] = {}
    for record in captures.still_open():
        # A request waiting on a slow backend moves too: once it went upstream (the list
        # shows where), and once connected.
        mark = now[record.id] = (record.bytes_in, record.bytes_out, record.ws_up,
                                 record.ws_down, len(record.events or ()),
                                 bool(record.upstream_origin), record.connect_ms is not None)
        if shown.get(record.id, _AS_STARTED) != mark:
            moved.append(record)
    return moved, now


def _status(request: web.Request, captures: Captures) -> dict[str, Any]:
    live = request.app[LIVE]
    config = live.current.config
    reload = live.reload
    return {
        "listen": f"{request.scheme}://{request.host}",
        "config": str(config.source) if config.source else None,
        # A folder takes no WebSocket, whatever a route's default says.
        "routes": [{"path": r.path, "destination": r.destination,
                    "change_origin": r.change_origin, "strip_prefix": r.strip_prefix,
                    "cors": r.cors is not None, "ws": r.ws and r.target is not None}
                   for r in config.routes],
        "reload": {"count": reload.count, "applied": reload.applied, "at": reload.at,
                   "outcome": reload.outcome, "message": reload.message,
                   "diff": list(reload.diff), "changed_at": reload.changed_at},
        "inspector": {"history": captures.history, "body_limit": captures.body_limit,
                      "kept": len(captures.newest_first()), "since": captures.since},
    }


def _cors_off(snapshot: Snapshot, route_path: str) -> CorsOff | None:
    """The route at ``route_path`` if it turned the top-level cors: block off: a target
    route inherits that block unless it says ``cors: false`` (files never get one)."""
    top = snapshot.config.cors
    if top is None:
        return None
    route = next((r for r in snapshot.config.routes if r.path == route_path), None)
    if route is None or route.target is None or route.cors is not None:
        return None
    return CorsOff(route.path, route.line, top)


class Replays:
    """Replayed responses still arriving, read to their end as a page would read them,
    so the new record fills in (a body, a stream's events). The replay is answered once
    its head is here: a stream may never end. Each read is held here (asyncio keeps
    tasks only weakly) and bounded, since no page will ever close it."""

    def __init__(self) -> None:
        self._reads: set[asyncio.Task[None]] = set()
        self._closed = False

    def read(self, response: aiohttp.ClientResponse) -> None:
        if self._closed:  # devproxy is stopping: nothing would end this read
            response.close()
            return
        task = asyncio.create_task(_read_out(response))
        self._reads.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._reads.discard(task)
            # Closed here too: a task cancelled before it ran never reached its own.
            response.close()

        task.add_done_callback(done)

    async def close(self, app: web.Application) -> None:
        """``on_shutdown`` hook: stop reading, so devproxy's own relay of each ends."""
        self._closed = True
        reads, self._reads = self._reads, set()
        for task in reads:
            task.cancel()
        await asyncio.gather(*reads, return_exceptions=True)


REPLAYS = web.AppKey("replays", Replays)
_REPLAY_READ = 300.0  # seconds a replayed stream is read before it is closed


async def _read_out(response: aiohttp.ClientResponse) -> None:
    try:
        async with asyncio.timeout(_REPLAY_READ):
            async for _ in response.content.iter_any():
                pass
    except (TimeoutError, aiohttp.ClientError, OSError):
        pass  # the stream ran long, or devproxy or the backend broke it off: as a page
    except Exception:  # a bug here must not go unsaid, nor end anything else
        logger.exception("reading a replayed response failed")


async def _replay(request: web.Request, record: Record) -> web.Response:
    refusal = record.replay_refusal()
    if refusal is not None:
        raise web.HTTPConflict(text=json.dumps({"error": refusal}),
                               content_type="application/json")
    skip = {*HOP_BY_HOP, "content-length"}
    # Every header as the browser sent it, Host too: the page may be open on another
    # name for devproxy (127.0.0.1 vs localhost), and a changed Host would turn the
    # request cross-origin, or pick another virtual host.
    headers = [(k, v) for k, v in record.browser_request if k.lower() not in skip]
    # The target as the browser sent it, byte for byte: not re-quoted ("%zz" stays).
    url = URL(f"{request.scheme}://{request.host}{record.target}", encoded=True)
    captures = request.app[CAPTURES]
    before = captures.newest_id
    response = await request.app[CLIENT].request(
        record.method, url, headers=headers, data=bytes(record.request_body) or None,
        allow_redirects=False, ssl=False,
        skip_auto_headers=("Content-Type",),  # only the type the browser sent
    )
    # The replay's own record: the one that came over this client connection (its
    # address is the record's peer), not a page's request for the same URL meanwhile.
    connection = response.connection
    sockname = connection.transport.get_extra_info("sockname") \
        if connection is not None and connection.transport is not None else None
    request.app[REPLAYS].read(response)  # a stream (SSE) may never end
    replayed = next((r for r in reversed(captures.newest_first()) if r.id > before
                     and r.method == record.method and r.target == record.target
                     and (sockname is None or r.came_from(sockname))),
                    None)
    if replayed is None:
        return _json({"status": response.status, "id": None})
    replayed.replay_of = record.id  # marked in the list and the detail, live
    captures.done(replayed)
    return _json({"status": response.status, "id": replayed.id})
