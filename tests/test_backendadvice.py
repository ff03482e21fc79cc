"""What devproxy says about a backend's answer the browser will not explain: pure."""

from __future__ import annotations

import pytest

from devproxy.backendadvice import (
    carries_csrf_token,
    csrf_refused,
    fields_too_large,
    self_redirect,
)
from devproxy.config import Route, normalize_prefix, parse_target

PROXY = "http://localhost:8080"


def route(path: str, *, strip: bool = False) -> Route:
    return Route(path=normalize_prefix(path), target=parse_target("http://127.0.0.1:5173"),
                 strip_prefix=strip)


APP_STRIP = route("/app", strip=True)


@pytest.mark.parametrize("target, location", [
    ("/app/", "/app/"),  # Vite's base redirect, its prefix stripped: the loop seen
    ("/app/", "http://localhost:8080/app/"),  # absolute, at devproxy's origin
    ("/app/?x=1", "?x=1"),  # a reference that resolves to the same URL
    ("/app/", "/app/#top"),  # the fragment is not part of what is fetched
    ("/app/", "HTTP://LOCALHOST:8080/app/"),  # scheme and host in any case
    ("/x?", "/x?"),  # an empty query is kept, by the browser and here
])
def test_a_redirect_back_to_the_url_asked_is_explained(target: str, location: str) -> None:
    advice = self_redirect(PROXY, target, location, APP_STRIP, "/", " (devproxy.yaml:3)")
    assert advice is not None
    assert f"answered {target} with a redirect to {location}" in advice
    assert "ERR_TOO_MANY_REDIRECTS" in advice
    assert "Route /app (devproxy.yaml:3) strips its prefix, so the backend got /" in advice
    assert advice.endswith("Set strip_prefix: false on route /app.")


@pytest.mark.parametrize("target, location", [
    ("/app", "/app/"),  # adding the trailing slash: one hop, then served
    ("/app/?x=1", "/app/"),  # dropping the query
    ("/app/", "http://localhost:9999/app/"),  # another origin
    ("/app/", "https://localhost:8080/app/"),  # to https
    ("/app/", "../app/x"),
    ("/x", "/x?"),  # an empty query is another URL
    # What urllib cannot read is no loop devproxy can see, and must not raise.
    ("/app/", "http://[::1/"), ("/app/", "http://exa\uff03mple/"), ("/app/", "http://x:port/"),
])
def test_a_redirect_elsewhere_is_not_a_loop(target: str, location: str) -> None:
    assert self_redirect(PROXY, target, location, APP_STRIP, "/") is None


def test_a_self_redirect_without_a_stripped_prefix_points_at_the_backends_rules() -> None:
    advice = self_redirect(PROXY, "/login", "/login", route("/"), "/login")
    assert advice is not None and "strip_prefix" not in advice
    assert "Check the backend's redirect rules" in advice


def test_a_431_names_the_size_sent_and_the_cookies_in_it() -> None:
    fields = [(b"Host", b"localhost:8080"), (b"Cookie", b"a=" + b"x" * 20_000),
              (b"Accept", b"*/*")]
    advice = fields_too_large(route("/"), "/", fields, " (devproxy.yaml:4)")
    size = sum(len(n) + len(v) + 4 for n, v in fields)
    assert advice.startswith("Route / (devproxy.yaml:4): http://127.0.0.1:5173 refused / "
                             "with 431")
    assert f"the browser sent {size:,} bytes of header fields, 20,002 of them cookies" in advice
    assert "shared by every port" in advice and "DevTools > Application > Cookies" in advice
    assert "NODE_OPTIONS=--max-http-header-size=65536" in advice


def test_a_431_without_cookies_says_only_the_size() -> None:
    advice = fields_too_large(route("/api"), "/api/x", [(b"X-Big", b"y" * 17_000)])
    assert "bytes of header fields." in advice and "cookies" not in advice.lower()


