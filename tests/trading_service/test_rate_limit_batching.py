"""The rate limiter sends the checks of requests that arrive together in one Redis pipeline:
each bucket still answers for itself, and Redis errors reach the requests they concern."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from devstack.stack import Stack
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
