"""The engine reads the next batch ahead while one commits (engine/runner.py): decoded, its
unaccepted orders read and its messages matched before the previous batch's commit. What it
must keep: commits in batch order, offsets with their batch, and a failure between any two
steps loses or doubles nothing.

The runner runs here on a database of its own with a scripted consumer (batches of a fixed
size, all there from the start, so every batch but the first is read ahead; `seek` rewinds it
as Kafka would), and a Redis stand-in that keeps what was published.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.stack import Stack
from shared import migrate
from shared.background import stop_tasks
from shared.db import create_db_engine
from shared.kafka import ORDERS_TOPIC
from shared.money import to_ticks
from trading_service.audit import audit
from trading_service.config import EngineSettings
from trading_service.engine.core.model import Order, OrderType, Side, TimeInForce
from trading_service.engine.repository import EngineDatabase, Repository
from trading_service.engine.runner import EngineRunner
from trading_service.messages import EXECUTIONS_CHANNEL, CancelRequest, Executions, NewOrder
from trading_service.tables import HOUSE_ACCOUNT_ID

SYMBOL = "AHEAD"
ORDERS = TopicPartition(ORDERS_TOPIC, 0)


@pytest.fixture
def database(stack: Stack) -> Iterator[str]:
    """A fresh, migrated database on the session's PostgreSQL (the session engine never sees
    it)."""
    name = f"ahead_{uuid.uuid4().hex[:12]}"
    admin = stack.database_url.replace("+asyncpg", "")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f"CREATE DATABASE {name}"))
    url = stack.database_url.rsplit("/", 1)[0] + "/" + name
    migrate.upgrade(url)
    yield url
    asyncio.run(run(f"DROP DATABASE {name} WITH (FORCE)"))


class Consumer:
    """Kafka's consumer as the runner uses it: `per_fetch` records a fetch, from where `seek`
    put it. Keeps the timeout of each fetch that returned records."""

    def __init__(self, values: list[bytes], per_fetch: int) -> None:
        self.records = [
            ConsumerRecord(ORDERS_TOPIC, 0, offset, offset, 0, SYMBOL.encode(), v, None, 0, 0, ())
            for offset, v in enumerate(values)
        ]
        self.per_fetch = per_fetch
        self.position = 0
        self.fetched_with: list[int] = []

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if tp == ORDERS:
            self.position = offset

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        chunk = self.records[self.position : self.position + self.per_fetch]
        if not chunk:
            await asyncio.sleep(min(timeout_ms, 10) / 1000)
            return {}
        self.position += len(chunk)
        self.fetched_with.append(timeout_ms)
        return {ORDERS: chunk}


class Redis:
    """Keeps the executions published, in order."""

    def __init__(self) -> None:
        self.executions: list[Executions] = []

    def pipeline(self, transaction: bool = False) -> Redis:
        return self

    async def __aenter__(self) -> Redis:
        self.queued: list[bytes] = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    def publish(self, channel: str, payload: bytes | str) -> None:
        if channel == EXECUTIONS_CHANNEL:
            assert isinstance(payload, bytes)
            self.queued.append(payload)

    def hset(self, *args: object, **kwargs: object) -> None:
        pass

    def hincrby(self, *args: object) -> None:
        pass

    def __len__(self) -> int:
        return 1

    async def execute(self) -> None:
        self.executions += [Executions.decode(p) for p in self.queued]


class Market:
    """Accounts that bought shares from the house, the symbol's reference price, and orders
    stored as the API stores them (reservations included); each order's message is its
    hand-off, queued in `messages`."""

    def __init__(self, url: str) -> None:
        self.dsn = url.replace("+asyncpg", "")
        self.users = [uuid.uuid4() for _ in range(4)]
        self.messages: list[bytes] = []
        self.sent: dict[uuid.UUID, NewOrder] = {}

    async def open(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.executemany(
                "INSERT INTO accounts (id, cash, granted_cash) VALUES ($1, 100000, 200000)",
                [(u,) for u in self.users],
            )
            await conn.execute(
                "UPDATE accounts SET cash = cash + $1 WHERE id = $2",
                100000 * len(self.users),
                HOUSE_ACCOUNT_ID,
            )
            await conn.executemany(
                "INSERT INTO positions (account_id, symbol, qty, cost_basis, house) "
                "VALUES ($1, $2, 1000, 100000, false)",
                [(u, SYMBOL) for u in self.users],
            )
            await conn.execute(
                "INSERT INTO positions (account_id, symbol, qty, cost_basis, house) "
                "VALUES ($1, $2, $3, 0, true)",
                HOUSE_ACCOUNT_ID,
                SYMBOL,
                -1000 * len(self.users),
            )
            await conn.execute(
                "INSERT INTO reference_prices (symbol, price, seq, ts) "
                "VALUES ($1, 100.00, 1, now())",
                SYMBOL,
            )
        finally:
            await conn.close()

    async def order(self, user: int, side: Side, qty: int, limit: str | None = None) -> uuid.UUID:
        """A GTC limit order (a market order without `limit`), stored and handed off."""
        account, order_id = self.users[user], uuid.uuid4()
        kind = OrderType.LIMIT if limit else OrderType.MARKET
        tif = TimeInForce.GTC if limit else TimeInForce.DAY
        price = Decimal(limit) if limit else None
        protection = None if limit or side is Side.SELL else Decimal("105.00")
        cash = (price or protection or Decimal(0)) * qty if side is Side.BUY else Decimal(0)
        shares = qty if side is Side.SELL else 0
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO orders (id, account_id, client_order_id, symbol, side, type, "
                    "time_in_force, qty, limit_price, protection_price, status, reserved_cash, "
                    "reserved_qty) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'new', $11, "
                    "$12)",
                    order_id, account, str(order_id), SYMBOL, side.value, kind.value, tif.value,
                    qty, price, protection, cash, shares,
                )  # fmt: skip
                await conn.execute(
                    "UPDATE accounts SET reserved_cash = reserved_cash + $2 WHERE id = $1",
                    account,
                    cash,
                )
                await conn.execute(
                    "UPDATE positions SET reserved_qty = reserved_qty + $3 "
                    "WHERE account_id = $1 AND symbol = $2",
                    account,
                    SYMBOL,
                    shares,
                )
        finally:
            await conn.close()
        self.sent[order_id] = NewOrder(
            Order(
                order_id, account, SYMBOL, side, kind, tif, qty,
                None if price is None else to_ticks(price), None,
                None if protection is None else to_ticks(protection),
            )
        )  # fmt: skip
        self.hand_off(order_id)
        return order_id

    def hand_off(self, order_id: uuid.UUID) -> None:
        """The order's message (again, if it was handed off before: the outbox's repeat)."""
        self.messages.append(self.sent[order_id].encode())

    def cancel(self, order_id: uuid.UUID) -> None:
        account = self.sent[order_id].order.account_id
        self.messages.append(CancelRequest(order_id, account).encode())

    async def state(self) -> dict[str, Any]:
        """What the engine left: each processed order's status and filled qty, the trades,
        the shares filled, the offset past its records, the audit's violations."""
        conn = await asyncpg.connect(self.dsn)
        try:
            orders = {
                r["id"]: (r["status"], r["filled_qty"])
                for r in await conn.fetch(
                    "SELECT id, status, filled_qty FROM orders WHERE accepted_at IS NOT NULL"
                )
            }
            trades = await conn.fetchval("SELECT count(*) FROM trades")
            shares = await conn.fetchval("SELECT coalesce(sum(qty), 0) FROM fills")
            offset = await conn.fetchval(
                "SELECT next_offset FROM engine_offsets WHERE topic = $1 AND partition = 0",
                ORDERS_TOPIC,
            )
        finally:
            await conn.close()
        engine = create_async_engine(self.dsn.replace("postgresql://", "postgresql+asyncpg://"))
        try:
            async with engine.connect() as sa:
                violations = {k: v for k, v in (await audit(sa)).items() if v}
        finally:
            await engine.dispose()
        return {"orders": orders, "trades": trades, "shares": shares, "offset": offset,
                "violations": violations}  # fmt: skip


