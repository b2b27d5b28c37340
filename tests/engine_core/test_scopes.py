"""Scopes (trading_service/engine/scopes.py): user orders match only inside their league (or among
personal accounts); every scope trades with the house. Prices in ticks; reference 10_000 with a
10 bps spread: the house bids 9_995 and asks 10_005."""

from __future__ import annotations

import uuid

import pytest

from trading_service.engine.core.matching import SELF_TRADE_PREVENTED
from trading_service.engine.core.model import (
    Accepted,
    Canceled,
    Expired,
    Order,
    OrderType,
    Side,
    TimeInForce,
    Trade,
    Triggered,
)
from trading_service.engine.scopes import PUBLIC, ScopedCores

BUY, SELL = Side.BUY, Side.SELL
SYM = "ACME"
LEAGUE_A = uuid.UUID(int=0xA)
LEAGUE_B = uuid.UUID(int=0xB)


def oid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def limit(n: int, side: Side, qty: int, price: int, account: int | None = None) -> Order:
    account_id = oid(1_000_000 + (n if account is None else account))
    return Order(oid(n), account_id, SYM, side, OrderType.LIMIT, TimeInForce.GTC, qty, price)


def market_buy(n: int, qty: int, protection: int = 20_000) -> Order:
    return Order(
        oid(n), oid(1_000_000 + n), SYM, BUY, OrderType.MARKET, TimeInForce.IOC, qty,
        protection=protection,
    )  # fmt: skip


def trades(events: list[object]) -> list[Trade]:
    return [e for e in events if isinstance(e, Trade)]


@pytest.fixture
def cores() -> ScopedCores:
    cores = ScopedCores(spread_bps=10, house_size=None)
    cores.set_reference(SYM, 10_000)
    return cores


@pytest.mark.parametrize("buyer_scope", [PUBLIC, LEAGUE_B])
def test_a_resting_league_order_never_trades_with_another_scope(
    cores: ScopedCores, buyer_scope: uuid.UUID | None
) -> None:
    cores.submit(limit(1, SELL, 5, 10_000), LEAGUE_A)  # better than the house's ask
    events = cores.submit(market_buy(2, 5), buyer_scope)
    assert trades(events) == [Trade(SYM, 10_005, 5, BUY, oid(2), None)]  # the house's ask
    assert cores.order(oid(1)) is not None and cores.order(oid(1)).filled == 0  # type: ignore[union-attr]
    assert cores.core(LEAGUE_A).book(SYM).best_ask() == 10_000
    assert cores.public.book(SYM).best_ask() is None  # the public book never shows it


def test_members_of_one_league_trade_with_each_other(cores: ScopedCores) -> None:
    cores.submit(limit(1, SELL, 5, 10_000), LEAGUE_A)
    events = cores.submit(market_buy(2, 3), LEAGUE_A)
    assert trades(events) == [Trade(SYM, 10_000, 3, BUY, oid(2), oid(1))]
    assert cores.order(oid(1)).filled == 3  # type: ignore[union-attr]


def test_a_price_tick_fills_resting_limits_against_the_house_in_every_scope(
    cores: ScopedCores,
) -> None:
    cores.submit(limit(1, BUY, 2, 9_000), PUBLIC)
    cores.submit(limit(2, BUY, 3, 9_000), LEAGUE_A)
    events = cores.set_reference(SYM, 8_000)  # the house asks 8_004: both limits cross it
    assert sorted((t.buy_order_id, t.qty, t.price, t.sell_order_id) for t in trades(events)) == [
        (oid(1), 2, 9_000, None),
        (oid(2), 3, 9_000, None),
    ]
    assert cores.order(oid(1)) is None and cores.order(oid(2)) is None


def test_a_triggered_stop_trades_inside_its_own_scope(cores: ScopedCores) -> None:
    # Inside the house's spread after the tick (it bids 10_024 and asks 10_036 then).
    cores.submit(limit(1, SELL, 4, 10_030), PUBLIC)
    cores.submit(limit(2, SELL, 4, 10_030), LEAGUE_A)
    stop = Order(
        oid(3), oid(1_000_003), SYM, BUY, OrderType.STOP, TimeInForce.GTC, 4,
        stop=10_020, protection=20_000,
    )  # fmt: skip
    assert trades(cores.submit(stop, LEAGUE_A)) == []
    events = cores.set_reference(SYM, 10_030)
    assert any(isinstance(e, Triggered) and e.order_id == oid(3) for e in events)
    assert trades(events) == [Trade(SYM, 10_030, 4, BUY, oid(3), oid(2))]
    assert cores.order(oid(1)).filled == 0  # type: ignore[union-attr]


def test_cancel_and_replace_reach_the_scope_holding_the_order(cores: ScopedCores) -> None:
    cores.submit(limit(1, BUY, 5, 9_000), LEAGUE_A)
    assert cores.scope_of(oid(1)) == LEAGUE_A
    replaced = cores.replace(oid(1), qty=7)
    assert replaced and cores.order(oid(1)).qty == 7  # type: ignore[union-attr]
    assert cores.cancel(oid(1)) == [Canceled(oid(1), "canceled by user")]
    assert cores.order(oid(1)) is None
    assert cores.cancel(oid(1)) == [] and cores.replace(oid(1), qty=9) == []
    assert cores.core(LEAGUE_A).book(SYM).best_bid() is None


