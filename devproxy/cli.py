"""The ``devproxy`` command line.

Owns flag parsing, what the user reads on the terminal (start-up block, route tables,
one-line errors), logging handlers and exit codes. It is the only module that prints
or ends the process; everything it runs raises ``DevproxyError`` subclasses instead.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import errno
import gc
import io
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import click
from multidict import CIMultiDict

from . import EXPORT_FORMATS, __version__, heap
from .app import ProxyServer
from .config import (
    SPECIAL_QUERY_ENCODED,
    Config,
    Listen,
    Route,
    ascii_digits,
    ascii_note,
    browser_encoded,
    browser_path,
    parse_listen,
)
from .dispatch import AccessLog
from .errors import BindError, ConfigError
from .headers import request_headers, split_origin
from .loader import (
    DEFAULT_CONFIG_NAME,
    config_from_flags,
    load_config,
    parse_config,
    utf8_text,
    with_overrides,
)
from .paths import upstream_path
from .router import RouteTable
from .screen import ANY_HOST_WARNING, OPEN_LISTEN_WARNING
from .state import Live, Snapshot


def _once(ctx: click.Context, param: click.Parameter, given: tuple[Any, ...]) -> Any:
    """The value of an option that takes one, refusing it given twice: click would take
    the last in silence, and ``-c a.yaml -c b.yaml`` would serve b's routes."""
    if len(given) > 1:
        values = ", ".join(repr(str(value)) for value in given)
        raise click.BadParameter(f"given {len(given)} times ({values}); give it once",
                                 ctx=ctx, param=param)
    return given[0] if given else None


class _Port(click.ParamType[int]):
    """A port 0-65535 in ASCII digits: click's int reads "45_431" and full-width digits
    as numbers (Python's int() does), which no config, URL or other tool takes."""

    name = "port"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> int:
        text = str(value).strip()
        if not ascii_digits(text) or int(text) > 65535:
            self.fail(f"expected a port number 0-65535{ascii_note(text)}, got {value!r}",
                      param, ctx)
        return int(text)


