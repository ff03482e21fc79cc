"""devproxy export's output, read as text and YAML (the live checks are in e2e)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from devproxy.exporters import FORMATS, NOT_EXPORTED, export_config
from devproxy.loader import parse_config

CONFIG = """\
listen: 127.0.0.1:9000
allowed_hosts: [myapp.test]
cors:
  origins: [http://localhost:5173, "http://127.0.0.1:*"]
  credentials: true
  expose: [X-Total-Count]
  max_age: 600
routes:
  - path: /api
    target: http://127.0.0.1:3000/v1
    strip_prefix: true
    change_origin: true
    headers: {X-Dev: "1"}
    rewrite: {"^/v1/old/": "/v1/new/"}
  - path: /ws
    target: https://localhost:8443
    secure: false
    ws: false
    cors: false
  - path: /docs
    static: ./site
    spa: true
  - path: /
    target: http://localhost:5173
    cors: false
"""


@pytest.fixture
def config(tmp_path: Path):
    (tmp_path / "site").mkdir()
    return parse_config(CONFIG, "devproxy.yaml", tmp_path)


def test_unknown_format_is_refused(config) -> None:
    with pytest.raises(ValueError, match="choose one of nginx, caddy, traefik"):
        export_config(config, "apache")


def test_nginx_matches_on_segments_and_maps_prefix_host_and_cors(config) -> None:
    text = export_config(config, "nginx")
    assert "listen 127.0.0.1:9000;" in text
    assert "location = /api {" in text and "location /api/ {" in text
    assert "proxy_pass http://127.0.0.1:3000/v1/;" in text  # strip + base path
    assert "proxy_set_header Host $proxy_host;" in text  # change_origin
    assert "proxy_set_header Host $http_host;" in text  # the others keep it
    assert "proxy_buffering off;" in text and "$devproxy_connection" in text
    assert 'proxy_set_header X-Dev "1";' in text
    assert "proxy_ssl_verify off;" in text
    assert r'"~^(http://localhost:5173|http://127\.0\.0\.1(:[0-9]+)?)$" $http_origin;' in text
    assert "return 204;" in text and "Access-Control-Max-Age 600" in text
    assert "myapp\\.test" in text  # the Host allowlist
    assert "alias " in text and "/docs/index.html" in text  # static + spa
    assert f"{NOT_EXPORTED} rewrite rules" in text


def test_caddy_handles_routes_longest_first(config) -> None:
    text = export_config(config, "caddy")
    assert text.index("@route0 path /docs /docs/*") < text.index("handle {")  # / is last
    assert "uri strip_prefix /api" in text and "rewrite * /v1{uri}" in text
    assert "header_up Host {http.reverse_proxy.upstream.hostport}" in text
    assert "tls_insecure_skip_verify" in text and "flush_interval -1" in text
    assert re.search(r"respond @cors\d+_allowed_preflight 204", text)
    assert "@foreign_host not host" in text and "myapp.test" in text
    assert f"{NOT_EXPORTED} rewrite" in text and "try_files" in text


def test_traefik_is_valid_yaml_with_routers_services_and_middlewares(config) -> None:
    text = export_config(config, "traefik")
    doc = yaml.safe_load(text)["http"]
    rules = {name: router["rule"] for name, router in doc["routers"].items()}
    assert "Path(`/api`) || PathPrefix(`/api/`)" in rules.values()
    api = next(n for n, r in rules.items() if "/api" in r)
    assert doc["services"][api]["loadBalancer"]["passHostHeader"] is False
    middlewares = doc["routers"][api]["middlewares"]
    assert doc["middlewares"][f"{api}-strip"]["stripPrefix"]["prefixes"] == ["/api"]
    assert doc["middlewares"][f"{api}-base"]["addPrefix"]["prefix"] == "/v1"
    cors = doc["middlewares"][f"{api}-cors"]["headers"]
    assert cors["accessControlAllowOriginList"] == ["http://localhost:5173"]
    assert cors["accessControlAllowCredentials"] is True
    assert f"{api}-cors" in middlewares
    assert f"{NOT_EXPORTED} static folder" in text  # Traefik serves no files
    assert f"{NOT_EXPORTED} Location and Set-Cookie rewriting" in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_route_appears_in_every_format(config, fmt: str) -> None:
    text = export_config(config, fmt)
    for path in ("/api", "/ws", "/docs"):
        assert f"route {path} -> " in text
