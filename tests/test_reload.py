"""Hot reload against real files on disk: each way editors save, bad edits, a moved
listener, live streams and sockets, traffic under rewrites, and `devproxy up` itself."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from devproxy.app import ProxyServer, has_ipv6_loopback
from devproxy.config import Config
from devproxy.loader import load_config, parse_config, with_overrides
from devproxy.reload import (
    DEBOUNCE_MS,
    GRACE_MS,
    RETRY_SECONDS,
    STEP_MS,
    _overridden,
    next_status,
    recovered,
)
from devproxy.state import Live, ReloadOutcome, ReloadStatus, Snapshot

from .conftest import Backend

DEVPROXY = [sys.executable, "-m", "devproxy"]
ENV = {**os.environ, "NO_COLOR": "1"}


def config_text(api: str, other: str | None = None, *, listen: str = "127.0.0.1:0") -> str:
    return (f"listen: {listen}\nroutes:\n  - path: /api\n    target: {api}\n"
            f"  - path: /other\n    target: {other or api}\n")


async def named_backend(backend_factory: Callable[..., Awaitable[Backend]],
                        name: str) -> Backend:
    """Answers with its name; /events streams SSE, /ws echoes as "name:msg", and
    /peer tells which port the proxy's connection came from."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await ws.send_str(f"{name}:{msg.data}")
            return ws
        if request.path.endswith("/events"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for i in range(1500):  # bounded: 30 s at most
                await response.write(f"data: {name} {i}\n\n".encode())
                await asyncio.sleep(0.02)
            return response
        if request.path.endswith("/peer"):
            return web.Response(text=str(request.transport.get_extra_info("peername")[1]))
        return web.Response(text=name)

    return await backend_factory(handler)


async def until(check: Callable[[], bool | Awaitable[bool]], what: str,
                seconds: float = 5.0) -> None:
    """Poll ``check`` every 5 ms until it holds; fail after ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


@dataclass
class Proxy:
    server: ProxyServer
    path: Path
    client: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def status(self) -> ReloadStatus:
        return self.server.live.reload

    async def text(self, path: str = "/api/x", port: int | None = None) -> str:
        async with self.client.get(f"http://127.0.0.1:{port or self.server.port}{path}") as r:
            return await r.text()

    def serves(self, expected: str, path: str = "/api/x") -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await self.text(path) == expected
        return check

    def reloaded(self, times: int = 1) -> Callable[[], bool]:
        """True once ``times`` more reloads than now have been attempted."""
        target = self.status.count + times
        return lambda: self.status.count >= target

    def applied(self) -> Callable[[], bool]:
        target = self.status.applied + 1
        return lambda: self.status.applied >= target


@pytest.fixture
async def reloading(tmp_path: Path, client: aiohttp.ClientSession,
                    ) -> AsyncIterator[Callable[[str], Awaitable[Proxy]]]:
    """Start devproxy in-process on ``tmp_path/devproxy.yaml`` with reload on."""
    servers: list[ProxyServer] = []

    async def start(text: str, path: Path | None = None) -> Proxy:
        path = path or tmp_path / "devproxy.yaml"
        path.write_text(text)
        server = ProxyServer(Live(Snapshot.build(load_config(path))), shutdown_timeout=1,
                             watch=path)
        await server.start()  # returns once edits are being watched
        servers.append(server)
        return Proxy(server, path, client)

    yield start
    for server in servers:
        await server.stop()


def atomic_save(path: Path, text: str, temp_name: str = ".devproxy.yaml.swp") -> None:
    """How vim and JetBrains save: write a temp file, rename it over the original."""
    temp = path.with_name(temp_name)
    temp.write_text(text)
    os.replace(temp, path)


def errors_logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


# -- each way a save lands on disk ----------------------------------------------------


async def test_an_edit_in_place_is_put_in_force_and_its_diff_logged(backend_factory,
                                                                      reloading, caplog):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    assert await proxy.text() == "A"
    caplog.set_level(logging.INFO, logger="devproxy.reload")
    proxy.path.write_text(config_text(b.url, a.url))
    await until(proxy.serves("B"), "the edit to apply")
    assert await proxy.text("/other/x") == "A"
    assert proxy.status.outcome == "ok"
    assert proxy.status.diff == (f"~ /api target {a.url} -> {b.url}",)
    assert f"reload: ~ /api target {a.url} -> {b.url}" in caplog.messages
    changed = proxy.status.at
    assert changed is not None and proxy.status.changed_at == changed
    proxy.path.write_text("# only a comment\n" + config_text(b.url, a.url))
    await until(proxy.reloaded(), "the second edit")
    # The change applied stays in view, with when it was made: an empty diff would hide it.
    assert (proxy.status.outcome, proxy.status.diff) == (
        "ok", (f"~ /api target {a.url} -> {b.url}",))
    assert proxy.status.at is not None and proxy.status.at > changed
    assert proxy.status.changed_at == changed
    assert proxy.status.applied == 2
    assert "reload: no route changed" in caplog.messages


async def test_the_late_events_of_a_save_already_read_hide_nothing(
        backend_factory, reloading, caplog):
    # An editor that truncates the file, then writes it 50 ms later: the reload the
    # truncation woke reads the whole file, and the write's own events woke another,
    # which logged "no route changed" and emptied the status's diff.
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    caplog.set_level(logging.INFO, logger="devproxy")
    proxy.path.write_text(config_text(b.url, a.url))
    await until(proxy.serves("B"), "the write to apply")
    assert proxy.server.reloader is not None
    await proxy.server.reloader.reload()  # as the write's late events do
    assert (proxy.status.outcome, proxy.status.diff) == (
        "ok", (f"~ /api target {a.url} -> {b.url}",))
    assert [m for m in caplog.messages if "reload" in m] == [
        f"reload: ~ /api target {a.url} -> {b.url}"]


async def test_saves_alike_in_a_row_are_logged_once(backend_factory, reloading, caplog):
    a = await named_backend(backend_factory, "A")
    proxy = await reloading(config_text(a.url))
    caplog.set_level(logging.INFO, logger="devproxy")
    broken = config_text(a.url).replace("target:", "targt:")
    for _ in range(2):  # two broken saves, the same way
        saved = proxy.reloaded()
        proxy.path.write_text(broken)
        await until(saved, "the broken save", seconds=10)
    assert proxy.status.outcome == "error"
    assert sum("targt: unknown key" in m for m in caplog.messages) == 1, caplog.messages
    for n in range(1, 6):  # valid saves that change nothing, each seen
        saved = proxy.reloaded()
        proxy.path.write_text(config_text(a.url) + "#" * n + "\n")
        await until(saved, f"save {n}")
    # Said once, by the first, on the line that says the file is valid again.
    assert [m for m in caplog.messages if "no route changed" in m or "no change" in m] == [
        f"reload: {proxy.path} is valid again: no change since start-up"], caplog.messages
    proxy.path.write_text(broken)  # the same mistake again, after a valid save: said
    await until(lambda: proxy.status.outcome == "error", "the last save")
    assert sum("targt: unknown key" in m for m in caplog.messages) == 2


async def test_a_fix_that_restores_what_serves_keeps_the_last_change_in_view(
        backend_factory, reloading, caplog):
    # Edit, a broken save, then the edited version again: the status showed an empty diff
    # and the log "no route changed", as if the edit had been undone.
    a = await named_backend(backend_factory, "A")
    proxy = await reloading(config_text(a.url))
    caplog.set_level(logging.INFO, logger="devproxy")
    edited = config_text(a.url).replace("/other", "/otherK")
    proxy.path.write_text(edited)
    await until(lambda: proxy.status.diff != (), "the edit")
    applied = proxy.status
    assert applied.diff == ("- /other", f"+ /otherK -> {a.url}")
    proxy.path.write_text(edited.replace("target:", "targt:"))
    await until(lambda: proxy.status.outcome == "error", "the broken save", seconds=10)
    proxy.path.write_text(edited)
    await until(lambda: proxy.status.outcome == "ok", "the fix")
    status = proxy.status
    assert (status.diff, status.message, status.changed_at) == (
        applied.diff, applied.message, applied.changed_at)
    assert status.at is not None and applied.at is not None and status.at > applied.at
    since = time.strftime("%H:%M:%S", time.localtime(applied.changed_at))
    said = [m for m in caplog.messages if m.startswith("reload:")]
    assert said[-1] == f"reload: {proxy.path} is valid again: no change since {since}", said
    assert "reload: no route changed" not in said


def test_a_status_after_a_broken_save_keeps_the_change_applied_before_it() -> None:
    applied = ReloadStatus(count=1, applied=1, at=10.0, outcome="ok", diff=("+ /a -> x",),
                           changed_at=10.0)
    broken = next_status(applied, applied, "error", "devproxy.yaml:1:1: ...", (), 20.0)
    assert (broken.outcome, broken.diff) == ("error", ())
    fixed = next_status(broken, applied, "ok", "", (), 30.0)
    assert (fixed.count, fixed.applied, fixed.at) == (3, 2, 30.0)
    assert (fixed.diff, fixed.changed_at) == (("+ /a -> x",), 10.0)
    # A change of its own is shown, whatever came before.
    changed = next_status(broken, applied, "ok", "", ("- /a -> x",), 30.0)
    assert (changed.diff, changed.changed_at) == (("- /a -> x",), 30.0)
    # Nothing applied since start-up: nothing to keep.
    first = next_status(ReloadStatus(count=1, outcome="missing", at=5.0), ReloadStatus(),
                        "ok", "", (), 30.0)
    assert (first.diff, first.changed_at) == ((), 30.0)


@pytest.mark.parametrize(("was", "link", "since", "said"), [
    pytest.param("error", False, None, "reload: devproxy.yaml is valid again", id="fixed"),
    pytest.param("missing", False, None, "reload: devproxy.yaml exists again",
                 id="re-created"),
    pytest.param("missing", True, None, "reload: devproxy.yaml leads to a file again",
                 id="link-re-pointed"),
    pytest.param("error", False, ReloadStatus(), "reload: devproxy.yaml is valid again: no "
                 "change since start-up", id="fixed-as-at-start-up"),
    pytest.param("missing", False, ReloadStatus(outcome="ok", diff=("+ /a -> x",),
                                                changed_at=0.0),
                 "reload: devproxy.yaml exists again: no change since "
                 + time.strftime("%H:%M:%S", time.localtime(0.0)), id="re-created-as-it-was"),
])
def test_a_file_that_serves_again_is_said_to_in_the_words_of_what_was_wrong(
        was: ReloadOutcome, link: bool, since: ReloadStatus | None, said: str) -> None:
    assert recovered("devproxy.yaml", was, link, since) == said


async def test_turning_the_host_check_off_is_logged_as_a_change_with_its_warning(
        backend_factory, reloading, caplog):
    a = await named_backend(backend_factory, "A")
    proxy = await reloading(config_text(a.url))
    caplog.set_level(logging.INFO, logger="devproxy")
    proxy.path.write_text("allowed_hosts: all\n" + config_text(a.url))
    await until(proxy.reloaded(), "the edit")
    assert proxy.status.diff == ("~ allowed_hosts [] -> all",)
    assert any("DNS rebinding" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    assert "reload: no route changed" not in caplog.messages


async def test_a_save_written_in_pieces_is_read_once_whole(backend_factory, reloading):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    text = config_text(b.url).encode()
    pieces = [text[i:i + 20] for i in range(0, len(text), 20)]
    assert len(pieces) * STEP_MS / 2 > 2 * STEP_MS  # longer than watchfiles waits
    fd = os.open(proxy.path, os.O_WRONLY | os.O_TRUNC)
    try:  # a slow writer: a pause shorter than a step after each piece
        for piece in pieces:
            os.write(fd, piece)
            await asyncio.sleep(STEP_MS / 2000)
    finally:
        os.close(fd)
    await until(proxy.serves("B", "/other/x"), "the last piece to apply")
    # One reload, of the whole file: no torn prefix (valid or not) was ever read.
    assert proxy.status.count == 1
    assert proxy.status.diff == (f"~ /api target {a.url} -> {b.url}",
                                 f"~ /other target {a.url} -> {b.url}")


@pytest.mark.parametrize("temp_name", [".devproxy.yaml.swp", "devproxy.yaml___jb_tmp___"],
                         ids=["vim", "jetbrains"])
async def test_atomic_rename_saves_are_seen_every_time(backend_factory, reloading, temp_name):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    for backend, name in [(b, "B"), (a, "A"), (b, "B")]:  # a new inode each time
        atomic_save(proxy.path, config_text(backend.url), temp_name)
        await until(proxy.serves(name), f"the save that names {name}")
    assert (proxy.status.count, proxy.status.applied) == (3, 3)  # temp files never reload


async def test_a_file_truncated_then_written_in_two_steps_applies_only_when_whole(
        backend_factory, reloading, caplog):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    whole = config_text(b.url)
    torn = whole.index("    target:")  # ends after "- path: /api": a route with no target
    with caplog.at_level(logging.ERROR, logger="devproxy"), proxy.path.open("w") as handle:
        handle.write(whole[:torn])
        handle.flush()
        await until(lambda: proxy.status.outcome == "error", "the torn file to be seen")
        assert await proxy.text() == "A"
        handle.write(whole[torn:])
    await until(proxy.serves("B"), "the completed save")
    assert f"{proxy.path}:" in errors_logged(caplog)


@pytest.mark.parametrize("how", ["paused-mid-write", "renamed-away-and-back"])
async def test_a_save_that_is_broken_or_gone_for_a_moment_logs_nothing(
        backend_factory, reloading, caplog, how):
    # A writer pausing 150 ms mid-file, and JetBrains' safe write (the file renamed away,
    # the new one renamed in a moment later): the routes never broke, so no red line.
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    whole = config_text(b.url)
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        if how == "paused-mid-write":
            with proxy.path.open("w") as handle:
                handle.write(whole[:whole.index("    target:")])
                handle.flush()
                await asyncio.sleep(0.15)
                handle.write(whole[whole.index("    target:"):])
        else:
            aside = proxy.path.with_name("devproxy.yaml~")
            os.replace(proxy.path, aside)
            await asyncio.sleep(0.15)
            atomic_save(proxy.path, whole, "devproxy.yaml___jb_tmp___")
            aside.unlink()
        await until(proxy.serves("B"), "the save")
        await asyncio.sleep(GRACE_MS / 1000 + 0.3)
    assert proxy.status.outcome == "ok"
    assert [m for m in caplog.messages if "deleted" in m or "still serving" in m] == []


@pytest.mark.parametrize(("broken", "expected"), [
    pytest.param("routes: [\n", ":1:9: invalid YAML", id="invalid-yaml"),
    pytest.param("routes:\n  - path: /api\n    targte: http://127.0.0.1:1\n",
                 ":3:5: routes[0].targte: unknown key", id="unknown-key"),
    pytest.param("routes:\n  - path: /api\n    static: ./missing\n",
                 ":3:13: routes[0].static: static folder './missing'", id="missing-folder"),
    pytest.param("", ":1:1: the file is empty", id="emptied"),
])
async def test_a_bad_save_keeps_the_old_routes_and_names_file_line_and_column(
        backend_factory, reloading, caplog, broken, expected):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    with caplog.at_level(logging.ERROR, logger="devproxy"):
        proxy.path.write_text(broken)
        await until(proxy.reloaded(), "the bad save to be read")
    assert proxy.status.outcome == "error"
    assert proxy.status.message.startswith(f"{proxy.path}{expected}")
    assert f"{proxy.path}{expected}" in errors_logged(caplog)
    assert await proxy.text() == "A"
    assert await proxy.text("/other/x") == "A"
    with caplog.at_level(logging.INFO, logger="devproxy"):
        proxy.path.write_text(config_text(b.url))  # the next valid save applies
        await until(proxy.serves("B"), "the fixed save")
    assert proxy.status.outcome == "ok"
    assert f"reload: {proxy.path} is valid again" in caplog.messages


async def test_a_deleted_file_keeps_the_routes_and_a_recreated_one_is_read(
        backend_factory, reloading, caplog):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        proxy.path.unlink()
        await until(lambda: proxy.status.outcome == "missing", "the deletion to be seen")
    assert f"{proxy.path} was deleted" in caplog.text
    assert await proxy.text() == "A"
    with caplog.at_level(logging.INFO, logger="devproxy"):
        proxy.path.write_text(config_text(b.url))
        await until(proxy.serves("B"), "the re-created file")
    assert f"reload: {proxy.path} exists again" in caplog.messages  # not "valid again"


async def test_a_link_re_pointed_at_nothing_says_so_not_that_the_file_was_deleted(
        backend_factory, tmp_path, reloading, caplog):
    a = await named_backend(backend_factory, "A")
    real = tmp_path / "real.yaml"
    real.touch()
    link = tmp_path / "devproxy.yaml"
    link.symlink_to(real)
    proxy = await reloading(config_text(a.url), link)  # written through the link
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        link.unlink()
        link.symlink_to("gone.yaml")
        await until(lambda: proxy.status.outcome == "missing", "the link to be seen")
    said = f"{link} is a symlink to gone.yaml, which does not exist"
    assert proxy.status.message == said
    assert f"{said}; serving its last good routes" in caplog.text
    assert "deleted" not in caplog.text
    assert await proxy.text() == "A"
    with caplog.at_level(logging.INFO, logger="devproxy"):
        link.unlink()
        link.symlink_to(real)  # as it was: its routes serve on, as they did
        await until(lambda: proxy.status.outcome == "ok", "the link pointed at a file again")
    assert f"reload: {link} leads to a file again: no change since start-up" in caplog.messages


async def test_a_symlink_loop_made_while_running_is_an_error_until_it_is_undone(
        backend_factory, tmp_path, reloading, caplog):
    # devproxy.yaml -> link1 -> real.yaml, then `ln -sfn devproxy.yaml link1`: the watch
    # logged two chained tracebacks (Path.resolve() on a loop) and the status said nothing.
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    real, link1, config = tmp_path / "real.yaml", tmp_path / "link1", tmp_path / "devproxy.yaml"
    real.touch()
    link1.symlink_to(real)
    config.symlink_to(link1)
    proxy = await reloading(config_text(a.url), config)  # written through both links
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        link1.unlink()
        link1.symlink_to(config.name)
        await until(lambda: proxy.status.outcome == "error", "the loop to be seen")
    said = (f"{config}: a symlink loop: following it never reaches a file; point it at "
            f"your config file")  # as start-up and `check` say it
    assert proxy.status.message == said
    assert said in errors_logged(caplog)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert await proxy.text() == "A"  # the last good routes serve on
    real.write_text(config_text(b.url))
    link1.unlink()
    link1.symlink_to(real)
    await until(proxy.serves("B"), "the link pointed at a file again")
    assert proxy.status.outcome == "ok"


async def test_a_removed_folder_is_watched_again_once_it_is_back(backend_factory, reloading):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    shutil.rmtree(proxy.path.parent)
    await until(lambda: proxy.status.outcome == "missing", "the removal to be seen")
    proxy.path.parent.mkdir()
    proxy.path.write_text(config_text(b.url))
    await until(proxy.serves("B"), "the file in the new folder", seconds=RETRY_SECONDS + 5)
    atomic_save(proxy.path, config_text(a.url))  # and it is watched as before
    await until(proxy.serves("A"), "a later save")


async def test_a_folder_replaced_under_a_quiet_watch_is_watched_afresh(
        backend_factory, reloading, tmp_path):
    # rm -rf and recreate, or a branch switch: the old watch stays on the old folder.
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    folder = tmp_path / "cfg"
    folder.mkdir()
    proxy = await reloading(config_text(a.url), folder / "devproxy.yaml")
    shutil.rmtree(folder)
    folder.mkdir()
    proxy.path.write_text(config_text(b.url))
    await until(proxy.serves("B"), "the file in the new folder", seconds=RETRY_SECONDS + 5)
    proxy.path.write_text(config_text(a.url))  # an edit in place, later
    await until(proxy.serves("A"), "a later edit", seconds=RETRY_SECONDS + 5)


async def test_a_folder_moved_away_leaves_its_watch_behind(backend_factory, reloading,
                                                           tmp_path):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    folder = tmp_path / "cfg"
    folder.mkdir()
    proxy = await reloading(config_text(a.url), folder / "devproxy.yaml")
    folder.rename(tmp_path / "cfg.old")  # no event for the file: only the folder moved
    folder.mkdir()
    proxy.path.write_text(config_text(b.url))
    await until(proxy.serves("B"), "the file in the new folder", seconds=RETRY_SECONDS + 5)
    proxy.path.write_text(config_text(a.url))
    await until(proxy.serves("A"), "a later edit", seconds=RETRY_SECONDS + 5)


async def test_a_symlinked_config_is_reloaded_when_the_real_file_changes(
        backend_factory, reloading, tmp_path):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    (tmp_path / "real").mkdir()
    (tmp_path / "proj").mkdir()
    real = tmp_path / "real" / "shared.yaml"
    real.write_text(config_text(a.url))
    link = tmp_path / "proj" / "devproxy.yaml"
    link.symlink_to(real)
    proxy = await reloading(config_text(a.url), link)
    real.write_text(config_text(b.url))  # edited where it lives, not through the link
    await until(proxy.serves("B"), "the edit of the real file")
    atomic_save(real, config_text(a.url), ".shared.yaml.swp")
    await until(proxy.serves("A"), "an atomic save of the real file")


async def test_other_files_in_the_folder_are_ignored(backend_factory, reloading):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    folder = proxy.path.parent
    for name in ("notes.txt", "other.yaml", ".devproxy.yaml.swp", "devproxy.yaml~"):
        (folder / name).write_text("routes: [\n")
    # Longer than the watcher takes to react to a change (it would have by now)...
    await asyncio.sleep(3 * (DEBOUNCE_MS + STEP_MS) / 1000)
    assert proxy.status.count == 0
    proxy.path.write_text(config_text(b.url))  # ...and it was listening all along
    await until(proxy.serves("B"), "a save of the config itself")
    assert proxy.status.count == 1


@pytest.mark.parametrize(("flags", "note"), [
    ({"listen": "127.0.0.1:0"}, "listen localhost:{port} in the file is not used: the "
                                "command line keeps 127.0.0.1:0"),
    ({"port": 0}, "the port of listen localhost:{port} in the file is not used: the command "
                  "line keeps port 0"),  # -p: the file's host is used
])
async def test_a_listen_the_flags_override_is_named_for_what_it_keeps(
        backend_factory, tmp_path, client, caplog, flags: dict[str, Any], note: str):
    a = await named_backend(backend_factory, "A")
    path = tmp_path / "devproxy.yaml"
    path.write_text(config_text(a.url))

    calls = 0

    def overrides(config: Config) -> Config:
        nonlocal calls
        calls += 1
        return with_overrides(config, **flags)

    server = ProxyServer(Live(Snapshot.build(overrides(load_config(path)))), watch=path,
                         overrides=overrides)
    await server.start()
    try:
        proxy = Proxy(server, path, client)
        # The watch's first look at the file, which it keeps as what the flags override.
        await until(lambda: calls == 2, "the start-up comparison")
        port = free_port()
        with caplog.at_level(logging.WARNING, logger="devproxy"):
            path.write_text(config_text(a.url, listen=f"localhost:{port}"))
            await until(proxy.reloaded(), "the save")
        assert proxy.status.message == note.format(port=port)
    finally:
        await server.stop()


async def test_a_loop_in_the_file_that_the_port_flag_moves_off_is_no_loop_on_reload(
        backend_factory, tmp_path, client):
    # `devproxy up -p` once started, then refused every save: the reload looked for the
    # loop at the file's listen, not at the port the flag serves on.
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    path = tmp_path / "devproxy.yaml"
    mine = free_port()
    path.write_text(config_text(a.url))

    def overrides(config: Config) -> Config:
        return with_overrides(config, port=0)

    server = ProxyServer(Live(Snapshot.build(overrides(load_config(path)))), watch=path,
                         overrides=overrides)
    await server.start()
    try:
        proxy = Proxy(server, path, client)
        path.write_text(config_text(f"http://127.0.0.1:{mine}", b.url,
                                    listen=f"127.0.0.1:{mine}"))
        await until(proxy.reloaded(), "the save")
        assert (proxy.status.outcome, proxy.status.message) == ("ok", "")
        assert await proxy.text("/other/x") == "B"
    finally:
        await server.stop()


def test_a_file_route_a_flag_replaces_is_named_as_added_or_changed() -> None:
    before = parse_config("routes: [{path: /api, target: 'http://h:1'}]\n", "d.yaml", Path("/"))
    written = parse_config("routes: [{path: /api, target: 'http://h:2'}, "
                           "{path: /extra, target: 'http://h:3'}]\n", "d.yaml", Path("/"))
    used = with_overrides(written, routes=["/api=http://h:9", "/extra=http://h:9"])
    assert _overridden(before, written, used) == [
        "route /api changed in the file, but --route /api replaces it",
        "route /extra added in the file, but --route /extra replaces it"]


async def test_a_save_while_devproxy_starts_is_not_lost(backend_factory, tmp_path, client,
                                                      caplog):
    # Saved after start-up read the file and before its watch began: no change was
    # ever seen, and the old routes served until the next save.
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    path = tmp_path / "devproxy.yaml"
    path.write_text(config_text(a.url))
    read_at_start = load_config(path)
    path.write_text(config_text(b.url))
    server = ProxyServer(Live(Snapshot.build(read_at_start)), watch=path)
    with caplog.at_level(logging.INFO, logger="devproxy"):
        await server.start()
        try:
            proxy = Proxy(server, path, client)
            await until(proxy.serves("B"), "the save made while starting")
            assert proxy.status.outcome == "ok"
        finally:
            await server.stop()
    assert "reload: ~ /api" in caplog.text


async def test_an_unchanged_file_is_not_reloaded_when_the_watch_begins(
        backend_factory, tmp_path, client, caplog):
    a = await named_backend(backend_factory, "A")
    path = tmp_path / "devproxy.yaml"
    path.write_text(config_text(a.url))
    server = ProxyServer(Live(Snapshot.build(load_config(path))), watch=path)
    with caplog.at_level(logging.INFO, logger="devproxy"):
        await server.start()
        try:
            proxy = Proxy(server, path, client)
            path.write_text(config_text(a.url) + "# saved\n")  # a first edit after
            await until(proxy.reloaded(), "the first save")
            assert proxy.status.count == 1  # only the save: none when the watch began
        finally:
            await server.stop()
    assert "reload" in caplog.text and "no route changed" in caplog.text


async def test_an_unexpected_failure_is_logged_with_its_traceback_and_watching_goes_on(
        backend_factory, tmp_path, client, caplog):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    path = tmp_path / "devproxy.yaml"
    path.write_text(config_text(a.url))
    failures: list[Exception] = []
    calls = 0

    def overrides(config: Config) -> Config:  # the seam the CLI's flags go through
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop()
        return config

    server = ProxyServer(Live(Snapshot.build(load_config(path))), watch=path,
                         overrides=overrides)
    await server.start()
    try:
        proxy = Proxy(server, path, client)
        # The watch first compares the file with what serves (through the seam): the
        # bug is armed for the reload after that.
        await until(lambda: calls == 1, "the start-up comparison")
        failures.append(RuntimeError("a bug"))
        with caplog.at_level(logging.ERROR, logger="devproxy"):
            path.write_text(config_text(b.url))
            await until(proxy.reloaded(), "the failing reload")
        assert proxy.status.outcome == "error"
        assert "RuntimeError('a bug')" in proxy.status.message
        assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)
        assert await proxy.text() == "A"
        path.write_text(config_text(b.url) + "# saved again\n")
        await until(proxy.serves("B"), "the next save")
    finally:
        await server.stop()


# -- the listen address ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def refuses(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_a_new_listen_address_serves_and_the_old_stops_accepting(backend_factory,
                                                                        reloading, client):
    a = await named_backend(backend_factory, "A")
    proxy = await reloading(config_text(a.url))
    old, new = proxy.server.port, free_port()
    async with client.get(proxy.url + "/api/events") as events:  # open on the old port
        await events.content.readuntil(b"\n\n")
        proxy.path.write_text(config_text(a.url, listen=f"127.0.0.1:{new}"))
        await until(proxy.applied(), "the rebind")
        assert proxy.server.port == new
        assert proxy.status.diff == (f"~ listen 127.0.0.1:{old} -> 127.0.0.1:{new}",)
        assert await proxy.text(port=new) == "A"
        assert await refuses(old)
        for _ in range(3):  # the connection accepted on the old address carries on
            line = await asyncio.wait_for(events.content.readuntil(b"\n\n"), 2)
            assert line.startswith(b"data: A ")


async def test_the_same_port_on_an_overlapping_address_is_taken_over(backend_factory,
                                                                      reloading):
    # 127.0.0.1:P and localhost:P cannot both listen; the old one makes way.
    a = await named_backend(backend_factory, "A")
    port = free_port()
    proxy = await reloading(config_text(a.url, listen=f"127.0.0.1:{port}"))
    proxy.path.write_text(config_text(a.url, listen=f"localhost:{port}"))
    await until(proxy.applied(), "the rebind")
    assert proxy.status.message == ""
    assert proxy.server.live.current.config.listen.host == "localhost"
    assert await proxy.text(port=port) == "A"



async def test_localhost_serves_on_both_loopback_addresses(backend_factory, reloading,
                                                           client):
    # What `devproxy init` writes for Next.js: a browser at http://localhost:PORT tries
    # ::1 first (Chromium does, whatever /etc/hosts says), then 127.0.0.1.
    a = await named_backend(backend_factory, "A")
    port = free_port()
    proxy = await reloading(config_text(a.url, listen=f"localhost:{port}"))
    assert await proxy.text(port=port) == "A"
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    async with client.get(f"http://[::1]:{port}/api/x") as response:
        assert await response.text() == "A"


async def test_a_port_taken_on_ipv6_loopback_is_not_left_to_another_server(
        backend_factory, reloading, caplog):
    # A dev server on [::1]:PORT would get a browser's requests for localhost:PORT.
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    a = await named_backend(backend_factory, "A")
    proxy = await reloading(config_text(a.url))
    with socket.socket(socket.AF_INET6) as taken, \
            caplog.at_level(logging.ERROR, logger="devproxy"):
        taken.bind(("::1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        proxy.path.write_text(config_text(a.url, listen=f"localhost:{busy}"))
        await until(proxy.reloaded(), "the reload")
    assert f"listen: port {busy} on localhost is already in use" in proxy.status.message


async def test_an_address_that_cannot_be_bound_keeps_the_old_one(backend_factory, reloading,
                                                                 caplog):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    port = proxy.server.port
    with socket.socket() as taken, caplog.at_level(logging.ERROR, logger="devproxy"):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        proxy.path.write_text(config_text(b.url, listen=f"127.0.0.1:{busy}"))
        await until(proxy.serves("B"), "the routes to apply")  # the rest still applies
    assert proxy.server.port == port
    assert not await refuses(port)  # still accepting new connections
    # Where the address was written: the file's line 1.
    assert f":1: listen: port {busy} on 127.0.0.1 is already in use" in proxy.status.message
    # A flag cannot be given to a running devproxy: the advice is the file's line.
    assert "choose another port on that line" in proxy.status.message
    assert "--listen" not in proxy.status.message
    assert proxy.status.outcome == "partial"  # the routes applied, the address did not
    # The diff is of what applied: the routes, not a move that never happened.
    assert proxy.status.diff and not any("listen" in line for line in proxy.status.diff)
    # The port serving, not the 0 the file had: the one fact the user needs.
    assert f"still serving on 127.0.0.1:{port} (" in errors_logged(caplog)
    assert str(proxy.server.live.current.config.listen) == "127.0.0.1:0"


@pytest.mark.parametrize("move", ["none", "busy"])
async def test_a_route_to_the_address_served_is_refused_not_looped(
        backend_factory, reloading, caplog, move: str):
    # The file says port 0 (the port served is the kernel's), or asks for a port that
    # is taken (the old one serves on): the loader cannot see that a route reaches it.
    a = await named_backend(backend_factory, "A")
    proxy = await reloading(config_text(a.url))
    port = proxy.server.port
    proxy.path.write_text("routes: [\n")  # broken first: the loop must not read as a fix
    await until(lambda: proxy.status.outcome == "error", "the broken save")
    with socket.socket() as taken, caplog.at_level(logging.INFO, logger="devproxy"):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = "127.0.0.1:0" if move == "none" else f"127.0.0.1:{taken.getsockname()[1]}"
        proxy.path.write_text(config_text(a.url, f"http://127.0.0.1:{port}", listen=listen))
        await until(proxy.reloaded(), "the reload")
    # Nothing of the file applied, and nothing said as if it had been.
    assert not any(word in caplog.text for word in ("valid again", "is applied", "now open"))
    assert proxy.status.outcome == "error"
    assert (f":6:13: routes[1].target: http://127.0.0.1:{port} is devproxy's own address "
            f"(listen: 127.0.0.1:{port}, as served now)") in proxy.status.message
    assert "still serving the last good routes" in errors_logged(caplog)
    assert proxy.server.port == port
    assert await proxy.text("/other/x") == "A"  # the last good route, not a loop


async def test_a_new_listen_on_port_0_says_the_port_it_got(backend_factory, reloading,
                                                           caplog):
    a = await named_backend(backend_factory, "A")
    first = free_port()
    proxy = await reloading(config_text(a.url, listen=f"127.0.0.1:{first}"))
    with caplog.at_level(logging.INFO, logger="devproxy"):
        proxy.path.write_text(config_text(a.url, listen="127.0.0.1:0"))
        await until(proxy.applied(), "the rebind")
    got = proxy.server.port
    assert f"reload: now open http://127.0.0.1:{got}" in caplog.messages
    # The diff too: the port it got, not the 0 asked for.
    assert f"reload: ~ listen 127.0.0.1:{first} -> 127.0.0.1:{got}" in caplog.messages
    # Moving on from port 0 names the port it was on, not 0.
    later = free_port()
    with caplog.at_level(logging.INFO, logger="devproxy"):
        proxy.path.write_text(config_text(a.url, listen=f"127.0.0.1:{later}"))
        await until(proxy.applied(), "the second rebind")
    assert f"reload: ~ listen 127.0.0.1:{got} -> 127.0.0.1:{later}" in caplog.messages


async def test_limits_and_inspector_edits_say_they_wait_for_a_restart(backend_factory,
                                                                      reloading, caplog):
    a = await named_backend(backend_factory, "A")
    proxy = await reloading(config_text(a.url))
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        proxy.path.write_text(config_text(a.url) + "limits: {idle_timeout: 5}\n"
                              "inspector: {history: 10}\n")
        await until(proxy.applied(), "the reload")
    note = "limits and inspector changed: read at start-up, so they apply when devproxy restarts"
    assert f"reload: {note}" in caplog.messages
    assert proxy.status.message == note
    # Said once: a later edit of something else does not repeat it.
    with caplog.at_level(logging.WARNING, logger="devproxy"):
        proxy.path.write_text(config_text(a.url) + "limits: {idle_timeout: 5}\n"
                              "inspector: {history: 10}\nallowed_hosts: [myapp.test]\n")
        await until(proxy.applied(), "the second reload")
    assert [m for m in caplog.messages if "read at start-up" in m] == [f"reload: {note}"]
    config = proxy.server.live.current.config  # what is in force, as the status API shows
    assert config.inspector.history == 500 and config.limits.idle_timeout != 5


async def test_undoing_a_restart_only_edit_says_so_and_the_status_drops_its_note(
        backend_factory, reloading, caplog):
    # The status and the inspector's pill kept "limits changed: ... when devproxy
    # restarts" after the file was saved back; the log said only "no route changed".
    a = await named_backend(backend_factory, "A")
    proxy = await reloading(config_text(a.url))
    proxy.path.write_text(config_text(a.url) + "limits: {header_size: 1000}\n")
    await until(proxy.applied(), "the limits edit")
    assert proxy.status.message == ("limits changed: read at start-up, so it applies when "
                                    "devproxy restarts")
    with caplog.at_level(logging.INFO, logger="devproxy"):
        proxy.path.write_text(config_text(a.url))
        await until(proxy.applied(), "the limits saved back")
    undone = "limits edit undone: as at start-up again, so it no longer waits for a restart"
    assert proxy.status.message == undone
    assert f"reload: {undone}" in caplog.messages
    assert "reload: no route changed" not in caplog.messages
    proxy.path.write_text(config_text(a.url) + "allowed_hosts: [myapp.test]\n")
    await until(proxy.applied(), "a later edit")
    assert proxy.status.message == ""  # nothing waits, nothing to say


async def test_a_restart_still_waited_for_stays_in_the_status_through_other_saves(
        backend_factory, reloading, caplog):
    a = await named_backend(backend_factory, "A")
    proxy = await reloading(config_text(a.url))
    both = "limits: {idle_timeout: 5}\ninspector: {history: 10}\n"
    proxy.path.write_text(config_text(a.url) + both)
    await until(proxy.applied(), "the edit")
    proxy.path.write_text(config_text(a.url) + both + "allowed_hosts: [myapp.test]\n")
    await until(proxy.applied(), "an edit of something else")
    waits = "limits and inspector changed: read at start-up, so they apply when devproxy restarts"
    assert proxy.status.message == waits and proxy.status.diff
    proxy.path.write_text("routes: [")  # broken, then fixed: the status says it again
    await until(lambda: proxy.status.outcome == "error", "the broken save")
    proxy.path.write_text(config_text(a.url) + both + "allowed_hosts: [myapp.test]\n")
    await until(proxy.applied(), "the fixed save")
    assert proxy.status.message == waits
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="devproxy"):
        proxy.path.write_text(config_text(a.url) + "inspector: {history: 10}\n")
        await until(proxy.applied(), "the limits undone")
    assert proxy.status.message == (
        "limits edit undone: as at start-up again, so it no longer waits for a restart; "
        "inspector changed: read at start-up, so it applies when devproxy restarts")
    assert [m for m in caplog.messages if "read at start-up" in m] == []  # said before


# -- what is under way when a reload lands ---------------------------------------------


async def test_streams_sockets_and_pooled_connections_of_unchanged_routes_survive_reloads(
        backend_factory, reloading, client):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    async with client.get(proxy.url + "/api/events") as events, \
            client.ws_connect(proxy.url.replace("http", "ws") + "/api/ws") as ws:
        upstream_port = await proxy.text("/api/peer")  # an idle pooled connection after this
        for i in range(10):  # re-target /other each time; /api stays as it was
            proxy.path.write_text(config_text(a.url, b.url if i % 2 == 0 else a.url))
            await until(proxy.applied(), f"reload {i}")
            line = await asyncio.wait_for(events.content.readuntil(b"\n\n"), 2)
            assert line.startswith(b"data: A ")
            await ws.send_str(f"ping {i}")
            assert await ws.receive_str(timeout=2) == f"A:ping {i}"
        assert await proxy.text("/api/peer") == upstream_port  # the same warm connection
    assert proxy.status.applied == 10


async def test_a_retargeted_route_lets_its_open_stream_and_socket_finish(backend_factory,
                                                                        reloading, client):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    proxy = await reloading(config_text(a.url))
    ws_url = proxy.url.replace("http", "ws") + "/api/ws"
    async with client.get(proxy.url + "/api/events") as events, client.ws_connect(ws_url) as ws:
        assert (await events.content.readuntil(b"\n\n")).startswith(b"data: A ")
        proxy.path.write_text(config_text(b.url))
        await until(proxy.serves("B"), "the retarget")
        async with client.ws_connect(ws_url) as new_ws:  # new sockets go to B...
            await new_ws.send_str("new")
            assert await new_ws.receive_str(timeout=2) == "B:new"
        for i in range(3):  # ...while the ones already open still talk to A
            line = await asyncio.wait_for(events.content.readuntil(b"\n\n"), 2)
            assert line.startswith(b"data: A ")
            await ws.send_str(f"old {i}")
            assert await ws.receive_str(timeout=2) == f"A:old {i}"


@dataclass
class Answer:
    sent: float
    received: float
    name: str


@dataclass
class Table:
    """A config that was in force: saved at ``saved``, seen applied by ``seen``."""

    name: str
    saved: float
    seen: float
    replaced_by: float = float("inf")  # when its successor was seen applied

    def may_serve(self, answer: Answer) -> bool:
        # A request reads the table once, somewhere between sending and its answer; this
        # table may be the one in force from its save to the moment its successor is
        # seen applied. Anything outside that is a routing bug, not timing.
        return self.saved <= answer.received and answer.sent <= self.replaced_by


async def test_no_request_fails_and_each_is_routed_by_a_table_in_force_under_rewrites(
        backend_factory, reloading):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    # Twenty saves cycling through A, an equivalent A (reformatted, no route changes),
    # B and an equivalent B.
    texts = [(config_text(a.url), "A"), ("# same routes\n" + config_text(a.url), "A"),
             (config_text(b.url), "B"),
             (f"routes: [{{path: /other, target: '{b.url}'}}, {{path: /api, target: "
              f"'{b.url}'}}]\nlisten: 127.0.0.1:0\n", "B")]
    proxy = await reloading(texts[0][0])
    loop = asyncio.get_running_loop()
    answers: list[Answer] = []
    failures: list[str] = []
    saving = True

    async def client_loop() -> None:
        async with aiohttp.ClientSession() as session:  # one keep-alive connection each
            while saving or len(answers) < 2000:
                sent = loop.time()
                try:
                    async with session.get(proxy.url + "/api/x") as resp:
                        name = await resp.text()
                        if resp.status != 200:
                            failures.append(f"{resp.status} {name[:200]}")
                except aiohttp.ClientError as exc:
                    failures.append(repr(exc))
                else:
                    answers.append(Answer(sent, loop.time(), name))

    clients = [asyncio.create_task(client_loop()) for _ in range(4)]
    tables = [Table("A", float("-inf"), float("-inf"))]
    try:
        for i in range(1, 21):
            text, name = texts[i % 4]
            saved = loop.time()
            atomic_save(proxy.path, text)
            await until(proxy.applied(), f"save {i}")
            tables[-1].replaced_by = loop.time()
            tables.append(Table(name, saved, loop.time()))
            await asyncio.sleep(0.05)  # let requests run on a settled table too
    finally:
        saving = False
        await asyncio.wait_for(asyncio.gather(*clients), 30)
    assert failures == []
    assert len(answers) >= 2000
    assert proxy.status.applied == 20
    wrong = [(x, [t for t in tables if t.may_serve(x)]) for x in answers
             if not any(t.may_serve(x) and t.name == x.name for t in tables)]
    assert wrong == []
    # The check has teeth: most answers fall where only one name could be right.
    decided = [x for x in answers if len({t.name for t in tables if t.may_serve(x)}) == 1]
    assert len(decided) > len(answers) / 2
    assert {x.name for x in decided} == {"A", "B"}


# -- `devproxy up` ---------------------------------------------------------------------


@dataclass
class Process:
    """A `devproxy up` process whose stderr is read line by line as it comes."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None
    url: str = ""

    async def read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.lines.append(line.decode().rstrip("\n"))

    async def line(self, pattern: str) -> re.Match[str]:
        """The first line so far or to come that matches ``pattern``."""
        found: list[re.Match[str]] = []

        def seen() -> bool:
            found.extend(m for m in map(re.compile(pattern).search, self.lines) if m)
            return bool(found)

        await until(seen, f"a line matching {pattern!r} in {self.lines}", seconds=10)
        return found[0]


@pytest.fixture
async def devproxy_up() -> AsyncIterator[Callable[..., Awaitable[Process]]]:
    started: list[Process] = []

    async def start(*args: str, cwd: Path) -> Process:
        proc = Process(await asyncio.create_subprocess_exec(
            *DEVPROXY, "up", *args, cwd=cwd, env=ENV, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE))
        started.append(proc)
        proc.reader = asyncio.create_task(proc.read())
        proc.url = (await proc.line(r"open (http://\S+)")).group(1)
        if "-q" not in args:  # -q prints the URL line alone
            await proc.line(r"^config: ")  # the last banner line: watching has begun
        return proc

    yield start
    for proc in started:
        if proc.process.returncode is None:
            proc.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.process.wait(), 10)
            except TimeoutError:
                proc.process.kill()
                await proc.process.wait()
        if proc.reader is not None:
            await proc.reader


