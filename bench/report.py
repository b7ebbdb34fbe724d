"""The bench's results: a few lines per phase as it goes, then a summary table and the targets of
issues 3 and 11, printed and written with every figure as JSON (bench/results/<UTC time>.json and .txt)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import say
from .phases import CeilingResult, ServerResult

RESULTS_DIR = Path(__file__).resolve().parent / "results"  # git-ignored

# Targets of issue 3.
TARGET_RATIO_AT = 256
TARGET_RATIO = 0.5
TARGET_P99_AT = 256
TARGET_P99_MS = 100.0
TARGET_CLEAN_AT = 1000
# Targets of issue 11: the server against Tornado's own floor (bench/floor.py).
TARGET_FLOOR_RATIO = 0.8
TARGET_FLOOR_AT = (256, 10000)
TARGET_FLOOR_P99_MS = 50.0  # at 256 connections


def _fmt(value: float | None, spec: str = ",.0f", missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def _cpu_line(per: dict[str, float | None], tool: str) -> str:
    parts = []
    for key, label in (
        ("server", "server"),
        ("database", "database"),
        ("load_tool", tool),
        ("other", "other"),
    ):
        if per.get(key) is not None:
            parts.append(f"{label} {per[key]:.3f}")
    if per.get("kernel_irq") is not None:
        parts[-1] += f" (of it kernel irq/softirq {per['kernel_irq']:.3f})"
    return ", ".join(parts)


def report_ceiling(result: CeilingResult) -> None:
    if result.error:
        say(f"    ERROR: {result.error}")
    if result.tps is None:
        return
    say(
        f"    {result.tps:,.0f} tps  ({result.transactions:,} transactions, {result.failed or 0} failed, "
        f"latency avg {_fmt(result.latency_avg_ms, '.1f')} ms, rows added {_fmt(result.rows_added, ',')})"
    )
    say(f"    CPU ms per transaction: {_cpu_line(result.cpu_ms_per_tx, 'pgbench')}")
    if result.db_transactions_per_tx is not None:
        say(f"    database transactions per pgbench transaction ~ {result.db_transactions_per_tx:.2f}")
    busy, capacity = result.cpu["machine_busy"], result.cpu["machine_capacity"]
    say(f"    machine busy {100 * busy / capacity:.0f}% of {capacity / 1:.0f} core-seconds")


def _latency(result: ServerResult, key: str) -> str:
    if key not in result.latency_ms:
        return "-"
    value = result.latency_ms[key]
    return f">{result.wrk_timeout_ms:.0f}" if value is None else f"{value:.1f}"


def _memory(result: ServerResult) -> str:
    parts = [f"{entry['rss']:.0f} (peak {entry['peak']:.0f})" for entry in result.memory_mib]
    if len(parts) > 1:  # a supervisor and its processes
        return f"supervisor {parts[0]}; processes " + ", ".join(parts[1:])
    return ", ".join(parts) or "-"


def report_server(
    result: ServerResult, ceiling: CeilingResult | None, other: ServerResult | None = None
) -> None:
    """A wrk phase's lines; ``other`` is the floor's result for the server, the server's for the floor."""
    if result.error:
        say(f"    ERROR: {result.error}")
        return
    ratio = ""
    if ceiling and ceiling.tps:
        ratio = f"  = {100 * result.req_s / ceiling.tps:.1f}% of the ceiling"
    if other is not None and other.req_s and result.req_s:
        server, floor = (result, other) if result.target == "server" else (other, result)
        ratio += f"; server/floor {100 * server.req_s / floor.req_s:.1f}%"
    latency = ", ".join(f"{key} {_latency(result, key)} ms" for key in ("p50", "p90", "p99", "p99.9", "max"))
    say(f"    {result.req_s:,.0f} req/s{ratio}  (latency {latency})")
    statuses = ", ".join(f"{k}: {v:,}" for k, v in result.statuses.items()) or "none"
    errors = ", ".join(f"{k} {result.errors[k]}" for k in ("connect", "read", "write", "timeout"))
    say(
        f"    responses {result.responses:,} ({statuses}); non-2xx {result.non_2xx:,}; "
        f"socket errors {result.socket_errors:,} ({errors})"
    )
    say(f"    resident memory, MiB: {_memory(result)}")
    if result.target != "server":
        say(f"    CPU ms per request: {_cpu_line(result.cpu_ms_per_request, 'wrk')}")
        return
    verdict = "OK" if result.lost_writes == 0 and result.unexplained_rows == 0 else "MISMATCH"
    say(
        f"    writes: {_fmt(result.rows_added, ',')} rows added, {result.created:,} 201s counted, "
        f"{result.unanswered:,} requests unanswered when wrk stopped -> lost writes "
        f"{_fmt(result.lost_writes, ',')}, unexplained rows {_fmt(result.unexplained_rows, ',')} [{verdict}]"
    )
    if result.errors["timeout"]:
        say(
            f"    ({result.errors['timeout']:,} responses took longer than wrk's --timeout of "
            f"{result.wrk_timeout_ms:.0f} ms: wrk counts them as timeout socket errors)"
        )
    say(f"    CPU ms per request: {_cpu_line(result.cpu_ms_per_request, 'wrk')}")
    if result.db_transactions_per_request is not None:
        say(f"    database transactions per request ~ {result.db_transactions_per_request:.2f}")
    busy, capacity = result.cpu["machine_busy"], result.cpu["machine_capacity"]
    say(f"    machine busy {100 * busy / capacity:.0f}% of {capacity:.0f} core-seconds")
    log = result.server_log
    if log.get("INFO") is not None:
        say(f"    server log: {log['INFO']:,} access (INFO) lines written during the phase")
    if log.get("WARNING") or log.get("ERROR"):
        say(f"    server log: {log['WARNING']:,} warnings, {log['ERROR']:,} errors; last: {log['last']}")


