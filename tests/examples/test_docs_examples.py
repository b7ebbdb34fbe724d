"""One test per example block of README.md and docs/**/*.md, in document order (the convention is in
``__init__.py``). The console and sh blocks share one live server and its state, so they must run
in this order: nothing here reorders them, and pytest keeps the order of a parameter list."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from . import runner
from .runner import Block

pytestmark = pytest.mark.skipif(
    bool(os.environ.get(runner.GUARD)), reason="run by a docs example: the examples do not run themselves"
)

BLOCKS = runner.collect()


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_example(block: Block, request: pytest.FixtureRequest) -> None:
    if block.skip is not None:
        pytest.skip(f"{block.where}: not run: {block.skip}")
    if block.error is not None:
        pytest.fail(f"{block.where}: the {block.language} block cannot be run: {block.error}", pytrace=False)
    if block.kind == "python":
        database_url = request.getfixturevalue("example_database")
        _run(lambda: runner.run_python(block, database_url))
        return
    live = request.getfixturevalue("live_server")
    seen = len(live.log)
    if block.kind == "console":
        _run(lambda: runner.run_console(block, live.address), server_log=lambda: live.log_since(seen))
    else:
        _run(lambda: runner.run_sh(block, live.address), server_log=lambda: live.log_since(seen))


def test_the_readmes_test_suite_example_runs_without_a_database_url() -> None:
    """The README's test-client example on a machine with no PostgreSQL (no DATABASE_URL): it
    starts an embedded one of its own."""
    (block,) = [block for block in BLOCKS if block.path == "README.md" and block.kind == "python"]
    _run(lambda: runner.run_python(block, None))


def _run(example: Callable[[], None], server_log: Callable[[], str] | None = None) -> None:
    try:
        example()
    except runner.ExampleFailure as failure:
        message = str(failure)
    else:
        return
    if server_log is not None:
        message += "\nthe server's log meanwhile:\n" + (runner.normalize(server_log()) or "(nothing)")
    pytest.fail(message, pytrace=False)  # outside the except: no "during handling" repeat
