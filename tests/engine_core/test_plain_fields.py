"""The plain-fields commands (limit, market, withdraw: fills as tuples on the tape) against the
event commands (submit, cancel: events), which test_properties checks against the naive matcher.

Two engines take the same random stream, one through each entry point, with stops, replaces,
reference moves and day ends going through the event commands on both (an engine may be used both
ways at once): every step must give the same fills, outcome, priorities and books."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine_core.test_properties import (
    SYMBOLS,
    Cancel,
    Command,
    ExpireDay,
    Reference,
    Replace,
    Submit,
    commands,
    engine_snapshot,
    prices,
    submits,
)
from trading_service.engine.core.matching import (
    ALREADY_LIVE,
    FOK_NOT_FILLABLE,
    IOC_REST,
    NO_REFERENCE,
    SELF_TRADE_PREVENTED,
    MatchingEngine,
)
from trading_service.engine.core.model import (
    Accepted,
    Canceled,
    Event,
    Fill,
    Order,
    OrderRefused,
    OrderType,
    Rejected,
    Side,
    TimeInForce,
    Trade,
)

Outcome = tuple[str, list[Fill[uuid.UUID]], str | None]


def plain(engine: MatchingEngine, order: Order) -> Outcome:
    """A limit or market order through the plain-fields commands: (what happened, its fills, the
    reason its rest was canceled or it was refused)."""
    try:
        if order.type is OrderType.LIMIT:
            price = 0 if order.limit is None else order.limit  # refused like a missing limit
            reason = engine.limit(
                order.id, order.account_id, order.symbol, order.side, price, order.qty, order.tif
            )
        else:
            reason = engine.market(
                order.id,
                order.account_id,
                order.symbol,
                order.side,
                order.qty,
                order.protection,
                order.tif,
            )
    except OrderRefused as refused:
        return "refused", [], refused.reason
    fills = list(engine.fills)
    engine.fills.clear()
    return ("ignored" if reason is ALREADY_LIVE else "accepted"), fills, reason


def as_plain(order: Order, events: list[Event]) -> Outcome:
    """The same outcome read from the event commands' events."""
    if not events:
        return "ignored", [], ALREADY_LIVE
    if isinstance(events[0], Rejected):
        return "refused", [], events[0].reason
    assert isinstance(events[0], Accepted)
    fills: list[Fill[uuid.UUID]] = []
    reason = None
    for e in events[1:]:
        if isinstance(e, Trade):
            taker_buys = e.aggressor is Side.BUY
            taker = e.buy_order_id if taker_buys else e.sell_order_id
            maker = e.sell_order_id if taker_buys else e.buy_order_id
            assert taker == order.id
            fills.append((order.id, maker, e.price, e.qty))
        else:
            assert isinstance(e, Canceled) and e.order_id == order.id
            reason = e.reason
    return "accepted", fills, reason


def run_both(
    spread_bps: int, house_size: int | None, stream: list[Command]
) -> tuple[MatchingEngine, MatchingEngine]:
    fast = MatchingEngine(spread_bps, house_size)
    slow = MatchingEngine(spread_bps, house_size)
    ids: list[uuid.UUID] = []
    for command in stream:
        match command:
            case Submit():
                ids.append(uuid.UUID(int=len(ids) + 1))
                terms = (
                    ids[-1], uuid.UUID(int=command.account), command.symbol, command.side,
                    command.type, command.tif, command.qty, command.limit, command.stop,
                    command.protection,
                )  # fmt: skip
                if command.type in (OrderType.LIMIT, OrderType.MARKET):
                    got = plain(fast, Order(*terms))
                    assert got == as_plain(Order(*terms), slow.submit(Order(*terms))), command
                else:  # stops have no plain-fields command
                    assert fast.submit(Order(*terms)) == slow.submit(Order(*terms)), command
            case Cancel():
                order_id = ids[command.pick % len(ids)] if ids else uuid.uuid4()
                assert fast.withdraw(order_id) == bool(slow.cancel(order_id)), command
            case Replace():
                order_id = ids[command.pick % len(ids)] if ids else uuid.uuid4()
                qty = None if command.qty_change is None else 5 + command.qty_change
                limit = None if command.limit_change is None else 1000 + command.limit_change
                stop = None if command.stop_change is None else 1000 + command.stop_change
                got_events = fast.replace(order_id, qty, limit, stop)
                assert got_events == slow.replace(order_id, qty, limit, stop), command
            case Reference():
                got_events = fast.set_reference(command.symbol, command.price)
                assert got_events == slow.set_reference(command.symbol, command.price)
            case ExpireDay():
                assert fast.expire_day_orders() == slow.expire_day_orders()
        assert fast.fills == [], "the event commands leave the tape alone"
        assert fast.last_priority == slow.last_priority
        for symbol in SYMBOLS:
            assert engine_snapshot(fast, symbol) == engine_snapshot(slow, symbol)
    return fast, slow


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    spread_bps=st.sampled_from([0, 10, 100]),
    house_size=st.sampled_from([None, 0, 5, 40]),
    opening=st.lists(st.builds(Reference, st.sampled_from(SYMBOLS), prices), max_size=2),
    stream=st.lists(st.one_of(submits(), submits(), commands), min_size=10, max_size=120),
)
def test_plain_fields_trade_exactly_like_the_event_commands(
    spread_bps: int, house_size: int | None, opening: list[Reference], stream: list[Command]
) -> None:
    run_both(spread_bps, house_size, [*opening, *stream])


