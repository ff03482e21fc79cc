"""Which Set-Cookie a browser stores, and why not: the rules of RFC 6265bis and
Chromium's, as a pure function of the cookie line and the request it answered.

Shared by the inspector's cookie verdict and CORS mode's warning in the log, so both
say the same thing for the same cookie.
"""

from __future__ import annotations

import datetime
import email.utils
import ipaddress
from collections.abc import Sequence
from typing import Any

from .config import DEFAULT_PORTS, LOOPBACK_NAMES, is_ip, is_localhost
from .cors import in_cors_mode
from .headers import split_origin


def cookie_verdicts(set_cookies: Sequence[str], origin: str, fetch_site: str = "",
                    fetch_mode: str = "", cross_origin: bool = False,
                    cookie_sent: bool = False, page: str = "", fetch_dest: str = ""
                    ) -> list[dict[str, Any]]:
    """Which Set-Cookie the browser will store, and why not (RFC 6265bis, Chromium's rules).

    ``fetch_site``, ``fetch_mode`` and ``fetch_dest`` are the request's Sec-Fetch-Site,
    -Mode and -Dest, which say whether it came from another site, whether as a page
    navigation, and whether that page is the tab's own (not a frame's);
    ``cross_origin`` whether its Origin is not devproxy's, ``cookie_sent`` whether it
    carried a Cookie (which proves its credentials mode was "include"), ``page`` its
    Origin, if known. A verdict is a dict: ``name``, ``stored``, ``reason`` ("" when
    stored), and where they apply a ``note`` and, for the page to sort verdicts by,
    ``needs_credentials`` (stored only if the request was sent with credentials, which
    nothing in it shows), ``deletes`` (an expired cookie, which deletes its namesake) and
    ``third_party`` (stored only where the browser allows third-party cookies).
    """
    host = _host(origin)
    secure_origin = origin.startswith("https://") or _this_machine(host)
    ip_host = is_ip(host)
    # §5.7: a Lax or Strict cookie (Lax when unset, in Chromium) from a cross-site
    # request that is not a top-level navigation is ignored. A frame's page is a
    # navigation too (Sec-Fetch-Mode: navigate), but a nested one (Sec-Fetch-Dest:
    # iframe); a request without Sec-Fetch-Dest (an older browser) is taken as top-level.
    navigate = fetch_mode.lower() == "navigate"
    top_level = navigate and fetch_dest.lower() in ("", "document")
    cross_site = fetch_site.lower() == "cross-site" and not top_level
    # Fetch §4.6 (HTTP-network fetch): Set-Cookie is stored only when credentials are
    # included, and a cross-origin fetch() includes them only if asked to.
    unsure_credentials = cross_origin and not cookie_sent and in_cors_mode(fetch_mode)
    out = []
    for line in set_cookies:
        name, value, attrs = parse_set_cookie(line)
        reason = ""
        secure = "secure" in attrs
        same_site = attrs.get("samesite", "").lower()
        prefix = name.lower()  # the prefixes are matched in any case (RFC 6265bis §5.6)
        # As sent: bytes that are not UTF-8 (obs-text) are held as surrogates.
        if not name and not value:
            reason = "it has neither name nor value; the browser ignores it"
        elif not name and value.lower().startswith(("__secure-", "__host-")):
            # §5.6 (Chromium: InvalidPrefix): else "=__Host-x" would be sent back as
            # "__Host-x", passing for a prefixed cookie it is not.
            reason = "a cookie with no name may not begin with __Secure- or __Host-"
        elif len(name.encode("utf-8", "surrogateescape")) + \
                len(value.encode("utf-8", "surrogateescape")) > 4096:
            reason = "name and value together pass 4096 bytes; the browser ignores it"
        elif same_site == "none" and not secure:
            reason = ("SameSite=None requires Secure, so the browser rejects this cookie; "
                      + _add_secure(origin, host, secure_origin, fetch_site))
        elif secure and not secure_origin:
            reason = "Secure cookies cannot be set from an http:// origin (except localhost)"
        elif "partitioned" in attrs and not secure:
            reason = "Partitioned cookies need Secure"
        elif prefix.startswith("__host-") and (not secure or attrs.get("path") != "/" or
                                               "domain" in attrs):
            reason = "__Host- cookies need Secure, Path=/ and no Domain"
        elif prefix.startswith("__secure-") and not secure:
            reason = "__Secure- cookies need Secure"
        elif "domain" in attrs and ":" in (bare := attrs["domain"].lstrip(".")) \
                and is_ip(bare):
            # Chromium reads a Domain as a URL's host, where IPv6 is written in brackets.
            reason = (f"Domain={attrs['domain']} is an IPv6 address without brackets, which "
                      f"is no host to a browser; write Domain=[{bare}], or leave Domain out")
        elif "domain" in attrs and (domain := attrs["domain"].lstrip(".").lower()
                                    .removeprefix("[").removesuffix("]")) \
                and host != domain and (ip_host or not host.endswith("." + domain)):
            # The host the response came from, which is not the page's when the page
            # is on another origin (CORS mode).
            reason = (f"Domain={attrs['domain']} does not match {host}, the host that "
                      "sent it"
                      + (" (an IP address matches only itself)" if ip_host else ""))
        elif "domain" in attrs and domain and host != domain and "." not in domain:
            reason = (f"Domain={attrs['domain']} names a top-level domain; browsers "
                      f"refuse cookies for a whole TLD")
        elif cross_site and same_site != "none":
            shown = attrs.get("samesite") or "Lax (the default when unset)"
            if same_site not in ("", "lax", "strict"):
                shown += " (unknown, so treated as unset: Lax)"
            sender = "a page in a cross-site frame" if navigate else "a cross-site fetch()"
            reason = (f"SameSite={shown} cookies from {sender} are ignored; "
                      + (_same_machine(page, origin) or "open the page through devproxy "
                         "(one origin), or set SameSite=None; Secure"))
        verdict = {"name": name, "stored": not reason, "reason": reason}
        notes = []
        deletes = not reason and _expired(attrs)
        if deletes:
            verdict["deletes"] = True
            notes.append("deletes the cookie (it has expired)")
        elif not reason and cross_site and "partitioned" not in attrs:
            # Chromium's "UserPreferences" exclusion: its headless and incognito windows
            # block third-party cookies, as Safari does and Firefox in strict mode.
            verdict["third_party"] = True
            notes.append("a third-party cookie, which browsers that block third-party "
                         "cookies drop (Chromium in incognito and headless windows or when "
                         "the user blocks them, Safari, Firefox in strict mode): "
                         + (_same_machine(page, origin) or "open the page through devproxy "
                            "(one origin), so the API is on the page's own site")
                         + "; Partitioned ones are stored either way")
        if not reason and unsure_credentials:
            if not deletes:  # CORS mode says so in the log, once per page origin
                verdict["needs_credentials"] = True
            notes.append("from another origin, stored only if the request was sent with "
                         "credentials (fetch's credentials: 'include', axios or XHR "
                         "withCredentials: true); it carried no cookie to show it was")
        if not reason and same_site not in ("", "none", "lax", "strict"):
            notes.append(f"SameSite={attrs['samesite']} is not a value browsers know: "
                         "they treat it as unset (Lax)")
        if notes:
            verdict["note"] = "; ".join(notes)
        out.append(verdict)
    return out


