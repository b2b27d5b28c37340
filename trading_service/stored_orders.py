"""A stored order's terms as the matching core sees them (prices in ticks).

Here, outside both the API's and the engine's folders: the API builds the `NewOrder` it hands to
the engine from its row, the engine rebuilds its books and applies new orders from its own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.money import to_ticks
from trading_service.engine.core.model import Order, OrderType, Side, TimeInForce


def ticks(value: Decimal | None) -> int | None:
    return None if value is None else to_ticks(value)


def to_core_order(row: Any) -> Order:
    """The core's view of a stored order: any record with the `orders` columns as attributes."""
    return Order(
        id=row.id,
        account_id=row.account_id,
        symbol=row.symbol,
        side=Side(row.side),
        type=OrderType(row.type),
        tif=TimeInForce(row.time_in_force),
        qty=row.qty,
        limit=ticks(row.limit_price),
        stop=ticks(row.stop_price),
        protection=ticks(row.protection_price),
        filled=row.filled_qty,
        priority=row.priority or 0,
    )
