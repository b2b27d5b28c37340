"""Stop and stop-limit orders of one symbol, waiting for the reference price to cross their stop."""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import Generic

from trading_service.engine.core.model import Id, Order, Side

_BUY = Side.BUY


def stop_crossed(order: Order[Id], reference: int) -> bool:
    """A buy stop triggers when the reference rises to its stop, a sell stop when it falls to it."""
    assert order.stop is not None
    return reference >= order.stop if order.side is _BUY else reference <= order.stop


class StopBook(Generic[Id]):
    """Pending stops in two heaps, nearest stop on top, so a reference move only looks at the ones
    it crosses. Canceled stops leave the heaps lazily."""

    __slots__ = ("_buys", "_sells", "orders")

    def __init__(self) -> None:
        # (stop, priority, order): lowest buy stop first; sells keyed by -stop: highest first
        self._buys: list[tuple[int, int, Order[Id]]] = []
        self._sells: list[tuple[int, int, Order[Id]]] = []
        self.orders: dict[Id, Order[Id]] = {}  # by id, as in OrderBook

    def __len__(self) -> int:
        return len(self.orders)

    def add(self, order: Order[Id]) -> None:
        assert order.stop is not None
        if order.side is _BUY:
            heappush(self._buys, (order.stop, order.priority, order))
        else:
            heappush(self._sells, (-order.stop, order.priority, order))
        self.orders[order.id] = order

    def remove(self, order: Order[Id]) -> None:
        del self.orders[order.id]
        for heap in (self._buys, self._sells):
            if len(heap) > 2 * len(self.orders) + 16:
                heap[:] = [entry for entry in heap if self.orders.get(entry[2].id) is entry[2]]
                heapify(heap)

    def pop_triggered(self, reference: int) -> list[Order[Id]]:
        """Remove and return the stops `reference` crosses, oldest (lowest priority) first."""
        orders = self.orders
        fired: list[Order[Id]] = []
        buys, sells = self._buys, self._sells
        while buys and buys[0][0] <= reference:
            order = heappop(buys)[2]
            if orders.get(order.id) is order:
                fired.append(order)
        while sells and -sells[0][0] >= reference:
            order = heappop(sells)[2]
            if orders.get(order.id) is order:
                fired.append(order)
        for order in fired:
            del orders[order.id]
        fired.sort(key=lambda o: o.priority)
        return fired
