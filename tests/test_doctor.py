"""devproxy doctor against real backends, each misconfigured in one of the classic ways.

The expected verdicts and reasons are what Chromium says for the same responses.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from devproxy import cors
from devproxy.config import CorsPolicy
from devproxy.doctor import DoctorError, Report, as_browser_sends, probe, render, run

from .conftest import route

FRONT = "http://localhost:5173"
Headers = Sequence[tuple[str, str]]


@dataclass
class CorsBackend:
    """A backend whose CORS answers are given literally; "{origin}" echoes the request's."""

    url: str = ""
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)


async def cors_backend(aiohttp_server: Any, *, preflight_status: int = 204,
                       preflight: Headers = (), actual: Headers = (), status: int = 200,
                       redirect: str | None = None) -> CorsBackend:
    backend = CorsBackend()

    def fill(headers: Headers, request: web.Request) -> list[tuple[str, str]]:
        origin = request.headers.get("Origin", "")
        return [(k, v.replace("{origin}", origin)) for k, v in headers]

    async def handle(request: web.Request) -> web.StreamResponse:
        backend.seen.append((request.method, request.raw_path, request.headers.get("Origin")))
        if request.method == "OPTIONS":
            response = web.Response(status=preflight_status)
            for name, value in fill(preflight, request):
                response.headers.add(name, value)
            return response
        if redirect is not None and request.path == "/redirect":
            response = web.Response(status=302)
            response.headers["Location"] = redirect
        else:
            response = web.json_response({"ok": True}, status=status)
        for name, value in fill(actual, request):
            response.headers.add(name, value)
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = await aiohttp_server(app)
    backend.url = f"http://127.0.0.1:{server.port}"
    return backend


ALLOW = [("Access-Control-Allow-Origin", "{origin}"), ("Vary", "Origin")]
ALLOW_CREDS = [*ALLOW, ("Access-Control-Allow-Credentials", "true")]
JSON_PUT = {"method": "PUT", "headers": ["Content-Type: application/json"]}


async def doctor(url: str, **kwargs: Any) -> Report:
    return await run(probe(url, kwargs.pop("origin", FRONT), **kwargs))


@dataclass(frozen=True)
class Case:
    name: str
    backend: dict[str, Any]
    fetch: dict[str, Any]
    kind: str
    reason: str  # a part of Chromium's message


