"""The market model's rules, one small explicit scenario each. Prices in ticks (cents)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from trading_service.engine.core.matching import (
    FOK_NOT_FILLABLE,
    IOC_REST,
    NO_LIQUIDITY,
    NO_REFERENCE,
    PROTECTION_REACHED,
    SELF_TRADE_PREVENTED,
    MatchingEngine,
    Quote,
)
from trading_service.engine.core.model import (
    Accepted,
    Canceled,
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

BUY, SELL = Side.BUY, Side.SELL
SYM = "ACME"
HOUSE = None  # a Trade's order id when the house took that side


def oid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def order(
    n: int,
    side: Side,
    qty: int,
    limit: int | None = None,
    *,
    type: OrderType | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    stop: int | None = None,
    protection: int | None = None,
    account: int | None = None,
) -> Order:
    """Each order is its own account's unless `account` is given (self-trade prevention)."""
    if type is None:
        type = OrderType.LIMIT if limit is not None else OrderType.MARKET
    account_id = oid(1_000_000 + n) if account is None else oid(account)
    return Order(oid(n), account_id, SYM, side, type, tif, qty, limit, stop, protection)


def trades(events: Sequence[object]) -> list[tuple[int, int, uuid.UUID | None, uuid.UUID | None]]:
    return [
        (e.price, e.qty, e.buy_order_id, e.sell_order_id) for e in events if isinstance(e, Trade)
    ]


def book_rows(engine: MatchingEngine) -> tuple[list[tuple[int, int, int]], ...]:
    """(price, open qty, orders) per level, bids then asks, best first."""
    return engine.book(SYM).depth(100)


@pytest.fixture
def engine() -> MatchingEngine:
    """Reference 100.00: with the default 10 bps spread the house quotes 99.95 / 100.05."""
    engine = MatchingEngine(spread_bps=10)
    assert engine.set_reference(SYM, 10_000) == []
    return engine


# --- submit: validation and acceptance ------------------------------------------------------


def test_market_order_without_reference_is_rejected() -> None:
    engine = MatchingEngine()
    assert engine.submit(order(1, BUY, 10)) == [Rejected(oid(1), NO_REFERENCE)]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (order(1, BUY, 0, 10_000), "qty must be positive"),
        (order(1, BUY, 5, None, type=OrderType.LIMIT), "a positive limit price is required"),
        (order(1, BUY, 5, 0), "a positive limit price is required"),
        (order(1, BUY, 5, type=OrderType.STOP), "a positive stop price is required"),
    ],
)
def test_malformed_orders_are_rejected(engine: MatchingEngine, bad: Order, reason: str) -> None:
    assert engine.submit(bad) == [Rejected(oid(1), reason)]
    assert engine.order(oid(1)) is None


def test_accepted_orders_get_increasing_priorities(engine: MatchingEngine) -> None:
    first = engine.submit(order(1, BUY, 5, 9_000))
    second = engine.submit(order(2, BUY, 5, 9_000))
    assert first == [Accepted(oid(1), 1)]
    assert second == [Accepted(oid(2), 2)]


def test_a_live_order_submitted_again_is_ignored(engine: MatchingEngine) -> None:
    engine.submit(order(1, BUY, 5, 9_000))
    assert engine.submit(order(1, BUY, 5, 9_000)) == []
    assert engine.book(SYM).depth(5) == ([(9_000, 5, 1)], [])


# --- the price-time rule ----------------------------------------------------------------------


def test_house_quote_rounds_outward_on_the_tick() -> None:
    engine = MatchingEngine(spread_bps=10)
    engine.set_reference(SYM, 10_001)  # 100.01 -> bid 99.959.. down, ask 100.060.. up
    house = engine.house(SYM)
    assert house is not None
    assert (house.bid, house.ask) == (9_995, 10_007)