def _host(origin: str) -> str:
    """The host of a serialised origin, without brackets; "" if it is not one."""
    parts = split_origin(origin)
    return parts[1] if parts is not None else ""


def _this_machine(host: str) -> bool:
    """A name or address that is always loopback (RFC 6761 §6.3 for *.localhost): to a
    browser, a "potentially trustworthy" origin even over http:// (Secure Contexts §3.1,
    all of 127.0.0.0/8 and ::1)."""
    if host in LOOPBACK_NAMES or is_localhost(host):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _add_secure(origin: str, host: str, secure_origin: bool, fetch_site: str) -> str:
    """The fix for SameSite=None without Secure, from the origin that set it."""
    if not secure_origin:
        fix = "serve it over https:// and add Secure"
    elif origin.startswith("https://"):
        fix = "add Secure"
    else:  # Secure Contexts §3.1: http:// on this machine counts as secure
        fix = f"add Secure ({host} is this machine, whose http:// may set Secure cookies)"
    if fetch_site.lower() in ("same-origin", "same-site"):
        fix += (", or drop SameSite=None: this request is not cross-site, and Lax, the "
                "default, covers it")
    return fix


def _written(scheme: str, port: int) -> str:
    """":PORT" as an origin writes it: nothing for the scheme's default."""
    return "" if port == DEFAULT_PORTS.get(scheme) else f":{port}"


