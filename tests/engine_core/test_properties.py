"""Random order streams through the engine and the naive matcher: same events, same books, and the
market model's invariants hold after every step."""

from __future__ import annotations

import copy
import uuid
from collections import defaultdict
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine_core.naive import NaiveExchange
from trading_service.engine.core.matching import MatchingEngine
from trading_service.engine.core.model import (
    Event,
    Order,
    OrderType,
    Replaced,
    Side,
    TimeInForce,
    Trade,
)

SYMBOLS = ("AAA", "BBB")
LIMIT_TYPES = (OrderType.LIMIT, OrderType.STOP_LIMIT)


@dataclass(frozen=True)
class Submit:
    symbol: str
    side: Side
    type: OrderType
    tif: TimeInForce
    qty: int
    limit: int | None
    stop: int | None
    protection: int | None
    account: int  # few accounts, so orders often meet their own (self-trade prevention)


@dataclass(frozen=True)
class Cancel:
    pick: int


@dataclass(frozen=True)
class Replace:
    """Changes relative to the order's current terms, so they land near what it has."""

    pick: int
    qty_change: int | None
    limit_change: int | None
    stop_change: int | None


@dataclass(frozen=True)
class Reference:
    symbol: str
    price: int


@dataclass(frozen=True)
class ExpireDay:
    pass


Command = Submit | Cancel | Replace | Reference | ExpireDay

prices = st.integers(min_value=992, max_value=1008)
maybe_price = st.one_of(st.none(), prices)


@st.composite
def submits(draw: st.DrawFn) -> Submit:
    type_ = draw(st.sampled_from(list(OrderType)))
    # Mostly well-formed orders, with an occasional missing price or zero qty to hit rejections.
    limit = draw(prices) if type_ in LIMIT_TYPES else None
    stop = draw(prices) if type_ in (OrderType.STOP, OrderType.STOP_LIMIT) else None
    if draw(st.integers(0, 19)) == 0:
        limit, stop = None, None
    return Submit(
        symbol=draw(st.sampled_from(SYMBOLS)),
        side=draw(st.sampled_from(list(Side))),
        type=type_,
        tif=draw(st.sampled_from(list(TimeInForce))),
        qty=draw(st.integers(0, 25) | st.integers(1, 8)),
        limit=limit,
        stop=stop,
        protection=draw(maybe_price),
        account=draw(st.integers(0, 2)),
    )


commands: st.SearchStrategy[Command] = st.one_of(
    submits(),
    submits(),
    submits(),
    st.builds(Cancel, st.integers(0, 10_000)),
    st.builds(
        Replace,
        st.integers(0, 10_000),
        st.one_of(st.none(), st.integers(-6, 3)),
        st.one_of(st.none(), st.integers(-3, 3)),
        st.one_of(st.none(), st.integers(-3, 3)),
    ),
    st.builds(Reference, st.sampled_from(SYMBOLS), prices),
    st.just(ExpireDay()),
)


class InvariantChecker:
    """Follows the engine's events and checks what must always hold."""

    def __init__(self, engine: MatchingEngine) -> None:
        self.engine = engine
        self.orders: dict[uuid.UUID, Order] = {}  # our own copy of each order's terms
        self.filled: dict[uuid.UUID, int] = defaultdict(int)

    def submitted(self, order: Order) -> None:
        self.orders[order.id] = copy.copy(order)

    def check(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Replaced):
                terms = self.orders[event.order_id]
                terms.qty, terms.limit, terms.stop = event.qty, event.limit, event.stop
            if isinstance(event, Trade):
                self.check_trade(event)
        for order_id, filled in self.filled.items():
            assert filled <= self.orders[order_id].qty
            live = self.engine.order(order_id)
            if live is not None:
                assert live.filled == filled
        for symbol in SYMBOLS:
            self.check_book(symbol)

    def check_trade(self, trade: Trade) -> None:
        assert trade.qty > 0
        assert trade.buy_order_id is not None or trade.sell_order_id is not None
        for order_id, side in ((trade.buy_order_id, Side.BUY), (trade.sell_order_id, Side.SELL)):
            if order_id is None:
                continue
            terms = self.orders[order_id]
            assert terms.side is side
            bound = terms.limit if terms.type in LIMIT_TYPES else terms.protection
            if bound is not None:
                assert trade.price <= bound if side is Side.BUY else trade.price >= bound
            self.filled[order_id] += trade.qty

    def check_book(self, symbol: str) -> None:
        book = self.engine.book(symbol)
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            assert bid < ask, "the user book is crossed"
        house = self.engine.house(symbol)
        if house is not None:
            if bid is not None and house.ask_size != 0:
                assert bid < house.ask, "a resting buy crosses the house ask"
            if ask is not None and house.bid_size != 0 and house.bid > 0:
                assert ask > house.bid, "a resting sell crosses the house bid"
        for side in Side:
            for order in book.queue(side):
                assert 0 <= order.filled < order.qty


