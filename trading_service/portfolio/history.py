"""The account's equity over time (Alpaca's portfolio-history shape), from fills and candles.

Everything is on the market clock (shared/market_clock.py), as the candles are: a period is a
number of sessions, the points are the bars of those sessions (the 1h bar starting 09:00 holds
09:30-10:00, as in `candles`), timestamps are bar starts in market time, and each fill (stored
with its wall time) is mapped to market time before the replay.

Point i stands for the bar that starts at timestamp[i]: cash after every fill before the bar's
end, plus each holding at that bar's close (the last earlier close when the bar has none, the
fill price before any bar, the live price for the bar still forming). Cash is the starting grant
less buys plus sells, exactly as the engine books it, so every value is an exact Decimal. After a
reset the series starts at the reset, from the starting cash.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import UnprocessableEntity
from shared.market_clock import MarketClock, session
from trading_service.accounts.service import starting_cash
from trading_service.candles.aggregator import bucket
from trading_service.portfolio import repository
from trading_service.portfolio.schemas import PortfolioHistoryOut
from trading_service.prices.cache import PriceCache

# Sessions per period: 1D is the current session, 1W a trading week, 1M a trading month.
PERIODS = {"1D": 1, "1W": 5, "1M": 21}
# Alpaca's timeframe names and the candle interval each one reads.
TIMEFRAMES = {"1Min": "1m", "5Min": "5m", "15Min": "15m", "1H": "1h", "1D": "1d"}
MAX_POINTS = 3000
PCT = Decimal("0.000001")


class _Book:
    """Cash and shares as the account's fills, replayed in time order, leave them."""

    def __init__(self, grant: Decimal, fills: list[tuple[datetime, Any]]) -> None:
        self.cash = grant
        self.qty: dict[str, int] = defaultdict(int)
        self.fill_price: dict[str, Decimal] = {}
        self._fills = fills
        self._next = 0

    def advance(self, until: datetime) -> None:
        """Apply every fill before market instant `until`."""
        while self._next < len(self._fills) and self._fills[self._next][0] < until:
            f = self._fills[self._next][1]
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


def session_bars(
    clock: MarketClock, interval: str, days: int, now: datetime
) -> list[tuple[datetime, datetime]]:
    """[start, end) in market time (UTC) of every `interval` bar of the last `days` sessions at
    wall instant `now`, the current session included."""
    today = clock.day_index(now)
    starts = []
    for index in range(today - days + 1, today + 1):
        day = session(clock.day_of(index))
        t = day.open.astimezone(UTC)
        while t < day.close:
            start, end = bucket(t, interval)
            starts.append((start, end))
            t = end
    return starts


async def history(
    conn: AsyncConnection,
    prices: PriceCache,
    clock: MarketClock,
    account_id: uuid.UUID,
    period: str,
    timeframe: str,
    now: datetime,
    personal_start: Decimal,
) -> PortfolioHistoryOut:
    interval = TIMEFRAMES[timeframe]
    starts = session_bars(clock, interval, PERIODS[period], now)
    if len(starts) > MAX_POINTS:
        raise UnprocessableEntity(
            f"period {period} in {timeframe} bars would be {len(starts):,} points (at most "
            f"{MAX_POINTS:,}); choose a longer timeframe"
        )
    account = await repository.get_account(conn, account_id)
    # A reset starts the account over: its history begins there, at the starting cash, with the
    # fills since (the earlier ones belong to the account before the reset, whose shares went
    # back to the house and whose cash was set back to the start).
    began, grant = account.created_at, account.granted_cash
    if account.reset_at is not None:
        began = account.reset_at
        grant = await starting_cash(conn, account, personal_start)
    market_now = clock.market_time(now)
    # No points from before the account (re)started (it had no equity to show), none after now.
    opened = bucket(clock.market_time(began), interval)[0]
    bars = [(t, end) for t, end in starts if opened <= t <= market_now]
    if not bars:
        # (Re)started after `now` was read, in a bar that had not begun then: nothing to show yet.
        return PortfolioHistoryOut(
            timestamp=[],
            equity=[],
            profit_loss=[],
            profit_loss_pct=[],
            base_value=grant,
            timeframe=timeframe,
        )
    first, last = bars[0][0], bars[-1][0]
    fills = [
        (clock.market_time(f.ts), f)
        for f in await repository.fills_since(conn, account_id, account.reset_at)
    ]
    symbols = sorted({f.symbol for _, f in fills})
    price = {
        s: bar.close
        for s, bar in (await repository.latest_bars(conn, symbols, interval, before=first)).items()
    }
    closes: dict[datetime, list[Any]] = defaultdict(list)
    for bar in await repository.bar_closes(conn, symbols, interval, first, last):
        closes[bar.start_ts].append(bar)
    live = await prices.get_many(symbols)

    book = _Book(grant, fills)
    book.advance(first)
    base = book.equity(price)
    equity: list[Decimal] = []
    for t, end in bars:
        book.advance(end)
        price.update({bar.symbol: bar.close for bar in closes.get(t, ())})
        if t == last:
            price.update({s: tick.price for s, tick in live.items()})
        equity.append(book.equity(price))
    profit = [e - base for e in equity]
    return PortfolioHistoryOut(
        timestamp=[int(t.timestamp()) for t, _ in bars],
        equity=equity,
        profit_loss=profit,
        profit_loss_pct=[f"{(p / base if base else Decimal('0')).quantize(PCT):f}" for p in profit],
        base_value=base,
        timeframe=timeframe,
    )
