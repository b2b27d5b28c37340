"""A deliberately naive matcher: the market model written as plainly as possible, to check the
real engine against. One flat list of live orders, scanned and sorted on every step; house prices
computed with exact fractions. Slow on purpose; clarity is all that matters here."""

from __future__ import annotations

import copy
import math
import uuid
from fractions import Fraction

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

STOP_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT)
LIMIT_TYPES = (OrderType.LIMIT, OrderType.STOP_LIMIT)


def is_pending(o: Order) -> bool:
    return o.type in STOP_TYPES and not o.triggered


def better_or_equal(taker: Side, a: int, b: int) -> bool:
    """Is price `a` at least as good as `b` for a taker on `taker`'s side?"""
    return a <= b if taker is Side.BUY else a >= b


class NaiveExchange:
    def __init__(self, spread_bps: int, house_size: int | None) -> None:
        self.spread = Fraction(spread_bps, 10_000)
        self.house_size = house_size
        self.live: list[Order] = []
        self.refs: dict[str, int] = {}
        # shares the house still trades with a user on a side (None: unlimited)
        self.house_left: dict[tuple[str, Side], int | None] = {}
        self.prio = 0

    def next_prio(self) -> int:
        self.prio += 1
        return self.prio

    def find(self, order_id: uuid.UUID) -> Order | None:
        for o in self.live:
            if o.id == order_id:
                return o
        return None

    def house_price(self, symbol: str, user_side: Side) -> int | None:
        if symbol not in self.refs:
            return None
        if self.house_left[(symbol, user_side)] == 0:
            return None
        ref = self.refs[symbol]
        if user_side is Side.BUY:
            return math.ceil(ref * (1 + self.spread / 2))
        bid = math.floor(ref * (1 - self.spread / 2))
        return bid if bid > 0 else None

    def house_take(self, symbol: str, user_side: Side, qty: int) -> int:
        left = self.house_left[(symbol, user_side)]
        if left is None:
            return qty
        qty = min(qty, left)
        self.house_left[(symbol, user_side)] = left - qty
        return qty

    def resting(self, symbol: str, side: Side) -> list[Order]:
        orders = [o for o in self.live if o.symbol == symbol and o.side == side]
        orders = [o for o in orders if not is_pending(o)]
        if side is Side.BUY:
            return sorted(orders, key=lambda o: (-(o.limit or 0), o.priority))
        return sorted(orders, key=lambda o: (o.limit or 0, o.priority))

    def bound(self, o: Order) -> int | None:
        return o.limit if o.type in LIMIT_TYPES else o.protection

    def within(self, o: Order, price: int) -> bool:
        b = self.bound(o)
        return b is None or better_or_equal(o.side, price, b)

    # --- commands ---

    def submit(self, order: Order) -> list[Event]:
        o = copy.copy(order)
        if o.qty <= 0:
            return [Rejected(o.id, "qty must be positive")]
        if o.type in LIMIT_TYPES and (o.limit is None or o.limit <= 0):
            return [Rejected(o.id, "a positive limit price is required")]
        if o.type in STOP_TYPES and (o.stop is None or o.stop <= 0):
            return [Rejected(o.id, "a positive stop price is required")]
        if o.type is OrderType.MARKET and o.symbol not in self.refs:
            return [Rejected(o.id, "no reference price")]
        if self.find(o.id) is not None:
            return []
        o.priority = self.next_prio()
        events: list[Event] = [Accepted(o.id, o.priority)]
        if o.type in STOP_TYPES:
            self.wait_or_trigger(o, events)
        else:
            self.execute(o, events)
        return events

    def stop_crossed(self, o: Order) -> bool:
        ref = self.refs.get(o.symbol)
        if ref is None:
            return False
        assert o.stop is not None
        return ref >= o.stop if o.side is Side.BUY else ref <= o.stop

    def wait_or_trigger(self, o: Order, events: list[Event]) -> None:
        if self.stop_crossed(o):
            self.trigger(o, events)
        else:
            self.live.append(o)

    def trigger(self, o: Order, events: list[Event]) -> None:
        o.triggered = True
        o.priority = self.next_prio()
        events.append(Triggered(o.id, o.priority))
        self.execute(o, events)

    def available(self, o: Order) -> int:
        """What it could trade before it reaches an order of its own account."""
        other = Side.SELL if o.side is Side.BUY else Side.BUY
        total = 0
        own_price = None
        for r in self.resting(o.symbol, other):
            assert r.limit is not None
            if not self.within(o, r.limit):
                continue
            if r.account_id == o.account_id:
                own_price = r.limit
                break
            total += r.remaining
        hp = self.house_price(o.symbol, o.side)
        if (
            hp is not None
            and self.within(o, hp)
            # the house comes after users at an equal price: only a strictly better one counts
            and (own_price is None or (hp != own_price and better_or_equal(o.side, hp, own_price)))
        ):
            left = self.house_left[(o.symbol, o.side)]
            if left is None:
                return 10**18
            total += left
        return total

    def execute(self, o: Order, events: list[Event]) -> None:
        if o.tif is TimeInForce.FOK and self.available(o) < o.remaining:
            events.append(Canceled(o.id, "fill-or-kill could not fill completely"))
            return
        other = Side.SELL if o.side is Side.BUY else Side.BUY
        beyond = False
        self_trade = False
        while o.remaining > 0:
            book = self.resting(o.symbol, other)
            hp = self.house_price(o.symbol, o.side)
            user = book[0] if book else None
            if user is not None and (hp is None or better_or_equal(o.side, user.limit, hp)):  # type: ignore[arg-type]
                assert user.limit is not None
                if not self.within(o, user.limit):
                    beyond = True
                    break
                if user.account_id == o.account_id:
                    self_trade = True
                    break
                qty = min(o.remaining, user.remaining)
                user.filled += qty
                o.filled += qty
                if user.remaining == 0:
                    self.live.remove(user)
                buy, sell = (o, user) if o.side is Side.BUY else (user, o)
                events.append(Trade(o.symbol, user.limit, qty, o.side, buy.id, sell.id))
            elif hp is not None:
                if not self.within(o, hp):
                    beyond = True
                    break
                qty = self.house_take(o.symbol, o.side, o.remaining)
                o.filled += qty
                buy_id = o.id if o.side is Side.BUY else None
                sell_id = None if o.side is Side.BUY else o.id
                events.append(Trade(o.symbol, hp, qty, o.side, buy_id, sell_id))
            else:
                break
        if o.remaining == 0:
            return
        if self_trade:
            events.append(Canceled(o.id, "self_trade_prevented"))
        elif o.type in LIMIT_TYPES and o.tif in (TimeInForce.DAY, TimeInForce.GTC):
            self.live.append(o)
        elif o.type in LIMIT_TYPES:
            events.append(Canceled(o.id, "immediate-or-cancel rest"))
        else:
            reason = "protection price reached" if beyond else "no liquidity"
            events.append(Canceled(o.id, reason))

    def cancel(self, order_id: uuid.UUID) -> list[Event]:
        o = self.find(order_id)
        if o is None:
            return []
        self.live.remove(o)
        return [Canceled(order_id, "canceled by user")]

    def replace(
        self, order_id: uuid.UUID, qty: int | None, limit: int | None, stop: int | None
    ) -> list[Event]:
        o = self.find(order_id)
        if o is None:
            return []
        pending = is_pending(o)
        if qty is not None and qty <= o.filled:
            return []
        if limit is not None and (o.limit is None or limit <= 0):
            return []
        if stop is not None and (not pending or stop <= 0):
            return []
        new_qty = o.qty if qty is None else qty
        new_limit = o.limit if limit is None else limit
        new_stop = o.stop if stop is None else stop
        keeps_priority = new_limit == o.limit and new_stop == o.stop and new_qty <= o.qty
        o.qty, o.limit, o.stop = new_qty, new_limit, new_stop
        if keeps_priority:
            return [Replaced(o.id, o.qty, o.limit, o.stop, o.priority)]
        self.live.remove(o)
        o.priority = self.next_prio()
        events: list[Event] = [Replaced(o.id, o.qty, o.limit, o.stop, o.priority)]
        if pending:
            self.wait_or_trigger(o, events)
        else:
            self.execute(o, events)
        return events

    def set_reference(self, symbol: str, price: int) -> list[Event]:
        self.refs[symbol] = price
        self.house_left[(symbol, Side.BUY)] = self.house_size
        self.house_left[(symbol, Side.SELL)] = self.house_size
        events: list[Event] = []
        for side, house_side in ((Side.BUY, Side.SELL), (Side.SELL, Side.BUY)):
            while True:
                book = self.resting(symbol, side)
                hp = self.house_price(symbol, side)
                if not book or hp is None:
                    break
                o = book[0]
                assert o.limit is not None
                # a resting buy is crossed when its limit >= house ask (a sell: <= house bid)
                crossed = o.limit >= hp if side is Side.BUY else o.limit <= hp
                if not crossed:
                    break
                qty = self.house_take(symbol, side, o.remaining)
                o.filled += qty
                if o.remaining == 0:
                    self.live.remove(o)
                buy_id = o.id if side is Side.BUY else None
                sell_id = None if side is Side.BUY else o.id
                events.append(Trade(symbol, o.limit, qty, house_side, buy_id, sell_id))
        fired = sorted(
            (o for o in self.live if o.symbol == symbol and is_pending(o) and self.stop_crossed(o)),
            key=lambda o: o.priority,
        )
        for o in fired:
            self.live.remove(o)
        for o in fired:
            self.trigger(o, events)
        return events

    def expire_day_orders(self) -> list[Event]:
        day = sorted((o for o in self.live if o.tif is TimeInForce.DAY), key=lambda o: o.priority)
        for o in day:
            self.live.remove(o)
        return [Expired(o.id) for o in day]

    def snapshot(self, symbol: str) -> dict[str, list[tuple[uuid.UUID, int | None, int, int, int]]]:
        """Resting orders per side in matching order, and pending stops by priority."""

        def row(o: Order) -> tuple[uuid.UUID, int | None, int, int, int]:
            return (o.id, o.limit, o.qty, o.filled, o.priority)

        pending = sorted(
            (o for o in self.live if o.symbol == symbol and is_pending(o)), key=lambda o: o.priority
        )
        return {
            "bids": [row(o) for o in self.resting(symbol, Side.BUY)],
            "asks": [row(o) for o in self.resting(symbol, Side.SELL)],
            "stops": [row(o) for o in pending],
        }
