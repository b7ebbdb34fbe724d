"""The access log is written in batches (langportal/logs.py): in order, on size, on time, at once
for other records and errors. That nothing is lost when the server stops:
tests/processes/test_access_log_stop.py."""

from __future__ import annotations

import io
import logging
import os
import time

from langportal.logs import ACCESS_LOGGER, FORMAT, BufferedStreamHandler, LineFormatter


def _record(name: str, level: int, text: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, text, (), None)


def _handler(**options) -> tuple[BufferedStreamHandler, io.StringIO]:
    stream = io.StringIO()
    handler = BufferedStreamHandler(stream, **options)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    return handler, stream


def test_access_lines_wait_for_a_full_batch_and_come_out_in_order():
    handler, stream = _handler(capacity=3, interval=60)
    try:
        handler.handle(_record(ACCESS_LOGGER, logging.INFO, "GET /a 200"))
        handler.handle(_record(ACCESS_LOGGER, logging.WARNING, "GET /b 404"))
        assert stream.getvalue() == ""  # held: one write per batch
        handler.handle(_record(ACCESS_LOGGER, logging.INFO, "GET /c 200"))
        assert stream.getvalue().splitlines() == [
            "INFO portal.access GET /a 200",
            "WARNING portal.access GET /b 404",
            "INFO portal.access GET /c 200",
        ]
    finally:
        handler.close()


def test_other_records_and_errors_write_at_once_after_the_lines_held():
    handler, stream = _handler(capacity=100, interval=60)
    try:
        handler.handle(_record(ACCESS_LOGGER, logging.INFO, "GET /a 200"))
        handler.handle(_record("portal", logging.INFO, "listening"))
        assert stream.getvalue().splitlines() == ["INFO portal.access GET /a 200", "INFO portal listening"]
        handler.handle(_record(ACCESS_LOGGER, logging.INFO, "GET /b 200"))
        handler.handle(_record(ACCESS_LOGGER, logging.ERROR, "POST /c 500"))
        assert stream.getvalue().splitlines()[2:] == [
            "INFO portal.access GET /b 200",
            "ERROR portal.access POST /c 500",
        ]
    finally:
        handler.close()


def test_held_lines_are_written_within_the_interval():
    handler, stream = _handler(capacity=100, interval=0.1)
    try:
        handler.handle(_record(ACCESS_LOGGER, logging.INFO, "GET /a 200"))
        deadline = time.monotonic() + 5
        while not stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stream.getvalue() == "INFO portal.access GET /a 200\n"
    finally:
        handler.close()


def test_close_and_flush_write_what_is_held():
    handler, stream = _handler(capacity=100, interval=60)
    handler.handle(_record(ACCESS_LOGGER, logging.INFO, "GET /a 200"))
    handler.flush()
    assert stream.getvalue() == "INFO portal.access GET /a 200\n"
    handler.handle(_record(ACCESS_LOGGER, logging.INFO, "GET /b 200"))
    handler.close()
    assert stream.getvalue().endswith("GET /b 200\n")


def test_a_forked_child_never_repeats_the_parents_lines(tmp_path):
    path = tmp_path / "log"
    with path.open("w") as stream:
        handler = BufferedStreamHandler(stream, capacity=100, interval=60)
        handler.setFormatter(logging.Formatter("%(process)d %(message)s"))
        handler.handle(_record(ACCESS_LOGGER, logging.INFO, "before the fork"))
        pid = os.fork()
        if pid == 0:  # the child: one line of its own, then exit as the server processes do
            try:
                handler.handle(_record(ACCESS_LOGGER, logging.INFO, "in the child"))
                handler.close()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        handler.close()
    lines = [line.split(" ", 1)[1] for line in path.read_text().splitlines()]
    assert sorted(lines) == ["before the fork", "in the child"]


def test_the_time_is_formatted_as_the_standard_formatter_does():
    ours, standard = LineFormatter(FORMAT), logging.Formatter(FORMAT)
    for created in (1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.5, 1_700_000_000.25):
        record = _record("portal", logging.INFO, "x")
        record.created, record.msecs = created, int((created - int(created)) * 1000)
        assert ours.format(record) == standard.format(record)