def test_market_buy_trades_with_the_house_at_its_ask(engine: MatchingEngine) -> None:
    events = engine.submit(order(1, BUY, 30))
    assert events == [Accepted(oid(1), 1), Trade(SYM, 10_005, 30, BUY, oid(1), HOUSE)]


def test_market_sell_trades_with_the_house_at_its_bid(engine: MatchingEngine) -> None:
    events = engine.submit(order(1, SELL, 30))
    assert trades(events) == [(9_995, 30, HOUSE, oid(1))]
    assert events[-1] == Trade(SYM, 9_995, 30, SELL, None, oid(1))


def test_better_priced_user_orders_trade_before_the_house(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 10, 10_001))
    engine.submit(order(2, SELL, 10, 10_003))
    events = engine.submit(order(3, BUY, 25))
    assert trades(events) == [
        (10_001, 10, oid(3), oid(1)),
        (10_003, 10, oid(3), oid(2)),
        (10_005, 5, oid(3), HOUSE),
    ]
    assert engine.book(SYM).depth(5) == ([], [])


def test_at_an_equal_price_resting_user_orders_go_before_the_house(
    engine: MatchingEngine,
) -> None:
    engine.submit(order(1, BUY, 10, 9_995))  # at the house bid
    events = engine.submit(order(2, SELL, 15))
    assert trades(events) == [(9_995, 10, oid(1), oid(2)), (9_995, 5, HOUSE, oid(2))]


def test_the_house_goes_first_when_its_price_is_better(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 10, 10_008))  # worse than the house ask 100.05
    events = engine.submit(order(2, BUY, 10))
    assert trades(events) == [(10_005, 10, oid(2), HOUSE)]
    assert engine.book(SYM).depth(5) == ([], [(10_008, 10, 1)])


def test_equal_price_orders_fill_oldest_first(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 5, 10_002))
    engine.submit(order(2, SELL, 5, 10_002))
    engine.submit(order(3, SELL, 5, 10_001))
    events = engine.submit(order(4, BUY, 12, 10_002))
    assert trades(events) == [
        (10_001, 5, oid(4), oid(3)),
        (10_002, 5, oid(4), oid(1)),
        (10_002, 2, oid(4), oid(2)),
    ]
    remaining = engine.order(oid(2))
    assert remaining is not None and remaining.filled == 2


def test_trades_happen_at_the_resting_price(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 5, 10_001))
    events = engine.submit(order(2, BUY, 5, 10_004))  # willing to pay more
    assert trades(events) == [(10_001, 5, oid(2), oid(1))]


def test_a_limit_order_never_trades_beyond_its_limit(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 5, 10_001))
    events = engine.submit(order(2, BUY, 20, 10_002))
    assert trades(events) == [(10_001, 5, oid(2), oid(1))]  # the house asks 100.05: too high
    assert engine.book(SYM).depth(5) == ([(10_002, 15, 1)], [])


def test_partial_fill_leaves_the_resting_order_in_place(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 50, 10_001))
    engine.submit(order(2, BUY, 20, 10_001))
    assert engine.book(SYM).depth(5) == ([], [(10_001, 30, 1)])
    resting = engine.order(oid(1))
    assert resting is not None and (resting.filled, resting.remaining) == (20, 30)


# --- market orders: protection and liquidity -------------------------------------------------


def test_market_buy_stops_at_its_protection_price(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 5, 10_000))
    events = engine.submit(order(2, BUY, 20, protection=10_002))
    assert trades(events) == [(10_000, 5, oid(2), oid(1))]
    assert events[-1] == Canceled(oid(2), PROTECTION_REACHED)


def test_market_sell_stops_at_its_protection_price(engine: MatchingEngine) -> None:
    events = engine.submit(order(1, SELL, 20, protection=9_996))  # the house bids 99.95
    assert events == [Accepted(oid(1), 1), Canceled(oid(1), PROTECTION_REACHED)]


def test_market_order_without_liquidity_is_canceled() -> None:
    engine = MatchingEngine(house_size=0)
    engine.set_reference(SYM, 10_000)
    events = engine.submit(order(1, SELL, 20))
    assert events == [Accepted(oid(1), 1), Canceled(oid(1), NO_LIQUIDITY)]


