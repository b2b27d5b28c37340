"""The engine's pure invariant check (no I/O): what it refuses and whom it blames."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from trading_service.engine.accounting import (
    Balance,
    Holding,
    InvariantBroken,
    OrderState,
    check_invariants,
)

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
        "status": "new",
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
