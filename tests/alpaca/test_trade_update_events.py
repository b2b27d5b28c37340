"""Trade-update events derived from the engine's reports (pure: no I/O)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from trading_service.alpaca.trade_updates import Seen, events_of
from trading_service.engine.core.model import OrderType, Side
from trading_service.messages import FillReport, OrderReport
from trading_service.order_status import OrderStatus

ORDER = uuid.uuid4()
ACCOUNT = uuid.uuid4()
AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def report(status: str, filled: int, replace_seq: int = 0) -> OrderReport:
    return OrderReport(
        ORDER, ACCOUNT, "X", OrderStatus(status), filled, replace_seq, OrderType.LIMIT, Side.BUY, AT
    )


def fill(qty: int, price: str = "10.00") -> FillReport:
    return FillReport(ORDER, ACCOUNT, "X", Side.BUY, Decimal(price), qty, AT)


def kinds(events: list[Any]) -> list[str]:
    return [e.event for e in events]


def test_an_order_is_new_once_then_fills_partially_then_fully() -> None:
    seen = Seen()
    assert kinds(events_of(report("new", 0), [], seen)) == ["new"]
    assert kinds(events_of(report("new", 0), [], seen)) == []  # the same state again: nothing
    first = events_of(report("partially_filled", 3), [fill(3)], seen)
    assert kinds(first) == ["partial_fill"]
    last = events_of(report("filled", 10), [fill(4), fill(3)], seen)
    assert kinds(last) == ["partial_fill", "fill"]
    assert [e.qty for e in last] == [4, 3]
    # What the frames carry: the fill's price and time as the engine published them.
    assert (first[0].price, first[0].timestamp) == ("10.00", AT.isoformat())
    # Execution ids are stable per fill and distinct between fills.
    assert len({e.execution_id for e in [*first, *last]}) == 3


def test_a_market_order_filled_in_its_first_batch_is_new_then_fill() -> None:
    assert kinds(events_of(report("filled", 5), [fill(5)], Seen())) == ["new", "fill"]


def test_terminal_events_once_and_no_new_for_rejections() -> None:
    seen = Seen()
    assert kinds(events_of(report("rejected", 0), [], seen)) == ["rejected"]
    assert kinds(events_of(report("rejected", 0), [], seen)) == []
    other = Seen()
    assert kinds(events_of(report("canceled", 0), [], other)) == ["new", "canceled"]


def test_a_settled_replace_is_replaced_and_an_order_seen_late_is_not_new() -> None:
    seen = Seen()
    events_of(report("new", 0), [], seen)
    assert kinds(events_of(report("new", 0, replace_seq=1), [], seen)) == ["replaced"]
    late = Seen()
    assert kinds(events_of(report("partially_filled", 6), [fill(2)], late)) == ["partial_fill"]


def test_seen_forgets_the_oldest_orders_beyond_its_capacity() -> None:
    seen = Seen(capacity=2)
    ids = [uuid.uuid4() for _ in range(3)]
    for order_id in ids:
        events_of(dataclasses.replace(report("new", 0), id=order_id), [], seen)
    assert seen.get(ids[0]) is None
    assert seen.get(ids[2]) is not None
