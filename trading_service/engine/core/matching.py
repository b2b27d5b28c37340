"""The matching engine: price-time priority between user orders and the house.

The rule, for an incoming order (the aggressor):
1. It trades with whichever is better for it: the best resting user order or the house quote.
   At an equal price resting user orders go first, oldest (lowest priority) first.
2. Every trade happens at the resting side's price; the house's quote price when the house trades.
3. It never trades beyond its bound: the limit of a limit order, the protection price of a market
   order (or of a triggered stop). The house trades any size unless a size is configured.
4. The rest: a DAY/GTC limit order rests in the book; any other order cancels it with a reason.
   A fill-or-kill order that cannot fill completely right now cancels without trading at all.

When the reference price moves, the house re-quotes and the resting limits its new quote crosses
trade with it at their own limit price; then the stops the reference crossed trigger, oldest
first, each with a new priority, and trade by rules 1-4 as market (stop) or limit (stop-limit).

Every command returns the events it caused, in the order they happened.
"""

from __future__ import annotations

import dataclasses
import uuid

from trading_service.engine.core.book import Level, OrderBook
from trading_service.engine.core.house import HouseQuote
from trading_service.engine.core.model import (
    Accepted,
    Canceled,
    Event,
    Expired,
    Order,
    OrderType,
    Rejected,
    Replaced,
    Side,
    TimeInForce,
    Trade,
    Triggered,
)
from trading_service.engine.core.stops import StopBook, stop_crossed

NO_REFERENCE = "no reference price"
NO_LIQUIDITY = "no liquidity"
PROTECTION_REACHED = "protection price reached"
IOC_REST = "immediate-or-cancel rest"
FOK_NOT_FILLABLE = "fill-or-kill could not fill completely"
CANCELED_BY_USER = "canceled by user"

# Enum members as module constants: identity tests on them are the hot path's cheapest check.
_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_STOP = OrderType.STOP
_STOP_LIMIT = OrderType.STOP_LIMIT
_MARKET = OrderType.MARKET
_DAY = TimeInForce.DAY
_GTC = TimeInForce.GTC
_FOK = TimeInForce.FOK


@dataclasses.dataclass(frozen=True, slots=True)
class Quote:
    """Best bid and ask over user orders and the house. A size is None when the house quotes
    unlimited size at that price; a missing price has size 0."""

    bid: int | None
    bid_size: int | None
    ask: int | None
    ask_size: int | None


def _is_pending_stop(order: Order) -> bool:
    return (order.type is _STOP or order.type is _STOP_LIMIT) and not order.triggered