class _Seconds(click.ParamType[float]):
    """A number of seconds written as a config writes one (ASCII digits, a point)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> float:
        text = str(value).strip()
        if not re.fullmatch(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", text):
            self.fail(f"expected a number of seconds such as 10 or 2.5, in ASCII digits 0-9, "
                      f"got {value!r}", param, ctx)
        return float(text)


_config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    multiple=True, callback=_once, help=f"Config file (default: ./{DEFAULT_CONFIG_NAME}).",
)


class _Commands(click.Group):
    """The command group, whose output may go where nothing more can be written: a full
    disk (``> /dev/full``) is said in one line, not a traceback. (click itself ends a
    command quietly when the reader of a pipe quit.)"""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
                raise
            # Nothing more may be written there, not even Python's own flush at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            _fail(f"could not write the output: {exc.strerror or exc}")


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="devproxy")
def main() -> None:
    """A local development reverse proxy: one origin for your frontend and your API."""


@main.command()
@_config_option
@click.option("--listen", metavar="HOST:PORT", multiple=True, callback=_once,
              help="Address to serve on (default 127.0.0.1:8080).")
@click.option("-p", "--port", type=_Port(), multiple=True, callback=_once,
              help="Port to serve on, on the config's host (default 127.0.0.1).")
@click.option("--route", "routes", multiple=True, metavar="PATH=TARGET",
              help="A route, e.g. /api=http://127.0.0.1:3000 (repeatable).")
@click.option("--change-origin", is_flag=True, help="Set change_origin on --route routes.")
@click.option("--no-reload", is_flag=True, help="Do not apply config file edits while running.")
@click.option("-v", "--verbose", is_flag=True, help="Also log headers sent and received.")
@click.option("-q", "--quiet", is_flag=True, help="Log errors only.")
def up(
    config_path: Path | None, listen: str | None, port: int | None, routes: tuple[str, ...],
    change_origin: bool, no_reload: bool, verbose: bool, quiet: bool,
) -> None:
    """Run the proxy until Ctrl+C. Saved edits to the config file apply while it runs."""
    if verbose and quiet:
        raise click.UsageError("-v/--verbose and -q/--quiet ask for opposite logs; give one")
    if port is not None and listen is not None:
        raise click.UsageError("--port and --listen both say where to serve; give one")
    written, config = _load_file(config_path, listen=listen, port=port, routes=routes,
                                 change_origin=change_origin)
    _setup_logging(verbose=verbose, quiet=quiet)

    here = Path.cwd()  # flags' folders stay relative to it even if it is deleted later

    def overrides(reloaded: Config) -> Config:  # the flags win over every reload too
        return with_overrides(reloaded, listen=listen, port=port, routes=routes,
                              change_origin=change_origin, base_dir=here)

    watch = None if no_reload else config.source  # None too for --route flags alone
    try:
        _run_loop(lambda: _run(config, quiet=quiet, watch=watch, overrides=overrides,
                               written=written))
    except BindError as exc:
        _fail(config.listen_error(exc.reason, exc.hint))


@main.command()
@_config_option
def check(config_path: Path | None) -> None:
    """Validate the config and print the route table."""
    config = _load(config_path)
    click.echo(f"{_source_name(config)}: OK, listening on {config.listen}")
    click.echo(_route_table(config.routes))
    # What `up` warns of when it starts: valid, but not safe; still exit 0.
    if not config.listen.is_loopback:
        click.echo(f"{_source_name(config)}: warning: {OPEN_LISTEN_WARNING % config.listen}",
                   err=True)
    if config.any_host:
        click.echo(f"{_source_name(config)}: warning: {ANY_HOST_WARNING}", err=True)


@main.command()
@_config_option
@click.argument("path", required=False)
def routes(config_path: Path | None, path: str | None) -> None:
    """Print the route table, or what happens to a request for PATH."""
    config = _load(config_path)
    if path is None:
        click.echo(_route_table(config.routes))
        return
    _explain(config, path)


@main.command()
@click.argument("url")
@click.option("--origin", required=True, metavar="ORIGIN",
              help="The page's origin, e.g. http://localhost:5173.")
@click.option("-X", "--method", default="GET", show_default=True, help="fetch() method.")
@click.option("-H", "--header", "headers", multiple=True, metavar="'Name: value'",
              help="A request header the page sets (repeatable).")
@click.option("--credentials", is_flag=True, help="As fetch(..., {credentials: 'include'}).")
@click.option("-d", "--data", help="Request body to send with the actual request.")
@click.option("--preflight-only", is_flag=True,
              help="Stop after the preflight: never send the actual request.")
@click.option("--timeout", type=_Seconds(), default=10.0, show_default=True,
              help="Seconds to wait for each answer.")
def doctor(url: str, origin: str, method: str, headers: tuple[str, ...], credentials: bool,
           data: str | None, preflight_only: bool, timeout: float) -> None:
    """Act like a browser's fetch() from ORIGIN to URL and explain its CORS verdict.

    Works against any server. Exit status: 0 allowed, 1 blocked, 2 a usage error, 3
    could not connect.
    Like a browser, it really sends the actual request (use --preflight-only to avoid
    side effects of, say, a DELETE).
    """
    # Each command imports what only it uses: `devproxy up` stays small (RSS is one of
    # its performance targets) and starts fast.
    from .doctor import DoctorError
    from .doctor import probe as doctor_probe
    from .doctor import render as render_doctor
    from .doctor import run as run_doctor

    try:
        wanted = doctor_probe(url, origin, method, headers, credentials,
                              data.encode() if data is not None else None, preflight_only,
                              timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    try:
        report = asyncio.run(run_doctor(wanted))
    except DoctorError as exc:
        click.echo(f"devproxy doctor: {exc}", err=True)
        raise SystemExit(3) from exc  # not 2: click's, for a usage error
    click.echo(render_doctor(report))
    raise SystemExit(report.exit_code)


@main.command()
@click.option("--listen", metavar="HOST:PORT", default="127.0.0.1:8080", show_default=True,
              help="Where the demo page is served (a busy port falls back to a free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in your browser.")
def demo(listen: str, open_browser: bool) -> None:
    """See the CORS error and both of devproxy's fixes, live, with nothing else running."""
    try:
        where = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from exc
    _setup_logging(verbose=False, quiet=True)
    try:
        _run_loop(lambda: _run_demo(where, open_browser))
    except BindError as exc:
        _fail(str(exc))


