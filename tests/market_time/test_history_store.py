"""The past is written once per symbol, however many stock services start at once (real
PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.stack import Stack
from shared.market_clock import MarketClock
from stock_service.market.history import generate_history
from stock_service.market.history_store import write_history
from stock_service.market.universe import Listing

CLOCK = MarketClock(datetime(2026, 12, 4, 15, 0, tzinfo=UTC), 6.5)


async def test_concurrent_starts_write_the_past_once(stack: Stack, db: AsyncEngine) -> None:
    listing = Listing(f"H{uuid.uuid4().hex[:5].upper()}", "H", Decimal("42.00"), 0.05, 0.2)
    anchors = [(listing, Decimal("42.00"))]
    kwargs = {"seed": 3, "days": 30, "minute_days": 2}
    written = await asyncio.gather(*(write_history(db, CLOCK, anchors, **kwargs) for _ in range(3)))
    assert sorted(written) == [0, 0, 1]
    assert await write_history(db, CLOCK, anchors, **kwargs) == 0  # a restart

    expected = list(generate_history(CLOCK, listing, anchor=Decimal("42.00"), **kwargs))
    async with db.connect() as conn:
        stored = (
            await conn.execute(
                text(
                    "SELECT interval, start_ts, open, high, low, close, volume FROM candles "
                    "WHERE symbol = :s ORDER BY interval, start_ts"
                ),
                {"s": listing.symbol},
            )
        ).all()
        book = (
            await conn.execute(
                text("SELECT anchor_price, bars FROM market_history WHERE symbol = :s"),
                {"s": listing.symbol},
            )
        ).one()
    assert [tuple(r) for r in stored] == sorted(
        (b.interval, b.start, b.open, b.high, b.low, b.close, b.volume) for b in expected
    )
    assert (book.anchor_price, book.bars) == (Decimal("42.00"), len(expected))
