"""Where the market clock's epoch lives: `STOCKSIM_MARKET_EPOCH`, else PostgreSQL.

The first process to start (any service, or the engine) stores the wall time it started at in
the one-row table `market_clock`; every other process, and every restart, reads that row back.
So all processes agree on market time without sharing a disk, and a restart resumes the market
where it was instead of starting a new first day.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import CommonSettings
from shared.market_clock import MarketClock

_STORE_IF_ABSENT = text(
    "INSERT INTO market_clock (id, epoch) VALUES (1, :now) ON CONFLICT (id) DO NOTHING"
)
_READ = text("SELECT epoch FROM market_clock WHERE id = 1")


async def load_market_clock(db: AsyncEngine, settings: CommonSettings) -> MarketClock:
    """The clock every process shares; the first call on a fresh database fixes the epoch."""
    if settings.market_epoch is not None:
        return MarketClock(settings.market_epoch.astimezone(UTC), settings.market_time_scale)
    async with db.begin() as conn:
        await conn.execute(_STORE_IF_ABSENT, {"now": datetime.now(UTC)})
        epoch: datetime = (await conn.execute(_READ)).scalar_one()
    return MarketClock(epoch.astimezone(UTC), settings.market_time_scale)