def test_market_order_never_rests(engine: MatchingEngine) -> None:
    engine.submit(order(1, BUY, 5, protection=10_000, tif=TimeInForce.GTC))
    assert engine.book(SYM).depth(5) == ([], [])
    assert engine.order(oid(1)) is None


# --- time in force ---------------------------------------------------------------------------


def test_ioc_fills_what_it_can_and_cancels_the_rest(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 5, 10_001))
    events = engine.submit(order(2, BUY, 20, 10_002, tif=TimeInForce.IOC))
    assert trades(events) == [(10_001, 5, oid(2), oid(1))]
    assert events[-1] == Canceled(oid(2), IOC_REST)
    assert engine.book(SYM).depth(5) == ([], [])


def test_fok_that_cannot_fill_completely_trades_nothing(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 5, 10_001))
    events = engine.submit(order(2, BUY, 20, 10_002, tif=TimeInForce.FOK))
    assert events == [Accepted(oid(2), 2), Canceled(oid(2), FOK_NOT_FILLABLE)]
    assert engine.book(SYM).depth(5) == ([], [(10_001, 5, 1)])


def test_fok_that_can_fill_completely_fills(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 5, 10_001))
    events = engine.submit(order(2, BUY, 20, 10_005, tif=TimeInForce.FOK))
    assert trades(events) == [(10_001, 5, oid(2), oid(1)), (10_005, 15, oid(2), HOUSE)]


def test_fok_counts_a_limited_house_size() -> None:
    engine = MatchingEngine(house_size=10)
    engine.set_reference(SYM, 10_000)
    events = engine.submit(order(1, BUY, 11, tif=TimeInForce.FOK))
    assert events[-1] == Canceled(oid(1), FOK_NOT_FILLABLE)
    assert trades(engine.submit(order(2, BUY, 10, tif=TimeInForce.FOK))) == [
        (10_005, 10, oid(2), HOUSE)
    ]


def test_day_and_gtc_limits_rest(engine: MatchingEngine) -> None:
    engine.submit(order(1, BUY, 5, 9_990, tif=TimeInForce.DAY))
    engine.submit(order(2, BUY, 7, 9_990, tif=TimeInForce.GTC))
    assert engine.book(SYM).depth(5) == ([(9_990, 12, 2)], [])


# --- self-trade prevention: cancel the newest ------------------------------------------------

ME = 7  # one account for the orders of a test that meet their own


def test_ioc_buy_meeting_its_own_resting_sell_is_canceled_untraded(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 10, 10_001, account=ME))
    events = engine.submit(order(2, BUY, 10, 10_001, tif=TimeInForce.IOC, account=ME))
    assert events == [Accepted(oid(2), 2), Canceled(oid(2), SELF_TRADE_PREVENTED)]
    assert book_rows(engine) == ([], [(10_001, 10, 1)])
    assert engine.order(oid(1)) is not None and engine.order(oid(1)).filled == 0  # type: ignore[union-attr]


def test_trades_with_others_ahead_of_its_own_order_stand(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 5, 10_001))  # someone else, better price
    engine.submit(order(2, SELL, 4, 10_002))  # someone else, same price as ours but older
    engine.submit(order(3, SELL, 10, 10_002, account=ME))
    engine.submit(order(4, SELL, 10, 10_002))  # someone else behind ours
    events = engine.submit(order(5, BUY, 30, 10_003, account=ME))
    assert trades(events) == [(10_001, 5, oid(5), oid(1)), (10_002, 4, oid(5), oid(2))]
    assert events[-1] == Canceled(oid(5), SELF_TRADE_PREVENTED)
    assert engine.order(oid(5)) is None  # a GTC limit does not rest either
    assert book_rows(engine) == ([], [(10_002, 20, 2)])


