"""After the traffic: wait for the engine to catch up, then audit the books and cross-check
every acknowledged order against the database."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from loadgen.stats import TERMINAL, Ack
from trading_service.audit import audit
from trading_service.order_status import OPEN, sql_list

RESTING = frozenset(OPEN)


@dataclass
class Verdict:
    audit: dict[str, list[str]] = field(default_factory=dict)  # only violated invariants
    lost: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def violations(self) -> int:
        return (
            sum(len(v) for v in self.audit.values())
            + len(self.lost)
            + len(self.mismatched)
            + len(self.duplicated)
        )

    def report(self) -> str:
        lines = [
            f"cross-check: {self.checked:,} acknowledged orders; lost {len(self.lost)}, "
            f"state mismatches {len(self.mismatched)}, duplicated {len(self.duplicated)}",
            f"audit: {sum(len(v) for v in self.audit.values())} violation(s)",
        ]
        for name, found in self.audit.items():
            lines += [f"  FAIL {name}"] + [f"       {v}" for v in found[:10]]
        for title, items in (
            ("lost", self.lost),
            ("mismatched", self.mismatched),
            ("duplicated", self.duplicated),
        ):
            lines += [f"  {title}: {item}" for item in items[:10]]
        lines.append(f"violations found: {self.violations}")
        return "\n".join(lines)


async def settle(db: AsyncEngine, timeout_s: float = 120) -> None:
    """Until the engine has processed every stored order and every acknowledged cancel."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            async with db.connect() as conn:
                pending = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM orders WHERE accepted_at IS NULL OR "
                            "(cancel_requested_at IS NOT NULL "
                            f" AND status IN {sql_list(OPEN)})"
                        )
                    )
                ).scalar_one()
        except (OSError, DBAPIError):
            pending = -1  # the database is still coming back
        if pending == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{pending} orders still unprocessed after {timeout_s:.0f} s")
        await asyncio.sleep(0.25)


async def verify(db: AsyncEngine, acks: dict[str, Ack]) -> Verdict:
    """The invariant audit, plus: every acknowledged order exists exactly once, in a final or
    resting state, agrees with the last terminal state its client was told, and its fills sum
    to its filled_qty."""
    verdict = Verdict(checked=len(acks))
    async with db.connect() as conn:
        verdict.audit = {k: v for k, v in (await audit(conn)).items() if v}
        rows = {
            str(r.id): r
            for r in await conn.execute(
                text(
                    "SELECT o.id, o.account_id, o.client_order_id, o.status, o.filled_qty, "
                    "       o.accepted_at, coalesce(sum(f.qty), 0) AS fill_qty "
                    "FROM orders o LEFT JOIN fills f ON f.order_id = o.id "
                    "WHERE o.id = ANY(:ids) GROUP BY o.id"
                ),
                {"ids": [uuid.UUID(i) for i in acks]},
            )
        }
        verdict.duplicated = [
            f"{r.account_id} {r.client_order_id} stored {r.n} times"
            for r in await conn.execute(
                text(
                    "SELECT account_id, client_order_id, count(*) AS n FROM orders "
                    "GROUP BY account_id, client_order_id HAVING count(*) > 1"
                )
            )
        ] + [
            f"order {r.order_id} has {r.n} fills of trade {r.trade_id}"
            for r in await conn.execute(
                text(
                    "SELECT order_id, trade_id, count(*) AS n FROM fills "
                    "GROUP BY order_id, trade_id HAVING count(*) > 1"
                )
            )
        ]
    for ack in acks.values():
        row = rows.get(ack.id)
        if row is None:
            verdict.lost.append(f"{ack.id} ({ack.client_order_id})")
            continue
        problems = []
        if str(row.account_id) != ack.account_id or row.client_order_id != ack.client_order_id:
            problems.append("belongs to another account or client_order_id")
        if row.status not in TERMINAL | RESTING or row.accepted_at is None:
            problems.append(f"status {row.status}, accepted_at {row.accepted_at}")
        if ack.status in TERMINAL and (row.status, row.filled_qty) != (ack.status, ack.filled_qty):
            problems.append(
                f"client was told {ack.status} {ack.filled_qty}, stored {row.status} "
                f"{row.filled_qty}"
            )
        if row.filled_qty < ack.filled_qty:
            problems.append(f"client saw {ack.filled_qty} filled, stored {row.filled_qty}")
        if row.fill_qty != row.filled_qty:
            problems.append(f"fills sum to {row.fill_qty}, filled_qty {row.filled_qty}")
        if problems:
            verdict.mismatched.append(f"{ack.id}: {'; '.join(problems)}")
    return verdict