def test_a_django_csrf_refusal_behind_change_origin_names_the_settings() -> None:
    api = Route(path=normalize_prefix("/dj"), target=parse_target("http://127.0.0.1:8000"),
                change_origin=True)
    body = (b"<h1>Forbidden <span>(403)</span></h1><p>CSRF verification failed. Request "
            b"aborted.</p><pre>Origin checking failed - http://localhost:8080 does not "
            b"match any trusted origins.</pre>")
    advice = csrf_refused(api, "http://localhost:8080", body, " (devproxy.yaml:5)")
    assert advice is not None
    assert advice.startswith("Route /dj (devproxy.yaml:5): http://127.0.0.1:8000 refused")
    assert "gets Host 127.0.0.1:8000" in advice
    assert "USE_X_FORWARDED_HOST = True" in advice
    assert "add 'http://localhost:8080' to CSRF_TRUSTED_ORIGINS" in advice
    # Not devproxy's doing without change_origin, nor another 403.
    assert csrf_refused(route("/dj"), "http://localhost:8080", body) is None
    assert csrf_refused(api, "http://localhost:8080", b"Forbidden") is None
    # Nor without an Origin, or with the target's own, or for another reason the page
    # gives (DEBUG on): the page's to fix, with or without devproxy.
    assert csrf_refused(api, "", body) is None
    assert csrf_refused(api, "http://127.0.0.1:8000", body) is None
    cookie = b"<p>CSRF verification failed. Request aborted.</p><pre>CSRF cookie not set.</pre>"
    assert csrf_refused(api, "http://localhost:8080", cookie) is None
    # DEBUG off says only that one reason, in its own words; so in CORS mode too.
    quiet = (b"<p>CSRF verification failed. Request aborted.</p><p>You are seeing this "
             b"message because this site requires a CSRF cookie when submitting forms.</p>")
    assert csrf_refused(api, "http://localhost:8080", quiet) is None
    assert csrf_refused(api, "http://localhost:5173", quiet, own="http://localhost:8080") \
        is None
    # DEBUG off names no reason; Django REST framework words it its own way.
    assert csrf_refused(api, "http://localhost:8080",
                        b"<p>CSRF verification failed. Request aborted.</p>") is not None
    drf = b'{"detail":"CSRF Failed: Origin checking failed - http://localhost:8080 does not'
    assert csrf_refused(api, "http://localhost:8080", drf) is not None


def test_a_csrf_refusal_behind_an_https_target_names_the_fix_that_works() -> None:
    # The forwarded Host is not enough where the scheme differs too.
    api = Route(path=normalize_prefix("/dj"), target=parse_target("https://dev.example"),
                change_origin=True)
    advice = csrf_refused(api, "http://localhost:8080", b"CSRF verification failed",
                          token=True)
    assert advice is not None and "USE_X_FORWARDED_HOST" not in advice
    assert "Add 'http://localhost:8080' to CSRF_TRUSTED_ORIGINS" in advice
    unsure = csrf_refused(api, "http://localhost:8080", b"CSRF verification failed")
    assert unsure is not None and "USE_X_FORWARDED_HOST" not in unsure
    assert "add 'http://localhost:8080' to CSRF_TRUSTED_ORIGINS" in unsure


QUIET = b"<h1>Forbidden <span>(403)</span></h1><p>CSRF verification failed. Request aborted.</p>"


@pytest.mark.parametrize(("change_origin", "own", "origin_fix"), [
    pytest.param(True, "", "Set USE_X_FORWARDED_HOST = True", id="change-origin"),
    pytest.param(False, "http://localhost:8080",
                 "Add 'http://localhost:5173' to CSRF_TRUSTED_ORIGINS", id="cors-mode"),
])
def test_a_csrf_refusal_naming_no_reason_blames_the_origin_only_if_a_token_was_sent(
        change_origin: bool, own: str, origin_fix: str) -> None:
    # DEBUG = False: a missing token and a refused Origin give the same page. Told to
    # trust an origin it already trusts, the developer was sent the wrong way.
    api = Route(path=normalize_prefix("/dj"), target=parse_target("http://127.0.0.1:8000"),
                change_origin=change_origin)
    origin = "http://localhost:5173" if own else "http://localhost:8080"
    sure = csrf_refused(api, origin, QUIET, own=own, token=True)
    assert sure is not None and origin_fix in sure and "token" not in sure
    unsure = csrf_refused(api, origin, QUIET, own=own)
    assert unsure is not None and origin_fix not in unsure
    assert unsure.startswith("Route /dj: http://127.0.0.1:8000 refused the request's CSRF "
                             "check, and its 403 names no reason (Django with DEBUG = False)")
    assert "a missing CSRF token (this request sent no X-CSRFToken header and no " \
        "csrfmiddlewaretoken form field" in unsure
    assert origin_fix[0].lower() + origin_fix[1:] in unsure  # the other cause, still told
    assert unsure.endswith("With DEBUG = True the 403 names which.")
    # A page that names the Origin needs no token to be believed.
    named = QUIET + b"<pre>Origin checking failed - does not match any trusted origins.</pre>"
    assert origin_fix in (csrf_refused(api, origin, named, own=own) or "")


@pytest.mark.parametrize(("names", "body", "carried"), [
    pytest.param(["Content-Type", "X-CSRFToken"], b"", True, id="header"),
    pytest.param(["x-csrftoken"], b"", True, id="header-any-case"),
    pytest.param([], b"csrfmiddlewaretoken=abc&u=a", True, id="urlencoded-field"),
    pytest.param([], b'--b\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"'
                     b"\r\n\r\nabc\r\n--b--", True, id="multipart-field"),
    pytest.param(["X-CSRF-Token", "X-XSRF-TOKEN"], b"u=a", False,
                 id="other-frameworks-header-names"),
])
def test_a_csrf_token_is_found_where_django_reads_it(names, body, carried) -> None:
    assert carries_csrf_token(names, body) is carried
