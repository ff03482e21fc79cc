"""The documentation's config examples load, so the docs cannot rot."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from devproxy.config import Config
from devproxy.loader import load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def readme_yaml_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


def folders_named_by(text: str, base: Path) -> None:
    for folder in re.findall(r"static:\s*(\S+)", text):
        (base / folder).mkdir(parents=True, exist_ok=True)


@pytest.mark.parametrize("index", range(len(readme_yaml_blocks())))
def test_readme_config_example_is_valid(index: int, tmp_path: Path) -> None:
    text = readme_yaml_blocks()[index]
    folders_named_by(text, tmp_path)
    config = parse_config(text, "README.md", tmp_path)
    assert isinstance(config, Config)
    assert config.routes


def test_the_example_config_documents_a_valid_config(tmp_path: Path) -> None:
    shutil.copy(ROOT / "devproxy.yaml.example", tmp_path / "devproxy.yaml")
    folders_named_by((ROOT / "devproxy.yaml.example").read_text(), tmp_path)
    config = load_config(tmp_path / "devproxy.yaml")
    assert [r.path for r in config.routes] == ["/api", "/public-api", "/", "/docs"]
    assert config.routes[1].cors is not None


def test_every_route_key_is_documented_in_the_example() -> None:
    example = (ROOT / "devproxy.yaml.example").read_text()
    from devproxy.config import Route

    documented = set(re.findall(r"^\s*-?\s*(\w+):", example, flags=re.M))
    keys = {name for name in Route.__dataclass_fields__ if name not in ("line", "target_at")}
    assert keys <= documented | {"connect", "response"}, keys - documented


def test_bundled_example_config_is_valid() -> None:
    config = load_config(ROOT / "examples" / "basic" / "devproxy.yaml")
    assert {r.path for r in config.routes} == {"/api", "/"}