def test_a_market_order_stops_at_its_own_order_before_the_house(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 10, 10_005, account=ME))  # at the house ask: users go first
    events = engine.submit(order(2, BUY, 30, account=ME))
    assert events == [Accepted(oid(2), 2), Canceled(oid(2), SELF_TRADE_PREVENTED)]


def test_the_house_at_a_better_price_still_trades_first(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 10, 10_007, account=ME))  # behind the house ask of 100.05
    events = engine.submit(order(2, BUY, 10, 10_007, account=ME))
    assert trades(events) == [(10_005, 10, oid(2), HOUSE)]
    assert engine.order(oid(1)) is not None


def test_fok_counts_only_what_lies_before_its_own_order(engine: MatchingEngine) -> None:
    engine.submit(order(1, BUY, 5, 9_999))
    engine.submit(order(2, BUY, 5, 9_998, account=ME))
    engine.submit(order(3, BUY, 50, 9_997))
    fok = order(4, SELL, 20, 9_997, tif=TimeInForce.FOK, account=ME)
    assert engine.submit(fok) == [Accepted(oid(4), 4), Canceled(oid(4), FOK_NOT_FILLABLE)]
    events = engine.submit(order(5, SELL, 5, 9_997, tif=TimeInForce.FOK, account=ME))
    assert trades(events) == [(9_999, 5, oid(1), oid(5))]


def test_a_resting_order_hit_by_a_moving_house_is_no_self_trade(engine: MatchingEngine) -> None:
    """Only users have accounts here: the house crossing a resting order still trades."""
    engine.submit(order(1, BUY, 10, 10_000, account=ME))
    assert trades(engine.set_reference(SYM, 9_990)) == [(10_000, 10, oid(1), HOUSE)]


def test_a_replaced_order_is_the_newest_and_is_the_one_canceled(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 10, 10_002, account=ME))
    engine.submit(order(2, BUY, 10, 10_000, account=ME))
    events = engine.replace(oid(2), limit=10_002)
    assert events == [Replaced(oid(2), 10, 10_002, None, 3), Canceled(oid(2), SELF_TRADE_PREVENTED)]
    assert engine.order(oid(1)) is not None and engine.order(oid(2)) is None


def test_a_triggered_stop_meeting_its_own_order_is_canceled() -> None:
    engine = MatchingEngine(spread_bps=10, house_size=0)  # a house that never trades
    engine.set_reference(SYM, 10_000)
    engine.submit(order(1, SELL, 10, 10_020, account=ME))
    engine.submit(order(2, BUY, 10, type=OrderType.STOP, stop=10_010, account=ME))
    events = engine.set_reference(SYM, 10_010)
    assert events == [Triggered(oid(2), 3), Canceled(oid(2), SELF_TRADE_PREVENTED)]


# --- stops -----------------------------------------------------------------------------------


def test_buy_stop_waits_then_triggers_and_trades_as_market(engine: MatchingEngine) -> None:
    events = engine.submit(order(1, BUY, 10, type=OrderType.STOP, stop=10_100))
    assert events == [Accepted(oid(1), 1)]
    assert engine.set_reference(SYM, 10_099) == []
    events = engine.set_reference(SYM, 10_100)  # house ask: 101.0505 -> 101.06
    assert events == [Triggered(oid(1), 2), Trade(SYM, 10_106, 10, BUY, oid(1), HOUSE)]
    assert engine.pending_stops(SYM) == []


def test_sell_stop_triggers_when_the_reference_falls_to_it(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 10, type=OrderType.STOP, stop=9_900))
    assert engine.set_reference(SYM, 9_901) == []
    events = engine.set_reference(SYM, 9_850)
    assert events[0] == Triggered(oid(1), 2)
    assert trades(events) == [(9_845, 10, HOUSE, oid(1))]


