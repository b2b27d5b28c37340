"""The price model alone: deterministic, resumable, on the tick, and statistically a GBM."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal
from pathlib import Path

from shared.money import MAX_PRICE, TICK
from stock_service.market.random_walk import (
    GeometricBrownianMotion,
    WalkState,
    published_price,
    standard_normal,
    trading_years,
)
from stock_service.market.state import SavedState, load_state, save_state

DT = trading_years(180.0)


def gbm(
    seed: int = 42, symbol: str = "AAPL", drift: float = 0.1, vol: float = 0.3
) -> GeometricBrownianMotion:
    return GeometricBrownianMotion(seed=seed, symbol=symbol, drift=drift, volatility=vol, dt=DT)


def prices(walk: GeometricBrownianMotion, start: str, steps: int) -> list[Decimal]:
    state = walk.start(Decimal(start))
    out = []
    for _ in range(steps):
        state = walk.step(state)
        out.append(state.price)
    return out


def test_same_seed_gives_the_same_first_1000_prices() -> None:
    first = prices(gbm(seed=7), "190.00", 1000)
    assert first == prices(gbm(seed=7), "190.00", 1000)
    assert len(set(first)) > 100  # and the price does move


def test_a_different_seed_or_symbol_gives_a_different_path() -> None:
    base = prices(gbm(seed=7), "190.00", 1000)
    assert prices(gbm(seed=8), "190.00", 1000) != base
    assert prices(gbm(seed=7, symbol="MSFT"), "190.00", 1000) != base


def test_shocks_depend_only_on_seed_symbol_and_step() -> None:
    # Counter-based: drawing step 500 first, or alone, changes nothing.
    late = standard_normal(42, "AAPL", 500)
    assert [standard_normal(42, "AAPL", n) for n in (1, 2, 500)][2] == late
    assert standard_normal(42, "AAPL", 501) != late


def test_resuming_from_saved_state_stays_on_the_uninterrupted_path(tmp_path: Path) -> None:
    walk = gbm()
    uninterrupted = walk.advance(walk.start(Decimal("190.00")), 1000)

    halfway = walk.advance(walk.start(Decimal("190.00")), 400)
    path = tmp_path / "state.json"
    save_state(path, SavedState(seed=42, clean=True, reserve=0, walks={"AAPL": halfway}))
    loaded = load_state(path)
    assert loaded is not None
    resumed = walk.advance(loaded.walks["AAPL"], 600)

    assert resumed == uninterrupted  # bit-exact: same seq, same float log price
    assert resumed.price == uninterrupted.price


def test_prices_are_positive_exact_and_on_the_tick() -> None:
    for walk, start in (
        (gbm(vol=0.6), "0.05"),
        (gbm(drift=-1.0, vol=3.0), "1.00"),
        (gbm(), "950000.00"),
    ):
        for price in prices(walk, start, 2000):
            assert isinstance(price, Decimal)
            assert TICK <= price <= MAX_PRICE
            assert price == price.quantize(TICK)
            assert price.as_tuple().exponent == -2


def test_published_price_clamps_to_one_tick_and_the_maximum() -> None:
    assert published_price(math.log(0.001)) == Decimal("0.01")
    assert published_price(-1e6) == Decimal("0.01")
    assert published_price(1e6) == MAX_PRICE
    assert published_price(math.log(190.0)) == Decimal("190.00")


def test_log_returns_match_the_gbm_law() -> None:
    mu, sigma, n = 0.12, 0.4, 20_000
    walk = gbm(seed=2026, drift=mu, vol=sigma)
    state = WalkState(seq=0, log_price=math.log(100.0))
    returns = []
    for _ in range(n):
        nxt = walk.step(state)
        returns.append(nxt.log_price - state.log_price)
        state = nxt

    expected_mean = (mu - sigma**2 / 2) * DT
    expected_std = sigma * math.sqrt(DT)
    # Seeded, so deterministic; bounds are many standard errors wide all the same.
    assert abs(statistics.fmean(returns) - expected_mean) < 6 * expected_std / math.sqrt(n)
    assert abs(statistics.stdev(returns) / expected_std - 1) < 0.05


def test_shocks_are_standard_normal() -> None:
    n = 20_000
    draws = [standard_normal(99, "MSFT", k) for k in range(1, n + 1)]
    assert abs(statistics.fmean(draws)) < 6 / math.sqrt(n)
    assert abs(statistics.pvariance(draws) - 1) < 0.05
    within_one = sum(abs(z) < 1 for z in draws) / n
    assert abs(within_one - 0.6827) < 0.02
