"""The devproxy command itself, run as a real process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from devproxy.app import has_ipv6_loopback

pytestmark = pytest.mark.e2e

DEVPROXY = [sys.executable, "-m", "devproxy"]
_ENV = {**os.environ, "NO_COLOR": "1"}


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DEVPROXY, *args], capture_output=True, text=True, cwd=cwd,
                          env=_ENV, timeout=30, check=False)


class Running:
    """A `devproxy up` process, its banner read, the real URL known."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, banner: str) -> None:
        self.process = process
        self.url = url
        self.banner = banner

    async def stop(self, sig: int | None = signal.SIGTERM) -> tuple[int, str]:
        """Signal (unless ``sig`` is None: already signalled) and wait for the exit."""
        if sig is not None and self.process.returncode is None:
            self.process.send_signal(sig)
        assert self.process.stderr is not None
        rest = await asyncio.wait_for(self.process.stderr.read(), 15)
        return await asyncio.wait_for(self.process.wait(), 15), rest.decode()


async def start_up(*args: str, cwd: Path | None = None) -> Running:
    process = await asyncio.create_subprocess_exec(
        *DEVPROXY, "up", *args, cwd=cwd, env=_ENV,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    banner = ""
    async with asyncio.timeout(15):
        while "config:" not in banner:
            line = (await process.stderr.readline()).decode()
            if not line:
                raise AssertionError(f"devproxy exited early: {banner}")
            banner += line
    found = re.search(r"open (http://\S+)", banner)
    assert found, banner
    return Running(process, found.group(1), banner)


@pytest.fixture
async def running() -> AsyncIterator[list[Running]]:
    started: list[Running] = []
    yield started
    for proc in started:
        if proc.process.returncode is None:
            proc.process.kill()
            await proc.process.wait()


def test_check_prints_the_route_table_of_a_valid_config(tmp_path: Path) -> None:
    (tmp_path / "devproxy.yaml").write_text(textwrap.dedent("""\
        listen: 127.0.0.1:9000
        routes:
          - path: /api
            target: http://127.0.0.1:3000
            strip_prefix: true
            secure: false
          - path: /tls
            target: https://127.0.0.1:3443
            secure: false
          - path: /public
            target: http://127.0.0.1:3000
            cors: {origins: [http://localhost:5173]}
          - path: /
            target: http://127.0.0.1:5173
    """))
    result = run("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OK, listening on 127.0.0.1:9000" in result.stdout
    # secure: false is named only where there is TLS to verify.
    assert re.search(r"/api\s+->\s+http://127.0.0.1:3000\s+\(strip_prefix\)\n", result.stdout)
    assert re.search(r"/tls\s+->\s+https://127.0.0.1:3443\s+\(insecure TLS\)", result.stdout)
    # CORS mode, as the inspector's route bar marks it.
    assert re.search(r"/public\s+->\s+http://127.0.0.1:3000\s+\(CORS\)\n", result.stdout)
    assert re.search(r" /\s+->\s+http://127.0.0.1:5173\n", result.stdout)


def test_check_warns_of_what_up_warns_of_and_still_passes(tmp_path: Path) -> None:
    config = tmp_path / "devproxy.yaml"
    config.write_text("listen: 0.0.0.0:8080\nallowed_hosts: all\n"
                      "routes: [{path: /, target: 'http://127.0.0.1:3000'}]\n")
    result = run("check", "-c", str(config))
    assert result.returncode == 0
    assert result.stdout.startswith(f"{config}: OK, listening on 0.0.0.0:8080\n")
    assert result.stderr == (
        f"{config}: warning: listening on 0.0.0.0:8080, not a loopback address: anyone on "
        f"your network can use this proxy to reach your backends\n"
        f"{config}: warning: allowed_hosts: all: requests for any Host name are served, so a "
        f"web page using DNS rebinding can read your dev servers; list the names you use "
        f"instead\n")


def test_check_reports_a_bad_config_with_file_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "devproxy.yaml"
    config.write_text("routes:\n  - path: /api\n    target: localhost:3000\n")
    result = run("check", "-c", str(config))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{config}:3:13: routes[0].target:")
    assert "Traceback" not in result.stderr


def test_up_without_config_or_routes_explains_what_to_do(tmp_path: Path) -> None:
    result = run("up", cwd=tmp_path)
    assert result.returncode == 1
    assert "no devproxy.yaml" in result.stderr
    assert "--route /api=" in result.stderr


def test_up_beside_a_devproxy_yml_names_it(tmp_path: Path) -> None:
    (tmp_path / "devproxy.yml").write_text("routes:\n  - path: /\n    target: http://h\n")
    result = run("up", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (f"devproxy: error: no devproxy.yaml in {tmp_path}, but there is "
                             f"devproxy.yml: rename it devproxy.yaml, or pass -c devproxy.yml\n")


@pytest.mark.parametrize(("target", "says"), [
    ("gone.yaml", "a symlink to gone.yaml, which does not exist"),
    ("devproxy.yaml", "a symlink loop: following it never reaches a file"),
])
@pytest.mark.parametrize("args", [("check",), ("up", "-p", "0", "--route", "/=http://h:9")])
def test_a_config_link_to_nothing_is_named_as_one_not_as_no_config(
        tmp_path: Path, target: str, says: str, args: tuple[str, ...]) -> None:
    # It was "no devproxy.yaml ..., but there is ../devproxy.yaml", or with --route
    # silently served the flags alone.
    (tmp_path / "devproxy.yaml").write_text("routes:\n  - path: /\n    target: http://h\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "devproxy.yaml").symlink_to(target)
    result = run(*args, cwd=tmp_path / "app")
    assert (result.returncode, result.stderr) == (
        1, f"devproxy.yaml: {says}; point it at your config file\n")


def test_up_in_a_subfolder_names_the_config_above(tmp_path: Path) -> None:
    # Run from frontend/ of a project set up above: "create one" led to a second config.
    (tmp_path / "devproxy.yaml").write_text("routes:\n  - path: /\n    target: http://h\n")
    (tmp_path / "frontend" / "src").mkdir(parents=True)
    result = run("up", cwd=tmp_path / "frontend" / "src")
    assert result.returncode == 1
    assert result.stderr == (
        f"devproxy: error: no devproxy.yaml in {tmp_path / 'frontend' / 'src'}, but there is "
        f"../../devproxy.yaml: pass it with -c ../../devproxy.yaml, or run devproxy in "
        f"{tmp_path.resolve()}\n")


@pytest.mark.parametrize(("args", "says"), [
    (("up", "-c", "a.yaml", "-c", "b.yaml"),
     "Invalid value for '-c' / '--config': given 2 times ('a.yaml', 'b.yaml'); give it once"),
    (("check", "--config", "a.yaml", "-c", "b.yaml"), "'-c' / '--config': given 2 times"),
    (("up", "-c", "a.yaml", "--listen", ":1", "--listen", ":2"),
     "Invalid value for '--listen': given 2 times (':1', ':2'); give it once"),
    (("up", "-c", "a.yaml", "-v", "-q"), "-v/--verbose and -q/--quiet ask for opposite logs"),
    (("up", "-c", "a.yaml", "-p", "9000", "--listen", ":1"),
     "--port and --listen both say where to serve; give one"),
    (("up", "-c", "a.yaml", "--port", "70000"),
     "Invalid value for '-p' / '--port': expected a port number 0-65535, got '70000'"),
    # Python's int() reads these; a config file, a URL or any other tool would not.
    (("up", "-c", "a.yaml", "-p", "45_431"),
     "'--port': expected a port number 0-65535 in ASCII digits 0-9, got '45_431'"),
    (("up", "-c", "a.yaml", "-p", "\uff14\uff15\uff14\uff12\uff11"),
     "'--port': expected a port number 0-65535 in ASCII digits 0-9, got "
     "'\uff14\uff15\uff14\uff12\uff11'"),
    (("doctor", "http://127.0.0.1:1/", "--origin", "http://localhost:5173", "--timeout",
      "\uff11"), "'--timeout': expected a number of seconds such as 10 or 2.5, in ASCII"),
])
def test_options_that_contradict_themselves_are_refused(tmp_path: Path, args: tuple[str, ...],
                                                        says: str) -> None:
    # click takes the last of a repeated option in silence: b.yaml's routes were served.
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("routes: [{path: /, target: 'http://127.0.0.1:1'}]\n")
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr


def test_routes_explains_where_a_path_goes(tmp_path: Path) -> None:
    config = tmp_path / "devproxy.yaml"
    config.write_text(textwrap.dedent("""\
        routes:
          - path: /api
            target: http://127.0.0.1:3000/v1
            strip_prefix: true
            change_origin: true
    """))
    result = run("routes", "-c", str(config), "/api/users?page=2")
    assert result.returncode == 0, result.stderr
    assert "upstream: http://127.0.0.1:3000/v1/users?page=2" in result.stdout
    # The Host of the address `up` says to open, 127.0.0.1, not a guess of localhost.
    assert "Host: 127.0.0.1:3000  (was 127.0.0.1:8080)" in result.stdout
    assert "X-Forwarded-Prefix: /api" in result.stdout
    # A URL pasted from the address bar: its path, with its Host.
    pasted = run("routes", "-c", str(config), "http://localhost:8080/api/users?page=2")
    assert pasted.returncode == 0, pasted.stderr
    assert "upstream: http://127.0.0.1:3000/v1/users?page=2" in pasted.stdout
    assert "X-Forwarded-Host: localhost:8080" in pasted.stdout
    missing = run("routes", "-c", str(config), "/other")
    assert missing.returncode == 1
    assert "no route matches" in missing.stdout
    secure = run("routes", "-c", str(config), "https://localhost:8080/api/users")
    assert secure.returncode == 1
    assert "devproxy serves plain http:// only" in secure.stderr


@pytest.mark.parametrize(("path", "upstream"), [
    ("/api?x=1", "http://127.0.0.1:3000/?x=1"),
    ("/api/v1", "http://127.0.0.1:3000/"),
    ("/api/v1/users", "http://127.0.0.1:3000/users"),
])
def test_routes_shows_a_rewrite_to_nothing_as_the_root_path_up_sends(
        tmp_path: Path, path: str, upstream: str) -> None:
    # RFC 9112 §3.2.1: an empty path goes upstream as "/", never as "GET ?x=1".
    config = tmp_path / "devproxy.yaml"
    config.write_text("routes:\n  - path: /api\n    target: http://127.0.0.1:3000\n"
                      "    rewrite: {'^/api/v1': '', '^/api': ''}\n")
    result = run("routes", "-c", str(config), path)
    assert result.returncode == 0, result.stderr
    assert f"upstream: {upstream}\n" in result.stdout


@pytest.mark.parametrize(("path", "status", "says"), [
    # A browser resolves dot segments, encoded too, before it sends anything.
    ("/api/%2e%2e/admin", 0, "a browser sends it as /admin\n/admin: route /"),
    ("/x/../api/y", 0, "a browser sends it as /api/y\n/api/y: route /api"),
    ("/api/a\tb?q='x'", 0, "a browser sends it as /api/ab?q=%27x%27\n"),
    ("http://user@localhost:8080/api/q", 0, "/api/q: route /api"),
    ("http://127.0.0.1:9999/api/q", 0, "reaches it only if you start it on that port"),
    # A digit to Python that int() refuses: the Host's 400, not a traceback.
    ("http://localhost:\u00b2/api/q", 1, "/api/q: refused with 400 Invalid Host"),
    ("/api%2fadmin", 1, "refused with 400 Ambiguous path"),
    ("/__devproxy/x", 0, "devproxy's own pages (the inspector"),
    ("/café/x", 0, "a browser sends it as /caf%C3%A9/x\n/caf%C3%A9/x: route /caf%C3%A9"),
    ("/api/x y#top", 0, "a browser sends it as /api/x%20y\n/api/x%20y: route /api"),
    # A URL's Host is screened as `up` screens it: a name not allowed gets 403.
    ("http://evil.test/api/x", 1, "/api/x: refused with 403 Host not allowed: devproxy "
     "refused a request for Host 'evil.test'"),
    ("http://evil.test/api/x", 1, "if 'evil.test' is yours, add it to devproxy.yaml: "
     "allowed_hosts: [evil.test]"),
    ("http://app.localhost:8080/api/x", 0, "/api/x: route /api"),
    ("http://192.168.1.5:8080/api/x", 0, "/api/x: route /api"),  # an address: served
])
def test_routes_answers_as_up_would(tmp_path: Path, path: str, status: int, says: str) -> None:
    # What `up` refuses, owns or receives encoded, `routes` says so too.
    config = tmp_path / "devproxy.yaml"
    config.write_text("routes:\n  - {path: /api, target: 'http://127.0.0.1:3000'}\n"
                      "  - {path: /café, target: 'http://127.0.0.1:3001'}\n"
                      "  - {path: /, target: 'http://127.0.0.1:5173'}\n")
    result = run("routes", "-c", str(config), path)
    assert result.returncode == status, result.stdout + result.stderr
    assert says in result.stdout


def test_routes_says_up_refuses_a_url_over_limits_header_size(tmp_path: Path) -> None:
    # It showed a normal route where `up` answers 414 (README: routes says when up
    # would refuse a request).
    config = tmp_path / "devproxy.yaml"
    config.write_text("routes:\n  - {path: /, target: 'http://127.0.0.1:3000'}\n"
                      "limits: {header_size: 1000}\n")
    at_limit = run("routes", "-c", str(config), "/" + "a" * 999)
    assert at_limit.returncode == 0 and "route /" in at_limit.stdout
    over = run("routes", "-c", str(config), "/" + "a" * 990 + "?q=" + "b" * 10)
    assert over.returncode == 1
    assert over.stdout.splitlines()[0] == (
        f"/{'a' * 59}... (1004 characters): refused with 414 URL too long: The request's URL "
        f"is longer than limits.header_size (1000 bytes).")
    assert "Raise limits.header_size in devproxy.yaml" in over.stdout


@dataclass
class Held:
    """A backend whose ``/slow`` answers "finished" once ``release`` is set."""

    port: int
    arrived: asyncio.Event  # set when /slow is asked for
    release: asyncio.Event


async def holding_backend(aiohttp_server: Any) -> Held:
    held = Held(0, asyncio.Event(), asyncio.Event())

    async def slow(request: web.Request) -> web.Response:
        held.arrived.set()
        await held.release.wait()
        return web.Response(text="finished")

    app = web.Application()
    app.router.add_get("/slow", slow)
    held.port = (await aiohttp_server(app)).port
    return held


async def test_up_serves_then_exits_zero_on_sigterm_after_finishing_requests(
        aiohttp_server, running) -> None:
    backend = await holding_backend(aiohttp_server)
    proc = await start_up("--listen", "127.0.0.1:0", "--route",
                          f"/=http://127.0.0.1:{backend.port}")
    running.append(proc)
    assert "->  http://127.0.0.1:" in proc.banner
    async with aiohttp.ClientSession() as session:
        pending = asyncio.create_task(session.get(proc.url + "/slow"))
        await asyncio.wait_for(backend.arrived.wait(), 10)  # in flight at the backend
        proc.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        backend.release.set()
        async with await pending as resp:
            assert await resp.text() == "finished"
    code, log = await proc.stop(sig=None)  # signalled above; a second one would race the exit
    assert code == 0
    assert "GET /slow -> / 200" in log


async def test_port_serves_on_loopback_as_a_dev_servers_port_does(aiohttp_server,
                                                                   running) -> None:
    # `devproxy up --port 9000` was "No such option: --port. Did you mean --route?".
    backend = await holding_backend(aiohttp_server)
    proc = await start_up("-p", "0", "--route", f"/=http://127.0.0.1:{backend.port}")
    running.append(proc)
    assert proc.url.startswith("http://127.0.0.1:") and not proc.url.endswith(":0")
    backend.release.set()
    async with aiohttp.ClientSession() as session, session.get(proc.url + "/slow") as resp:
        assert await resp.text() == "finished"


async def test_port_with_a_route_to_the_default_port_is_no_loop(running) -> None:
    # The loop check once ran before -p moved devproxy off 8080, and refused a route to
    # a backend there as "devproxy's own address".
    proc = await start_up("-p", "0", "--route", "/=http://127.0.0.1:8080")
    running.append(proc)
    assert proc.url.startswith("http://127.0.0.1:") and not proc.url.endswith(":8080")


async def test_port_moves_devproxy_off_a_route_the_file_loops_to(running,
                                                                  tmp_path: Path) -> None:
    # Flags win over the file: the loop check once used the file's listen, and refused
    # the very -p that gets out of the loop.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        mine = probe.getsockname()[1]
    config = tmp_path / "devproxy.yaml"
    config.write_text(f"listen: {mine}\nroutes:\n  - path: /api\n    change_origin: true\n"
                      f"    target: http://127.0.0.1:{mine}\n")
    proc = await start_up("-c", str(config), "-p", "0")
    running.append(proc)
    assert not proc.url.endswith(f":{mine}"), proc.url
    # A loop the flag makes is refused at the target's line and column.
    refused = run("up", "-c", str(config), "-p", str(mine))
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"{config}:5:13: routes[0].target: "), refused.stderr
    assert f"(listen: 127.0.0.1:{mine}, from -p {mine})" in refused.stderr


async def test_port_keeps_the_host_the_config_file_listens_on(aiohttp_server, running,
                                                              tmp_path: Path) -> None:
    # `-p` used to mean 127.0.0.1:PORT, so `listen: 0.0.0.0:8080` (a phone on the LAN)
    # silently became this machine only. Vite's --port keeps its server.host too.
    backend = await holding_backend(aiohttp_server)
    config = tmp_path / "devproxy.yaml"
    config.write_text(f"listen: 127.0.0.2:9\nroutes:\n  - {{path: /, target: "
                      f"'http://127.0.0.1:{backend.port}'}}\n")
    proc = await start_up("-c", str(config), "-p", "0")
    running.append(proc)
    assert proc.url.startswith("http://127.0.0.2:") and not proc.url.endswith(":0"), proc.url
    backend.release.set()
    async with aiohttp.ClientSession() as session, session.get(proc.url + "/slow") as resp:
        assert await resp.text() == "finished"


async def test_up_opens_the_localhost_url_init_writes_for_next_js(running,
                                                                   tmp_path: Path) -> None:
    # Next.js answers its HMR socket only to a page at localhost: `up` once printed
    # http://127.0.0.1:8080 for the file init wrote, where the page never came alive.
    (tmp_path / "package.json").write_text('{"scripts": {"dev": "next dev"}, '
                                           '"dependencies": {"next": "16"}}')
    assert run("init", cwd=tmp_path).returncode == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = await start_up("-p", str(port), cwd=tmp_path)  # -p keeps the file's host
    running.append(proc)
    assert proc.url == f"http://localhost:{port}", proc.banner
    # Served on both loopback addresses: a browser tries ::1 first.
    hosts = ["127.0.0.1", *(["[::1]"] if has_ipv6_loopback() else [])]
    async with aiohttp.ClientSession() as session:
        for host in hosts:
            async with session.get(f"http://{host}:{port}/__devproxy/") as response:
                assert response.status == 200, host



async def test_a_second_ctrl_c_cuts_the_requests_the_first_one_waits_for(
        aiohttp_server, running) -> None:
    backend = await holding_backend(aiohttp_server)
    proc = await start_up("--listen", "127.0.0.1:0", "--route",
                          f"/=http://127.0.0.1:{backend.port}")
    running.append(proc)
    try:
        async with aiohttp.ClientSession() as session:
            pending = asyncio.create_task(session.get(proc.url + "/slow"))
            await asyncio.wait_for(backend.arrived.wait(), 10)
            proc.process.send_signal(signal.SIGINT)
            assert proc.process.stderr is not None
            async with asyncio.timeout(10):  # past the banner's last lines
                while b"Ctrl+C again" not in await proc.process.stderr.readline():
                    pass
            proc.process.send_signal(signal.SIGINT)
            # The default shutdown timeout is 5 s: the exit comes long before it.
            code = await asyncio.wait_for(proc.process.wait(), 3)
            with pytest.raises(aiohttp.ClientError):
                await pending
    finally:
        backend.release.set()
    assert code == 0
    assert "stopping now (open requests cut)" in (await proc.process.stderr.read()).decode()


async def test_a_port_in_use_is_a_one_line_error(running) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await asyncio.to_thread(
            run, "up", "--listen", f"127.0.0.1:{port}", "--route", "/=http://127.0.0.1:9")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    # The short flag first: most choose a port with -p.
    assert "choose another with -p PORT (or --listen 127.0.0.1:PORT)" in result.stderr


async def test_a_port_in_use_names_the_line_that_chose_it(running, tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "devproxy.yaml").write_text(
            f"# the API\nlisten: 127.0.0.1:{port}\nroutes:\n  - path: /\n"
            f"    target: http://127.0.0.1:9\n")
        result = await asyncio.to_thread(run, "up", "-c", str(tmp_path / "devproxy.yaml"))
    assert result.returncode == 1
    assert f"devproxy.yaml:2: listen: port {port} on 127.0.0.1 is already in use" \
        in result.stderr


async def test_listening_beyond_loopback_warns(running) -> None:
    proc = await start_up("--listen", "0.0.0.0:0", "--route", "/=http://127.0.0.1:9")
    running.append(proc)
    code, log = await proc.stop(signal.SIGINT)
    assert code == 0
    assert "anyone on your network" in proc.banner + log


async def test_the_demo_listening_beyond_loopback_warns_too() -> None:
    process = await asyncio.create_subprocess_exec(
        *DEVPROXY, "demo", "--listen", "0.0.0.0:0", env=_ENV,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    said = ""
    try:
        assert process.stderr is not None
        async with asyncio.timeout(20):
            for _ in range(10):  # the banner, then the warning
                line = (await process.stderr.readline()).decode()
                said += line
                if not line or "anyone on your network" in line:
                    break
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 15)
    assert "not a loopback address: anyone on your network" in said, said


@pytest.mark.parametrize(("env", "loop"), [({}, "uvloop"), ({"DEVPROXY_LOOP": "asyncio"},
                                                            "asyncio")])
async def test_up_runs_on_uvloop_when_installed_unless_told_not_to(
        aiohttp_server, running, monkeypatch, env: dict[str, str], loop: str) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    backend = await aiohttp_server(app)
    for name, value in env.items():
        monkeypatch.setitem(_ENV, name, value)
    proc = await start_up("-v", "--listen", "127.0.0.1:0", "--route",
                          f"/=http://127.0.0.1:{backend.port}")
    running.append(proc)
    async with aiohttp.ClientSession() as session, session.get(proc.url + "/") as resp:
        assert await resp.text() == "hello"  # the pool's connections, on either loop
    code, log = await proc.stop()
    assert code == 0
    assert f"event loop: {loop}" in proc.banner + log
    assert "malloc: heap trimmed above 4 MiB free and every 2 s" in proc.banner + log


def test_an_unknown_event_loop_name_is_a_one_line_error(monkeypatch) -> None:
    monkeypatch.setitem(_ENV, "DEVPROXY_LOOP", "trio")
    result = run("up", "--listen", "127.0.0.1:0", "--route", "/=http://127.0.0.1:9")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "DEVPROXY_LOOP='trio': use asyncio or uvloop" in result.stderr


@pytest.mark.parametrize("no_reload", [False, True], ids=["watching", "no-reload"])
async def test_up_applies_config_edits_unless_told_not_to(aiohttp_server, running, tmp_path,
                                                          no_reload) -> None:
    async def name_a(request: web.Request) -> web.Response:
        return web.Response(text="A")

    async def name_b(request: web.Request) -> web.Response:
        return web.Response(text="B")

    backends = []
    for handler in (name_a, name_b):
        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        backends.append(await aiohttp_server(app))
    config = tmp_path / "devproxy.yaml"
    config.write_text(f"listen: 127.0.0.1:0\nroutes:\n  - path: /\n"
                      f"    target: http://127.0.0.1:{backends[0].port}\n")
    proc = await start_up(*(["--no-reload"] if no_reload else []), cwd=tmp_path)
    running.append(proc)
    assert ("watching for changes" in proc.banner) is not no_reload
    config.write_text(config.read_text().replace(str(backends[0].port), str(backends[1].port)))
    seen = ""
    async with aiohttp.ClientSession() as session:
        for _ in range(40):  # up to 2 s
            async with session.get(proc.url + "/") as resp:
                seen = await resp.text()
            if seen == "B":
                break
            await asyncio.sleep(0.05)
    assert seen == ("A" if no_reload else "B")
    code, log = await proc.stop()
    assert code == 0
    assert ("reload: ~ / target" in log) is not no_reload


@pytest.mark.parametrize("command", ["up", "demo"])
def test_an_address_not_of_this_machine_is_a_one_line_error(command: str) -> None:
    # 192.0.2.1 is TEST-NET-1: never local. demo used to call it busy, then crash.
    extra = ["--route", "/=http://127.0.0.1:9"] if command == "up" else []
    done = run(command, "--listen", "192.0.2.1:8080", *extra)
    assert done.returncode == 1
    assert done.stderr.strip() == ("devproxy: error: cannot listen on 192.0.2.1:8080: "
                                   "192.0.2.1 is not an address of this machine")


async def test_quiet_still_says_where_to_open() -> None:
    # -q logs errors only, but with port 0 the first line is the one way to the port.
    process = await asyncio.create_subprocess_exec(
        *DEVPROXY, "up", "-q", "--listen", "127.0.0.1:0", "--route", "/=http://127.0.0.1:9",
        env=_ENV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert process.stderr is not None
        async with asyncio.timeout(15):
            line = (await process.stderr.readline()).decode()
        found = re.fullmatch(r"devproxy \S+: open http://127\.0\.0\.1:(\d+)\n", line)
        assert found and int(found.group(1)) > 0, line
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 15)


async def test_a_request_over_a_limit_is_logged_with_the_setting_to_raise(
        running, tmp_path: Path) -> None:
    (tmp_path / "devproxy.yaml").write_text(textwrap.dedent("""\
        listen: 127.0.0.1:0
        limits: {header_size: 1024, headers: 8}
        routes:
          - {path: /, target: "http://127.0.0.1:9"}
        """))
    proc = await start_up("-c", str(tmp_path / "devproxy.yaml"), "--no-reload")
    running.append(proc)
    host, port = proc.url.split("//")[1].rstrip("/").split(":")
    statuses = []
    for extra in ("Cookie: " + "a" * 2000 + "\r\n",
                  "".join(f"X-Field-{n}: {n}\r\n" for n in range(20))):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode())
        statuses.append((await asyncio.wait_for(reader.readline(), 10)).split()[1])
        writer.close()
    code, log = await proc.stop(signal.SIGINT)
    assert code == 0
    assert statuses == [b"431", b"431"]
    assert "(over limits.header_size; raise it in devproxy.yaml" in log, log
    assert "(over limits.headers; raise it in devproxy.yaml" in log, log


async def test_edits_apply_after_the_folder_devproxy_started_in_is_deleted(
        aiohttp_server, running, tmp_path) -> None:
    # A build that cleans its output folder deletes devproxy's working directory; the
    # config, named relative to it, must still be found and watched.
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="new")

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    backend = await aiohttp_server(app)
    config = tmp_path / "devproxy.yaml"
    config.write_text("listen: 127.0.0.1:0\nroutes:\n  - {path: /, target: 'http://127.0.0.1:9'}\n")
    dist = tmp_path / "dist"
    dist.mkdir()
    proc = await start_up("-c", "../devproxy.yaml", "--route", "/flag=http://127.0.0.1:11",
                          cwd=dist)
    running.append(proc)
    dist.rmdir()
    config.write_text(config.read_text().replace(":9'", f":{backend.port}'"))
    seen = 0
    async with aiohttp.ClientSession() as session:
        for _ in range(60):  # up to 3 s
            async with session.get(proc.url + "/x") as resp:
                seen = resp.status
            if seen == 200:
                break
            await asyncio.sleep(0.05)
    code, log = await proc.stop()
    assert seen == 200, log
    assert code == 0
    assert "reload: ~ / target" in log, log
    assert "Traceback" not in log, log


async def test_route_flags_add_to_the_devproxy_yaml_in_the_folder(running, tmp_path) -> None:
    (tmp_path / "devproxy.yaml").write_text(
        "listen: 127.0.0.1:0\nroutes:\n  - {path: /api, target: 'http://127.0.0.1:9'}\n")
    proc = await start_up("--route", "/=http://127.0.0.1:10", cwd=tmp_path)
    running.append(proc)
    code, _log = await proc.stop()
    assert code == 0
    assert "config: devproxy.yaml" in proc.banner, proc.banner
    assert "/api" in proc.banner and "127.0.0.1:10" in proc.banner, proc.banner


@pytest.mark.parametrize("command", [("schema",), ("export", "--format", "nginx"), ("check",),
                                     ("routes", "/x"), ("--help",), ("--version",)])
def test_output_to_a_full_disk_is_a_one_line_error(tmp_path: Path, command: tuple[str, ...]
                                                   ) -> None:
    (tmp_path / "devproxy.yaml").write_text("routes:\n  - path: /\n    target: http://127.0.0.1:3000\n")
    with open("/dev/full", "w") as full:  # every write fails: ENOSPC
        done = subprocess.run([*DEVPROXY, *command], stdout=full, stderr=subprocess.PIPE,
                              text=True, cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr == "devproxy: error: could not write the output: No space left on device\n"


def test_a_static_folder_devproxy_cannot_read_is_a_config_error(tmp_path: Path) -> None:
    # Else every file in it is answered 404, as if missing. As root every folder reads, so
    # root runs the check without the capabilities that override file modes (setpriv,
    # util-linux), reading as a developer would; still root, it runs any interpreter
    # (another user could not load a pyenv build's library from /root).
    (tmp_path / "locked").mkdir(mode=0o000)
    (tmp_path / "devproxy.yaml").write_text("routes:\n  - path: /s\n    static: ./locked\n")
    user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] \
        if os.geteuid() == 0 else []
    try:
        done = subprocess.run([*user, *DEVPROXY, "check", "-c", str(tmp_path / "devproxy.yaml")],
                              capture_output=True, text=True, timeout=60, check=False,
                              env={**_ENV, "PYTHONPATH": str(Path(__file__).parents[1])})
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert done.returncode == 1, done.stderr
    assert f"devproxy.yaml:3:13: routes[0].static: static folder './locked' " \
           f"({tmp_path / 'locked'}) cannot be read by this user (permission denied)" \
           in done.stderr
