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

The plain-fields commands (limit, market, withdraw) deliver fills as tuples on a tape and return
the outcome; the event commands return the events they caused, in the order they happened.
"""

from __future__ import annotations

import dataclasses
from bisect import insort
from typing import Generic, cast

from trading_service.engine.core.book import (
    ACCOUNT,
    ID,
    OPEN,
    PRICE,
    PRIORITY,
    QTY,
    SIDE,
    SYMBOL,
    TIF,
    BookSide,
    OrderBook,
    Resting,
    open_qty,
    record,
    snapshot,
)
from trading_service.engine.core.house import NO_KEY, HouseQuote
from trading_service.engine.core.model import (
    Accepted,
    Canceled,
    Event,
    Expired,
    Fill,
    Id,
    Order,
    OrderRefused,
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
FILLED = "filled"
ALREADY_LIVE = "already live"
QTY_NOT_POSITIVE = "qty must be positive"
NO_LIMIT_PRICE = "a positive limit price is required"
NO_STOP_PRICE = "a positive stop price is required"

# Enum members as module constants: identity tests on them are the hot path's cheapest check.
_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_STOP = OrderType.STOP
_STOP_LIMIT = OrderType.STOP_LIMIT
_MARKET = OrderType.MARKET
_DAY = TimeInForce.DAY
_GTC = TimeInForce.GTC
_IOC = TimeInForce.IOC
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
    """Order books (each with its house quote) and pending stops for any number of symbols.

    Two ways in, one rule. The plain-fields commands `limit`, `market` and `withdraw` build
    nothing they do not keep: fills go onto the `fills` tape as tuples, the outcome is the return
    value. The event commands (`submit`, `cancel`, `replace`, `set_reference`, ...) take `Order`s
    and return events; they run the same matching and turn its fills into `Trade`s. Between the
    two, `enter` takes a new limit or market order by its fields and answers with the events
    `submit` gives for it: the engine's way in (trading_service/engine/commands.py).
    """

    def __init__(self, spread_bps: int = 10, house_size: int | None = None) -> None:
        if not 0 <= spread_bps < 20_000:
            raise ValueError("spread_bps must be in [0, 20000)")
        if house_size is not None and house_size < 0:
            raise ValueError("house_size must be >= 0 or None (unlimited)")
        self.spread_bps = spread_bps
        self.house_size = house_size
        self._books: dict[str, OrderBook[Id]] = {}
        self._stops: dict[str, StopBook[Id]] = {}
        # Every live order of every symbol by id: a resting order's record (book.py), or the
        # `Order` of a pending stop. Stops stay objects: the engine adjusts a pending stop's
        # protection on the object `order()` returns.
        self._orders: dict[Id, Resting | Order[Id]] = {}
        self._last_priority = 0
        # The plain-fields commands' fills, oldest first; the caller reads and clears it.
        self.fills: list[Fill[Id]] = []

    # --- read-only views -------------------------------------------------------------------

    def book(self, symbol: str) -> OrderBook[Id]:
        book = self._books.get(symbol)
        return OrderBook(symbol) if book is None else book

    def pending_stops(self, symbol: str) -> list[Order[Id]]:
        """Untriggered stop orders of `symbol`, oldest first."""
        stops = self._stops.get(symbol)
        return [] if stops is None else sorted(stops.orders.values(), key=lambda o: o.priority)

    def order(self, order_id: Id) -> Order[Id] | None:
        """A live order; None once it is filled, canceled or expired. A pending stop is the live
        object; a resting order a snapshot of its record."""
        live = self._orders.get(order_id)
        # `type() is list`, not isinstance(.., Order): a generic class's isinstance costs ~200 ns
        return snapshot(live) if type(live) is list else cast(Order[Id] | None, live)

    def is_live(self, order_id: Id) -> bool:
        """Whether the order is live (resting or a pending stop): `order() is not None` without
        building the snapshot."""
        return order_id in self._orders

    def reference(self, symbol: str) -> int | None:
        house = self.house(symbol)
        return None if house is None else house.reference

    def house(self, symbol: str) -> HouseQuote | None:
        book = self._books.get(symbol)
        return None if book is None else book.house

    def quote(self, symbol: str) -> Quote:
        book = self.book(symbol)
        bid, bid_size = _best_of(book.bids, book.house, _SELL)
        ask, ask_size = _best_of(book.asks, book.house, _BUY)
        return Quote(bid, bid_size, ask, ask_size)

    @property
    def last_priority(self) -> int:
        """The latest priority handed out; the next accepted or re-prioritised order gets more."""
        return self._last_priority

    # --- plain-fields commands: the hot path ------------------------------------------------
    # Each returns None when the order filled completely or rests, else why its rest was
    # canceled; ALREADY_LIVE when the id is live already (a redelivery: nothing happens). A
    # malformed order raises OrderRefused. The order's priority is `last_priority` afterwards.

    def limit(
        self,
        order_id: Id,
        account_id: Id,
        symbol: str,
        side: Side,
        price: int,
        qty: int,
        tif: TimeInForce = _GTC,
    ) -> str | None:
        """A limit order: trades what its price reaches now, then rests (DAY/GTC) or cancels."""
        if qty <= 0 or price <= 0:
            raise OrderRefused(QTY_NOT_POSITIVE if qty <= 0 else NO_LIMIT_PRICE)
        live = self._orders
        if order_id in live:
            return ALREADY_LIVE
        self._last_priority = priority = self._last_priority + 1
        try:  # a dict subscript is cheaper than .get(); try costs nothing until it raises
            book = self._books[symbol]
        except KeyError:
            book = self._book_for(symbol)
        buy = side is _BUY
        if not (tif is _GTC or tif is _DAY):
            return self._limit_now(book, order_id, account_id, buy, price, qty, tif)
        if buy:
            own, other, reach = book.bids, book.asks, -price
        else:
            own, other, reach = book.asks, book.bids, price
        # The common case first: nothing on the other side reaches the price (a key >= reach,
        # see BookSide), so the order rests without entering the matching loop.
        keys, house = other.keys, book.house
        left = qty
        if (keys and keys[-1] >= reach) or (
            house is not None and (house.buy_key if buy else house.sell_key) >= reach
        ):
            left, stopped = self._match(book, order_id, account_id, buy, price, qty)
            if not left:
                return None
            if stopped is SELF_TRADE_PREVENTED:
                return stopped
        # its record (book.py): open qty, id, account, priority, qty, price, side, tif, symbol,
        # no stop, no protection
        resting = [
            left, order_id, account_id, priority, qty, price, side, tif, symbol, None, None
        ]  # fmt: skip
        queue = own.levels.get(price)
        if queue is None:  # opens a level (BookSide.open_level, inline: the hot path)
            own.levels[price] = [resting]
            insort(own.keys, -reach)  # -reach: the price as a key of its own side
        else:
            queue.append(resting)
        live[order_id] = resting
        return None

    def market(
        self,
        order_id: Id,
        account_id: Id,
        symbol: str,
        side: Side,
        qty: int,
        protection: int | None,
        tif: TimeInForce = _IOC,
    ) -> str | None:
        """A market order: trades up to `protection` (None: at any price), the rest cancels.
        Only FOK changes anything among the times in force."""
        book = self._books.get(symbol)
        if qty <= 0 or book is None or book.house is None:
            raise OrderRefused(QTY_NOT_POSITIVE if qty <= 0 else NO_REFERENCE)
        if order_id in self._orders:
            return ALREADY_LIVE
        self._last_priority += 1
        buy = side is _BUY
        if tif is _FOK and self._available(book, account_id, buy, protection, qty) < qty:
            return FOK_NOT_FILLABLE
        left, stopped = self._match(book, order_id, account_id, buy, protection, qty)
        return stopped if left else None

    def _limit_now(
        self,
        book: OrderBook[Id],
        order_id: Id,
        account_id: Id,
        buy: bool,
        price: int,
        qty: int,
        tif: TimeInForce,
    ) -> str | None:
        """An IOC or FOK limit: trades what it can now, never rests."""
        if tif is _FOK and self._available(book, account_id, buy, price, qty) < qty:
            return FOK_NOT_FILLABLE
        left, stopped = self._match(book, order_id, account_id, buy, price, qty)
        if not left:
            return None
        return stopped if stopped is SELF_TRADE_PREVENTED else IOC_REST

    def withdraw(self, order_id: Id) -> bool:
        """Take a live order out (resting or pending); False when it is not live."""
        live = self._orders.pop(order_id, None)
        if live is None:
            return False
        if type(live) is not list:  # a pending stop (type(): see order())
            stop = cast(Order[Id], live)
            self._stops[stop.symbol].remove(stop)
            return True
        book = self._books[live[SYMBOL]]
        resting = book.bids if live[SIDE] is _BUY else book.asks
        price = live[PRICE]
        queue = resting.levels[price]
        queue.remove(live)  # BookSide.remove, inline: the hot path
        if not queue:
            resting.drop(price)
        return True

    # --- event commands ---------------------------------------------------------------------

    def submit(self, order: Order[Id]) -> list[Event[Id]]:
        """Accept a new order and trade it as far as it goes now (or park it until its stop).

        A live order id submitted again is ignored (returns []): the caller redelivered it.
        """
        type_ = order.type
        # A new limit or market order goes through its plain-fields command (one path for both
        # ways in); one with terms they do not take (shares filled before, a limit's protection)
        # through _execute.
        if (
            type_ is _MARKET or (type_ is _LIMIT and order.protection is None)
        ) and not order.filled:
            return self._enter(order)
        reason = self._invalid(order)
        if reason is not None:
            return [Rejected(order.id, reason)]
        if order.id in self._orders:
            return []
        self._last_priority = order.priority = self._last_priority + 1
        events: list[Event[Id]] = [Accepted(order.id, order.priority)]
        if order.type is _STOP or order.type is _STOP_LIMIT:
            self._wait_for_stop(order, events)
        else:
            self._execute(order, events)
        return events

    def enter(
        self,
        order_id: Id,
        account_id: Id,
        symbol: str,
        side: Side,
        type_: OrderType,
        tif: TimeInForce,
        qty: int,
        price: int | None,
    ) -> list[Event[Id]]:
        """A new limit or market order from its fields, by its plain-fields command, answered
        with the events `submit` gives: Accepted, its Trades, then Canceled with the reason its
        rest was canceled; [Rejected] when refused; [] for a live id (a redelivery). `price` is
        a limit's limit, a market order's protection. The engine's way in: no `Order` built."""
        fills = self.fills
        start = len(fills)
        try:
            if type_ is _LIMIT:
                reason = self.limit(
                    order_id,
                    account_id,
                    symbol,
                    side,
                    0 if price is None else price,  # refused like a missing limit
                    qty,
                    tif,
                )
            else:
                reason = self.market(order_id, account_id, symbol, side, qty, price, tif)
        except OrderRefused as refused:
            return [Rejected(order_id, refused.reason)]
        if reason is ALREADY_LIVE:
            return []
        events: list[Event[Id]] = [Accepted(order_id, self._last_priority)]
        if len(fills) > start:  # (most orders rest without trading: no call then)
            self._trades(order_id, symbol, side, start, events)
        if reason is not None:
            events.append(Canceled(order_id, reason))
        return events

    def _enter(self, order: Order[Id]) -> list[Event[Id]]:
        """`submit` of a new limit or market order: `enter`, the order updated as it went."""
        price = order.limit if order.type is _LIMIT else order.protection
        events = self.enter(
            order.id, order.account_id, order.symbol, order.side, order.type, order.tif,
            order.qty, price,
        )  # fmt: skip
        if events and type(events[0]) is Accepted:
            order.priority = self._last_priority
            if len(events) > 1:  # (most orders rest without trading: no sum then)
                order.filled = sum(e.qty for e in events if type(e) is Trade)
        return events

    def cancel(self, order_id: Id, reason: str = CANCELED_BY_USER) -> list[Event[Id]]:
        """Remove a live order; an unknown or finished order gives []."""
        return [Canceled(order_id, reason)] if self.withdraw(order_id) else []

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
        live = self._orders.get(order_id)
        if live is None:
            return []
        order = live if isinstance(live, Order) else snapshot(live)
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
            if isinstance(live, Order):
                live.qty = new_qty
            else:  # the filled shares stay filled
                live[OPEN] -= live[QTY] - new_qty
                live[QTY] = order.qty = new_qty
            return [Replaced(order.id, order.qty, order.limit, order.stop, order.priority)]

        # Loses its place: a fresh copy re-enters (a stop heap drops the old object lazily).
        self.withdraw(order_id)
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
        book = self._book_for(symbol)
        book.house = house = HouseQuote.around(price, self.spread_bps, self.house_size)
        events: list[Event[Id]] = []
        self._fill_crossed(book, house, events)
        stops = self._stops.get(symbol)
        if stops:
            for order in stops.pop_triggered(price):
                del self._orders[order.id]
                self._trigger(order, events)
        return events

    def expire_day_orders(self) -> list[Event[Id]]:
        """End of the trading day: every live DAY order expires, oldest first."""
        day = sorted(
            (live.priority, live.id) if isinstance(live, Order) else (live[PRIORITY], live[ID])
            for live in self._orders.values()
            if (live.tif if isinstance(live, Order) else live[TIF]) is _DAY
        )
        events: list[Event[Id]] = []
        for _, order_id in day:
            self.withdraw(order_id)
            events.append(Expired(order_id))
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
            self._orders[order.id] = order
        elif (order.type is _LIMIT or order.type is _STOP_LIMIT) and order.tif in (_DAY, _GTC):
            self._orders[order.id] = self._book_for(order.symbol).add(order)
        else:
            raise ValueError(f"order {order.id} ({order.type}, {order.tif}) cannot rest")
        self.advance_priority(order.priority)

    def advance_priority(self, past: int) -> None:
        """Hand out priorities above `past` from now on (e.g. the highest one ever stored)."""
        self._last_priority = max(self._last_priority, past)

    # --- the rule --------------------------------------------------------------------------

    def _match(
        self,
        book: OrderBook[Id],
        taker: Id,
        account: Id,
        buy: bool,
        bound: int | None,
        left: int,
    ) -> tuple[int, str]:
        """Trade `left` shares of an incoming order (rules 1-3 and 5), best price first, each
        trade at the resting price, onto the `fills` tape. Returns the shares left and, when
        some are, why it stopped.

        This is the core's hot path, hence the locals and the level drained in an inner loop.
        """
        resting = book.asks if buy else book.bids
        # Prices compare as keys (sign * price): a higher key is a better price for the taker.
        sign, keys, levels = resting.sign, resting.keys, resting.levels
        worst = _NO_BOUND if bound is None else sign * bound
        house = book.house
        house_key = NO_KEY if house is None else house.buy_key if buy else house.sell_key
        # `fills.append(...)` each time: 3.11 specialises it, a bound `append` saved once is slower
        live, fills = self._orders, self.fills
        while left:
            # a user order as good as the house or better (keys[-1] once: a negative index is
            # not specialised)
            if keys and (key := keys[-1]) >= house_key:
                if key < worst:
                    return left, PROTECTION_REACHED
                price = -key if buy else key  # sign * key, without a multiplication
                queue = levels[price]
                while queue:
                    maker = queue[0]
                    if maker[ACCOUNT] == account:
                        return left, SELF_TRADE_PREVENTED
                    qty = maker[OPEN]
                    if left < qty:  # the maker keeps resting, the taker is done
                        maker[OPEN] = qty - left
                        fills.append((taker, maker[ID], price, left))
                        return 0, FILLED
                    del queue[0]
                    del live[maker[ID]]
                    fills.append((taker, maker[ID], price, qty))
                    left -= qty
                    if not left:
                        break
                if not queue:
                    del levels[price]
                    keys.pop()
            elif house_key != NO_KEY:
                assert house is not None
                if house_key < worst:
                    return left, PROTECTION_REACHED
                qty = house.take(_BUY if buy else _SELL, left)
                left -= qty
                fills.append((taker, None, sign * house_key, qty))
                house_key = house.buy_key if buy else house.sell_key
            else:
                return left, NO_LIQUIDITY
        return 0, FILLED

    def _execute(self, order: Order[Id], events: list[Event[Id]]) -> None:
        """Trade a live (non-pending) order given as an `Order` now, its fills as `Trade` events;
        rest what a DAY/GTC limit leaves, cancel any other remainder with its reason (rule 4)."""
        symbol, side, tif = order.symbol, order.side, order.tif
        is_limit = order.type is _LIMIT or order.type is _STOP_LIMIT
        bound = order.limit if is_limit else order.protection
        book = self._book_for(symbol)
        buy = side is _BUY
        left = order.qty - order.filled
        if tif is _FOK and self._available(book, order.account_id, buy, bound, left) < left:
            events.append(Canceled(order.id, FOK_NOT_FILLABLE))
            return
        start = len(self.fills)
        left, stopped = self._match(book, order.id, order.account_id, buy, bound, left)
        order.filled = order.qty - left
        if len(self.fills) > start:
            self._trades(order.id, symbol, side, start, events)
        if not left:
            return
        if stopped is SELF_TRADE_PREVENTED:
            events.append(Canceled(order.id, SELF_TRADE_PREVENTED))
        elif is_limit and (tif is _DAY or tif is _GTC):
            resting = record(order)
            (book.bids if buy else book.asks).append(resting)
            self._orders[order.id] = resting
        elif is_limit:
            events.append(Canceled(order.id, IOC_REST))
        else:
            events.append(Canceled(order.id, stopped))

    def _trades(
        self, taker: Id, symbol: str, side: Side, start: int, events: list[Event[Id]]
    ) -> None:
        """Move the taker's fills from the tape (from `start` on) into `events` as `Trade`s: the
        tape is the plain-fields commands' own."""
        fills = self.fills
        if side is _BUY:
            for _, maker, price, qty in fills[start:]:
                events.append(Trade(symbol, price, qty, side, taker, maker))
        else:
            for _, maker, price, qty in fills[start:]:
                events.append(Trade(symbol, price, qty, side, maker, taker))
        del fills[start:]

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
                qty = house.take(side, maker[OPEN])
                maker[OPEN] -= qty
                if not maker[OPEN]:
                    del queue[0]
                    del self._orders[maker[ID]]
                    if not queue:
                        resting.drop(price)
                if side is _BUY:
                    events.append(Trade(book.symbol, price, qty, house_side, maker[ID], None))
                else:
                    events.append(Trade(book.symbol, price, qty, house_side, None, maker[ID]))

    def _available(
        self, book: OrderBook[Id], account: Id, buy: bool, bound: int | None, need: int
    ) -> int:
        """Shares an order could trade right now within `bound` (capped at what it needs): what
        comes before the first resting order of its own account, where self-trade prevention
        would stop it."""
        resting = book.asks if buy else book.bids
        sign = resting.sign
        worst = _NO_BOUND if bound is None else sign * bound
        total = 0
        own: int | None = None  # key of the best level holding an order of the same account
        for price, queue in resting.best_first():
            if sign * price < worst:
                break
            for maker in queue:
                if maker[ACCOUNT] == account:
                    own = sign * price
                    break
                total += maker[OPEN]
            if own is not None:
                break
        house = book.house
        house_key = NO_KEY if house is None else house.buy_key if buy else house.sell_key
        if (
            house is not None
            and house_key != NO_KEY
            and house_key >= worst
            # at an equal price users go first: an own order there stops it before the house
            and (own is None or house_key > own)
        ):
            size = house.size_for(_BUY if buy else _SELL)
            if size is None:
                return need
            total += size
        return min(total, need)

    def _wait_for_stop(self, order: Order[Id], events: list[Event[Id]]) -> None:
        house = self.house(order.symbol)
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
            return QTY_NOT_POSITIVE
        if (order.type is _LIMIT or order.type is _STOP_LIMIT) and (
            order.limit is None or order.limit <= 0
        ):
            return NO_LIMIT_PRICE
        if (order.type is _STOP or order.type is _STOP_LIMIT) and (
            order.stop is None or order.stop <= 0
        ):
            return NO_STOP_PRICE
        if order.type is _MARKET and self.house(order.symbol) is None:
            return NO_REFERENCE
        return None

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


# No bound (a market order without protection): every price key is at least this.
_NO_BOUND = NO_KEY


def _best_of(
    resting: BookSide, house: HouseQuote | None, house_trades_with: Side
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
