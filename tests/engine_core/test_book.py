"""OrderBook and HouseQuote alone: levels, FIFO queues, removal, depth; quote rounding."""

from __future__ import annotations

import uuid

import pytest

from trading_service.engine.core.book import OrderBook
from trading_service.engine.core.house import HouseQuote
from trading_service.engine.core.model import Order, OrderType, Side, TimeInForce


def limit(n: int, side: Side, qty: int, price: int, priority: int | None = None) -> Order:
    return Order(
        uuid.UUID(int=n), uuid.UUID(int=0), "ACME", side, OrderType.LIMIT, TimeInForce.GTC,
        qty, price, priority=n if priority is None else priority,
    )  # fmt: skip


def test_depth_aggregates_levels_best_first() -> None:
    book = OrderBook("ACME")
    for n, (side, qty, price) in enumerate(
        [(Side.BUY, 5, 990), (Side.BUY, 3, 995), (Side.BUY, 2, 990), (Side.SELL, 4, 1001),
         (Side.SELL, 6, 1003), (Side.SELL, 1, 1002)], start=1,
    ):  # fmt: skip
        book.add(limit(n, side, qty, price))
    assert book.depth(10) == (
        [(995, 3, 1), (990, 7, 2)],
        [(1001, 4, 1), (1002, 1, 1), (1003, 6, 1)],
    )
    assert book.depth(1) == ([(995, 3, 1)], [(1001, 4, 1)])
    assert book.depth(0) == ([], [])
    assert (book.best_bid(), book.best_ask()) == (995, 1001)


def ids(orders: list[Order]) -> list[int]:
    return [o.id.int for o in orders]


def test_remove_updates_the_level_and_drops_it_when_empty() -> None:
    book = OrderBook("ACME")
    a, b = book.add(limit(1, Side.BUY, 5, 990)), book.add(limit(2, Side.BUY, 2, 990))
    book.remove(a)
    assert book.depth(5) == ([(990, 2, 1)], [])
    assert ids(book.queue(Side.BUY)) == [2]
    book.remove(b)
    assert book.depth(5) == ([], []) and book.best_bid() is None


def test_removal_keeps_the_others_in_fifo_order() -> None:
    book = OrderBook("ACME")
    resting = [book.add(limit(n, Side.SELL, 1, 1000)) for n in range(1, 5)]
    book.remove(resting[0])
    book.remove(resting[2])
    assert ids(book.queue(Side.SELL)) == [2, 4]
    assert book.depth(1) == ([], [(1000, 2, 2)])


def test_orders_with_equal_terms_but_other_ids_are_told_apart() -> None:
    """Records compare as lists: removal relies on the id telling two equal-looking orders
    apart, and takes out the one it is given, not the one queued before it."""
    book = OrderBook("ACME")
    first = book.add(limit(1, Side.BUY, 5, 990, priority=7))
    second = book.add(limit(2, Side.BUY, 5, 990, priority=7))
    book.remove(second)
    assert ids(book.queue(Side.BUY)) == [1] and book.bids.levels[990][0] is first


def test_a_snapshot_is_the_order_as_it_rests() -> None:
    book = OrderBook("ACME")
    order = limit(1, Side.SELL, 10, 1005, priority=3)
    order.filled = 4
    book.add(order)
    (got,) = book.queue(Side.SELL)
    assert (got.id, got.side, got.type, got.tif, got.qty, got.filled, got.limit, got.priority) == (
        order.id, Side.SELL, OrderType.LIMIT, TimeInForce.GTC, 10, 4, 1005, 3,
    )  # fmt: skip
    assert book.depth(1) == ([], [(1005, 6, 1)])


def test_many_adds_and_removes_leave_only_the_live_orders() -> None:
    book = OrderBook("ACME")
    book.add(limit(10_000, Side.BUY, 1, 990, priority=0))
    for n in range(1, 500):
        book.remove(book.add(limit(n, Side.BUY, 1, 990)))
    assert len(book.bids.levels[990]) == 1
    assert ids(book.queue(Side.BUY)) == [10_000]


def test_out_of_order_adds_keep_priority_order() -> None:
    book = OrderBook("ACME")
    book.add(limit(1, Side.SELL, 1, 1000, priority=9))
    book.add(limit(2, Side.SELL, 1, 1000, priority=4))
    book.add(limit(3, Side.SELL, 1, 1000, priority=6))
    assert [o.priority for o in book.queue(Side.SELL)] == [4, 6, 9]


@pytest.mark.parametrize(
    ("reference", "spread_bps", "bid", "ask"),
    [
        (10_000, 10, 9_995, 10_005),
        (10_001, 10, 9_995, 10_007),  # 9995.9995 down, 10006.0005 up
        (10_000, 0, 10_000, 10_000),
        (12_345, 25, 12_329, 12_361),  # 12329.57 down, 12360.43 up
        (1, 10, 0, 2),
    ],
)
def test_house_quote_rounding(reference: int, spread_bps: int, bid: int, ask: int) -> None:
    quote = HouseQuote.around(reference, spread_bps)
    assert (quote.bid, quote.ask) == (bid, ask)


def test_house_never_bids_zero() -> None:
    quote = HouseQuote.around(1, 10)
    assert quote.price_for(Side.SELL) is None
    assert quote.price_for(Side.BUY) == 2


def test_house_size_is_used_up() -> None:
    quote = HouseQuote.around(10_000, 10, size=10)
    assert quote.take(Side.BUY, 7) == 7
    assert quote.take(Side.BUY, 7) == 3
    assert quote.price_for(Side.BUY) is None
    assert quote.price_for(Side.SELL) == 9_995
    unlimited = HouseQuote.around(10_000, 10)
    assert unlimited.take(Side.SELL, 10**9) == 10**9 and unlimited.size_for(Side.SELL) is None
