"""What to change when a browser refuses a cross-origin response: the likely cause and
the fix for the servers people run (devproxy, Express ``cors``, django-cors-headers,
Flask-CORS, FastAPI's ``CORSMiddleware``, nginx).

Pure: a ``cors.Verdict`` and the request in, text out. ``devproxy doctor`` prints it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import cors
from .config import CorsPolicy
from .cors import CorsRules, Verdict


@dataclass(frozen=True, slots=True)
class Fix:
    tool: str  # who the snippet is for
    text: str  # what to write there (may span lines)


@dataclass(frozen=True, slots=True)
class Ask:
    """The cross-origin request that was refused."""

    origin: str
    method: str
    headers: tuple[str, ...]  # lower-cased non-safelisted request header names
    credentials: bool
    # What the preflight's answer listed in Access-Control-Allow-Methods and -Headers
    # (``cors.allowed_lists``), None where it listed none or no preflight was seen: a
    # fix keeps these names, and adds the request's, so it does not take any away.
    allow_methods: tuple[str, ...] | None = None
    allow_headers: tuple[str, ...] | None = None


def cause(verdict: Verdict, ask: Ask) -> str:
    """The usual reason behind a refusal, in a sentence or two."""
    kind = verdict.kind
    if kind == cors.NO_ALLOW_ORIGIN:
        return ("The server sent no CORS headers at all: it has no CORS support, CORS is "
                "not enabled for this path, or this response (often an error page) came "
                "from code that runs before the CORS layer.")
    if kind == cors.MULTIPLE_ALLOW_ORIGIN:
        return ("Two layers each add Access-Control-Allow-Origin (say the app and a proxy "
                "in front of it), so the browser sees two values. Exactly one layer may "
                "answer CORS.")
    if _doubled_credentials(verdict):
        return ("Two layers each add Access-Control-Allow-Credentials (say the app and a "
                "proxy in front of it): the browser reads them as one value, "
                f"{verdict.subject!r}, which is not 'true'. Exactly one layer may answer "
                "CORS.")
    if kind == cors.WILDCARD_WITH_CREDENTIALS:
        return ("With credentials (fetch's credentials: 'include', withCredentials) the "
                "browser requires the exact origin, never '*': the server must echo "
                f"{ask.origin} from an allowlist.")
    if kind == cors.ORIGIN_MISMATCH:
        return (f"The server allows {verdict.subject!r} but the page's origin is "
                f"{ask.origin!r}. Origins compare as exact strings: scheme, host and port "
                "must all match, with no trailing slash (localhost and 127.0.0.1 differ).")
    if kind == cors.INVALID_ALLOW_ORIGIN:
        return (f"The server sent {verdict.subject!r} as Access-Control-Allow-Origin, which "
                f"is not an origin: it must be the page's origin exactly, scheme and port "
                f"included ({ask.origin}), or '*'.")
    if kind == cors.INVALID_ALLOW_LIST:
        field, _, value = verdict.subject.partition(": ")
        example = "GET, POST, PUT" if field.endswith("Methods") else \
            "Content-Type, Authorization"
        return (f"The server's {field} is {value!r}, which is not a list of names "
                f"separated by commas (a space or a ';' inside an item, say): the browser "
                f"rejects the whole preflight. Send, say, {example!r}.")
    if kind == cors.CREDENTIALS_NOT_TRUE:
        return ("The request carries credentials but the server did not answer "
                "Access-Control-Allow-Credentials: true. Enable credentials on the server, "
                "or drop credentials: 'include' / withCredentials if the call needs no "
                "cookies.")
    if kind == cors.PREFLIGHT_REDIRECT:
        return ("The preflight was redirected, usually a trailing-slash redirect "
                "(Django APPEND_SLASH, FastAPI redirect_slashes) or http -> https. Call the "
                "final URL directly.")
    if kind == cors.PREFLIGHT_NOT_OK:
        status = verdict.subject
        if status in ("401", "403"):
            likely = ("authentication or a CSRF check ran before CORS (preflights never "
                      "carry cookies or Authorization), or the server refused this origin, "
                      "method or header (its body, above, may say which)")
        elif status in ("404", "405", "501"):
            likely = ("nothing handles OPTIONS on this path: CORS is enabled only on the "
                      "GET/POST handlers, or not mounted before the router")
        else:
            likely = "the server failed on the OPTIONS request"
        return (f"The server answered the OPTIONS preflight with {status} instead of "
                f"2xx: {likely}.")
    if _star_taken_literally(verdict):
        return _literal_star(verdict, ask)
    if kind == cors.METHOD_NOT_ALLOWED:
        note = ""
        if ask.method != ask.method.upper():
            note = (f" Note that fetch() sends {ask.method!r} as written: only DELETE, GET, "
                    "HEAD, OPTIONS, POST and PUT are upper-cased, and the comparison is "
                    f"case-sensitive, so write method: '{ask.method.upper()}'.")
        return f"The preflight's Access-Control-Allow-Methods does not list {ask.method}.{note}"
    if kind == cors.HEADER_NOT_ALLOWED:
        if verdict.subject == "authorization":
            return ("Authorization must be named in Access-Control-Allow-Headers: a '*' "
                    "there never covers it.")
        return (f"The preflight's Access-Control-Allow-Headers does not list "
                f"{verdict.subject}.")
    return verdict.reason


def _literal_star(verdict: Verdict, ask: Ask) -> str:
    """A "*" in Access-Control-Allow-Methods or -Headers that failed a credentialed
    preflight: the list does say "*", so "does not list PUT" would read as wrong."""
    methods = verdict.kind == cors.METHOD_NOT_ALLOWED
    field, what = ("Methods", "method") if methods else ("Headers", "header")
    names = ", ".join(_method_list(ask) if methods else _header_list(ask)
                      or (verdict.subject,))
    return (f"The preflight's Access-Control-Allow-{field} answers '*', and the request is "
            "sent with credentials (fetch's credentials: 'include', withCredentials): then "
            f"the browser takes '*' as a {what} named '*', not as any {what}, so "
            f"{verdict.subject} is not allowed. '*' counts only for requests without "
            f"credentials: list the {what}s by name ({names}).")


def block_at(where: str, policy: CorsPolicy | None) -> str:
    """Where a cors: block was written: ``where`` (the config file), and its line if known."""
    return f"{where} line {policy.line}" if policy is not None and policy.line else where


def refused_by_devproxy(answer: cors.Preflight, where: str,
                        policy: CorsPolicy | None = None) -> dict[str, Any]:
    """The cause when devproxy itself refused a preflight (CORS mode) with ``answer``;
    ``where`` names the config file, ``policy`` the block in force (for the line of the
    setting that refused it). The fixes are None when the block is what to change (the
    caller offers its edit), else the page's own fix."""
    block = block_at(where, policy)
    line = policy.line_of(answer.setting) if policy is not None and answer.setting else 0
    setting = f" (cors.{answer.setting}, {where} line {line})" if line else ""
    said = (f"devproxy answered this preflight itself, from the cors: block in {block}, "
            f"and refused it: {answer.reason}{setting}. In CORS mode the backend never "
            "sees preflights, so its own CORS settings play no part")
    if answer.by_page:
        return {"cause": f"{said}; the page must change.",
                "fixes": [{"tool": "your page", "text": _sentence(answer.fix)}]}
    return {"cause": f"{said}: the block is what to change.", "fixes": None}


