"""Which frontend dev server a project runs, and on which port, read the way the tool
itself reads it. Pure: ``find`` takes the texts the CLI collected; no I/O here.

The port is looked for where the tool looks, first found wins: a flag in the
package.json script that starts it, a variable that script sets (for the tools that
read one), the tool's config file (Create React App: its .env files), its default.
Flag spellings are the ones each tool's argument parser takes: ``--port 4000`` and
``--port=4000`` everywhere; Vite (cac) has no ``-p`` and stops on it; Next.js
(commander) takes ``-p 4000`` and ``-p4000`` but reads ``-p=4000`` as "=4000"; Nuxt
(citty, mri's rules) takes ``-p 4000`` and ``-p=4000``.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .importers import (
    config_element_note,
    config_hmr,
    config_hmr_client_port,
    config_hmr_host,
    config_https,
    config_port,
    config_ws_client_port,
    config_ws_url,
    literal_port,
)
from .jsliteral import Code
from .npmscripts import Launch, find_launch, script_order

_LONG = ("--port N", "--port=N")  # "N" stands for the value: a word of its own, or joined
_VITE_CONFIG = ("vite.config.", "server")


@dataclass(frozen=True, slots=True)
class Tool:
    package: str  # the dependency that gives it away
    name: str
    port: int  # the default its documentation gives
    commands: tuple[str, ...]  # what starts its dev server; a bare name: no subcommand
    flags: tuple[str, ...] = _LONG
    env: tuple[str, ...] = ()  # variables it takes the port from, first wins
    config: tuple[str, str] | None = None  # (file name prefix, the object holding port)
    dotenv: tuple[str, ...] = ()  # files it loads ``env`` from, first wins
    proxy: str = ""  # where its own dev proxy is set: "config" or "package.json"
    also: str = ""  # a second dependency it needs (Remix on Vite)
    flag_hint: str = ""  # why a --port it does not take may be there anyway


# The tool a package.json script launches wins (``find``); when none does, the first
# whose dependency is there: the frameworks before the Vite they run on, and Angular,
# whose projects often list Vite (for Vitest, or its own builder) too.
TOOLS = (
    Tool("astro", "Astro", 4321, ("astro dev",), config=("astro.config.", "server")),
    Tool("nuxt", "Nuxt", 3000, ("nuxt dev", "nuxi dev", "nuxt"),
         flags=(*_LONG, "-p N", "-p=N"), env=("NUXT_PORT", "NITRO_PORT", "PORT"),
         config=("nuxt.config.", "devServer")),
    Tool("@sveltejs/kit", "SvelteKit", 5173, ("vite dev", "vite serve", "vite"),
         config=_VITE_CONFIG, proxy="config"),
    Tool("@remix-run/dev", "Remix", 5173, ("remix vite:dev", "vite dev", "vite"),
         config=_VITE_CONFIG, proxy="config", also="vite"),
    # The classic compiler runs your app server, which listens on PORT (remix-serve).
    Tool("@remix-run/dev", "Remix", 3000, ("remix dev",), flags=(), env=("PORT",),
         flag_hint="in Remix 2 it is the port of its own dev server, not the app's"),
    Tool("next", "Next.js", 3000, ("next dev", "next"), flags=(*_LONG, "-p N", "-pN"),
         env=("PORT",)),  # Next reads PORT from the shell only, never from .env
    Tool("@angular/core", "Angular", 4200, ("ng serve", "ng s")),  # and angular.json
    Tool("vite", "Vite", 5173, ("vite dev", "vite serve", "vite"), config=_VITE_CONFIG,
         proxy="config"),
    # vue-cli-service serve: args.port || process.env.PORT || devServer.port || 8080.
    Tool("@vue/cli-service", "Vue CLI", 8080, ("vue-cli-service serve",), env=("PORT",),
         config=("vue.config.", "devServer"), proxy="config"),
    # react-scripts' env.js loads these in this order without overriding a variable
    # already set, so the shell beats them all and the first file beats the rest.
    Tool("react-scripts", "Create React App", 3000,
         ("react-scripts start", "craco start", "react-app-rewired start"), flags=(),
         env=("PORT",),
         dotenv=(".env.development.local", ".env.local", ".env.development", ".env"),
         proxy="package.json"),
    Tool("webpack-dev-server", "webpack", 8080,
         ("webpack serve", "webpack server", "webpack s", "webpack-cli serve",
          "webpack-dev-server"), config=("webpack.config.", "devServer"), proxy="config"),
)
_PORTISH = re.compile(r"(-p|--port)(=.*|\d.*)?", re.S)


@dataclass(frozen=True, slots=True)
class DevServer:
    tool: Tool
    port: int
    source: str  # where the port was found; "" when it is the tool's default
    notes: tuple[str, ...] = ()
    proxy_file: str = ""  # where the project's own dev proxy may be set: vite.config.ts
    https: bool = False  # it serves HTTPS with a certificate of its own (Vite's server.https)
    hmr: str = ""  # what sends its HMR socket past devproxy ("vite.config.ts sets ...")
    hmr_ready: bool = False  # its config already aims the socket at the page's own origin
    # Where its HMR client expects a proxy (Vite's server.hmr.clientPort, webpack's
    # client.webSocketURL on this machine): devproxy listening there carries the socket.
    hmr_client_port: int | None = None
    hmr_host: str | Code | None = None  # Vite's server.hmr.host, at the page's port


def find(files: Mapping[str, str], folder: str, package: Mapping[str, object]
         ) -> DevServer | None:
    """The frontend dev server of the package.json in ``folder`` (``package``, parsed),
    if its dependencies name one; ``files`` are the project's texts by relative path."""
    found_tool = _tool(package)
    if found_tool is None:
        return None
    tool, launch = found_tool
    notes: list[str] = []
    unread: list[str] = []  # a port flag whose value is not a literal: `--port $PORT`
    run = _run_folder(folder, launch)
    config = _config_path(tool, files, folder, run, launch, notes)
    found = _from_script(tool, launch, notes, unread) if launch else None
    angular = _angular(files, run, launch) if tool.name == "Angular" else None
    if found is None:
        found = (_from_angular(angular) if angular else
                 _from_config(tool, files, config, notes) or _from_dotenv(tool, files, run))
    port, source = found or (tool.port, "")
    notes.extend(f"{flag} is not a port number devproxy can read: the / target uses "
                 f"{port} ({source or 'the default'}); change it if {tool.name} listens "
                 f"elsewhere" for flag in unread)
    if tool.name == "Create React App" and _in(run, "src/setupProxy.js") in files:
        notes.append(f"{_in(run, 'src/setupProxy.js')} proxies in the dev server itself; "
                     f"devproxy does not read it: add its routes here")
    text = files.get(config, "") if config and tool.config else ""
    if text and tool.name == "webpack" and (element := config_element_note(text)):
        notes.insert(0, f"{config}: {element}")
    https = (bool(text) and tool.config is not None and config_https(text, tool.config[1])) \
        or _https_flag(tool, launch)
    hmr, hmr_ready, client_port, host = "", False, None, None
    # Vite's server.hmr, for whatever runs on Vite (SvelteKit, Remix's Vite plugin).
    if text and tool.config == _VITE_CONFIG and (setting := config_hmr(text)):
        hmr = f"{config} sets {setting}"
        client_port = config_hmr_client_port(text)
        host = config_hmr_host(text)
    elif text and tool.name == "webpack":
        aimed = config_ws_url(text)
        hmr_ready = aimed == ""
        hmr = f"{config} sets {aimed}" if aimed else ""
        client_port = config_ws_client_port(text) if aimed else None
    return DevServer(tool, port, source, tuple(notes),
                     _proxy_file(tool, run, config, angular, launch), https, hmr, hmr_ready,
                     client_port, host)


