"""The cookie checker's advice when the page and devproxy are both this machine."""

from __future__ import annotations

import pytest

from devproxy.cookies import cookie_verdicts

LAX_DROPPED = ("SameSite=Lax (the default when unset) cookies from a cross-site fetch() are "
               "ignored; ")


@pytest.mark.parametrize(("page", "ours", "fix"), [
    ("http://localhost:5173", "http://127.0.0.1:8080",
     "the page's localhost and devproxy's 127.0.0.1 are different sites to the browser, "
     "though both are this machine: have the page call devproxy as http://localhost:8080, "
     "or open the page through devproxy (one origin)"),
    ("http://127.0.0.1:5173", "http://[::1]:8080",
     "the page's 127.0.0.1 and devproxy's ::1 are different sites to the browser, though "
     "both are this machine: have the page call devproxy as http://127.0.0.1:8080, or "
     "open the page through devproxy (one origin)"),
    ("http://[::1]:5173", "http://localhost",
     "the page's ::1 and devproxy's localhost are different sites to the browser, though "
     "both are this machine: have the page call devproxy as http://[::1], or open the "
     "page through devproxy (one origin)"),
    ("https://localhost:5173", "http://localhost:8080",
     "https:// and http:// are different sites to the browser: serve the page and "
     "devproxy with the same scheme, or open the page through devproxy (one origin)"),
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
