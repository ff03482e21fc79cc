"""The JSON Schema of devproxy.yaml, for editors (yaml-language-server) and other tools.

Built from the loader's own key lists, so a key added there without a schema entry
fails ``test_schema``. The loader stays the authority: it checks what a schema cannot
(folders exist, regexes compile, origins are serialised exactly, '*' with credentials).
"""

from __future__ import annotations

import json
from typing import Any

from .config import (
    BACKEND_CORS_POLICIES,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_RESPONSE_TIMEOUT,
    MAX_INSPECTOR,
    MAX_LIMITS,
    TOKEN_PATTERN,
    WS_ORIGIN_POLICIES,
    Inspector,
    Limits,
)
from .loader import (
    CORS_KEYS,
    INSPECTOR_KEYS,
    LIMIT_KEYS,
    ROUTE_KEYS,
    STATIC_KEYS,
    TIMEOUT_KEYS,
    TOP_KEYS,
)

_BOOL: dict[str, Any] = {"type": "boolean"}
_LIMITS, _INSPECTOR = Limits(), Inspector()  # their defaults, said in the descriptions
_SECONDS: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0}
_NAMES: dict[str, Any] = {"oneOf": [{"const": "*"}, {"type": "array", "items": {
    "type": "string", "pattern": f"^{TOKEN_PATTERN}$"}}]}  # "*" alone: any, as the loader reads


