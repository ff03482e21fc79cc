"""A tiny JSON API for the example, on 127.0.0.1:3000 (or the port given as argv[1]).

It knows nothing about devproxy: routes are at its root (/hello, /login), as most
backends are; devproxy mounts it under /api with strip_prefix.
"""

import sys
import time

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    user = request.cookies.get("user", "stranger")
    return web.json_response({"message": f"Hello, {user}!", "time": time.time(),
                              "host_seen_by_backend": request.host})


async def login(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther("/hello")  # root-relative: devproxy maps it to /api/hello
    response.set_cookie("user", "developer", path="/", httponly=True, samesite="Lax")
    return response


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_post("/login", login)
    web.run_app(app, host="127.0.0.1", port=port, print=lambda _: None)


if __name__ == "__main__":
    main()
