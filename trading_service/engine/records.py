"""What the engine reads from PostgreSQL to match: typed records, no I/O (see repository.py).

Read-only by convention, not `frozen`: a frozen dataclass's __init__ sets every field through
object.__setattr__, several times slower, and the engine builds one record per order message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(slots=True)
class StoredOrder:
    """An order's terms as the API stored them, with the scope it matches in (its account's
    league, None for personal accounts). `trading_service.stored_orders.to_core_order` turns it
    into the core's Order."""

    id: uuid.UUID
    account_id: uuid.UUID
    league_id: uuid.UUID | None
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: int
    limit_price: Decimal | None
    stop_price: Decimal | None
    protection_price: Decimal | None
    filled_qty: int
    priority: int | None
    accepted_at: datetime | None
    triggered_at: datetime | None
    replace_seq: int
    replace_applied_seq: int


@dataclass(slots=True)
class PendingReplace:
    """An open order's replace the API accepted and the engine has not settled yet."""

    order_id: uuid.UUID
    accepted_at: datetime | None  # None: the engine has not seen the order itself yet
    replace_seq: int
    qty: int
    limit_price: Decimal | None
    stop_price: Decimal | None
    protection_price: Decimal | None


@dataclass(slots=True)
class ReferencePrice:
    symbol: str
    price: Decimal
    seq: int
    ts: datetime


@dataclass(slots=True)
class StoredBooks:
    """What a rebuild loads: offsets of every stored partition, reference prices, open orders
    the engine accepted (oldest priority first)."""

    offsets: dict[tuple[str, int], int]
    references: list[ReferencePrice]
    resting: list[StoredOrder]