def _object(properties: dict[str, Any], keys: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    missing = set(keys) - set(properties)
    if missing:  # the loader grew a key the schema does not describe
        raise AssertionError(f"schema lacks {sorted(missing)}")
    return {"type": "object", "additionalProperties": False,
            "properties": {k: properties[k] for k in keys}, **extra}


def _cors() -> dict[str, Any]:
    return _object({
        "origins": {"description": "Exact origins such as http://localhost:5173; a port may "
                                   "be '*'; '*' alone allows any origin.",
                    # ['*'] says what '*' says, as the loader reads it; '*' among
                    # origins matches nothing, and is refused.
                    "oneOf": [{"const": "*"},
                              {"type": "array", "minItems": 1, "items": {"const": "*"}},
                              {"type": "array", "minItems": 1,
                               "items": {"type": "string",
                                         "pattern": r"^(null|https?://[^/?#]+)$"}}]},
        "credentials": {**_BOOL, "description": "Allow cookies: fetch's credentials: "
                                                "'include' (default false)."},
        "methods": {**_NAMES, "description": "Methods allowed; unset or '*': whatever the "
                                             "preflight asks for."},
        "headers": {**_NAMES, "description": "Request headers allowed; unset or '*': "
                                             "whatever the preflight asks for."},
        "expose": {**_NAMES, "description": "Response headers JavaScript may read ('*': all, "
                                            "without credentials)."},
        "max_age": {"type": "integer", "minimum": 0,
                    "description": "Seconds the browser may cache a preflight's answer "
                                   "(Access-Control-Max-Age)."},
        "private_network": {**_BOOL, "description": "Answer Access-Control-Request-Private-"
                                                    "Network preflights (default false)."},
        "backend_cors": {"enum": list(BACKEND_CORS_POLICIES),
                         "description": "replace (default): remove CORS headers the backend "
                                        "sends itself; keep: pass them on, and log why the "
                                        "browser would refuse them."},
    }, CORS_KEYS, required=["origins"],
        description="CORS mode: answer preflights and add CORS headers for pages on the "
                    "origins listed. Top level: for every target route; a route's own "
                    "block replaces it.")


def schema() -> dict[str, Any]:
    """The schema, as a dict."""
    route = _object({
        "path": {"type": "string", "pattern": "^/", "description": "A path prefix, matched on "
                                                                 "whole segments."},
        "target": {"type": "string", "pattern": "^https?://",
                   "description": "Where to forward: http(s)://host:port[/base]."},
        "change_origin": {**_BOOL, "description": "Send the target's host:port as Host, "
                                                 "not the browser's (default false)."},
        "strip_prefix": {**_BOOL, "description": "Remove the route's path before "
                                                 "forwarding (default false)."},
        "rewrite": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "Ordered regex: replacement rules on the forwarded path."},
        # devproxy sends a value as written, so an editor's YAML reading it as a number
        # or a boolean (X-Api-Version: 2) is no mistake.
        "headers": {"type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                    "description": "Request headers to set upstream, replacing the "
                                   "browser's."},
        "timeout": _object({
            "connect": {**_SECONDS, "description": "Seconds for the TCP and TLS handshake "
                                                   f"(default {DEFAULT_CONNECT_TIMEOUT:g})."},
            "response": {**_SECONDS, "description": "Seconds from the request sent to the "
                                                    "response headers (default "
                                                    f"{DEFAULT_RESPONSE_TIMEOUT:g}); a body "
                                                    "may stream for as long as it takes."}},
            TIMEOUT_KEYS, description="How long to wait for the target."),
        "secure": {**_BOOL, "description": "Verify the target's TLS certificate (default "
                                           "true); false accepts a self-signed one."},
        "ws": {**_BOOL, "description": "Forward WebSocket upgrades (default true)."},
        "ws_origin": {"enum": list(WS_ORIGIN_POLICIES),
                      "description": "The Origin sent upstream on WebSocket handshakes: the "
                                     "browser's (keep, default), the target's own (rewrite), "
                                     "or none (drop)."},
        "cors": {"oneOf": [{"const": False}, _cors()],
                 "description": "This route's CORS mode, replacing the top-level block; "
                                "false: none."},
        "wait_for_backend": {**_SECONDS, "description": "Seconds to hold requests while the "
                                                        "target refuses connections (a "
                                                        "restarting backend), instead of "
                                                        "answering 502 at once."},
        "static": {"type": "string", "description": "A folder to serve instead of a target, "
                                                    "relative to the config file."},
        "spa": {**_BOOL, "description": "Static routes: a page request for a path that is "
                                        "not a file gets index.html (default false)."},
        "dotfiles": {**_BOOL, "description": "Static routes: serve files whose names start "
                                             "with a dot (default false)."},
    }, ROUTE_KEYS, required=["path"], oneOf=[
        {"required": ["target"], "not": {"anyOf": [{"required": [k]} for k in STATIC_KEYS]}},
        {"required": ["static"], "not": {"anyOf": [{"required": ["target"]}]}},
    ])
    def count(key: str, description: str, low: int = 1) -> dict[str, Any]:
        return {"type": "integer", "minimum": low, "maximum": int(MAX_LIMITS[key]),
                "description": description}

    def seconds(key: str, description: str) -> dict[str, Any]:
        return {**_SECONDS, "maximum": MAX_LIMITS[key], "description": description}

    top = _object({
        "listen": {"description": "The address the browser opens: HOST:PORT, [v6]:PORT or "
                                  "a bare port (default 127.0.0.1:8080; 0: a free port). "
                                  "localhost binds both 127.0.0.1 and ::1.",
                   "oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0,
                                                  "maximum": 65535}]},
        "routes": {"type": "array", "minItems": 1, "items": route,
                   "description": "Each request goes to the route whose path is its longest "
                                  "prefix: to a target, or to a static folder."},
        "cors": _cors(),
        # `all` turns the check off only alone: in a list, it (or '*') is refused.
        "allowed_hosts": {"oneOf": [{"const": "all"}, {"type": "array", "items": {
            "type": "string", "not": {"pattern": r"^\s*([Aa][Ll][Ll]|\*)\s*$"}}}],
            "description": "Host names the browser may use beyond localhost, *.localhost, "
                           "IP addresses and the listen host ('*.example.test' allows "
                           "subdomains); all, alone: no check."},
        "inspector": {"oneOf": [_BOOL, _object({
            "history": {"type": "integer", "minimum": 1, "maximum": MAX_INSPECTOR["history"],
                        "description": f"How many requests it keeps (default "
                                       f"{_INSPECTOR.history})."},
            "body_limit": {"type": "integer", "minimum": 0,
                           "maximum": MAX_INSPECTOR["body_limit"],
                           "description": f"Bytes it keeps of each body, each way (default "
                                          f"{_INSPECTOR.body_limit})."}},
            INSPECTOR_KEYS)],
            "description": "The request inspector at /__devproxy/ (default true); read at "
                           "start-up."},
        "limits": _object({
            "header_size": count("header_size", "Bytes in the request line or one header "
                                                f"field (default {_LIMITS.header_size})."),
            "headers": count("headers", f"Header fields in one request (default "
                                        f"{_LIMITS.headers})."),
            "header_timeout": seconds("header_timeout", f"Seconds for a new connection to "
                                      f"send its headers (default {_LIMITS.header_timeout:g})."),
            "idle_timeout": seconds("idle_timeout", f"Seconds an idle keep-alive connection "
                                    f"stays open (default {_LIMITS.idle_timeout:g})."),
            "upstream_connections": count("upstream_connections", "Open connections per "
                                          f"target (default {_LIMITS.upstream_connections}; 0: no "
                                          "cap); more requests "
                                          "queue.", 0)},
            LIMIT_KEYS, description="What one client may cost; read at start-up."),
    }, TOP_KEYS, required=["routes"])
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "devproxy.yaml", **top}


def schema_json() -> str:
    return json.dumps(schema(), indent=2) + "\n"