CASES = [
    Case("no CORS support at all", {}, {}, cors.NO_ALLOW_ORIGIN,
         "No 'Access-Control-Allow-Origin' header is present on the requested resource."),
    Case("'*' with credentials",
         {"actual": [("Access-Control-Allow-Origin", "*"),
                     ("Access-Control-Allow-Credentials", "true")]},
         {"credentials": True}, cors.WILDCARD_WITH_CREDENTIALS,
         "must not be the wildcard '*' when the request's credentials mode is 'include'"),
    Case("origin configured with a trailing slash",
         {"actual": [("Access-Control-Allow-Origin", FRONT + "/")]}, {},
         cors.ORIGIN_MISMATCH,
         "has a value 'http://localhost:5173/' that is not equal to the supplied origin"),
    Case("127.0.0.1 allowed, page on localhost",
         {"actual": [("Access-Control-Allow-Origin", "http://127.0.0.1:5173")]}, {},
         cors.ORIGIN_MISMATCH, "not equal to the supplied origin"),
    Case("credentials not enabled", {"actual": ALLOW}, {"credentials": True},
         cors.CREDENTIALS_NOT_TRUE,
         "The value of the 'Access-Control-Allow-Credentials' header in the response is ''"),
    Case("two layers both allow credentials",  # combined, "true, true" is not "true"
         {"actual": [("Access-Control-Allow-Origin", "{origin}"),
                     ("Access-Control-Allow-Credentials", "true"),
                     ("Access-Control-Allow-Credentials", "true")]},
         {"credentials": True}, cors.CREDENTIALS_NOT_TRUE,
         "The value of the 'Access-Control-Allow-Credentials' header in the response is "
         "'true, true' which must be 'true'"),
    Case("two layers both add the header",
         {"actual": [("Access-Control-Allow-Origin", "{origin}"),
                     ("Access-Control-Allow-Origin", "*")]}, {},
         cors.MULTIPLE_ALLOW_ORIGIN, "contains multiple values"),
    Case("preflight unanswered (no OPTIONS handler)",
         {"preflight_status": 404, "actual": ALLOW}, JSON_PUT, cors.PREFLIGHT_NOT_OK,
         "Response to preflight request doesn't pass access control check: No "
         "'Access-Control-Allow-Origin' header"),
    Case("auth runs before CORS on the preflight",
         {"preflight_status": 401, "preflight": ALLOW, "actual": ALLOW}, JSON_PUT,
         cors.PREFLIGHT_NOT_OK, "It does not have HTTP ok status."),
    Case("preflight redirected (trailing slash)",
         {"preflight_status": 301, "preflight": [*ALLOW, ("Location", "/items/")]},
         JSON_PUT, cors.PREFLIGHT_REDIRECT,
         "Redirect is not allowed for a preflight request."),
    Case("method missing from Allow-Methods",
         {"preflight": [*ALLOW, ("Access-Control-Allow-Methods", "GET, POST"),
                        ("Access-Control-Allow-Headers", "content-type")]},
         JSON_PUT, cors.METHOD_NOT_ALLOWED,
         "Method PUT is not allowed by Access-Control-Allow-Methods in preflight response."),
    Case("fetch sends 'patch' as written",
         {"preflight": [*ALLOW, ("Access-Control-Allow-Methods", "GET, POST, PATCH")]},
         {"method": "patch"}, cors.METHOD_NOT_ALLOWED, "Method patch is not allowed"),
    Case("a method list that is not a list of tokens",
         {"preflight": [*ALLOW, ("Access-Control-Allow-Methods", "GET, DEL ETE"),
                        ("Access-Control-Allow-Headers", "content-type")]},
         {"method": "DELETE"}, cors.INVALID_ALLOW_LIST,
         "Cannot parse Access-Control-Allow-Methods response header field in preflight "
         "response."),
    Case("Access-Control-Allow-Origin that is no URL",
         {"actual": [("Access-Control-Allow-Origin", "example.com")]}, {},
         cors.INVALID_ALLOW_ORIGIN,
         "The 'Access-Control-Allow-Origin' header contains the invalid value 'example.com'."),
    Case("'*' in Allow-Headers is literal with credentials",
         {"preflight": [*ALLOW_CREDS, ("Access-Control-Allow-Methods", "PUT"),
                        ("Access-Control-Allow-Headers", "*")]},
         {**JSON_PUT, "credentials": True}, cors.HEADER_NOT_ALLOWED,
         "Request header field content-type is not allowed"),
    Case("custom header not listed",
         {"preflight": [*ALLOW, ("Access-Control-Allow-Headers", "content-type")]},
         {"headers": ["X-Request-Id: 1"]}, cors.HEADER_NOT_ALLOWED,
         "Request header field x-request-id is not allowed"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_doctor_names_the_classic_mistake(aiohttp_server, case: Case) -> None:
    backend = await cors_backend(aiohttp_server, **case.backend)
    report = await doctor(backend.url + "/items", **case.fetch)
    assert not report.verdict.ok
    assert report.exit_code == 1
    assert report.verdict.kind == case.kind
    assert case.reason in report.verdict.reason
    assert report.fixes, "a blocked verdict always comes with fixes"
    text = render(report)
    assert (f"BLOCKED: Access to fetch at '{backend.url}/items' from origin '{FRONT}' has "
            f"been blocked by CORS policy: ") in text


async def test_a_failed_preflight_means_the_actual_request_is_never_sent(aiohttp_server):
    backend = await cors_backend(aiohttp_server, preflight_status=404, actual=ALLOW)
    report = await doctor(backend.url + "/items", **JSON_PUT)
    assert report.verdict.kind == cors.PREFLIGHT_NOT_OK
    assert [method for method, _, _ in backend.seen] == ["OPTIONS"]


async def test_preflight_is_sent_as_a_browser_sends_it(aiohttp_server):
    backend = await cors_backend(aiohttp_server)
    report = await doctor(backend.url + "/items", method="delete",
                          headers=["X-B: 1", "Authorization: t", "Content-Type: text/plain"],
                          credentials=True)
    sent = dict(report.steps[0].exchange.sent)
    assert report.steps[0].exchange.method == "OPTIONS"
    assert sent["Origin"] == FRONT
    assert sent["Access-Control-Request-Method"] == "DELETE"  # delete is normalised
    # Fetch §4.8: lower-cased, sorted, "," without spaces; text/plain is safelisted.
    assert sent["Access-Control-Request-Headers"] == "authorization,x-b"
    assert "Authorization" not in sent and "Cookie" not in sent  # preflights carry none


async def test_simple_request_needs_no_preflight(aiohttp_server):
    backend = await cors_backend(aiohttp_server, actual=ALLOW)
    report = await doctor(backend.url + "/items", method="POST",
                          headers=["Content-Type: text/plain; charset=utf-8"], body=b"hi")
    assert report.verdict.ok
    assert [method for method, _, _ in backend.seen] == ["POST"]
    assert report.steps[0].title == "No preflight needed"


async def test_correct_setup_is_allowed_and_lists_what_javascript_can_read(aiohttp_server):
    backend = await cors_backend(
        aiohttp_server,
        preflight=[*ALLOW_CREDS, ("Access-Control-Allow-Methods", "GET, PUT"),
                   ("Access-Control-Allow-Headers", "Content-Type, Authorization")],
        actual=[*ALLOW_CREDS, ("Access-Control-Expose-Headers", "X-Total-Count"),
                ("X-Total-Count", "3"), ("X-Secret", "s"),
                # Cross-site (localhost against 127.0.0.1): stored only as SameSite=None,
                # and where third-party cookies are allowed.
                ("Set-Cookie", "sid=1; SameSite=None; Secure")])
    report = await doctor(backend.url + "/items", method="PUT", credentials=True,
                          headers=["Content-Type: application/json", "Authorization: Bearer t"],
                          body=b"{}")
    assert report.verdict.ok and report.exit_code == 0
    assert [m for m, _, _ in backend.seen] == ["OPTIONS", "PUT"]
    assert "x-total-count" in report.readable and "content-type" in report.readable
    assert "x-secret" in report.hidden
    [warning] = report.warnings  # the one thing to know: the cookie is a third party's
    assert warning.startswith("the cookie 'sid' is a third-party cookie")
    shown = render(report)
    assert "ALLOWED" in shown
    # Set-Cookie can never be exposed (Fetch §2.2.2): it is not offered as a fix.
    [hint] = [line for line in shown.splitlines() if "Expose-Headers to read them" in line]
    assert "x-secret" in hint and "set-cookie" not in hint
    assert "exposed or not (the browser keeps cookies to itself): set-cookie" in shown


async def test_missing_vary_origin_is_a_warning_not_a_block(aiohttp_server):
    backend = await cors_backend(aiohttp_server,
                                 actual=[("Access-Control-Allow-Origin", "{origin}")])
    report = await doctor(backend.url + "/items")
    assert report.verdict.ok
    assert any("Vary" in w for w in report.warnings)


async def test_cross_origin_redirect_taints_the_origin_to_null(aiohttp_server):
    # Only FRONT is listed on the second server: after a cross-origin redirect the
    # browser sends Origin: null, so the listed origin no longer matches.
    second = await cors_backend(
        aiohttp_server, actual=[("Access-Control-Allow-Origin", FRONT), ("Vary", "Origin")])
    first = await cors_backend(aiohttp_server, actual=ALLOW, redirect=second.url + "/final")
    report = await doctor(first.url + "/redirect")
    assert second.seen == [("GET", "/final", "null")]
    assert report.verdict.kind == cors.ORIGIN_MISMATCH
    assert any("Origin: null" in note for step in report.steps for note in step.notes)
    # Listing FRONT, already listed, cannot help: the fix is to keep off the redirect.
    assert [fix.tool for fix in report.fixes] == ["your page"]
    assert "a request redirected to another origin" in report.fixes[0].text
    assert "cors:" not in render(report)
    # As Chromium's console names a redirected request.
    assert (f"BLOCKED: Access to fetch at '{second.url}/final' (redirected from "
            f"'{first.url}/redirect') from origin '{FRONT}' has been blocked") in render(report)


async def test_a_star_covering_authorization_is_allowed_as_chromium_does_with_a_warning(
        aiohttp_server):
    backend = await cors_backend(aiohttp_server, actual=ALLOW, preflight=[
        ("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Headers", "*")])
    report = await doctor(backend.url + "/items", headers=["Authorization: Bearer x"])
    assert report.verdict.ok and report.exit_code == 0
    assert report.warnings == (cors.AUTHORIZATION_BY_WILDCARD,)
    assert f"warning: {cors.AUTHORIZATION_BY_WILDCARD}" in render(report)


@pytest.mark.parametrize(("field", "fetch", "named"), [
    pytest.param("Access-Control-Allow-Methods", {"method": "PUT"},
                 "Access-Control-Allow-Methods: GET, POST, PUT, PATCH, DELETE", id="methods"),
    pytest.param("Access-Control-Allow-Headers", {"headers": ["X-Custom: 1"]},
                 "Access-Control-Allow-Headers: x-custom", id="headers"),
])
async def test_a_star_with_credentials_is_blamed_as_taken_literally(
        aiohttp_server, field: str, fetch: dict[str, Any], named: str) -> None:
    # Chromium: MethodDisallowedByPreflightResponse / HeaderDisallowedByPreflightResponse.
    # "does not list PUT" read as wrong beside a header that plainly says "*".
    backend = await cors_backend(aiohttp_server, actual=ALLOW_CREDS,
                                 preflight=[*ALLOW_CREDS, (field, "*")])
    report = await doctor(backend.url + "/items", credentials=True, **fetch)
    assert not report.verdict.ok
    assert report.cause.startswith(f"The preflight's {field} answers '*', and the request "
                                   "is sent with credentials")
    assert "'*' counts only for requests without credentials" in report.cause
    assert "does not list" not in report.cause
    first = report.fixes[0]
    assert named in first.text and "not '*'" in first.text
    assert "taken literally" in report.fixes[-1].text  # nginx, where '*' is hand-written


async def test_a_star_with_credentials_still_never_covers_authorization(aiohttp_server):
    backend = await cors_backend(aiohttp_server, actual=ALLOW_CREDS, preflight=[
        *ALLOW_CREDS, ("Access-Control-Allow-Headers", "*")])
    report = await doctor(backend.url + "/items", credentials=True,
                          headers=["Authorization: Bearer x"])
    assert report.verdict.kind == cors.HEADER_NOT_ALLOWED
    assert report.cause == ("Authorization must be named in Access-Control-Allow-Headers: "
                            "a '*' there never covers it.")


async def test_an_expose_list_that_does_not_parse_is_named_as_why_nothing_is_readable(
        aiohttp_server):
    backend = await cors_backend(aiohttp_server, actual=[
        *ALLOW, ("Access-Control-Expose-Headers", "X-Total;"), ("X-Total", "3")])
    report = await doctor(backend.url + "/items")
    assert report.verdict.ok and "x-total" in report.hidden
    assert report.warnings == ("Access-Control-Expose-Headers 'X-Total;' is not a list of "
                               "names separated by commas (a ';' or a space inside an "
                               "item), so the browser exposes none of it",)


async def test_a_redirect_to_another_origin_drops_authorization(aiohttp_server):
    # Fetch §4.4: the second server is asked no preflight, as Chromium asks none; it
    # answers "*" to the tainted (null) origin, which reads without credentials.
    second = await cors_backend(aiohttp_server, actual=[("Access-Control-Allow-Origin", "*")])
    first = await cors_backend(
        aiohttp_server, actual=ALLOW, redirect=second.url + "/star",
        preflight=[*ALLOW, ("Access-Control-Allow-Headers", "authorization")])
    report = await doctor(first.url + "/redirect", headers=["Authorization: Bearer x"])
    assert report.verdict.ok, render(report)
    assert [m for m, _, _ in first.seen] == ["OPTIONS", "GET"]
    assert second.seen == [("GET", "/star", "null")]
    assert any("drops Authorization" in note for step in report.steps for note in step.notes)


async def test_a_redirect_with_credentials_in_its_url_is_refused_in_chromiums_words(
        aiohttp_server):
    second = await cors_backend(aiohttp_server)
    at = second.url.replace("http://", "http://user:pass@") + "/final"
    first = await cors_backend(aiohttp_server, actual=ALLOW, redirect=at)
    report = await doctor(first.url + "/redirect")
    assert not report.verdict.ok and second.seen == []
    assert report.verdict.reason == (f"Redirect location '{at}' contains a username and "
                                     f"password, which is disallowed for cross-origin "
                                     f"requests.")


async def test_same_origin_redirect_keeps_the_origin_and_303_turns_post_into_get(
        aiohttp_server):
    seen: list[tuple[str, str | None]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append((request.method, request.headers.get("Content-Type")))
        headers = {"Access-Control-Allow-Origin": FRONT, "Vary": "Origin"}
        if request.path == "/create":
            return web.Response(status=303, headers={**headers, "Location": "/done"})
        return web.Response(text="done", headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = await aiohttp_server(app)
    report = await doctor(f"http://127.0.0.1:{server.port}/create", method="POST",
                          headers=["Content-Type: text/plain"], body=b"x")
    assert report.verdict.ok
    assert seen == [("POST", "text/plain"), ("GET", None)]


async def test_the_url_is_sent_as_written_as_a_browser_sends_it(aiohttp_server):
    # A browser keeps percent-escapes as written; a lower-case "%2f" sent as "%2F" would
    # probe another path than the page's (a backend or proxy may route them apart).
    backend = await cors_backend(
        aiohttp_server, preflight=[*ALLOW, ("Access-Control-Allow-Methods", "PUT")],
        actual=ALLOW)
    report = await doctor(backend.url + "/api%2fitems?q=a%3db#top", method="PUT")
    assert report.verdict.ok
    assert [(m, target) for m, target, _ in backend.seen] == [
        ("OPTIONS", "/api%2fitems?q=a%3db"), ("PUT", "/api%2fitems?q=a%3db")]
    assert report.steps[0].exchange.url == backend.url + "/api%2fitems?q=a%3db#top"
    # What must be encoded still is, as a browser encodes it, the escapes kept beside it;
    # dot segments are resolved, "%2e%2e" too, as a browser resolves them.
    backend.seen.clear()
    await doctor(backend.url + "/x/../a b/%2e%2e/é/./%2f|?q=\"ü'#f", method="PUT")
    assert [target for _, target, _ in backend.seen] == ["/%C3%A9/%2f|?q=%22%C3%BC%27"] * 2


@pytest.mark.parametrize(("written", "sent"), [
    ("http://LocalHost:80/a/../b?q=a%3db#top", "http://localhost/b?q=a%3db"),
    ("http://h:1/a/./b/%2E%2e/c/..", "http://h:1/a/"),
    ("http://h:1/a\\b", "http://h:1/a/b"),  # "\" is "/" in an http URL's path
    ("http://h:1/a?b\\c", "http://h:1/a?b\\c"),  # but not in its query
    ("https://[::1]:443", "https://[::1]/"),
])
def test_the_url_is_what_the_browsers_url_parser_makes_of_it(written: str, sent: str) -> None:
    assert str(as_browser_sends(written)) == sent


async def test_same_origin_is_not_cors(aiohttp_server):
    backend = await cors_backend(aiohttp_server)
    report = await doctor(backend.url + "/items", origin=backend.url, method="PUT")
    assert report.verdict.ok
    # No preflight; Origin goes with any method but GET and HEAD (Fetch §3.1), as
    # Chromium sends it on a same-origin POST.
    report = await doctor(backend.url + "/items", origin=backend.url)
    assert report.verdict.ok
    assert backend.seen == [("PUT", "/items", backend.url), ("GET", "/items", None)]


async def test_a_same_origin_redirect_to_another_origin_is_checked_as_cors(aiohttp_server):
    # fetch('/api/redirect') from a page on the first server: the browser follows the
    # redirect and then needs Access-Control-Allow-Origin from the second.
    second = await cors_backend(aiohttp_server)
    first = await cors_backend(aiohttp_server, redirect=second.url + "/final")
    report = await doctor(first.url + "/redirect", origin=first.url)
    assert second.seen == [("GET", "/final", first.url)]  # not tainted: left from its own
    assert not report.verdict.ok and report.verdict.kind == cors.NO_ALLOW_ORIGIN
    assert report.blocked_url == second.url + "/final"
    assert [step.title for step in report.steps] == ["Redirect", "Actual request"]


async def test_preflight_only_says_what_it_did_not_check(aiohttp_server):
    backend = await cors_backend(aiohttp_server, preflight=[
        *ALLOW, ("Access-Control-Allow-Methods", "DELETE")])
    passed = await doctor(backend.url + "/items", method="DELETE", preflight_only=True)
    simple = await doctor(backend.url + "/items", preflight_only=True)
    own = await doctor(backend.url + "/items", origin=backend.url, method="DELETE",
                       preflight_only=True)
    assert [m for m, _, _ in backend.seen] == ["OPTIONS"]  # no DELETE, nothing else sent
    assert "PREFLIGHT PASSES" in render(passed) and "ALLOWED" not in render(passed)
    assert "NO PREFLIGHT" in render(simple) and "ALLOWED" not in render(simple)
    assert "NO PREFLIGHT" in render(own)
    assert passed.exit_code == simple.exit_code == own.exit_code == 0


async def test_a_body_is_sent_as_fetch_sends_a_string(aiohttp_server):
    seen: list[tuple[str, str | None]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append((request.method, request.headers.get("Content-Type")))
        return web.Response(headers={"Access-Control-Allow-Origin": FRONT})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = await aiohttp_server(app)
    url = f"http://127.0.0.1:{server.port}/x"
    text = await doctor(url, method="POST", body=b"hi")  # text/plain: no preflight
    empty = await doctor(url, method="POST")
    assert text.verdict.ok and empty.verdict.ok
    assert seen == [("POST", "text/plain;charset=UTF-8"), ("POST", None)]


@pytest.mark.parametrize("method", ["GET", "get", "HEAD"])
def test_a_body_with_get_or_head_is_refused_as_fetch_refuses_it(method: str) -> None:
    with pytest.raises(ValueError, match="cannot have body"):
        probe("http://127.0.0.1:9/x", FRONT, method, body=b"x")


async def test_a_lower_case_method_is_shown_as_sent_and_warned_about(aiohttp_server):
    backend = await cors_backend(aiohttp_server, preflight=[
        *ALLOW, ("Access-Control-Allow-Methods", "patch")], actual=ALLOW)
    report = await doctor(backend.url + "/items", method="patch")
    assert [m for m, _, _ in backend.seen] == ["OPTIONS", "PATCH"]
    assert report.steps[-1].exchange is not None
    assert report.steps[-1].exchange.method == "PATCH"  # what went on the wire
    assert any("Write 'PATCH' in fetch()" in w for w in report.warnings)


async def test_devproxy_cors_mode_fixes_a_backend_without_cors(aiohttp_server,
                                                               proxy_factory):
    backend = await cors_backend(aiohttp_server)
    policy = CorsPolicy(origins=(FRONT,), credentials=True, expose=("X-Total-Count",))
    proxy = await proxy_factory(route("/api", backend.url, cors=policy))
    blocked = await doctor(backend.url + "/items", **JSON_PUT, credentials=True)
    assert not blocked.verdict.ok
    allowed = await doctor(proxy.url + "/api/items", method="PUT", credentials=True,
                           headers=["Content-Type: application/json", "Authorization: t"])
    assert allowed.verdict.ok, allowed.verdict.reason
    refused = await doctor(proxy.url + "/api/items", origin="http://evil.example",
                           **JSON_PUT)
    assert refused.verdict.kind == cors.PREFLIGHT_NOT_OK  # devproxy's 403, without CORS
    assert "http://evil.example is not in cors.origins" in refused.steps[0].exchange.excerpt


@pytest.mark.parametrize(("fetch", "reason", "tool", "fix"), [
    pytest.param({"method": "DELETE"}, "method DELETE is not in cors.methods",
                 "devproxy (devproxy.yaml)", "Add DELETE to cors.methods.", id="methods"),
    pytest.param({"method": "PUT", "headers": ["X-Token: 1"]},
                 "request header(s) x-token not in cors.headers", "devproxy (devproxy.yaml)",
                 "Add x-token to cors.headers.", id="headers"),
    pytest.param({"method": "patch"}, "method 'patch' is not upper case", "your page",
                 "Write 'PATCH' in the page's fetch() call.", id="lower-case"),
    pytest.param({"method": "PUT", "origin": "http://evil.example"},
                 "origin http://evil.example is not in cors.origins",
                 "devproxy (devproxy.yaml)", "Add 'http://evil.example' to cors.origins.",
                 id="origins"),
])
async def test_a_preflight_devproxy_refused_is_explained_by_its_own_reason(
        aiohttp_server, proxy_factory, fetch, reason, tool, fix):
    # In CORS mode the backend never sees the preflight: its CORS settings, and the
    # backend snippets, would change nothing.
    backend = await cors_backend(aiohttp_server)
    policy = CorsPolicy(origins=(FRONT,), methods=("GET", "PUT", "PATCH"),
                        headers=("Content-Type",))
    proxy = await proxy_factory(route("/api", backend.url, cors=policy))
    report = await doctor(proxy.url + "/api/items", **fetch)
    assert report.verdict.kind == cors.PREFLIGHT_NOT_OK
    assert report.cause.startswith("devproxy answered this preflight itself")
    assert reason in report.cause
    assert [(f.tool, f.text) for f in report.fixes] == [(tool, fix)]
    assert "\nFix it:\n" in render(report)
    assert backend.seen == []


async def test_a_simple_request_devproxy_sent_no_cors_headers_for_is_explained(
        aiohttp_server, proxy_factory):
    # No preflight, and no Access-Control-Allow-Origin: alone, that reads as a server
    # with no CORS support, and the usual fix (a new cors: block) would replace the one
    # in force. devproxy says why in a field of its own (DevTools shows it too).
    backend = await cors_backend(aiohttp_server)
    proxy = await proxy_factory(route("/api", backend.url, cors=CorsPolicy(origins=(FRONT,))))
    report = await doctor(proxy.url + "/api/items", origin="http://localhost:5174")
    assert report.verdict.kind == cors.NO_ALLOW_ORIGIN
    assert report.cause.startswith("devproxy writes this route's CORS headers")
    assert "origin http://localhost:5174 is not in cors.origins" in report.cause
    assert [(f.tool, f.text) for f in report.fixes] == [
        ("devproxy (devproxy.yaml)", "Add 'http://localhost:5174' to cors.origins.")]
    assert [m for m, _, _ in backend.seen] == ["GET"]
    # A server that is not devproxy gets the usual advice.
    bare = await doctor(backend.url + "/items", origin="http://localhost:5174")
    assert bare.cause.startswith("The server sent no CORS headers at all")


@pytest.mark.parametrize(("case", "reason", "fix"), [
    ("static", "route /st serves a static folder, and static folders never get CORS headers",
     "Open the page through devproxy, or serve the folder from a server behind a target "
     "route."),
    ("off", "route /api has cors: false, so the top-level cors: block does not cover it",
     "Drop cors: false from the route, or have the backend answer CORS."),
    ("keep", "backend_cors: keep passes the backend's own CORS headers, and the browser "
     "refuses them: ", "Set backend_cors: replace (in the route's cors block), and devproxy "
     "writes them from the block."),
])
async def test_a_route_the_cors_block_does_not_cover_is_explained_by_devproxys_word(
        aiohttp_server, proxy_factory, tmp_path, case, reason, fix):
    # Without devproxy's word, doctor took each for a server with no CORS support (or
    # for the backend's own mistake) and offered the cors: block already in force.
    backend = await cors_backend(aiohttp_server, actual=(
        (("Access-Control-Allow-Origin", "*"),) if case == "keep" else ()))
    (tmp_path / "a.txt").write_text("a")
    top = CorsPolicy(origins=(FRONT,), credentials=True)
    keep = CorsPolicy(origins=(FRONT,), credentials=True, backend_cors="keep")
    routes = {"static": (route("/st", static=tmp_path),),
              "off": (route("/api", backend.url),),  # under a top-level block: cors: false
              "keep": (route("/api", backend.url, cors=keep),)}[case]
    proxy = await proxy_factory(*routes, cors=top if case != "keep" else None)
    path = "/st/a.txt" if case == "static" else "/api/items"
    report = await doctor(proxy.url + path, credentials=True)
    assert not report.verdict.ok
    assert report.cause.startswith("devproxy says why, in its X-Devproxy-CORS header: ")
    assert reason in report.cause
    assert [(f.tool, f.text) for f in report.fixes] == [("devproxy (devproxy.yaml)", fix)]


async def test_an_allowed_answer_whose_cookie_the_browser_drops_is_warned_about(
        aiohttp_server):
    # The "login works, then logged out" trap: the page on localhost, the API called as
    # 127.0.0.1, two sites; its session cookie, SameSite Lax by default, is not stored.
    backend = await cors_backend(aiohttp_server, actual=[
        *ALLOW_CREDS, ("Set-Cookie", "sid=1; Path=/; HttpOnly"),
        ("Set-Cookie", "pref=2; Path=/; SameSite=None; Secure")])
    login = await doctor(backend.url + "/login", method="POST", credentials=True)
    assert login.verdict.ok
    [dropped] = [w for w in login.warnings if "will not store" in w]
    assert dropped.startswith("the browser will not store the cookie 'sid': SameSite=Lax")
    assert "have the page call devproxy as http://localhost:" in dropped  # the fix
    # SameSite=None; Secure is kept only where third-party cookies are allowed.
    [third] = [w for w in login.warnings if "'pref'" in w]
    assert third.startswith("the cookie 'pref' is a third-party cookie, which browsers "
                            "that block third-party cookies drop")
    assert "have the page call devproxy as http://localhost:" in third
    # Without credentials: none of them.
    bare = await doctor(backend.url + "/login", method="POST")
    assert any(w.startswith("2 Set-Cookie in the answer, which the browser ignores")
               for w in bare.warnings)
    # The same site (both localhost): stored, nothing to say.
    same = await doctor(backend.url.replace("127.0.0.1", "localhost") + "/login",
                        method="POST", credentials=True)
    assert not [w for w in same.warnings if "cookie" in w.lower()]


async def test_a_403_preflight_from_elsewhere_gets_the_usual_advice(aiohttp_server):
    # A 403 from a backend is not devproxy's refusal: the usual cause, every layer's fix.
    backend = await cors_backend(aiohttp_server, preflight_status=403)
    report = await doctor(backend.url + "/items", **JSON_PUT)
    assert not report.cause.startswith("devproxy answered")
    assert len(report.fixes) > 1


async def test_unreachable_server_is_a_doctor_error():
    with pytest.raises(DoctorError, match="connection refused"):
        await doctor("http://127.0.0.1:1/x")


@pytest.mark.parametrize("kwargs, message", [
    ({"origin": "http://localhost:5173/"}, "write 'http://localhost:5173'"),
    ({"origin": "http://localhost:*"}, "not a pattern"),
    ({"headers": ["Cookie: a=b"]}, "a page cannot set Cookie"),
    ({"headers": ["Sec-Fetch-Mode: cors"]}, "a page cannot set Sec-Fetch-Mode"),
    ({"headers": ["NoColon"]}, "-H expects 'Name: value'"),
    # fetch() throws a TypeError on these before sending (Fetch §2.2.2, §5.1, §5.4).
    ({"headers": ["X-A: a\r\nX-B: b"]}, "a header value may not contain CR, LF or NUL"),
    ({"headers": ["X-A: a\0b"]}, "a header value may not contain CR, LF or NUL"),
    ({"headers": ["X\x01A: b"]}, "a header name is a token"),
    ({"headers": ["X-A: 5 \u20ac"]}, "a header value is a ByteString"),
    ({"url": "http://u:p@127.0.0.1:3000/api/"}, "URL that includes credentials"),
    ({"url": "http://u@127.0.0.1:3000/api/"}, "URL that includes credentials"),
    ({"method": "TRACE"}, "browsers refuse"),
    ({"url": "localhost:3000/api"}, "expected an http:// or https:// URL"),
    ({"url": "http://127.0.0.1:99999/api"}, "the port must be a number from 1 to 65535"),
    ({"url": "http://127.0.0.1:0/api"}, "the port must be a number from 1 to 65535"),
    ({"url": "http://127.0.0.1:api/"}, "the port must be a number from 1 to 65535"),
    ({"method": "BAD METHOD"}, "fetch\\(\\) throws on method 'BAD METHOD'"),
    ({"timeout": 0.0}, "--timeout is a number of seconds above 0, got 0"),
    ({"timeout": -1.0}, "above 0, got -1"),
])
def test_probe_refuses_what_a_browser_would_refuse(kwargs, message):
    args = {"url": "http://127.0.0.1:3000/api", "origin": FRONT, **kwargs}
    with pytest.raises(ValueError, match=message):
        probe(**args)


Run = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
def cli() -> Run:
    async def run_cli(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "devproxy", "doctor", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()
    return run_cli


@pytest.mark.e2e
async def test_cli_exit_codes_and_output(aiohttp_server, cli: Run):
    good = await cors_backend(aiohttp_server, actual=ALLOW)
    bad = await cors_backend(aiohttp_server)
    code, out, _ = await cli(good.url + "/x", "--origin", FRONT)
    assert code == 0 and "ALLOWED" in out
    code, out, _ = await cli(bad.url + "/x", "--origin", FRONT, "-X", "PUT",
                             "-H", "Content-Type: application/json", "--credentials")
    assert code == 1
    assert "1. Preflight (method PUT is not one of GET, HEAD, POST" in out
    assert "BLOCKED: Access to fetch at" in out
    assert "CORS_ALLOWED_ORIGINS" in out and "app.use(cors(" in out
    code, _, err = await cli("http://127.0.0.1:1/", "--origin", FRONT)
    assert code == 3 and "connection refused" in err  # 2 is click's, for a usage error
    code, _, err = await cli(good.url + "/x", "--origin", "localhost:5173")
    assert code == 2 and "Invalid value: --origin: " in err
    # What fetch() throws on is a usage error, never a traceback.
    code, _, err = await cli(good.url + "/x", "--origin", FRONT, "-H", "X-A: a\r\nX-B: b")
    assert code == 2 and "fetch() throws a TypeError for -H 'X-A: a\\r\\nX-B: b'" in err
    assert "Traceback" not in err
    code, out, err = await cli(good.url.replace("//", "//u:p@") + "/x", "--origin", FRONT)
    assert code == 2 and "URL that includes credentials" in err and "ALLOWED" not in out


@pytest.mark.parametrize(("method", "host"), [
    ("GET", "127.0.0.1"), ("PUT", "127.0.0.1"), ("GET", "localhost")])
async def test_devproxys_own_502_is_blamed_on_no_backend_answering_not_on_cors(
        aiohttp_server, proxy_factory, unused_tcp_port_factory, method, host):
    # The backend is down: devproxy answered with its own 502, to the request or (PUT)
    # to its preflight. doctor had called that "no CORS support" and offered cors:
    # blocks, which change nothing; the inspector says no backend answered.
    port = unused_tcp_port_factory()
    proxy = await proxy_factory(route("/api", f"http://{host}:{port}"))
    report = await doctor(proxy.url + "/api/items", method=method)
    assert not report.verdict.ok
    assert report.cause.startswith("No backend answered this request: devproxy did, with "
                                   "its own 502 (Backend not reachable: cannot connect to "
                                   f"{host}:{port}")
    [fix] = report.fixes
    assert fix.tool == "your backend"
    assert fix.text.startswith("Start the backend, or see devproxy's error")
    assert "is the backend running?" in fix.text
    # The hint ends the sentence: "... on this port?" had a full stop added.
    assert fix.text.endswith(("both.", "on this port?"))
    # A backend's own 502, problem+json and all, still gets the usual advice.
    backend = await cors_backend(aiohttp_server, status=502)
    bare = await doctor(backend.url + "/items")
    assert bare.cause.startswith("The server sent no CORS headers at all")


@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_devproxys_own_404_for_no_route_is_blamed_on_the_route_table(
        aiohttp_server, proxy_factory, method):
    # No route matches /nothing: devproxy answered (to the request, or to a PUT's
    # preflight), not a backend without CORS support.
    backend = await cors_backend(aiohttp_server)
    proxy = await proxy_factory(route("/api", backend.url))
    report = await doctor(proxy.url + "/nothing", method=method)
    assert not report.verdict.ok
    assert report.cause.startswith("No backend answered this request: devproxy did, with "
                                   "its own 404, because no configured route matches "
                                   f"'/nothing' (its routes: /api -> {backend.url})")
    assert [f.tool for f in report.fixes] == ["devproxy", "your page"]
    assert "\nFix it:\n" in render(report)
    assert backend.seen == []
    # A backend's own 404 still gets the usual advice.
    bare = await doctor(backend.url + "/nothing")
    assert bare.cause.startswith("The server sent no CORS headers at all")


async def test_the_fix_for_the_stack_the_answer_names_comes_first_and_keeps_its_lists(
        aiohttp_server):
    backend = await cors_backend(aiohttp_server, preflight=[
        *ALLOW, ("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE"),
        ("Access-Control-Allow-Headers", "Content-Type"), ("X-Powered-By", "Express")])
    report = await doctor(backend.url + "/api/missing-header", method="PUT",
                          headers=["Content-Type: application/json", "X-Custom: 1"])
    assert report.verdict.kind == cors.HEADER_NOT_ALLOWED
    assert report.fixes[0].tool == "Express (cors package)"
    assert "allowedHeaders: ['Content-Type', 'x-custom']" in report.fixes[0].text
