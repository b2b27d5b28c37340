"""SQL of the candles table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.market_clock import MarketClock
from trading_service.tables import candles

if TYPE_CHECKING:
    from trading_service.candles.aggregator import Bar

# Idempotent merge (see aggregator.py): safe when several replicas upsert the same bar. Bars are
# in market time, trades in wall time: the volume sums the trades of the bar's wall span.
_UPSERT = text(
    """
    INSERT INTO candles AS c (symbol, interval, start_ts, end_ts, open, high, low, close,
                              open_seq, close_seq, volume)
    SELECT b.symbol, b.interval, b.start_ts, b.end_ts, b.open, b.high, b.low, b.close,
           b.open_seq, b.close_seq,
           coalesce((SELECT sum(t.qty) FROM trades t
                     WHERE t.symbol = b.symbol AND t.ts >= b.wall_start AND t.ts < b.wall_end), 0)
    FROM unnest(CAST(:symbol AS text[]), CAST(:interval AS text[]),
                CAST(:start_ts AS timestamptz[]), CAST(:end_ts AS timestamptz[]),
                CAST(:open AS numeric[]), CAST(:high AS numeric[]), CAST(:low AS numeric[]),
                CAST(:close AS numeric[]), CAST(:open_seq AS bigint[]),
                CAST(:close_seq AS bigint[]), CAST(:wall_start AS timestamptz[]),
                CAST(:wall_end AS timestamptz[]))
         AS b(symbol, interval, start_ts, end_ts, open, high, low, close, open_seq, close_seq,
              wall_start, wall_end)
    ON CONFLICT (symbol, interval, start_ts) DO UPDATE SET
        open = CASE WHEN excluded.open_seq < c.open_seq THEN excluded.open ELSE c.open END,
        open_seq = least(c.open_seq, excluded.open_seq),
        high = greatest(c.high, excluded.high),
        low = least(c.low, excluded.low),
        close = CASE WHEN excluded.close_seq > c.close_seq THEN excluded.close ELSE c.close END,
        close_seq = greatest(c.close_seq, excluded.close_seq),
        volume = excluded.volume,
        updated_at = now()
    RETURNING symbol, interval, start_ts, open, high, low, close, open_seq, close_seq, volume
    """
)


async def upsert_bars(conn: AsyncConnection, bars: Sequence[Bar], clock: MarketClock) -> list[Any]:
    params: dict[str, list[Any]] = {
        "symbol": [b.symbol for b in bars],
        "interval": [b.interval for b in bars],
        "start_ts": [b.start for b in bars],
        "end_ts": [b.end for b in bars],
        "open": [b.open for b in bars],
        "high": [b.high for b in bars],
        "low": [b.low for b in bars],
        "close": [b.close for b in bars],
        "open_seq": [b.open_seq for b in bars],
        "close_seq": [b.close_seq for b in bars],
        "wall_start": [clock.wall_time(b.start) for b in bars],
        "wall_end": [clock.wall_time(b.end) for b in bars],
    }
    return list((await conn.execute(_UPSERT, params)).all())


async def list_candles(
    conn: AsyncConnection, symbol: str, interval: str, end: datetime | None, limit: int
) -> list[Any]:
    """Newest first: the `limit` bars that start before `end`."""
    query = select(candles).where(candles.c.symbol == symbol, candles.c.interval == interval)
    if end is not None:
        query = query.where(candles.c.start_ts < end)
    query = query.order_by(candles.c.start_ts.desc()).limit(limit)
    return list((await conn.execute(query)).all())
