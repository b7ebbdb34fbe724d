"""Which Chromium the browser tests drive (tests/browser/test_browser.py), or why they skip or fail.

Kept apart from the test module, which skips itself when this says so, so that
tests/browser/test_browser_setup.py can test it on any machine.
"""

from __future__ import annotations

import os
import shutil

import pytest

INSTALL = "apt-get install -y chromium"


def _flag(name: str) -> bool:
    value = os.environ.get(name, "")
    if value not in ("", "0", "1"):
        pytest.fail(f"{name} must be 1 (on) or 0 (off), not {value!r}", pytrace=False)
    return value == "1"


def chromium_executable() -> str:
    """The Chromium to drive. When there is none, the browser tests are skipped (one line in the
    summary says how to install it), or fail when ``LANGPORTAL_REQUIRE_BROWSER=1`` (CI)."""
    required = _flag("LANGPORTAL_REQUIRE_BROWSER")
    if _flag("LANGPORTAL_SKIP_BROWSER"):
        if required:
            pytest.fail(
                "LANGPORTAL_SKIP_BROWSER=1 and LANGPORTAL_REQUIRE_BROWSER=1 contradict each other; unset one",
                pytrace=False,
            )
        pytest.skip("LANGPORTAL_SKIP_BROWSER=1: the browser tests are skipped on purpose")
    given = os.environ.get("LANGPORTAL_CHROMIUM")
    if given:
        found = shutil.which(given)  # a name on PATH, or a path to an executable file
        problem = f"LANGPORTAL_CHROMIUM={given} is not an executable file"
    else:
        found = shutil.which("chromium") or shutil.which("chromium-browser")
        problem = "Chromium is not installed (no chromium on PATH)"
    if found:
        return found
    if required:
        pytest.fail(
            f"browser tests: {problem}; install it: {INSTALL} "
            "(LANGPORTAL_REQUIRE_BROWSER=1 makes a missing browser a failure)",
            pytrace=False,
        )
    pytest.skip(f"browser tests: {problem}; to run them: {INSTALL}")
