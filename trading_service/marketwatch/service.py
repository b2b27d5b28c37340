"""Every symbol's price with its change since the day's open and a sparkline, in one read.

"Today" is the market clock's trading day: the open is the first tick of the current session.
"""

from __future__ import annotations

from datetime import UTC, datetime

from trading_service.candles.aggregator import CandleAggregator
from trading_service.marketwatch.schemas import WatchRowOut
from trading_service.prices.cache import PriceCache


async def market_watch(
    prices: PriceCache, candles: CandleAggregator, points: int, now: datetime | None = None
) -> list[WatchRowOut]:
    today = candles.clock.current_session(now or datetime.now(UTC)).open
    rows = []
    for tick in await prices.all():
        day = await candles.history(tick.symbol, "1d", None, 1)
        minutes = await candles.history(tick.symbol, "1m", None, points)
        # Until today's first tick makes today's bar, the price itself is the open (the
        # latest bar may be an earlier day's).
        open_ = day[-1].open if day and day[-1].start == today else tick.price
        change = tick.price - open_
        rows.append(
            WatchRowOut(
                symbol=tick.symbol,
                price=tick.price,
                ts=tick.ts,
                market_ts=tick.market_ts,
                open=open_,
                change=change,
                change_pct=change * 100 / open_ if open_ else 0,
                sparkline=[bar.close for bar in minutes],
            )
        )
    return rows