@pytest.fixture
async def market(database: str) -> Market:
    m = Market(database)
    await m.open()
    return m


async def run_engine(
    url: str, market: Market, per_fetch: int
) -> tuple[Consumer, Redis, EngineRunner, list[set[int]]]:
    """The runner over the market's messages until it stored the offset past the last; also
    the rebuilds it did (the first is the assignment's)."""
    settings = EngineSettings(database_url=url, spread_bps=10)
    db = create_db_engine(url, pool_size=1)
    database = EngineDatabase(url)
    consumer, redis = Consumer(market.messages, per_fetch), Redis()
    runner = EngineRunner(settings, db, database, redis, consumer)  # type: ignore[arg-type]
    rebuilds: list[set[int]] = []
    rebuild = runner.rebuild

    async def counted(partitions: set[int]) -> None:
        rebuilds.append(partitions)
        await rebuild(partitions)

    runner.rebuild = counted  # type: ignore[method-assign]
    await runner.rebuild({0})
    task = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(60):
            while (await market.state())["offset"] != len(market.messages):
                assert not task.done(), task
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await database.close()
        await db.dispose()
    return consumer, redis, runner, rebuilds


async def trade_and_repeat(market: Market) -> dict[str, Any]:
    """Orders that trade, rest, are canceled and handed off twice, over batches of two; the
    state the engine must leave, whatever failed on the way."""
    a = await market.order(0, Side.BUY, 10, "99.95")  # rests between the house's 99.90/100.10
    b = await market.order(1, Side.SELL, 4, "99.95")  # fills 4 of A at A's price
    market.hand_off(a)  # the outbox's repeat of A, in the batch after A's
    market.cancel(a)
    m = await market.order(2, Side.BUY, 5)  # from the house at its ask
    market.hand_off(m)
    d = await market.order(3, Side.SELL, 3, "100.05")  # rests under the house's ask
    e = await market.order(0, Side.BUY, 3)  # takes D, better than the house
    market.hand_off(e)
    return {
        "orders": {
            a: ("canceled", 4), b: ("filled", 4), m: ("filled", 5), d: ("filled", 3),
            e: ("filled", 3),
        },
        "trades": 3, "shares": 4 + 4 + 5 + 3 + 3, "offset": len(market.messages),
        "violations": {},
    }  # fmt: skip


