"""SQL of the portfolio reads: the account, its positions, its fills, and the prices it needs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from trading_service.tables import accounts, candles, fills, positions


async def get_account(conn: AsyncConnection, account_id: uuid.UUID) -> Row[Any]:
    return (await conn.execute(select(accounts).where(accounts.c.id == account_id))).one()


async def get_positions(conn: AsyncConnection, account_id: uuid.UUID) -> list[Row[Any]]:
    rows = await conn.execute(
        select(positions).where(positions.c.account_id == account_id).order_by(positions.c.symbol)
    )
    return list(rows.all())


async def fills_since(
    conn: AsyncConnection, account_id: uuid.UUID, since: datetime | None
) -> list[Any]:
    """The account's fills (side, symbol, price, qty, ts), oldest first; all if `since` is None."""
    query = select(fills.c.side, fills.c.symbol, fills.c.price, fills.c.qty, fills.c.ts).where(
        fills.c.account_id == account_id
    )
    if since is not None:
        query = query.where(fills.c.ts >= since)
    return list((await conn.execute(query.order_by(fills.c.ts, fills.c.id))).all())


async def latest_bars(
    conn: AsyncConnection, symbols: list[str], interval: str, before: datetime | None = None
) -> dict[str, Any]:
    """Each symbol's newest stored bar of `interval` (starting before `before`, if given)."""
    if not symbols:
        return {}
    newest = select(candles.c.symbol, func.max(candles.c.start_ts).label("start_ts")).where(
        candles.c.symbol.in_(symbols), candles.c.interval == interval
    )
    if before is not None:
        newest = newest.where(candles.c.start_ts < before)
    latest = newest.group_by(candles.c.symbol).subquery()
    query = select(candles.c.symbol, candles.c.start_ts, candles.c.open, candles.c.close).join(
        latest,
        (candles.c.symbol == latest.c.symbol)
        & (candles.c.start_ts == latest.c.start_ts)
        & (candles.c.interval == interval),
    )
    return {r.symbol: r for r in (await conn.execute(query)).all()}


async def bar_closes(
    conn: AsyncConnection, symbols: list[str], interval: str, start: datetime, end: datetime
) -> list[Any]:
    """Closes (symbol, start_ts, close) of the bars starting in [start, end], oldest first."""
    if not symbols:
        return []
    query = (
        select(candles.c.symbol, candles.c.start_ts, candles.c.close)
        .where(
            candles.c.symbol.in_(symbols),
            candles.c.interval == interval,
            candles.c.start_ts >= start,
            candles.c.start_ts <= end,
        )
        .order_by(candles.c.start_ts)
    )
    return list((await conn.execute(query)).all())