def unlisted_by_devproxy(answer: cors.Preflight, where: str) -> dict[str, Any]:
    """The cause when devproxy in CORS mode sent no CORS headers, and said why in
    ``cors.REFUSED_FIELD`` (``answer``): devproxy writes the headers, so its block, or
    the page, is what to change."""
    block = block_at(where, None)
    said = (f"devproxy writes this route's CORS headers, from the cors: block in {block}, "
            f"and sent no Access-Control-Allow-Origin: {answer.reason} (its "
            f"{cors.REFUSED_FIELD} header says so). The backend's own CORS settings play "
            "no part")
    fix = {"tool": "your page" if answer.by_page else f"devproxy ({where})",
           "text": _sentence(answer.fix)}
    return {"cause": f"{said}.", "fixes": [fix]}


def noted_by_devproxy(said: str, where: str) -> dict[str, Any]:
    """The cause when devproxy said, in ``cors.REFUSED_FIELD``, why a route its cors:
    block does not cover is refused to the page (``said``: "reason; fix"): a static
    folder, a route with ``cors: false``, or ``backend_cors: keep``."""
    reason, _, fix = said.partition("; ")
    cause_ = f"devproxy says why, in its {cors.REFUSED_FIELD} header: {reason}."
    return {"cause": cause_,
            "fixes": [{"tool": f"devproxy ({where})", "text": _sentence(fix)}] if fix else []}


