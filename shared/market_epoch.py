"""Where the market clock's epoch lives: `STOCKSIM_MARKET_EPOCH`, else PostgreSQL.

The first process to start (any service, or the engine) stores the wall time it started at in
the one-row table `market_clock`; every other process, and every restart, reads that row back.
So all processes agree on market time without sharing a disk, and a restart resumes the market
where it was instead of starting a new first day. The row also keeps the speed and trading day 0,
so a new speed continues market time instead of jumping it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import CommonSettings
from shared.market_clock import MarketClock

_STORE_IF_ABSENT = text(
    "INSERT INTO market_clock (id, epoch, time_scale, day_zero) "
    "VALUES (1, :epoch, :time_scale, :day_zero) ON CONFLICT (id) DO NOTHING"
)
_READ = text("SELECT epoch, time_scale, day_zero FROM market_clock WHERE id = 1 FOR UPDATE")
_RESCALE = text(
    "UPDATE market_clock SET epoch = :epoch, time_scale = :time_scale, updated_at = now() "
    "WHERE id = 1"
)


async def load_market_clock(db: AsyncEngine, settings: CommonSettings) -> MarketClock:
    """The clock every process shares; the first call on a fresh database fixes the epoch.

    A process started with another `MARKET_TIME_SCALE` than the stored one changes the speed
    from now on without moving market time (MarketClock.at_speed): restart all processes
    together when changing it, or they run at different speeds until they are.
    """
    if settings.market_epoch is not None:
        return MarketClock(settings.market_epoch.astimezone(UTC), settings.market_time_scale)
    now = datetime.now(UTC)
    fresh = MarketClock(now, settings.market_time_scale)
    async with db.begin() as conn:
        await conn.execute(
            _STORE_IF_ABSENT,
            {"epoch": now, "time_scale": fresh.time_scale, "day_zero": fresh.first_day},
        )
        row = (await conn.execute(_READ)).one()
        clock = MarketClock(row.epoch.astimezone(UTC), row.time_scale, row.day_zero)
        if clock.time_scale != settings.market_time_scale:
            clock = clock.at_speed(settings.market_time_scale, now)
            await conn.execute(_RESCALE, {"epoch": clock.epoch, "time_scale": clock.time_scale})
    return clock
