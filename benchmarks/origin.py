"""The benchmark's second origin: an upload sink and a WebSocket echo (nginx serves
the files). Usage: python benchmarks/origin.py PORT"""

from __future__ import annotations

import sys

from aiohttp import web


async def upload(request: web.Request) -> web.Response:
    size = 0
    async for chunk in request.content.iter_chunked(1 << 20):
        size += len(chunk)
    return web.Response(text=str(size))


async def echo(request: web.Request) -> web.WebSocketResponse:
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    async for message in socket:
        await socket.send_str(message.data)
    return socket


def main() -> None:
    app = web.Application(client_max_size=0)
    app.router.add_post("/upload", upload)
    app.router.add_get("/ws", echo)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