async def _run_demo(where: Listen, open_browser: bool) -> None:
    from .demo import Demo

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = Demo(where.host, where.port)
    try:
        urls = await running.start()
    except BindError as exc:
        await running.stop()
        cause = exc.__cause__
        if not isinstance(cause, OSError) or cause.errno != errno.EADDRINUSE:
            raise  # not an address of this machine, no permission: no other port helps
        click.echo(f"devproxy demo: {where} is busy, using a free port", err=True)
        running = Demo(where.host, 0)
        urls = await running.start()
    try:
        click.echo(f"devproxy demo: open {urls.page}\n"
                   f"  /      -> demo frontend  {urls.frontend}\n"
                   f"  /api   -> demo API       {urls.api}  (no CORS support)\n"
                   f"  CORS mode in front of the API: {urls.cors_proxy}\n"
                   f"Ctrl+C to stop.", err=True)
        if not where.is_loopback:  # as `up` warns (the demo logs nothing but errors)
            click.echo(f"devproxy demo: {OPEN_LISTEN_WARNING % where}", err=True)
        if open_browser:
            click.launch(urls.page)
        await stop.wait()
    finally:
        await running.stop()


@main.command()
@click.option("--from", "from_file", type=click.Path(path_type=Path, dir_okay=False,
                                                     exists=True),
              help="Import vite.config.ts, webpack.config.js, vue.config.js, "
                   "proxy.conf.json or package.json (CRA) instead of guessing.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
              default=Path(DEFAULT_CONFIG_NAME), show_default=True,
              help="Where to write it; - for standard output.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(from_file: Path | None, output: Path, force: bool) -> None:
    """Write a commented devproxy.yaml for the project in this folder."""
    from .importers import import_config
    from .scaffold import (
        BUILD_FOLDERS,
        PROJECT_FILES,
        SUBFOLDERS,
        built_site,
        detect,
        proxy_files,
        render,
        render_imported,
        summary,
    )

    to_stdout = str(output) == "-"
    if not to_stdout and output.exists() and not force:
        _fail(f"{output} already exists; pass --force to overwrite it")
    if from_file is not None:
        try:
            text = utf8_text(str(from_file), from_file.read_bytes())
            imported = import_config(from_file.name, text)
        except (ValueError, ConfigError) as exc:
            _fail(str(exc))
        except OSError as exc:
            _fail(f"cannot read {from_file}: {exc.strerror or exc}")
        text = render_imported(imported)
        found = f"{len(imported.routes)} route(s) from {imported.source}"
        if not any(route.path == "/" for route in imported.routes):  # as render_imported adds
            found += f", and / for {imported.frontend} on {imported.frontend_port}"
        warnings = imported.warnings
    else:
        project = Path.cwd()
        files = {f"{sub}/{name}".lstrip("/"): _read(project / sub / name)
                 for sub in SUBFOLDERS for name in PROJECT_FILES
                 if (project / sub / name).is_file()}
        # The proxy config angular.json names: only known once angular.json is read.
        files.update({path: _read(project / path) for path in proxy_files(files)
                      if (project / path).is_file()})
        # Written relative to the config file, which may live elsewhere (-o).
        builds = tuple(os.path.relpath(project / name, output.parent.resolve())
                       for name in BUILD_FOLDERS if (project / name / "index.html").is_file()
                       and built_site(_read(project / name / "index.html")))
        detected = detect(files, builds)
        text = render(detected)
        found, warnings = summary(detected)
    try:  # what init writes must load: a broken first config is the worst welcome
        parse_config(text, DEFAULT_CONFIG_NAME if to_stdout else output.name, output.parent)
    except ConfigError as exc:
        _fail(f"the generated config does not load, please report this:\n{exc}")
    if to_stdout:  # the config alone on stdout, to pipe or redirect; the rest on stderr
        click.echo(text, nl=False)
        click.echo(f"found: {found}", err=True)
        for warning in warnings:
            click.echo(f"  note: {warning}", err=True)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:  # a folder that isn't there, a full disk, no permission
        _fail(f"cannot write {output}: {exc.strerror or exc}")
    click.echo(f"wrote {output}: {found}")
    for warning in warnings:
        click.echo(f"  note: {warning}")
    default = output.name == DEFAULT_CONFIG_NAME and output.parent == Path()
    click.echo("check it, then run: devproxy up" + ("" if default else f" -c {output}"))


def _read(path: Path) -> str:
    if path.name == "manage.py":
        return ""  # its presence is the signal
    try:
        return path.read_text(encoding="utf-8")[:200_000]
    except (OSError, UnicodeDecodeError):
        return ""


@main.command()
@_config_option
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True,
              help="The production proxy to write a config for.")
