"""Writes each listing's generated past into the `candles` table, once per symbol.

The bookkeeping row in `market_history` and the bars commit in one transaction, so a crash
leaves either both or neither, and a second stock service (or a restart) finds the row and
skips the symbol. Bars are inserted with ON CONFLICT DO NOTHING: live bars are never touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.market_clock import MarketClock
from stock_service.market.history import HistoryBar, generate_history
from stock_service.market.universe import Listing

log = logging.getLogger(__name__)

_CLAIM = text(
    "INSERT INTO market_history (symbol, anchor_price, bars) VALUES (:symbol, :anchor, :bars) "
    "ON CONFLICT (symbol) DO NOTHING RETURNING symbol"
)
_INSERT_BARS = text(
    """
    INSERT INTO candles (symbol, interval, start_ts, end_ts, open, high, low, close,
                         open_seq, close_seq, volume)
    SELECT :symbol, b.* FROM unnest(
        CAST(:interval AS text[]), CAST(:start_ts AS timestamptz[]),
        CAST(:end_ts AS timestamptz[]), CAST(:open AS numeric[]), CAST(:high AS numeric[]),
        CAST(:low AS numeric[]), CAST(:close AS numeric[]), CAST(:open_seq AS bigint[]),
        CAST(:close_seq AS bigint[]), CAST(:volume AS bigint[])) AS b
    ON CONFLICT (symbol, interval, start_ts) DO NOTHING
    """
)
_KNOWN = text("SELECT symbol FROM market_history WHERE symbol = ANY(:symbols)")
_CHUNK = 5000


def _columns(bars: Sequence[HistoryBar]) -> dict[str, list[Any]]:
    return {
        "interval": [b.interval for b in bars],
        "start_ts": [b.start for b in bars],
        "end_ts": [b.end for b in bars],
        "open": [b.open for b in bars],
        "high": [b.high for b in bars],
        "low": [b.low for b in bars],
        "close": [b.close for b in bars],
        "open_seq": [b.open_seq for b in bars],
        "close_seq": [b.close_seq for b in bars],
        "volume": [b.volume for b in bars],
    }


def _generate(
    clock: MarketClock, listing: Listing, *, seed: int, anchor: Decimal, days: int, minute_days: int
) -> list[HistoryBar]:
    return list(
        generate_history(
            clock, listing, seed=seed, anchor=anchor, days=days, minute_days=minute_days
        )
    )


async def write_history(
    db: AsyncEngine,
    clock: MarketClock,
    listings: Iterable[tuple[Listing, Decimal]],
    *,
    seed: int,
    days: int,
    minute_days: int,
) -> int:
    """Store the past of every (listing, anchor price) that has none yet; the symbols written."""
    pending = list(listings)
    if days <= 0:
        return 0  # no past wanted: claim nothing, so a later start with a past still writes it
    async with db.connect() as conn:
        known = set(
            (await conn.execute(_KNOWN, {"symbols": [x.symbol for x, _ in pending]})).scalars()
        )
    written = 0
    for listing, anchor in pending:
        if listing.symbol in known:
            continue
        # Generating is CPU work (~0.1 s a symbol): off the event loop, which keeps ticking.
        bars = await asyncio.to_thread(
            _generate, clock, listing, seed=seed, anchor=anchor, days=days, minute_days=minute_days
        )
        async with db.begin() as conn:
            claimed = await conn.execute(
                _CLAIM, {"symbol": listing.symbol, "anchor": anchor, "bars": len(bars)}
            )
            if claimed.first() is None:
                continue  # another stock service wrote it meanwhile
            for i in range(0, len(bars), _CHUNK):
                chunk = bars[i : i + _CHUNK]
                await conn.execute(_INSERT_BARS, {"symbol": listing.symbol, **_columns(chunk)})
        written += 1
    if written:
        log.info("wrote the market's history", extra={"symbols": written, "days": days})
    return written


async def keep_writing_history(
    db: AsyncEngine,
    clock: MarketClock,
    listings: Sequence[tuple[Listing, Decimal]],
    *,
    seed: int,
    days: int,
    minute_days: int,
    retry_s: float = 5.0,
) -> None:
    """`write_history` until it succeeds: the feed ticks on while PostgreSQL is unreachable."""
    while True:
        try:
            await write_history(db, clock, listings, seed=seed, days=days, minute_days=minute_days)
            return
        except Exception:
            log.warning("could not write the market's history; retrying", exc_info=True)
            await asyncio.sleep(retry_s)
