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
from .router import RouteTable
from .upstream import Outages


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A config and its route table, built together and never changed."""

    config: Config
    table: RouteTable

    @classmethod
    def build(cls, config: Config) -> Snapshot:
        return cls(config=config, table=RouteTable(config.routes))


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
