"""What a running devproxy holds: the live route snapshot and the app's typed keys.

Owns ``Snapshot`` (a config and everything derived from it once, immutable), ``Live``
(the one mutable reference a reload replaces) and ``ReloadStatus`` (what the last
reload did, replaced whole like a snapshot). Requests read ``live.current`` once;
nothing else in devproxy keeps state between requests except the objects stored under
these keys, which belong to one app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import aiohttp
from aiohttp import web

from .capture import Captures, Record
from .config import Config
from .cors import CorsRules
from .pool import Pool
from .router import RouteTable
from .screen import HostRules
from .upstream import Outages


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A config and everything derived from it once: never changed after building."""

    config: Config
    table: RouteTable
    cors: dict[str, CorsRules]  # route path -> compiled CORS mode, for CORS routes only
    fallback_cors: CorsRules | None  # the top-level policy, for requests no route matches
    hosts: HostRules

    def cors_for(self, route_path: str, origin: str | None = None) -> CorsRules | None:
        """The CORS rules of the route at ``route_path``, or None outside CORS mode.

        For a request no route matched (``route_path`` ""), the top-level policy; with
        only routes' own blocks, the first that allows ``origin``, else the first: a
        mistyped API path's 404 reaches the page as the 404 it is, not as a CORS
        failure, and an unlisted origin's is explained as on the route."""
        if route_path:
            return self.cors.get(route_path)
        if self.fallback_cors is not None or not self.cors:
            return self.fallback_cors
        blocks = self.cors.values()
        if origin is not None:
            for rules in blocks:
                if rules.allows(origin):
                    return rules
        return next(iter(blocks))

    @classmethod
    def build(cls, config: Config) -> Snapshot:
        return cls(
            config=config,
            table=RouteTable(config.routes),
            cors={r.path: CorsRules(r.cors) for r in config.routes if r.cors is not None},
            fallback_cors=CorsRules(config.cors) if config.cors is not None else None,
            hosts=HostRules(config),
        )


ReloadOutcome = Literal["none", "ok", "partial", "error", "missing"]


@dataclass(frozen=True, slots=True)
class ReloadStatus:
    """What the last config reload did, for tests, the log and the inspector.

    ``outcome`` is "none" before any reload, "ok" when the file was valid and put in
    force (``diff`` lists what changed; a save that changes nothing after an "ok" keeps
    that one's ``diff`` and ``message``, so the last change stays in view, also when
    broken or missing saves came between), "error" when
    it was invalid (``message`` is the loader's ``file:line:col: ...`` text) and
    "missing" when it was deleted; after "error" and "missing" the last good routes
    serve on.
    "partial" when the file was put in force but its new ``listen`` could not be bound
    (``message`` says why). An "ok" reload may have a ``message`` too: an edit that
    applies only at start-up, or that a command-line flag overrides.
    """

    count: int = 0  # reloads attempted since start
    applied: int = 0  # of which were valid and put in force
    at: float | None = None  # time.time() of the last attempt
    outcome: ReloadOutcome = "none"
    message: str = ""
    diff: tuple[str, ...] = ()  # the last change applied, as diff.diff_routes words them
    # time.time() of the reload ``diff`` and ``message`` are from: ``at``, unless saves
    # that changed nothing came since.
    changed_at: float | None = None


class Live:
    """The current snapshot. Replacing ``current`` is the whole of a reload's swap.

    ``reload`` is the status of the last reload; only ``reload.Reloader`` writes it.
    ``stopping`` is set when devproxy begins to shut down: a request cut then was cut
    by devproxy, not abandoned by the browser.
    """

    __slots__ = ("current", "reload", "stopping")

    def __init__(self, snapshot: Snapshot) -> None:
        self.current = snapshot
        self.reload = ReloadStatus()
        self.stopping = False

    def swap(self, snapshot: Snapshot) -> Snapshot:
        """Put ``snapshot`` in force; return the one it replaced."""
        old, self.current = self.current, snapshot
        return old


class SaidOnce:
    """What devproxy already said in the log, each thing once (a backend answer
    explained, a refused Host name): the keys come from requests, so they are bounded."""

    __slots__ = ("_said",)
    LIMIT = 100

    def __init__(self) -> None:
        self._said: set[str] = set()

    def first_time(self, key: str) -> bool:
        if key in self._said or len(self._said) >= self.LIMIT:
            return False
        self._said.add(key)
        return True


class EventStreams:
    """The open responses that never end by themselves: relayed event streams and the
    inspector's live feed. Each registers how to end it; shutdown ends them all at once.

    Waiting out the shutdown timeout for them would only delay Ctrl+C (by the whole
    timeout whenever the inspector page is open): they have no last byte to wait for, and
    an ``EventSource`` reconnects after its stream ends (HTML Living Standard §9.2.3).
    """

    __slots__ = ("_enders",)

    def __init__(self) -> None:
        self._enders: set[Callable[[], None]] = set()

    def add(self, end: Callable[[], None]) -> None:
        self._enders.add(end)

    def discard(self, end: Callable[[], None]) -> None:
        self._enders.discard(end)

    async def end_all(self, app: web.Application) -> None:
        """``on_shutdown`` hook: end every stream now, each with its proper last chunk."""
        enders, self._enders = self._enders, set()
        for end in enders:
            end()


LIVE = web.AppKey("live", Live)
POOL = web.AppKey("pool", Pool)  # plain HTTP to backends
# aiohttp's client, for what ``pool`` doesn't do: WebSocket upgrades, inspector replays.
CLIENT = web.AppKey("client", aiohttp.ClientSession)
OUTAGES = web.AppKey("outages", Outages)
CAPTURES = web.AppKey("captures", Captures)  # present only while the inspector is on
RECORD = web.RequestKey("record", Record)  # the request's inspector record, if captured
# A relayed stream once its head is sent, or a file or devproxy's own answer as it is
# sent: what a cancelled handler logs.
STREAMING = web.RequestKey("streaming", web.StreamResponse)
# Set when the connection failed while devproxy's own answer, a file or a relayed body
# was sent: the log line's note (nothing sent, or part of it).
UNSENT = web.RequestKey("unsent", str)
# A small request body, read whole before a backend connection is taken (``forward``):
# kept for wait_for_backend's next try.
BODY = web.RequestKey("body", bytes)
# How a WebSocket ended (who closed it, the code, its messages): its access line's note,
# so a socket logs one line as it opens and one as it ends.
SOCKET_END = web.RequestKey("socket_end", str)
EVENT_STREAMS = web.AppKey("event_streams", EventStreams)
WARNED_HOSTS = web.AppKey("warned_hosts", SaidOnce)  # refused Host names already logged
# Routes whose backend refused a socket's Host or Origin after its 101, already explained.
WARNED_SOCKETS = web.AppKey("warned_sockets", set[str])
# Backend answers already explained in the log (``forward``): by route, status and path.
EXPLAINED = web.AppKey("explained", SaidOnce)
