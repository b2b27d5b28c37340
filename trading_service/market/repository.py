"""SQL of the public tape."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from trading_service.tables import trades


async def recent_trades(conn: AsyncConnection, symbol: str, limit: int) -> list[Any]:
    rows = await conn.execute(
        select(trades.c.id, trades.c.price, trades.c.qty, trades.c.aggressor_side, trades.c.ts)
        .where(trades.c.symbol == symbol)
        .order_by(trades.c.id.desc())
        .limit(limit)
    )
    return list(rows.all())
