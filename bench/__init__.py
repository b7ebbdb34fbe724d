"""The load benchmark of POST /api/study_sessions against the database's own ceiling.

Run it with ``python bench/run.py``; bench/README.md says what it measures. Its modules:
``options`` (the command line), ``processes`` (wrk, pgbench, the server and an embedded
PostgreSQL), ``database`` (the bench's own connection and data set), ``cpu`` (CPU time from
/proc), ``phases`` (one measured load phase), ``report`` (text and JSON results).
"""

from __future__ import annotations


class BenchError(Exception):
    """The benchmark cannot go on; the message says what to fix."""


def say(text: str = "") -> None:
    """Print one line of the bench's progress at once (it runs for minutes)."""
    print(text, flush=True)
