"""devproxy's own benchmark: devproxy variants against the direct path, side by side.

    python benchmarks/run.py [--rounds 3] [--duration 5] [--only NAME,...] [--json PATH]

Starts a fast origin (nginx serving files; an aiohttp process for uploads and a
WebSocket echo), then, in interleaved rounds, measures each variant:

    direct                  no proxy
    devproxy                the defaults: inspector on, a log line per request
    devproxy-no-inspector   inspector: false
    devproxy-cors           a CORS-mode route, requests sending Origin

Figures (medians over rounds; ratios against direct from the same round):
GET 1 KiB and 64 KiB req/s at 50 connections (wrk), single-connection latency p50/p99,
100 MiB download and upload throughput and the proxy's peak RSS during them, WebSocket
echo round trips per second, RSS for 1,000 idle WebSockets, time from start to the
first answered request, and a config edit's time to take effect. Everything runs on
127.0.0.1 with free ports; only processes started here are stopped, by PID. Peers
(nginx, Caddy, Node's http-proxy) are measured by ../shared/bench, see README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
VARIANTS = ("direct", "devproxy", "devproxy-no-inspector", "devproxy-cors")
ORIGIN_HEADER = "http://localhost:5173"
TASKSET = shutil.which("taskset")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int, args: list[str]) -> list[str]:
    # Load generator and origins on one core, the proxy on the other (2-core machine).
    return [TASKSET, "-c", str(cpu), *args] if TASKSET and os.cpu_count() != 1 else args


def wait_port(port: int, timeout: float = 15) -> float:
    """Seconds until ``port`` accepts a connection."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return time.monotonic() - start
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing listening on {port}")


@contextmanager
def process(args: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             **kwargs)
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class Origins:
    """nginx for files, origin.py for uploads and WebSockets."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.chmod(0o755)  # nginx's workers run as another user: let them read files
        self.files = folder / "www"
        self.files.mkdir()
        (self.files / "1k").write_bytes(os.urandom(1024))
        (self.files / "64k").write_bytes(os.urandom(65536))
        with (self.files / "100m").open("wb") as out:
            block = os.urandom(1 << 20)
            for _ in range(100):
                out.write(block)
        self.nginx_port, self.sink_port = free_port(), free_port()

    @contextmanager
    def running(self) -> Iterator[None]:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        conf = self.folder / "nginx.conf"
        temp = self.folder / "tmp"
        temp.mkdir(exist_ok=True)
        conf.write_text(f"""daemon off; worker_processes 1; pid {self.folder}/nginx.pid;
error_log {self.folder}/nginx.err;
events {{ worker_connections 4096; }}
http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};
  uwsgi_temp_path {temp}; scgi_temp_path {temp};
  server {{ listen 127.0.0.1:{self.nginx_port}; root {self.files}; }} }}
