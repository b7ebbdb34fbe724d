"""Whether the browser tests run, skip or fail (tests/chromium.py, used by tests/browser/test_browser.py).

A first `pytest` on a machine without Chromium must pass, with the browser tests skipped and one
line in the summary saying how to install it; with LANGPORTAL_REQUIRE_BROWSER=1 (CI) a missing
browser is a failure instead. Checked by calling the function under each setting, and by running
pytest on tests/browser/test_browser.py in a child process with a PATH that has no Chromium on it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..chromium import chromium_executable

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
# Plugins this run does not need and that take seconds to import on a busy machine.
QUICK = ("-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest")
OTHER_TEST = "tests/database/test_page.py::test_the_policy_without_other_api_origins"
VARIABLES = ("LANGPORTAL_CHROMIUM", "LANGPORTAL_SKIP_BROWSER", "LANGPORTAL_REQUIRE_BROWSER")


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A PATH without Chromium (an empty folder), none of the variables set."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    return tmp_path


def test_without_chromium_the_browser_tests_skip_saying_how_to_install_it(no_chromium):
    with pytest.raises(pytest.skip.Exception) as skipped:
        chromium_executable()
    assert str(skipped.value) == (
        "browser tests: Chromium is not installed (no chromium on PATH); "
        "to run them: apt-get install -y chromium"
    )


def test_required_and_missing_is_a_failure(no_chromium, monkeypatch):
    monkeypatch.setenv("LANGPORTAL_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        chromium_executable()
    assert str(failed.value) == (
        "browser tests: Chromium is not installed (no chromium on PATH); install it: apt-get install -y "
        "chromium (LANGPORTAL_REQUIRE_BROWSER=1 makes a missing browser a failure)"
    )


@pytest.mark.parametrize("required", ["0", "1"])
def test_a_named_executable_that_is_missing(no_chromium, monkeypatch, required):
    missing = no_chromium / "chromium"
    monkeypatch.setenv("LANGPORTAL_CHROMIUM", str(missing))
    monkeypatch.setenv("LANGPORTAL_REQUIRE_BROWSER", required)
    expected = pytest.fail.Exception if required == "1" else pytest.skip.Exception
    with pytest.raises(
        expected, match=f"LANGPORTAL_CHROMIUM={re.escape(str(missing))} is not an executable file"
    ):
        chromium_executable()
    missing.write_text("#!/bin/sh\n")  # there, but not executable
    with pytest.raises(expected, match="is not an executable file"):
        chromium_executable()


def test_a_named_executable_or_one_on_path_is_used(no_chromium, monkeypatch):
    browser = no_chromium / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    monkeypatch.setenv("LANGPORTAL_REQUIRE_BROWSER", "1")
    assert chromium_executable() == str(browser)  # found on PATH
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("LANGPORTAL_CHROMIUM", str(browser))
    assert chromium_executable() == str(browser)


def test_skipping_on_purpose(no_chromium, monkeypatch):
    monkeypatch.setenv("LANGPORTAL_SKIP_BROWSER", "1")
    with pytest.raises(
        pytest.skip.Exception, match="LANGPORTAL_SKIP_BROWSER=1: the browser tests are skipped on purpose"
    ):
        chromium_executable()
    monkeypatch.setenv("LANGPORTAL_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="contradict each other; unset one"):
        chromium_executable()


@pytest.mark.parametrize("name", ["LANGPORTAL_REQUIRE_BROWSER", "LANGPORTAL_SKIP_BROWSER"])
def test_a_flag_is_1_or_0(no_chromium, monkeypatch, name):
    monkeypatch.setenv(name, "yes")
    with pytest.raises(pytest.fail.Exception, match=f"{name} must be 1 \\(on\\) or 0 \\(off\\), not 'yes'"):
        chromium_executable()


def run_browser_tests(path: Path, **variables: str) -> tuple[int, str]:
    """pytest on tests/browser/test_browser.py and one quick other test (a run with nothing but skipped tests
    exits 5, "no tests ran") in a child process, with PATH = ``path`` only."""
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(PATH=str(path), **variables)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *QUICK, "tests/browser/test_browser.py", OTHER_TEST],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def test_a_run_without_chromium_passes_with_one_line_saying_how_to_run_them(tmp_path):
    code, output = run_browser_tests(tmp_path)
    assert code == 0, output
    lines = output.splitlines()
    skipped = [line for line in lines if line.startswith("SKIPPED")]
    assert len(skipped) == 1, output
    assert re.fullmatch(
        r"SKIPPED \[\d+\] tests/browser/test_browser\.py:\d+: browser tests: Chromium is not installed "
        r"\(no chromium on PATH\); to run them: apt-get install -y chromium",
        skipped[0],
    ), skipped[0]
    assert re.fullmatch(r"=+ 1 passed, 1 skipped in [\d.]+s =+", lines[-1]), lines[-1]


def test_a_run_that_requires_the_browser_fails_without_it(tmp_path):
    code, output = run_browser_tests(tmp_path, LANGPORTAL_REQUIRE_BROWSER="1")
    assert code == 1, output
    last = output.splitlines()[-1]
    assert re.fullmatch(r"=+ 1 passed, (\d+) errors in [\d.]+s =+", last), last
    errors = [
        line for line in output.splitlines() if line.startswith("ERROR tests/browser/test_browser.py::")
    ]
    assert len(errors) == int(re.search(r"(\d+) errors", last).group(1)) > 10
    assert "LANGPORTAL_REQUIRE_BROWSER=1 makes a missing browser a failure" in output
    assert "SKIPPED" not in output
