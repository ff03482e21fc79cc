"""What a running devproxy holds: the live route snapshot and the app's typed keys.

Owns ``Snapshot`` (a config and everything derived from it once, immutable) and
``Live`` (the one mutable reference a reload replaces). Requests read
``live.current`` once; nothing else in devproxy keeps state between requests except
the objects stored under these keys, which belong to one app.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from .config import Config
from .cors import CorsRules
from .router import RouteTable
from .upstream import Outages


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A config and everything derived from it once: never changed after building."""

    config: Config
    table: RouteTable
    cors: dict[str, CorsRules]  # route path -> compiled CORS mode, for CORS routes only
    fallback_cors: CorsRules | None  # the top-level policy, for requests no route matches

    @classmethod
    def build(cls, config: Config) -> Snapshot:
        return cls(
            config=config,
            table=RouteTable(config.routes),
            cors={r.path: CorsRules(r.cors) for r in config.routes if r.cors is not None},
            fallback_cors=CorsRules(config.cors) if config.cors is not None else None,
        )


class Live:
    """The current snapshot. Replacing ``current`` is the whole of a reload's swap."""

    __slots__ = ("current",)

    def __init__(self, snapshot: Snapshot) -> None:
        self.current = snapshot

    def swap(self, snapshot: Snapshot) -> Snapshot:
        """Put ``snapshot`` in force; return the one it replaced."""
        old, self.current = self.current, snapshot
        return old


LIVE = web.AppKey("live", Live)
SESSION = web.AppKey("session", aiohttp.ClientSession)
OUTAGES = web.AppKey("outages", Outages)
