"""Hot reload: watch the config file, validate every save, put in force what is valid.

Owns the watch -> load -> validate -> swap loop and the last reload's status
(``Live.reload``). It watches the file's folder, not the file: editors that save by
renaming a temp file over it (vim, JetBrains) replace the inode, and a watch on the
file would miss every save after the first (watchfiles issue #127). A burst of writes
settles into one reload; an invalid (a half-written one that does not parse) or deleted
file leaves the last good config serving. A swap replaces one reference
(``Live.current``), so requests, streams and WebSockets already under way finish on the
table they started with, and the one client session keeps its pooled upstream
connections. It never binds sockets itself
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
from .loader import SYMLINK_LOOP, dangling_link, load_config, loop_refusal
from .screen import ANY_HOST_WARNING, OPEN_LISTEN_WARNING
from .state import Live, ReloadOutcome, ReloadStatus, Snapshot

logger = logging.getLogger(__name__)
# What -q still shows, as it shows the URL at start-up: the address to open after a
# move, and that an error it showed is over (else the last line on screen stays red).
notice = logging.getLogger("devproxy.notice")

# watchfiles yields a batch once its set of changes stopped growing for STEP_MS (or
# DEBOUNCE_MS into a burst that keeps growing it). Repeated writes to the one file do
# not grow that set, so a save written in slow pieces is also waited out here: the
# file is read once its size and mtime held still for a step (at most SETTLE_MS).
DEBOUNCE_MS = 100
STEP_MS = 25
SETTLE_MS = 1000
RETRY_SECONDS = 1.0  # after the folder could not be watched (deleted, inotify limit)
# A broken or missing file is told only once it stayed so this long: one written in
# pieces a tenth of a second apart, or renamed away and back (JetBrains' safe write), is
# not the user's mistake, and a red line for it is noise. Valid saves do not wait.
GRACE_MS = 400
# How often a quiet watch checks that it still watches the file's folder: a folder
# moved away or replaced by a new one (a git checkout, rm -rf and recreate) keeps its
# watch on the old directory, which then never sees an edit again.
RECHECK_MS = 1000


class _Deleted(Exception):
    """The config file is not there (any more); ``str()`` says so, naming a symlink's
    missing target. ``link``: it is a symlink that leads to no file."""

    def __init__(self, message: str, *, link: bool) -> None:
        super().__init__(message)
        self.link = link


def next_status(last: ReloadStatus, applied: ReloadStatus, outcome: ReloadOutcome,
                message: str, diff: tuple[str, ...], now: float) -> ReloadStatus:
    """The status after a reload that ended in ``outcome`` at ``now``, ``last`` the one
    before it and ``applied`` the last one that put a file in force.

    A save that changed nothing keeps the last change in view (the inspector shows it),
    rather than hiding what was just applied behind an empty diff; also after broken or
    missing saves between (the change in force is still ``applied``'s). Nothing new to
    say includes a restart still waited for, said as before.
    """
    shown = applied if last.outcome in ("error", "missing") else last
    changed_at: float | None = now
    if outcome == "ok" and not diff and message in ("", shown.message) \
            and shown.outcome == "ok":
        message, diff, changed_at = shown.message, shown.diff, shown.changed_at
    return ReloadStatus(count=last.count + 1,
                        applied=last.applied + (outcome in ("ok", "partial")), at=now,
                        outcome=outcome, message=message, diff=diff, changed_at=changed_at)


def recovered(name: str, was: ReloadOutcome, link: bool, since: ReloadStatus | None) -> str:
    """The line that says a broken (``was`` "error") or missing file serves again; ``link``:
    it was missing as a symlink to nothing. ``since``: the status of the last change
    applied when this save changes nothing (a ``ReloadStatus()`` if none was since
    start-up), None when it changes something, which the lines after it say."""
    back = ("is valid again" if was == "error" else
            "leads to a file again" if link else "exists again")
    if since is None:
        return f"reload: {name} {back}"
    when = "start-up"
    if since.changed_at is not None and (since.diff or since.message):
        when = time.strftime("%H:%M:%S", time.localtime(since.changed_at))
    return f"reload: {name} {back}: no change since {when}"


def _overridden(before: Config | None, written: Config, used: Config) -> list[str]:
    """Edits to the file that the command line's flags keep from applying."""
    if before is None:  # the first reload: what the file said at start-up is unknown
        return []
    notes = []
    if written.listen != before.listen and used.listen != written.listen:
        if used.listen.host == written.listen.host:  # -p: the file's host is used
            notes.append(f"the port of listen {written.listen} in the file is not used: the "
                         f"command line keeps port {used.listen.port}")
        else:
            notes.append(f"listen {written.listen} in the file is not used: the command "
                         f"line keeps {used.listen}")
    was = {route.path: route for route in before.routes}
    now = {route.path: route for route in used.routes}
    notes += [f"route {route.path} {'added' if route.path not in was else 'changed'} in the "
              f"file, but --route {route.path} replaces it"
              for route in written.routes
              if was.get(route.path) != route and now.get(route.path) != route]
    return notes


def _waits(names: list[str]) -> str:
    return (f"{' and '.join(names)} changed: read at start-up, so "
            f"{'they apply' if len(names) > 1 else 'it applies'} when devproxy restarts")


def _undone(names: list[str]) -> str:
    many = len(names) > 1
    return (f"{' and '.join(names)} {'edits' if many else 'edit'} undone: as at start-up "
            f"again, so {'they no longer wait' if many else 'it no longer waits'} for a "
            f"restart")


def _as_loaded(config: Config) -> Config:
    return config


def _watched(path: Path) -> tuple[tuple[Path, ...], Path, tuple[tuple[int, int], ...]]:
    """The folders to watch for ``path`` (its own, and its real file's if it is a
    link), the real file, and those folders' identities (device, inode), which change
    when a folder is replaced or moved away."""
    folder = path.absolute().parent
    # Not Path.resolve(): on a symlink loop it raises RuntimeError before Python 3.13.
    # realpath stops where the loop closes, and the loop itself is the reload's to tell.
    real = Path(os.path.realpath(path))
    folders = tuple(dict.fromkeys((folder, real.parent)))
    identities = []
    for each in folders:
        try:
            st = os.stat(each)
            identities.append((st.st_dev, st.st_ino))
        except OSError:
            identities.append((-1, -1))
    return folders, real, tuple(identities)


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
        bound: the port serving now, so that messages about ``listen: ...:0`` name the
            port the kernel gave rather than 0. None: messages show the address as written.
        written: the file's config as start-up read it, before ``finish``: the baseline
            a first edit is compared with (one made as devproxy starts, too).
    """

    def __init__(self, path: Path, live: Live, *, rebind: Callable[[Listen], Awaitable[int]],
                 finish: Callable[[Config], Config] | None = None,
                 bound: Callable[[], int] | None = None, written: Config | None = None
                 ) -> None:
        # Absolute once, here, and without "..": the working directory may be deleted
        # later (a build cleaning the folder devproxy was started in), and the file must
        # still be found.
        self.path = Path(os.path.abspath(path))
        self.name = str(path)  # as the user named it, for messages
        self.live = live
        self.rebind = rebind
        self.finish = finish or _as_loaded
        self.bound = bound
        # The file as last read, before the flags: an edit the flags override is named.
        # Start-up's reading if given: an edit made as devproxy starts has its baseline.
        self._file: Config | None = written
        self._caught_up = False  # the first catch-up compares the file with what serves
        self.watching = asyncio.Event()  # set once the folder is watched
        self._one_at_a_time = asyncio.Lock()
        self._read: tuple[int, int, int] | None = _fingerprint(self.path)  # as last reloaded
        self._said = ""  # the last error or "no route changed" logged: each said once in a row
        self._applied = ReloadStatus()  # the last status that put a file in force
        self._link = False  # the file is missing as a symlink to nothing (not deleted)
        self._waiting: list[str] = []  # "limits", "inspector": edited, read at the restart

    async def run(self, stop: asyncio.Event) -> None:
        """Reload after every change to the file until ``stop`` is set.

        Never raises: a failed reload is logged and the next change waited for; if the
        folder cannot be watched (removed, or the inotify limit reached), that is
        logged once and watching is tried again every ``RETRY_SECONDS``, picking up
        whatever changed meanwhile.
        """
        # The first watch catches up too: a save after devproxy read the file at
        # start-up and before this watch began would be lost until the next one.
        catch_up, failing = True, False
        while not stop.is_set():
            folder = self.path.parent
            if folder.is_dir():
                try:
                    await self._watch(stop, catch_up=catch_up)
                    failing = False
                except Exception as exc:
                    if not failing:
                        logger.error("cannot watch %s for changes (%s); trying again every "
                                     "%gs", folder, exc, RETRY_SECONDS,
                                     exc_info=not isinstance(exc, OSError))
                    failing = True
            self.watching.set()  # whoever waits for the watch must not wait forever
            catch_up = True
            if not failing and folder.is_dir():
                continue  # left a watch that no longer sees the file: watch it again now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_SECONDS)

    async def _watch(self, stop: asyncio.Event, *, catch_up: bool) -> None:
        """Reload on each change until ``stop`` is set or what is watched is no longer
        where the file is (its folder gone, moved or replaced; its link re-pointed)."""
        watched = _watched(self.path)
        folders, names = watched[0], {self.path.name, watched[1].name}

        def ours(_change: watchfiles.Change, changed: str) -> bool:
            return Path(changed).name in names

        # A symlinked config is edited where it really lives: that folder is watched too.
        changes = watchfiles.awatch(*folders, stop_event=stop, watch_filter=ours,
                                    debounce=DEBOUNCE_MS, step=STEP_MS, recursive=False,
                                    rust_timeout=RECHECK_MS, yield_on_timeout=True)
        # awatch sets up its watch synchronously in its first step, which the loop
        # below runs before this task first yields: whatever runs after that yield (a
        # waiter on ``watching``, the catch-up) runs with edits already being seen.
        self.watching.set()
        missed = asyncio.create_task(self._catch_up()) if catch_up else None
        try:
            async for batch in changes:
                if batch:
                    await self._settled()
                    await self.reload_logged()
                # A deleted file may mean a deleted folder, whose new namesake can reuse
                # its inode: watching afresh costs little, and run() catches up.
                deleted = any(change == watchfiles.Change.deleted for change, _ in batch)
                if deleted or await asyncio.to_thread(_watched, self.path) != watched:
                    return
        finally:
            if missed is not None:
                await missed

    async def _catch_up(self) -> None:
        """Reload if the file changed while it was not watched. The first time, before
        any reload, what it says is compared with what serves: start-up read it before
        the fingerprint to compare with was taken."""
        if self.live.reload.count == 0 and not self._caught_up:
            self._caught_up = True
            try:
                written, config = await asyncio.to_thread(self._load)
            except Exception:  # changed since (or a bug): the reload says how
                await self.reload_logged()
                return
            if config == self.live.current.config:
                if self._file is None:  # as it stood at start-up: the first edit's baseline
                    self._file = written
                return
            await self.reload_logged()
        elif await asyncio.to_thread(_fingerprint, self.path) != self._read:
            await self.reload_logged()

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

    async def _stays(self) -> bool:
        """Whether the file stays as last read for ``GRACE_MS``; if not, the watch has
        seen the change, and reloads once this one returns."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GRACE_MS / 1000
        while loop.time() < deadline:
            await asyncio.sleep(STEP_MS / 1000)
            if _fingerprint(self.path) != self._read:
                return False
        return True

    async def reload_logged(self) -> ReloadStatus:
        """``reload()``, with an unexpected failure logged and recorded, not raised."""
        try:
            return await self.reload()
        except Exception as exc:  # a bug in a reload must not take the proxy down
            logger.exception("reloading %s failed; the previous routes stay in force",
                             self.name)
            self._said = ""
            return self._record("error", f"internal error: {exc!r}")

    async def reload(self) -> ReloadStatus:
        """Load the file now and put it in force if it is valid.

        Returns:
            The new status (also stored as ``live.reload``).
        """
        async with self._one_at_a_time:  # the catch-up may overlap a change
            before, self._read = self._read, await asyncio.to_thread(_fingerprint, self.path)
            return await self._reload(again=before is not None and before == self._read)

    async def _reload(self, *, again: bool = False) -> ReloadStatus:
        """``again``: the file is as the last reload read it (by inode, size and mtime)."""
        try:
            # In a thread: a big file takes a while to parse, and requests go on meanwhile.
            written, config = await asyncio.to_thread(self._load)
        except _Deleted as gone:
            if not await self._stays():
                return self.live.reload  # it came back: its own change reloads it
            if str(gone) != self._said:
                logger.warning("%s; serving its last good routes until it is saved again",
                               gone)
            self._said, self._link = str(gone), gone.link
            return self._record("missing", str(gone))
        except ConfigError as exc:
            if not await self._stays():
                return self.live.reload  # still being written: the next change reloads
            return self._refuse(str(exc))
        if again and written == self._file and self.live.reload.outcome == "ok":
            # The events of a save the last reload already read (an editor that truncates,
            # then writes, is seen twice): "no route changed" would read as if undone.
            return self.live.reload
        old = self.live.current.config
        # Refused before anything is said or kept: a loop applies nothing of the file.
        looped = self._loop(config) if config.listen == old.listen else ""
        if looped:
            return self._refuse(looped)
        notes = _overridden(self._file, written, config)
        shown = list(notes)  # what the status says, which also names what still waits
        waiting = [name for name in ("limits", "inspector")
                   if getattr(config, name) != getattr(old, name)]
        # Logged when the file's value changes, not on every later reload while it waits;
        # the status says it as long as it waits, or an edit undone would still show it.
        started = [name for name in waiting if self._file is None
                   or getattr(written, name) != getattr(self._file, name)]
        undone = [name for name in self._waiting if name not in waiting]
        told = [_undone(undone)] if undone else []  # good news: logged as info
        if started:  # the server and the inspector's ring were built with the old ones
            notes.append(_waits(started))
        if waiting:
            shown.append(_waits(waiting))
            config = dataclasses.replace(config, limits=old.limits, inspector=old.inspector)
        snapshot = Snapshot.build(config)  # before rebinding: if this failed, nothing moved
        outcome: ReloadOutcome = "ok"
        was = old  # as serving: for listen: ...:0, with the port the kernel gave
        now = config  # the same, for the diff
        opened: int | None = None  # the port a move got
        unbound = ""  # why the new address could not be bound
        if config.listen != old.listen:
            if old.listen.port == 0 and self.bound is not None:
                was = dataclasses.replace(old, listen=Listen(old.listen.host, self.bound()))
            try:
                opened = await self.rebind(config.listen)
            except BindError as exc:
                kept = dataclasses.replace(config, listen=old.listen)
                looped = self._loop(kept)  # at the address that goes on serving
                if looped:
                    return self._refuse(f"{looped} ({config.listen} could not be bound)")
                outcome = "partial"
                unbound = (f"{config.listen_error(exc.reason, exc.hint)}; "
                           f"still serving on {was.listen}")
                config = now = kept  # no move to tell
                was = old
                snapshot = Snapshot.build(config)
            else:
                now = dataclasses.replace(config, listen=Listen(config.listen.host, opened))
        # Applied from here on.
        self._file, self._waiting = written, waiting
        changes = tuple(diff_routes(was, now))
        was_outcome = self.live.reload.outcome
        if was_outcome in ("error", "missing"):
            # A fix that only restores what serves says so on this one line, with when
            # what serves was applied: "no route changed" alone read as if undone.
            same = not (changes or notes or told or unbound or opened is not None)
            notice.info("%s", recovered(self.name, was_outcome, self._link,
                                        self._applied if same else None))
            if same:
                self._said = "no route changed"
        for line in told:
            logger.info("reload: %s", line)
        for note in notes:
            logger.warning("reload: %s", note)
        if unbound:
            notes.append(unbound)
            shown.append(unbound)
            logger.error("reload: %s (the rest of the file is applied)", unbound)
        if opened is not None:
            # Port 0 is whatever the kernel gave: the one way to find it.
            notice.warning("reload: now open %s", config.listen.url(opened))
            if not config.listen.is_loopback:
                logger.warning(OPEN_LISTEN_WARNING, config.listen)
        if config.any_host and not old.any_host:  # as said at start-up
            logger.warning(ANY_HOST_WARNING)
        self.live.swap(snapshot)
        said = changes or (() if notes or told else ("no route changed",))
        if said != ("no route changed",) or self._said != said[0]:  # once for a run of saves
            for line in said:
                logger.info("reload: %s", line)
        self._said = said[0] if said == ("no route changed",) else ""
        return self._record(outcome, "; ".join(told + shown), changes)

    def _refuse(self, why: str) -> ReloadStatus:
        """An invalid file: said (not again for a save that is broken the same way), and
        the last good routes serve on."""
        if why != self._said:
            logger.error("%s\n(still serving the last good routes; fix it and save again)", why)
        self._said = why
        return self._record("error", why)

    def _loop(self, config: Config) -> str:
        """A route that would come back to devproxy at the address it serves on (the
        file's listen may not be it: a port the kernel gave for 0, or the old address
        kept when the new one could not be bound); "" if none."""
        serving = config.listen
        if self.bound is not None:
            serving = Listen(serving.host, self.bound())
        return loop_refusal(config.routes, serving, self.name, "as served now")

    def _load(self) -> tuple[Config, Config]:
        """The file as written, and with the flags over it."""
        try:
            # Loops are looked for at the address in force once the flags are over it,
            # as at start-up: a -p that moves devproxy off a route's port ends the loop.
            written = load_config(self.path, self.name, loops=False)
        except ConfigError:
            if not self.path.exists():
                # A link re-pointed at nothing is no deleted file: it says where it points.
                # A loop is no missing file but a broken one: its error (the one start-up
                # and `check` give) stands.
                link = dangling_link(self.path)
                if link != SYMLINK_LOOP:
                    raise _Deleted(f"{self.name} is {link}" if link else
                                   f"{self.name} was deleted", link=bool(link)) from None
            raise
        config = self.finish(written)
        looped = loop_refusal(config.routes, config.listen, self.name, "")
        if looped:
            raise ConfigError(looped)
        return written, config

    def _record(self, outcome: ReloadOutcome, message: str = "",
                diff: tuple[str, ...] = ()) -> ReloadStatus:
        status = next_status(self.live.reload, self._applied, outcome, message, diff,
                             time.time())
        if outcome in ("ok", "partial"):
            self._applied = status
        self.live.reload = status
        return status