def _https_flag(tool: Tool, launch: Launch | None) -> bool:
    """Whether the script's flags make webpack-dev-server serve HTTPS: 5's
    ``--server-type https`` (or spdy), 4's ``--https``."""
    if tool.name != "webpack" or launch is None:
        return False
    args = launch.args
    for i, arg in enumerate(args):
        value = arg.partition("=")[2] if arg.startswith("--server-type=") else \
            args[i + 1] if arg == "--server-type" and i + 1 < len(args) else None
        if value in ("https", "spdy") or arg == "--https":
            return True
    return False


def _tool(package: Mapping[str, object]) -> tuple[Tool, Launch | None] | None:
    """The tool the first script to launch one starts (``dev``, ``start``, ``serve``
    before the others), else the first in ``TOOLS`` order: a project's devDependencies
    often list tools it does not serve with (Vite for Vitest or Storybook in a Next.js
    app)."""
    deps = dependencies(package)
    scripts = package.get("scripts")
    scripts = scripts if isinstance(scripts, dict) else {}
    order = script_order(scripts)
    candidates = [(t, find_launch(scripts, t.commands)) for t in TOOLS
                  if t.package in deps and (not t.also or t.also in deps)]
    if not candidates:
        return None
    # min() keeps the first of equals: TOOLS order among tools one script launches.
    return min(candidates, key=lambda c: order.index(c[1].script) if c[1] else len(order))


