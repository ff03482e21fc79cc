"""One inspector page's live feed: every change in order, or the whole list afresh.

A page that reads slower than requests arrive (a burst of a thousand) must not end up
showing requests as pending forever because their "update" was dropped. So the feed
never drops a single event: when its page falls ``size`` events behind, it forgets them
all and sends a ``reset`` with the list as it is at that moment instead. The list is
taken when it is written, so every change before it is in it and every change after it
is queued behind it: the page's view is exact again. A feed also starts with a reset,
so a page opening or reconnecting needs no separate fetch that could race the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any


class Feed:
    """Events for one page, as text/event-stream text or as pairs for a WebSocket."""

    def __init__(self, size: int, snapshot: Callable[[], list[dict[str, Any]]],
                 dumps: Callable[[Any], str] = json.dumps) -> None:
        self._size = size
        self._snapshot = snapshot  # the summaries, newest first, as they are now
        self._dumps = dumps  # each event's data as JSON
        self._queued: list[tuple[str, dict[str, Any]]] = []
        self._reset = True
        self._ended = False
        self._ready = asyncio.Event()
        self._ready.set()

    def put(self, event: str, data: dict[str, Any]) -> None:
        """Queue one change. Called where it happens, so it never waits."""
        if self._reset or self._ended:
            return  # the list the reset sends will show this change
        if len(self._queued) >= self._size:
            self._queued.clear()
            self._reset = True
        else:
            self._queued.append((event, data))  # text later, off the request's path
        self._ready.set()

    def reset(self) -> None:
        """The list changed other than by a request (a clear): send it afresh."""
        self._queued.clear()
        self._reset = True
        self._ready.set()

    def end(self) -> None:
        """devproxy is stopping: the page's EventSource reconnects to the next one."""
        self._ended = True
        self._ready.set()

    @property
    def ended(self) -> bool:
        return self._ended

    async def wait(self, deadline: float) -> None:
        """Until there is something to send, or the loop's clock reaches ``deadline``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await self._ready.wait()

    def take(self) -> str:
        """All there is to send now, at once (one write for a burst, not one per event),
        as text/event-stream text."""
        return "".join(f"event: {event}\ndata: {self._dumps(data)}\n\n"
                       for event, data in self.take_events())

    def take_events(self) -> list[tuple[str, Any]]:
        """All there is to send now, as (event, data) pairs: one WebSocket message."""
        self._ready.clear()
        if self._ended:
            return []
        if self._reset:
            self._reset = False
            self._queued.clear()
            return [("reset", self._snapshot())]
        events: list[tuple[str, Any]] = list(self._queued)
        self._queued.clear()
        return events
