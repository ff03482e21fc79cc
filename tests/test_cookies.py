"""The cookie checker's advice when the page and devproxy are both this machine."""

from __future__ import annotations

import datetime

import pytest

from devproxy.cookies import cookie_expiry, cookie_verdicts

LAX_DROPPED = ("SameSite=Lax (the default when unset) cookies from a cross-site fetch() are "
               "ignored; ")


@pytest.mark.parametrize(("page", "ours", "fix"), [
    ("http://localhost:5173", "http://127.0.0.1:8080",
     "the page's localhost and devproxy's 127.0.0.1 are different sites to the browser, "
     "though both are this machine: have the page call devproxy as http://localhost:8080, "
     "or open the page through devproxy (one origin)"),
    # A page on an address: both by name, as devproxy may listen on the other family.
    ("http://127.0.0.1:5173", "http://[::1]:8080",
     "the page's 127.0.0.1 and devproxy's ::1 are different sites to the browser, though "
     "both are this machine: open the page as http://localhost:5173 and have it call "
     "devproxy as http://localhost:8080, or open the page through devproxy (one origin)"),
    ("http://[::1]", "http://localhost",
     "the page's ::1 and devproxy's localhost are different sites to the browser, though "
     "both are this machine: open the page as http://localhost and have it call devproxy "
     "as http://localhost, or open the page through devproxy (one origin)"),
    ("http://app.localhost:5173", "http://127.0.0.1:8080",
     "the page's app.localhost and devproxy's 127.0.0.1 are different sites to the "
     "browser, though both are this machine: have the page call devproxy as "
     "http://app.localhost:8080, or open the page through devproxy (one origin)"),
    ("https://localhost:5173", "http://localhost:8080",
     "the page's https:// and devproxy's http:// are different sites to the browser: serve "
     "the page and devproxy with the same scheme, or open the page through devproxy (one "
     "origin)"),
    # Both differ: one step does not fix it, so the advice has both.
    ("https://localhost:5173", "http://127.0.0.1:8080",
     "the page's localhost and devproxy's 127.0.0.1 are different sites to the browser, "
     "though both are this machine: have the page call devproxy as https://localhost:8080 "
     "(devproxy serving https://, as the page is), or open the page through devproxy (one "
     "origin)"),
    # Not a loopback name on both sides: the general advice.
    ("http://app.example.com", "http://127.0.0.1:8080",
     "open the page through devproxy (one origin), or set SameSite=None; Secure"),
    ("", "http://127.0.0.1:8080",
     "open the page through devproxy (one origin), or set SameSite=None; Secure"),
])
def test_a_cross_site_lax_cookie_gets_the_fix_for_where_the_page_is(
        page: str, ours: str, fix: str) -> None:
    [verdict] = cookie_verdicts(["sid=1; Path=/"], ours, "cross-site", "cors", True, True,
                                page)
    assert verdict == {"name": "sid", "stored": False, "reason": LAX_DROPPED + fix}


@pytest.mark.parametrize("cookie", [
    "a=b; Max-Age=999999999999",  # "remember me forever": past what a date can hold
    "a=b; Max-Age=" + "9" * 31,
    "a=b; Expires=Fri, 31 Dec 9999 23:59:59 GMT",
    "a=\udce9b; Path=/",  # a byte that is not UTF-8 (obs-text), held as a surrogate
])
def test_a_cookie_at_the_edges_gets_a_verdict_not_an_error(cookie: str) -> None:
    assert cookie_verdicts([cookie], "http://127.0.0.1:8080") == [
        {"name": "a", "stored": True, "reason": ""}]


def test_a_forever_cookie_expires_at_the_end_of_time_not_in_an_error() -> None:
    assert cookie_expiry({"max-age": "999999999999"}) == \
        datetime.datetime.max.replace(tzinfo=datetime.UTC)


def test_a_cross_site_none_cookie_is_a_third_party_one_with_the_fix() -> None:
    # Seen in Chromium 156: a page on localhost:47310, credentials: "include", devproxy on
    # 127.0.0.1:47300. Its headless and default profiles block third-party cookies
    # (UserPreferences): the login's SameSite=None; Secure cookie was never stored.
    [verdict] = cookie_verdicts(["sid=1; Path=/; SameSite=None; Secure"],
                                "http://127.0.0.1:47300", "cross-site", "cors", True, False,
                                "http://localhost:47310")
    assert verdict["third_party"] is True
    note = verdict["note"]
    assert note.startswith("a third-party cookie, which browsers that block third-party "
                           "cookies drop (Chromium in incognito and headless windows or "
                           "when the user blocks them, Safari, Firefox in strict mode): ")
    assert "have the page call devproxy as http://localhost:47300, or open the page " \
           "through devproxy (one origin)" in note
    # Elsewhere than this machine: the one-origin fix.
    [verdict] = cookie_verdicts(["sid=1; SameSite=None; Secure"], "https://api.test",
                                "cross-site", "cors", True, True, "https://app.example")
    assert "open the page through devproxy (one origin), so the API is on the page's own " \
           "site" in verdict["note"]


@pytest.mark.parametrize(("origin", "site", "fix"), [
    ("http://127.0.0.1:8080", "cross-site",
     "add Secure (127.0.0.1 is this machine, whose http:// may set Secure cookies)"),
    ("https://api.test", "cross-site", "add Secure"),
    ("http://api.test:8080", "cross-site", "serve it over https:// and add Secure"),
    # Not cross-site: SameSite=None was never needed.
    ("http://localhost:8080", "same-site",
     "add Secure (localhost is this machine, whose http:// may set Secure cookies), or "
     "drop SameSite=None: this request is not cross-site, and Lax, the default, covers it"),
])
def test_samesite_none_without_secure_says_what_to_add(origin: str, site: str,
                                                        fix: str) -> None:
    [verdict] = cookie_verdicts(["sid=1; SameSite=None"], origin, site, "cors")
    assert verdict["stored"] is False
    assert verdict["reason"] == ("SameSite=None requires Secure, so the browser rejects "
                                 "this cookie; " + fix)
