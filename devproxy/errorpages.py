"""Responses devproxy writes itself when it cannot forward (404, 502, 504, 400).

Owns their format: an HTML page for a browser navigation, RFC 9457
``application/problem+json`` for everything else (fetch/XHR callers, curl), so the
reason reaches whoever is looking. It decides nothing about when to send them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

PROBLEM_JSON = "application/problem+json"


def wants_html(headers: CIMultiDictProxy[str]) -> bool:
    """A top-level browser navigation, which should get a readable page."""
    if headers.get("Sec-Fetch-Mode") == "navigate":
        return True
    return "text/html" in headers.get("Accept", "")


def problem_response(
    request: web.BaseRequest,
    status: int,
    title: str,
    detail: str,
    *,
    hint: str = "",
    facts: Mapping[str, str] | None = None,
    items: Sequence[str] = (),
    items_title: str = "",
    reloads: bool = False,
) -> web.Response:
    """Build a devproxy error response.

    Args:
        status: the HTTP status to send.
        title: one line, e.g. "Backend not reachable".
        detail: what happened, in a sentence.
        hint: what the user can do about it.
        facts: labelled values (route, target, ...), shown in order.
        items: a list to show (addresses tried, configured routes).
        items_title: the list's heading.
        reloads: the HTML page reloads itself once the same URL answers with another
            status (a dev server restarting), as the dev server's own client would.
    """
    facts = facts or {}
    if wants_html(request.headers):
        body = _html(status, title, detail, hint, facts, items, items_title, reloads)
        return web.Response(status=status, text=body, content_type="text/html")
    doc: dict[str, object] = {"type": "about:blank", "title": title, "status": status,
                              "detail": detail}
    if hint:
        doc["hint"] = hint
    doc.update({k.lower().replace(" ", "_"): v for k, v in facts.items()})
    if items:
        doc[items_title.lower().replace(" ", "_") or "items"] = list(items)
    return web.Response(status=status, text=json.dumps(doc, indent=2) + "\n",
                        content_type=PROBLEM_JSON)



def _problem_of(status: int, content_type: str, body: str) -> dict[str, Any] | None:
    """A ``problem_response`` JSON body read back, if ``body`` is one for ``status``."""
    if content_type != PROBLEM_JSON:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("status") != status \
            or not isinstance(doc.get("detail"), str):
        return None
    return doc


def _hint(doc: dict[str, Any]) -> str:
    hint = doc.get("hint")
    return hint if isinstance(hint, str) else ""


# The facts every 502 and 504 of devproxy's own carries (``dispatch.upstream_failure``):
# what tells it from a backend's error, for ``devproxy doctor``.
_FAILURE_FACTS = ("title", "detail", "route", "target", "reason")


def failure_of(status: int, content_type: str, body: str) -> tuple[str, str, str] | None:
    """The title, detail and hint of devproxy's own 502 or 504 (no backend answered, or
    none in time), read back from its ``problem_response`` body; None for any other
    answer, a backend's own 502 among them."""
    doc = _problem_of(status, content_type, body) if status in (502, 504) else None
    if doc is None or not all(isinstance(doc.get(key), str) for key in _FAILURE_FACTS):
        return None
    return doc["title"], doc["detail"], _hint(doc)


# The title of devproxy's 404 for a path no route matches (``dispatch``), which tells
# it from a backend's own 404, for ``devproxy doctor``.
NO_ROUTE = "No route matches"
_ROUTES_KEY = "configured_routes"  # its "Configured routes" list, as problem+json names it


def no_route_of(status: int, content_type: str, body: str
                ) -> tuple[str, str, tuple[str, ...]] | None:
    """The detail, hint and listed routes of devproxy's own 404 for a path no route
    matches, read back from its ``problem_response`` body; None for any other answer, a
    backend's own 404 among them."""
    doc = _problem_of(status, content_type, body) if status == 404 else None
    if doc is None or doc.get("title") != NO_ROUTE:
        return None
    routes = doc.get(_ROUTES_KEY, [])
    if not isinstance(routes, list) or not all(isinstance(r, str) for r in routes):
        return None
    return doc["detail"], _hint(doc), tuple(routes)


# A page left on a refused backend (Vite 5's client reloads as soon as its ping gets any
# answer, a 502 included) comes back by itself when the dev server does. HEAD, so the
# backend does no more than for a GET; backing off, so a tab left open on a stopped
# server adds a log line every few seconds, not every second, and stops after an hour.
_RELOADS = """<p class="reloads">This page reloads itself when the backend answers again.</p>
<script>
(async () => {
  for (let i = 0, wait = 1000; i < 720; i++, wait = Math.min(wait * 1.5, 5000)) {
    await new Promise((done) => setTimeout(done, wait));
    try {
      const answer = await fetch(location.href, {method: "HEAD", cache: "no-store"});
      if (answer.status !== {status}) { location.reload(); return; }
    } catch (ignored) { /* devproxy itself is restarting: try again */ }
  }
})();
</script>"""


def _html(
    status: int, title: str, detail: str, hint: str, facts: Mapping[str, str],
    items: Sequence[str], items_title: str, reloads: bool = False,
) -> str:
    esc = html.escape
    rows = "".join(f"<tr><th>{esc(k)}</th><td><code>{esc(v)}</code></td></tr>"
                   for k, v in facts.items())
    listing = ""
    if items:
        lis = "".join(f"<li><code>{esc(i)}</code></li>" for i in items)
        listing = f"<h2>{esc(items_title)}</h2><ul>{lis}</ul>"
    hint_html = f'<p class="hint">{esc(hint)}</p>' if hint else ""
    if reloads:
        hint_html += _RELOADS.replace("{status}", str(status))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{status} {esc(title)} · devproxy</title>
<style>
body{{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;
     color:#222}}
h1{{font-size:1.4rem}} .status{{color:#b42318}} th{{text-align:left;padding-right:1rem;color:#555}}
code{{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}}
.hint{{background:#fff8e1;border-left:4px solid #f0b400;padding:.6rem .8rem}}
footer{{margin-top:2rem;color:#888;font-size:.85rem}} .reloads{{color:#555}}
</style></head><body>
<h1><span class="status">{status}</span> {esc(title)}</h1>
<p>{esc(detail)}</p>{hint_html}<table>{rows}</table>{listing}
<footer>This page was written by devproxy, not by your backend.</footer>
</body></html>
"""
