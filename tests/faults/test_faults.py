"""Faults under load: each part of the system is broken while traders trade through the public
API, then restored. While it is down, the system refuses with a clear 503 what it cannot do
safely (or accepts what it can: orders are stored and handed to the engine later); it recovers
by itself; afterwards the audit and the cross-check of every acknowledged order find nothing.

The matching engine's kill -9 under load is tests/trading_service/test_engine_recovery.py;
`python -m loadgen.faults` runs every drill, that one included, against a fresh system.
"""

from __future__ import annotations

import pytest

from loadgen.faults import Drill, drill
from loadgen.system import System

pytestmark = pytest.mark.slow


def assert_survived(result: Drill) -> None:
    report = result.report()
    print(report)  # shown when the test fails
    assert result.verdict.violations == 0, report
    assert result.stats.server_errors() == 0, report
    assert result.recovered_in_s is not None, report
    assert result.verdict.checked > 0


async def test_kill_9_the_trading_service(system: System) -> None:
    result = await drill(system, "trading", traders=10, orders=500)
    # Nothing answers while it is dead; clients retry with the same client_order_id.
    assert result.during and all(a.endswith("Error") for a in result.during), result.during
    assert_survived(result)


async def test_restart_postgresql(system: System) -> None:
    result = await drill(system, "postgres", traders=10, orders=500)
    assert result.during and set(result.during) == {"503 service_unavailable"}, result.during
    assert_survived(result)


async def test_cut_redis(system: System) -> None:
    result = await drill(system, "redis", traders=10, orders=500)
    assert result.during and set(result.during) == {"503 service_unavailable"}, result.during
    assert_survived(result)


@pytest.mark.kafka
async def test_kill_9_the_kafka_broker(system: System) -> None:
    # Orders are still taken while the broker is away: stored in PostgreSQL, handed over later;
    # Apache Kafka recovers its log, so no acknowledged order is lost or applied twice.
    result = await drill(system, "kafka", traders=10, orders=500)
    assert result.during and set(result.during) == {"201"}, result.during
    assert_survived(result)
