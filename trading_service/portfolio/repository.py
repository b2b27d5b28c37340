"""SQL of the portfolio read."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from trading_service.tables import accounts, positions


async def get_account(conn: AsyncConnection, account_id: uuid.UUID) -> Row[Any]:
    return (await conn.execute(select(accounts).where(accounts.c.id == account_id))).one()


async def get_positions(conn: AsyncConnection, account_id: uuid.UUID) -> list[Row[Any]]:
    rows = await conn.execute(
        select(positions).where(positions.c.account_id == account_id).order_by(positions.c.symbol)
    )
    return list(rows.all())
