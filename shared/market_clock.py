"""The one market clock: wall time <-> market time, trading days and sessions. Pure: no I/O.

The model (README, "Market time"): market time runs only through sessions. Every weekday is a
trading day with one session, 09:30-16:00 in the market's time zone (a fixed UTC-05:00, so no
daylight-saving jumps), and wall time maps onto the chain of sessions back to back: when a
session closes, the next trading day opens at the same wall instant. Nights, weekends and
holidays take no wall time at all, so the exchange is always open, a bot never waits for a
bell, and every wall second moves prices by `time_scale` seconds of trading.

The chain is anchored at the epoch: the wall instant the system first started is the open of
trading day 0 (the epoch's weekday in the market zone, or the next one). Trading days are
numbered from there; negative numbers are the market's past (the generated history).

    trading seconds since the epoch  = (wall - epoch) x time_scale
    trading day index                = floor(trading seconds / 23,400)
    market time                      = open of that day + the remainder

Sessions are half-open [open, close): the instant a session closes is the next one's open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

MARKET_TZ = timezone(timedelta(hours=-5), "ET")
SESSION_OPEN = time(9, 30)
SESSION_CLOSE = time(16, 0)
SESSION_S = 23_400  # 6.5 hours of trading per day


@dataclass(frozen=True, slots=True)
class Session:
    """One trading day's session, in market time."""

    day: date
    open: datetime
    close: datetime


@dataclass(frozen=True, slots=True)
class ClockState:
    """What the clock says at one wall instant (the shape of Alpaca's clock, plus extras)."""

    timestamp: datetime  # market time, in the market zone
    is_open: bool
    next_open: datetime
    next_close: datetime
    trading_day: date
    time_scale: float
    wall_time: datetime


def session(day: date) -> Session:
    return Session(
        day,
        datetime.combine(day, SESSION_OPEN, MARKET_TZ),
        datetime.combine(day, SESSION_CLOSE, MARKET_TZ),
    )


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5


def next_trading_day(day: date) -> date:
    """`day` itself when it is a trading day, else the next one."""
    while not is_trading_day(day):
        day += timedelta(days=1)
    return day


def calendar(start: date, end: date) -> list[Session]:
    """Every session from `start` to `end`, both included."""
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return [session(day) for day in days if is_trading_day(day)]


@dataclass(frozen=True, slots=True)
class MarketClock:
    epoch: datetime  # wall instant of trading day 0's open; timezone-aware
    time_scale: float  # market seconds per wall second
    # Trading day 0; by default the epoch's date in the market zone, or the next trading day.
    day_zero: date | None = None

    def __post_init__(self) -> None:
        if self.epoch.tzinfo is None:
            raise ValueError("the market epoch must carry a time zone")
        if not self.time_scale > 0:
            raise ValueError("the time scale must be positive")
        if self.day_zero is not None and not is_trading_day(self.day_zero):
            raise ValueError(f"day zero {self.day_zero} is not a trading day")

    @property
    def first_day(self) -> date:
        """Trading day 0."""
        if self.day_zero is not None:
            return self.day_zero
        return next_trading_day(self.epoch.astimezone(MARKET_TZ).date())

    def at_speed(self, time_scale: float, now: datetime) -> MarketClock:
        """The same market at another speed from `now` on: market time at `now` is unchanged
        (the epoch moves to where it would have been at the new speed; day 0 stays)."""
        epoch = now - (now - self.epoch) * (self.time_scale / time_scale)
        return MarketClock(epoch, time_scale, self.first_day)

    @property
    def session_wall_s(self) -> float:
        """How many wall seconds one session lasts."""
        return SESSION_S / self.time_scale

    # --- trading days by number ----------------------------------------------------------

    def day_of(self, index: int) -> date:
        """The date of trading day `index` (0 = the first day; negative = before the epoch)."""
        first = self.first_day
        monday = first - timedelta(days=first.weekday())
        weeks, weekday = divmod(index + first.weekday(), 5)
        return monday + timedelta(weeks=weeks, days=weekday)

    def index_of(self, day: date) -> int:
        """The number of trading day `day` (a weekday); inverse of `day_of`."""
        if not is_trading_day(day):
            raise ValueError(f"{day} is not a trading day")
        first = self.first_day
        monday = first - timedelta(days=first.weekday())
        weeks = (day - monday).days // 7
        return weeks * 5 + day.weekday() - first.weekday()

    # --- wall time -> market time --------------------------------------------------------

    def trading_seconds(self, wall: datetime) -> float:
        """Seconds of trading between the epoch and `wall` (negative before the epoch)."""
        return (wall - self.epoch).total_seconds() * self.time_scale

    def day_index(self, wall: datetime) -> int:
        return math.floor(self.trading_seconds(wall) / SESSION_S)

    def market_time(self, wall: datetime) -> datetime:
        """The market time at `wall`, in the market zone; always inside a session."""
        seconds = self.trading_seconds(wall)
        index = math.floor(seconds / SESSION_S)
        return session(self.day_of(index)).open + timedelta(seconds=seconds - index * SESSION_S)

    # --- market time -> wall time --------------------------------------------------------

    def trading_seconds_at(self, market: datetime) -> float:
        """Seconds of trading between the epoch and market instant `market`.

        An instant outside every session (a night, a weekend) counts as the next session's open,
        which is the same wall instant as the previous session's close.
        """
        local = market.astimezone(MARKET_TZ)
        day = local.date()
        if not is_trading_day(day) or local >= session(day).close:
            day = next_trading_day(day + timedelta(days=1))
            into = 0.0
        else:
            into = max(0.0, (local - session(day).open).total_seconds())
        return self.index_of(day) * SESSION_S + into

    def wall_time(self, market: datetime) -> datetime:
        """The wall instant at which the market reaches `market` (see `trading_seconds_at`)."""
        return self.epoch + timedelta(seconds=self.trading_seconds_at(market) / self.time_scale)

    # --- what the clock says -------------------------------------------------------------

    def current_session(self, wall: datetime) -> Session:
        return session(self.day_of(self.day_index(wall)))

    def state(self, wall: datetime) -> ClockState:
        index = self.day_index(wall)
        today = session(self.day_of(index))
        return ClockState(
            timestamp=self.market_time(wall),
            # Market time only runs through sessions: at any wall instant one is open.
            is_open=True,
            next_open=session(self.day_of(index + 1)).open,
            next_close=today.close,
            trading_day=today.day,
            time_scale=self.time_scale,
            wall_time=wall.astimezone(UTC),
        )
