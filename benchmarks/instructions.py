"""What one proxied request costs devproxy, in CPU instructions: a figure noise can't move.

    python benchmarks/instructions.py [--requests 2000] [--only NAME,...] [--path /1k]
                                      [--browser] [--keep DIR]

req/s on a shared machine swings by a fifth between runs, more than the differences
worth knowing (what the inspector costs, what a change saved). Callgrind counts the
instructions devproxy executes instead: the same for the same code and inputs, whatever
else the machine is doing. For each variant of run.py (direct excepted), devproxy runs
under ``valgrind --tool=callgrind`` with instrumentation off; after a warm-up of 600
requests (past the inspector's 500-record history, so each request evicts one, as all
day long) it is switched on for exactly ``--requests`` keep-alive GETs over 10
connections, then dumped. Enough of them that work done once or every few seconds
(the first requests on each connection, the heap trimmed) is a small share: at 300
requests that share added about 45k instructions to each. Instructions per request =
the total / requests. User-space instructions only: the kernel's share of each request
(about a quarter of the CPU time, the same for every variant) is not in it, so the
ratios here overstate differences of whole-request CPU a little.

Needs valgrind (with callgrind_control) and nginx or the aiohttp origin, as run.py does.
Everything runs on 127.0.0.1, every loop is bounded, and only the processes started here
are stopped, by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from harness import BROWSER_FETCH, Origins, Target, Variant, process, wait_port
from run import VARIANTS

WARM_UP = 600
CONNECTIONS = 10


async def _client(port: int, path: str, count: int, headers: Sequence[tuple[str, str]]
                  ) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode()
    try:
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{path}: {head.splitlines()[0]!r}")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
    finally:
        writer.close()


def send(port: int, path: str, total: int, headers: Sequence[tuple[str, str]]) -> None:
    """``total`` GETs of ``path`` over CONNECTIONS keep-alive connections, in bounds."""
    each = total // CONNECTIONS

    async def run() -> None:
        async with asyncio.timeout(600):
            await asyncio.gather(*(_client(port, path, each, headers)
                                   for _ in range(CONNECTIONS)))

    asyncio.run(run())


def instructions(target: Target, path: str, requests: int, work: Path,
                 extra: Sequence[tuple[str, str]] = ()) -> float:
    """Instructions devproxy executes per request of ``path``, after a warm-up;
    ``extra`` fields go with every request, after the variant's own."""
    target.write_config()
    out = work / f"{target.variant.name}.callgrind"
    args = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "-q",
            f"--callgrind-out-file={out}",
            sys.executable, "-m", "devproxy", "up", "-c", str(target.config), "--no-reload"]
    log = work / f"{target.variant.name}.log"
    with process(args, None, log, target.source) as child:
        wait_port(target.port, child, timeout=120)
        headers = (*target.variant.headers, *extra)
        send(target.port, path, WARM_UP, headers)
        control = ["callgrind_control"]
        subprocess.run([*control, "-i", "on", str(child.pid)], capture_output=True,
                       check=True, timeout=60)
        send(target.port, path, requests, headers)
        subprocess.run([*control, "-d", str(child.pid)], capture_output=True, check=True,
                       timeout=60)
        time.sleep(0.5)
    total = 0
    for dump in work.glob(f"{out.name}*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    if not total:
        raise RuntimeError(f"{target.variant.name}: callgrind wrote no totals ({log})")
    return total / requests


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--path", default="/1k", choices=("/1k", "/64k"))
    parser.add_argument("--only", default="", help="variants, comma-separated")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="copy each variant's callgrind dump here, for "
                             "callgrind_annotate")
    parser.add_argument("--browser", action="store_true",
                        help="every request carries the fields Chromium sends with a "
                             "fetch() (by default, Host only)")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    if args.keep and args.keep.exists() and not args.keep.is_dir():
        parser.error(f"--keep {args.keep}: not a folder")
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        print("needs valgrind and callgrind_control (Debian: apt-get install valgrind)",
              file=sys.stderr)
        return 2
    only = {name for name in args.only.split(",") if name}
    variants: list[Variant] = [v for v in VARIANTS if v.proxied and
                               (not only or v.name in only)]
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="devproxy-instr-") as temp:
        folder = Path(temp)
        origins = Origins(folder, use_nginx=True)
        with origins.running():
            for variant in variants:
                print(f"{variant.name}: {args.requests} x GET {args.path} under callgrind",
                      file=sys.stderr)
                target = Target(variant, origins, folder)
                results[variant.name] = instructions(
                    target, args.path, args.requests, folder,
                    BROWSER_FETCH if args.browser else ())
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    for dump in folder.glob(f"{variant.name}.callgrind*"):
                        shutil.copy(dump, args.keep / dump.name)
    base = results.get("devproxy-no-inspector")
    fields = ", a browser's fields" if args.browser else ""
    print(f"| variant | instructions per GET {args.path}{fields} | vs inspector off |")
    print("|---|---|---|")
    for name, count in results.items():
        ratio = f"{count / base:.3f}" if base else "-"
        print(f"| {name} | {count:,.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
