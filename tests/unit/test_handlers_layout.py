"""The layout: one job per module, said in its opening sentence and in the README's module list,
no module over ~300 lines unless the README says why, and handlers that read the application's
settings through its typed config, never through string keys."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from langportal.handlers import AppConfig, PortalApplication, make_app

ROOT = Path(__file__).resolve().parent.parent.parent
FLOORS = ("langportal", "handlers", "portaldb")
MODULES = sorted(path for floor in FLOORS for path in (ROOT / floor).glob("*.py"))
LONG = 300  # lines; a module past this is named in the README's layout section with the reason


def readme_layout() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Project layout", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("path", MODULES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_each_module_opens_with_a_sentence_on_its_job(path: Path):
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring, f"{path.relative_to(ROOT)} has no opening docstring"
    first_paragraph = docstring.split("\n\n")[0].strip()
    assert first_paragraph.endswith((".", ":")), f"{path.relative_to(ROOT)} opens with {first_paragraph!r}"


def test_handlers_read_settings_through_the_typed_config():
    offenders = []
    for path in sorted((ROOT / "handlers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "settings":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_make_app_builds_a_frozen_config_from_its_keywords(pool):
    app = make_app(
        pool, cors_origins=["http://a.example"], pool_timeout=2, page_api_origins=["http://b.example"]
    )
    assert isinstance(app, PortalApplication)
    assert app.config == AppConfig(
        cors_origins=frozenset({"http://a.example"}), pool_timeout=2, page_api_origins=("http://b.example",)
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        app.config.pool_timeout = 9  # type: ignore[misc]


@pytest.mark.parametrize("path", MODULES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_each_module_has_its_line_in_the_readme_layout(path: Path):
    name = f"`{path.parent.name}/{path.name}`"
    rows = [line for line in readme_layout().splitlines() if line.startswith(f"| {name} |")]
    assert rows, f"README.md, Project layout: no row for {name}"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_a_long_module_says_why_in_the_readme(path: Path):
    lines = len(path.read_text().splitlines())
    if lines <= LONG:
        return
    row = next(
        line
        for line in readme_layout().splitlines()
        if line.startswith(f"| `{path.parent.name}/{path.name}` |")
    )
    assert "lines:" in row, f"{path.parent.name}/{path.name} has {lines} lines; its README row must say why"
