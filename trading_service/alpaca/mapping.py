"""Our orders, positions and accounts in Alpaca's shapes (pure functions, no I/O)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from shared.money import fmt
from trading_service.alpaca.schemas import OrderOut
from trading_service.order_status import OPEN

# Stable asset ids: the same symbol has the same id on every install and every restart.
_ASSET_NAMESPACE = uuid.UUID("9d1b4a4e-4a8f-5c1e-9a57-0f3e6a2b7c11")


def asset_id(symbol: str) -> uuid.UUID:
    return uuid.uuid5(_ASSET_NAMESPACE, symbol.upper())


def account_number(account_id: uuid.UUID) -> str:
    # Alpaca's look (PA + digits), derived from the id so it never changes.
    return "PA" + str(account_id.int % 10**10).zfill(10)


def money(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def status_of(row: Any, replaced: bool) -> str:
    """Alpaca's status for a stored order.

    `accepted`: stored, the engine has not taken it yet; `new`: resting in the book;
    `pending_cancel`: a cancel is recorded and the engine has not carried it out;
    `replaced`: canceled by a replace (/v2 PATCH), the new order names it in `replaces`.
    """
    if row.status == "canceled" and replaced:
        return "replaced"
    if row.status in OPEN and row.cancel_requested_at is not None:
        return "pending_cancel"
    if row.status == "new" and row.accepted_at is None:
        return "accepted"
    return str(row.status)


def order_out(
    row: Any, replaced_by: uuid.UUID | None = None, replaces: uuid.UUID | None = None
) -> OrderOut:
    status = status_of(row, replaced_by is not None)
    ended = row.updated_at
    avg = None if row.filled_qty == 0 else row.filled_notional / row.filled_qty
    return OrderOut(
        id=row.id,
        client_order_id=row.client_order_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        submitted_at=row.created_at,
        filled_at=ended if row.status == "filled" else None,
        expired_at=ended if row.status == "expired" else None,
        canceled_at=ended if row.status == "canceled" and replaced_by is None else None,
        failed_at=ended if row.status == "rejected" else None,
        replaced_at=ended if replaced_by is not None else None,
        replaced_by=replaced_by,
        replaces=replaces,
        asset_id=asset_id(row.symbol),
        symbol=row.symbol,
        qty=str(row.qty),
        filled_qty=str(row.filled_qty),
        filled_avg_price=None if avg is None else f"{avg.normalize():f}",
        order_type=row.type,
        type=row.type,
        side=row.side,
        time_in_force=row.time_in_force,
        limit_price=money(row.limit_price),
        stop_price=money(row.stop_price),
        status=status,
    )
