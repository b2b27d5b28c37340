"""What the traders did: answers by operation and status, latencies, acknowledged orders."""

from __future__ import annotations

import math
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trading_service import order_status

# Statuses as the API writes them in JSON (the enum's values are those strings).
TERMINAL = frozenset(order_status.TERMINAL)


@dataclass
class Ack:
    """An order the trading service acknowledged, and the last state a client was told of."""

    id: str
    account_id: str
    client_order_id: str
    status: str
    filled_qty: int


def percentile(ordered: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile of values sorted in ascending order (0 for none)."""
    if not ordered:
        return 0.0
    return ordered[max(0, min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1))]


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Latencies as machine doubles: appending one costs no object, 100,000 of them 800 kB.
    latencies_ms: dict[str, array[float]] = field(default_factory=dict)
    acks: dict[str, Ack] = field(default_factory=dict)

    def record(self, op: str, outcome: str, ms: float | None) -> None:
        self.answers[(op, outcome)] += 1
        if ms is not None:
            latencies = self.latencies_ms.get(op)
            if latencies is None:
                latencies = self.latencies_ms[op] = array("d")
            latencies.append(ms)

    def acknowledge(self, account_id: str, order: dict[str, Any]) -> None:
        """Remember an order answer; a later answer about the same order replaces the state."""
        self.acks[order["id"]] = Ack(
            order["id"], account_id, order["client_order_id"], order["status"], order["filled_qty"]
        )

    def restart_clock(self) -> None:
        """Figures count from here: sign-ups and logins before are not trading."""
        self.started = time.monotonic()
        self.answers.clear()
        self.latencies_ms.clear()

    def stop_clock(self) -> None:
        self.finished = time.monotonic()

    def server_errors(self) -> int:
        """Answers 500-599 other than 503 (a clear refusal): each one is a bug."""
        return sum(
            n
            for (_, outcome), n in self.answers.items()
            if outcome[:1] == "5" and not outcome.startswith("503")
        )

    @property
    def orders_placed(self) -> int:
        """New orders the service acknowledged (201 or, for a retried request, 200)."""
        return self.answers[("place", "201")] + self.answers[("place", "200")]

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def count(self, outcome_prefix: str) -> int:
        return sum(
            n for (_, outcome), n in self.answers.items() if outcome.startswith(outcome_prefix)
        )

    def report(self) -> str:
        elapsed = max(self.elapsed_s, 1e-9)
        requests = sum(self.answers.values())
        lines = [
            f"orders acknowledged {self.orders_placed:,} in {elapsed:.1f} s "
            f"= {self.orders_placed / elapsed:,.1f} orders/s; "
            f"{requests:,} requests = {requests / elapsed:,.1f} req/s",
            f"{'operation':<10} {'count':>8} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}  answers",
        ]
        for op in sorted({op for op, _ in self.answers}):
            ms = sorted(self.latencies_ms.get(op, ()))
            outcomes = ", ".join(
                f"{outcome} x{n:,}" for (o, outcome), n in sorted(self.answers.items()) if o == op
            )
            lines.append(
                f"{op:<10} {len(ms):>8,} {percentile(ms, 50):>9.1f} {percentile(ms, 99):>9.1f} "
                f"{ms[-1] if ms else 0.0:>9.1f}  {outcomes}"
            )
        every = sorted(v for values in self.latencies_ms.values() for v in values)
        lines.append(
            f"all requests p50 {percentile(every, 50):.1f} ms, p99 {percentile(every, 99):.1f} ms"
        )
        return "\n".join(lines)
