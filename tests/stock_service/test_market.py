"""The market and its saved state: ticks, quotes, resume after a clean stop or a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from shared.errors import NotFound
from shared.market_clock import MarketClock
from stock_service.market.random_walk import GeometricBrownianMotion, trading_years
from stock_service.market.service import Market, iso_millis
from stock_service.market.state import SavedState, StateFileError, load_state, save_state
from stock_service.market.universe import Listing

DT = trading_years(180.0)
T0 = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)
# One wall second = 180 market seconds = one walk step.
CLOCK = MarketClock(T0, 180.0)
LISTINGS = (
    Listing("AAPL", "Apple Inc.", Decimal("190.00"), 0.10, 0.25),
    Listing("TSLA", "Tesla, Inc.", Decimal("250.00"), 0.08, 0.55),
)


def market(saved: SavedState | None = None, listings: tuple[Listing, ...] = LISTINGS) -> Market:
    return Market(listings, seed=42, clock=CLOCK, step_s=180.0, now=T0, saved=saved)


def run(m: Market, ticks: int) -> list[dict[str, tuple[int, Decimal]]]:
    """`ticks` ticks on time, one wall second (one grid cell) apart, from T0 + 1 s."""
    return [
        {q.symbol: (q.seq, q.price) for q in m.tick(T0 + timedelta(seconds=i))}
        for i in range(1, ticks + 1)
    ]


def test_a_fresh_market_quotes_the_starting_prices_at_seq_zero() -> None:
    quotes = market().quotes()
    assert [(q.symbol, q.price, q.seq, q.ts) for q in quotes] == [
        ("AAPL", Decimal("190.00"), 0, T0),
        ("TSLA", Decimal("250.00"), 0, T0),
    ]
    assert quotes[0].change == 0
    assert quotes[0].change_pct == Decimal("0.00")


def test_each_tick_steps_every_symbol_once_with_increasing_seq() -> None:
    m = market()
    ticks = run(m, 50)
    for symbol in ("AAPL", "TSLA"):
        assert [t[symbol][0] for t in ticks] == list(range(1, 51))
    walk = GeometricBrownianMotion(42, "TSLA", 0.08, 0.55, DT)
    assert m.quote("TSLA").price == walk.advance(walk.start(Decimal("250.00")), 50).price


def test_a_tick_steps_the_walks_through_the_market_time_it_covers() -> None:
    m = market()
    assert m.tick(T0 + timedelta(seconds=0.5)) == []  # no whole step of market time yet
    assert m.next_tick_at() == T0 + timedelta(seconds=1)
    # A stall: the tick at 4.2 s covers four steps of market time, so the walks take four.
    quotes = m.tick(T0 + timedelta(seconds=4.2))
    assert [q.seq for q in quotes] == [4, 4]
    walk = GeometricBrownianMotion(42, "AAPL", 0.10, 0.25, DT)
    assert quotes[0].price == walk.advance(walk.start(Decimal("190.00")), 4).price
    assert quotes[0].market_ts == CLOCK.market_time(T0 + timedelta(seconds=4.2))
    assert m.next_tick_at() == T0 + timedelta(seconds=5)


def test_quote_is_case_insensitive_and_unknown_symbols_are_not_found() -> None:
    m = market()
    assert m.quote(" aapl ").symbol == "AAPL"
    with pytest.raises(NotFound):
        m.quote("ZZZZ")


def test_change_and_change_pct_are_against_the_starting_price() -> None:
    m = market()
    run(m, 30)
    q = m.quote("AAPL")
    assert q.change == q.price - Decimal("190.00")
    assert q.change_pct == (q.change * 100 / Decimal("190.00")).quantize(Decimal("0.01"))


def test_clean_restart_continues_the_uninterrupted_path(tmp_path: Path) -> None:
    uninterrupted = run(market(), 100)

    first = market()
    before = run(first, 40)
    save_state(tmp_path / "state.json", first.snapshot(clean=True, reserve=5))
    after = run(market(load_state(tmp_path / "state.json")), 60)

    assert before + after == uninterrupted


def test_restart_after_a_crash_skips_the_reserved_seqs_on_the_same_path(tmp_path: Path) -> None:
    uninterrupted = run(market(), 100)

    first = market()
    run(first, 40)
    save_state(tmp_path / "state.json", first.snapshot(clean=False, reserve=7))
    run(first, 7)  # published, then the process died before saving again
    resumed = market(load_state(tmp_path / "state.json"))

    assert resumed.quote("AAPL").seq == 47
    assert run(resumed, 53) == uninterrupted[47:]


def test_new_symbols_start_fresh_and_unlisted_walks_are_kept(tmp_path: Path) -> None:
    first = market()
    run(first, 10)
    save_state(tmp_path / "state.json", first.snapshot(clean=True, reserve=1))

    msft = Listing("MSFT", "Microsoft Corporation", Decimal("420.00"), 0.1, 0.24)
    second = market(load_state(tmp_path / "state.json"), (LISTINGS[0], msft))
    assert (second.quote("AAPL").seq, second.quote("MSFT").seq) == (10, 0)
    with pytest.raises(NotFound):
        second.quote("TSLA")
    save_state(tmp_path / "state.json", second.snapshot(clean=True, reserve=1))

    third = market(load_state(tmp_path / "state.json"))
    assert third.quote("TSLA").seq == 10  # not back to 0: consumers would drop its prices


def test_state_file_is_replaced_whole_and_corruption_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "state.json"
    assert load_state(path) is None
    m = market()
    run(m, 3)
    save_state(path, m.snapshot(clean=False, reserve=4))
    save_state(path, m.snapshot(clean=True, reserve=4))
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temp files left
    loaded = load_state(path)
    assert loaded is not None
    assert (loaded.seed, loaded.clean, loaded.reserve) == (42, True, 4)
    assert loaded.walks["AAPL"].seq == 3

    path.write_text('{"version": 1, "walks": ')
    with pytest.raises(StateFileError):
        load_state(path)
    path.write_text('{"version": 99}')
    with pytest.raises(StateFileError):
        load_state(path)


def test_timestamps_are_iso_utc_with_milliseconds() -> None:
    ts = datetime(2026, 1, 2, 14, 30, 0, 125_999, tzinfo=UTC)
    assert iso_millis(ts) == "2026-01-02T14:30:00.125Z"
    assert iso_millis(ts.astimezone(UTC).replace(microsecond=0)) == "2026-01-02T14:30:00.000Z"
