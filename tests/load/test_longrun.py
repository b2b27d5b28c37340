"""The long-run check in short (`make longrun` is the long one): a 20x faster price feed and
steady orders through the public API; prices at the API are as fresh and market buys fill as
fast at the end as at the start."""

from __future__ import annotations

import pytest

from loadgen.longrun import fast_market, long_run
from loadgen.system import System

pytestmark = pytest.mark.slow


async def test_prices_stay_fresh_and_market_buys_stay_fast_under_a_fast_feed() -> None:
    system = System(fsync=False, env=fast_market(20))
    try:
        await system.start()
        # Generous bounds: the machine may be busy; the long form holds the tight ones.
        result = await long_run(
            system, minutes=1.0, probe_every_s=8, traders=5, rate=8, max_price_age_s=3.0,
            slowdown=4.0,
        )  # fmt: skip
    finally:
        await system.stop()
    report = result.report()
    print(report)
    assert len(result.probes) >= 6, report
    assert result.ok, report
    assert result.stats.orders_placed > 0, report
