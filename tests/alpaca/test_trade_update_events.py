"""Trade-update events derived from the engine's reports (pure: no I/O)."""

from __future__ import annotations

import uuid
from typing import Any

from trading_service.alpaca.trade_updates import Seen, events_of

ORDER = str(uuid.uuid4())


def report(status: str, filled: int, replace_seq: int = 0) -> dict[str, Any]:
    return {"id": ORDER, "status": status, "filled_qty": filled, "replace_seq": replace_seq}


def fill(qty: int, price: str = "10.00") -> dict[str, Any]:
    return {"order_id": ORDER, "qty": qty, "price": price, "side": "buy", "symbol": "X", "ts": "t"}


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
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for order_id in ids:
        events_of({**report("new", 0), "id": order_id}, [], seen)
    assert seen.get(uuid.UUID(ids[0])) is None
    assert seen.get(uuid.UUID(ids[2])) is not None