def published_last(redis: Redis) -> dict[uuid.UUID, tuple[str, int]]:
    """Each order's last status and filled qty as published (in publishing order)."""
    last = {}
    for message in redis.executions:
        for o in message.orders:
            last[o.id] = (str(o.status), o.filled_qty)
    return last


_LIFE = ["new", "partially_filled", "filled", "canceled", "expired", "rejected"]


def assert_published_in_commit_order(redis: Redis) -> None:
    """No order's published state ever goes back (a later batch's published before an
    earlier one's would)."""
    seen: dict[uuid.UUID, tuple[int, int]] = {}
    for message in redis.executions:
        for o in message.orders:
            now = (o.filled_qty, _LIFE.index(str(o.status)))
            assert now >= seen.get(o.id, (0, 0)), (o.id, seen[o.id], now)
            seen[o.id] = now


async def test_batches_read_ahead_commit_in_order_and_a_repeat_is_skipped_not_refused(
    database: str, market: Market
) -> None:
    expected = await trade_and_repeat(market)
    consumer, redis, runner, rebuilds = await run_engine(database, market, per_fetch=2)

    assert 0 in consumer.fetched_with  # batches were read ahead (a fetch that waits for none)
    assert await market.state() == expected
    # Each repeat was found processed when its batch was read ahead (before the batch that
    # processed it committed): skipped, nothing refused, no rebuild.
    assert runner.health.rejected_commands == 0
    assert len(rebuilds) == 1
    assert published_last(redis) == expected["orders"]
    assert_published_in_commit_order(redis)


