"""A big market sends many ticks of a symbol per fetch: the API's cache and the engine keep only
the ticks that can matter, and nothing that matters is lost."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from redis.asyncio import Redis

from devstack.stack import Stack
from shared.kafka import ORDERS_TOPIC, PRICES_TOPIC
from trading_service.engine.core.model import Order, OrderType, Side, TimeInForce
from trading_service.engine.intake import drop_superseded_ticks
from trading_service.engine.scopes import PUBLIC, Scope, ScopedCores
from trading_service.messages import PriceTick
from trading_service.prices.cache import PRICES_KEY, PriceCache
from trading_service.prices.consumer import newest_per_symbol

FRESH_S = 30.0  # order entry's TRADING_MAX_PRICE_AGE_S by default

_offsets = iter(range(1_000_000))


def tick(symbol: str, price: str, seq: int) -> ConsumerRecord[Any, Any]:
    value = {"symbol": symbol, "price": price, "seq": seq, "ts": "2026-12-02T04:00:00.000Z"}
    return record(PRICES_TOPIC, symbol, json.dumps(value).encode())


def record(topic: str, key: str | None, value: bytes) -> ConsumerRecord[Any, Any]:
    offset = next(_offsets)
    return ConsumerRecord(
        topic, 0, offset, offset, 0, None if key is None else key.encode(), value, None, 0, 0, ()
    )


def test_the_cache_gets_only_the_newest_tick_of_each_symbol() -> None:
    records = [tick("AAPL", "190.00", 1), tick("MSFT", "420.00", 2), tick("AAPL", "190.05", 3)]
    newest = {t.symbol: t for t in newest_per_symbol(records)}
    assert set(newest) == {"AAPL", "MSFT"}
    assert (newest["AAPL"].price, newest["AAPL"].seq) == (Decimal("190.05"), 3)


def test_a_malformed_last_record_is_skipped_not_fatal() -> None:
    records = [tick("AAPL", "190.00", 1), record(PRICES_TOPIC, "AAPL", b"{not json")]
    assert newest_per_symbol([*records, tick("NVDA", "120.00", 2)])[0].symbol == "NVDA"


def _prices(records: list[ConsumerRecord[Any, Any]]) -> list[tuple[str, int]]:
    kept = [PriceTick.decode(r.value) for r in records if r.topic == PRICES_TOPIC]
    return [(t.symbol, t.seq) for t in kept]


def test_the_engine_skips_ticks_of_a_quiet_symbol_but_the_last() -> None:
    core = ScopedCores(spread_bps=10, house_size=None)
    core.set_reference("AAPL", 19_000)
    batch = [tick("AAPL", "190.00", 1), tick("AAPL", "189.00", 2), tick("AAPL", "191.00", 3)]
    assert _prices(drop_superseded_ticks(batch, core)) == [("AAPL", 3)]


@pytest.mark.parametrize("scope", [PUBLIC, uuid.uuid4()], ids=["personal", "league"])
def test_the_engine_keeps_every_tick_a_resting_order_could_see(scope: Scope) -> None:
    core = ScopedCores(spread_bps=10, house_size=None)
    core.set_reference("AAPL", 19_000)
    resting = Order(uuid.uuid4(), uuid.uuid4(), "AAPL", Side.BUY, OrderType.LIMIT,
                    TimeInForce.GTC, qty=5, limit=18_950)  # fmt: skip
    assert core.submit(resting, scope)
    assert core.core(scope).book("AAPL").best_bid() == 18_950, "it rests below the house ask"
    # The dip to 189.00 crosses the resting 189.50 buy (in any scope): skipping it would lose
    # the fill.
    batch = [tick("AAPL", "189.00", 1), tick("AAPL", "191.00", 2), tick("MSFT", "420.00", 3)]
    assert _prices(drop_superseded_ticks(batch, core)) == [("AAPL", 1), ("AAPL", 2), ("MSFT", 3)]


def test_the_engine_keeps_every_tick_around_an_order_message_of_the_symbol() -> None:
    core = ScopedCores(spread_bps=10, house_size=None)
    core.set_reference("AAPL", 19_000)
    order = record(ORDERS_TOPIC, "AAPL", b"{}")
    batch = [tick("AAPL", "189.00", 1), order, tick("AAPL", "191.00", 2)]
    assert drop_superseded_ticks(batch, core) == batch
    unkeyed = record(ORDERS_TOPIC, None, b"{}")
    batch = [tick("NVDA", "120.00", 3), unkeyed, tick("NVDA", "121.00", 4)]
    assert drop_superseded_ticks(batch, core) == batch


async def test_one_redis_call_stores_a_batch_and_never_regresses_a_symbol(stack: Stack) -> None:
    redis = Redis.from_url(stack.redis_url)
    try:
        cache = PriceCache(redis)
        symbols = [f"Q{uuid.uuid4().hex[:6].upper()}" for _ in range(2)]
        first = [PriceTick(s, Decimal("10.00"), "2026-12-02T04:00:00.000Z", 5) for s in symbols]
        assert await cache.store_many(first) == 2
        older = PriceTick(symbols[0], Decimal("9.00"), "2026-12-02T03:59:00.000Z", 4)
        newer = PriceTick(symbols[1], Decimal("11.00"), "2026-12-02T04:00:01.000Z", 6)
        assert await cache.store_many([older, newer]) == 1
        cached = await cache.get_many(symbols)
        assert cached[symbols[0]].price == Decimal("10.00")
        assert cached[symbols[1]].price == Decimal("11.00")
    finally:
        await redis.aclose()


async def test_the_memory_get_price_reads_holds_what_redis_holds_never_an_older_tick(
    stack: Stack,
) -> None:
    redis = Redis.from_url(stack.redis_url)
    try:
        api = PriceCache(redis)
        consumer = api.sharing_memory(redis)  # the price consumer's thread fills the API's memory
        other_replica = PriceCache(redis)
        symbol = f"M{uuid.uuid4().hex[:6].upper()}"
        now = datetime.now(UTC).isoformat()

        def at(price: str, seq: int, ts: str = now) -> PriceTick:
            return PriceTick(symbol, Decimal(price), ts, seq)

        # Nothing in memory yet: Redis answers (a tick stored by another process).
        await other_replica.store(at("10.00", 5))
        assert api.latest == {}
        assert await api.current(symbol, FRESH_S) == at("10.00", 5)
        # A replayed older tick, refused by Redis, is not remembered either.
        assert await consumer.store_many([at("9.00", 4)]) == 0
        assert api.latest == {}
        # The same tick another replica already stored is remembered; a newer one replaces it.
        assert await consumer.store_many([at("10.00", 5)]) == 0
        assert api.latest[symbol] == at("10.00", 5)
        assert await consumer.store_many([at("11.00", 6), at("10.50", 3)]) == 1
        assert await api.current(symbol, FRESH_S) == at("11.00", 6) == await api.get(symbol)
        # Memory first: no round trip (Redis no longer has it, the memory still answers).
        await redis.hdel(PRICES_KEY, symbol)
        assert await api.current(symbol, FRESH_S) == at("11.00", 6)
    finally:
        await redis.hdel(PRICES_KEY, symbol)
        await redis.aclose()


async def test_a_replica_whose_consumer_fell_behind_reads_the_newer_tick_from_redis(
    stack: Stack,
) -> None:
    redis = Redis.from_url(stack.redis_url)
    try:
        behind = PriceCache(redis)
        symbol = f"M{uuid.uuid4().hex[:6].upper()}"
        old = (datetime.now(UTC) - timedelta(seconds=2 * FRESH_S)).isoformat()
        # This process's consumer stored a tick, then stopped getting any.
        await behind.store_many([PriceTick(symbol, Decimal("10.00"), old, 1)])
        assert behind.latest[symbol].seq == 1
        # Another replica's consumer goes on storing: this one still answers with its tick.
        fresh = PriceTick(symbol, Decimal("12.00"), datetime.now(UTC).isoformat(), 2)
        await PriceCache(redis).store(fresh)
        assert await behind.current(symbol, FRESH_S) == fresh
    finally:
        await redis.hdel(PRICES_KEY, symbol)
        await redis.aclose()