def export(config_path: Path | None, fmt: str) -> None:
    """Print the routes as an nginx, Caddy or Traefik config, for production.

    What the target cannot express is written as a "devproxy: not exported" comment.
    """
    from .export import export_config

    click.echo(export_config(_load(config_path), fmt), nl=False)


@main.command()
def schema() -> None:
    """Print the JSON Schema of devproxy.yaml (for editor completion and checks)."""
    from .schema import schema_json

    click.echo(schema_json(), nl=False)


async def _run(config: Config, *, quiet: bool, watch: Path | None,
               overrides: Callable[[Config], Config], written: Config | None = None) -> None:
    # Handlers first: Ctrl+C during start-up must also end in an orderly shutdown.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    lines = None if quiet or not _HANDLER else _AccessLines(_HANDLER[0])
    server = ProxyServer(Live(Snapshot.build(config)), watch=watch, overrides=overrides,
                         access_log=AccessLog(lines), written=written)
    await server.start()
    # Everything made at start-up lives as long as the process: keep the cycle
    # collector from re-walking it in every full collection while serving.
    gc.freeze()
    logging.getLogger("devproxy").debug("event loop: %s", type(loop).__module__)
    banner = _banner(config, server.port, watch)
    # Quiet keeps the first line: with port 0 it is the one way to learn the port.
    click.echo(banner.partition("\n")[0] if quiet else banner, err=True)
    if config.any_host:
        logging.getLogger("devproxy").warning(ANY_HOST_WARNING)
    if not config.listen.is_loopback:
        logging.getLogger("devproxy").warning(OPEN_LISTEN_WARNING, config.listen)
    flusher = asyncio.create_task(_flush_logs(stop))
    try:
        await stop.wait()
    finally:
        await flusher

        def hurry() -> None:
            click.echo("devproxy: stopping now (open requests cut)", err=True)
            server.hurry()

        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl+C stops the waiting
            loop.add_signal_handler(sig, hurry)
        if not quiet:
            click.echo("devproxy: shutting down (finishing open requests; Ctrl+C again to "
                       "cut them)", err=True)
        await server.stop()


def _load(
    config_path: Path | None, *, listen: str | None = None, port: int | None = None,
    routes: tuple[str, ...] = (), change_origin: bool = False,
) -> Config:
    return _load_file(config_path, listen=listen, port=port, routes=routes,
                      change_origin=change_origin)[1]


