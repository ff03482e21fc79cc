"""The benchmark's machinery: processes pinned to cores and stopped by PID, the origins,
devproxy running as a variant, and a process's memory read from /proc.

Nothing here measures speed (that is measure.py) or prints (that is run.py). Every
process started here is stopped by its PID when its block ends: terminate, then kill.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRANSFER_MIB = 100
PROXY_CPU, LOAD_CPU = 1, 0


@dataclass(frozen=True)
class Variant:
    """One way to reach the origin. ``config``: extra top-level lines for devproxy.yaml;
    ``headers``: sent with every request, WebSocket handshakes included."""

    name: str
    proxied: bool = True
    config: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


# The header fields Chromium sends with a same-origin fetch() (wrk alone sends Host):
# what the inspector keeps of a request from a real page (``side_by_side.py --browser``).
BROWSER_FETCH: tuple[tuple[str, str], ...] = (
    ("sec-ch-ua", '"Chromium";v="131", "Not_A Brand";v="24"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Linux"'),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "Chrome/131.0.0.0 Safari/537.36"),
    ("Accept", "*/*"),
    ("Sec-Fetch-Site", "same-origin"),
    ("Sec-Fetch-Mode", "cors"),
    ("Sec-Fetch-Dest", "empty"),
    ("Referer", "http://localhost:5173/"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Accept-Language", "en-US,en;q=0.9"),
)


# -- processes ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, child: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{child.args!r} exited with {child.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


@contextmanager
def process(args: Sequence[str], cpu: int | None = None, log: Path | None = None,
            source: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` (on ``cpu`` when pinning; stderr to ``log``; ``-m devproxy`` from the
    checkout at ``source``, if given) for the block; stop it by its PID afterwards:
    terminate, then kill."""
    if cpu is not None and PIN.enabled:
        args = ["taskset", "-c", str(cpu), *args]  # taskset execs: the PID is the child's
    env = None
    if source is not None:
        # First on the path, and the working directory too: ``python -m`` puts the
        # current directory ahead of everything, so a run started inside another
        # checkout would otherwise import that one.
        path = [str(source), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    with (log.open("wb") if log else open(os.devnull, "wb")) as stderr:
        child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=stderr, env=env, cwd=source)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@dataclass
class Pinning:
    enabled: bool = False


PIN = Pinning()


def pin_load_core() -> None:
    """Pin this process (the WebSocket client, and every child not pinned elsewhere)."""
    if PIN.enabled:
        os.sched_setaffinity(0, {LOAD_CPU})


def run_tool(args: list[str]) -> str:
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


# -- origins -----------------------------------------------------------------------------

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                  else None)


