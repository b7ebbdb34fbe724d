"""The examples of README.md and docs/**/*.md, found and run (the convention is in ``__init__.py``).

Pure functions, no fixtures: :func:`collect` finds the blocks, :func:`run_console`, :func:`run_sh`
and :func:`run_python` run one each and raise :class:`ExampleFailure` with what a reader of a CI
log needs (the file and line, the command, expected and actual output, a diff).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # the checkout

# Set in the environment of everything an example runs, so a `pytest` in an example never runs
# these examples again (tests/examples/test_docs_examples.py skips itself when it is set).
GUARD = "LANGPORTAL_DOCS_EXAMPLE"

KINDS = {"console": "console", "sh": "sh", "bash": "sh", "shell": "sh", "python": "python"}

COMMAND_TIMEOUT = 60.0  # seconds, each console command and each sh block
PYTHON_TIMEOUT = 180.0  # seconds, each python block's pytest

# What the project's setup.cfg says of warnings, for the pytest that runs a python block: every
# warning is an error, except pytest-tornasync 0.6's own (its old-style hook mark, yield_fixture).
# An ini file of the block's own (not the project's setup.cfg, not tests/conftest.py): the block
# runs as in a user's project. (Not `-W` on the command line: pytest takes its message as literal
# text there, so `.*yield_fixture.*` would match nothing.)
PYTEST_INI = """\
[pytest]
filterwarnings =
    error
    ignore:The hookimpl .* uses old-style configuration options:pytest.PytestRemovedIn10Warning
    ignore:.*yield_fixture.*:pytest.PytestRemovedIn10Warning
"""

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_NOT_RUN = re.compile(r"^<!--\s*not run\s*:\s*(?P<reason>.*?)\s*-->$")
_NOT_RUN_LOOSE = re.compile(r"^<!--\s*not[ -]run\b", re.IGNORECASE)
_ADDRESS = re.compile(r"(?:http://)?(?:localhost|127\.0\.0\.1):5000(?![0-9])")


class ExampleFailure(AssertionError):
    """An example did not do what its document says; the message says where and how."""


@dataclass(frozen=True)
class Command:
    """One ``$ `` command of a console block and the output the document shows for it."""

    line: int  # of the `$ ` line in the document
    text: str  # without the `$ `; continuation lines kept (bash reads `\\` + newline as a space)
    expected: str


@dataclass(frozen=True)
class Block:
    """A fenced block of a runnable language (console, sh, bash, shell, python)."""

    path: str  # as shown: README.md, docs/api.md
    line: int  # of the opening fence
    language: str  # as written after the fence
    code: str  # the lines between the fences, the fence's indentation removed
    skip: str | None = None  # the reason of a `<!-- not run: REASON -->` marker
    error: str | None = None  # why the block cannot be run (a failure, not a skip)
    commands: tuple[Command, ...] = field(default=())

    @property
    def kind(self) -> str:
        return KINDS[self.language]

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def id(self) -> str:
        return f"{self.where}-{self.language}"


# -- finding the blocks ---------------------------------------------------------------------------


def documents(root: Path = ROOT) -> list[Path]:
    """README.md first, then docs/**/*.md sorted by their path."""
    found = [root / "README.md"] if (root / "README.md").is_file() else []
    docs = root / "docs"
    if docs.is_dir():
        found += sorted(
            (p for p in docs.rglob("*.md") if p.is_file()), key=lambda p: p.relative_to(root).parts
        )
    return found


def collect(root: Path = ROOT) -> list[Block]:
    """Every runnable block of every document, in the order they run."""
    blocks: list[Block] = []
    for path in documents(root):
        blocks += parse_markdown(path.read_text(encoding="utf-8"), path.relative_to(root).as_posix())
    return blocks


def parse_markdown(text: str, path: str) -> list[Block]:
    """The runnable blocks of one markdown document, in document order.

    Fences are CommonMark's: three or more backticks or tildes, indented by any number of spaces
    (a block in a list item), closed by a run of the same character at least as long; the
    fence's indentation is removed from the lines inside. Blocks of other languages are ignored.
    """
    lines = text.splitlines()
    blocks: list[Block] = []
    previous = ""  # the last non-blank line outside the block being read
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening or (opening["fence"][0] == "`" and "`" in opening["info"]):
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        language = opening["info"].strip().split(maxsplit=1)[0] if opening["info"].strip() else ""
        closing = re.compile(rf"^ *{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not closing.match(lines[index]):
            body.append(_dedent(lines[index], indent))
            index += 1
        closed = index < len(lines)
        marker_line = previous
        if closed:
            previous = lines[index].strip()
        index += 1
        if language.lower() not in KINDS:
            continue
        block = Block(path, start + 1, language.lower(), "\n".join(body) + "\n" if body else "")
        blocks.append(_checked(block, marker_line=marker_line, closed=closed))
    return blocks


def _dedent(line: str, indent: int) -> str:
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, indent) :]


def _checked(block: Block, *, marker_line: str, closed: bool) -> Block:
    """The block with its skip reason, its console commands, or the reason it cannot run."""
    marker = _NOT_RUN.match(marker_line)
    if marker and marker["reason"]:
        return replace(block, skip=marker["reason"])
    if marker or _NOT_RUN_LOOSE.match(marker_line):
        return replace(
            block, error=f"the marker before it, {marker_line!r}, is not `<!-- not run: REASON -->`"
        )
    if not closed:
        return replace(block, error="its fence is never closed")
    if not block.code.strip():
        return replace(block, error="it is empty")
    try:
        if block.kind == "console":
            return replace(block, commands=parse_console(block.code, block.line + 1))
        if block.kind == "python":
            compile(block.code, block.where, "exec")
    except SyntaxError as error:
        return replace(
            block, error=f"not valid Python: {error.msg} at line {block.line + (error.lineno or 0)}"
        )
    except ValueError as error:
        return replace(block, error=str(error))
    return block


def parse_console(code: str, first_line: int) -> tuple[Command, ...]:
    """The commands of a console block: a line starting with `$ ` is a command, continued onto
    the next line while a line ends with ` \\`; the lines up to the next command are its output.
    ``first_line`` is the document's line number of the block's first line."""
    lines = code.splitlines()
    commands: list[Command] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.startswith("$ "):
            if line.rstrip() == "$":
                raise ValueError(f"line {first_line + index}: a `$` with no command")
            raise ValueError(
                f"line {first_line + index}: output {line!r} before any command "
                "(a console block starts with a `$ ` line)"
            )
        start = index
        text = [line[2:]]
        while text[-1].endswith(" \\"):
            index += 1
            if index == len(lines):
                raise ValueError(f"line {first_line + index - 1}: the command's last line ends with ` \\`")
            text.append(lines[index])
        index += 1
        output: list[str] = []
        while index < len(lines) and not lines[index].startswith("$ ") and lines[index].rstrip() != "$":
            output.append(lines[index])
            index += 1
        if not text[0].strip():
            raise ValueError(f"line {first_line + start}: a `$ ` with no command")
        commands.append(Command(first_line + start, "\n".join(text), "\n".join(output)))
    return tuple(commands)


# -- comparing output -----------------------------------------------------------------------------


def normalize(text: str) -> str:
    """Line ends as `\\n`, trailing whitespace of each line and blank lines at the end removed."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).rstrip("\n")


