"""What the inspector page costs the browser while traffic flows: main-thread time and
the longest frames, in Debian's Chromium driven by Playwright.

    python benchmarks/inspector_page.py                 # 70 requests/s for 8 s, ~20 s
    python benchmarks/inspector_page.py --rate 140 --seconds 5 --port 44850

A backend and devproxy run in this process on 127.0.0.1 (free ports, or --port and
--port + 1). The list is first filled to devproxy's 500 requests, as after a while of
use, with the newest request open in the detail and the pointer on it (on the list, the
list would hold still); then GETs go out at a steady rate (a bounded number: rate x
seconds) and the page is measured from the first until it shows the last: Chromium's
own task, script, layout and style times (CDP Performance metrics), and the gaps
between animation frames. Every process started here is ended here. Figures from one
run are for comparing code on the same machine in the same hour.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from playwright.async_api import async_playwright

from devproxy.app import ProxyServer
from devproxy.loader import load_config
from devproxy.state import Live, Snapshot

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
# Frame gaps as the page sees them, from the first request to the last one shown.
RECORD_FRAMES = """() => {
    window.gaps = [];
    let last = performance.now();
    const tick = (now) => {
        window.gaps.push(now - last);
        last = now;
        if (!window.stopFrames) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
}"""


async def backend(port: int) -> web.AppRunner:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"path": request.path, "items": [1, 2, 3]})

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def measure(rate: int, seconds: float, port: int) -> dict[str, Any]:
    origin = await backend(port + 1 if port else 0)
    origin_port = origin.addresses[0][1]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "devproxy.yaml"
        path.write_text(f"listen: 127.0.0.1:{port}\nroutes:\n  - path: /api\n"
                        f"    target: http://127.0.0.1:{origin_port}\n")
        server = ProxyServer(Live(Snapshot.build(load_config(path))), shutdown_timeout=1)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with async_playwright() as playwright, aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=50)) as client:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                return await _run(browser, client, base, rate, seconds)
            finally:
                await browser.close()
    finally:
        await server.stop()
        await origin.cleanup()


async def _run(browser: Any, client: aiohttp.ClientSession, base: str, rate: int,
               seconds: float) -> dict[str, Any]:
    async def get(n: int) -> None:
        async with client.get(f"{base}/api/items/{n}") as resp:
            await resp.read()

    await asyncio.gather(*(get(n) for n in range(500)))  # the list full, as after a while
    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    await page.goto(base + "/__devproxy/")
    await page.wait_for_selector("body[data-ready=true]")
    await page.wait_for_function("document.querySelectorAll('#list tbody tr').length === 500")
    await page.locator("#list tbody tr").first.click()
    await page.wait_for_selector("#request-diff")
    await page.hover("#detail")  # reading it: the list holds still under the pointer
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Performance.enable")

    async def metrics() -> dict[str, float]:
        got = (await cdp.send("Performance.getMetrics"))["metrics"]
        return {m["name"]: m["value"] for m in got}

    await page.evaluate(RECORD_FRAMES)
    before, started = await metrics(), time.monotonic()
    total = int(rate * seconds)
    sent = []
    for n in range(total):  # a steady rate, not a burst
        sent.append(asyncio.create_task(get(1000 + n)))
        await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))
    await asyncio.gather(*sent)
    last = f"/api/items/{1000 + total - 1}"
    await page.wait_for_function(
        "(last) => document.querySelector('#list tbody tr td.path')?.innerText.startsWith(last)"
        " && [...document.querySelectorAll('#list tbody td.status')].every("
        "(c) => c.innerText !== '…')", arg=last, timeout=60_000)
    wall = time.monotonic() - started
    after = await metrics()
    gaps: list[float] = await page.evaluate("window.stopFrames = true; window.gaps")
    gaps.sort()
    return {
        "requests": total, "wall_s": wall,
        **{name: after[name] - before[name] for name in METRICS},
        "frames": len(gaps), "frame_max_ms": gaps[-1],
        "frame_p95_ms": gaps[int(len(gaps) * 0.95)], "frame_median_ms": statistics.median(gaps),
        "frames_over_50ms": sum(gap > 50 for gap in gaps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=70, help="requests per second")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long to send")
    parser.add_argument("--port", type=int, default=0,
                        help="devproxy's port, the backend's the next (default: free ports)")
    args = parser.parse_args()
    got = asyncio.run(measure(args.rate, args.seconds, args.port))
    print(f"{got['requests']} requests at {args.rate}/s, page measured over "
          f"{got['wall_s']:.1f} s")
    print(f"main thread: tasks {got['TaskDuration']:.2f} s, script {got['ScriptDuration']:.2f} s,"
          f" layout {got['LayoutDuration']:.2f} s, style {got['RecalcStyleDuration']:.2f} s")
    print(f"frames: {got['frames']}, median {got['frame_median_ms']:.0f} ms, p95 "
          f"{got['frame_p95_ms']:.0f} ms, longest {got['frame_max_ms']:.0f} ms, "
          f"{got['frames_over_50ms']} over 50 ms")


if __name__ == "__main__":
    main()
