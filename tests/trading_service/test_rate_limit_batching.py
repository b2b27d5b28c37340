"""The rate limiter sends the checks of requests that arrive together in one Redis pipeline:
each bucket still answers for itself, and Redis errors reach the requests they concern."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from devstack.stack import Stack
from trading_service.messages import PriceTick
from trading_service.prices.cache import PriceCache, PriceRead
from trading_service.rate_limit import RateLimited, RateLimiter


async def outcomes(limiter: RateLimiter, accounts: list[uuid.UUID]) -> list[str]:
    answers = await asyncio.gather(
        *(limiter.check(a, "order") for a in accounts), return_exceptions=True
    )
    return [
        "429" if isinstance(a, RateLimited) else "ok" if a is None else repr(a) for a in answers
    ]


async def test_checks_sent_together_each_draw_from_their_own_bucket(stack: Stack) -> None:
    redis = Redis.from_url(stack.redis_url)
    try:
        await redis.script_flush()  # the first pipeline meets NOSCRIPT and loads the script
        limiter = RateLimiter(redis, {"order": (0.001, 2), "cancel": (0.0, 0)})
        greedy, other = uuid.uuid4(), uuid.uuid4()
        assert await outcomes(limiter, [greedy, other, greedy, greedy, greedy]) == [
            "ok",
            "ok",
            "ok",
            "429",
            "429",
        ]
        assert await outcomes(limiter, [other, other]) == ["ok", "429"]
        await limiter.check(uuid.uuid4(), "cancel")  # rate 0: no limit, no Redis
    finally:
        await redis.aclose()


async def test_a_redis_failure_fails_every_check_of_the_pipeline_and_the_next_ones_work(
    stack: Stack,
) -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    limiter = RateLimiter(dead, {"order": (10.0, 10), "cancel": (10.0, 10)})
    answers = await asyncio.gather(
        *(limiter.check(uuid.uuid4(), "order") for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(a, RedisConnectionError) for a in answers), answers  # 503 upstream
    await dead.aclose()
    redis = Redis.from_url(stack.redis_url)
    try:
        limiter = RateLimiter(redis, {"order": (10.0, 10), "cancel": (10.0, 10)})
        await limiter.check(uuid.uuid4(), "order")
    finally:
        await redis.aclose()


@pytest.mark.parametrize("canceled", [0, 1])
async def test_a_canceled_request_leaves_the_others_answered(stack: Stack, canceled: int) -> None:
    redis = Redis.from_url(stack.redis_url)
    try:
        limiter = RateLimiter(redis, {"order": (10.0, 10), "cancel": (10.0, 10)})
        checks = [asyncio.ensure_future(limiter.check(uuid.uuid4(), "order")) for _ in range(2)]
        await asyncio.sleep(0)
        checks[canceled].cancel()
        await asyncio.gather(*checks, return_exceptions=True)
        assert checks[1 - canceled].result() is None
    finally:
        await redis.aclose()


async def test_order_entry_reads_its_price_in_the_checks_round_trip(stack: Stack) -> None:
    """Each check with `price_of` gets its symbol's price as Redis holds it, from the same
    pipeline as the checks (one read per symbol); a refused check is still 429."""
    redis = Redis.from_url(stack.redis_url)
    try:
        prices = PriceCache(redis)
        await prices.store(PriceTick("RLA", Decimal("12.34"), "2026-01-01T00:00:00.000Z", 7))
        await prices.store(PriceTick("RLB", Decimal("5.00"), "2026-01-01T00:00:00.000Z", 8))
        limiter = RateLimiter(redis, {"order": (0.001, 1), "cancel": (0.0, 0)})
        rounds: list[int] = []
        real = limiter._pipeline

        async def counted(queued: Any, symbols: list[str]) -> list[Any]:
            rounds.append(len(symbols))
            return await real(queued, symbols)

        limiter._pipeline = counted  # type: ignore[method-assign]
        greedy = uuid.uuid4()
        reads = await asyncio.gather(
            limiter.check(uuid.uuid4(), "order", price_of="RLA"),
            limiter.check(uuid.uuid4(), "order", price_of="RLB"),
            limiter.check(uuid.uuid4(), "order", price_of="RLA"),
            limiter.check(uuid.uuid4(), "order", price_of="NOPRICE"),
            limiter.check(uuid.uuid4(), "order"),
            limiter.check(greedy, "order", price_of="RLA"),
            limiter.check(greedy, "order", price_of="RLA"),
            return_exceptions=True,
        )
        assert rounds == [3]  # one pipeline: the checks and RLA, RLB, NOPRICE once each
        ticks = [r.tick if isinstance(r, PriceRead) else r for r in reads]
        assert [(t.symbol, t.price, t.seq) for t in ticks[:3] if t is not None] == [
            ("RLA", Decimal("12.34"), 7),
            ("RLB", Decimal("5.00"), 8),
            ("RLA", Decimal("12.34"), 7),
        ]
        assert ticks[3] is None and reads[4] is None
        assert isinstance(reads[5], PriceRead) and isinstance(reads[6], RateLimited)
        # No limit set: no round trip, the caller reads the price itself.
        free = RateLimiter(redis, {"order": (0.0, 0), "cancel": (0.0, 0)})
        assert await free.check(uuid.uuid4(), "order", price_of="RLA") is None
    finally:
        await redis.aclose()


async def test_a_redis_failure_fails_the_price_reads_too(stack: Stack) -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    limiter = RateLimiter(dead, {"order": (10.0, 10), "cancel": (10.0, 10)})
    answers = await asyncio.gather(
        *(limiter.check(uuid.uuid4(), "order", price_of="RLA") for _ in range(2)),
        return_exceptions=True,
    )
    assert all(isinstance(a, RedisConnectionError) for a in answers), answers
    await dead.aclose()