""")
        with process(pinned(0, [nginx, "-c", str(conf), "-p", str(self.folder)])), \
                process(pinned(0, [sys.executable, str(HERE / "origin.py"),
                                   str(self.sink_port)])):
            wait_port(self.nginx_port)
            wait_port(self.sink_port)
            yield


class Proxy:
    """One variant: its base URL and, for devproxy, the process to measure."""

    def __init__(self, variant: str, origins: Origins, folder: Path) -> None:
        self.variant = variant
        self.origins = origins
        self.config = folder / f"{variant}.yaml"
        self.port = free_port()
        self.pid: int | None = None
        self.headers: list[str] = ["-H", f"Origin: {ORIGIN_HEADER}"] \
            if variant == "devproxy-cors" else []
        self.startup: float | None = None

    def write_config(self, files_port: int | None = None) -> None:
        files = files_port or self.origins.nginx_port
        lines = [f"listen: 127.0.0.1:{self.port}"]
        if self.variant == "devproxy-no-inspector":
            lines.append("inspector: false")
        if self.variant == "devproxy-cors":
            lines += ["cors:", f"  origins: [{ORIGIN_HEADER}]", "  credentials: true"]
        lines += ["routes:",
                  f"  - {{path: /upload, target: 'http://127.0.0.1:{self.origins.sink_port}'}}",
                  f"  - {{path: /ws, target: 'http://127.0.0.1:{self.origins.sink_port}'}}",
                  f"  - {{path: /, target: 'http://127.0.0.1:{files}', change_origin: true}}"]
        self.config.write_text("\n".join(lines) + "\n")

    @contextmanager
    def running(self) -> Iterator[None]:
        if self.variant == "direct":
            yield
            return
        self.write_config()
        args = [sys.executable, "-m", "devproxy", "up", "-c", str(self.config)]
        started = time.monotonic()
        with process(pinned(1, args)) as child:
            self.pid = child.pid
            wait_port(self.port)
            self.startup = _first_answer(f"http://127.0.0.1:{self.port}/1k", started)
            yield

    def url(self, path: str) -> str:
        if self.variant == "direct":
            port = self.origins.sink_port if path.startswith(("/upload", "/ws")) \
                else self.origins.nginx_port
            return f"http://127.0.0.1:{port}{path}"
        return f"http://127.0.0.1:{self.port}{path}"


def _first_answer(url: str, started: float) -> float:
    """Seconds from ``started`` until ``url`` answers 200."""
    import urllib.request
    last: Exception | None = None
    while time.monotonic() - started < 15:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                response.read()
            return time.monotonic() - started
        except OSError as exc:
            last = exc
            time.sleep(0.005)
    raise RuntimeError(f"{url} never answered: {last!r}")


def wrk(proxy: Proxy, path: str, connections: int, duration: float) -> dict[str, float]:
    out = subprocess.run(
        pinned(0, ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency",
                   *proxy.headers, proxy.url(path)]),
        capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"{proxy.variant}: wrk got error responses:\n{out}")
    figures: dict[str, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            figures["p" + parts[0][:-1]] = _ms(parts[1])
    return figures


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[:-len(unit)]) * factor
    return float(text)


class PeakRss:
    """Samples a process's RSS every 20 ms while a transfer runs."""

    def __init__(self, pid: int | None) -> None:
        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set() and self.pid is not None:
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.02)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def transfer(proxy: Proxy, upload: bool, body: Path) -> tuple[float, float]:
    """(MiB/s, peak proxy RSS MiB) for 100 MiB down or up, with curl."""
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}", *proxy.headers]
    args += ["--data-binary", f"@{body}", proxy.url("/upload")] if upload else \
        [proxy.url("/100m")]
    with PeakRss(proxy.pid) as peak:
        seconds = float(subprocess.run(pinned(0, args), capture_output=True, text=True,
                                       check=True).stdout)
    return 100 / seconds, peak.peak


def websocket_figures(proxy: Proxy, messages: int = 5000) -> dict[str, float]:
    async def run() -> dict[str, float]:
        # No connection cap: each open WebSocket holds one.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            async with session.ws_connect(proxy.url("/ws")) as socket_:
                started = time.perf_counter()
                for i in range(messages):
                    await socket_.send_str(str(i))
                    await socket_.receive()
                rate = messages / (time.perf_counter() - started)
            figures = {"ws_echo_per_s": rate}
            if proxy.pid is not None:
                before = rss_mib(proxy.pid)
                sockets = [await session.ws_connect(proxy.url("/ws")) for _ in range(1000)]
                await asyncio.sleep(0.5)
                figures["ws_1000_idle_mib"] = rss_mib(proxy.pid) - before
                for idle in sockets:
                    await idle.close()
            return figures
    return asyncio.run(run())


def reload_latency(proxy: Proxy, origins: Origins, folder: Path) -> float:
    """Seconds from saving a re-targeted route until the new target answers."""
    other = folder / "other"
    other.mkdir(exist_ok=True)
    (other / "marker").write_text("other")
    port = free_port()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = folder / "other.conf"
    conf.write_text(f"""daemon off; pid {folder}/other.pid; error_log {folder}/other.err;
events {{}} http {{ access_log off; client_body_temp_path {folder}/tmp;
  proxy_temp_path {folder}/tmp; fastcgi_temp_path {folder}/tmp;
  uwsgi_temp_path {folder}/tmp; scgi_temp_path {folder}/tmp;
  server {{ listen 127.0.0.1:{port}; root {other}; }} }}
""")
    import urllib.error
    import urllib.request
    with process([nginx, "-c", str(conf), "-p", str(folder)]):
        wait_port(port)
        saved = time.monotonic()
        proxy.write_config(files_port=port)
        while time.monotonic() - saved < 10:
            try:
                with urllib.request.urlopen(proxy.url("/marker"), timeout=1) as response:
                    if response.read() == b"other":
                        break
            except (urllib.error.HTTPError, OSError):
                pass
            time.sleep(0.002)
        latency = time.monotonic() - saved
        proxy.write_config()
        time.sleep(0.5)
        return latency