def _load_file(
    config_path: Path | None, *, listen: str | None = None, port: int | None = None,
    routes: tuple[str, ...] = (), change_origin: bool = False,
) -> tuple[Config | None, Config]:
    """The file's config as written (None with flags alone), and with the flags over it."""
    try:
        path = config_path or Path(DEFAULT_CONFIG_NAME)
        # A link to nothing is there, and load_config says where it points.
        absent = not path.exists() and not path.is_symlink()
        if config_path is None and routes and absent:
            # With a devproxy.yaml here, flags add to it as they do to -c's file.
            return None, config_from_flags(routes, listen=listen if port is None
                                           else str(port), change_origin=change_origin)
        if config_path is None and absent:
            other = next((name for name in ("devproxy.yml", "devproxy.YAML", ".devproxy.yaml")
                          if Path(name).is_file()), None)
            if other is not None:  # read only by the name devproxy looks for
                _fail(f"no {DEFAULT_CONFIG_NAME} in {Path.cwd()}, but there is {other}: "
                      f"rename it {DEFAULT_CONFIG_NAME}, or pass -c {other}")
            above = _config_above(Path.cwd())
            if above is not None:  # run from the frontend/ of a project set up above
                _fail(f"no {DEFAULT_CONFIG_NAME} in {Path.cwd()}, but there is {above}: "
                      f"pass it with -c {above}, or run devproxy in "
                      f"{(Path.cwd() / above).parent.resolve()}")
            _fail(
                f"no {DEFAULT_CONFIG_NAME} in {Path.cwd()}: create one (devproxy init "
                f"writes one for this project), pass -c FILE, or give routes with flags:\n"
                f"  devproxy up --route /api=http://127.0.0.1:3000 --route /=http://127.0.0.1:5173"
            )
        # Flags win over the file (README): a route is checked for a loop at the
        # address they leave in force, by with_overrides, not at the file's listen.
        flagged = listen is not None or port is not None or bool(routes)
        config = load_config(path, loops=not flagged)
        return config, with_overrides(config, listen=listen, port=port, routes=routes,
                                      change_origin=change_origin)
    except ConfigError as exc:
        _fail(str(exc), prefix=False)


def _config_above(folder: Path, levels: int = 5) -> Path | None:
    """The nearest devproxy.yaml in a folder above ``folder``, as a path relative to it
    (``../devproxy.yaml``), looking at most ``levels`` folders up."""
    for up, parent in enumerate(folder.parents[:levels], 1):
        if (parent / DEFAULT_CONFIG_NAME).is_file():
            return Path(*[".."] * up) / DEFAULT_CONFIG_NAME
    return None


def _banner(config: Config, port: int, watch: Path | None) -> str:
    url = config.listen.url(port)
    lines = [
        f"devproxy {__version__}: open {click.style(url, bold=True)}",
        _route_table(config.routes),
        f"config: {_source_name(config)}" + (" (watching for changes)" if watch else ""),
    ]
    if config.inspector.enabled:
        lines.append(f"inspector: {url}/__devproxy/")
    return "\n".join(lines)


def _route_table(routes: tuple[Route, ...]) -> str:
    ordered = sorted(routes, key=lambda r: (-len(r.path), r.path))
    width = max(len(r.path) for r in ordered)
    return "\n".join(f"  {r.path:<{width}}  ->  {r.destination}{_flags(r)}" for r in ordered)


def _flags(route: Route) -> str:
    names = [name for name, on in (
        ("change_origin", route.change_origin), ("strip_prefix", route.strip_prefix),
        ("rewrite", bool(route.rewrite)),
        # secure: false means something only where there is TLS to verify.
        ("insecure TLS", not route.secure and route.target is not None
         and route.target.scheme == "https"),
        ("spa", route.spa), ("no websockets", route.target is not None and not route.ws),
        # As the inspector's route bar says it: the routes a page on another origin may read.
        ("CORS", route.cors is not None),
    ) if on]
    return f"  ({', '.join(names)})" if names else ""


def _as_browser_sends(typed: str) -> str:
    """The request-target a browser sends for ``typed``: its fragment dropped, its dot
    segments resolved, and what the URL standard encodes in a path and a query written
    as UTF-8 %XX."""
    # WHATWG URL: tabs and line breaks are removed before anything else; an http(s)
    # URL's query also encodes "'" (the special-query set).
    typed = typed.translate({9: None, 10: None, 13: None})
    path, sep, query = typed.partition("#")[0].partition("?")
    return browser_path(path) + sep + browser_encoded(query, SPECIAL_QUERY_ENCODED)