class MatchingEngine:
    """Order books, reference prices (house quotes) and pending stops for any number of symbols."""

    def __init__(self, spread_bps: int = 10, house_size: int | None = None) -> None:
        if not 0 <= spread_bps < 20_000:
            raise ValueError("spread_bps must be in [0, 20000)")
        if house_size is not None and house_size < 0:
            raise ValueError("house_size must be >= 0 or None (unlimited)")
        self.spread_bps = spread_bps
        self.house_size = house_size
        self._books: dict[str, OrderBook] = {}
        self._stops: dict[str, StopBook] = {}
        self._houses: dict[str, HouseQuote] = {}
        # Every live order of every symbol, resting or waiting for its stop, by `order.id.int`.
        self._orders: dict[int, Order] = {}
        self._last_priority = 0

    # --- read-only views -------------------------------------------------------------------

    def book(self, symbol: str) -> OrderBook:
        book = self._books.get(symbol)
        return OrderBook(symbol) if book is None else book

    def pending_stops(self, symbol: str) -> list[Order]:
        """Untriggered stop orders of `symbol`, oldest first."""
        stops = self._stops.get(symbol)
        return [] if stops is None else sorted(stops.orders.values(), key=lambda o: o.priority)

    def order(self, order_id: uuid.UUID) -> Order | None:
        """A live (resting or pending) order; None once it is filled, canceled or expired."""
        return self._orders.get(order_id.int)

    def reference(self, symbol: str) -> int | None:
        house = self._houses.get(symbol)
        return None if house is None else house.reference

    def house(self, symbol: str) -> HouseQuote | None:
        return self._houses.get(symbol)

    def quote(self, symbol: str) -> Quote:
        book = self.book(symbol)
        house = self._houses.get(symbol)
        bid, bid_size = _best_of(book.bids.best(), house, _SELL, 1)
        ask, ask_size = _best_of(book.asks.best(), house, _BUY, -1)
        return Quote(bid, bid_size, ask, ask_size)

    @property
    def last_priority(self) -> int:
        """The latest priority handed out; the next accepted or re-prioritised order gets more."""
        return self._last_priority

    # --- commands --------------------------------------------------------------------------

    def submit(self, order: Order) -> list[Event]:
        """Accept a new order and trade it as far as it goes now (or park it until its stop).

        A live order id submitted again is ignored (returns []): the caller redelivered it.
        """
        reason = self._invalid(order)
        if reason is not None:
            return [Rejected(order.id, reason)]
        if order.id.int in self._orders:
            return []
        self._last_priority = order.priority = self._last_priority + 1
        events: list[Event] = [Accepted(order.id, order.priority)]
        if order.type is _LIMIT or order.type is _MARKET:
            self._execute(order, events)
        else:
            self._wait_for_stop(order, events)
        return events

    def cancel(self, order_id: uuid.UUID, reason: str = CANCELED_BY_USER) -> list[Event]:
        """Remove a live order; an unknown or finished order gives []."""
        order = self._orders.pop(order_id.int, None)
        if order is None:
            return []
        self._unlink(order)
        return [Canceled(order_id, reason)]

    def replace(
        self,
        order_id: uuid.UUID,
        qty: int | None = None,
        limit: int | None = None,
        stop: int | None = None,
    ) -> list[Event]:
        """Change a live order's total qty, limit or stop price.

        Keeps time priority when only the qty shrinks; a price change or a larger qty takes a new
        priority, and a new limit may cross and trade at once, a new stop trigger at once.
        An impossible request changes nothing and returns []: unknown order, qty not above the
        filled qty, a limit for an order without one, a stop for an order no longer waiting on
        it, or a non-positive price. The caller validates beforehand; [] covers the race where
        the order filled or finished in between.
        """
        order = self._orders.get(order_id.int)
        if order is None:
            return []
        pending = _is_pending_stop(order)
        if (
            (qty is not None and qty <= order.filled)
            or (limit is not None and (order.limit is None or limit <= 0))
            or (stop is not None and (not pending or stop <= 0))
        ):
            return []
        new_qty = order.qty if qty is None else qty
        new_limit = order.limit if limit is None else limit
        new_stop = order.stop if stop is None else stop
        if new_limit == order.limit and new_stop == order.stop and new_qty <= order.qty:
            if pending:
                order.qty = new_qty
            else:
                self._books[order.symbol].resize(order, new_qty)
            return [Replaced(order.id, order.qty, order.limit, order.stop, order.priority)]

        # Loses its place: a fresh copy re-enters; the old object stays queued as a dead entry.
        del self._orders[order_id.int]
        self._unlink(order)
        self._last_priority += 1
        order = dataclasses.replace(
            order, qty=new_qty, limit=new_limit, stop=new_stop, priority=self._last_priority
        )
        events: list[Event] = [
            Replaced(order.id, order.qty, order.limit, order.stop, order.priority)
        ]
        if pending:
            self._wait_for_stop(order, events)
        else:
            self._execute(order, events)
        return events

    def set_reference(self, symbol: str, price: int) -> list[Event]:
        """A new reference price: the house re-quotes, crossed limits fill, crossed stops fire."""
        if price <= 0:
            raise ValueError("a reference price must be positive")
        house = self._houses[symbol] = HouseQuote.around(price, self.spread_bps, self.house_size)
        events: list[Event] = []
        book = self._books.get(symbol)
        if book is not None and book.orders:
            self._fill_crossed(book, house, events)
        stops = self._stops.get(symbol)
        if stops:
            for order in stops.pop_triggered(price):
                del self._orders[order.id.int]
                self._trigger(order, events)
        return events

    def expire_day_orders(self) -> list[Event]:
        """End of the trading day: every live DAY order expires, oldest first."""
        day = sorted((o for o in self._orders.values() if o.tif is _DAY), key=lambda o: o.priority)
        events: list[Event] = []
        for order in day:
            del self._orders[order.id.int]
            self._unlink(order)
            events.append(Expired(order.id))
        return events

    def restore(self, order: Order) -> None:
        """Put back an order accepted before a restart exactly as stored (priority, filled,
        triggered), without matching: a resting limit / triggered stop-limit, or a pending stop.
        Later priorities are handed out above every restored one."""
        if order.id.int in self._orders:
            raise ValueError(f"order {order.id} is already live")
        if order.filled >= order.qty:
            raise ValueError(f"order {order.id} has nothing left to rest")
        if _is_pending_stop(order):
            self._stops_for(order.symbol).add(order)
        elif (order.type is _LIMIT or order.type is _STOP_LIMIT) and order.tif in (_DAY, _GTC):
            self._book_for(order.symbol).add(order)
        else:
            raise ValueError(f"order {order.id} ({order.type}, {order.tif}) cannot rest")
        self._orders[order.id.int] = order
        self.advance_priority(order.priority)

    def advance_priority(self, past: int) -> None:
        """Hand out priorities above `past` from now on (e.g. the highest one ever stored)."""
        self._last_priority = max(self._last_priority, past)

    # --- the rule --------------------------------------------------------------------------

    def _execute(self, order: Order, events: list[Event]) -> None:
        """Trade a live (non-pending) order now; rest what a DAY/GTC limit leaves, cancel any
        other remainder."""
        is_limit = order.type is _LIMIT or order.type is _STOP_LIMIT
        bound = order.limit if is_limit else order.protection
        book = self._books.get(order.symbol)
        if book is None:
            book = self._books[order.symbol] = OrderBook(order.symbol)
        tif = order.tif
        if tif is _FOK and self._available(order, book, bound) < order.qty - order.filled:
            events.append(Canceled(order.id, FOK_NOT_FILLABLE))
            return
        stopped_at_bound = self._match(order, book, bound, events)
        if order.filled == order.qty:
            return
        if is_limit and (tif is _DAY or tif is _GTC):
            book.add(order)
            self._orders[order.id.int] = order
        elif is_limit:
            events.append(Canceled(order.id, IOC_REST))
        else:
            reason = PROTECTION_REACHED if stopped_at_bound else NO_LIQUIDITY
            events.append(Canceled(order.id, reason))

    def _match(self, order: Order, book: OrderBook, bound: int | None, events: list[Event]) -> bool:
        """Trade `order` with the other side, best price first, each trade at the resting price.

        Returns True when it stopped because the next available price was beyond `bound`.
        """
        symbol, side, taker = order.symbol, order.side, order.id
        buy = side is _BUY
        resting = book.asks if buy else book.bids
        # Prices compare as keys (sign * price): a higher key is a better price for `order`.
        sign, keys, levels = resting.sign, resting.keys, resting.levels
        worst = None if bound is None else sign * bound
        house = self._houses.get(symbol)
        house_price = None if house is None else house.price_for(side)
        left = order.qty - order.filled
        at_bound = False
        while left:
            if keys and (house_price is None or keys[-1] >= sign * house_price):
                # the best resting user order: as good as the house or better
                if worst is not None and keys[-1] < worst:
                    at_bound = True
                    break
                level = levels[sign * keys[-1]]
                maker = book.head(level)
                qty = min(left, maker.qty - maker.filled)
                left -= qty
                if book.fill_head(level, maker, qty):
                    del self._orders[maker.id.int]
                if buy:
                    events.append(Trade(symbol, level.price, qty, side, taker, maker.id))
                else:
                    events.append(Trade(symbol, level.price, qty, side, maker.id, taker))
            elif house_price is not None:
                assert house is not None
                if worst is not None and sign * house_price < worst:
                    at_bound = True
                    break
                qty = house.take(side, left)
                left -= qty
                if buy:
                    events.append(Trade(symbol, house_price, qty, side, taker, None))
                else:
                    events.append(Trade(symbol, house_price, qty, side, None, taker))
                house_price = house.price_for(side)
            else:
                break
        order.filled = order.qty - left
        return at_bound

    def _fill_crossed(self, book: OrderBook, house: HouseQuote, events: list[Event]) -> None:
        """The house quote moved through resting limits: each trades with the house at its own
        limit price, best price then oldest first, as far as the house's size goes. The house
        moved, so it is the aggressor."""
        for resting, side, house_side in ((book.bids, _BUY, _SELL), (book.asks, _SELL, _BUY)):
            sign = resting.sign
            while True:
                level = resting.best()
                house_price = house.price_for(side)
                if level is None or house_price is None or sign * level.price < sign * house_price:
                    break
                maker = book.head(level)
                qty = house.take(side, maker.qty - maker.filled)
                if book.fill_head(level, maker, qty):
                    del self._orders[maker.id.int]
                if side is _BUY:
                    events.append(Trade(book.symbol, level.price, qty, house_side, maker.id, None))
                else:
                    events.append(Trade(book.symbol, level.price, qty, house_side, None, maker.id))

    def _available(self, order: Order, book: OrderBook, bound: int | None) -> int:
        """Shares `order` could trade right now within `bound` (capped at what it needs)."""
        need = order.qty - order.filled
        resting = book.asks if order.side is _BUY else book.bids
        sign = resting.sign
        total = 0
        house = self._houses.get(order.symbol)
        house_price = None if house is None else house.price_for(order.side)
        if (
            house is not None
            and house_price is not None
            and (bound is None or sign * house_price >= sign * bound)
        ):
            size = house.size_for(order.side)
            if size is None:
                return need
            total += size
        for price, level in resting.levels.items():
            if bound is None or sign * price >= sign * bound:
                total += level.qty
        return min(total, need)

    def _wait_for_stop(self, order: Order, events: list[Event]) -> None:
        house = self._houses.get(order.symbol)
        if house is not None and stop_crossed(order, house.reference):
            self._trigger(order, events)
        else:
            self._stops_for(order.symbol).add(order)
            self._orders[order.id.int] = order

    def _trigger(self, order: Order, events: list[Event]) -> None:
        """The stop was crossed: the order goes live with a new priority."""
        order.triggered = True
        self._last_priority += 1
        order.priority = self._last_priority
        events.append(Triggered(order.id, order.priority))
        self._execute(order, events)

    # --- bookkeeping -----------------------------------------------------------------------

    def _invalid(self, order: Order) -> str | None:
        if order.qty <= 0:
            return "qty must be positive"
        if (order.type is _LIMIT or order.type is _STOP_LIMIT) and (
            order.limit is None or order.limit <= 0
        ):
            return "a positive limit price is required"
        if (order.type is _STOP or order.type is _STOP_LIMIT) and (
            order.stop is None or order.stop <= 0
        ):
            return "a positive stop price is required"
        if order.type is _MARKET and order.symbol not in self._houses:
            return NO_REFERENCE
        return None

    def _unlink(self, order: Order) -> None:
        """Take a live order out of its book or stop book (already out of `_orders`)."""
        if _is_pending_stop(order):
            self._stops[order.symbol].remove(order)
        else:
            self._books[order.symbol].remove(order)

    def _book_for(self, symbol: str) -> OrderBook:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = OrderBook(symbol)
        return book

    def _stops_for(self, symbol: str) -> StopBook:
        stops = self._stops.get(symbol)
        if stops is None:
            stops = self._stops[symbol] = StopBook()
        return stops


def _best_of(
    level: Level | None, house: HouseQuote | None, house_trades_with: Side, sign: int
) -> tuple[int | None, int | None]:
    """The better of a user level and the house side of the quote, sizes added on a tie."""
    house_price = None if house is None else house.price_for(house_trades_with)
    house_size = None if house is None else house.size_for(house_trades_with)
    if level is None:
        return (None, 0) if house_price is None else (house_price, house_size)
    if house_price is None or sign * level.price > sign * house_price:
        return level.price, level.qty
    if level.price == house_price:
        return level.price, None if house_size is None else level.qty + house_size
    return house_price, house_size
