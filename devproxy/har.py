"""HAR 1.2 export of the inspector's records (http://www.softwareishard.com/blog/har-12-spec/).

Pure: records in, the HAR document (a dict, for JSON) out. It owns how a record maps
to HAR's fields, and the extensions devproxy adds where HAR has none, named as Chrome's
DevTools and HTTP Toolkit name theirs (``_webSocketMessages``, ``_resourceType``,
``_content``); never what a record keeps or how the inspector shows it.
"""

from __future__ import annotations

import base64
import datetime
import time
from collections.abc import Iterable, Sequence
from typing import Any

from . import __version__
from .capture import Record, body_view, decode_body
from .cookies import cookie_expiry, parse_set_cookie
from .curlcmd import nul_free_text
from .headers import field_value

# Characters of decoded response text one export holds in all. The bodies kept are
# bounded (``capture.BODY_BUDGET``), but a compressed one decodes to many times its
# size: seventy 194 KB gzip bombs made a 1.6 GB export, and held every other request.
TEXT_BUDGET = 8 * 1024 * 1024


def har(records: Iterable[Record]) -> dict[str, Any]:
    """HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) of ``records``; once
    ``TEXT_BUDGET`` characters of decoded response text are in, later responses that
    were coded give their size and a comment instead of their text."""
    entries = []
    budget = TEXT_BUDGET
    for record in records:
        started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.started))
        started += f".{int(record.started % 1 * 1000):03d}Z"
        query = record.target.partition("?")[2]
        request, response = record.browser_request, record.browser_response  # decoded once
        # HAR keeps a form's bytes exactly (replayable), not its parts.
        body = body_view(record.request_body, record.request_body_cut,
                         field_value(request, "content-type"), record.bytes_in, forms=False)
        response_body = record.response_view()
        content = _har_content(response_body, record)
        if response_body and response_body.get("encoding") and "text" in content:
            if len(content["text"]) > budget:
                content = {"comment": f"decoded from {response_body['encoding']}, past the "
                                      f"{TEXT_BUDGET >> 20} MiB of decoded text one export "
                                      f"holds: not included (the inspector shows it)"}
            else:
                budget -= len(content["text"])
        total = record.duration_ms if record.duration_ms is not None else record.elapsed_ms()
        connect = record.connect_ms or 0
        # A socket's bytes are its messages: its GET and 101 have no body (a refusal
        # of the handshake has one).
        socket = record.kind == "websocket" and record.status == 101
        # No head from the backend (a timeout, a refusal, a reset): all of it was waiting.
        # Files and devproxy's own answers have no backend to wait for.
        wait = record.ttfb_ms if record.ttfb_ms is not None else \
            total if record.upstream_url else 0
        # An upload still going when the answer came (a 413 sent early) sent until then.
        send = max(min(record.sent_ms, wait) - connect, 0) if record.sent_ms else 0
        entry: dict[str, Any] = {
            "startedDateTime": started,
            "time": round(total, 3),
            "request": {
                "method": record.method, "url": record.origin_of(request) + record.target,
                "httpVersion": record.version, "headersSize": -1,
                "cookies": _har_cookies(request),
                "headers": [{"name": k, "value": v} for k, v in request],
                "queryString": [{"name": n, "value": v} for n, _, v in
                                (p.partition("=") for p in query.split("&") if p)],
                "bodySize": 0 if socket else record.bytes_in,
            },
            "response": {
                "status": record.status, "statusText": record.reason(),
                "httpVersion": record.response_version(),
                "cookies": [cookie for k, v in response
                            if k.lower() == "set-cookie"
                            and (cookie := _har_set_cookie(v)) is not None],
                "headersSize": -1, "bodySize": 0 if socket else record.bytes_out,
                "redirectURL": field_value(response, "location") or "",
                "headers": [{"name": k, "value": v} for k, v in response],
                # HAR 1.2: the Content-Type's value, charset included.
                "content": {"size": 0 if socket else record.bytes_out,
                            "mimeType": field_value(response, "content-type") or
                            (response_body or {}).get("type") or "",
                            **_har_cut(response_body), **content},
            },
            "cache": {},
            # HAR's phases add up to "time"; connecting is its own.
            # -1: "does not apply", as on a kept-alive connection (connect_ms 0).
            "timings": {"connect": round(connect, 3) if record.connect_ms else -1,
                        "send": round(send, 3), "wait": round(max(wait - connect - send, 0), 3),
                        "receive": round(max(total - wait, 0), 3)},
            "_route": record.route, "_upstreamUrl": record.upstream_url,
            # What the inspector marked ✕ (HAR has no field for it).
            **({"_error": record.error} if record.error else {}),
        }
        if record.kind == "websocket":  # as Chrome's DevTools writes a socket's messages
            entry["_resourceType"] = "websocket"
            entry["_webSocketMessages"] = [_har_message(m) for m in record.messages or []]
        if body is not None:
            entry["request"].update(_har_request_body(
                body, record.request_body, field_value(request, "content-type") or body["type"]))
        entries.append(entry)
    return {"log": {"version": "1.2", "creator": {"name": "devproxy", "version": __version__},
                    "pages": [], "entries": entries}}