def dependencies(package: Mapping[str, object]) -> dict[str, object]:
    deps: dict[str, object] = {}
    for key in ("dependencies", "devDependencies"):
        section = package.get(key)
        if isinstance(section, dict):
            deps.update(section)
    return deps


def json_object(text: str) -> dict[str, object]:
    """``text`` as a JSON object; {} when it is not one (init guesses, never fails)."""
    try:
        value = json.loads(text) if text else {}
    except (json.JSONDecodeError, RecursionError):  # nested past Python's stack: no guess
        return {}
    return value if isinstance(value, dict) else {}


def _from_script(tool: Tool, launch: Launch, notes: list[str], unread: list[str]
                 ) -> tuple[int, str] | None:
    where = f'the "{launch.script}" script'
    found = None
    args = launch.args
    for i, arg in enumerate(args):
        if not _PORTISH.fullmatch(arg):
            continue
        following = args[i + 1] if i + 1 < len(args) else ""
        value = _flag_value(arg, following, tool.flags)
        shown = f"{arg} {following}" if arg in ("-p", "--port") and following else arg
        if value is None:
            example = _number(re.sub(r"\D", "", shown)) or 4000
            takes = (" or ".join(tool.flags).replace("N", str(example)) if tool.flags
                     else "its port from " + " or ".join(tool.env))
            hint = f" ({tool.flag_hint})" if tool.flag_hint else ""
            notes.append(f"`{shown}` in {where} is not a port option of {tool.name}{hint}; "
                         f"{tool.name} takes {takes}: not used for the / target")
        elif (port := _number(value)) is None:
            unread.append(f"`{shown}` in {where}")
        else:
            found = port, f"{shown} in {where}"  # the last one wins, as in each parser
    if found:
        return found
    for name in tool.env:
        if (port := _number(launch.env.get(name, ""))) is not None:
            return port, f"{name}={port} in {where}"
    return None


def _flag_value(arg: str, following: str, spellings: tuple[str, ...]) -> str | None:
    for spelling in spellings:
        if spelling.endswith(" N"):
            if arg == spelling[:-2]:
                return following
        elif arg.startswith(spelling[:-1]) and len(arg) > len(spelling) - 1:
            value = arg[len(spelling) - 1:]
            if not value.startswith("="):  # commander's -p=4000 is the value "=4000"
                return value
    return None


def _number(text: str) -> int | None:
    text = text.strip().strip("'\"")
    port = int(text) if re.fullmatch(r"[0-9]{1,5}", text) else 0  # \d takes any script's
    return port if 0 < port < 65536 else None