def engine_snapshot(engine: MatchingEngine, symbol: str) -> dict[str, list[tuple[object, ...]]]:
    def row(o: Order) -> tuple[object, ...]:
        return (o.id, o.limit, o.qty, o.filled, o.priority)

    book = engine.book(symbol)
    return {
        "bids": [row(o) for o in book.queue(Side.BUY)],
        "asks": [row(o) for o in book.queue(Side.SELL)],
        "stops": [row(o) for o in engine.pending_stops(symbol)],
    }


def replacement(
    naive: NaiveExchange, order_id: uuid.UUID, command: Replace
) -> tuple[int | None, int | None, int | None]:
    """Absolute new terms from a Replace's changes (an unknown order still gets some terms)."""
    current = naive.find(order_id)
    qty, limit, stop = (
        (5, 1000, 1000) if current is None else (current.qty, current.limit, current.stop)
    )

    def changed(value: int | None, change: int | None) -> int | None:
        return None if change is None else (value or 1000) + change

    return (
        changed(qty, command.qty_change),
        changed(limit, command.limit_change),
        changed(stop, command.stop_change),
    )


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    spread_bps=st.sampled_from([0, 10, 20, 100]),
    house_size=st.sampled_from([None, None, 0, 5, 40]),
    opening=st.lists(st.builds(Reference, st.sampled_from(SYMBOLS), prices), max_size=2),
    stream=st.lists(commands, min_size=10, max_size=120),
)
def test_engine_matches_naive_matcher(
    spread_bps: int, house_size: int | None, opening: list[Reference], stream: list[Command]
) -> None:
    engine = MatchingEngine(spread_bps=spread_bps, house_size=house_size)
    naive = NaiveExchange(spread_bps, house_size)
    checker = InvariantChecker(engine)
    ids: list[uuid.UUID] = []
    for command in [*opening, *stream]:
        match command:
            case Submit():
                order_id = uuid.UUID(int=len(ids) + 1)
                ids.append(order_id)
                order = Order(
                    id=order_id,
                    account_id=uuid.UUID(int=command.account),
                    symbol=command.symbol,
                    side=command.side,
                    type=command.type,
                    tif=command.tif,
                    qty=command.qty,
                    limit=command.limit,
                    stop=command.stop,
                    protection=command.protection,
                )
                checker.submitted(order)
                expected = naive.submit(order)
                got = engine.submit(order)
            case Cancel():
                order_id = ids[command.pick % len(ids)] if ids else uuid.uuid4()
                expected = naive.cancel(order_id)
                got = engine.cancel(order_id)
            case Replace():
                order_id = ids[command.pick % len(ids)] if ids else uuid.uuid4()
                qty, limit, stop = replacement(naive, order_id, command)
                expected = naive.replace(order_id, qty, limit, stop)
                got = engine.replace(order_id, qty, limit, stop)
            case Reference():
                expected = naive.set_reference(command.symbol, command.price)
                got = engine.set_reference(command.symbol, command.price)
            case ExpireDay():
                expected = naive.expire_day_orders()
                got = engine.expire_day_orders()
        assert got == expected, command
        checker.check(got)
    for symbol in SYMBOLS:
        assert engine_snapshot(engine, symbol) == naive.snapshot(symbol)


@settings(max_examples=200, deadline=None)
@given(stream=st.lists(commands, min_size=10, max_size=80))
def test_restore_rebuilds_the_same_engine(stream: list[Command]) -> None:
    """Restoring every live order into a fresh engine gives a book that behaves identically."""
    engine = MatchingEngine(spread_bps=10)
    ids: list[uuid.UUID] = []
    for command in stream:
        if isinstance(command, Submit):
            ids.append(uuid.UUID(int=len(ids) + 1))
            engine.submit(
                Order(
                    ids[-1],
                    uuid.UUID(int=command.account),
                    command.symbol,
                    command.side,
                    command.type,
                    command.tif,
                    command.qty,
                    command.limit,
                    command.stop,
                    command.protection,
                )
            )
        elif isinstance(command, Reference):
            engine.set_reference(command.symbol, command.price)
        elif isinstance(command, Cancel) and ids:
            engine.cancel(ids[command.pick % len(ids)])

    restored = MatchingEngine(spread_bps=10)
    for symbol in SYMBOLS:
        reference = engine.reference(symbol)
        if reference is not None:
            restored.set_reference(symbol, reference)
    live = [engine.order(i) for i in ids]
    # Restore in reverse to show the order of restore calls does not matter.
    for order in reversed([o for o in live if o is not None]):
        restored.restore(copy.copy(order))
    for symbol in SYMBOLS:
        assert engine_snapshot(restored, symbol) == engine_snapshot(engine, symbol)
    assert restored.last_priority <= engine.last_priority

    # Both now trade the same way: sweep every symbol's asks with one big buy.
    restored.advance_priority(engine.last_priority)
    for symbol in SYMBOLS:
        sweeps = []
        for target in (engine, restored):
            order = Order(
                uuid.UUID(int=10_000),
                uuid.UUID(int=99),  # an account of its own: it sweeps everything
                symbol,
                Side.BUY,
                OrderType.LIMIT,
                TimeInForce.IOC,
                500,
                1015,
            )
            sweeps.append(target.submit(order))
        assert sweeps[0] == sweeps[1]
