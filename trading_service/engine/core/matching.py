"""The matching engine: price-time priority between user orders and the house.

The rule, for an incoming order (the aggressor):
1. It trades with whichever is better for it: the best resting user order or the house quote.
   At an equal price resting user orders go first, oldest (lowest priority) first.
2. Every trade happens at the resting side's price; the house's quote price when the house trades.
3. It never trades beyond its bound: the limit of a limit order, the protection price of a market
   order (or of a triggered stop). The house trades any size unless a size is configured.
4. The rest: a DAY/GTC limit order rests in the book; any other order cancels it with a reason.
   A fill-or-kill order that cannot fill completely right now cancels without trading at all.
5. Self-trade prevention, "cancel newest": when the next resting order it would trade with
   belongs to its own account, the incoming order stops there and the rest of it is canceled
   (reason "self_trade_prevented"), even a DAY/GTC limit; the trades it made with orders ahead
   of its own stand, and its resting order stays untouched. A fill-or-kill order counts only
   what lies ahead of its own resting orders.

When the reference price moves, the house re-quotes and the resting limits its new quote crosses
trade with it at their own limit price; then the stops the reference crossed trigger, oldest
first, each with a new priority, and trade by rules 1-4 as market (stop) or limit (stop-limit).

Every command returns the events it caused, in the order they happened.
"""

from __future__ import annotations

import dataclasses
from typing import Generic

