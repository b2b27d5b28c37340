"""CPU seconds spent by processes, to say where the time per order goes.

Read from /proc (Linux): a process's own CPU and that of every process it started (uvicorn's
workers, PostgreSQL's backends), alive or ended: an ended child's CPU is counted once its parent
reaped it (cutime/cstime), so the backend of a connection a pool opened and closed while the
soak ran counts too (it did not before: PostgreSQL's CPU read low for a service whose pool
churned connections). Elsewhere the figures are missing, not wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in (PROC / str(pid) / "task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass  # gone meanwhile, or no /proc
    return found


def _own_cpu_s(pid: int) -> float:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    # The name in parentheses may hold spaces; utime and stime are fields 14 and 15, cutime
    # and cstime (its ended children's, once reaped) 16 and 17.
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / _TICKS_PER_S


def tree_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of `pid` and its descendants (living, or ended and reaped);
    None without /proc."""
    if not (PROC / str(pid) / "stat").exists():
        return None
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += _own_cpu_s(current)
        todo += _children(current)
    return total


def per_order_report(cpu_s: dict[str, float], orders: int) -> str:
    """One line: CPU milliseconds per acknowledged order, by process (and in all)."""
    if not cpu_s or orders <= 0:
        return "CPU per order: not measured"
    parts = ", ".join(f"{name} {1000 * s / orders:.2f}" for name, s in cpu_s.items())
    return f"CPU ms per order: {parts}; all {1000 * sum(cpu_s.values()) / orders:.2f}"
