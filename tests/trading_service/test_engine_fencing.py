"""An engine that lost its partitions without noticing (a long pause: another engine took them
over and went on) cannot write twice (engine/runner.py, Repository.fence): every batch's
transaction first locks its partitions' offset rows and checks they still hold the offsets
this engine expects, whether its first statement reads the batch's unaccepted orders (the
fence rides in that round trip) or the batch was read ahead (the fence rides in the locks'
round trip, Repository.lock, before them). And the rows a
batch changes are locked in one statement (Repository.lock): the orders, their accounts and
positions, the house's only where it traded.

Runs on a database of its own with the scripted consumer and Redis of
test_engine_read_ahead.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from shared.db import create_db_engine
from trading_service.config import EngineSettings
from trading_service.engine import commands
from trading_service.engine.core.model import Side
from trading_service.engine.repository import EngineDatabase, FencedOut
from trading_service.engine.runner import EngineRunner, _decoded, _unaccepted_ids
from trading_service.tables import HOUSE_ACCOUNT_ID

from . import test_engine_read_ahead as read_ahead_tests
from .test_engine_read_ahead import ORDERS, SYMBOL, Consumer, Market, Redis

database = read_ahead_tests.database  # fixtures: a database of its own, a market on it
market = read_ahead_tests.market


async def engine(url: str, orders: Market) -> tuple[EngineRunner, EngineDatabase, Any]:
    """A runner that has taken partition 0 over (books and offsets rebuilt from Postgres)."""
    clock_db = create_db_engine(url, pool_size=1)
    engine_db = EngineDatabase(url)
    consumer = Consumer(orders.messages, per_fetch=10)
    runner = EngineRunner(EngineSettings(database_url=url, spread_bps=10), clock_db, engine_db,
                          Redis(), consumer)  # type: ignore[arg-type]  # fmt: skip
    await runner.rebuild({0})
    return runner, engine_db, clock_db


@pytest.mark.parametrize("read_ahead", [False, True])
async def test_an_engine_that_lost_its_partitions_writes_nothing(
    database: str, market: Market, read_ahead: bool
) -> None:
    buy = await market.order(0, Side.BUY, 5)  # from the house
    zombie, zombie_db, zombie_sa = await engine(database, market)
    owner, owner_db, owner_sa = await engine(database, market)
    batch = {ORDERS: zombie.consumer.records[:1]}  # type: ignore[attr-defined]
    try:
        ahead = None
        if read_ahead:  # the zombie read the batch ahead before the owner applied it
            ahead = _decoded(batch, zombie.expected, zombie.cores)
            assert ahead is not None
            async with zombie_db.reading() as reader:
                ahead.unaccepted = await reader.unaccepted(_unaccepted_ids(ahead.messages))
            assert buy in ahead.unaccepted
            ahead.matched = commands.match(
                zombie.cores, zombie.ref_seq, ahead.messages, ahead.unaccepted, {}
            )
        await owner.process(batch)
        with pytest.raises(FencedOut):
            await zombie.process(batch, ahead)
    finally:
        for d, sa in ((zombie_db, zombie_sa), (owner_db, owner_sa)):
            await d.close()
            await sa.dispose()

    state = await market.state()
    assert state["orders"] == {buy: ("filled", 5)}
    assert (state["trades"], state["shares"], state["offset"]) == (1, 5, 1)
    assert state["violations"] == {}


async def test_a_batch_locks_its_orders_their_accounts_and_positions_and_the_house_where_it_traded(
    database: str, market: Market
) -> None:
    buy = await market.order(0, Side.BUY, 5)
    engine_db = EngineDatabase(database)
    other = await asyncpg.connect(database.replace("+asyncpg", ""))
    user = market.users[0]
    try:
        async with engine_db.transaction() as repo:
            orders, balances, holdings = await repo.lock([buy], HOUSE_ACCOUNT_ID, [])
            assert set(orders) == {buy} and orders[buy].status == "new"
            assert set(balances) == {user}
            assert set(holdings) == {(user, SYMBOL)}
            for sql, key in (
                ("SELECT 1 FROM orders WHERE id = $1", buy),
                ("SELECT 1 FROM accounts WHERE id = $1", user),
                ("SELECT 1 FROM positions WHERE account_id = $1", user),
            ):
                with pytest.raises(asyncpg.LockNotAvailableError):
                    await other.fetch(sql + " FOR UPDATE NOWAIT", key)
            # The house's rows are not the batch's: free.
            await other.fetch(
                "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE NOWAIT", HOUSE_ACCOUNT_ID
            )
            await other.fetch(
                "SELECT 1 FROM positions WHERE account_id = $1 FOR UPDATE NOWAIT",
                HOUSE_ACCOUNT_ID,
            )

        async with engine_db.transaction() as repo:
            # The house traded: its account and its position in that symbol too; a position
            # nobody holds yet is not there to lock.
            orders, balances, holdings = await repo.lock([buy], HOUSE_ACCOUNT_ID, [SYMBOL, "NONE"])
            assert set(balances) == {user, HOUSE_ACCOUNT_ID}
            assert set(holdings) == {(user, SYMBOL), (HOUSE_ACCOUNT_ID, SYMBOL)}
            assert holdings[(HOUSE_ACCOUNT_ID, SYMBOL)].house
            with pytest.raises(asyncpg.LockNotAvailableError):
                await other.fetch(
                    "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE NOWAIT", HOUSE_ACCOUNT_ID
                )

        async with engine_db.transaction() as repo:
            assert await repo.lock([uuid.uuid4()], HOUSE_ACCOUNT_ID, []) == ({}, {}, {})
    finally:
        await other.close()
        await engine_db.close()