@pytest.mark.parametrize(
    "fault", ["write", "commit", "read ahead", "refused", "commit, then the rebuild"]
)
async def test_a_failure_while_the_next_batch_is_read_ahead_loses_and_doubles_nothing(
    database: str, market: Market, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """The second batch fails between two steps while the third is read ahead (its write
    applied but the connection lost before commit; its commit lost; the read ahead's read
    lost; its write refused by the database; or its commit lost and the first rebuild after
    it too): what was read ahead is dropped, and every record is applied once, in order."""
    expected = await trade_and_repeat(market)
    writes, failed = 0, set()
    write, transaction, reading = (
        Repository.write,
        EngineDatabase.transaction,
        EngineDatabase.reading,
    )
    load_books = Repository.load_books

    def once(where: str) -> bool:
        """True the first time the fault of `where` is due."""
        if where in failed or not fault.startswith(where):
            return False
        failed.add(where)
        return True

    async def failing_write(self: Repository, *args: Any, **kwargs: Any) -> None:
        nonlocal writes
        writes += 1
        await write(self, *args, **kwargs)
        if writes == 2 and once("write"):
            raise ConnectionResetError("lost after the write")
        if writes == 2 and once("refused"):
            raise asyncpg.DataError("refused after the write")

    @contextlib.asynccontextmanager
    async def failing_commit(self: EngineDatabase) -> AsyncIterator[Repository]:
        async with transaction(self) as repo:
            yield repo
            if writes == 2 and once("commit"):
                await asyncio.sleep(0.05)  # the next batch is read ahead meanwhile
                raise ConnectionResetError("lost before the commit")

    @contextlib.asynccontextmanager
    async def failing_read(self: EngineDatabase) -> AsyncIterator[Repository]:
        if once("read ahead"):
            raise ConnectionResetError("lost while reading ahead")
        async with reading(self) as repo:
            yield repo

    async def failing_rebuild(self: Repository, *args: Any) -> Any:
        if "commit" in failed and fault.endswith("the rebuild") and once("commit, then"):
            raise ConnectionResetError("lost while rebuilding")
        return await load_books(self, *args)

    monkeypatch.setattr(Repository, "write", failing_write)
    monkeypatch.setattr(EngineDatabase, "transaction", failing_commit)
    monkeypatch.setattr(EngineDatabase, "reading", failing_read)
    monkeypatch.setattr(Repository, "load_books", failing_rebuild)
    consumer, redis, _, rebuilds = await run_engine(database, market, per_fetch=2)

    assert 0 in consumer.fetched_with
    assert failed == ({"commit", "commit, then"} if "then" in fault else {fault})
    # the assignment's, the one after the failure (and the one after the failed rebuild)
    assert len(rebuilds) == (3 if "then" in fault else 2)
    assert await market.state() == expected
    assert published_last(redis) == expected["orders"]
    assert_published_in_commit_order(redis)


async def test_a_stop_while_the_next_batch_is_read_ahead_stops_the_runner(
    database: str, market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner is stopped (cancelled, as SIGTERM does) while it awaits the batch read
    ahead, and the read ahead loses that cancellation (as `asyncio.wait_for` does when the
    fetch returns at the same moment): the runner stops all the same, after the batch it
    committed, instead of going on fetching."""
    await trade_and_repeat(market)
    entered = asyncio.Event()

    async def losing_the_stop(self: EngineRunner, *args: Any) -> tuple[Any, None]:
        entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()  # until cancelled: the stop is lost here
        return {}, None

    monkeypatch.setattr(EngineRunner, "_read_ahead", losing_the_stop)
    settings = EngineSettings(database_url=database, spread_bps=10)
    db = create_db_engine(database, pool_size=1)
    engine_db = EngineDatabase(database)
    consumer, redis = Consumer(market.messages, per_fetch=2), Redis()
    runner = EngineRunner(settings, db, engine_db, redis, consumer)  # type: ignore[arg-type]
    await runner.rebuild({0})
    task = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(30):
            # Published after commit; the runner then awaits the read ahead at once.
            while not (entered.is_set() and redis.executions):
                assert not task.done(), task
                await asyncio.sleep(0.01)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)
        assert done, "the runner went on after its stop"
        assert task.cancelled()
        assert (await market.state())["offset"] == 2  # the first batch, committed
    finally:
        # Cancelled again while it goes on (each read ahead loses one), so a failing run ends.
        await stop_tasks([task], grace_s=10)
        await engine_db.close()
        await db.dispose()