def summary_table(levels: list[dict[str, Any]]) -> list[str]:
    """One line per concurrency level: the ceiling, the server, their ratio, latency, errors, CPU."""
    header = (
        f"{'conns':>6} {'pgbench c':>9} {'ceiling tps':>11} {'floor req/s':>11} {'floor p99':>9} "
        f"{'server req/s':>12} {'ratio':>6} {'/floor':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} {'sock err':>8} {'lost':>5} "
        f"{'srv CPU ms/req':>14} {'db CPU ms/req':>13} {'db CPU ms/tx':>12} {'db tx/req':>9} "
        f"{'RSS MiB/proc':>12}"
    )
    lines = [header, "-" * len(header)]
    for level in levels:
        ceiling: CeilingResult = level["ceiling"]
        server: ServerResult = level["server"]
        floor: ServerResult | None = level.get("floor")
        ratio = server.req_s / ceiling.tps if server.req_s and ceiling.tps else None
        floor_ratio = server.req_s / floor.req_s if floor and server.req_s and floor.req_s else None
        workers = server.memory_mib[1:] or server.memory_mib
        rss = "/".join(f"{entry['rss']:.0f}" for entry in workers) or "-"
        lost = None
        if server.lost_writes is not None:
            lost = server.lost_writes + (server.unexplained_rows or 0)
        lines.append(
            f"{level['connections']:>6} {ceiling.clients:>9} {_fmt(ceiling.tps):>11} "
            f"{_fmt(floor.req_s if floor else None):>11} {_latency(floor, 'p99') if floor else '-':>9} "
            f"{_fmt(server.req_s):>12} "
            f"{_fmt(None if ratio is None else 100 * ratio, '.1f') + '%':>6} "
            f"{_fmt(None if floor_ratio is None else 100 * floor_ratio, '.1f') + '%':>6} "
            f"{_latency(server, 'p50'):>7} {_latency(server, 'p99'):>7} "
            f"{server.non_2xx:>7,} {server.socket_errors:>8,} {_fmt(lost, ','):>5} "
            f"{_fmt(server.cpu_ms_per_request.get('server'), '.3f'):>14} "
            f"{_fmt(server.cpu_ms_per_request.get('database'), '.3f'):>13} "
            f"{_fmt(ceiling.cpu_ms_per_tx.get('database'), '.3f'):>12} "
            f"{_fmt(server.db_transactions_per_request, '.2f'):>9} {rss:>12}"
        )
    return lines


