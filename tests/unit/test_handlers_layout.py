"""The layout: one job per module, said in its opening sentence and in the module list of
docs/design.md, no module over ~300 lines unless that list says why (and no row claiming so for a
module that is not), and handlers that read the application's settings through its typed config,
never through string keys."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from langportal.handlers import AppConfig, PortalApplication, make_app

ROOT = Path(__file__).resolve().parent.parent.parent
FLOORS = ("langportal", "handlers", "portaldb")
MODULES = sorted(path for floor in FLOORS for path in (ROOT / floor).glob("*.py"))
LONG = 300  # lines; a module past this says why in its row of docs/design.md
LAYOUT = ROOT / "docs" / "design.md"
WHY_LONG = re.compile(r"\(over 300 lines: (?P<why>[^)]{20,})\)")  # a reason, not just the words


def layout_rows() -> dict[str, str]:
    """The rows of the layout table in docs/design.md, by the path in their first cell."""
    section = LAYOUT.read_text().split("## Project layout", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if match := re.match(r"\| `([^`]+)` \|", line):
            rows[match.group(1)] = line
    return rows


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


def module_name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_each_module_has_its_row_in_the_layout(path: Path):
    assert module_name(path) in layout_rows(), (
        f"docs/design.md, Project layout: no row for {module_name(path)}"
    )


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_a_module_is_called_long_in_the_layout_exactly_when_it_is_and_says_why(path: Path):
    lines = len(path.read_text().splitlines())
    row = layout_rows().get(module_name(path), "")
    if lines > LONG:
        assert WHY_LONG.search(row), (
            f"{module_name(path)} has {lines} lines; its row in docs/design.md must say why, "
            f"as '(over 300 lines: <the reason>)'"
        )
    else:
        assert "over 300 lines" not in row, (
            f"{module_name(path)} has {lines} lines; its row says it is longer"
        )


def test_every_row_of_the_layout_names_something_that_exists():
    missing = [name for name in layout_rows() if not (ROOT / name.rstrip("/")).exists()]
    assert missing == [], f"docs/design.md lists what is not in the checkout: {missing}"