def test_a_stop_already_crossed_at_submit_triggers_at_once(engine: MatchingEngine) -> None:
    events = engine.submit(order(1, BUY, 10, type=OrderType.STOP, stop=9_990))
    assert events == [
        Accepted(oid(1), 1),
        Triggered(oid(1), 2),
        Trade(SYM, 10_005, 10, BUY, oid(1), HOUSE),
    ]


def test_a_stop_without_a_reference_waits() -> None:
    engine = MatchingEngine()
    assert engine.submit(order(1, BUY, 10, type=OrderType.STOP, stop=10_000)) == [
        Accepted(oid(1), 1)
    ]
    assert [o.id for o in engine.pending_stops(SYM)] == [oid(1)]


def test_triggered_stop_respects_its_protection(engine: MatchingEngine) -> None:
    engine.submit(order(1, BUY, 10, type=OrderType.STOP, stop=10_100, protection=10_100))
    events = engine.set_reference(SYM, 10_100)  # house ask 101.06 > protection 101.00
    assert events == [Triggered(oid(1), 2), Canceled(oid(1), PROTECTION_REACHED)]


def test_triggered_stop_limit_rests_at_its_limit(engine: MatchingEngine) -> None:
    engine.submit(
        order(1, BUY, 10, 10_050, type=OrderType.STOP_LIMIT, stop=10_040, tif=TimeInForce.GTC)
    )
    events = engine.set_reference(SYM, 10_050)  # house ask 100.55 > limit 100.50
    assert events == [Triggered(oid(1), 2)]
    assert engine.book(SYM).depth(5) == ([(10_050, 10, 1)], [])


def test_stops_triggered_together_fire_oldest_first_with_new_priorities(
    engine: MatchingEngine,
) -> None:
    engine.submit(order(1, BUY, 1, type=OrderType.STOP, stop=10_030))
    engine.submit(order(2, BUY, 1, type=OrderType.STOP, stop=10_010))
    engine.submit(order(3, BUY, 1, 9_000))  # priority 3
    events = engine.set_reference(SYM, 10_050)
    assert [e for e in events if isinstance(e, Triggered)] == [
        Triggered(oid(1), 4),
        Triggered(oid(2), 5),
    ]


def test_triggered_stop_trades_after_resting_orders_fill() -> None:
    """On a reference move crossed resting limits fill before stops trigger."""
    engine = MatchingEngine(house_size=15)
    engine.set_reference(SYM, 10_000)
    engine.submit(order(1, BUY, 15))  # takes the house's whole ask size
    engine.submit(order(2, BUY, 10, 10_060))  # rests above the house ask: nothing left there
    engine.submit(order(3, BUY, 8, type=OrderType.STOP, stop=10_050))
    events = engine.set_reference(SYM, 10_050)  # house ask 100.56, 15 shares again
    assert events == [
        Trade(SYM, 10_060, 10, SELL, oid(2), HOUSE),
        Triggered(oid(3), 4),
        Trade(SYM, 10_056, 5, BUY, oid(3), HOUSE),
        Canceled(oid(3), NO_LIQUIDITY),
    ]


# --- reference moves -------------------------------------------------------------------------


def test_crossed_resting_limits_fill_at_their_own_price(engine: MatchingEngine) -> None:
    engine.submit(order(1, BUY, 10, 10_002))
    engine.submit(order(2, BUY, 5, 10_004))
    engine.submit(order(3, SELL, 8, 10_010))
    events = engine.set_reference(SYM, 9_990)  # house 99.85 / 99.95: crosses both buys
    assert events == [
        Trade(SYM, 10_004, 5, SELL, oid(2), HOUSE),
        Trade(SYM, 10_002, 10, SELL, oid(1), HOUSE),
    ]
    events = engine.set_reference(SYM, 10_020)  # house bid 100.14 crosses the sell at 100.10
    assert events == [Trade(SYM, 10_010, 8, BUY, HOUSE, oid(3))]
    assert engine.book(SYM).depth(5) == ([], [])


