"""Named SQL statements, kept in ``sql/queries/*.sql`` and loaded once at start.

Each statement in a file is introduced by a ``-- name: <identifier>`` line (the aiosql
convention). Its text is what follows, up to its last line of SQL: the comment lines right after the
name line are its own doc comment and stay with it, as in aiosql; comment lines after its last line
of SQL (a section heading, say) belong to no statement and are dropped. Handlers call statements by
name, so a reader finds any statement with one grep, and no SQL is ever built from strings at run
time.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from pathlib import Path

SQL_DIR = Path(str(importlib.resources.files("langportal.sql")))
_NAME_LINE = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


class Queries:
    """Read-only attribute access to the loaded statements: ``queries.create_study_session``."""

    def __init__(self, statements: dict[str, str]) -> None:
        self._statements = dict(statements)

    def __getattr__(self, name: str) -> str:
        try:
            return self._statements[name]
        except KeyError:
            raise AttributeError(f"no SQL statement named {name!r} in {SQL_DIR / 'queries'}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._statements

    def names(self) -> list[str]:
        return sorted(self._statements)


def parse(text: str, source: str) -> dict[str, str]:
    """Split one file's text into ``{name: statement}``."""
    parts = _NAME_LINE.split(text)
    if parts[0].strip() and not all(line.startswith("--") for line in parts[0].strip().splitlines()):
        raise ValueError(f"{source}: SQL before the first '-- name:' line")
    statements: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = body.strip().splitlines()
        while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("--")):
            lines.pop()  # comments after the statement introduce what follows, not this one
        statement = "\n".join(lines)
        if not statement:
            raise ValueError(f"{source}: the statement {name!r} is empty")
        if name in statements:
            raise ValueError(f"{source}: the name {name!r} is used twice")
        statements[name] = statement
    return statements


@functools.cache
def load(directory: Path = SQL_DIR / "queries") -> Queries:
    """Every named statement under ``directory``; read from disk once per process."""
    statements: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        for name, statement in parse(path.read_text(encoding="utf-8"), str(path)).items():
            if name in statements:
                raise ValueError(f"{path}: the name {name!r} is already used in another file")
            statements[name] = statement
    return Queries(statements)
