"""``devproxy demo``: the CORS problem and both of devproxy's fixes, live, in one process.

Starts on free loopback ports: a small JSON API that knows nothing of CORS, a
"frontend dev server" that serves the demo page, devproxy in front of both (one origin:
``/`` -> frontend, ``/api`` -> API), and a second devproxy in CORS mode in front of the
API. The page, opened through the first devproxy, calls the API three ways: directly
cross-origin (the browser blocks it), through the one-origin route, and through CORS
mode. ``devproxy doctor`` runs the two cross-origin calls at start-up and the page shows
its verdicts, headers included, next to what the browser did.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web

from .app import ProxyServer
from .config import Config, CorsPolicy, Listen, Route, parse_target, url_host
from .doctor import Report, probe
from .doctor import run as run_doctor
from .state import Live, Snapshot


@dataclass(frozen=True, slots=True)
class DemoUrls:
    page: str  # what the user opens: devproxy's one origin
    api: str
    frontend: str
    cors_proxy: str


class Demo:
    """The running demo; ``start`` then ``stop``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host, self._port = host, port
        self._runners: list[web.AppRunner] = []
        self._proxies: list[ProxyServer] = []
        # What the page shows, for each origin it may be opened at (127.0.0.1 or
        # localhost): the CORS headers and verdicts are the origin's own.
        self._facts: dict[str, dict[str, Any]] = {}

    async def start(self) -> DemoUrls:
        api_port = await self._serve(_api_app(), 0)
        frontend_port = await self._serve(_frontend_app(self._facts), 0)
        api = f"http://127.0.0.1:{api_port}"
        frontend = f"http://127.0.0.1:{frontend_port}"
        one_origin = Config(listen=Listen(self._host, self._port), routes=(
            Route("/api", parse_target(api), change_origin=True),
            Route("/", parse_target(frontend), change_origin=True),
        ))
        proxy = await self._proxy(one_origin)
        host = self._host
        # The address a browser opens: an IPv6 one in brackets, "any" as loopback.
        shown = ("127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::"
                 else url_host(host))
        page = f"http://{shown}:{proxy.port}"
        origins = (page, f"http://localhost:{proxy.port}")
        policy = CorsPolicy(origins=origins, credentials=True, expose=("X-Demo-Served-By",))
        cors_mode = Config(listen=Listen("127.0.0.1", 0), routes=(
            Route("/api", parse_target(api), cors=policy),), cors=policy)
        cors_proxy = f"http://127.0.0.1:{(await self._proxy(cors_mode)).port}"
        urls = DemoUrls(page, api, frontend, cors_proxy)
        for origin in origins:
            self._facts[origin] = await _facts(urls, origin, origins)
        return urls

    async def stop(self) -> None:
        for proxy in reversed(self._proxies):
            await proxy.stop()
        for runner in reversed(self._runners):
            await runner.cleanup()

    async def _serve(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        return site.port

    async def _proxy(self, config: Config) -> ProxyServer:
        proxy = ProxyServer(Live(Snapshot.build(config)))
        await proxy.start()
        self._proxies.append(proxy)
        return proxy


def _api_app() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        # No CORS support at all, like most backends on day one.
        return web.json_response(
            {"message": "Hello from the API", "time": time.strftime("%H:%M:%S"),
             "host_seen_by_api": request.host},
            headers={"X-Demo-Served-By": "demo-api"})

    app = web.Application()
    app.router.add_get("/api/hello", hello)
    return app


def _frontend_app(facts: dict[str, dict[str, Any]]) -> web.Application:
    page = resources.files("devproxy").joinpath("demo.html").read_text(encoding="utf-8")

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def demo_json(request: web.Request) -> web.Response:
        # The page says where it was opened; the first origin for any other.
        origin = request.query.get("origin", "")
        return web.json_response(facts.get(origin) or next(iter(facts.values())))

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/demo.json", demo_json)
    return app


async def _facts(urls: DemoUrls, origin: str, origins: tuple[str, ...]) -> dict[str, Any]:
    """What the page opened at ``origin`` needs: where to call, doctor's verdicts for
    that origin, the configs in YAML (CORS mode's lists ``origins``, all it allows)."""
    direct = await run_doctor(probe(urls.api + "/api/hello", origin))
    cors = await run_doctor(probe(urls.cors_proxy + "/api/hello", origin, credentials=True))
    return {
        "urls": {"page": urls.page, "api": urls.api, "frontend": urls.frontend,
                 "cors_proxy": urls.cors_proxy},
        "doctor": {"direct": _verdict(direct), "cors": _verdict(cors)},
        "configs": {
            "one_origin": (f"listen: {urls.page.removeprefix('http://')}\nroutes:\n"
                           f"  - path: /api\n    target: {urls.api}\n"
                           f"    change_origin: true\n"
                           f"  - path: /\n    target: {urls.frontend}\n"
                           f"    change_origin: true\n"),
            "cors_mode": (f"listen: {urls.cors_proxy.removeprefix('http://')}\ncors:\n"
                          f"  origins: [{', '.join(origins)}]\n  credentials: true\n"
                          f"  expose: [X-Demo-Served-By]\nroutes:\n"
                          f"  - path: /api\n    target: {urls.api}\n"),
        },
    }


def _verdict(report: Report) -> dict[str, Any]:
    last = report.steps[-1] if report.steps else None
    headers = [f"{k}: {v}" for k, v in (last.exchange.received if last and last.exchange
                                        else ()) if k.lower().startswith("access-control-")
               or k.lower() == "vary"]
    return {"allowed": report.verdict.ok, "reason": report.verdict.reason,
            "cause": report.cause, "headers": headers}

