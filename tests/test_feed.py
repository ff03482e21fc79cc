"""The inspector's live feed for one page, without sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from devproxy.feed import Feed


def parse(text: str) -> list[tuple[str, Any]]:
    told = []
    for block in text.split("\n\n")[:-1]:
        event, data = block.split("\n")
        told.append((event.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return told


class Kept:
    """A stand-in for the kept list: the rows as they are now."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, feed: Feed, n: int) -> None:
        row = {"id": n, "status": 0}
        self.rows.insert(0, row)
        feed.put("request", dict(row))

    def end(self, feed: Feed, n: int) -> None:
        row = next(r for r in self.rows if r["id"] == n)
        row["status"] = 200
        feed.put("update", dict(row))


async def test_a_feed_opens_with_the_list_then_sends_changes_in_order_at_once() -> None:
    kept = Kept()
    feed = Feed(10, lambda: [dict(r) for r in kept.rows])
    kept.rows.append({"id": 1, "status": 200})
    kept.add(feed, 2)  # before the list is taken: the list shows it, no event repeats it
    assert parse(feed.take()) == [("reset", [{"id": 2, "status": 0},
                                             {"id": 1, "status": 200}])]
    kept.end(feed, 2)
    kept.add(feed, 3)
    await feed.wait(asyncio.get_running_loop().time() + 1)  # something to send: at once
    assert parse(feed.take()) == [("update", {"id": 2, "status": 200}),
                                  ("request", {"id": 3, "status": 0})]
    assert feed.take() == ""


async def test_a_feed_that_falls_behind_sends_the_list_as_it_is_when_written() -> None:
    kept = Kept()
    feed = Feed(4, lambda: [dict(r) for r in kept.rows])
    feed.take()
    for n in range(1, 4):  # six events: more than the page may fall behind
        kept.add(feed, n)
        kept.end(feed, n)
    kept.add(feed, 4)  # after the overflow, before the write: in the list, not repeated
    [(event, rows)] = parse(feed.take())
    assert event == "reset" and [(r["id"], r["status"]) for r in rows] == [
        (4, 0), (3, 200), (2, 200), (1, 200)]
    kept.end(feed, 4)  # after the list: an event again
    assert parse(feed.take()) == [("update", {"id": 4, "status": 200})]


async def test_a_feed_waits_until_there_is_something_or_it_ends() -> None:
    feed = Feed(4, list)
    feed.take()
    waiting = asyncio.ensure_future(feed.wait(asyncio.get_running_loop().time() + 10))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    feed.end()
    await asyncio.wait_for(waiting, 1)
    assert feed.ended and feed.take() == ""
    feed.put("request", {"id": 1})  # a request after the end is not queued for no one
    assert feed.take() == ""


async def test_a_clear_sends_the_list_afresh() -> None:
    kept = Kept()
    feed = Feed(10, lambda: [dict(r) for r in kept.rows])
    feed.take()
    kept.add(feed, 1)
    kept.rows.clear()  # another tab cleared the list
    feed.reset()
    assert parse(feed.take()) == [("reset", [])]
