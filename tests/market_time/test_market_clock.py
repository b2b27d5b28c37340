"""The market clock's mapping, trading days and sessions (pure: no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.market_clock import MARKET_TZ, MarketClock, calendar, session

# Friday 2026-12-04, 10:00 in the market zone; one session per wall hour.
EPOCH = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
CLOCK = MarketClock(EPOCH, 6.5)


def et(*args: int) -> datetime:
    return datetime(*args, tzinfo=MARKET_TZ)  # type: ignore[misc]


def wall(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def test_the_epoch_is_the_first_days_open_and_market_time_runs_time_scale_faster() -> None:
    assert CLOCK.first_day == date(2026, 12, 4)
    assert CLOCK.market_time(EPOCH) == et(2026, 12, 4, 9, 30)
    # 30 wall minutes x 6.5 = 3 h 15 min of trading
    assert CLOCK.market_time(wall(1800)) == et(2026, 12, 4, 12, 45)
    assert CLOCK.session_wall_s == 3600


def test_a_session_closes_into_the_next_trading_days_open_skipping_the_weekend() -> None:
    assert CLOCK.market_time(wall(3599)).date() == date(2026, 12, 4)
    assert CLOCK.market_time(wall(3599)) < et(2026, 12, 4, 16, 0)
    # Half-open sessions: the close instant already belongs to Monday.
    assert CLOCK.market_time(wall(3600)) == et(2026, 12, 7, 9, 30)
    assert CLOCK.day_index(wall(3600)) == 1
    assert CLOCK.market_time(wall(5 * 3600)) == et(2026, 12, 11, 9, 30)


def test_before_the_epoch_is_the_past_on_the_same_chain_of_sessions() -> None:
    assert CLOCK.market_time(wall(-1)) == et(2026, 12, 3, 15, 59, 53, 500000)
    assert CLOCK.day_index(wall(-1)) == -1
    assert CLOCK.day_of(-4) == date(2026, 11, 30)  # Mon; Thu, Wed, Tue, Mon back
    assert CLOCK.day_of(-5) == date(2026, 11, 27)  # the Friday before


def test_day_numbers_and_dates_are_inverse_and_only_weekdays() -> None:
    days = [CLOCK.day_of(i) for i in range(-600, 600)]
    assert all(d.weekday() < 5 for d in days)
    assert days == sorted(set(days))
    assert [CLOCK.index_of(d) for d in days] == list(range(-600, 600))
    # no weekday skipped
    assert days == [s.day for s in calendar(days[0], days[-1])]
    with pytest.raises(ValueError):
        CLOCK.index_of(date(2026, 12, 5))


def test_wall_and_market_time_round_trip_and_closed_time_maps_to_the_next_open() -> None:
    for seconds in (-86_400.25, -3600.0, -0.5, 0.0, 1.0, 1234.5, 3599.9, 3600.0, 400_000.0):
        w = wall(seconds)
        back = CLOCK.wall_time(CLOCK.market_time(w))
        assert abs((back - w).total_seconds()) < 1e-6
    monday_open = CLOCK.wall_time(et(2026, 12, 7, 9, 30))
    assert monday_open == wall(3600)
    for closed in (et(2026, 12, 4, 16, 0), et(2026, 12, 5, 12, 0), et(2026, 12, 7, 8, 0)):
        assert CLOCK.wall_time(closed) == monday_open


def test_the_clock_state_is_alpacas_clock() -> None:
    state = CLOCK.state(wall(1800))
    assert state.timestamp == et(2026, 12, 4, 12, 45)
    assert state.is_open
    assert state.trading_day == date(2026, 12, 4)
    assert state.next_close == et(2026, 12, 4, 16, 0)
    assert state.next_open == et(2026, 12, 7, 9, 30)
    assert state.time_scale == 6.5
    assert state.wall_time == wall(1800)
    assert CLOCK.current_session(wall(1800)) == session(date(2026, 12, 4))


def test_calendar_lists_weekdays_with_their_sessions() -> None:
    days = calendar(date(2026, 12, 4), date(2026, 12, 8))
    assert [(s.day, s.open, s.close) for s in days] == [
        (date(2026, 12, 4), et(2026, 12, 4, 9, 30), et(2026, 12, 4, 16, 0)),
        (date(2026, 12, 7), et(2026, 12, 7, 9, 30), et(2026, 12, 7, 16, 0)),
        (date(2026, 12, 8), et(2026, 12, 8, 9, 30), et(2026, 12, 8, 16, 0)),
    ]
    assert calendar(date(2026, 12, 5), date(2026, 12, 6)) == []
    assert len(calendar(date.max - timedelta(days=6), date.max)) == 5  # no overflow at the end


def test_an_epoch_on_a_weekend_starts_on_monday_and_a_naive_epoch_is_refused() -> None:
    saturday = MarketClock(datetime(2026, 12, 5, 18, 0, tzinfo=UTC), 180.0)
    assert saturday.market_time(saturday.epoch) == et(2026, 12, 7, 9, 30)
    assert saturday.session_wall_s == 130
    with pytest.raises(ValueError):
        MarketClock(datetime(2026, 12, 5, 18, 0), 6.5)
    with pytest.raises(ValueError):
        MarketClock(EPOCH, 0)


def test_a_new_speed_keeps_market_time_and_day_zero() -> None:
    now = wall(5000)
    faster = CLOCK.at_speed(39.0, now)

    def near(a: datetime, b: datetime) -> bool:  # the epoch is kept to the microsecond
        return abs((a - b).total_seconds()) < 0.001

    assert near(faster.market_time(now), CLOCK.market_time(now))
    assert faster.first_day == CLOCK.first_day
    assert faster.day_of(-3) == CLOCK.day_of(-3)
    # From now on a wall second is 39 market seconds.
    later = faster.market_time(now + timedelta(seconds=10))
    assert near(later, CLOCK.market_time(now) + timedelta(seconds=390))
    with pytest.raises(ValueError):
        MarketClock(EPOCH, 6.5, date(2026, 12, 5))  # a Saturday cannot be day 0
