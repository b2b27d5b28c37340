"""One symbol's resting user orders: price levels holding FIFO queues (price-time priority).

A resting order is a plain list, its record (fields by the index constants below), not an object:
a record is built for every order that rests, about every other message of a busy stream, and a
list costs a fraction of an `Order` to build. `snapshot` turns a record into an `Order` for readers.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Any, Generic, TypeAlias

from trading_service.engine.core.house import HouseQuote
from trading_service.engine.core.model import Id, Order, OrderType, Side

# A resting order's fields, by index. OPEN (shares still open) first: matching touches it most.
# STOP is None for a plain limit and the stop price of a triggered stop-limit resting here.
OPEN, ID, ACCOUNT, PRIORITY, QTY, PRICE, SIDE, TIF, SYMBOL, STOP, PROTECTION = range(11)
Resting: TypeAlias = list[Any]

# (price, total remaining qty, number of orders), best price first
DepthLevel = tuple[int, int, int]

_BUY = Side.BUY  # enum attribute lookups are slow; the hot path compares against a constant
_STOP_LIMIT = OrderType.STOP_LIMIT


def record(order: Order[Id]) -> Resting:
    """The record of an order about to rest: a limit or a triggered stop-limit."""
    stop = order.stop if order.type is _STOP_LIMIT else None
    return [
        order.qty - order.filled, order.id, order.account_id, order.priority, order.qty,
        order.limit, order.side, order.tif, order.symbol, stop, order.protection,
    ]  # fmt: skip


def snapshot(resting: Resting) -> Order[Any]:
    """The `Order` a record stands for, as of now (a copy: changing it changes nothing)."""
    stop = resting[STOP]
    return Order(
        resting[ID], resting[ACCOUNT], resting[SYMBOL], resting[SIDE],
        OrderType.LIMIT if stop is None else _STOP_LIMIT, resting[TIF], resting[QTY],
        resting[PRICE], stop, resting[PROTECTION], resting[QTY] - resting[OPEN],
        resting[PRIORITY], stop is not None,
    )  # fmt: skip


def open_qty(queue: list[Resting]) -> int:
    """Shares still open at one level."""
    return sum(r[OPEN] for r in queue)


class BookSide:
    """The bids or the asks: per price a queue of resting orders' records, oldest first.

    A queue is a list, not a deque: a busy book opens a level for about every other order that
    rests, a list is several times cheaper to create, and taking the oldest off a list (a memmove)
    stays cheap up to thousands of orders at one price.

    Prices are kept as sorted keys with the best price last (key = price for bids, -price for
    asks), so the best level is `keys[-1]` and "at least as good as p" is `key >= sign * p` on
    both sides. A level exists exactly while its queue is not empty.
    """

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, side: Side) -> None:
        self.sign = 1 if side is _BUY else -1
        self.keys: list[int] = []
        self.levels: dict[int, list[Resting]] = {}

    def best_price(self) -> int | None:
        keys = self.keys
        return self.sign * keys[-1] if keys else None

    def append(self, resting: Resting) -> None:
        """Queue the newest order (highest priority so far) at the back of its level."""
        price = resting[PRICE]
        queue = self.levels.get(price)
        if queue is None:
            self.open_level(price, resting)
        else:
            queue.append(resting)

    def open_level(self, price: int, first: Resting) -> None:
        """A new level at `price` holding the order `first`."""
        self.levels[price] = [first]
        insort(self.keys, self.sign * price)

    def add(self, resting: Resting) -> None:
        """Queue a record in time priority, whatever order they come in (a restore)."""
        queue = self.levels.get(resting[PRICE])
        priority = resting[PRIORITY]
        if queue and queue[-1][PRIORITY] > priority:
            queue.insert(bisect_left([r[PRIORITY] for r in queue], priority), resting)
        else:
            self.append(resting)

    def remove(self, resting: Resting) -> None:
        """Take a resting order out; O(orders at its price), a scan in C. Records compare as
        lists, and ids are unique among live orders, so the equal record is this one."""
        price = resting[PRICE]
        queue = self.levels[price]
        queue.remove(resting)
        if not queue:
            self.drop(price)

    def drop(self, price: int) -> None:
        """Forget an emptied level."""
        del self.levels[price]
        keys = self.keys
        key = self.sign * price
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def best_first(self, n: int | None = None) -> list[tuple[int, list[Resting]]]:
        """(price, queue) of the levels from the best price on (the best `n` if given)."""
        levels, sign, keys = self.levels, self.sign, self.keys
        stop = None if n is None or n >= len(keys) else len(keys) - 1 - n
        return [(sign * key, levels[sign * key]) for key in keys[len(keys) - 1 : stop : -1]]


class OrderBook(Generic[Id]):
    """Resting limit orders of one symbol and the house quoting it (None until the symbol has a
    reference price): one lookup gives the hot path everything an order can trade with. The
    matching rule itself lives in matching.py."""

    __slots__ = ("asks", "bids", "house", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids = BookSide(Side.BUY)
        self.asks = BookSide(Side.SELL)
        self.house: HouseQuote | None = None

    def side(self, side: Side) -> BookSide:
        return self.bids if side is _BUY else self.asks

    def best_bid(self) -> int | None:
        return self.bids.best_price()

    def best_ask(self) -> int | None:
        return self.asks.best_price()

    def add(self, order: Order[Id]) -> Resting:
        """Rest `order` at its limit price in time priority; returns its record."""
        resting = record(order)
        self.side(order.side).add(resting)
        return resting

    def remove(self, resting: Resting) -> None:
        """Take a resting order out of the book."""
        self.side(resting[SIDE]).remove(resting)

    def queue(self, side: Side) -> list[Order[Id]]:
        """Resting orders of one side in matching order (best price, then oldest first), as
        snapshots."""
        return [snapshot(r) for _, queue in self.side(side).best_first() for r in queue]

    def depth(self, n: int) -> tuple[list[DepthLevel], list[DepthLevel]]:
        """The best `n` levels per side as (price, open qty, order count), best first."""
        bids = [(p, open_qty(q), len(q)) for p, q in self.bids.best_first(n)]
        asks = [(p, open_qty(q), len(q)) for p, q in self.asks.best_first(n)]
        return bids, asks