async def get_text(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return await resp.text()


def serving(url: str, expected: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await get_text(url) == expected
    return check


@pytest.mark.e2e
async def test_devproxy_up_applies_saves_prints_the_diff_and_survives_bad_ones(
        backend_factory, devproxy_up, tmp_path):
    a, b = await named_backend(backend_factory, "A"), await named_backend(backend_factory, "B")
    path = tmp_path / "devproxy.yaml"
    path.write_text(config_text(a.url))
    proc = await devproxy_up("-c", str(path), cwd=tmp_path)
    assert f"config: {path} (watching for changes)" in proc.lines
    atomic_save(path, config_text(b.url, a.url) + "  - path: /auth\n"
                f"    target: {b.url}\n")
    await until(serving(proc.url + "/auth/x", "B"), "the save to apply")
    assert await get_text(proc.url + "/api/x") == "B"
    await proc.line(rf"reload: ~ /api target {a.url} -> {b.url}$")
    await proc.line(rf"reload: \+ /auth -> {b.url}$")
    path.write_text("routes:\n  - path: /api\n    targte: http://127.0.0.1:1\n")
    await proc.line(rf" {re.escape(str(path))}:3:5: routes\[0\]\.targte: unknown key")
    assert await get_text(proc.url + "/auth/x") == "B"
    path.unlink()
    await proc.line(r"devproxy\.yaml was deleted; serving its last good routes")
    assert await get_text(proc.url + "/auth/x") == "B"
    path.write_text(config_text(a.url))
    await until(serving(proc.url + "/api/x", "A"), "the re-created file")
    await proc.line(r"reload: - /auth$")
    assert not any("Traceback" in line for line in proc.lines), proc.lines


@pytest.mark.e2e
async def test_devproxy_up_quiet_still_says_where_it_moved_and_that_an_error_is_over(
        backend_factory, devproxy_up, tmp_path):
    # -q logs errors only, and the URL to open: after a reload that moved the listener,
    # the new URL is that line; after a broken save, "valid again" ends the red line.
    a = await named_backend(backend_factory, "A")
    path = tmp_path / "devproxy.yaml"
    path.write_text(config_text(a.url, listen=f"127.0.0.1:{free_port()}"))
    proc = await devproxy_up("-c", str(path), "-q", cwd=tmp_path)
    path.write_text("routes: [\n")
    await proc.line(r"invalid YAML")
    path.write_text(config_text(a.url, listen="127.0.0.1:0"))
    moved = await proc.line(r"reload: now open (http://127\.0\.0\.1:\d+)$")
    await proc.line(r"reload: \S+ is valid again$")
    assert await get_text(moved.group(1) + "/api/x") == "A"
    assert not any("reload: ~" in line for line in proc.lines), proc.lines  # still quiet


@pytest.mark.e2e
async def test_devproxy_up_port_flag_keeps_the_port_and_follows_the_files_host(
        backend_factory, devproxy_up, tmp_path):
    # -p is the port alone: a host edited in the file applies (here 127.0.0.2, another
    # loopback address), on -p's port; the file's port stays unused, and says so.
    a = await named_backend(backend_factory, "A")
    path = tmp_path / "devproxy.yaml"
    path.write_text(config_text(a.url, listen=f"127.0.0.1:{free_port()}"))
    port = free_port()
    proc = await devproxy_up("-c", str(path), "-p", str(port), cwd=tmp_path)
    assert proc.url == f"http://127.0.0.1:{port}"
    path.write_text(config_text(a.url, listen="127.0.0.2:1"))
    await proc.line(rf"reload: now open http://127\.0\.0\.2:{port}$")
    assert await get_text(f"http://127.0.0.2:{port}/api/x") == "A"
    await proc.line(rf"reload: the port of listen 127\.0\.0\.2:1 in the file is not used: "
                    rf"the command line keeps port {port}$")


@pytest.mark.e2e
async def test_devproxy_up_flags_keep_winning_over_each_reload(backend_factory, devproxy_up,
                                                               tmp_path):
    a, b, c = [await named_backend(backend_factory, n) for n in "ABC"]
    path = tmp_path / "devproxy.yaml"
    path.write_text(config_text(a.url, listen=f"127.0.0.1:{free_port()}"))
    proc = await devproxy_up("-c", str(path), "--listen", "127.0.0.1:0",
                             "--route", f"/api={b.url}", cwd=tmp_path)
    assert await get_text(proc.url + "/api/x") == "B"
    path.write_text(config_text(a.url, c.url, listen=f"127.0.0.1:{free_port()}"))
    await until(serving(proc.url + "/other/x", "C"), "the save to apply")  # same address
    assert await get_text(proc.url + "/api/x") == "B"  # --route still wins
    await proc.line(rf"reload: ~ /other target {a.url} -> {c.url}$")
    # The file's new listen is named as overridden, not applied.
    await proc.line(r"reload: the port of listen 127\.0\.0\.1:\d+ in the file is not used: "
                    r"the command line keeps port 0$")
    assert not any("/api" in line for line in proc.lines if "reload:" in line), proc.lines
    path.write_text(config_text(c.url, c.url, listen=f"127.0.0.1:{free_port()}"))
    await proc.line(r"reload: route /api changed in the file, but --route /api replaces it$")
    assert await get_text(proc.url + "/api/x") == "B"


@pytest.mark.e2e
@pytest.mark.parametrize("args", [("--no-reload",), ("--route", "/=http://127.0.0.1:9")],
                         ids=["no-reload", "routes-from-flags-alone"])
async def test_devproxy_up_says_when_nothing_is_watched(devproxy_up, tmp_path, args: Any):
    if "--no-reload" in args:  # flags alone: no file here (one here is added to, and watched)
        (tmp_path / "devproxy.yaml").write_text(config_text("http://127.0.0.1:9"))
    proc = await devproxy_up(*args, cwd=tmp_path)
    assert not any("watching" in line for line in proc.lines), proc.lines