def expected_pattern(expected: str) -> re.Pattern[str]:
    """The expected output as a regular expression: literal text, `...` for any text (also across
    lines), anchored at both ends; compare :func:`normalize`-d text with it."""
    pieces = normalize(expected).split("...")
    return re.compile("\\A" + ".*?".join(re.escape(piece) for piece in pieces) + "\\Z", re.DOTALL)


def matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` output is what ``expected`` shows: the same as
    ``expected_pattern(expected).match(normalize(actual))``, found without backtracking (a long
    answer with many `...` could take a regular expression engine exponential time)."""
    pieces = normalize(expected).split("...")
    text = normalize(actual)
    if len(pieces) == 1:
        return text == pieces[0]
    first, *middle, last = pieces
    if not text.startswith(first) or not text.endswith(last) or len(text) < len(first) + len(last):
        return False
    position, end = len(first), len(text) - len(last)
    for piece in middle:  # each at its leftmost place: leaves the most room for the rest
        found = text.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def localize(command: str, address: str) -> str:
    """The command with `http://localhost:5000`, `localhost:5000` and `127.0.0.1:5000` pointing at
    ``address`` (host:port) instead."""
    return _ADDRESS.sub(
        lambda found: ("http://" if found[0].startswith("http://") else "") + address, command
    )


# -- running --------------------------------------------------------------------------------------


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What an example runs with: this environment as a reader's shell would have it (this
    virtualenv's programs first on PATH; no DATABASE_URL, PORT or pytest settings of the run),
    80 columns for programs that wrap text to the terminal, and the recursion guard."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "PORT", "CORS_ORIGINS", "PYTHONPATH")
        and not name.startswith("PYTEST_")
    }
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
    if sys.prefix != sys.base_prefix:
        env["VIRTUAL_ENV"] = sys.prefix
    env.update(COLUMNS="80", LINES="24", **{GUARD: "1"})
    env.update(extra or {})
    return env


def run(argv: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> tuple[int | None, str]:
    """Run ``argv``; its exit status (None when it was ended after ``timeout`` seconds) and its
    output, stdout and stderr together as a terminal shows them. Whatever it left running in the
    background is ended with it."""
    with tempfile.TemporaryFile("w+b") as output:  # a file, not a pipe: a background child may keep it
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        status: int | None
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            status = None
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        output.seek(0)
        return status, output.read().decode("utf-8", errors="replace")


def run_console(block: Block, address: str, root: Path = ROOT) -> None:
    """Run each command of a console block in order; the first that fails raises."""
    env = environment()
    for number, command in enumerate(block.commands, 1):
        sent = localize(command.text, address)
        status, actual = run(["bash", "-c", sent], cwd=root, env=env, timeout=COMMAND_TIMEOUT)
        head = _console_head(block, number, command, sent)
        if status is None:
            what = f"did not finish within {COMMAND_TIMEOUT:g} s"
            raise ExampleFailure(f"{head}\n{what}; its output:\n{_indented(normalize(actual))}")
        if status != 0:
            raise ExampleFailure(
                f"{head}\nexited with status {status}; its output:\n{_indented(normalize(actual))}"
            )
        if not matches(command.expected, actual):
            raise ExampleFailure(f"{head}\n{_difference(command.expected, actual)}")


def _console_head(block: Block, number: int, command: Command, sent: str) -> str:
    shown = "\n".join(("$ " if i == 0 else "") + part for i, part in enumerate(command.text.split("\n")))
    head = (
        f"{block.path}:{command.line}: command {number} of {len(block.commands)} of the console block "
        f"at {block.where}:\n{shown}"
    )
    if sent != command.text:
        head += f"\n(run as: {sent})"
    return head


def _difference(expected: str, actual: str) -> str:
    want, got = normalize(expected), normalize(actual)
    diff = difflib.unified_diff(
        want.split("\n"), got.split("\n"), "expected (the document)", "actual", lineterm="", n=2
    )
    return (
        "its output is not the expected one (`...` in the expected output matches any text).\n"
        f"expected:\n{_indented(want)}\nactual:\n{_indented(got)}\ndiff:\n" + "\n".join(diff)
    )


def _indented(text: str, limit: int = 6000) -> str:
    if len(text) > limit:
        text = text[:limit] + f"\n[... {len(text) - limit} more characters]"
    return "\n".join("    " + line for line in text.split("\n")) if text else "    (nothing)"


def run_sh(block: Block, address: str, root: Path = ROOT) -> None:
    """Run an sh/bash/shell block with ``bash -e``; it must exit 0."""
    script = localize(block.code, address)
    status, output = run(["bash", "-e", "-c", script], cwd=root, env=environment(), timeout=COMMAND_TIMEOUT)
    if status == 0:
        return
    what = (
        f"did not finish within {COMMAND_TIMEOUT:g} s" if status is None else f"exited with status {status}"
    )
    raise ExampleFailure(
        f"{block.where}: the {block.language} block {what} (run with bash -e from {root}):\n"
        f"{_indented(script.rstrip())}\nits output:\n{_indented(normalize(output))}"
    )


def run_python(block: Block, database_url: str | None, root: Path = ROOT) -> None:
    """Run a python block as a user's suite would: a pytest file of its own in a new temporary
    folder (outside the checkout) with a pytest.ini of its own (:data:`PYTEST_INI`), run there with
    the virtualenv's ``pytest`` and ``DATABASE_URL`` (none when ``database_url`` is None: a machine
    without a PostgreSQL); no ``PYTHONPATH``, so it imports only what the installed project gives.
    It must pass, with at least one test passed."""
    with _folder() as folder:
        name = "test_" + re.sub(r"[^a-z0-9]+", "_", block.path.lower().removesuffix(".md")).strip("_")
        test_file = folder / f"{name}_{block.line}.py"
        test_file.write_text(block.code, encoding="utf-8")
        (folder / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
        report = folder / "report.xml"
        pytest = str(Path(sys.executable).parent / "pytest")
        argv = [pytest, "-p", "no:cacheprovider", "-c", str(folder / "pytest.ini")]
        argv += ["--confcutdir", str(folder), f"--junitxml={report}", "-ra", str(test_file)]
        env = environment({"DATABASE_URL": database_url} if database_url is not None else None)
        status, output = run(argv, cwd=folder, env=env, timeout=PYTHON_TIMEOUT)
        passed = _passed(report)
    if status == 0 and passed:
        return
    if status is None:
        what = f"did not finish within {PYTHON_TIMEOUT:g} s"
    elif status != 0:
        what = f"failed (pytest exit status {status})"
    else:
        what = "passed no test (every test skipped or deselected)"
    raise ExampleFailure(
        f"{block.where}: the python block, run as {test_file.name} with pytest in {folder}, {what}.\n"
        f"pytest said:\n{_indented(normalize(output))}"
    )


@contextlib.contextmanager
def _folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="langportal-example-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _passed(report: Path) -> int:
    """Tests passed, from pytest's JUnit XML report (0 when there is none)."""
    try:
        suites = ET.parse(report).getroot().iter("testsuite")
    except (OSError, ET.ParseError):
        return 0
    counts = [
        {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
        for suite in suites
    ]
    return sum(c["tests"] - c["failures"] - c["errors"] - c["skipped"] for c in counts)
