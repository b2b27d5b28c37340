"""One symbol's resting user orders: price levels holding FIFO queues (price-time priority)."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from typing import Generic

from trading_service.engine.core.house import HouseQuote
from trading_service.engine.core.model import Id, Order, Side

# (price, total remaining qty, number of orders), best price first
DepthLevel = tuple[int, int, int]

_BUY = Side.BUY  # enum attribute lookups are slow; the hot path compares against a constant


def open_qty(queue: deque[Order[Id]]) -> int:
    """Shares still open at one level."""
    return sum(o.qty - o.filled for o in queue)


class BookSide(Generic[Id]):
    """The bids or the asks: per price a queue of resting orders, oldest first.

    Prices are kept as sorted keys with the best price last (key = price for bids, -price for
    asks), so the best level is `keys[-1]` and "at least as good as p" is `key >= sign * p` on
    both sides. A level exists exactly while its queue is not empty.
    """

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, side: Side) -> None:
        self.sign = 1 if side is _BUY else -1
        self.keys: list[int] = []
        self.levels: dict[int, deque[Order[Id]]] = {}

    def best_price(self) -> int | None:
        keys = self.keys
        return self.sign * keys[-1] if keys else None

    def append(self, order: Order[Id]) -> None:
        """Queue the newest order (highest priority so far) at the back of its level."""
        price = order.limit
        assert price is not None
        (self.levels.get(price) or self.open_level(price)).append(order)

    def open_level(self, price: int) -> deque[Order[Id]]:
        """A new, empty level at `price` (the caller queues an order in it at once)."""
        queue: deque[Order[Id]] = deque()
        self.levels[price] = queue
        insort(self.keys, self.sign * price)
        return queue

    def add(self, order: Order[Id]) -> None:
        """Queue `order` at its limit price in time priority, whatever order they come in (a
        restore after a restart)."""
        assert order.limit is not None
        queue = self.levels.get(order.limit)
        if queue and queue[-1].priority > order.priority:
            queue.insert(bisect_left([o.priority for o in queue], order.priority), order)
        else:
            self.append(order)

    def remove(self, order: Order[Id]) -> None:
        """Take a resting order out; O(orders at its price), a scan in C (orders compare by
        identity)."""
        assert order.limit is not None
        queue = self.levels[order.limit]
        queue.remove(order)
        if not queue:
            self.drop(order.limit)

    def drop(self, price: int) -> None:
        """Forget an emptied level."""
        del self.levels[price]
        keys = self.keys
        key = self.sign * price
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def best_first(self, n: int | None = None) -> list[tuple[int, deque[Order[Id]]]]:
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
        self.bids: BookSide[Id] = BookSide(Side.BUY)
        self.asks: BookSide[Id] = BookSide(Side.SELL)
        self.house: HouseQuote | None = None

    def side(self, side: Side) -> BookSide[Id]:
        return self.bids if side is _BUY else self.asks

    def best_bid(self) -> int | None:
        return self.bids.best_price()

    def best_ask(self) -> int | None:
        return self.asks.best_price()

    def add(self, order: Order[Id]) -> None:
        """Rest `order` at its limit price behind the orders already there."""
        (self.bids if order.side is _BUY else self.asks).add(order)

    def remove(self, order: Order[Id]) -> None:
        """Take a resting order out of the book."""
        (self.bids if order.side is _BUY else self.asks).remove(order)

    def queue(self, side: Side) -> list[Order[Id]]:
        """Resting orders of one side in matching order: best price first, then oldest first."""
        return [o for _, queue in self.side(side).best_first() for o in queue]

    def depth(self, n: int) -> tuple[list[DepthLevel], list[DepthLevel]]:
        """The best `n` levels per side as (price, open qty, order count), best first."""
        bids = [(p, open_qty(q), len(q)) for p, q in self.bids.best_first(n)]
        asks = [(p, open_qty(q), len(q)) for p, q in self.asks.best_first(n)]
        return bids, asks