def declined_by_devproxy(detail: str, hint: str) -> dict[str, Any]:
    """The cause and fixes when devproxy refused the request before its CORS check ran
    (a Host not in allowed_hosts, a reserved path, a limit): what refused it is the fix,
    not a cors: block. ``detail`` and ``hint`` are the refusal's."""
    return {"cause": f"devproxy refused this request itself, before its CORS check: {detail}",
            "fixes": [{"tool": "devproxy", "text": _sentence(hint)}] if hint else []}


def failed_in_devproxy(status: int, title: str, detail: str, hint: str) -> dict[str, Any]:
    """The cause and first fix when no backend answered and devproxy sent its own
    ``status`` (502: not reachable; 504: no answer in time), with its error's
    ``title``, ``detail`` and ``hint``: no backend's CORS settings came into it."""
    said = (f"No backend answered this request: devproxy did, with its own {status} "
            f"({title}: {detail}). The backend's CORS settings play no part.")
    first = "See devproxy's error" if status == 504 else \
        "Start the backend, or see devproxy's error"
    fix = f"{first} (the response body, and devproxy's log)"
    return {"cause": said, "fixes": [
        {"tool": "your backend", "text": f"{fix}: {_ended(hint)}" if hint else f"{fix}."}]}


def unrouted_in_devproxy(detail: str, hint: str, routes: Sequence[str]) -> dict[str, Any]:
    """The cause and fixes when no route matches the request's path and devproxy sent
    its own 404, with its error's ``detail`` and ``hint``; ``routes`` are the routes it
    lists ("/api -> http://127.0.0.1:3000"). No backend saw the request, so none of its
    CORS settings came into it: the route table, or the URL the page calls, is the fix."""
    why = detail[:1].lower() + detail[1:].rstrip(".")
    listed = f"its routes: {', '.join(routes)}" if routes else "it has no routes"
    said = (f"No backend answered this request: devproxy did, with its own 404, because "
            f"{why} ({listed}). The backend's CORS settings play no part: the route "
            "table, or the URL the page calls, is what to change.")
    prefixes = ", ".join(r.partition(" -> ")[0] for r in routes[:4])
    under = f" (under {prefixes}{', …' if len(routes) > 4 else ''})" if routes else ""
    found = [{"tool": "devproxy", "text": _sentence(hint)}] if hint else []
    found.append({"tool": "your page", "text": f"Or call a path one of devproxy's routes "
                  f"serves{under}: a typo in the page's URL, or a prefix left out, "
                  "reaches no route."})
    return {"cause": said, "fixes": found}


def _ended(text: str) -> str:
    """``text`` ending in a full stop, unless it ends a question or a sentence already."""
    return text if text.endswith((".", "?", "!")) else text + "."


def _sentence(advice: str) -> str:
    """A lower-case piece of advice as a sentence of its own."""
    return advice[:1].upper() + advice[1:] + "."


def answered_by_devproxy(verdict: Verdict, ask: Ask, policy: CorsPolicy, where: str) -> str:
    """The cause when the CORS headers the browser checked are devproxy's own (CORS
    mode, the backend's replaced or absent) and do not pass; ``where`` names the block."""
    said = f"devproxy writes this route's CORS headers, from the cors: block in {where}"
    if ask.origin != "null" and not CorsRules(policy).allows(ask.origin):
        said += (f", and {ask.origin} is not in its origins, so devproxy sent no "
                 "Access-Control-Allow-Origin")
    else:
        said += f", and the browser refuses them: {verdict.reason.rstrip('.')}"
    return f"{said}. The backend's own CORS settings play no part: the block is what to change."


def from_static_folder(route: str) -> dict[str, Any]:
    """The cause and fixes when a cross-origin request was answered from the static
    folder of ``route``: devproxy adds CORS headers to what backends answer, never to
    files it serves itself, so no cors: block fixes it."""
    return {"cause": f"devproxy served this from the static folder of route {route}, and "
                     "static folders never get CORS headers, whatever the cors: block says: "
                     "the browser lets only pages on devproxy's own origin read them.",
            "fixes": [
                {"tool": "your page", "text": "Open the page through devproxy (its URL, not "
                 "the dev server's), so the files are on the page's own origin: the one-origin "
                 "setup devproxy is for."},
                {"tool": "devproxy", "text": "Or serve the folder from a server behind a "
                 "target route (python -m http.server, say), whose answers CORS mode covers."},
            ]}


