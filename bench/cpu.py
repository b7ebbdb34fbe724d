"""CPU accounting from /proc: how many CPU seconds the server, the database, the load tool and
everything else on the machine spent during one phase."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _all_processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of the process plus its reaped children)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state) of proc(5): ppid is 4, utime..cstime are 14..17.
        ticks = sum(int(value) for value in fields[11:15])
        found[int(entry.name)] = (int(fields[1]), ticks / CLK_TCK)
    return found


def tree_cpu_seconds(root: int | None) -> float | None:
    """CPU time of ``root`` and every process under it, including children already reaped."""
    if root is None:
        return None
    processes = _all_processes()
    if root not in processes:
        return None
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in processes.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += processes[pid][1]
        todo.extend(children.get(pid, ()))
    return total


def machine_cpu() -> tuple[float, float, float]:
    """(busy, total, softirq) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    busy = user + nice + system + irq + softirq + steal
    return busy / CLK_TCK, (busy + idle + iowait) / CLK_TCK, (irq + softirq) / CLK_TCK


def children_cpu() -> float:
    """CPU seconds of this process's children that have been waited for (wrk, pgbench)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuSnapshot:
    server: float | None
    database: float | None
    tool: float
    busy: float
    total: float
    irq: float


@dataclass
class CpuUse:
    """CPU seconds spent during one phase, by whom."""

    server: float | None
    database: float | None
    load_tool: float
    machine_busy: float
    machine_capacity: float
    other: float  # busy time not explained by the three above (other work on the machine)
    kernel_irq: float  # interrupt and softirq time (loopback networking), part of ``other``

    def per(self, count: int) -> dict[str, float | None]:
        """Milliseconds of CPU per request or transaction."""

        def ms(value: float | None) -> float | None:
            return None if value is None or count <= 0 else 1000 * value / count

        return {
            "server": ms(self.server),
            "database": ms(self.database),
            "load_tool": ms(self.load_tool),
            "other": ms(self.other),
            "kernel_irq": ms(self.kernel_irq),
        }


class CpuMeter:
    """Takes snapshots of the CPU time used so far by the server's and the database's process
    trees, this process's reaped children (wrk, pgbench) and the whole machine."""

    def __init__(self, server_pid: int | None, database_pid: int | None) -> None:
        self.server_pid = server_pid
        self.database_pid = database_pid

    def snapshot(self, *, with_server: bool) -> CpuSnapshot:
        busy, total, irq = machine_cpu()
        return CpuSnapshot(
            server=tree_cpu_seconds(self.server_pid) if with_server else None,
            database=tree_cpu_seconds(self.database_pid),
            tool=children_cpu(),
            busy=busy,
            total=total,
            irq=irq,
        )

    @staticmethod
    def used(before: CpuSnapshot, after: CpuSnapshot) -> CpuUse:
        def delta(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else max(0.0, b - a)

        server = delta(before.server, after.server)
        database = delta(before.database, after.database)
        tool = after.tool - before.tool
        busy = after.busy - before.busy
        explained = tool + (server or 0.0) + (database or 0.0)
        return CpuUse(
            server,
            database,
            tool,
            busy,
            after.total - before.total,
            max(0.0, busy - explained),
            after.irq - before.irq,
        )


def tree_pids(root: int | None) -> list[int]:
    """``root`` and every process under it (a server's supervisor and its server processes)."""
    if root is None:
        return []
    processes = _all_processes()
    if root not in processes:
        return []
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in processes.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(sorted(children.get(pid, ()), reverse=True))
    return found


def memory_mib(root: int | None) -> list[dict[str, float | int]]:
    """Resident memory of ``root`` and each process under it, from /proc/<pid>/status: ``rss``
    (VmRSS, now) and ``peak`` (VmHWM, the most it ever held), in MiB."""
    found = []
    for pid in tree_pids(root):
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue  # it ended meanwhile
        values = {}
        for line in lines:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) / 1024  # kB
        if values:
            found.append({"pid": pid, "rss": values.get("VmRSS", 0.0), "peak": values.get("VmHWM", 0.0)})
    return found
