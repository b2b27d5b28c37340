"""The generated past (pure): a year and more of trading days ending exactly at the anchor."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache

from shared.market_clock import MarketClock, session
from stock_service.market.history import HistoryBar, generate_history
from stock_service.market.universe import Listing

CLOCK = MarketClock(datetime(2026, 12, 4, 15, 0, tzinfo=UTC), 6.5)
ACME = Listing("ACME", "Acme", Decimal("123.45"), 0.08, 0.35)


@cache
def history(seed: int = 7, days: int = 300, minute_days: int = 6) -> tuple[HistoryBar, ...]:
    return tuple(
        generate_history(
            CLOCK, ACME, seed=seed, anchor=Decimal("123.45"), days=days, minute_days=minute_days
        )
    )


def by_interval(bars: tuple[HistoryBar, ...], interval: str) -> list[HistoryBar]:
    return sorted((b for b in bars if b.interval == interval), key=lambda b: b.start)


def test_daily_bars_are_the_trading_days_before_the_epoch() -> None:
    days = by_interval(history(), "1d")
    assert len(days) == 300
    expected = [session(CLOCK.day_of(i)) for i in range(-300, 0)]
    assert [(b.start, b.end) for b in days] == [(s.open, s.close) for s in expected]


def test_the_past_ends_exactly_at_the_anchor_with_no_gap_to_the_epoch() -> None:
    bars = history()
    minutes = by_interval(bars, "1m")
    assert minutes[-1].close == Decimal("123.45")
    assert by_interval(bars, "1d")[-1].close == Decimal("123.45")
    # The last minute ends at the close of day -1, the same wall instant as day 0's open.
    assert CLOCK.wall_time(minutes[-1].end) == CLOCK.epoch
    assert minutes[-1].close_seq == 0  # the live walk's seq 0: it starts from this point


def test_minute_bars_cover_the_last_days_whole_and_aggregate_into_longer_bars() -> None:
    bars = history()
    minutes = by_interval(bars, "1m")
    per_day = Counter(b.start.date() for b in minutes)
    assert len(per_day) == 6 and set(per_day.values()) == {390}
    for a, b in itertools.pairwise(minutes):
        if a.start.date() == b.start.date():
            assert b.start == a.end and b.open == a.close  # contiguous within a session
    assert Counter(b.interval for b in bars) == {
        "1m": 6 * 390,
        "5m": 6 * 78,
        "15m": 6 * 26,
        "1h": 6 * 7,  # 09:00 (from 09:30) to 15:00
        "1d": 300,
    }
    for interval, seconds in (("5m", 300), ("15m", 900), ("1h", 3600)):
        for bar in by_interval(bars, interval):
            assert int(bar.start.timestamp()) % seconds == 0
            assert bar.end - bar.start == timedelta(seconds=seconds)
            inside = [m for m in minutes if m.start.date() == bar.start.date()]
            inside = [m for m in inside if bar.start <= m.start < bar.end]
            assert bar.open == inside[0].open and bar.close == inside[-1].close
            assert bar.high == max(m.high for m in inside)
            assert bar.volume == sum(m.volume for m in inside)


def test_every_bar_is_plausible() -> None:
    for bar in history():
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.low > 0 and bar.volume > 0
    days = by_interval(history(), "1d")
    moves = [abs(b.close / a.close - 1) for a, b in itertools.pairwise(days)]
    # Daily sigma of a 35 %/year stock is ~2.2 %: no day near 50 %.
    assert max(moves) < Decimal("0.25")


def test_same_seed_same_past_and_more_days_only_add_older_ones() -> None:
    assert history() == history()
    assert history(seed=8) != history()
    longer = history(days=320)
    assert by_interval(longer, "1d")[-300:] == by_interval(history(), "1d")
    assert by_interval(longer, "1m") == by_interval(history(), "1m")
