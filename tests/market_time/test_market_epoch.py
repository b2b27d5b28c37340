"""The epoch is fixed by the first process and shared; a new speed continues market time
(real PostgreSQL: a database of its own, so the session's clock is not touched)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.stack import Stack
from shared import migrate
from shared.config import CommonSettings
from shared.db import create_db_engine
from shared.market_epoch import load_market_clock


@pytest.fixture
async def fresh_db(stack: Stack, db: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    name = f"clock_{uuid.uuid4().hex[:8]}"
    async with db.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(stack.database_url).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_db_engine(url, pool_size=2)
    yield engine
    await engine.dispose()


async def test_the_first_start_fixes_the_epoch_and_a_new_speed_continues_market_time(
    fresh_db: AsyncEngine,
) -> None:
    before = datetime.now(UTC)
    first = await load_market_clock(fresh_db, CommonSettings(MARKET_TIME_SCALE=6.5))
    assert before <= first.epoch <= datetime.now(UTC)
    await asyncio.sleep(0.2)
    again = await load_market_clock(fresh_db, CommonSettings(MARKET_TIME_SCALE=6.5))
    assert again == first  # a restart, or another process: the same clock

    faster = await load_market_clock(fresh_db, CommonSettings(MARKET_TIME_SCALE=180))
    now = datetime.now(UTC)
    assert faster.time_scale == 180 and faster.first_day == first.first_day
    # Market time did not jump when the speed changed (only the few ms since, at 180x).
    assert abs((faster.market_time(now) - first.market_time(now)).total_seconds()) < 180 * 5
    assert await load_market_clock(fresh_db, CommonSettings(MARKET_TIME_SCALE=180)) == faster

    # An explicit epoch wins over the stored one and changes nothing in the database.
    epoch = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    given = await load_market_clock(
        fresh_db, CommonSettings(STOCKSIM_MARKET_EPOCH=epoch.isoformat(), MARKET_TIME_SCALE=2)
    )
    assert (given.epoch, given.time_scale) == (epoch, 2)
    assert await load_market_clock(fresh_db, CommonSettings(MARKET_TIME_SCALE=180)) == faster
    with pytest.raises(ValueError):
        CommonSettings(STOCKSIM_MARKET_EPOCH="2026-01-05T14:30:00")  # no offset