def test_a_filled_resting_order_is_forgotten(cores: ScopedCores) -> None:
    cores.submit(limit(1, SELL, 2, 10_000), LEAGUE_A)
    cores.submit(market_buy(2, 2), LEAGUE_A)
    assert cores.order(oid(1)) is None
    assert cores.cancel(oid(1)) == []


def test_priorities_are_one_sequence_across_scopes(cores: ScopedCores) -> None:
    scopes = [PUBLIC, LEAGUE_A, LEAGUE_B, LEAGUE_A, PUBLIC, LEAGUE_B]
    priorities = []
    for n, scope in enumerate(scopes, start=1):
        events = cores.submit(limit(n, BUY, 1, 9_000 + n), scope)
        priorities += [e.priority for e in events if isinstance(e, Accepted)]
    assert priorities == list(range(1, len(scopes) + 1))
    assert cores.last_priority == len(scopes)


def test_restored_orders_go_back_to_their_scope_and_priorities_continue() -> None:
    cores = ScopedCores(spread_bps=10, house_size=None)
    cores.set_reference(SYM, 10_000)
    resting = limit(1, SELL, 5, 10_000)
    resting.priority = 40
    cores.restore(resting, LEAGUE_A)
    cores.advance_priority(41)
    events = cores.submit(market_buy(2, 5), LEAGUE_B)
    assert [e.priority for e in events if isinstance(e, Accepted)] == [42]
    assert trades(events)[0].sell_order_id is None
    events = cores.submit(market_buy(3, 5), LEAGUE_A)
    assert trades(events) == [Trade(SYM, 10_000, 5, BUY, oid(3), oid(1))]
    cores.restore(limit(4, SELL, 1, 10_000), PUBLIC)
    with pytest.raises(ValueError):  # live in one scope already
        cores.restore(limit(4, SELL, 1, 10_000), LEAGUE_B)


def test_self_trade_prevention_still_works_inside_a_scope(cores: ScopedCores) -> None:
    cores.submit(limit(1, SELL, 5, 10_000, account=7), LEAGUE_A)
    events = cores.submit(limit(2, BUY, 5, 10_000, account=7), LEAGUE_A)
    assert Canceled(oid(2), SELF_TRADE_PREVENTED) in events
    assert cores.order(oid(1)) is not None


def test_day_orders_expire_in_every_scope(cores: ScopedCores) -> None:
    for n, scope in enumerate([PUBLIC, LEAGUE_A, LEAGUE_B], start=1):
        day = limit(n, BUY, 1, 9_000)
        day.tif = TimeInForce.DAY
        cores.submit(day, scope)
    events = cores.expire_day_orders()
    assert sorted(e.order_id.int for e in events if isinstance(e, Expired)) == [1, 2, 3]
    assert all(cores.order(oid(n)) is None for n in (1, 2, 3))


def test_busy_sees_every_scope(cores: ScopedCores) -> None:
    assert not cores.busy(SYM)
    cores.submit(limit(1, BUY, 1, 9_000), LEAGUE_B)
    assert cores.busy(SYM)
    cores.cancel(oid(1))
    assert not cores.busy(SYM)


def test_a_new_scope_quotes_every_known_reference(cores: ScopedCores) -> None:
    events = cores.submit(market_buy(1, 1), uuid.UUID(int=0xC))  # first order of a new league
    assert trades(events) == [Trade(SYM, 10_005, 1, BUY, oid(1), None)]


@pytest.mark.parametrize(("first", "again"), [(PUBLIC, LEAGUE_A), (LEAGUE_A, PUBLIC)])
def test_an_order_live_in_one_scope_is_ignored_in_another(
    cores: ScopedCores, first: uuid.UUID | None, again: uuid.UUID | None
) -> None:
    """Public orders are not in the routing table: the public core itself says they are live."""
    assert cores.submit(limit(1, SELL, 5, 10_001), first) == [Accepted(oid(1), 1)]
    assert cores.submit(limit(1, SELL, 5, 10_001), again) == []
    assert cores.scope_of(oid(1)) == first
    with pytest.raises(ValueError, match="already live"):
        cores.restore(limit(1, SELL, 5, 10_001), again)
    assert cores.cancel(oid(1)) == [Canceled(oid(1), "canceled by user")]
    assert cores.cancel(oid(1)) == [] and cores.replace(oid(1), qty=3) == []
    # not live any more: it may be placed again anywhere
    assert cores.submit(limit(1, SELL, 5, 10_001), again) == [Accepted(oid(1), 2)]
    assert cores.scope_of(oid(1)) == again


def test_commands_for_unknown_orders_create_no_scope() -> None:
    cores = ScopedCores(spread_bps=10, house_size=None)
    assert cores.cancel(oid(1)) == [] and cores.replace(oid(1), qty=3) == []
    assert cores.scopes == []