BUYER, SELLER = uuid.UUID(int=1), uuid.UUID(int=2)


def oid(n: int) -> uuid.UUID:
    return uuid.UUID(int=1000 + n)


@pytest.fixture
def engine() -> MatchingEngine:
    engine = MatchingEngine(spread_bps=100, house_size=0)  # a house that never trades
    engine.set_reference("ACME", 10_000)
    return engine


def test_fills_go_on_the_tape_and_the_outcome_is_returned(engine: MatchingEngine) -> None:
    assert engine.limit(oid(1), SELLER, "ACME", Side.SELL, 10_010, 5) is None  # rests
    assert engine.limit(oid(2), SELLER, "ACME", Side.SELL, 10_020, 5) is None
    assert engine.fills == []
    # a buy through both levels: each fill at the resting price, its rest canceled (IOC)
    reason = engine.limit(oid(3), BUYER, "ACME", Side.BUY, 10_020, 12, TimeInForce.IOC)
    assert reason == IOC_REST
    assert engine.fills == [(oid(3), oid(1), 10_010, 5), (oid(3), oid(2), 10_020, 5)]
    assert engine.last_priority == 3 and engine.book("ACME").depth(5) == ([], [])


def test_a_resting_remainder_keeps_its_filled_shares(engine: MatchingEngine) -> None:
    engine.limit(oid(1), SELLER, "ACME", Side.SELL, 10_010, 5)
    assert engine.limit(oid(2), BUYER, "ACME", Side.BUY, 10_015, 8) is None
    resting = engine.order(oid(2))
    assert resting is not None and (resting.qty, resting.filled, resting.limit) == (8, 5, 10_015)
    assert engine.book("ACME").depth(5) == ([(10_015, 3, 1)], [])


def test_self_trade_prevention_cancels_the_newest(engine: MatchingEngine) -> None:
    engine.limit(oid(1), SELLER, "ACME", Side.SELL, 10_010, 5)
    assert engine.limit(oid(2), SELLER, "ACME", Side.BUY, 10_010, 5) == SELF_TRADE_PREVENTED
    assert engine.fills == [] and engine.order(oid(1)) is not None
    assert engine.order(oid(2)) is None


def test_market_protection_fok_refusal_and_redelivery(engine: MatchingEngine) -> None:
    engine.limit(oid(1), SELLER, "ACME", Side.SELL, 10_010, 5)
    engine.limit(oid(2), SELLER, "ACME", Side.SELL, 10_030, 5)
    # 10 shares within its protection, 11 wanted: nothing trades
    assert (
        engine.market(oid(3), BUYER, "ACME", Side.BUY, 11, 10_040, TimeInForce.FOK)
        == FOK_NOT_FILLABLE
    )
    assert engine.fills == []
    assert engine.market(oid(4), BUYER, "ACME", Side.BUY, 10, 10_020) == "protection price reached"
    assert engine.fills == [(oid(4), oid(1), 10_010, 5)]
    assert engine.limit(oid(2), SELLER, "ACME", Side.SELL, 10_030, 5) == ALREADY_LIVE
    with pytest.raises(OrderRefused, match="qty must be positive"):
        engine.limit(oid(5), BUYER, "ACME", Side.BUY, 10_000, 0)
    with pytest.raises(OrderRefused) as refused:
        engine.market(oid(6), BUYER, "OTHER", Side.BUY, 1, None)
    assert refused.value.reason == NO_REFERENCE
    assert engine.withdraw(oid(2)) and not engine.withdraw(oid(2))
