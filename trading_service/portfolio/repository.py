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


# GET /portfolio on asyncpg (trading_service/portfolio/service.portfolio_pg): plain SQL that
# asyncpg prepares once per connection.

_ACCOUNT_POSITIONS = """
SELECT a.cash, a.reserved_cash, p.symbol, p.qty, p.cost_basis, p.realized_pnl
FROM accounts a LEFT JOIN positions p ON p.account_id = a.id
WHERE a.id = $1
ORDER BY p.symbol
"""

_NEWEST_BARS = """
SELECT DISTINCT ON (symbol) symbol, start_ts, open
FROM candles WHERE symbol = ANY($1::text[]) AND interval = $2
ORDER BY symbol, start_ts DESC
"""

_FILL_TOTALS_SINCE = """
SELECT symbol, side, sum(qty) AS qty, sum(price * qty) AS notional
FROM fills WHERE account_id = $1 AND ts >= $2
GROUP BY symbol, side
"""


async def account_and_positions(pg: Any, account_id: uuid.UUID) -> tuple[Any, Any, list[Any]]:
    """(cash, reserved_cash, positions by symbol) of the account, in one round trip."""
    rows = await pg.fetch(_ACCOUNT_POSITIONS, account_id)
    if not rows:
        raise LookupError(f"no account {account_id}")
    return rows[0]["cash"], rows[0]["reserved_cash"], [r for r in rows if r["symbol"] is not None]


async def newest_bars_pg(pg: Any, symbols: list[str], interval: str) -> dict[str, Any]:
    """`latest_bars` (no `before`) on asyncpg: each symbol's newest bar (start_ts, open)."""
    return {r["symbol"]: r for r in await pg.fetch(_NEWEST_BARS, symbols, interval)}


async def fill_totals_since(pg: Any, account_id: uuid.UUID, since: datetime) -> list[Any]:
    """The account's fills since `since` summed per symbol and side: qty and notional (exact)."""
    return list(await pg.fetch(_FILL_TOTALS_SINCE, account_id, since))