def test_a_limited_house_size_is_shared_in_price_time_order_and_replenished() -> None:
    engine = MatchingEngine(house_size=12)
    engine.set_reference(SYM, 10_000)
    engine.submit(order(1, SELL, 10, 10_010))
    engine.submit(order(2, SELL, 10, 10_010))
    events = engine.set_reference(SYM, 10_020)
    assert trades(events) == [(10_010, 10, HOUSE, oid(1)), (10_010, 2, HOUSE, oid(2))]
    events = engine.set_reference(SYM, 10_021)  # a new reference: the house buys 12 more
    assert trades(events) == [(10_010, 8, HOUSE, oid(2))]


def test_house_quote_size_is_used_up_by_market_orders() -> None:
    engine = MatchingEngine(house_size=10)
    engine.set_reference(SYM, 10_000)
    events = engine.submit(order(1, BUY, 15))
    assert trades(events) == [(10_005, 10, oid(1), HOUSE)]
    assert events[-1] == Canceled(oid(1), NO_LIQUIDITY)
    assert engine.quote(SYM) == Quote(9_995, 10, None, 0)


# --- cancel, replace, expiry -----------------------------------------------------------------


def test_cancel_removes_a_resting_order_once(engine: MatchingEngine) -> None:
    engine.submit(order(1, BUY, 5, 9_990))
    assert engine.cancel(oid(1)) == [Canceled(oid(1), "canceled by user")]
    assert engine.cancel(oid(1)) == []
    assert engine.cancel(oid(42)) == []
    assert engine.book(SYM).depth(5) == ([], [])


def test_cancel_a_pending_stop_with_a_reason(engine: MatchingEngine) -> None:
    engine.submit(order(1, BUY, 5, type=OrderType.STOP, stop=10_100))
    assert engine.cancel(oid(1), reason="account closed") == [Canceled(oid(1), "account closed")]
    assert engine.set_reference(SYM, 10_200) == []


def test_a_canceled_order_is_skipped_by_matching(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 5, 10_001))
    engine.submit(order(2, SELL, 5, 10_001))
    engine.cancel(oid(1))
    assert trades(engine.submit(order(3, BUY, 5, 10_001))) == [(10_001, 5, oid(3), oid(2))]


def test_replace_smaller_qty_keeps_time_priority(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 10, 10_001))
    engine.submit(order(2, SELL, 10, 10_001))
    assert engine.replace(oid(1), qty=4) == [Replaced(oid(1), 4, 10_001, None, 1)]
    assert trades(engine.submit(order(3, BUY, 6, 10_001))) == [
        (10_001, 4, oid(3), oid(1)),
        (10_001, 2, oid(3), oid(2)),
    ]


def test_replace_larger_qty_loses_time_priority(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 10, 10_001))
    engine.submit(order(2, SELL, 10, 10_001))
    assert engine.replace(oid(1), qty=11) == [Replaced(oid(1), 11, 10_001, None, 3)]
    assert trades(engine.submit(order(3, BUY, 5, 10_001))) == [(10_001, 5, oid(3), oid(2))]


def test_replace_price_loses_priority_and_may_trade_at_once(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 10, 10_003))
    engine.submit(order(2, BUY, 10, 9_990))
    events = engine.replace(oid(2), limit=10_003)
    assert events == [
        Replaced(oid(2), 10, 10_003, None, 3),
        Trade(SYM, 10_003, 10, BUY, oid(2), oid(1)),
    ]


def test_replace_cannot_drop_qty_to_the_filled_qty(engine: MatchingEngine) -> None:
    engine.submit(order(1, SELL, 10, 10_001))
    engine.submit(order(2, BUY, 6, 10_001))
    assert engine.replace(oid(1), qty=6) == []
    assert engine.replace(oid(1), qty=5) == []
    assert engine.replace(oid(1), qty=7) == [Replaced(oid(1), 7, 10_001, None, 1)]
    assert engine.book(SYM).depth(5) == ([], [(10_001, 1, 1)])


