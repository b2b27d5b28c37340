"""Pure accounting rules of the engine, on plain values: no I/O.

The ledger applies a batch's events to the rows it loaded, then asks `check_invariants` before
writing anything: a command whose effects would leave a user's cash, reservation or holding
negative (or an order over-filled, or a finished order still reserving) is refused here, with a
reason, instead of by a CHECK constraint that would roll back the whole batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trading_service.order_status import TERMINAL


@dataclass(slots=True)
class ReplaceSettled:
    """The engine settled the order's pending replace number `seq`: applied (the core's
    `Replaced` follows, priced with `protection`) or refused for `refused`. `seq` None: nothing
    was pending (a copy of a settled replace); the order is only reported again."""

    order_id: uuid.UUID
    seq: int | None
    protection: Decimal | None = None
    refused: str | None = None


class InvariantBroken(Exception):
    """Applying the events would break a money invariant; nothing was written."""

    def __init__(self, reason: str, order_ids: set[uuid.UUID]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.order_ids = order_ids  # the touched orders of the accounts that would break


@dataclass(slots=True)
class Balance:
    cash: Decimal
    reserved_cash: Decimal


@dataclass(slots=True)
class Holding:
    qty: int
    reserved_qty: int
    cost_basis: Decimal
    realized_pnl: Decimal
    house: bool
    exists: bool


def check_invariants(
    house_id: uuid.UUID,
    balances: Mapping[uuid.UUID, Balance],
    holdings: Mapping[tuple[uuid.UUID, str], Holding],
    orders: Iterable[Mapping[str, Any]],
) -> None:
    """Raise InvariantBroken if the state after a batch breaks invariant 1 or 3 for anyone."""
    problems: list[str] = []
    accounts: set[uuid.UUID] = set()
    positions: set[tuple[uuid.UUID, str]] = set()
    for account_id, b in balances.items():
        if account_id != house_id and (b.reserved_cash < 0 or b.cash < b.reserved_cash):
            problems.append(
                f"account {account_id} would hold cash {b.cash} with {b.reserved_cash} reserved"
            )
            accounts.add(account_id)
    for key, h in holdings.items():
        if not h.house and (h.reserved_qty < 0 or h.qty < h.reserved_qty):
            problems.append(f"position {key[1]} would hold {h.qty} with {h.reserved_qty} reserved")
            positions.add(key)
    offending: set[uuid.UUID] = set()
    for o in orders:
        if (
            o["account_id"] in accounts
            or (o["account_id"], o["symbol"]) in positions
            or o["reserved_cash"] < 0
            or o["reserved_qty"] < 0
            or not 0 <= o["filled_qty"] <= o["qty"]
            or (o["status"] in TERMINAL and (o["reserved_cash"] or o["reserved_qty"]))
        ):
            offending.add(o["id"])
            if o["account_id"] not in accounts and (o["account_id"], o["symbol"]) not in positions:
                problems.append(f"order {o['id']} would be {o['status']} reserving "
                                f"{o['reserved_cash']} / {o['reserved_qty']}")  # fmt: skip
    if problems:
        raise InvariantBroken("; ".join(problems[:3]), offending)
