"""The soak in short (`make soak` is the long one): traders of every kind send orders of every
type with cancels and replaces through the public API of a system of real processes; then
the audit and the cross-check of every acknowledged order must find nothing."""

from __future__ import annotations

import pytest

from loadgen.soak import soak_on
from loadgen.system import System

pytestmark = pytest.mark.slow


async def test_short_soak_loses_doubles_and_unbalances_nothing() -> None:
    system = System(fsync=False)
    try:
        await system.start()
        result = await soak_on(system, traders=20, orders=3000)
    finally:
        await system.stop()
    report = result.report()
    print(report)
    stats = result.stats
    assert stats.orders_placed > 2000, report  # most orders were acknowledged
    for op in ("cancel", "replace"):
        assert stats.answers[(op, "200")] > 0, f"no {op} went through\n{report}"
    assert stats.server_errors() == 0, report
    assert result.verdict.lost == [] and result.verdict.duplicated == [], report
    assert result.verdict.violations == 0, report
    # Where the time went: CPU of this client and of each part, measured over the trading.
    for part in ("client", "trading", "engine", "postgres"):
        assert result.cpu_s[part] > 0, report
    assert "CPU ms per order: client " in report
    # What PostgreSQL's sessions did meanwhile, sampled: order entry's were seen at work.
    assert result.sessions.samples > 0, report
    assert "PostgreSQL sessions at once" in report
    assert any(app == "stocksim-trading-orders" for app, _ in result.sessions.totals), report