def test_replace_rejects_what_the_order_does_not_have(engine: MatchingEngine) -> None:
    engine.submit(order(1, BUY, 5, type=OrderType.STOP, stop=10_100))
    engine.submit(order(2, BUY, 5, 9_000))
    assert engine.replace(oid(1), limit=10_000) == []  # a stop (market) has no limit
    assert engine.replace(oid(2), stop=10_000) == []  # a limit has no stop
    assert engine.replace(oid(42), qty=3) == []


def test_replace_stop_may_trigger_at_once(engine: MatchingEngine) -> None:
    engine.submit(order(1, BUY, 5, type=OrderType.STOP, stop=10_100))
    events = engine.replace(oid(1), stop=10_000)
    assert events == [
        Replaced(oid(1), 5, None, 10_000, 2),
        Triggered(oid(1), 3),
        Trade(SYM, 10_005, 5, BUY, oid(1), HOUSE),
    ]


def test_expire_day_orders_leaves_gtc(engine: MatchingEngine) -> None:
    engine.submit(order(1, BUY, 5, 9_990, tif=TimeInForce.DAY))
    engine.submit(order(2, BUY, 5, 9_990, tif=TimeInForce.GTC))
    engine.submit(order(3, BUY, 5, type=OrderType.STOP, stop=10_100, tif=TimeInForce.DAY))
    assert engine.expire_day_orders() == [Expired(oid(1)), Expired(oid(3))]
    assert engine.book(SYM).depth(5) == ([(9_990, 5, 1)], [])
    assert engine.pending_stops(SYM) == []
    assert engine.expire_day_orders() == []


# --- views and restore -----------------------------------------------------------------------


def test_quote_merges_user_orders_and_the_house(engine: MatchingEngine) -> None:
    assert engine.quote(SYM) == Quote(9_995, None, 10_005, None)
    engine.submit(order(1, BUY, 7, 9_997))
    engine.submit(order(2, SELL, 4, 10_005))
    assert engine.quote(SYM) == Quote(9_997, 7, 10_005, None)
    assert MatchingEngine().quote(SYM) == Quote(None, 0, None, 0)


def test_quote_adds_sizes_at_an_equal_price() -> None:
    engine = MatchingEngine(house_size=100)
    engine.set_reference(SYM, 10_000)
    engine.submit(order(1, SELL, 4, 10_005))
    assert engine.quote(SYM) == Quote(9_995, 100, 10_005, 104)


def test_restore_keeps_priority_and_filled_without_matching() -> None:
    engine = MatchingEngine()
    engine.set_reference(SYM, 10_000)
    late = order(1, SELL, 10, 10_001)
    late.priority, late.filled = 7, 4
    early = order(2, SELL, 10, 10_001)
    early.priority = 3
    stop = order(3, BUY, 2, type=OrderType.STOP, stop=10_500)
    stop.priority = 5
    for restored in (late, early, stop):
        engine.restore(restored)
    assert engine.book(SYM).depth(5) == ([], [(10_001, 16, 2)])
    assert engine.last_priority == 7
    engine.advance_priority(40)
    events = engine.submit(order(4, BUY, 12, 10_001))
    assert events[0] == Accepted(oid(4), 41)
    assert trades(events) == [(10_001, 10, oid(4), oid(2)), (10_001, 2, oid(4), oid(1))]
    assert [o.id for o in engine.pending_stops(SYM)] == [oid(3)]


def test_restore_refuses_what_cannot_rest() -> None:
    engine = MatchingEngine()
    with pytest.raises(ValueError):
        engine.restore(order(1, BUY, 10))  # a market order never rests
    done = order(2, BUY, 10, 10_000)
    done.filled = 10
    with pytest.raises(ValueError):
        engine.restore(done)


def test_engine_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        MatchingEngine(spread_bps=-1)
    with pytest.raises(ValueError):
        MatchingEngine(house_size=-5)
    with pytest.raises(ValueError):
        MatchingEngine().set_reference(SYM, 0)