def _har_message(message: dict[str, Any]) -> dict[str, Any]:
    """A kept WebSocket message in Chrome's ``_webSocketMessages`` form: text as text, a
    binary one in base64 (opcode 2). Only its start is kept: ``_size`` says its length
    on the wire (compressed, under permessage-deflate)."""
    data = message["text"]
    if message["binary"]:
        try:  # the hex the page shows, back to its bytes
            data = base64.b64encode(bytes.fromhex(data.removesuffix(" …"))).decode("ascii")
        except ValueError:
            data = ""  # compressed, so not read
    return {"type": "send" if message["up"] else "receive", "time": message["at"],
            "opcode": 2 if message["binary"] else 1, "data": data, "_size": message["size"]}


def _har_request_body(view: dict[str, Any], body: bytes | bytearray, content_type: str
                      ) -> dict[str, Any]:
    """A request body as HAR holds it, typed by its whole Content-Type (a form's
    boundary with it). HAR 1.2's ``postData`` is text only, and a tool would replay
    base64 put there as the body: bytes that are not UTF-8 text (an image, protobuf, a
    form with a binary file) go where HTTP Toolkit's HARs put them, and tools reading
    those look. Bytes cut or dropped go nowhere, as a whole body they are not; the
    comment says what was kept."""
    text = view.get("text")
    if text is None and body and not view["truncated"]:
        # A form of text fields: multipart is not shown as text, but may be text.
        text = nul_free_text(body)
    if text is not None or not body or view["truncated"]:
        return {"postData": {"mimeType": content_type, "text": text or "",
                             **_har_cut(view)}}
    return {"_requestBodyStatus": "discarded:not-representable",
            "_content": {"text": base64.b64encode(body).decode("ascii"), "size": len(body),
                         "mimeType": view["type"], "encoding": "base64"}}


def _har_content(view: dict[str, Any] | None, record: Record) -> dict[str, Any]:
    """A response body as HAR 1.2's content holds it: its text as the page read it, or
    a whole body that is not text in its charset (UTF-8 if none named) as base64,
    with ``encoding`` saying so. A whole coded body also gets its ``size`` decoded and
    its ``compression`` (the bytes the coding saved). Of a body cut, dropped or left
    coded, only text kept is given; its size stays the bytes relayed."""
    if not view:
        return {}
    whole = not view["truncated"] and not view.get("undecoded")
    if "text" in view:
        content: dict[str, Any] = {"text": view["text"]}
        # Decoded only so far (past DECODED_LIMIT, truncated), it is not the body's size.
        decoded_size = view["size"] if whole and view.get("encoding") else None
    else:
        body: bytes | bytearray = record.response_body
        if view.get("undecoded"):
            said = (f"{view['encoding']}-encoded, which the inspector does not decode (it "
                    f"decodes gzip and deflate): not included")
            cut = _har_cut(view).get("comment")
            return {"comment": f"{cut}; {said}" if cut else said}
        if not whole or not body:
            return {}
        if view.get("encoding"):
            decoded = decode_body(body, view["encoding"])
            if decoded is None or decoded[1]:  # not whole
                return {}
            body, decoded_size = decoded[0], len(decoded[0])
        else:
            decoded_size = None
        content = {"text": base64.b64encode(body).decode("ascii"), "encoding": "base64"}
    if decoded_size is not None:
        content["size"] = decoded_size
        if decoded_size > record.bytes_out:  # HAR's bytes saved: none for a tiny body
            content["compression"] = decoded_size - record.bytes_out
    return content


def _har_cookies(headers: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """The request's cookies, from its Cookie fields (RFC 6265 §4.2.1: "; "-separated)."""
    return [{"name": name.strip(), "value": value.strip()}
            for key, line in headers if key.lower() == "cookie"
            for name, _, value in (pair.partition("=") for pair in line.split(";"))
            if name.strip()]


def _har_set_cookie(line: str) -> dict[str, Any] | None:
    """One Set-Cookie as a HAR cookie (``sameSite`` as Chromium's own HAR export adds);
    None for an empty one, which the browser ignores (§5.6 step 6)."""
    name, value, attrs = parse_set_cookie(line)
    if not name and not value:
        return None
    cookie: dict[str, Any] = {"name": name, "value": value}
    for key in ("path", "domain"):
        if attrs.get(key):  # an empty Path or Domain is ignored (§5.6.2, §5.6.3)
            cookie[key] = attrs[key]
    expiry = cookie_expiry(attrs)
    if expiry is not None:
        cookie["expires"] = expiry.astimezone(datetime.UTC).isoformat(
            timespec="seconds").replace("+00:00", "Z")
    if "httponly" in attrs:
        cookie["httpOnly"] = True
    if "secure" in attrs:
        cookie["secure"] = True
    if attrs.get("samesite"):
        cookie["sameSite"] = attrs["samesite"]
    return cookie


def _har_cut(view: dict[str, Any] | None) -> dict[str, str]:
    """HAR's ``comment`` for a body the inspector kept only part of, or none of."""
    if view and view.get("file"):
        return {"comment": "sent from a file of a static route: devproxy does not keep it"}
    if not view or not view["truncated"]:
        return {}
    limit = view.get("decoded_cut")  # the text is what decoding gave up to its limit
    if limit and view["kept"] == view["total"]:
        return {"comment": f"decoded from {view['encoding']} only up to {limit >> 20} MiB: "
                           f"the text stops there"}
    kept = f"the first {view['kept']}" if view["kept"] else "none"
    said = f"devproxy kept {kept} of {view['total']} bytes"
    return {"comment": said + (f", and decoded them only up to {limit >> 20} MiB"
                               if limit else "")}
