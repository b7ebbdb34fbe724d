"""The floor: the fastest this HTTP stack answers the benchmark's requests, to measure the server against.

    python bench/floor.py --port 8001 --processes 2

A minimal Tornado application on uvloop, served the way ``server.py`` serves (sockets bound before
forking with the same backlog, then ``--processes`` forked processes, each running its own loop),
whose one handler ``json.loads`` the body of ``POST /api/study_sessions`` and answers a fixed 201:
no database, no validation, no access log. ``bench/run.py`` runs it beside the server and drives
both with the same wrk script, so server / floor is what the service's own work costs on top of
Tornado itself. It stops on SIGTERM or SIGINT (the parent passes the signal to its children).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import sys

import tornado.httpserver
import tornado.netutil
import tornado.web
import uvloop

BACKLOG = 4096  # as langportal/serving.py binds
SESSION = {"id": 1, "group_id": 1, "study_activity_id": 1, "created_at": "2026-01-01T00:00:00+00:00"}
ANSWER = json.dumps({"study_session": SESSION}).encode()


class FloorHandler(tornado.web.RequestHandler):
    def post(self) -> None:
        json.loads(self.request.body)
        self.set_status(201)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(ANSWER)


def _no_log(handler: tornado.web.RequestHandler) -> None:
    """No access log: the floor measures Tornado alone."""


async def _serve(sockets: list) -> None:
    app = tornado.web.Application([(r"/api/study_sessions", FloorHandler)], log_function=_no_log)
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    server.stop()


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/floor.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    raise_open_files_limit()
    sockets = tornado.netutil.bind_sockets(args.port, args.host, backlog=BACKLOG)
    if args.processes == 1:
        uvloop.run(_serve(sockets))
        return 0
    children = []
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # until the children exist
    for _ in range(args.processes):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
                uvloop.run(_serve(sockets))
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    print(f"floor: listening on http://{args.host}:{args.port}, {args.processes} processes", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in children:
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
