"""Builds the forming bars in memory from ticks and trades and upserts them into Postgres.

Every API replica sees every tick and every execution, so each one aggregates all symbols and
upserts the same bars. The upsert is idempotent and order-independent instead of single-writer:
high/low merge with greatest/least, open/close keep the tick with the lowest/highest seq, and
volume is recomputed from the `trades` table. Two replicas (or a restarted one that saw only
part of a bar) therefore converge on the same row, and no leader election is needed.

Bars are in market time (shared/market_clock.py): a tick's wall `ts` is mapped onto the market
clock, a 1d bar is one trading day's session, intraday bars are whole minutes/hours of market
time. Trades keep wall timestamps, so each bar also knows the wall span it covers for volume.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.background import raise_if_cancelled
from shared.market_clock import MARKET_TZ, MarketClock, session
from trading_service.candles import repository
from trading_service.realtime.channels import INTERVALS

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_start(ts: datetime, seconds: int) -> datetime:
    elapsed = int((ts - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=elapsed - elapsed % seconds)


def bucket(market_ts: datetime, interval: str) -> tuple[datetime, datetime]:
    """[start, end) in market time (UTC) of the `interval` bar holding `market_ts`, an instant
    inside a session (as the market clock gives them)."""
    if interval == "1d":
        day = session(market_ts.astimezone(MARKET_TZ).date())
        return day.open.astimezone(UTC), day.close.astimezone(UTC)
    start = bucket_start(market_ts, INTERVALS[interval])
    return start, start + timedelta(seconds=INTERVALS[interval])


@dataclass
class Bar:
    symbol: str
    interval: str
    start: datetime
    end: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    open_seq: int
    close_seq: int
    volume: int = 0

    def add_tick(self, price: Decimal, seq: int) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        if seq < self.open_seq:
            self.open, self.open_seq = price, seq
        if seq > self.close_seq:
            self.close, self.close_seq = price, seq

    def merge(self, stored: Any) -> None:
        """Fold in what Postgres holds (ticks other replicas or earlier runs saw)."""
        self.high = max(self.high, stored.high)
        self.low = min(self.low, stored.low)
        if stored.open_seq < self.open_seq:
            self.open, self.open_seq = stored.open, stored.open_seq
        if stored.close_seq > self.close_seq:
            self.close, self.close_seq = stored.close, stored.close_seq
        self.volume = max(self.volume, stored.volume)

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "interval": self.interval,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "open": f"{self.open:.2f}",
            "high": f"{self.high:.2f}",
            "low": f"{self.low:.2f}",
            "close": f"{self.close:.2f}",
            "volume": self.volume,
        }

    @classmethod
    def from_row(cls, row: Any) -> Bar:
        return cls(
            row.symbol,
            row.interval,
            row.start_ts,
            row.end_ts,
            row.open,
            row.high,
            row.low,
            row.close,
            row.open_seq,
            row.close_seq,
            row.volume,
        )


class CandleAggregator:
    def __init__(self, db: AsyncEngine, flush_s: float, clock: MarketClock) -> None:
        self.db = db
        self.flush_s = flush_s
        self.clock = clock
        self._current: dict[tuple[str, str], Bar] = {}
        self._dirty: dict[tuple[str, str, datetime], Bar] = {}

    def on_tick(self, symbol: str, price: Decimal, ts: datetime, seq: int) -> list[Bar]:
        """Apply a reference-price tick (`ts`: wall time); returns the forming bars it changed."""
        changed = []
        market_ts = self.clock.market_time(ts).astimezone(UTC)
        for interval in INTERVALS:
            start, end = bucket(market_ts, interval)
            bar = self._current.get((symbol, interval))
            if bar is not None and bar.start == start:
                bar.add_tick(price, seq)
            elif bar is None or start > bar.start:
                bar = Bar(symbol, interval, start, end, price, price, price, price, seq, seq)
                self._current[(symbol, interval)] = bar
            else:
                # A late tick of a bar already closed here: Postgres merges it in.
                late = self._dirty.get((symbol, interval, start))
                if late is None:
                    late = Bar(symbol, interval, start, end, price, price, price, price, seq, seq)
                    self._dirty[(symbol, interval, start)] = late
                else:
                    late.add_tick(price, seq)
                continue
            self._dirty[(symbol, interval, start)] = bar
            changed.append(bar)
        return changed

    def on_trade(self, symbol: str, qty: int, ts: datetime) -> list[Bar]:
        """Count a trade (`ts`: wall time) into the forming bars (the flush recomputes volume
        from `trades`)."""
        changed = []
        market_ts = self.clock.market_time(ts)
        for interval in INTERVALS:
            bar = self._current.get((symbol, interval))
            if bar is not None and bar.start <= market_ts < bar.end:
                bar.volume += qty
                self._dirty[(symbol, interval, bar.start)] = bar
                changed.append(bar)
        return changed

    def current(self, symbol: str, interval: str) -> Bar | None:
        return self._current.get((symbol, interval))

    async def latest_stored(self, symbol: str, interval: str) -> Bar | None:
        async with self.db.connect() as conn:
            rows = await repository.list_candles(conn, symbol, interval, None, 1)
        return Bar.from_row(rows[0]) if rows else None

    async def history(
        self, symbol: str, interval: str, end: datetime | None, limit: int
    ) -> list[Bar]:
        """Stored bars, oldest first, with the forming bar as this process has it right now."""
        async with self.db.connect() as conn:
            bars = [
                Bar.from_row(r)
                for r in reversed(await repository.list_candles(conn, symbol, interval, end, limit))
            ]
        forming = self.current(symbol, interval)
        if forming is not None and (end is None or forming.start < end):
            if bars and bars[-1].start == forming.start:
                forming.merge(bars[-1])
                bars[-1] = forming
            elif not bars or bars[-1].start < forming.start:
                bars = [*bars, forming][-limit:]
        return bars

    async def run(self) -> None:
        """Forever: upsert the bars that changed since the last flush."""
        while True:
            await asyncio.sleep(self.flush_s)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelled()  # a cancellation a library turned into its own error
                log.warning("could not store candles; retrying with the next flush", exc_info=True)

    async def flush(self) -> None:
        dirty, self._dirty = self._dirty, {}
        if not dirty:
            return
        try:
            async with self.db.begin() as conn:
                stored = await repository.upsert_bars(
                    conn, [dirty[k] for k in sorted(dirty)], self.clock
                )
        except BaseException:
            for key, bar in dirty.items():
                self._dirty.setdefault(key, bar)
            raise
        for row in stored:
            forming = self._current.get((row.symbol, row.interval))
            if forming is not None and forming.start == row.start_ts:
                forming.merge(row)
