"""One symbol's resting user orders: price levels holding FIFO queues (price-time priority)."""

from __future__ import annotations

import uuid
from bisect import bisect_left, insort
from collections import deque

from trading_service.engine.core.model import Order, Side

# (price, total remaining qty, number of orders), best price first
DepthLevel = tuple[int, int, int]

_BUY = Side.BUY  # enum attribute lookups are slow; the hot path compares against a constant


class Level:
    """All resting orders at one price, oldest first.

    Canceled orders are dropped lazily: they stay in `orders` until they reach the front (or the
    queue is compacted), so a cancel is O(1). `qty` and `count` only ever count live orders.
    """

    __slots__ = ("count", "orders", "price", "qty")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.qty = 0
        self.count = 0


class BookSide:
    """The bids or the asks.

    Prices are kept as sorted keys with the best price last (key = price for bids, -price for
    asks), so the best level is `keys[-1]` and "at least as good as p" is `key >= sign * p` on
    both sides.
    """

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, side: Side) -> None:
        self.sign = 1 if side is _BUY else -1
        self.keys: list[int] = []
        self.levels: dict[int, Level] = {}

    def best(self) -> Level | None:
        keys = self.keys
        return self.levels[self.sign * keys[-1]] if keys else None

    def level_for(self, price: int) -> Level:
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            insort(self.keys, self.sign * price)
        return level

    def drop(self, level: Level) -> None:
        del self.levels[level.price]
        keys = self.keys
        key = self.sign * level.price
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def best_first(self, n: int | None = None) -> list[Level]:
        """The levels from the best price on (the best `n` if given)."""
        levels, sign, keys = self.levels, self.sign, self.keys
        stop = None if n is None or n >= len(keys) else len(keys) - 1 - n
        return [levels[sign * key] for key in keys[len(keys) - 1 : stop : -1]]


class OrderBook:
    """Resting limit orders of one symbol. The matching rule itself lives in matching.py."""

    __slots__ = ("asks", "bids", "orders", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids = BookSide(Side.BUY)
        self.asks = BookSide(Side.SELL)
        # The live resting orders by `order.id.int` (a UUID hashes in Python code, its int in C).
        # An order queued in a level but absent here was canceled.
        self.orders: dict[int, Order] = {}

    def __contains__(self, order_id: uuid.UUID) -> bool:
        return order_id.int in self.orders

    def side(self, side: Side) -> BookSide:
        return self.bids if side is _BUY else self.asks

    def best_bid(self) -> int | None:
        level = self.bids.best()
        return None if level is None else level.price

    def best_ask(self) -> int | None:
        level = self.asks.best()
        return None if level is None else level.price

    def add(self, order: Order) -> None:
        """Rest `order` at its limit price behind the orders already there."""
        assert order.limit is not None
        level = (self.bids if order.side is _BUY else self.asks).level_for(order.limit)
        queue = level.orders
        if queue and queue[-1].priority > order.priority:
            # Only a restore after a restart arrives out of time order: keep the FIFO sorted.
            at = bisect_left([o.priority for o in queue], order.priority)
            queue.insert(at, order)
        else:
            queue.append(order)
        level.qty += order.qty - order.filled
        level.count += 1
        self.orders[order.id.int] = order

    def remove(self, order: Order) -> None:
        """Take a live resting order out of the book (it stays queued as a dead entry)."""
        del self.orders[order.id.int]
        side = self.bids if order.side is _BUY else self.asks
        assert order.limit is not None
        level = side.levels[order.limit]
        level.qty -= order.qty - order.filled
        level.count -= 1
        if level.count == 0:
            side.drop(level)
        elif len(level.orders) > 2 * level.count + 16:
            # Many canceled orders piled up behind the front: compact so memory stays bounded.
            orders = self.orders
            level.orders = deque(o for o in level.orders if orders.get(o.id.int) is o)

    def head(self, level: Level) -> Order:
        """The oldest live order of a non-empty level (dead entries in front are discarded)."""
        queue, orders = level.orders, self.orders
        order = queue[0]
        while orders.get(order.id.int) is not order:
            queue.popleft()
            order = queue[0]
        return order

    def fill_head(self, level: Level, order: Order, qty: int) -> bool:
        """`order` (the level's head) traded `qty`; True when it is done and left the book."""
        order.filled += qty
        level.qty -= qty
        if order.filled < order.qty:
            return False
        level.orders.popleft()
        del self.orders[order.id.int]
        level.count -= 1
        if level.count == 0:
            (self.bids if order.side is _BUY else self.asks).drop(level)
        return True

    def resize(self, order: Order, qty: int) -> None:
        """Change a resting order's qty in place (it keeps its time priority)."""
        assert order.limit is not None
        self.side(order.side).levels[order.limit].qty += qty - order.qty
        order.qty = qty

    def queue(self, side: Side) -> list[Order]:
        """Live orders of one side in matching order: best price first, then oldest first."""
        orders = self.orders
        levels = self.side(side).best_first()
        return [o for level in levels for o in level.orders if orders.get(o.id.int) is o]

    def depth(self, n: int) -> tuple[list[DepthLevel], list[DepthLevel]]:
        """The best `n` levels per side as (price, qty, order count), best first."""
        bids = [(lv.price, lv.qty, lv.count) for lv in self.bids.best_first(n)]
        asks = [(lv.price, lv.qty, lv.count) for lv in self.asks.best_first(n)]
        return bids, asks
