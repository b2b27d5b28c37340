"""SQL behind the Alpaca market-data routes: bars by keyset, the last trade of a symbol."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from trading_service.tables import candles, trades


async def bars_page(
    conn: AsyncConnection,
    symbols: list[str],
    interval: str,
    start: datetime,
    end: datetime,
    after: tuple[str, datetime] | None,
    limit: int,
    newest_first: bool = False,
) -> list[Any]:
    """Bars of `symbols` starting in [start, end), by symbol then time, after `after`.

    Keyset paging: the page token is the last (symbol, start) served, so pages never overlap or
    skip a bar even while new bars are written.
    """
    query = select(candles).where(
        candles.c.symbol.in_(symbols),
        candles.c.interval == interval,
        candles.c.start_ts >= start,
        candles.c.start_ts < end,
    )
    if after is not None:
        symbol, ts = after
        query = query.where(
            or_(
                candles.c.symbol > symbol,
                and_(
                    candles.c.symbol == symbol,
                    candles.c.start_ts < ts if newest_first else candles.c.start_ts > ts,
                ),
            )
        )
    by_time = candles.c.start_ts.desc() if newest_first else candles.c.start_ts
    query = query.order_by(candles.c.symbol, by_time).limit(limit)
    return list((await conn.execute(query)).all())


async def latest_bars(conn: AsyncConnection, symbol: str, interval: str, count: int) -> list[Any]:
    """The newest `count` stored bars of one symbol, newest first."""
    query = (
        select(candles)
        .where(candles.c.symbol == symbol, candles.c.interval == interval)
        .order_by(candles.c.start_ts.desc())
        .limit(count)
    )
    return list((await conn.execute(query)).all())


async def last_trade(conn: AsyncConnection, symbol: str) -> Any | None:
    query = (
        select(trades.c.id, trades.c.price, trades.c.qty, trades.c.ts)
        .where(trades.c.symbol == symbol)
        .order_by(trades.c.ts.desc(), trades.c.id.desc())
        .limit(1)
    )
    return (await conn.execute(query)).one_or_none()
