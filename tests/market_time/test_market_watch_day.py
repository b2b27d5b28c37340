"""'Change today' on the market watch is measured from the market clock's trading day
(real PostgreSQL and Redis; a fast clock so that days pass within the test's timestamps)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.stack import Stack
from shared.market_clock import SESSION_S, MarketClock
from trading_service.candles.aggregator import CandleAggregator
from trading_service.marketwatch.service import market_watch
from trading_service.messages import PriceTick
from trading_service.prices.cache import PRICES_KEY, PriceCache

# One trading day per wall minute, starting on a Monday.
CLOCK = MarketClock(datetime(2026, 1, 5, 14, 30, tzinfo=UTC), SESSION_S / 60)


def at(seconds: float) -> datetime:
    return CLOCK.epoch + timedelta(seconds=seconds)


async def test_change_today_is_since_the_open_of_the_market_day(
    stack: Stack, db: AsyncEngine
) -> None:
    symbol = f"W{uuid.uuid4().hex[:5].upper()}"
    candles = CandleAggregator(db, 0.1, CLOCK)
    ticks = [(10, "100.00"), (20, "101.00"), (65, "110.00"), (70, "111.00")]  # day 0, day 1
    for seq, (seconds, price) in enumerate(ticks, start=1):
        candles.on_tick(symbol, Decimal(price), at(seconds), seq)
    await candles.flush()
    redis = Redis.from_url(stack.redis_url)
    try:
        # The latest price as the price consumer caches it (no pub/sub: only this test reads it).
        last = PriceTick(symbol, Decimal("111.00"), at(70).isoformat(), len(ticks))
        await redis.hset(PRICES_KEY, symbol, json.dumps(last.as_json()))
        prices = PriceCache(redis)

        (row,) = [r for r in await market_watch(prices, candles, 5, at(75)) if r.symbol == symbol]
        # Day 1 opened at 110.00; all four ticks fall on one wall-clock (UTC) day.
        assert (row.open, row.change, row.change_pct) == (
            Decimal("110.00"),
            Decimal("1.00"),
            Decimal("1.00") * 100 / Decimal("110.00"),
        )
        day_bars = await candles.history(symbol, "1d", None, 10)
        assert [b.open for b in day_bars] == [Decimal("100.00"), Decimal("110.00")]
        assert [b.start for b in day_bars] == [
            CLOCK.current_session(at(10)).open,
            CLOCK.current_session(at(65)).open,
        ]

        # Day 2 has no tick yet: the price itself is today's open, not day 1's.
        (row,) = [r for r in await market_watch(prices, candles, 5, at(125)) if r.symbol == symbol]
        assert (row.open, row.change) == (Decimal("111.00"), Decimal("0.00"))
    finally:
        await redis.hdel(PRICES_KEY, symbol)
        await redis.aclose()
