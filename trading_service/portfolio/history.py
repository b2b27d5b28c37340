"""The account's equity over time (Alpaca's portfolio-history shape), from fills and candles.

Point i stands for the bar that starts at timestamp[i]: cash after every fill before the bar's
end, plus each holding at that bar's close (the last earlier close when the bar has none, the
fill price before any bar, the live price for the bar still forming). Cash is the starting grant
less buys plus sells, exactly as the engine books it, so every value is an exact Decimal.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import UnprocessableEntity
from trading_service.candles.aggregator import bucket_start
from trading_service.portfolio import repository
from trading_service.portfolio.schemas import PortfolioHistoryOut
from trading_service.prices.cache import PriceCache

PERIODS = {"1D": timedelta(days=1), "1W": timedelta(days=7), "1M": timedelta(days=30)}
# Alpaca's timeframe names and the candle interval each one reads.
TIMEFRAMES = {"1Min": "1m", "5Min": "5m", "15Min": "15m", "1H": "1h", "1D": "1d"}
_SECONDS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
MAX_POINTS = 3000
PCT = Decimal("0.000001")


class _Book:
    """Cash and shares as the account's fills, replayed in time order, leave them."""

    def __init__(self, grant: Decimal, fills: list[Any]) -> None:
        self.cash = grant
        self.qty: dict[str, int] = defaultdict(int)
        self.fill_price: dict[str, Decimal] = {}
        self._fills = fills
        self._next = 0

    def advance(self, until: datetime) -> None:
        """Apply every fill before `until`."""
        while self._next < len(self._fills) and self._fills[self._next].ts < until:
            f = self._fills[self._next]
            sign = 1 if f.side == "buy" else -1
            self.cash -= sign * f.price * f.qty
            self.qty[f.symbol] += sign * f.qty
            self.fill_price[f.symbol] = f.price
            self._next += 1

    def equity(self, price: dict[str, Decimal]) -> Decimal:
        return self.cash + sum(
            (q * price.get(s, self.fill_price[s]) for s, q in self.qty.items() if q),
            Decimal("0"),
        )


async def history(
    conn: AsyncConnection,
    prices: PriceCache,
    account_id: uuid.UUID,
    period: str,
    timeframe: str,
    now: datetime,
) -> PortfolioHistoryOut:
    interval = TIMEFRAMES[timeframe]
    step = timedelta(seconds=_SECONDS[interval])
    points = PERIODS[period] // step
    if points > MAX_POINTS:
        raise UnprocessableEntity(
            f"period {period} in {timeframe} bars would be {points:,} points (at most "
            f"{MAX_POINTS:,}); choose a longer timeframe"
        )
    account = await repository.get_account(conn, account_id)
    last = bucket_start(now, _SECONDS[interval])
    # No points from before the account existed: it had no equity to show.
    first = max(
        last - (max(points, 1) - 1) * step, bucket_start(account.created_at, _SECONDS[interval])
    )
    fills = await repository.fills_since(conn, account_id, None)
    symbols = sorted({f.symbol for f in fills})
    price = {
        s: bar.close
        for s, bar in (await repository.latest_bars(conn, symbols, interval, before=first)).items()
    }
    closes: dict[datetime, list[Any]] = defaultdict(list)
    for bar in await repository.bar_closes(conn, symbols, interval, first, last):
        closes[bar.start_ts].append(bar)
    live = await prices.get_many(symbols)

    book = _Book(account.granted_cash, fills)
    book.advance(first)
    base = book.equity(price)
    stamps: list[int] = []
    equity: list[Decimal] = []
    t = first
    while t <= last:
        book.advance(min(t + step, now))
        price.update({bar.symbol: bar.close for bar in closes.get(t, ())})
        if t == last:
            price.update({s: tick.price for s, tick in live.items()})
        stamps.append(int(t.timestamp()))
        equity.append(book.equity(price))
        t += step
    profit = [e - base for e in equity]
    return PortfolioHistoryOut(
        timestamp=stamps,
        equity=equity,
        profit_loss=profit,
        profit_loss_pct=[f"{(p / base if base else Decimal('0')).quantize(PCT):f}" for p in profit],
        base_value=base,
        timeframe=timeframe,
    )
