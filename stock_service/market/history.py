"""The market's past: bars a listing traded before the epoch, from the same seeded model.

Pure: no I/O. The path is generated backwards from the price where the live walk starts (the
anchor), so the last bar of the history closes exactly at that price and the walk's first tick
continues from it. Shocks are the walk's own counter-based draws at negative step numbers
(-1 is the last moment before the epoch), so the same seed always gives the same past, and a
longer history only adds older days.

Resolution: the last `minute_days` trading days are simulated in 15-second steps and give
1m bars (and 5m, 15m, 1h bars aggregated from them); every day gets a 1d bar, older days from
30-minute steps. Volume is synthetic: a daily dollar volume spread over the session in the
usual U shape, with seeded noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from shared.market_clock import SESSION_S, MarketClock, session
from stock_service.market.random_walk import published_price, standard_normal, trading_years
from stock_service.market.universe import Listing

MINUTE_SUBSTEPS = 4  # 15-second steps inside a minute bar
DAY_SUBSTEPS = 13  # 30-minute steps inside an older day
MINUTES_PER_DAY = SESSION_S // 60
INTRADAY = {"5m": 300, "15m": 900, "1h": 3600}
DOLLAR_VOLUME_PER_DAY = 30_000_000.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # intraday buckets align like the live ones


@dataclass(frozen=True, slots=True)
class HistoryBar:
    interval: str  # 1m | 5m | 15m | 1h | 1d
    start: datetime  # market time
    end: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    open_seq: int  # the walk's (negative) step numbers of the bar's first and last point
    close_seq: int
    volume: int


@dataclass(frozen=True, slots=True)
class _Point:
    seq: int
    log_price: float


class _Path:
    """Walks backwards from the anchor: each call gives the points of one earlier span."""

    def __init__(self, seed: int, listing: Listing, anchor: Decimal) -> None:
        self.seed = seed
        self.listing = listing
        self.log_price = math.log(float(anchor))
        self.seq = 0  # step number of the point we stand on; going back makes it negative

    def back(self, steps: int, step_s: float) -> list[_Point]:
        """`steps` + 1 points ending where we stand, oldest first; we then stand at the first."""
        dt = trading_years(step_s)
        mu, sigma = self.listing.drift, self.listing.volatility
        drift = (mu - sigma**2 / 2) * dt
        scale = sigma * math.sqrt(dt)
        points = [_Point(self.seq, self.log_price)]
        for _ in range(steps):
            # The step that led to the point we stand on carries that point's step number.
            shock = standard_normal(self.seed, self.listing.symbol, self.seq)
            self.log_price -= drift + scale * shock
            self.seq -= 1
            points.append(_Point(self.seq, self.log_price))
        points.reverse()
        return points

    def noise(self, seq: int) -> float:
        return standard_normal(self.seed, f"{self.listing.symbol}/volume", seq)


def _bar(
    interval: str, start: datetime, end: datetime, points: list[_Point], volume: int
) -> HistoryBar:
    logs = [p.log_price for p in points]
    return HistoryBar(
        interval,
        start,
        end,
        published_price(logs[0]),
        published_price(max(logs)),
        published_price(min(logs)),
        published_price(logs[-1]),
        points[0].seq,
        points[-1].seq,
        volume,
    )


def _shares(dollars: float, log_price: float) -> float:
    return dollars / max(math.exp(log_price), 0.01)


def _u_shape(minute: int) -> float:
    """Relative volume of a minute of the session: busy at the open and the close; mean 1."""
    x = (minute + 0.5) / MINUTES_PER_DAY
    return (0.6 + 2.4 * (2 * x - 1) ** 2) / 1.4


def _minute_day(path: _Path, day_open: datetime) -> list[HistoryBar]:
    points = path.back(MINUTES_PER_DAY * MINUTE_SUBSTEPS, 60 / MINUTE_SUBSTEPS)
    per_minute = _shares(DOLLAR_VOLUME_PER_DAY, points[-1].log_price) / MINUTES_PER_DAY
    bars = []
    for minute in range(MINUTES_PER_DAY):
        span = points[minute * MINUTE_SUBSTEPS : (minute + 1) * MINUTE_SUBSTEPS + 1]
        noise = math.exp(0.5 * path.noise(span[-1].seq) - 0.125)
        start = day_open + timedelta(minutes=minute)
        volume = max(1, round(per_minute * _u_shape(minute) * noise))
        bars.append(_bar("1m", start, start + timedelta(minutes=1), span, volume))
    return bars


def _aggregate(minutes: list[HistoryBar], interval: str, seconds: int) -> list[HistoryBar]:
    groups: dict[datetime, list[HistoryBar]] = {}
    for bar in minutes:
        elapsed = int((bar.start - _EPOCH).total_seconds())
        start = _EPOCH + timedelta(seconds=elapsed - elapsed % seconds)
        groups.setdefault(start, []).append(bar)
    return [
        _rollup(interval, start, start + timedelta(seconds=seconds), group)
        for start, group in groups.items()
    ]


def _rollup(interval: str, start: datetime, end: datetime, bars: list[HistoryBar]) -> HistoryBar:
    """One bar of `interval` made of consecutive shorter ones, oldest first."""
    return HistoryBar(
        interval,
        start,
        end,
        bars[0].open,
        max(b.high for b in bars),
        min(b.low for b in bars),
        bars[-1].close,
        bars[0].open_seq,
        bars[-1].close_seq,
        sum(b.volume for b in bars),
    )


def generate_history(
    clock: MarketClock,
    listing: Listing,
    *,
    seed: int,
    anchor: Decimal,
    days: int,
    minute_days: int,
) -> Iterator[HistoryBar]:
    """The bars of trading days -days .. -1, newest day first, ending at `anchor`."""
    path = _Path(seed, listing, anchor)
    for index in range(-1, -days - 1, -1):
        today = session(clock.day_of(index))
        if index >= -minute_days:
            minutes = _minute_day(path, today.open)
            yield from minutes
            for interval, seconds in INTRADAY.items():
                yield from _aggregate(minutes, interval, seconds)
            yield _rollup("1d", today.open, today.close, minutes)
        else:
            points = path.back(DAY_SUBSTEPS, SESSION_S / DAY_SUBSTEPS)
            noise = math.exp(0.3 * path.noise(points[-1].seq) - 0.045)
            volume = round(_shares(DOLLAR_VOLUME_PER_DAY, points[-1].log_price) * noise)
            yield _bar("1d", today.open, today.close, points, max(1, volume))
