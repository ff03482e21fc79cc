"""The benchmark's aiohttp origin: an upload sink and a WebSocket echo, and, with
``--files DIR`` when nginx is not installed, the files too (slower than nginx, so the
direct figures drop and the ratios to direct look better than they are).

    python benchmarks/origin.py PORT [--files DIR]

POST /upload   reads the body and answers its length
GET  /ws       echoes every text or binary message
GET  /NAME     with --files: the file DIR/NAME (one path segment, no dotfiles)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiohttp import WSMsgType, web

FILES = web.AppKey("files", Path)


async def upload(request: web.Request) -> web.Response:
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
    return web.Response(text=str(size))


async def echo(request: web.Request) -> web.WebSocketResponse:
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    async for message in socket:
        if message.type is WSMsgType.TEXT:
            await socket.send_str(message.data)
        elif message.type is WSMsgType.BINARY:
            await socket.send_bytes(message.data)
    return socket


async def file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = request.app[FILES] / name
    if name.startswith(".") or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--files", type=Path, help="also serve this folder's files")
    args = parser.parse_args()
    app = web.Application(client_max_size=0)
    app.router.add_post("/upload", upload)
    app.router.add_get("/ws", echo)
    if args.files is not None:
        app[FILES] = args.files.resolve()
        app.router.add_get("/{name}", file)  # {name} never matches a "/"
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
