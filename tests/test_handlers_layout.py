"""The handlers and portaldb floors: one job per module, said in its opening sentence, and handlers
that read the application's settings through its typed config, never through string keys."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from langportal.handlers import AppConfig, PortalApplication, make_app

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted([*(ROOT / "handlers").glob("*.py"), *(ROOT / "portaldb").glob("*.py")])


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