def _explain(config: Config, path: str) -> None:
    from .screen import (
        HostRules,
        host_refusal,
        is_reserved,
        path_refusal,
        target_refusal,
        url_too_long,
    )

    # A URL pasted from the address bar: its path, and the Host it would send.
    proxy_host = None
    if path.lower().startswith("https://"):
        _fail(f"devproxy serves plain http:// only: {path!r} does not reach it")
    if path.lower().startswith("http://"):
        authority, slash, rest = path[len("http://"):].partition("/")
        # A browser sends no user:password@ in Host (and asks for them another way).
        proxy_host, path = authority.rpartition("@")[2], slash + rest or "/"
        parsed = split_origin(f"http://{proxy_host}")  # None: the Host check says why
        listening = config.listen.port
        if listening and parsed is not None and parsed[2] != listening:
            click.echo(f"note: {_source_name(config)} has devproxy listen on port "
                       f"{listening}, so {proxy_host!r} reaches it only if you start it "
                       f"on that port (-p)")
    if not path.startswith("/"):
        _fail(f"PATH must start with '/' (or be a URL of devproxy's), got {path!r}")
    target = _as_browser_sends(path)
    if target != path:
        click.echo(f"{path}: a browser sends it as {target}")
        path = target
    raw_path, sep, query = path.partition("?")
    table = RouteTable(config.routes)
    if is_reserved(raw_path):
        click.echo(f"{path}: devproxy's own pages" + (
            f" (the inspector, http://{config.listen}/__devproxy/)"
            if config.inspector.enabled else " (404: the inspector is off)"))
        return
    # As `up` screens a request: the URL's length (dispatch._screen, or the parser past
    # a few times it), its Host (the DNS-rebinding guard), then its path.
    limit = config.limits.header_size
    refused = (url_too_long(limit) if len(path) > limit else None) \
        or (host_refusal(HostRules(config), proxy_host) if proxy_host is not None
            else None) or target_refusal("GET", path, (1, 1), None) \
        or path_refusal(table, raw_path)
    if refused is not None:
        shown = path if len(path) <= 200 else f"{path[:60]}... ({len(path)} characters)"
        click.echo(f"{shown}: refused with {refused.status} {refused.title}: {refused.detail}")
        if refused.hint:
            click.echo(f"  {refused.hint}")
        raise SystemExit(1)
    match = table.match(raw_path)
    if match is None:
        click.echo(f"{path}: no route matches (a request would get 404)")
        click.echo(_route_table(config.routes))
        raise SystemExit(1)
    route = match.route
    click.echo(f"{path}: route {route.path}{_flags(route)}")
    if route.target is None:
        click.echo(f"  serves files from {route.static}")
        return
    click.echo(f"  upstream: {route.target.origin}{upstream_path(route, raw_path)}{sep}{query}")
    if proxy_host is None:  # the address `up` says to open
        proxy_host = config.listen.url(config.listen.port).partition("://")[2]
    incoming = CIMultiDict({"Host": proxy_host})
    sent = request_headers(incoming, route, client_ip="127.0.0.1", proxy_host=proxy_host,
                           scheme="http")
    click.echo("  headers set upstream (for a browser on " + f"http://{proxy_host}):")
    for name, value in sent.items():
        before = incoming.get(name)
        note = "" if before is None else ("  (unchanged)" if before == value else
                                          f"  (was {before})")
        click.echo(f"    {name}: {value}{note}")


def _source_name(config: Config) -> str:
    return str(config.source) if config.source else "--route flags"


