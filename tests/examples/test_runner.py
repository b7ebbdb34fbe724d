"""The examples runner on its own sample (sample.md) and on small documents: what it finds, how it
compares output, what it reports. No server: the sample's commands do not need one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from . import runner
from .runner import Block, ExampleFailure

SAMPLE = Path(__file__).with_name("sample.md")
BLOCKS = runner.parse_markdown(SAMPLE.read_text(encoding="utf-8"), "sample.md")
NOWHERE = "127.0.0.1:9"  # the sample's commands never connect


def block_at(line: int) -> Block:
    return next(block for block in BLOCKS if block.line == line)


def parse(text: str) -> list[Block]:
    return runner.parse_markdown(text, "doc.md")


def test_the_sample_has_its_runnable_blocks_in_order_and_ignores_text() -> None:
    assert [(b.id, b.kind, b.skip, b.error) for b in BLOCKS] == [
        ("sample.md:7-console", "console", None, None),
        ("sample.md:24-sh", "sh", None, None),
        ("sample.md:31-python", "python", None, None),
        ("sample.md:51-sh", "sh", "it talks to a machine on the internet", None),
        ("sample.md:63-bash", "sh", None, None),
        ("sample.md:69-console", "console", None, None),
    ]
    assert block_at(63).code == "true\n"  # the list item's indentation removed


def test_console_commands_continue_over_lines_and_own_the_lines_after_them() -> None:
    commands = block_at(7).commands
    assert [(c.line, c.text.split("\n")) for c in commands] == [
        (8, ["printf '%s\\n' \"first line\" \\", '    "second line"']),
        (12, ['echo "request $RANDOM$RANDOM took $((RANDOM % 50)) ms"']),
        (14, ["seq 1 10"]),
        (18, ['test -f server.py && echo "run from the checkout"']),
    ]
    assert [c.expected for c in commands] == [
        "first line\nsecond line",
        "request ... took ... ms",
        "1\n...\n10",
        "run from the checkout",
    ]


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        ("a\nb", "a\nb\n", True),  # a final newline aside
        ("a  \nb", "a\nb   \n\n", True),  # trailing whitespace aside, both sides
        ("a\r\nb", "a\r\nb\r\n", True),  # curl -i's header lines
        ("a\nb", "a\nb\nc", False),  # anchored at the end
        ("a\nb", "x\na\nb", False),  # and at the start
        ("", "", True),
        ("", "something", False),
        ("...", "", True),
        ("...", "any\ntext", True),
        ('{"id":1,"created_at":"..."}', '{"id":1,"created_at":"2026-01-01T00:00:00+00:00"}', True),
        ('{"id":1,"created_at":"..."}', '{"id":2,"created_at":"2026-01-01T00:00:00+00:00"}', False),
        ("1\n...\n10", "1\n2\n3\n10", True),  # across lines
        ("a...b...c", "abc", True),
        ("a...b...c", "acb", False),
        ("ab...ba", "aba", False),  # the start and the end may not overlap
        ("x.y (z)*", "x.y (z)*", True),  # regular expression characters are literal
        ("x.y", "xzy", False),
    ],
)
def test_matching(expected: str, actual: str, same: bool) -> None:
    assert runner.matches(expected, actual) is same
    # the same answer as the anchored regular expression of the convention
    assert bool(runner.expected_pattern(expected).match(runner.normalize(actual))) is same


def test_matching_many_dots_on_a_long_answer_is_fast() -> None:
    expected = "[" + '{"name":"...","url":"..."},' * 30 + "]"
    actual = "[" + '{"name":"n","url":"u"},' * 2000 + "}"  # does not end with ]
    assert not runner.matches(expected, actual)


def test_addresses_in_commands_point_at_the_live_server() -> None:
    command = "curl http://localhost:5000/a localhost:5000/b 127.0.0.1:5000/c localhost:50001/d"
    assert runner.localize(command, "127.0.0.1:41234") == (
        "curl http://127.0.0.1:41234/a 127.0.0.1:41234/b 127.0.0.1:41234/c localhost:50001/d"
    )


def test_a_console_block_passes() -> None:
    runner.run_console(block_at(7), NOWHERE)


def test_a_mismatch_fails_saying_where_what_ran_and_both_outputs() -> None:
    with pytest.raises(ExampleFailure) as failed:
        runner.run_console(block_at(69), NOWHERE)
    message = str(failed.value)
    assert message.startswith(
        "sample.md:70: command 1 of 1 of the console block at sample.md:69:\n$ echo actual output"
    )
    assert "expected:\n    expected output\nactual:\n    actual output\n" in message
    assert "-expected output\n+actual output" in message


def test_a_failing_command_fails_with_its_status_and_output() -> None:
    [block] = parse("```console\n$ echo oops >&2; exit 3\noops\n```\n")
    with pytest.raises(
        ExampleFailure, match=r"(?s)doc\.md:2: command 1.*exited with status 3; its output:\n    oops"
    ):
        runner.run_console(block, NOWHERE)


def test_an_sh_block_runs_with_bash_e_from_the_checkout() -> None:
    runner.run_sh(block_at(24), NOWHERE)
    runner.run_sh(block_at(63), NOWHERE)
    [block] = parse("```sh\nfalse\necho not reached\n```\n")
    with pytest.raises(ExampleFailure, match=r"(?s)doc\.md:1: the sh block exited with status 1.*false"):
        runner.run_sh(block, NOWHERE)


def test_a_python_block_runs_as_a_pytest_file_with_warnings_as_errors() -> None:
    runner.run_python(block_at(31), "postgresql://nobody@/nowhere")


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("def test_fails():\n    assert 1 == 2\n", r"failed \(pytest exit status 1\).*assert 1 == 2"),
        ("import pytest\n\n\ndef test_skips():\n    pytest.skip('no')\n", "passed no test"),
    ],
    ids=["a test fails", "every test skips"],
)
def test_a_python_block_fails_unless_a_test_passes(code: str, why: str) -> None:
    [block] = parse(f"```python\n{code}```\n")
    with pytest.raises(ExampleFailure, match=f"(?s)doc.md:1: the python block.*{why}"):
        runner.run_python(block, "postgresql://nobody@/nowhere")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("```console\nno prompt\n$ echo hi\n```\n", "line 2: output 'no prompt' before any command"),
        ("```console\n$ echo \\\n```\n", "line 2: the command's last line ends with ` \\`"),
        ("```console\n$\n```\n", "line 2: a `$` with no command"),
        ("```sh\necho never closed\n", "its fence is never closed"),
        ("```python\n```\n", "it is empty"),
        ("```python\ndef f(:\n    pass\n```\n", "not valid Python: invalid syntax at line 2"),
        ("<!-- not run -->\n```sh\ntrue\n```\n", "is not `<!-- not run: REASON -->`"),
        ("<!-- not run: -->\n```sh\ntrue\n```\n", "is not `<!-- not run: REASON -->`"),
    ],
    ids=[
        "output first",
        "continued past the end",
        "empty command",
        "unclosed",
        "empty",
        "bad python",
        "marker without reason",
        "empty reason",
    ],
)
def test_a_runnable_block_that_cannot_be_parsed_is_an_error_not_a_skip(text: str, error: str) -> None:
    [block] = parse(text)
    assert block.skip is None
    assert block.error is not None
    assert error in block.error


def test_the_marker_must_directly_precede_the_fence() -> None:
    blocks = parse("<!-- not run: later -->\n\n```sh\ntrue\n```\n\n```sh\ntrue\n```\n")
    assert [(b.line, b.skip) for b in blocks] == [(3, "later"), (7, None)]
    # a marker followed by text is no marker
    [block] = parse("<!-- not run: x -->\nSome text.\n```sh\ntrue\n```\n")
    assert block.skip is None


def test_longer_fences_hold_shorter_ones() -> None:
    text = "````markdown\n```console\n$ echo inside\n```\n````\n\n~~~bash\ntrue\n~~~\n"
    assert [b.id for b in parse(text)] == ["doc.md:7-bash"]


def test_documents_are_the_readme_then_docs_by_path(tmp_path: Path) -> None:
    for name in ["README.md", "docs/b.md", "docs/a.md", "docs/sub/c.md", "docs/notes.txt", "other.md"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("```sh\ntrue\n```\n")
    assert [p.relative_to(tmp_path).as_posix() for p in runner.documents(tmp_path)] == [
        "README.md",
        "docs/a.md",
        "docs/b.md",
        "docs/sub/c.md",
    ]
    assert [b.id for b in runner.collect(tmp_path)] == [
        "README.md:1-sh",
        "docs/a.md:1-sh",
        "docs/b.md:1-sh",
        "docs/sub/c.md:1-sh",
    ]


def test_ids_are_unique_in_the_real_documents() -> None:
    ids = [block.id for block in runner.collect()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[\w./-]+\.md:\d+-(console|sh|bash|shell|python)", i) for i in ids)