def _same_machine(page: str, origin: str) -> str:
    """The fix when a page and devproxy are different sites only by how they are named on
    this machine (localhost against 127.0.0.1, http against https); "" otherwise."""
    ours, theirs = split_origin(origin), split_origin(page)
    if ours is None or theirs is None or not (_this_machine(ours[1])
                                              and _this_machine(theirs[1])):
        return ""
    (scheme, host, port), (page_scheme, page_host, page_port) = ours, theirs
    # A site is a scheme and a registrable domain (RFC 6265bis §5.2 compares them with
    # the scheme): "localhost" and each IP address are a site of their own.
    if page_host == host and page_scheme == scheme:
        return ""
    why = (f"the page's {page_host} and devproxy's {host} are different sites to the "
           f"browser, though both are this machine" if page_host != host else
           f"the page's {page_scheme}:// and devproxy's {scheme}:// are different sites "
           f"to the browser")
    if page_host == host:
        fix = "serve the page and devproxy with the same scheme"
    else:
        # An address names one family only, and devproxy may listen on the other:
        # localhost reaches either, in every browser.
        name = page_host if is_localhost(page_host) else "localhost"
        call = f"call devproxy as {page_scheme}://{name}{_written(scheme, port)}"
        fix = f"have the page {call}" if name == page_host else (
            f"open the page as {page_scheme}://{name}{_written(page_scheme, page_port)} "
            f"and have it {call}")
        if page_scheme != scheme:
            fix += f" (devproxy serving {page_scheme}://, as the page is)"
    return f"{why}: {fix}, or open the page through devproxy (one origin)"


def parse_set_cookie(line: str) -> tuple[str, str, dict[str, str]]:
    """A Set-Cookie's name, value and attributes (names lower-cased), as RFC 6265bis §5.6
    splits them. A pair without "=" is a value with an empty name there."""
    pair, *attributes = [part.strip() for part in line.split(";")]
    name, eq, value = pair.partition("=")
    if not eq:
        name, value = "", pair
    # §5.6: an attribute whose value passes 1024 bytes is ignored (not the cookie).
    attrs = {key.strip().lower(): given.strip()
             for key, _, given in (a.partition("=") for a in attributes)
             if len(given.strip().encode("utf-8", "surrogateescape")) <= 1024}
    return name.strip(), value.strip(), attrs


def cookie_expiry(attrs: dict[str, str]) -> datetime.datetime | None:
    """When Max-Age or Expires ends the cookie (Max-Age wins, §5.6.2); None for a
    session cookie, or attributes no browser can read (ignored, as they are there)."""
    if "max-age" in attrs:
        try:
            seconds = int(attrs["max-age"])
        except ValueError:
            seconds = None  # §5.6.2: an unreadable Max-Age is ignored
        if seconds is not None:
            now = datetime.datetime.now(datetime.UTC)
            try:
                return now if seconds <= 0 else now + datetime.timedelta(seconds=seconds)
            except OverflowError:  # a "forever" cookie, Max-Age=999999999999: past 9999
                return datetime.datetime.max.replace(tzinfo=datetime.UTC)
    try:
        expires = email.utils.parsedate_to_datetime(attrs["expires"])
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        return None
    return expires.replace(tzinfo=datetime.UTC) if expires.tzinfo is None else expires


def _expired(attrs: dict[str, str]) -> bool:
    """Whether Max-Age or Expires ends the cookie now."""
    expiry = cookie_expiry(attrs)
    return expiry is not None and expiry <= datetime.datetime.now(datetime.UTC)
