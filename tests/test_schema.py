"""The JSON Schema and the loader agree: on every shipped config, and on common mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from devproxy.errors import ConfigError
from devproxy.loader import parse_config
from devproxy.schema import schema, schema_json

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [ROOT / "devproxy.yaml.example", *sorted((ROOT / "examples").glob("*/devproxy.yaml"))]
VALIDATOR = jsonschema.Draft202012Validator(schema())


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert json.loads(schema_json()) == schema()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_config_passes_both(path: Path, tmp_path: Path) -> None:
    text = path.read_text()
    for folder in ("public", "dist", "site", "build"):
        (tmp_path / folder).mkdir()
    base = path.parent if path.parent != ROOT else tmp_path
    parse_config(text, path.name, base)  # raises on any problem
    VALIDATOR.validate(yaml.safe_load(text))


def _keys(node: object, path: str = "") -> list[tuple[str, dict[str, object]]]:
    """Every key the schema describes, as (dotted path, its schema), nested ones too."""
    if not isinstance(node, dict):
        return []
    found = []
    for name, value in node.get("properties", {}).items():
        found.append((path + name, value))
        found.extend(_keys(value, f"{path}{name}."))
    found.extend(_keys(node.get("items"), f"{path}[]."))
    for alternative in node.get("oneOf", []):
        found.extend(_keys(alternative, path))
    return found


def test_devproxy_schema_describes_every_key() -> None:
    # It is what a config written by `devproxy init` points at: devproxy.yaml.example
    # is in the source tree only, not in a pip install.
    keys = _keys(schema())
    assert {"routes.[].timeout.connect", "limits.idle_timeout", "cors.backend_cors"} \
        <= {path for path, _ in keys}
    assert [path for path, value in keys if not value.get("description")] == []


def test_the_example_points_editors_at_the_schema() -> None:
    first = (ROOT / "devproxy.yaml.example").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=./devproxy.schema.json"


GOOD = [
    "routes: [{path: /api, target: 'http://127.0.0.1:3000'}]",
    "listen: 8080\nroutes: [{path: /, target: 'https://example.com/v1', change_origin: true}]",
    "allowed_hosts: all\nroutes: [{path: /, target: 'http://a:1', cors: false}]",
    "cors: {origins: '*'}\nroutes: [{path: /, target: 'http://a:1'}]",
    "cors: {origins: '*', methods: '*', headers: ['*'], expose: '*'}\n"
    "routes: [{path: /, target: 'http://a:1'}]",
    "cors: {origins: ['*']}\nroutes: [{path: /, target: 'http://a:1'}]",
    "limits: {header_timeout: 2.5, upstream_connections: 0}\n"
    "routes: [{path: /, target: 'http://a:1', wait_for_backend: 3}]",
    "routes: [{path: /, target: 'http://a:1', headers: {X-Version: 2, X-Debug: true}}]",
    "limits: {header_size: 4194304, headers: 10000, idle_timeout: 86400,\n"
    "         upstream_connections: 10000}\ninspector: {history: 10000, body_limit: 16777216}\n"
    "routes: [{path: /, target: 'http://a:1'}]",
]

BAD = [
    "routes: [{path: /api, targt: 'http://127.0.0.1:3000'}]",  # misspelt key
    "routes: [{path: /api, target: 'http://a:1', static: ./x}]",  # both
    "routes: [{path: /api}]",  # neither
    "routes: []",
    "listen: 1\nbogus: 2\nroutes: [{path: /, target: 'http://a:1'}]",
    "routes: [{path: /, target: 'http://a:1', ws_origin: maybe}]",
    "routes: [{path: /, target: 'http://a:1', timeout: {connect: 0}}]",
    "routes: [{path: /, target: 'http://a:1', change_origin: 'yes'}]",
    "cors: {credentials: true}\nroutes: [{path: /, target: 'http://a:1'}]",
    "limits: {headers: 0}\nroutes: [{path: /, target: 'http://a:1'}]",
    "limits: {header_size: 99999999999999999999}\nroutes: [{path: /, target: 'http://a:1'}]",
    "limits: {idle_timeout: 1e300}\nroutes: [{path: /, target: 'http://a:1'}]",
    "inspector: {history: 100000000}\nroutes: [{path: /, target: 'http://a:1'}]",
    "routes: [{path: /, target: 'http://a:1', cors: true}]",
    "routes: [{path: api, target: 'http://a:1'}]",
    "routes: [{path: /, target: 'localhost:3000'}]",
    "routes: [{path: /, target: 'http://a:1', headers: {X-List: [1, 2]}}]",
    "cors: {origins: ['*', 'http://a:1']}\nroutes: [{path: /, target: 'http://a:1'}]",
    "allowed_hosts: [all, foo.test]\nroutes: [{path: /, target: 'http://a:1'}]",
    "allowed_hosts: '*'\nroutes: [{path: /, target: 'http://a:1'}]",
]


@pytest.mark.parametrize("text", GOOD)
def test_both_accept(text: str) -> None:
    parse_config(text, "devproxy.yaml", Path("/"))
    VALIDATOR.validate(yaml.safe_load(text))


@pytest.mark.parametrize("text", BAD)
def test_both_refuse(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(text, "devproxy.yaml", Path("/"))
    assert not VALIDATOR.is_valid(yaml.safe_load(text))
