"""The executions feed and the request waiter on it (pure: no I/O, the hub's tap is called
directly; tests/realtime/test_executions_feed.py runs them on a real server and Redis)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from trading_service.engine.core.model import OrderType, Side
from trading_service.executions_feed import ExecutionsFeed
from trading_service.messages import Executions, FillReport, OrderReport
from trading_service.order_status import OrderStatus
from trading_service.orders.executions import (
    ExecutionWaiter,
    Reported,
    finished,
    replace_settled,
)

ORDER = uuid.uuid4()
NEW = OrderReport(
    ORDER,
    uuid.uuid4(),
    "AAPL",
    OrderStatus.NEW,
    0,
    0,
    OrderType.LIMIT,
    Side.BUY,
    datetime(2026, 3, 2, 15, tzinfo=UTC),
)


def message(*orders: OrderReport) -> bytes:
    return Executions(orders=orders).encode()


def test_every_listener_gets_the_decoded_message_in_order() -> None:
    feed, calls = ExecutionsFeed(), []
    feed.listen(lambda e: calls.append(("hub", e)))
    feed.listen(lambda e: calls.append(("waiter", e)))
    feed.tap(b"executions", message(NEW))
    assert calls == [("hub", Executions(orders=(NEW,))), ("waiter", Executions(orders=(NEW,)))]


def test_other_channels_and_malformed_messages_reach_no_listener() -> None:
    feed, calls = ExecutionsFeed(), []
    feed.listen(calls.append)
    feed.tap(b"prices", message(NEW))
    feed.tap(b"book:AAPL", message(NEW))
    feed.tap(b"executions", b'{"orders": [{"id": "nope"}]}')
    feed.tap(b"executions", b"\x00")
    assert calls == []


def test_a_failing_listener_does_not_keep_the_next_from_the_message() -> None:
    feed, calls = ExecutionsFeed(), []

    def broken(_: Executions) -> None:
        raise RuntimeError("a bug in one consumer")

    feed.listen(broken)
    feed.listen(calls.append)
    feed.tap(b"executions", message(NEW))
    assert calls == [Executions(orders=(NEW,))]


async def test_a_waiter_resolves_on_the_report_it_waits_for_only() -> None:
    waiter, feed = ExecutionWaiter(), ExecutionsFeed()
    feed.listen(waiter.on_executions)
    async with (
        waiter.expect(ORDER, finished) as cancel,
        waiter.expect(ORDER, replace_settled(2)) as replace,
        waiter.expect(uuid.uuid4()) as other,
    ):
        feed.tap(b"executions", message(dataclasses.replace(NEW, replace_seq=1)))
        assert not cancel.done() and not replace.done()
        feed.tap(b"executions", message(dataclasses.replace(NEW, replace_seq=2)))
        assert replace.done() and not cancel.done()
        feed.tap(b"executions", message(dataclasses.replace(NEW, status=OrderStatus.CANCELED)))
        assert cancel.done() and not other.done()
    assert waiter._waiting == {}  # nothing left behind once the requests stopped waiting


@pytest.mark.parametrize("status", [OrderStatus.FILLED, OrderStatus.EXPIRED, OrderStatus.REJECTED])
async def test_every_terminal_status_finishes_a_wait(status: OrderStatus) -> None:
    waiter = ExecutionWaiter()
    async with waiter.expect(ORDER, finished) as done:
        waiter.on_executions(Executions(orders=(dataclasses.replace(NEW, status=status),)))
        assert done.done()


def fill_of(report: OrderReport, qty: int, price: str = "100.05") -> FillReport:
    return FillReport(
        report.id, report.account_id, report.symbol, report.side, Decimal(price), qty,
        datetime(2026, 3, 2, 15, 0, 1, 123456, tzinfo=UTC),
    )  # fmt: skip


async def test_a_waiter_gets_the_report_and_only_its_own_orders_fills() -> None:
    waiter = ExecutionWaiter()
    filled = dataclasses.replace(NEW, status=OrderStatus.FILLED, filled_qty=3)
    other = dataclasses.replace(NEW, id=uuid.uuid4())
    mine, theirs = fill_of(filled, 2), fill_of(other, 5)
    async with waiter.expect(ORDER) as done:
        waiter.on_executions(
            Executions(orders=(other, filled), fills=(theirs, mine, fill_of(filled, 1)))
        )
        assert done.result() == Reported(filled, (mine, fill_of(filled, 1)))


async def test_a_waiter_resolved_by_a_report_without_fills_gets_none() -> None:
    waiter = ExecutionWaiter()
    async with waiter.expect(ORDER) as done:
        waiter.on_executions(Executions(orders=(NEW,)))
        assert done.result() == Reported(NEW, ())