def _in(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _run_folder(folder: str, launch: Launch | None) -> str:
    """Where the tool runs: the package's folder, or where a `cd` in its script went."""
    if not (launch and launch.cwd):
        return folder
    path = posixpath.normpath(posixpath.join(folder, launch.cwd))
    if path.startswith(("/", "../")) or path == "..":
        return folder  # outside the project: init reads nothing there
    return "" if path == "." else path


def _config_path(tool: Tool, files: Mapping[str, str], folder: str, run: str,
                 launch: Launch | None, notes: list[str]) -> str:
    """The tool's config file: the one ``--config`` names, else the first in the folder
    it runs in; else, guessed, the only one in a subfolder (a monorepo whose root
    package.json lists the hoisted tool). "" when there is none."""
    if tool.config is None:
        return ""
    named = _flag_value_in(launch.args if launch else (),
                           ("--config N", "--config=N", "-c N"))
    if named:
        return _inside(run, named)  # the CLI reads it when it is not in ``files``
    if path := _config_file(tool, files, run):
        return path
    if launch and launch.cwd:
        return ""  # it runs where there is none: nothing to guess
    prefix = tool.config[0]
    below = sorted({posixpath.dirname(path) for path in files
                    if posixpath.basename(path).startswith(prefix)
                    and posixpath.dirname(posixpath.dirname(path)) == folder
                    and posixpath.dirname(path) != folder})
    if len(below) != 1:
        return ""
    path = _config_file(tool, files, below[0]) or ""
    notes.append(f"guessed that {path}, the only {prefix}* in a subfolder, configures "
                 f"the {tool.name} dev server: {_in(folder, 'package.json')} does not say "
                 f"where it runs")
    return path


def _inside(folder: str, named: str) -> str:
    """``named``, relative to ``folder``, as a project path; "" when it leaves the project:
    init reads nothing outside the folder it was started in."""
    path = posixpath.normpath(posixpath.join(folder, named.strip().replace("\\", "/")))
    return "" if path.startswith(("/", "../")) or path in ("..", ".") else path


def _from_config(tool: Tool, files: Mapping[str, str], path: str,
                 notes: list[str]) -> tuple[int, str] | None:
    if tool.config is None or path not in files:
        return None
    key = tool.config[1]
    port = config_port(files[path], key)
    if isinstance(port, Code):
        notes.append(f"{path}: {port.source} is computed: wrote {tool.name}'s default port "
                     f"{tool.port}; change the / target if your dev server listens elsewhere")
        return None
    return (port, f"{path} ({key}.port)") if port else None


def _config_file(tool: Tool, files: Mapping[str, str], folder: str) -> str | None:
    # The first one in the order the CLI lists them, which is each tool's own order.
    prefix = tool.config[0] if tool.config else "\0"
    return next((path for path in files
                 if posixpath.dirname(path) == folder
                 and posixpath.basename(path).startswith(prefix)), None)


def _from_dotenv(tool: Tool, files: Mapping[str, str], folder: str) -> tuple[int, str] | None:
    for name in tool.dotenv:
        path = _in(folder, name)
        for variable in tool.env:
            value = _dotenv_value(files.get(path, ""), variable)
            if value is not None and (port := _number(value)) is not None:
                return port, f"{variable}={port} in {path}"
    return None


def _dotenv_value(text: str, name: str) -> str | None:
    value = None
    for line in text.splitlines():  # a later line wins, as in dotenv
        found = re.fullmatch(r"\s*(?:export\s+)?(\w+)\s*=\s*(.*?)\s*(?:\s#.*)?", line)
        if found and found.group(1) == name:
            value = found.group(2)
    return value


@dataclass(frozen=True, slots=True)
class _Serve:
    """angular.json's serve target, for the project ``ng serve`` starts."""

    path: str  # of angular.json
    options: dict[str, object]  # what applies: a configuration's over the options
    origin: dict[str, str]  # option name -> the key path it came from


def _angular(files: Mapping[str, str], folder: str, launch: Launch | None) -> _Serve | None:
    path = _in(folder, "angular.json")
    workspace = json_object(files.get(path, ""))
    projects = workspace.get("projects")
    if not isinstance(projects, dict):
        return None
    args = launch.args if launch else ()
    named = args[0] if args and not args[0].startswith("-") else None  # ng serve my-app
    wanted = [named] if named else [workspace.get("defaultProject"), *projects]
    for name in wanted:
        project = projects.get(name) if isinstance(name, str) else None
        for kind in ("architect", "targets"):  # "targets" is the newer spelling
            targets = project.get(kind) if isinstance(project, dict) else None
            serve = targets.get("serve") if isinstance(targets, dict) else None
            if isinstance(serve, dict):
                return _merged(path, f"projects.{name}.{kind}.serve", serve, args)
    return None


def _merged(path: str, base: str, serve: dict[str, object], args: tuple[str, ...]
            ) -> _Serve:
    options = serve.get("options")
    merged = dict(options) if isinstance(options, dict) else {}
    origin = {key: f"{base}.options.{key}" for key in merged}
    chosen = _flag_value_in(args, ("--configuration N", "--configuration=N", "-c N")) \
        or serve.get("defaultConfiguration")
    configurations = serve.get("configurations")
    if isinstance(chosen, str) and isinstance(configurations, dict):
        for name in (c.strip() for c in chosen.split(",")):  # -c a,b: both, in order
            configuration = configurations.get(name)
            if isinstance(configuration, dict):
                merged.update(configuration)
                origin.update({k: f"{base}.configurations.{name}.{k}" for k in configuration})
    return _Serve(path, merged, origin)


def _flag_value_in(args: tuple[str, ...], spellings: tuple[str, ...]) -> str | None:
    found = None
    for i, arg in enumerate(args):
        found = _flag_value(arg, args[i + 1] if i + 1 < len(args) else "", spellings) or found
    return found


def _from_angular(serve: _Serve) -> tuple[int, str] | None:
    port = literal_port(serve.options.get("port"))
    return (port, f"{serve.path} ({serve.origin['port']})") if port is not None else None


def _proxy_file(tool: Tool, folder: str, config: str, angular: _Serve | None,
                launch: Launch | None) -> str:
    if tool.proxy == "config":
        return config
    if tool.proxy == "package.json":
        return _in(folder, "package.json")
    if tool.name != "Angular":
        return ""
    flag = _flag_value_in(launch.args if launch else (),
                          ("--proxy-config N", "--proxy-config=N", "--proxyConfig N",
                           "--proxyConfig=N"))
    named = flag or (angular.options.get("proxyConfig") if angular else None)
    if not isinstance(named, str) or not named.strip():
        return ""
    # Relative to the workspace, angular.json's folder (ng runs in it).
    return _inside(folder, named)