def measure(proxy: Proxy, origins: Origins, folder: Path, duration: float
            ) -> dict[str, float]:
    figures: dict[str, float] = {}
    figures["get_1k_rps"] = wrk(proxy, "/1k", 50, duration)["rps"]
    figures["get_64k_rps"] = wrk(proxy, "/64k", 50, duration)["rps"]
    latency = wrk(proxy, "/1k", 1, duration)
    figures["p50_ms"], figures["p99_ms"] = latency["p50"], latency["p99"]
    figures["download_mib_s"], down_rss = transfer(proxy, False, origins.files / "100m")
    figures["upload_mib_s"], up_rss = transfer(proxy, True, origins.files / "100m")
    if proxy.pid is not None:
        figures["transfer_peak_rss_mib"] = max(down_rss, up_rss)
        figures["startup_s"] = proxy.startup or 0.0
        figures["reload_s"] = reload_latency(proxy, origins, folder)
    figures.update(websocket_figures(proxy))
    return figures


RATIO = {"get_1k_rps", "get_64k_rps", "download_mib_s", "upload_mib_s", "ws_echo_per_s"}
ADDED = {"p50_ms", "p99_ms"}


def summarise(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for variant in rounds[0]:
        keys = rounds[0][variant]
        out[variant] = {key: statistics.median(r[variant][key] for r in rounds)
                        for key in keys}
        if variant != "direct" and "direct" in rounds[0]:
            for key in RATIO & keys.keys():
                out[variant][key + "_ratio"] = statistics.median(
                    r[variant][key] / r["direct"][key] for r in rounds)
            for key in ADDED & keys.keys():
                out[variant][key + "_added"] = statistics.median(
                    r[variant][key] - r["direct"][key] for r in rounds)
    return out


def table(summary: dict[str, dict[str, float]]) -> str:
    columns: list[tuple[str, str, Callable[[dict[str, float]], str]]] = [
        ("GET 1 KiB req/s", "get_1k_rps", lambda f: _ratio(f, "get_1k_rps", "{:.0f}")),
        ("GET 64 KiB req/s", "get_64k_rps", lambda f: _ratio(f, "get_64k_rps", "{:.0f}")),
        ("1-conn p50 / p99", "p50_ms", _latency),
        ("100 MiB down", "download_mib_s",
         lambda f: _ratio(f, "download_mib_s", "{:.0f} MiB/s")),
        ("100 MiB up", "upload_mib_s", lambda f: _ratio(f, "upload_mib_s", "{:.0f} MiB/s")),
        ("peak RSS", "transfer_peak_rss_mib",
         lambda f: f"{f['transfer_peak_rss_mib']:.0f} MiB" if "transfer_peak_rss_mib" in f
         else "-"),
        ("WS echo/s", "ws_echo_per_s", lambda f: _ratio(f, "ws_echo_per_s", "{:.0f}")),
        ("1,000 idle WS", "ws_1000_idle_mib",
         lambda f: f"+{f['ws_1000_idle_mib']:.1f} MiB" if "ws_1000_idle_mib" in f else "-"),
        ("ready", "startup_s", lambda f: f"{f['startup_s']:.2f} s" if "startup_s" in f
         else "-"),
        ("reload", "reload_s", lambda f: f"{f['reload_s']:.2f} s" if "reload_s" in f
         else "-"),
    ]
    lines = ["| variant | " + " | ".join(c[0] for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for variant, figures in summary.items():
        lines.append(f"| {variant} | " + " | ".join(c[2](figures) for c in columns) + " |")
    return "\n".join(lines)


def _ratio(figures: dict[str, float], key: str, fmt: str) -> str:
    text = fmt.format(figures[key])
    ratio = figures.get(key + "_ratio")
    return f"{text} ({ratio:.2f})" if ratio is not None else text


def _latency(figures: dict[str, float]) -> str:
    if "p50_ms_added" in figures:
        return f"+{figures['p50_ms_added']:.2f} / +{figures['p99_ms_added']:.2f} ms"
    return f"{figures['p50_ms']:.2f} / {figures['p99_ms']:.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--only", help="comma-separated variants (direct always runs)")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args()
    for tool in ("wrk", "curl"):
        if shutil.which(tool) is None:
            sys.exit(f"benchmarks: {tool} is missing (apt-get install {tool})")
    variants = [v for v in VARIANTS if not args.only or v == "direct"
                or v in args.only.split(",")]
    rounds: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="devproxy-bench-") as tmp:
        folder = Path(tmp)
        origins = Origins(folder)
        with origins.running():
            for number in range(args.rounds):
                result: dict[str, dict[str, float]] = {}
                for variant in variants:  # interleaved: every variant in every round
                    proxy = Proxy(variant, origins, folder)
                    print(f"round {number + 1}/{args.rounds}: {variant}", file=sys.stderr)
                    with proxy.running():
                        result[variant] = measure(proxy, origins, folder, args.duration)
                rounds.append(result)
    summary = summarise(rounds)
    print(table(summary))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                     "rounds": rounds, "median": summary}, indent=2))
    print(f"\n(medians of {args.rounds} interleaved rounds; ratios to direct in brackets; "
          f"JSON in {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
