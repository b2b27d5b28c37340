"""One matching core per scope, so that money never crosses leagues: no I/O.

A scope is the league an account belongs to, or None for personal accounts. User orders only
match orders of their own scope; the house (the simulated market maker) quotes the same reference
price in every scope and trades with each of them, which moves no money between leagues. The
personal scope's book is the public one; a league's book is private to the league.

The cores share one priority sequence, so an order's stored priority still orders it against
every other order (a rebuild sorts by it, DAY orders expire oldest first).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from trading_service.engine.core.matching import MatchingEngine
from trading_service.engine.core.model import Event, Order, OrderType, Side, TimeInForce, Trade

Scope = uuid.UUID | None
PUBLIC: Scope = None


class ScopedCores:
    """Per-scope `MatchingEngine`s, created on first use, with the order → scope routing."""

    def __init__(self, spread_bps: int, house_size: int | None) -> None:
        self.spread_bps = spread_bps
        self.house_size = house_size
        self._cores: dict[Scope, MatchingEngine] = {}
        self._references: dict[str, int] = {}  # ticks: a scope created later quotes them too
        # The live orders of the leagues' scopes. An order not in it is the public scope's (or
        # not live): most orders are, and the public core's own index tells which are live, so
        # they cost no routing here (a UUID hashes in Python, ~3 hashes per order and trade).
        self._scope_of: dict[uuid.UUID, Scope] = {}
        self._last_priority = 0

    # --- views ------------------------------------------------------------------------------

    def core(self, scope: Scope) -> MatchingEngine:
        """The scope's core, ready for a command; a new one quotes every reference price known
        so far."""
        core = self._cores.get(scope)
        if core is None:
            core = self._cores[scope] = MatchingEngine(self.spread_bps, self.house_size)
            for symbol, price in self._references.items():
                core.set_reference(symbol, price)  # an empty book: nothing trades
        # Each core hands out priorities from its own counter: moved past the shared one first,
        # priorities stay unique and increasing across scopes.
        core.advance_priority(self._last_priority)
        return core

    @property
    def public(self) -> MatchingEngine:
        """The personal accounts' core: its book is the one /orderbook shows."""
        return self.core(PUBLIC)

    @property
    def scopes(self) -> list[Scope]:
        return list(self._cores)

    def scope_of(self, order_id: uuid.UUID) -> Scope:
        """The scope of a live order (PUBLIC when the order is not live anywhere)."""
        return self._scope_of.get(order_id, PUBLIC)

    def order(self, order_id: uuid.UUID) -> Order | None:
        scope = self._scope_of.get(order_id, PUBLIC)
        core = self._cores.get(scope)
        return None if core is None else core.order(order_id)

    def reference(self, symbol: str) -> int | None:
        return self._references.get(symbol)

    def busy(self, symbol: str) -> bool:
        """Whether any scope has a resting order or a pending stop of `symbol`."""
        for core in self._cores.values():
            book = core.book(symbol)
            if book.best_bid() is not None or book.best_ask() is not None:
                return True
            if core.pending_stops(symbol):
                return True
        return False

    @property
    def last_priority(self) -> int:
        return self._last_priority

    # --- commands ---------------------------------------------------------------------------

    def submit(self, order: Order, scope: Scope) -> list[Event]:
        core = self.core(scope)
        if self._live_elsewhere(order.id, scope):
            return []  # a redelivery, as the core would ignore it
        return self._track(core, scope, core.submit(order), [order.id])

    def enter(
        self,
        scope: Scope,
        order_id: uuid.UUID,
        account_id: uuid.UUID,
        symbol: str,
        side: Side,
        type_: OrderType,
        tif: TimeInForce,
        qty: int,
        price: int | None,
    ) -> list[Event]:
        """A new limit or market order from its fields (MatchingEngine.enter): the events
        `submit` gives for the same order, without building it."""
        core = self.core(scope)
        # (a public order cannot be live elsewhere while no league order is live)
        if (scope is not PUBLIC or self._scope_of) and self._live_elsewhere(order_id, scope):
            return []  # a redelivery, as the core would ignore it
        events = core.enter(order_id, account_id, symbol, side, type_, tif, qty, price)
        if scope is PUBLIC:
            # _track without a call: nothing to route; core() moved the core's counter past the
            # shared one and commands only raise it, so it is the newest priority
            self._last_priority = core.last_priority
            return events
        return self._track(core, scope, events, [order_id])

    def cancel(self, order_id: uuid.UUID) -> list[Event]:
        scope = self._scope_of.get(order_id, PUBLIC)
        if scope not in self._cores:
            return []
        core = self.core(scope)
        return self._track(core, scope, core.cancel(order_id), [order_id])

    def replace(
        self,
        order_id: uuid.UUID,
        qty: int | None = None,
        limit: int | None = None,
        stop: int | None = None,
    ) -> list[Event]:
        scope = self._scope_of.get(order_id, PUBLIC)
        if scope not in self._cores:
            return []
        core = self.core(scope)
        return self._track(core, scope, core.replace(order_id, qty, limit, stop), [order_id])

    def set_reference(self, symbol: str, price: int) -> list[Event]:
        """A new reference price in every scope: each house re-quotes, crossed limits fill
        against it, crossed stops fire and trade inside their own scope."""
        if price <= 0:
            raise ValueError("a reference price must be positive")
        self._references[symbol] = price
        events: list[Event] = []
        for scope in list(self._cores):
            core = self.core(scope)
            events += self._track(core, scope, core.set_reference(symbol, price), [])
        return events

    def expire_day_orders(self) -> list[Event]:
        events: list[Event] = []
        for scope in list(self._cores):
            core = self.core(scope)
            events += self._track(core, scope, core.expire_day_orders(), [])
        return events

    def restore(self, order: Order, scope: Scope) -> None:
        """Put back an order accepted before a restart into its scope (see MatchingEngine)."""
        if self._live_elsewhere(order.id, scope):
            raise ValueError(f"order {order.id} is already live")
        core = self.core(scope)
        core.restore(order)  # (raises if live in this scope)
        if scope is not PUBLIC:
            self._scope_of[order.id] = scope
        self.advance_priority(core.last_priority)

    def advance_priority(self, past: int) -> None:
        self._last_priority = max(self._last_priority, past)

    def _live_elsewhere(self, order_id: uuid.UUID, scope: Scope) -> bool:
        """Whether the order is live in a scope other than `scope`."""
        other = self._scope_of.get(order_id, PUBLIC)
        if other == scope:
            return False
        public = self._cores.get(PUBLIC)
        return other is not PUBLIC or (public is not None and public.is_live(order_id))

    def _track(
        self,
        core: MatchingEngine,
        scope: Scope,
        events: Iterable[Event],
        touched: list[uuid.UUID],
    ) -> list[Event]:
        """Keep the shared priority sequence and the routing of the orders `events` touched."""
        events = list(events)
        self.advance_priority(core.last_priority)
        if scope is PUBLIC:
            return events  # its orders are not routed (see _scope_of)
        ids = set(touched)
        for event in events:
            if type(event) is Trade:  # (a type test: getattr by name costs ~3x more per event)
                if event.buy_order_id is not None:  # None: the house's side
                    ids.add(event.buy_order_id)
                if event.sell_order_id is not None:
                    ids.add(event.sell_order_id)
            else:
                ids.add(event.order_id)  # type: ignore[union-attr]  # every other event has one
        for order_id in ids:
            if core.is_live(order_id):
                self._scope_of[order_id] = scope
            elif self._scope_of.get(order_id) == scope:
                del self._scope_of[order_id]
        return events