def only_devproxy(found: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The fixes that apply where devproxy answers CORS: its own, or the page's."""
    return [f for f in found if f["tool"].startswith(("devproxy", "your "))]


@dataclass(frozen=True, slots=True)
class CorsOff:
    """A route that turned CORS mode off (``cors: false``) under a top-level block."""

    route: str  # its path
    line: int  # where it was written (0: not known)
    top: CorsPolicy  # the top-level block it opted out of


# What a response names its server by, and the fix for that stack (a ``Fix.tool``'s
# start): Express's X-Powered-By, and the Server field of uvicorn (FastAPI, Starlette),
# Werkzeug (Flask's dev server), Django's runserver (WSGIServer) and Daphne, and nginx.
_STACKS = (
    ("x-powered-by", "express", "Express"),
    ("server", "uvicorn", "FastAPI"),
    ("server", "werkzeug", "Flask"),
    ("server", "wsgiserver", "Django"),
    ("server", "daphne", "Django"),
    ("server", "nginx", "nginx"),
)


def stack_of(response: Sequence[tuple[str, str]]) -> str:
    """The stack a backend's response names (``_STACKS``: the start of its fix's tool),
    "" if it names none of those."""
    for field, word, tool in _STACKS:
        for name, value in response:
            if name.lower() == field and word in value.lower():
                return tool
    return ""


def fixes(verdict: Verdict, ask: Ask, current: CorsPolicy | None = None,
          where: str = "devproxy.yaml", off: CorsOff | None = None,
          stack: str = "") -> tuple[Fix, ...]:
    """Config for each server that would make the browser accept this request.

    ``current`` is the devproxy CORS block already in force for the request, if known
    (the inspector knows it; ``devproxy doctor`` does not): the devproxy fix then edits
    that block, keeping the origins it lists, instead of offering a new one that would
    drop them. ``where`` names the config file. ``off``: the request's route turned a
    top-level block off, so the fix is to turn it back on, not to add the block again.
    ``stack``: the backend's, as its response names it (``stack_of``), whose fix then
    comes first.
    """
    found = _fixes(verdict, ask, current, where, off)
    first = [f for f in found if stack and f.tool.startswith(stack)]
    return (*first, *(f for f in found if f not in first))


def _fixes(verdict: Verdict, ask: Ask, current: CorsPolicy | None, where: str,
           off: CorsOff | None) -> tuple[Fix, ...]:
    if ask.origin == "null":  # no config fixes this safely
        return (Fix("your page", _sentence(cors.NULL_ORIGIN)),)
    if verdict.kind == cors.MULTIPLE_ALLOW_ORIGIN or _doubled_credentials(verdict):
        return (
            Fix("devproxy", "backend_cors: replace   # the default: the backend's own CORS "
                            "headers are removed"),
            Fix("nginx", "proxy_hide_header Access-Control-Allow-Origin;\n"
                         "proxy_hide_header Access-Control-Allow-Credentials;\n"
                         "# or remove CORS from the app and keep nginx's add_header lines"),
            Fix("your app", "remove one of the two CORS layers (middleware and a manual "
                            "header, or app and proxy)"),
        )
    if verdict.kind == cors.PREFLIGHT_REDIRECT:
        return (Fix("your code", "request the URL the redirect points to (often the same "
                                 "path with or without a trailing slash, or https)"),)
    if off is not None:
        ours = _devproxy_back_on(ask, off, where)
    else:
        ours = _devproxy(ask) if current is None else _devproxy_edit(ask, current, where)
    found = (ours, _express(ask), _django(ask), _flask(ask), _fastapi(ask),
             _nginx(ask, verdict))
    if _star_taken_literally(verdict):
        # Written by hand, mostly (the CORS packages above name them): say which lines.
        return (_named_lists(ask), *found)
    return found


def _star_taken_literally(verdict: Verdict) -> bool:
    """Fetch §3.2.5 / §4.8: with credentials, "*" in Access-Control-Allow-Methods or
    -Headers is a name, and never covers Authorization (``cause`` says that one)."""
    return verdict.kind in (cors.METHOD_NOT_ALLOWED, cors.HEADER_NOT_ALLOWED) and \
        verdict.wildcard and verdict.subject != "authorization"


def _named_lists(ask: Ask) -> Fix:
    lines = [] if ask.method in cors.SAFELISTED_METHODS else \
        [f"Access-Control-Allow-Methods: {', '.join(_method_list(ask))}"]
    if ask.headers:
        lines.append(f"Access-Control-Allow-Headers: {', '.join(_header_list(ask))}")
    lines.append("# by name, not '*': with credentials the browser reads '*' as a name")
    return Fix("the preflight's answer (any server)", "\n".join(lines))


def _doubled_credentials(verdict: Verdict) -> bool:
    """Access-Control-Allow-Credentials sent twice (or as a list): Fetch's header list
    combines repeated fields, so the browser compares "true, true" with "true"."""
    return verdict.kind == cors.CREDENTIALS_NOT_TRUE and "," in verdict.subject


def _methods(ask: Ask) -> list[str]:
    base = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return base if ask.method in base else [*base, ask.method]


def _method_list(ask: Ask) -> list[str]:
    """The methods a server's fix allows: those its preflight answer listed, kept, with
    the request's added; the common ones where it listed none (or only "*")."""
    listed = [m for m in ask.allow_methods or () if m != "*"]
    if not listed:
        return _methods(ask)
    return listed if ask.method in listed else [*listed, ask.method]


def _header_list(ask: Ask) -> list[str]:
    """The request headers a server's fix allows: those its preflight answer listed (as
    written: names are case-insensitive), with the request's that it did not."""
    listed = [h for h in ask.allow_headers or () if h != "*"]
    have = {h.lower() for h in listed}
    return [*listed, *(h for h in ask.headers if h not in have)]


def _py(items: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def _js(items: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


def _devproxy(ask: Ask) -> Fix:
    lines = ["cors:", f"  origins: {_yaml_list([ask.origin])}"]
    if ask.credentials:
        lines.append("  credentials: true")
    lines.append("# methods and headers default to whatever the preflight asks for")
    return Fix("devproxy (devproxy.yaml)", "\n".join(lines))


# What YAML reads as a plain string in a flow list: an origin or a token, starting with
# a letter (not "*", an alias; not "&", "!", "%", "@" or a quote), without the flow
# list's own "[", "]" and "," (an IPv6 origin is quoted), and no word YAML
# reads as null or a boolean (PyYAML reads YAML 1.1: yes, no, on and off too).
# "*" past the start: a port wildcard; never a final ":", which would make a mapping.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_.:/+*-]*(?<!:)\Z")
_YAML_WORDS = frozenset({"null", "true", "false", "yes", "no", "on", "off", "y", "n"})


def _yaml_list(items: Sequence[str]) -> str:
    """``items`` as a YAML flow list that reads back as these strings (``"*"`` and
    ``"null"`` quoted: unquoted, one is an alias and the other no value at all)."""
    return "[" + ", ".join(item if _PLAIN.match(item) and item.lower() not in _YAML_WORDS
                           else json.dumps(item) for item in items) + "]"


def _devproxy_edit(ask: Ask, current: CorsPolicy, where: str) -> Fix:
    at = block_at(where, current)
    lines = [f"cors:   # its keys from {at}; keys not shown here stay as they are"]
    origins = list(current.origins)
    if ask.credentials and current.any_origin:
        origins = [ask.origin]  # '*' never goes with credentials
    elif not CorsRules(current).allows(ask.origin):
        origins.append(ask.origin)
    lines.append(f"  origins: {_yaml_list(origins)}")
    if ask.credentials or current.credentials:
        lines.append("  credentials: true")
    if current.methods is not None and ask.method not in current.methods \
            and ask.method not in cors.SAFELISTED_METHODS:
        lines.append(f"  methods: {_yaml_list([*current.methods, ask.method])}")
    if current.headers is not None:
        have = {h.lower() for h in current.headers}
        missing = [h for h in ask.headers if h not in have]
        if missing:
            lines.append(f"  headers: {_yaml_list([*current.headers, *missing])}")
    if current.backend_cors == "keep":
        lines.append("  backend_cors: replace   # devproxy answers CORS, not the backend")
    return Fix(f"devproxy ({at})", "\n".join(lines))


def _devproxy_back_on(ask: Ask, off: CorsOff, where: str) -> Fix:
    at = f"{where} line {off.line}" if off.line else where
    edit = _devproxy_edit(ask, off.top, where)
    return Fix(f"devproxy ({at})",
               f"# route {off.route}: delete its 'cors: false', and the top-level block\n"
               f"# answers for it as for the other routes, with these keys:\n{edit.text}")


def _express(ask: Ask) -> Fix:
    options = [f"origin: '{ask.origin}'"]
    if ask.credentials:
        options.append("credentials: true")
    options.append(f"methods: {_js(_method_list(ask))}")
    # The list replaces the package's: the names the server allowed stay in it.
    if headers := _header_list(ask):
        options.append(f"allowedHeaders: {_js(headers)}")
    return Fix("Express (cors package)",
               "app.use(cors({ " + ", ".join(options) + " }))\n"
               "// before your routers and any auth middleware, so OPTIONS preflights "
               "are answered")


def _django(ask: Ask) -> Fix:
    lines = ["# settings.py: 'corsheaders.middleware.CorsMiddleware' first in MIDDLEWARE",
             f"CORS_ALLOWED_ORIGINS = {_py([ask.origin])}"]
    if ask.credentials:
        lines.append("CORS_ALLOW_CREDENTIALS = True")
    # The defaults, and whatever else the server's answer listed, kept.
    methods = [m for m in _method_list(ask) if m not in _DJANGO_DEFAULT_METHODS]
    if methods:
        lines.append("from corsheaders.defaults import default_methods")
        lines.append("CORS_ALLOW_METHODS = (*default_methods, "
                     + ", ".join(f'"{m}"' for m in methods) + ")")
    extra = [h for h in _header_list(ask) if h.lower() not in _DJANGO_DEFAULT_HEADERS]
    if extra:
        lines.append("from corsheaders.defaults import default_headers")
        lines.append("CORS_ALLOW_HEADERS = (*default_headers, "
                     + ", ".join(f'"{h}"' for h in extra) + ")")
    return Fix("Django (django-cors-headers)", "\n".join(lines))


# django-cors-headers' corsheaders.defaults.default_methods (HEAD is answered anyway)
_DJANGO_DEFAULT_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST",
                                     "PUT"})
# django-cors-headers' corsheaders.defaults.default_headers
_DJANGO_DEFAULT_HEADERS = frozenset({
    "accept", "authorization", "content-type", "user-agent", "x-csrftoken",
    "x-requested-with",
})


def _flask(ask: Ask) -> Fix:
    options = [f"origins={_py([ask.origin])}"]
    if ask.credentials:
        options.append("supports_credentials=True")
    options.append(f"methods={_py(_method_list(ask))}")
    if headers := _header_list(ask):
        options.append(f"allow_headers={_py(headers)}")
    return Fix("Flask (Flask-CORS)", "CORS(app, " + ", ".join(options) + ")")


def _fastapi(ask: Ask) -> Fix:
    options = [f"allow_origins={_py([ask.origin])}"]
    if ask.credentials:
        options.append("allow_credentials=True")
    options.append(f"allow_methods={_py(_method_list(ask))}")
    if headers := _header_list(ask):
        options.append(f"allow_headers={_py(headers)}")
    return Fix("FastAPI / Starlette (CORSMiddleware)",
               "app.add_middleware(CORSMiddleware, " + ", ".join(options) + ")")


def _nginx(ask: Ask, verdict: Verdict) -> Fix:
    common = [f'add_header Access-Control-Allow-Origin "{ask.origin}" always;']
    if ask.credentials:
        common.append('add_header Access-Control-Allow-Credentials "true" always;')
    common.append("add_header Vary Origin always;")
    preflight = [
        *common,
        f'add_header Access-Control-Allow-Methods "{", ".join(_method_list(ask))}" always;',
    ]
    if headers := _header_list(ask):
        preflight.append(
            f'add_header Access-Control-Allow-Headers "{", ".join(headers)}" always;')
    preflight.append("return 204;")
    lines = ["# in the location; nginx drops outer add_header lines inside an if block,",
             "# so the preflight branch repeats them",
             *common,
             "if ($request_method = OPTIONS) {",
             *("    " + line for line in preflight),
             "}"]
    if verdict.kind == cors.ORIGIN_MISMATCH:
        lines.append("# several origins: map $http_origin to an allowlist and send that")
    if _star_taken_literally(verdict):
        lines.append("# methods and headers by name: with credentials '*' is taken literally")
    return Fix("nginx", "\n".join(lines))