from trading_service.engine.core.book import BookSide, OrderBook, open_qty
from trading_service.engine.core.house import HouseQuote
from trading_service.engine.core.model import (
    Accepted,
    Canceled,
    Event,
    Expired,
    Id,
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
SELF_TRADE_PREVENTED = "self_trade_prevented"

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


def _is_pending_stop(order: Order[Id]) -> bool:
    return (order.type is _STOP or order.type is _STOP_LIMIT) and not order.triggered


class MatchingEngine(Generic[Id]):
    """Order books, reference prices (house quotes) and pending stops for any number of symbols."""

    def __init__(self, spread_bps: int = 10, house_size: int | None = None) -> None:
        if not 0 <= spread_bps < 20_000:
            raise ValueError("spread_bps must be in [0, 20000)")
        if house_size is not None and house_size < 0:
            raise ValueError("house_size must be >= 0 or None (unlimited)")
        self.spread_bps = spread_bps
        self.house_size = house_size
        self._books: dict[str, OrderBook[Id]] = {}
        self._stops: dict[str, StopBook[Id]] = {}
        self._houses: dict[str, HouseQuote] = {}
        # Every live order of every symbol, resting or waiting for its stop, by id.
        self._orders: dict[Id, Order[Id]] = {}
        self._last_priority = 0

    # --- read-only views -------------------------------------------------------------------

    def book(self, symbol: str) -> OrderBook[Id]:
        book = self._books.get(symbol)
        return OrderBook(symbol) if book is None else book

    def pending_stops(self, symbol: str) -> list[Order[Id]]:
        """Untriggered stop orders of `symbol`, oldest first."""
        stops = self._stops.get(symbol)
        return [] if stops is None else sorted(stops.orders.values(), key=lambda o: o.priority)

    def order(self, order_id: Id) -> Order[Id] | None:
        """A live (resting or pending) order; None once it is filled, canceled or expired."""
        return self._orders.get(order_id)

    def reference(self, symbol: str) -> int | None:
        house = self._houses.get(symbol)
        return None if house is None else house.reference

    def house(self, symbol: str) -> HouseQuote | None:
        return self._houses.get(symbol)

    def quote(self, symbol: str) -> Quote:
        book = self.book(symbol)
        house = self._houses.get(symbol)
        bid, bid_size = _best_of(book.bids, house, _SELL)
        ask, ask_size = _best_of(book.asks, house, _BUY)
        return Quote(bid, bid_size, ask, ask_size)

    @property
    def last_priority(self) -> int:
        """The latest priority handed out; the next accepted or re-prioritised order gets more."""
        return self._last_priority

    # --- commands --------------------------------------------------------------------------

    def submit(self, order: Order[Id]) -> list[Event[Id]]:
        """Accept a new order and trade it as far as it goes now (or park it until its stop).

        A live order id submitted again is ignored (returns []): the caller redelivered it.
        """
        type_, limit = order.type, order.limit
        # the common cases, a well-formed limit or market order, without a call to _invalid
        if not (
            order.qty > 0
            and (
                (limit is not None and limit > 0)
                if type_ is _LIMIT
                else (type_ is _MARKET and order.symbol in self._houses)
            )
        ):
            reason = self._invalid(order)
            if reason is not None:
                return [Rejected(order.id, reason)]
        if order.id in self._orders:
            return []
        self._last_priority = order.priority = self._last_priority + 1
        events: list[Event[Id]] = [Accepted(order.id, order.priority)]
        if type_ is _STOP or type_ is _STOP_LIMIT:
            self._wait_for_stop(order, events)
        elif type_ is _MARKET or not self._rest_at_once(order):
            self._execute(order, events)
        return events

    def cancel(self, order_id: Id, reason: str = CANCELED_BY_USER) -> list[Event[Id]]:
        """Remove a live order; an unknown or finished order gives []."""
        order = self._orders.pop(order_id, None)
        if order is None:
            return []
        self._unlink(order)
        return [Canceled(order_id, reason)]

    def replace(
        self,
        order_id: Id,
        qty: int | None = None,
        limit: int | None = None,
        stop: int | None = None,
    ) -> list[Event[Id]]:
        """Change a live order's total qty, limit or stop price.

        Keeps time priority when only the qty shrinks; a price change or a larger qty takes a new
        priority, and a new limit may cross and trade at once, a new stop trigger at once.
        An impossible request changes nothing and returns []: unknown order, qty not above the
        filled qty, a limit for an order without one, a stop for an order no longer waiting on
        it, or a non-positive price. The caller validates beforehand; [] covers the race where
        the order filled or finished in between.
        """
        order = self._orders.get(order_id)
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
            order.qty = new_qty
            return [Replaced(order.id, order.qty, order.limit, order.stop, order.priority)]

        # Loses its place: a fresh copy re-enters (a stop heap drops the old object lazily).
        del self._orders[order_id]
        self._unlink(order)
        self._last_priority += 1
        order = dataclasses.replace(
            order, qty=new_qty, limit=new_limit, stop=new_stop, priority=self._last_priority
        )
        events: list[Event[Id]] = [
            Replaced(order.id, order.qty, order.limit, order.stop, order.priority)
        ]
        if pending:
            self._wait_for_stop(order, events)
        else:
            self._execute(order, events)
        return events

    def set_reference(self, symbol: str, price: int) -> list[Event[Id]]:
        """A new reference price: the house re-quotes, crossed limits fill, crossed stops fire."""
        if price <= 0:
            raise ValueError("a reference price must be positive")
        house = self._houses[symbol] = HouseQuote.around(price, self.spread_bps, self.house_size)
        events: list[Event[Id]] = []
        book = self._books.get(symbol)
        if book is not None:
            self._fill_crossed(book, house, events)
        stops = self._stops.get(symbol)
        if stops:
            for order in stops.pop_triggered(price):
                del self._orders[order.id]
                self._trigger(order, events)
        return events

    def expire_day_orders(self) -> list[Event[Id]]:
        """End of the trading day: every live DAY order expires, oldest first."""
        day = sorted((o for o in self._orders.values() if o.tif is _DAY), key=lambda o: o.priority)
        events: list[Event[Id]] = []
        for order in day:
            del self._orders[order.id]
            self._unlink(order)
            events.append(Expired(order.id))
        return events

    def restore(self, order: Order[Id]) -> None:
        """Put back an order accepted before a restart exactly as stored (priority, filled,
        triggered), without matching: a resting limit / triggered stop-limit, or a pending stop.
        Later priorities are handed out above every restored one."""
        if order.id in self._orders:
            raise ValueError(f"order {order.id} is already live")
        if order.filled >= order.qty:
            raise ValueError(f"order {order.id} has nothing left to rest")
        if _is_pending_stop(order):
            self._stops_for(order.symbol).add(order)
        elif (order.type is _LIMIT or order.type is _STOP_LIMIT) and order.tif in (_DAY, _GTC):
            self._book_for(order.symbol).add(order)
        else:
            raise ValueError(f"order {order.id} ({order.type}, {order.tif}) cannot rest")
        self._orders[order.id] = order
        self.advance_priority(order.priority)

    def advance_priority(self, past: int) -> None:
        """Hand out priorities above `past` from now on (e.g. the highest one ever stored)."""
        self._last_priority = max(self._last_priority, past)

    # --- the rule --------------------------------------------------------------------------

    def _rest_at_once(self, order: Order[Id]) -> bool:
        """The common case in a shortcut: a DAY/GTC limit that nothing on the other side
        reaches (no user order, no house price) rests without going through `_execute`."""
        if order.type is not _LIMIT or not (order.tif is _GTC or order.tif is _DAY):
            return False
        book = self._books.get(order.symbol)
        if book is None:
            return False
        assert order.limit is not None
        buy = order.side is _BUY
        other = book.asks if buy else book.bids
        reach = other.sign * order.limit  # keys of prices it would trade at are >= this
        if other.keys and other.keys[-1] >= reach:
            return False
        house = self._houses.get(order.symbol)
        house_price = None if house is None else house.price_for(order.side)
        if house_price is not None and other.sign * house_price >= reach:
            return False
        (book.bids if buy else book.asks).append(order)
        self._orders[order.id] = order
        return True

    def _execute(self, order: Order[Id], events: list[Event[Id]]) -> None:
        """Trade a live (non-pending) order now, best price first, each trade at the resting
        price; rest what a DAY/GTC limit leaves, cancel any other remainder with its reason.

        This is the core's hot path: it works on the book's levels directly instead of calling
        a method of the book per trade.
        """
        symbol, side, tif = order.symbol, order.side, order.tif
        is_limit = order.type is _LIMIT or order.type is _STOP_LIMIT
        bound = order.limit if is_limit else order.protection
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = OrderBook(symbol)
        if tif is _FOK and self._available(order, book, bound) < order.qty - order.filled:
            events.append(Canceled(order.id, FOK_NOT_FILLABLE))
            return
        buy = side is _BUY
        resting = book.asks if buy else book.bids
        # Prices compare as keys (sign * price): a higher key is a better price for `order`.
        sign, keys, levels = resting.sign, resting.keys, resting.levels
        worst = None if bound is None else sign * bound
        house = self._houses.get(symbol)
        house_price = None if house is None else house.price_for(side)
        taker, account, live = order.id, order.account_id, self._orders
        left = order.qty - order.filled
        stopped = NO_LIQUIDITY  # why it stopped short of a complete fill
        while left:
            if keys and (house_price is None or keys[-1] >= sign * house_price):
                # the best resting user order: as good as the house or better
                if worst is not None and keys[-1] < worst:
                    stopped = PROTECTION_REACHED
                    break
                price = sign * keys[-1]
                queue = levels[price]
                maker = queue[0]
                if maker.account_id == account:
                    stopped = SELF_TRADE_PREVENTED
                    break
                qty = maker.qty - maker.filled
                if left < qty:
                    qty = left
                maker.filled += qty
                left -= qty
                if maker.filled == maker.qty:
                    queue.popleft()
                    del live[maker.id]
                    if not queue:
                        del levels[price]
                        keys.pop()
                if buy:
                    events.append(Trade(symbol, price, qty, side, taker, maker.id))
                else:
                    events.append(Trade(symbol, price, qty, side, maker.id, taker))
            elif house_price is not None:
                assert house is not None
                if worst is not None and sign * house_price < worst:
                    stopped = PROTECTION_REACHED
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
        if not left:
            return
        if stopped is SELF_TRADE_PREVENTED:
            events.append(Canceled(taker, SELF_TRADE_PREVENTED))
        elif is_limit and (tif is _DAY or tif is _GTC):
            (book.bids if buy else book.asks).append(order)
            live[taker] = order
        elif is_limit:
            events.append(Canceled(taker, IOC_REST))
        else:
            events.append(Canceled(taker, stopped))

    def _fill_crossed(
        self, book: OrderBook[Id], house: HouseQuote, events: list[Event[Id]]
    ) -> None:
        """The house quote moved through resting limits: each trades with the house at its own
        limit price, best price then oldest first, as far as the house's size goes. The house
        moved, so it is the aggressor."""
        for resting, side, house_side in ((book.bids, _BUY, _SELL), (book.asks, _SELL, _BUY)):
            sign = resting.sign
            while True:
                price = resting.best_price()
                house_price = house.price_for(side)
                if price is None or house_price is None or sign * price < sign * house_price:
                    break
                queue = resting.levels[price]
                maker = queue[0]
                qty = house.take(side, maker.qty - maker.filled)
                maker.filled += qty
                if maker.filled == maker.qty:
                    queue.popleft()
                    del self._orders[maker.id]
                    if not queue:
                        resting.drop(price)
                if side is _BUY:
                    events.append(Trade(book.symbol, price, qty, house_side, maker.id, None))
                else:
                    events.append(Trade(book.symbol, price, qty, house_side, None, maker.id))

    def _available(self, order: Order[Id], book: OrderBook[Id], bound: int | None) -> int:
        """Shares `order` could trade right now within `bound` (capped at what it needs): what
        comes before the first resting order of its own account, where self-trade prevention
        would stop it."""
        need = order.qty - order.filled
        resting = book.asks if order.side is _BUY else book.bids
        sign = resting.sign
        worst = None if bound is None else sign * bound
        total = 0
        own: int | None = None  # key of the best level holding an order of the same account
        for price, queue in resting.best_first():
            if worst is not None and sign * price < worst:
                break
            for maker in queue:
                if maker.account_id == order.account_id:
                    own = sign * price
                    break
                total += maker.qty - maker.filled
            if own is not None:
                break
        house = self._houses.get(order.symbol)
        house_price = None if house is None else house.price_for(order.side)
        if (
            house is not None
            and house_price is not None
            and (worst is None or sign * house_price >= worst)
            # at an equal price users go first: an own order there stops it before the house
            and (own is None or sign * house_price > own)
        ):
            size = house.size_for(order.side)
            if size is None:
                return need
            total += size
        return min(total, need)

    def _wait_for_stop(self, order: Order[Id], events: list[Event[Id]]) -> None:
        house = self._houses.get(order.symbol)
        if house is not None and stop_crossed(order, house.reference):
            self._trigger(order, events)
        else:
            self._stops_for(order.symbol).add(order)
            self._orders[order.id] = order

    def _trigger(self, order: Order[Id], events: list[Event[Id]]) -> None:
        """The stop was crossed: the order goes live with a new priority."""
        order.triggered = True
        self._last_priority += 1
        order.priority = self._last_priority
        events.append(Triggered(order.id, order.priority))
        self._execute(order, events)

    # --- bookkeeping -----------------------------------------------------------------------

    def _invalid(self, order: Order[Id]) -> str | None:
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

    def _unlink(self, order: Order[Id]) -> None:
        """Take a live order out of its book or stop book (already out of `_orders`)."""
        if order.type is _LIMIT or order.triggered:  # resting in a book, not a pending stop
            book = self._books[order.symbol]
            (book.bids if order.side is _BUY else book.asks).remove(order)
        else:
            self._stops[order.symbol].remove(order)

    def _book_for(self, symbol: str) -> OrderBook[Id]:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = OrderBook(symbol)
        return book

    def _stops_for(self, symbol: str) -> StopBook[Id]:
        stops = self._stops.get(symbol)
        if stops is None:
            stops = self._stops[symbol] = StopBook()
        return stops


def _best_of(
    resting: BookSide[Id], house: HouseQuote | None, house_trades_with: Side
) -> tuple[int | None, int | None]:
    """The better of the best user level and the house side of the quote, sizes added on a tie."""
    house_price = None if house is None else house.price_for(house_trades_with)
    house_size = None if house is None else house.size_for(house_trades_with)
    price, sign = resting.best_price(), resting.sign
    if price is None:
        return (None, 0) if house_price is None else (house_price, house_size)
    qty = open_qty(resting.levels[price])
    if house_price is None or sign * price > sign * house_price:
        return price, qty
    if price == house_price:
        return price, None if house_size is None else qty + house_size
    return house_price, house_size
