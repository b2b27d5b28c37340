"""The engine's pure accounting (no I/O): fills into cash, positions and reservations, and the
invariant check, what it refuses and whom it blames."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from trading_service.engine.accounting import (
    Balance,
    Entry,
    FillRecord,
    Holding,
    InvariantBroken,
    OrderState,
    ReplaceSettled,
    Settlement,
    TradeRecord,
    check_invariants,
    house_symbols,
    order_ids,
    settle,
)
from trading_service.engine.core.model import Accepted, Canceled, Expired, Replaced, Side, Trade
from trading_service.order_status import OrderStatus

HOUSE = uuid.UUID(int=0)
NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def order(account: uuid.UUID, **changes: Any) -> OrderState:
    """A buy limit of 10 at 1.00 with its whole reservation, as the API stores it."""
    base: dict[str, Any] = {
        "id": uuid.uuid4(),
        "account_id": account,
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "status": OrderStatus.NEW,
        "qty": 10,
        "filled_qty": 0,
        "filled_notional": Decimal("0.00"),
        "reserved_cash": Decimal("10.00"),
        "reserved_qty": 0,
        "limit_price": Decimal("1.00"),
        "stop_price": None,
        "protection_price": None,
        "reject_reason": None,
        "priority": None,
        "accepted_at": None,
        "triggered_at": None,
        "replace_applied_seq": 0,
        "replace_reject_reason": None,
        "created_at": NOW,
    }
    return OrderState(**(base | changes))


def holding(qty: int, reserved: int, house: bool = False) -> Holding:
    return Holding(qty, reserved, Decimal("0"), Decimal("0"), house, True)


def test_a_consistent_state_passes_and_the_house_may_go_negative() -> None:
    user = uuid.uuid4()
    check_invariants(
        HOUSE,
        {user: Balance(Decimal("100.00"), Decimal("100.00")), HOUSE: Balance(Decimal("-5"), 0)},
        {(user, "AAPL"): holding(3, 3), (HOUSE, "AAPL"): holding(-3, 0, house=True)},
        [order(user)],
    )


def test_reserving_more_than_the_cash_blames_that_accounts_orders_only() -> None:
    greedy, bystander = uuid.uuid4(), uuid.uuid4()
    mine, theirs = order(greedy), order(bystander)
    with pytest.raises(InvariantBroken) as broken:
        check_invariants(
            HOUSE,
            {
                greedy: Balance(Decimal("100.00"), Decimal("10000000.00")),
                bystander: Balance(Decimal("50.00"), Decimal("10.00")),
            },
            {},
            [mine, theirs],
        )
    assert broken.value.order_ids == {mine.id}
    assert "cash 100.00 with 10000000.00 reserved" in broken.value.reason


@pytest.mark.parametrize(
    ("balance", "held", "changes"),
    [
        (Balance(Decimal("-1.00"), Decimal("0")), holding(0, 0), {}),  # overdrawn cash
        (Balance(Decimal("10"), Decimal("-1.00")), holding(0, 0), {}),  # negative reservation
        (Balance(Decimal("10"), Decimal("0")), holding(2, 3), {}),  # selling unheld shares
        (Balance(Decimal("10"), Decimal("0")), holding(2, 0), {"filled_qty": 11}),  # overfilled
        (Balance(Decimal("10"), Decimal("10")), holding(0, 0), {"status": "canceled"}),
    ],
)
def test_each_broken_invariant_is_refused(
    balance: Balance, held: Holding, changes: dict[str, Any]
) -> None:
    user = uuid.uuid4()
    bad = order(user, **changes)
    with pytest.raises(InvariantBroken) as broken:
        check_invariants(HOUSE, {user: balance}, {(user, "AAPL"): held}, [bad])
    assert broken.value.order_ids == {bad.id}


# --- settle: the core's events into cash, positions and reservations, on typed records ------

ALICE, BOB = uuid.UUID(int=1), uuid.UUID(int=2)


def money(**balances: str) -> dict[uuid.UUID, Balance]:
    """Balances as `alice="cash/reserved"`; the house always has some."""
    ids = {"alice": ALICE, "bob": BOB}
    out = {HOUSE: Balance(Decimal("1000000.00"), Decimal("0.00"))}
    for name, value in balances.items():
        cash, reserved = value.split("/")
        out[ids[name]] = Balance(Decimal(cash), Decimal(reserved))
    return out


def run(
    events: list[Entry],
    orders: list[OrderState],
    balances: dict[uuid.UUID, Balance],
    holdings: dict[tuple[uuid.UUID, str], Holding] | None = None,
) -> Settlement:
    return settle(HOUSE, events, {o.id: o for o in orders}, balances, holdings or {}, NOW)


def test_a_buy_filled_below_its_limit_pays_the_price_and_gives_back_the_rest() -> None:
    buy = order(ALICE, qty=10, limit_price=Decimal("1.00"), reserved_cash=Decimal("10.00"))
    balances = money(alice="50.00/10.00")
    result = run(
        [Accepted(buy.id, 7), Trade("AAPL", 95, 10, Side.BUY, buy.id, None)], [buy], balances
    )
    assert (buy.status, buy.filled_qty, buy.filled_notional) == ("filled", 10, Decimal("9.50"))
    assert (buy.reserved_cash, buy.priority, buy.accepted_at) == (Decimal("0.00"), 7, NOW)
    assert balances[ALICE] == Balance(Decimal("40.50"), Decimal("0.00"))
    assert balances[HOUSE].cash == Decimal("1000009.50")
    held = result.holdings[(ALICE, "AAPL")]
    assert (held.qty, held.cost_basis, held.exists) == (10, Decimal("9.50"), False)
    assert result.holdings[(HOUSE, "AAPL")].qty == -10  # the house may go short
    assert result.trades == [TradeRecord(1, "AAPL", Decimal("0.95"), 10, "buy", buy.id, None, NOW)]
    assert result.fills == [
        FillRecord(1, buy.id, ALICE, "AAPL", "buy", Decimal("0.95"), 10, "taker", NOW)
    ]
    assert result.orders == [buy]


def test_two_users_trade_maker_and_taker_numbered_in_event_order() -> None:
    resting = order(BOB, side="sell", limit_price=Decimal("2.00"), qty=5,
                    reserved_cash=Decimal("0.00"), reserved_qty=5)  # fmt: skip
    taker = order(ALICE, qty=5, limit_price=Decimal("2.00"), reserved_cash=Decimal("10.00"))
    balances = money(alice="10.00/10.00", bob="0.00/0.00")
    holdings = {(BOB, "AAPL"): Holding(5, 5, Decimal("5.00"), Decimal("0.00"), False, True)}
    result = run(
        [
            Trade("AAPL", 200, 2, Side.BUY, taker.id, resting.id),
            Trade("AAPL", 200, 3, Side.BUY, taker.id, resting.id),
        ],
        [resting, taker],
        balances,
        holdings,
    )
    assert [t.seq for t in result.trades] == [1, 2]
    assert [(f.trade_seq, f.side, f.liquidity) for f in result.fills] == [
        (1, "buy", "taker"), (1, "sell", "maker"), (2, "buy", "taker"), (2, "sell", "maker")
    ]  # fmt: skip
    assert balances[BOB] == Balance(Decimal("10.00"), Decimal("0.00"))
    assert balances[ALICE] == Balance(Decimal("0.00"), Decimal("0.00"))
    bob = holdings[(BOB, "AAPL")]
    # Selling the whole position takes all of its cost: no rounding residue is left behind.
    assert (bob.qty, bob.reserved_qty, bob.cost_basis, bob.realized_pnl) == (
        0, 0, Decimal("0.00"), Decimal("5.00")
    )  # fmt: skip
    assert resting.status == taker.status == "filled"


def test_a_partial_sell_takes_its_share_of_the_cost_rounded_half_even() -> None:
    sell = order(ALICE, side="sell", qty=1, limit_price=Decimal("1.00"),
                 reserved_cash=Decimal("0.00"), reserved_qty=1)  # fmt: skip
    holdings = {(ALICE, "AAPL"): Holding(3, 1, Decimal("1.00"), Decimal("0.00"), False, True)}
    run([Trade("AAPL", 100, 1, Side.SELL, None, sell.id)], [sell], money(alice="0/0"), holdings)
    held = holdings[(ALICE, "AAPL")]
    # 1.00 / 3 = 0.333... -> 0.33 of cost goes with the share sold
    assert (held.qty, held.cost_basis, held.realized_pnl) == (2, Decimal("0.67"), Decimal("0.67"))


def test_a_canceled_partly_filled_order_releases_the_rest_once() -> None:
    buy = order(ALICE, qty=10, limit_price=Decimal("1.00"), reserved_cash=Decimal("10.00"))
    balances = money(alice="100.00/10.00")
    run(
        [
            Trade("AAPL", 100, 4, Side.BUY, buy.id, None),
            Canceled(buy.id, "canceled by user"),
            Canceled(buy.id, "a second copy changes nothing"),
        ],
        [buy],
        balances,
    )
    assert (buy.status, buy.reject_reason, buy.reserved_cash) == (
        "canceled", "canceled by user", Decimal("0.00")
    )  # fmt: skip
    assert balances[ALICE] == Balance(Decimal("96.00"), Decimal("0.00"))


def test_a_replace_reserves_exactly_what_the_new_terms_need() -> None:
    buy = order(ALICE, qty=10, limit_price=Decimal("1.00"), reserved_cash=Decimal("20.00"))
    balances = money(alice="100.00/20.00")  # the API reserved for up to 10 at 2.00
    run([ReplaceSettled(buy.id, 1, None), Replaced(buy.id, 8, 150, None, 9)], [buy], balances)
    assert (buy.qty, buy.limit_price, buy.priority, buy.replace_applied_seq) == (
        8, Decimal("1.50"), 9, 1
    )  # fmt: skip
    assert buy.reserved_cash == balances[ALICE].reserved_cash == Decimal("12.00")


def test_a_refused_replace_gives_back_what_the_api_reserved_for_it() -> None:
    sell = order(ALICE, side="sell", qty=2, reserved_cash=Decimal("0.00"), reserved_qty=5)
    holdings = {(ALICE, "AAPL"): Holding(5, 5, Decimal("5.00"), Decimal("0.00"), False, True)}
    run([ReplaceSettled(sell.id, 3, refused="no")], [sell], money(alice="0/0"), holdings)
    assert (sell.reserved_qty, holdings[(ALICE, "AAPL")].reserved_qty) == (2, 2)
    assert (sell.replace_applied_seq, sell.replace_reject_reason) == (3, "no")


def test_an_overdraft_is_refused_before_anything_is_written() -> None:
    buy = order(ALICE, qty=10, limit_price=Decimal("1.00"), reserved_cash=Decimal("10.00"))
    with pytest.raises(InvariantBroken) as broken:
        run([Trade("AAPL", 100, 10, Side.BUY, buy.id, None)], [buy], money(alice="5.00/10.00"))
    assert broken.value.order_ids == {buy.id}


def test_events_of_orders_never_stored_change_nothing() -> None:
    result = run([Canceled(uuid.uuid4(), "ghost")], [], money())
    assert (result.orders, result.trades, result.fills) == ([], [], [])


def test_whose_rows_a_batch_locks() -> None:
    buy, gone = order(ALICE), uuid.uuid4()
    events: list[Entry] = [Trade("MSFT", 100, 1, Side.BUY, buy.id, None), Expired(gone)]
    assert order_ids(events) == {buy.id, gone}
    # The house's account and position are locked only in the symbols where it traded (the
    # orders' accounts and positions: Repository.lock, test_engine_fencing.py).
    assert house_symbols(events) == {"MSFT"}
    between_orders = Trade("AAPL", 100, 1, Side.BUY, buy.id, uuid.uuid4())
    assert house_symbols([between_orders, Expired(gone)]) == set()
