"""Lets a request wait for the engine: futures per order, resolved from the process's one
executions feed (trading_service/executions_feed.py)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple

from trading_service.messages import Executions, FillReport, OrderReport
from trading_service.order_status import TERMINAL

# What a waiter waits for, given the engine's report on its order.
Outcome = Callable[[OrderReport], bool]


class Reported(NamedTuple):
    """What resolved a waiter: the engine's report on the order, and the order's fills in the
    same message (its fills of that batch)."""

    report: OrderReport
    fills: tuple[FillReport, ...]


def processed(_: OrderReport) -> bool:
    """Any report: the engine has seen the order."""
    return True


def finished(report: OrderReport) -> bool:
    """The order is done (a cancel waits for this, not for an unrelated fill or replace)."""
    return report.status in TERMINAL


def replace_settled(seq: int) -> Outcome:
    """The engine applied or refused replace number `seq` of the order (or a later one)."""
    return lambda report: report.replace_seq >= seq or finished(report)


class ExecutionWaiter:
    """Resolves a waiting request when the engine reports what it waits for about that order."""

    def __init__(self) -> None:
        self._waiting: dict[uuid.UUID, list[tuple[Outcome, asyncio.Future[Reported]]]] = {}

    @contextlib.asynccontextmanager
    async def expect(
        self, order_id: uuid.UUID, outcome: Outcome = processed
    ) -> AsyncIterator[asyncio.Future[Reported]]:
        """Register before handing the order off, so a fast engine cannot be missed."""
        future: asyncio.Future[Reported] = asyncio.get_running_loop().create_future()
        entry = (outcome, future)
        self._waiting.setdefault(order_id, []).append(entry)
        try:
            yield future
        finally:
            entries = self._waiting.get(order_id, [])
            if entry in entries:
                entries.remove(entry)
            if not entries:
                self._waiting.pop(order_id, None)

    def on_executions(self, executions: Executions) -> None:
        """A listener of the executions feed: one dict lookup per report and fill of the
        message; only the orders someone waits for go further."""
        waiting = self._waiting
        if not waiting:
            return
        fills: dict[uuid.UUID, list[FillReport]] = {}
        for fill in executions.fills:
            if fill.order_id in waiting:
                fills.setdefault(fill.order_id, []).append(fill)
        for report in executions.orders:
            entries = waiting.get(report.id)
            if not entries:
                continue
            reported = Reported(report, tuple(fills.get(report.id, ())))
            for outcome, future in entries:
                if not future.done() and outcome(report):
                    future.set_result(reported)
