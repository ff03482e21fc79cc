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
    MAX_INSPECTOR,
    MAX_LIMITS,
    TOKEN_PATTERN,
    WS_ORIGIN_POLICIES,
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
        "methods": {**_NAMES, "description": "Default, or '*': whatever the preflight asks for."},
        "headers": {**_NAMES, "description": "Default, or '*': whatever the preflight asks for."},
        "expose": {**_NAMES, "description": "Response headers JavaScript may read ('*': all, "
                                            "without credentials)."},
        "max_age": {"type": "integer", "minimum": 0},
        "private_network": _BOOL,
        "backend_cors": {"enum": list(BACKEND_CORS_POLICIES)},
    }, CORS_KEYS, required=["origins"])


def schema() -> dict[str, Any]:
    """The schema, as a dict."""
    route = _object({
        "path": {"type": "string", "pattern": "^/", "description": "A path prefix, matched on "
                                                                 "whole segments."},
        "target": {"type": "string", "pattern": "^https?://",
                   "description": "Where to forward: http(s)://host:port[/base]."},
        "change_origin": {**_BOOL, "description": "Send the target's host:port as Host."},
        "strip_prefix": _BOOL,
        "rewrite": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "Ordered regex: replacement rules on the forwarded path."},
        # devproxy sends a value as written, so an editor's YAML reading it as a number
        # or a boolean (X-Api-Version: 2) is no mistake.
        "headers": {"type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "timeout": _object({"connect": _SECONDS, "response": _SECONDS}, TIMEOUT_KEYS),
        "secure": _BOOL,
        "ws": _BOOL,
        "ws_origin": {"enum": list(WS_ORIGIN_POLICIES)},
        "cors": {"oneOf": [{"const": False}, _cors()]},
        "wait_for_backend": _SECONDS,
        "static": {"type": "string", "description": "A folder, relative to the config file."},
        "spa": _BOOL,
        "dotfiles": _BOOL,
    }, ROUTE_KEYS, required=["path"], oneOf=[
        {"required": ["target"], "not": {"anyOf": [{"required": [k]} for k in STATIC_KEYS]}},
        {"required": ["static"], "not": {"anyOf": [{"required": ["target"]}]}},
    ])
    def count(key: str, low: int = 1) -> dict[str, Any]:
        return {"type": "integer", "minimum": low, "maximum": int(MAX_LIMITS[key])}

    def seconds(key: str) -> dict[str, Any]:
        return {**_SECONDS, "maximum": MAX_LIMITS[key]}

    top = _object({
        "listen": {"description": "HOST:PORT, [v6]:PORT or a bare port.",
                   "oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0,
                                                  "maximum": 65535}]},
        "routes": {"type": "array", "minItems": 1, "items": route},
        "cors": _cors(),
        # `all` turns the check off only alone: in a list, it (or '*') is refused.
        "allowed_hosts": {"oneOf": [{"const": "all"}, {"type": "array", "items": {
            "type": "string", "not": {"pattern": r"^\s*([Aa][Ll][Ll]|\*)\s*$"}}}]},
        "inspector": {"oneOf": [_BOOL, _object({
            "history": {"type": "integer", "minimum": 1, "maximum": MAX_INSPECTOR["history"]},
            "body_limit": {"type": "integer", "minimum": 0,
                           "maximum": MAX_INSPECTOR["body_limit"]}}, INSPECTOR_KEYS)]},
        "limits": _object({"header_size": count("header_size"), "headers": count("headers"),
                           "header_timeout": seconds("header_timeout"),
                           "idle_timeout": seconds("idle_timeout"),
                           "upstream_connections": count("upstream_connections", 0)},
                          LIMIT_KEYS),
    }, TOP_KEYS, required=["routes"])
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "devproxy.yaml", **top}


def schema_json() -> str:
    return json.dumps(schema(), indent=2) + "\n"