@contextmanager
def file_server(root: Path, work: Path, use_nginx: bool) -> Iterator[int]:
    """Serve ``root``'s files on a free port for the block; yields the port."""
    port = free_port()
    if use_nginx and NGINX:
        work.mkdir(parents=True, exist_ok=True)
        temp = work / "tmp"
        temp.mkdir(exist_ok=True)
        temps = " ".join(f"{kind}_temp_path {temp};" for kind in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = work / "nginx.conf"
        conf.write_text(
            f"daemon off; worker_processes 1; pid {work}/nginx.pid;\n"
            f"error_log {work}/error.log;\n"
            "events { worker_connections 4096; }\n"
            "http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;\n"
            f"  {temps}\n"
            f"  server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n")
        args = [NGINX, "-c", str(conf), "-p", str(work)]
    else:
        args = [sys.executable, str(HERE / "origin.py"), str(port), "--files", str(root)]
    with process(args, LOAD_CPU) as child:
        wait_port(port, child)
        yield port


class Origins:
    """The files (1 KiB, 64 KiB, 100 MiB) behind a file server, and origin.py for
    uploads and WebSockets."""

    def __init__(self, folder: Path, use_nginx: bool) -> None:
        self.folder = folder
        self.use_nginx = use_nginx and NGINX is not None
        if self.use_nginx:
            self.kind = "nginx"
        else:
            self.kind = "aiohttp (nginx not found)" if use_nginx else "aiohttp (asked for)"
        # nginx's workers may run as another user (when started as root): let them read.
        folder.chmod(0o755)
        self.files = folder / "www"
        self.files.mkdir()
        (self.files / "1k").write_bytes(os.urandom(1024))
        (self.files / "64k").write_bytes(os.urandom(64 * 1024))
        block = os.urandom(1 << 20)
        with (self.files / "100m").open("wb") as out:
            for _ in range(TRANSFER_MIB):
                out.write(block)
        self.files_port = self.sink_port = 0

    @contextmanager
    def running(self) -> Iterator[None]:
        self.sink_port = free_port()
        sink = [sys.executable, str(HERE / "origin.py"), str(self.sink_port)]
        with file_server(self.files, self.folder / "nginx", self.use_nginx) as port, \
                process(sink, LOAD_CPU) as child:
            self.files_port = port
            wait_port(self.sink_port, child)
            yield


# -- the thing under test ----------------------------------------------------------------

class Target:
    """A variant, running: where its URLs point and, when proxied, devproxy's PID."""

    def __init__(self, variant: Variant, origins: Origins, folder: Path,
                 source: Path | None = None) -> None:
        self.variant = variant
        self.source = source or HERE.parent  # the checkout devproxy runs from
        self.origins = origins
        self.config = folder / variant.name / "devproxy.yaml"
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.pid: int | None = None
        self.ready_s: float | None = None

    def write_config(self, files_port: int | None = None) -> None:
        files = files_port or self.origins.files_port
        sink = f"http://127.0.0.1:{self.origins.sink_port}"
        lines = [f"listen: 127.0.0.1:{self.port}", *self.variant.config, "routes:",
                 f"  - {{path: /upload, target: '{sink}'}}",
                 f"  - {{path: /ws, target: '{sink}'}}",
                 f"  - {{path: /, target: 'http://127.0.0.1:{files}', change_origin: true}}"]
        self.config.write_text("\n".join(lines) + "\n")

    @contextmanager
    def running(self) -> Iterator[None]:
        if not self.variant.proxied:
            yield
            return
        self.write_config()
        started = time.monotonic()
        # Not next to the config: devproxy watches that folder, and a log growing there
        # would be file events of its own while the reload is timed.
        log = self.config.parent.parent / f"{self.variant.name}.log"
        with process([sys.executable, "-m", "devproxy", "up", "-c", str(self.config)],
                     PROXY_CPU, log, self.source) as child:
            self.pid = child.pid
            try:
                self.ready_s = first_answer(self.url("/1k"), started, child)
            except RuntimeError as exc:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.variant.name}: {exc}\n{tail}") from None
            yield

    def url(self, path: str) -> str:
        if self.variant.proxied:
            port = self.port
        elif path.startswith(("/upload", "/ws")):
            port = self.origins.sink_port
        else:
            port = self.origins.files_port
        return f"http://127.0.0.1:{port}{path}"

    def header_args(self) -> list[str]:
        """The variant's headers as curl and wrk take them."""
        return [arg for name, value in self.variant.headers for arg in ("-H", f"{name}: {value}")]


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bytes(response.read())


def first_answer(url: str, started: float, child: subprocess.Popen[bytes]) -> float:
    """Seconds from ``started`` until ``url`` answers 200."""
    last: Exception | None = None
    while time.monotonic() - started < 30:
        if child.poll() is not None:
            raise RuntimeError(f"devproxy exited with {child.returncode} before answering")
        try:
            get(url)
            return time.monotonic() - started
        except OSError as exc:  # refused while starting; HTTPError is an OSError too
            last = exc
            time.sleep(0.002)
    raise RuntimeError(f"{url} never answered: {last!r}")


# -- memory ------------------------------------------------------------------------------

def status_mib(pid: int, key: str) -> float:
    """``key`` (VmRSS, VmHWM) from /proc/PID/status, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for {pid}")


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of a process, in clock ticks (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat


def wait_idle(pid: int | None, timeout: float = 5) -> None:
    """Wait (at most ``timeout`` s) until the process used no CPU for 100 ms: the last
    figure's aftermath (1,000 WebSockets closing, say) must not land in the next."""
    if pid is None:
        return
    deadline = time.monotonic() + timeout
    before = cpu_ticks(pid)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_ticks(pid)
        if now == before:
            return
        before = now


class Peak:
    """A process's peak RSS over a block: VmHWM after resetting it (writing 5 to
    /proc/PID/clear_refs), or, where that is refused, VmRSS sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._hwm_reset = False

    def __enter__(self) -> Peak:
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self._hwm_reset = True
        except OSError:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._hwm_reset:
            self.mib = status_mib(self.pid, "VmHWM")
        else:
            self._stop.set()
            self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.mib = max(self.mib, status_mib(self.pid, "VmRSS"))
            time.sleep(0.01)


