"""Static files for a route with a ``static`` folder.

Owns which file a request path names under the route's folder, and the sandbox that
keeps every answer inside it: the raw path is percent-decoded exactly once (strict
UTF-8); NUL, backslash and ``.``/``..`` segments are refused; dotfiles are refused
unless the route allows them; the real path (symlinks followed) must lie inside the
folder's real path. Directories are never listed: one with an ``index.html`` serves
it (after a 308 to the slash-terminated URL), any other is a miss. With ``spa`` a miss
that a browser navigates to gets the folder's ``index.html``.

Decide, then act: ``resolve_static`` only decides (it reads the file system, never
the request); ``serve_static`` hands the decided file to aiohttp's ``FileResponse``,
which owns Content-Type, ETag/Last-Modified, conditional requests, Range and HEAD,
after ``StaticFile`` has made the fields it misreads say what RFC 9110 means.
This module adds ``Cache-Control: no-cache`` to everything it sends (a dev server:
always revalidate). It must not read or write a file body itself, list a directory,
decode a path twice, or name the folder's absolute path in a response.

``FileResponse`` may send a regular-file sibling ``<file>.br``/``<file>.gz`` instead
of the decided file when Accept-Encoding allows (with Content-Encoding), unless it is
older than the file (``StaticFile``). It lstat()s
that sibling and ignores symlinks, so the sibling lies in the same, already checked
directory and the sandbox holds.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import enum
import functools
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import IO, Any
from urllib.parse import unquote

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.web_fileresponse import CONTENT_TYPES, ENCODING_EXTENSIONS, FALLBACK_CONTENT_TYPE
from multidict import CIMultiDict, CIMultiDictProxy

from .config import Route
from .errorpages import problem_response

logger = logging.getLogger(__name__)

INDEX = "index.html"
ALLOW = "GET, HEAD"
# A dev server's files change under it: let caches keep them but always revalidate
# (RFC 9111 §5.2.2.4), as Vite does. Also on 404/308, which are heuristically
# cacheable (RFC 9110 §15.1) and would otherwise outlive the file being created.
_NO_CACHE = {"Cache-Control": "no-cache"}
# Front-end files that aiohttp's table (Python's built-in one, never the machine's
# /etc/mime.types) does not know, or knows by an older name: sent as
# application/octet-stream, a file opened directly downloads instead of showing.
_TYPES = {
    ".avif": "image/avif", ".webp": "image/webp", ".apng": "image/apng",
    ".jxl": "image/jxl", ".woff": "font/woff",
    ".woff2": "font/woff2", ".ttf": "font/ttf", ".otf": "font/otf",
    # RFC 9239: text/javascript, where Python < 3.12 says application/javascript.
    ".js": "text/javascript", ".mjs": "text/javascript", ".cjs": "text/javascript",
    ".wasm": "application/wasm", ".map": "application/json",
    ".jsonld": "application/ld+json", ".xhtml": "application/xhtml+xml",
    ".webmanifest": "application/manifest+json", ".md": "text/markdown; charset=utf-8",
    ".yaml": "application/yaml", ".yml": "application/yaml",
    ".ogg": "audio/ogg", ".oga": "audio/ogg", ".ogv": "video/ogg", ".flac": "audio/flac",
    ".m4a": "audio/mp4", ".m4v": "video/mp4", ".weba": "audio/webm",
    ".mid": "audio/midi", ".midi": "audio/midi", ".mkv": "video/x-matroska",
    ".glb": "model/gltf-binary", ".gltf": "model/gltf+json",
}


@dataclass(frozen=True, slots=True)
class _Found:
    file: Path  # real path, inside the root's real path
    directory: bool  # the path named a directory; ``file`` is its index.html


class _Miss(enum.Enum):
    MISSING = "missing"  # nothing there: SPA fallback may apply
    REFUSED = "refused"  # hostile or forbidden: always 404


def resolve_static(root: Path, rest: str, *, dotfiles: bool) -> Path | None:
    """The file that ``rest`` names under ``root``, or None for a 404.

    Args:
        root: the route's folder (absolute; it may itself be a symlink).
        rest: the raw, percent-encoded request path after the route prefix: "" or
            starting with "/". No query.
        dotfiles: serve names starting with "." (``.well-known``); "." and ".."
            segments are refused either way.

    Returns:
        The real path of a regular file inside ``root``'s real path: the file named,
        or ``index.html`` when ``rest`` names a directory that has one (the caller
        redirects a directory path without a trailing slash first). None when the
        path is malformed or refused, names nothing, a directory without an index,
        something that is not a regular file, or a file with a trailing slash.
        Never raises for any ``rest``.
    """
    found = _lookup(root, rest, dotfiles=dotfiles)
    return found.file if isinstance(found, _Found) else None


async def serve_static(request: web.Request, route: Route, rest: str) -> web.StreamResponse:
    """Answer ``request`` from ``route``'s folder.

    Args:
        request: any method; only GET and HEAD are served (405 otherwise).
        route: a route with ``static`` set.
        rest: as for ``resolve_static``.

    Returns:
        A ``FileResponse`` (200/206/304/412/416 as the request's headers decide), a 308
        to add a directory's trailing slash, 405 with ``Allow``, or 404.

    Raises:
        ValueError: ``route`` has no static folder (a caller bug).
    """
    root = route.static
    if root is None:
        raise ValueError(f"route {route.path!r} has a target, not a static folder")
    if request.method not in ("GET", "HEAD"):
        return _method_not_allowed(request, route)
    loop = asyncio.get_running_loop()
    # The lookup is a handful of blocking stat/readlink calls: keep them off the loop.
    found = await loop.run_in_executor(
        None, functools.partial(_lookup, root, rest, dotfiles=route.dotfiles)
    )
    if isinstance(found, _Found):
        if found.directory and not rest.endswith("/"):
            return _add_slash(request)
        return _file(found.file)
    if found is _Miss.REFUSED:
        logger.debug("route %s: refused static path %r", route.path, rest)
    elif route.spa and _accepts_html(request):
        index = await loop.run_in_executor(
            None, functools.partial(_lookup, root, "/" + INDEX, dotfiles=route.dotfiles)
        )
        if isinstance(index, _Found):
            return _file(index.file)
        return _not_found(request, route, rest, no_index=True)
    return _not_found(request, route, rest)


def _lookup(root: Path, rest: str, *, dotfiles: bool) -> _Found | _Miss:
    split = _segments(rest, dotfiles=dotfiles)
    if split is None:
        return _Miss.REFUSED
    parts, trailing_slash = split
    try:
        base = root.resolve(strict=True)
        target = base.joinpath(*parts).resolve(strict=True)
        is_file, is_dir = target.is_file(), target.is_dir()
    except (OSError, RuntimeError, ValueError):
        # Missing, a file used as a directory, a name too long, or a symlink loop
        # (RuntimeError before Python 3.13, OSError after).
        return _Miss.MISSING
    if not _inside(target, base, dotfiles=dotfiles):
        return _Miss.REFUSED
    if is_file:
        # pathlib drops a trailing slash; "/app.js/" must not serve app.js.
        return _Miss.MISSING if trailing_slash else _Found(target, directory=False)
    if not is_dir:
        return _Miss.REFUSED  # a FIFO, socket or device
    try:
        index = (target / INDEX).resolve(strict=True)
        ok = index.is_file() and _inside(index, base, dotfiles=dotfiles)
    except (OSError, RuntimeError, ValueError):
        return _Miss.MISSING
    return _Found(index, directory=True) if ok else _Miss.MISSING


def _segments(rest: str, *, dotfiles: bool) -> tuple[list[str], bool] | None:
    """The decoded, non-empty path segments and whether the path ends with "/", or
    None when the path must be refused."""
    if rest and not rest.startswith("/"):
        return None
    try:
        # Exactly one decode: "%252e" stays the literal name "%2e". Strict UTF-8 refuses
        # overlong forms ("%c0%ae") and, via encode(), raw bytes a lenient parser passed
        # through as surrogates.
        path = unquote(rest, encoding="utf-8", errors="strict")
        path.encode("utf-8")
    except UnicodeError:
        return None
    # NUL ends a C string; a backslash is a separator on Windows and in some tools.
    if "\x00" in path or "\\" in path:
        return None
    # Empty segments ("//") are dropped, so no segment can make the join absolute.
    parts = [segment for segment in path.split("/") if segment]
    if any(segment in (".", "..") for segment in parts):
        return None
    if not dotfiles and any(segment.startswith(".") for segment in parts):
        return None
    return parts, path.endswith("/")


def _inside(real: Path, base: Path, *, dotfiles: bool) -> bool:
    if not real.is_relative_to(base):
        return False
    # Also on the real path: a symlink ``public -> .git`` must not open a dotfile.
    return dotfiles or not any(p.startswith(".") for p in real.relative_to(base).parts)


def _accepts_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "").lower()


class StaticFile(web.FileResponse):
    """aiohttp's ``FileResponse``, which may be sent before aiohttp's own send.

    ``dispatch.handle`` sends every response before it logs and records it, so both
    see what the browser got: the status the request's headers decided (304, 206,
    416), the bytes, the time the file took. aiohttp then prepares the returned
    response once more, which any other response takes as a no-op, but
    ``FileResponse.prepare`` would open and send the file a second time.
    """

    # Set when fewer bytes than the Content-Length went: the file ended early, or the
    # browser went away.
    body_sent: int | None = None

    @property
    def last_modified(self) -> datetime.datetime | None:
        return web.FileResponse.last_modified.fget(self)  # type: ignore[attr-defined,no-any-return]

    @last_modified.setter
    def last_modified(self, value: float | datetime.datetime | str | None) -> None:
        if isinstance(value, (int, float)):
            # Never later than Date (RFC 9110 §8.8.2.1): aiohttp rounds the mtime up to
            # the next second, so a file saved this second said the next one, and a
            # client revalidating by date got 304 for a second save within it.
            value = min(math.ceil(value), int(time.time()))
        web.FileResponse.last_modified.fset(self, value)  # type: ignore[attr-defined]

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:
            return await web.StreamResponse.prepare(self, request)
        headers = await self._as_meant(request.headers)
        if headers is not None:
            request = request.clone(headers=headers)
        return await super().prepare(request)

    async def _as_meant(self, headers: CIMultiDictProxy[str]) -> CIMultiDict[str] | None:
        """The request's fields as ``FileResponse`` must read them to answer as RFC 9110
        says, or None if they already are. It reads Accept-Encoding by substring, so
        ``gzip;q=0`` got the .gz (§12.5.3: q=0 refuses); it reads If-Range only as a
        date, so an entity-tag was ignored and a changed file resumed with mixed bytes
        (§13.1.5); it answered a Range it cannot serve (several ranges, another unit)
        416, where ignoring it is allowed, or required for a unit (§14.2)."""
        fixed = CIMultiDict(headers)
        accept = headers.get(hdrs.ACCEPT_ENCODING)
        if accept is not None:
            fixed[hdrs.ACCEPT_ENCODING] = accepted_codings(accept)
        ranges = headers.get(hdrs.RANGE)
        if ranges is not None:
            unit, _, spec = ranges.partition("=")
            tag = headers.get(hdrs.IF_RANGE, "").strip()
            if unit.strip().lower() != "bytes" or "," in spec:
                del fixed[hdrs.RANGE]
            elif spec.strip() == "-0":
                # A suffix of no bytes is unsatisfiable (§14.1.1); FileResponse sends the
                # whole file as 206. A first byte past any file's end gets it the 416.
                fixed[hdrs.RANGE] = f"bytes={1 << 62}-"
            elif tag.startswith(('"', "W/")):
                current = await asyncio.get_running_loop().run_in_executor(
                    None, self._etag, fixed.get(hdrs.ACCEPT_ENCODING, ""))
                if tag != current:  # weak tags never match: a strong comparison
                    del fixed[hdrs.RANGE]
                del fixed[hdrs.IF_RANGE]
            elif tag:
                # A date matches only the Last-Modified it would be sent (§13.1.5 "exactly
                # matches"); FileResponse took any later date, so a file put back with an
                # older mtime (cp -p, tar, rsync -t) resumed with another file's bytes.
                sent = await asyncio.get_running_loop().run_in_executor(
                    None, self._last_modified, fixed.get(hdrs.ACCEPT_ENCODING, ""))
                if sent is None or _http_date(tag) != sent:
                    del fixed[hdrs.RANGE]
                del fixed[hdrs.IF_RANGE]
        return None if fixed == headers else fixed

    async def _sendfile(self, request: web.BaseRequest, fobj: IO[Any], offset: int,
                        count: int) -> AbstractStreamWriter:
        try:
            writer = await super()._sendfile(request, fobj, offset, count)
        except BaseException:
            # The browser went away part way (cancelled, or the socket failed): what went
            # is where the file stands, as below. A native sendfile cancelled between two
            # calls leaves it at the start, so 0 is what that case can say.
            self.body_sent = max(fobj.tell() - offset, 0)
            raise
        # sendfile and aiohttp's read loop both stop at the file's end and leave the
        # file where they stopped, so its position says how much went (asyncio's
        # sendfile leaves it alone when nothing went: below the offset, so 0).
        sent = fobj.tell() - offset
        if sent < count:
            # The file shrank while it was sent (a build tool rewriting it): fewer bytes
            # than the Content-Length promised. Closing is how HTTP/1.1 tells the client
            # the message is incomplete (RFC 9112 §8); a kept-alive connection would
            # leave it waiting for the rest until the idle timeout.
            self.body_sent = max(sent, 0)
            if request.transport is not None:
                request.transport.close()
        return writer

    def _get_file_path_stat_encoding(
            self, accept_encoding: str) -> tuple[Path | None, os.stat_result, str | None]:
        """The file aiohttp sends for ``accept_encoding`` (run in its executor), passing
        over a ``.br``/``.gz`` sibling older than the file: edited since it was
        compressed, it would give browsers old code and curl the new."""
        first = True
        while True:  # at most three times: each pass takes a coding out
            chosen, info, coding = super()._get_file_path_stat_encoding(accept_encoding)
            if first and (coding is not None or self._has_sibling(accept_encoding)):
                # Accept-Encoding chooses between the file and its sibling, so every
                # answer says so (RFC 9110 §12.5.5), a 304 included (§15.4.5); aiohttp
                # says it only with a sibling's 200, and a cache told by one answer only
                # may let the other stand for both.
                self._headers[hdrs.VARY] = hdrs.ACCEPT_ENCODING
            first = False
            if coding is None or info.st_mtime_ns >= self._path.stat().st_mtime_ns:
                return chosen, info, coding
            accept_encoding = accept_encoding.replace(coding, "")  # its next choice

    def _has_sibling(self, accept_encoding: str) -> bool:
        """Whether a sibling exists whose coding ``accept_encoding`` does not name:
        aiohttp looked for those it names, and found none."""
        for suffix, coding in ENCODING_EXTENSIONS.items():  # the siblings aiohttp knows
            if coding in accept_encoding:
                continue
            try:
                if S_ISREG(self._path.with_name(self._path.name + suffix).lstat().st_mode):
                    return True
            except OSError:
                pass
        return False

    def _last_modified(self, accept: str) -> int | None:
        """The Last-Modified ``FileResponse`` will send, in whole seconds (it rounds up),
        if it is a strong validator; None if not: a date less than a second before Date
        is weak (RFC 9110 §8.8.2.2), and If-Range takes only a strong one (§13.1.5)."""
        try:
            info = self._get_file_path_stat_encoding(accept)[1]
        except OSError:
            return None
        sent = math.ceil(info.st_mtime)
        return sent if sent < int(time.time()) else None

    def _etag(self, accept: str) -> str | None:
        """The ETag ``FileResponse`` will send: of the file it picks for ``accept``."""
        try:
            info = self._get_file_path_stat_encoding(accept)[1]
        except OSError:
            return None
        return f'"{info.st_mtime_ns:x}-{info.st_size:x}"'


def _http_date(text: str) -> int | None:
    """An HTTP-date (RFC 9110 §5.6.7) as seconds since the epoch; None if it is not one."""
    try:
        return int(email.utils.parsedate_to_datetime(text).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def accepted_codings(field: str) -> str:
    """The content codings of ``.br``/``.gz`` siblings an Accept-Encoding field accepts,
    as a list ``FileResponse``'s substring test reads right (RFC 9110 §12.5.3: q=0
    refuses a coding, ``*`` stands for those not named; x-gzip is gzip, §8.4.1.3)."""
    weights: dict[str, float] = {}
    for item in field.split(","):
        name, *params = item.split(";")
        name = name.strip().lower()
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0  # unreadable: not taken as a yes
        if name:
            weights["gzip" if name == "x-gzip" else name] = weight
    star = weights.get("*", 0.0)
    return ", ".join(coding for coding in ("br", "gzip") if weights.get(coding, star) > 0)


def content_type(name: str) -> str:
    """The Content-Type a file of this name is sent with.

    Text says it is UTF-8: without a charset a browser decodes an HTML page that has no
    ``<meta charset>`` (and the classic scripts and styles it loads) as windows-1252,
    so "wörld" shows, and is posted back, as "wÃ¶rld" (HTML §13.2.3.2). Express and
    Caddy say UTF-8 too; a file's own byte order mark still wins over it.
    """
    known = _TYPES.get(Path(name).suffix.lower())
    if known is None:  # as aiohttp would guess it, with its own additions
        known = CONTENT_TYPES.guess_type(name)[0] or FALLBACK_CONTENT_TYPE
    essence, _, params = known.partition(";")
    if essence.startswith("text/") and "charset" not in params:
        return f"{known}; charset=utf-8"
    return known


def _file(path: Path) -> web.FileResponse:
    return StaticFile(path, headers={**_NO_CACHE, "Content-Type": content_type(path.name)})


def _add_slash(request: web.Request) -> web.StreamResponse:
    # Relative links in the index resolve against the directory only with the slash.
    # 308 keeps the method (RFC 9110 §15.4.9); the raw query is kept as it came.
    path, sep, query = request.raw_path.partition("?")
    # One leading slash: "//host/" would be a network-path reference, an open redirect.
    location = "/" + path.lstrip("/") + "/" + sep + query
    return web.Response(status=308, headers={"Location": location, **_NO_CACHE})


def _method_not_allowed(request: web.Request, route: Route) -> web.StreamResponse:
    response = problem_response(
        request, 405, "Method not allowed",
        f"Route {route.path} serves static files, which can only be read with GET or HEAD.",
        facts={"Route": route.path, "Method": request.method},
    )
    # RFC 9110 §15.5.6: a 405 must list the allowed methods.
    response.headers["Allow"] = ALLOW
    response.headers.update(_NO_CACHE)
    return response


def _not_found(request: web.Request, route: Route, rest: str,
               no_index: bool = False) -> web.StreamResponse:
    """404; ``no_index``: a page a single-page app routes, but no index.html to serve."""
    hint = ""
    detail = f"No file was found for {_shown(rest)} under route {route.path}."
    assert route.static is not None
    if not route.static.is_dir():
        # Checked at load time, but a build that cleans its output folder removes it
        # while devproxy runs: say so, rather than blame the one file asked for.
        # No machine path in a response: the route names it well enough.
        detail = f"The folder that route {route.path} serves is gone: nothing is there."
        hint = "rebuild it (a build that cleans its output folder removes it for a while)"
    elif no_index:
        detail += f" With `spa: true` a page is served the folder's {INDEX}, and it has none."
        hint = f"build the app into this folder, or point the route at the folder with {INDEX}"
    elif not route.spa and _accepts_html(request):
        hint = "for a single-page app with client-side routes, set `spa: true` on this route"
    response = problem_response(request, 404, "File not found", detail, hint=hint,
                                facts={"Route": route.path})
    response.headers.update(_NO_CACHE)
    return response


def _shown(rest: str) -> str:
    # A lenient parser can pass raw bytes through as surrogates, which UTF-8 refuses.
    return rest.encode("ascii", "backslashreplace").decode("ascii") or "/"