class _Formatter(logging.Formatter):
    """``HH:MM:SS message``, with the status of access lines coloured on a terminal."""

    _COLOURS: ClassVar[dict[int, str]] = {2: "green", 3: "cyan", 4: "yellow", 5: "red"}

    def __init__(self, colour: bool) -> None:
        super().__init__("%(asctime)s %(message)s", datefmt="%H:%M:%S")
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.colour:
            return text
        status = getattr(record, "status", None)
        if isinstance(status, int):
            return click.style(text, fg=self._COLOURS.get(status // 100))
        if record.levelno >= logging.ERROR:
            return click.style(text, fg="red", bold=True)
        if record.levelno >= logging.WARNING:
            return click.style(text, fg="yellow")
        return text


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes lines as they come but flushes warnings at once and the rest in batches.

    A line per request flushed per request costs a write syscall each, a third of
    devproxy's time on small responses; ``flush_soon`` (every 100 ms while serving)
    keeps the terminal current.
    """

    def __init__(self) -> None:
        buffer = getattr(sys.stderr, "buffer", None)
        stream = sys.stderr if buffer is None else io.TextIOWrapper(
            buffer, encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace",
            line_buffering=False)
        super().__init__(stream)

    def flush(self) -> None:
        pass  # on our schedule, not after every line (logging calls this per record)

    def flush_now(self) -> None:
        with contextlib.suppress(ValueError, OSError):  # a closed stream at exit
            self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if record.levelno >= logging.WARNING:
            self.flush_now()


class _AccessLines:
    """Writes each request's line straight into the log handler's buffer, in the
    formatter's shape, without a log record (``dispatch.AccessLog``)."""

    def __init__(self, handler: _Handler) -> None:
        self.stream = handler.stream
        formatter = handler.formatter
        self.colour = isinstance(formatter, _Formatter) and formatter.colour
        self._second = -1
        self._stamp = ""

    def __call__(self, line: str, status: int) -> None:
        now = time.time()
        if int(now) != self._second:  # one strftime a second, not one a line
            self._second = int(now)
            self._stamp = time.strftime("%H:%M:%S ", time.localtime(now))
        text = self._stamp + line
        if self.colour:
            text = click.style(text, fg=_Formatter._COLOURS.get(status // 100))
        self.stream.write(text + "\n")


_HANDLER: list[_Handler] = []  # the one installed by _setup_logging, for _flush_logs


async def _flush_logs(stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
        for handler in _HANDLER:
            handler.flush_now()


def _setup_logging(*, verbose: bool, quiet: bool) -> None:
    colour = sys.stderr.isatty() and "NO_COLOR" not in os.environ
    handler = _Handler()
    _HANDLER[:] = [handler]
    atexit.register(handler.flush_now)
    handler.setFormatter(_Formatter(colour))
    logger = logging.getLogger("devproxy")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("devproxy.notice").setLevel(logging.INFO)  # shown even with -q
    # What aiohttp's server still logs itself (a refused request is devproxy's to log:
    # app._Handler) reads like devproxy's own lines.
    server = logging.getLogger("aiohttp.server")
    server.handlers[:] = [handler]
    server.propagate = False
    server.setLevel(logging.ERROR if quiet else logging.WARNING)
    # Every request logs a line; what the lines never show needn't be gathered for each
    # (the logging HOWTO's "Optimization": caller frame, thread, process names).
    logging._srcfile = None  # documented there
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _run_loop(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main()`` on uvloop when it is installed (the ``fast`` extra), else on asyncio's
    own loop. ``DEVPROXY_LOOP=asyncio`` keeps asyncio's loop even with uvloop there;
    ``DEVPROXY_LOOP=uvloop`` insists on uvloop."""
    tuning = heap.tune()
    logging.getLogger("devproxy").debug("%s", tuning.description)
    if tuning.trim is not None:
        main = _trimming(main, tuning.trim)
    wanted = os.environ.get("DEVPROXY_LOOP", "").strip().lower()
    if wanted not in ("", "asyncio", "uvloop"):
        _fail(f"DEVPROXY_LOOP={os.environ['DEVPROXY_LOOP']!r}: use asyncio or uvloop, "
              "or leave it unset (uvloop when installed)")
    if wanted != "asyncio":
        try:
            import uvloop
        except ImportError:
            if wanted == "uvloop":
                _fail("DEVPROXY_LOOP=uvloop, but uvloop is not installed: "
                      "pip install 'devproxy[fast]'")
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(main())
            return
    asyncio.run(main())


def _trimming(main: Callable[[], Coroutine[Any, Any, None]], trim: Callable[[], object]
              ) -> Callable[[], Coroutine[Any, Any, None]]:
    async def run() -> None:
        trimmer = asyncio.create_task(heap.trim_periodically(trim))
        try:
            await main()
        finally:
            trimmer.cancel()
    return run


def _fail(message: str, *, prefix: bool = True) -> NoReturn:
    click.echo(f"devproxy: error: {message}" if prefix else message, err=True)
    raise SystemExit(1)
