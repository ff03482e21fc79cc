"""Hot reload: watch the config file, validate every save, put in force what is valid.

Owns the watch -> load -> validate -> swap loop and the last reload's status
(``Live.reload``). It watches the file's folder, not the file: editors that save by
renaming a temp file over it (vim, JetBrains) replace the inode, and a watch on the
file would miss every save after the first (watchfiles issue #127). A burst of writes
settles into one reload; an invalid, half-written or deleted file leaves the last good
config serving. A swap replaces one reference (``Live.current``), so requests, streams
and WebSockets already under way finish on the table they started with, and the one
client session keeps its pooled upstream connections. It never binds sockets itself
(``rebind`` is handed in by ``app``), never prints and never raises out of its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import watchfiles

from .config import Config, Listen
from .diff import diff_routes
from .errors import BindError, ConfigError
from .loader import load_config
from .state import Live, ReloadOutcome, ReloadStatus, Snapshot

logger = logging.getLogger(__name__)

# watchfiles yields a batch once its set of changes stopped growing for STEP_MS (or
# DEBOUNCE_MS into a burst that keeps growing it). Repeated writes to the one file do
# not grow that set, so a save written in slow pieces is also waited out here: the
# file is read once its size and mtime held still for a step (at most SETTLE_MS).
DEBOUNCE_MS = 100
STEP_MS = 25
SETTLE_MS = 1000
RETRY_SECONDS = 1.0  # after the folder could not be watched (deleted, inotify limit)


class _Deleted(Exception):
    """The config file is not there (any more)."""


def _as_loaded(config: Config) -> Config:
    return config


def _fingerprint(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


class Reloader:
    """Keeps ``live`` serving the newest valid version of the config file ``path``.

    Args:
        path: the config file, as the user named it (messages quote it so).
        live: the holder whose snapshot is swapped on each valid save.
        rebind: moves the listener to a new address; raises ``BindError`` and keeps
            the old one if it cannot.
        finish: applied to each freshly loaded config: the CLI's flags, which win
            over the file on every reload as they did at start-up. None: none.
    """

    def __init__(self, path: Path, live: Live, *, rebind: Callable[[Listen], Awaitable[None]],
                 finish: Callable[[Config], Config] | None = None) -> None:
        self.path = path
        self.live = live
        self.rebind = rebind
        self.finish = finish or _as_loaded
        self.watching = asyncio.Event()  # set once the folder is watched
        self._one_at_a_time = asyncio.Lock()

    async def run(self, stop: asyncio.Event) -> None:
        """Reload after every change to the file until ``stop`` is set.

        Never raises: a failed reload is logged and the next change waited for; if the
        folder cannot be watched (removed, or the inotify limit reached), that is
        logged once and watching is tried again every ``RETRY_SECONDS``, picking up
        whatever changed meanwhile.
        """
        folder = self.path.absolute().parent
        catch_up = failing = False
        while not stop.is_set():
            if folder.is_dir():
                try:
                    await self._watch(folder, stop, catch_up=catch_up)
                    failing = False
                except Exception as exc:
                    if not failing:
                        logger.error("cannot watch %s for changes (%s); trying again every "
                                     "%gs", folder, exc, RETRY_SECONDS,
                                     exc_info=not isinstance(exc, OSError))
                    failing = True
            self.watching.set()  # whoever waits for the watch must not wait forever
            catch_up = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_SECONDS)

    async def _watch(self, folder: Path, stop: asyncio.Event, *, catch_up: bool) -> None:
        """Reload on each change until ``stop`` is set or the folder is gone."""
        name = self.path.name

        def ours(_change: watchfiles.Change, changed: str) -> bool:
            return Path(changed).name == name

        changes = watchfiles.awatch(folder, stop_event=stop, watch_filter=ours,
                                    debounce=DEBOUNCE_MS, step=STEP_MS, recursive=False)
        # awatch sets up its watch synchronously in its first step, which the loop
        # below runs before this task first yields: whatever runs after that yield (a
        # waiter on ``watching``, the catch-up) runs with edits already being seen.
        self.watching.set()
        missed = asyncio.create_task(self.reload_logged()) if catch_up else None
        try:
            async for _ in changes:
                await self._settled()
                status = await self.reload_logged()
                if status.outcome == "missing" and not await asyncio.to_thread(folder.is_dir):
                    return  # a removed folder's watch never fires again
        finally:
            if missed is not None:
                await missed

    async def _settled(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_MS / 1000
        seen = _fingerprint(self.path)
        while loop.time() < deadline:
            await asyncio.sleep(STEP_MS / 1000)
            now = _fingerprint(self.path)
            if now == seen:
                return
            seen = now

    async def reload_logged(self) -> ReloadStatus:
        """``reload()``, with an unexpected failure logged and recorded, not raised."""
        try:
            return await self.reload()
        except Exception as exc:  # a bug in a reload must not take the proxy down
            logger.exception("reloading %s failed; the previous routes stay in force",
                             self.path)
            return self._record("error", f"internal error: {exc!r}")

    async def reload(self) -> ReloadStatus:
        """Load the file now and put it in force if it is valid.

        Returns:
            The new status (also stored as ``live.reload``).
        """
        async with self._one_at_a_time:  # the catch-up may overlap a change
            return await self._reload()

    async def _reload(self) -> ReloadStatus:
        try:
            # In a thread: a big file takes a while to parse, and requests go on meanwhile.
            config = await asyncio.to_thread(self._load)
        except _Deleted:
            logger.warning("%s was deleted; serving its last good routes until it is saved "
                           "again", self.path)
            return self._record("missing", f"{self.path} was deleted")
        except ConfigError as exc:
            logger.error("%s\n(still serving the last good routes; fix it and save again)",
                         exc)
            return self._record("error", str(exc))
        old = self.live.current.config
        snapshot = Snapshot.build(config)  # before rebinding: if this failed, nothing moved
        message = ""
        if config.listen != old.listen:
            try:
                await self.rebind(config.listen)
            except BindError as exc:
                message = f"{exc}; still serving on {old.listen}"
                logger.error("%s: %s", self.path, message)
                config = dataclasses.replace(config, listen=old.listen)
                snapshot = Snapshot.build(config)
            else:
                if not config.listen.is_loopback:
                    logger.warning("listening on %s, not a loopback address: anyone on "
                                   "your network can use this proxy to reach your backends",
                                   config.listen)
        changes = tuple(diff_routes(old, config))
        self.live.swap(snapshot)
        for line in changes or ("no route changed",):
            logger.info("reload: %s", line)
        return self._record("ok", message, changes)

    def _load(self) -> Config:
        try:
            return self.finish(load_config(self.path))
        except ConfigError:
            if not self.path.exists():
                raise _Deleted from None
            raise

    def _record(self, outcome: ReloadOutcome, message: str = "",
                diff: tuple[str, ...] = ()) -> ReloadStatus:
        last = self.live.reload
        status = ReloadStatus(
            count=last.count + 1,
            applied=last.applied + (outcome == "ok"),
            at=time.time(),
            outcome=outcome,
            message=message,
            diff=diff,
        )
        self.live.reload = status
        return status