def check_targets(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_connections = {level["connections"]: level for level in levels}
    targets = []

    def add(name: str, at: int, measure: Any) -> None:
        level = by_connections.get(at)
        if level is None or level["server"].error:
            targets.append({"target": name, "status": "SKIP", "measured": f"no run at {at} connections"})
            return
        passed, measured = measure(level["ceiling"], level["server"])
        status = "SKIP" if passed is None else "PASS" if passed else "FAIL"
        targets.append({"target": name, "status": status, "measured": measured})

    def ratio(ceiling: CeilingResult, server: ServerResult) -> tuple[bool | None, str]:
        if not ceiling.tps:
            return None, "no ceiling measured"
        value = server.req_s / ceiling.tps
        return value >= TARGET_RATIO, (
            f"{100 * value:.1f}% ({server.req_s:,.0f} req/s vs {ceiling.tps:,.0f} tps "
            f"at {ceiling.clients} clients)"
        )

    add(
        f"at {TARGET_RATIO_AT} connections: server req/s >= {100 * TARGET_RATIO:.0f}% of the pgbench ceiling",
        TARGET_RATIO_AT,
        ratio,
    )
    add(
        f"at {TARGET_P99_AT} connections: p99 latency < {TARGET_P99_MS:.0f} ms",
        TARGET_P99_AT,
        lambda c, s: (
            s.latency_ms["p99"] is not None and s.latency_ms["p99"] < TARGET_P99_MS,
            f"p99 {_latency(s, 'p99')} ms",
        ),
    )
    add(
        f"at {TARGET_CLEAN_AT} connections: zero socket errors",
        TARGET_CLEAN_AT,
        lambda c, s: (s.socket_errors == 0, f"{s.socket_errors:,} ({s.errors})"),
    )
    add(
        f"at {TARGET_CLEAN_AT} connections: zero non-2xx responses",
        TARGET_CLEAN_AT,
        lambda c, s: (s.non_2xx == 0, f"{s.non_2xx:,} (statuses {s.statuses})"),
    )
    add(
        f"at {TARGET_CLEAN_AT} connections: zero lost writes",
        TARGET_CLEAN_AT,
        lambda c, s: (
            s.lost_writes == 0 and s.unexplained_rows == 0,
            f"{s.rows_added:,} rows for {s.created:,} 201s + {s.unanswered:,} unanswered: "
            f"{s.lost_writes} lost, {s.unexplained_rows} unexplained",
        ),
    )
    for at in TARGET_FLOOR_AT:
        add(
            f"at {at} connections: server req/s >= {100 * TARGET_FLOOR_RATIO:.0f}% of the floor (issue 11)",
            at,
            lambda c, s, at=at: _floor_ratio(by_connections[at]),
        )
    add(
        f"at {TARGET_FLOOR_AT[0]} connections: p99 latency < {TARGET_FLOOR_P99_MS:.0f} ms (issue 11)",
        TARGET_FLOOR_AT[0],
        lambda c, s: (
            s.latency_ms["p99"] is not None and s.latency_ms["p99"] < TARGET_FLOOR_P99_MS,
            f"p99 {_latency(s, 'p99')} ms",
        ),
    )
    at = TARGET_FLOOR_AT[1]
    add(
        f"at {at} connections: zero socket errors and zero non-2xx responses (issue 11)",
        at,
        lambda c, s: (
            s.socket_errors == 0 and s.non_2xx == 0,
            f"{s.socket_errors:,} socket errors ({s.errors}), {s.non_2xx:,} non-2xx (statuses {s.statuses})",
        ),
    )
    return targets


def _floor_ratio(level: dict[str, Any]) -> tuple[bool | None, str]:
    server, floor = level["server"], level.get("floor")
    if floor is None or not floor.req_s or floor.error:
        return None, "no floor measured"
    value = server.req_s / floor.req_s
    return value >= TARGET_FLOOR_RATIO, (
        f"{100 * value:.1f}% ({server.req_s:,.0f} req/s vs the floor's {floor.req_s:,.0f} req/s)"
    )


def summary(levels: list[dict[str, Any]], targets: list[dict[str, Any]], seconds: float) -> list[str]:
    """The summary as printed at the end of a run and kept in the .txt file."""
    lines = [f"== summary ({seconds:.0f} s; CPU in ms per request or transaction) ==", *summary_table(levels)]
    lines += ["", "targets (issues 3 and 11):"]
    lines += [f"  [{target['status']}] {target['target']}: {target['measured']}" for target in targets]
    return lines


def write_results(figures: dict[str, Any], text: list[str], json_path: Path | None, stamp: str) -> Path:
    """Every figure as JSON (``json_path``, else bench/results/<stamp>.json) and the summary's text
    beside it (same name, .txt). Returns the JSON file's path."""
    if json_path is None:
        RESULTS_DIR.mkdir(exist_ok=True)
        json_path = RESULTS_DIR / f"{stamp}.json"
    text_path = json_path.with_suffix(".txt")
    if text_path == json_path:  # --json results.txt: the text must not overwrite the figures
        text_path = json_path.with_name(json_path.name + ".txt")
    json_path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    text_path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return json_path
