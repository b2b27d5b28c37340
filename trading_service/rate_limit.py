"""Per-account rate limits on order entry: a token bucket per account and action in Redis.

Each account may place (or replace) `order_rate` orders per second with bursts up to
`order_burst`, and cancel likewise; the bucket lives in Redis and is updated by one Lua script,
so every replica of the API draws from the same bucket and no two requests race. Redis's own
clock is used, so replicas with skewed clocks agree too. One account at its limit slows nobody
else: each account has its own bucket.
"""

from __future__ import annotations

import math
import uuid
from typing import Any, Literal

from fastapi import Request
from redis.asyncio import Redis

from shared.errors import DomainError
from trading_service.deps import OrderEntry
from trading_service.monitoring import RATE_LIMITED

Action = Literal["order", "cancel"]

# KEYS[1]: the bucket. ARGV: rate (tokens per second), burst (bucket size).
# Returns {1, "0"} when a token was taken, else {0, seconds until one is there}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(stored[1]) or burst
local since = tonumber(stored[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - since) * rate)
local taken = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {taken, tostring(wait)}
"""


RATE_LIMIT_RESPONSE: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Too many orders or cancels from this account: wait `Retry-After` seconds "
        "(TRADING_ORDER_RATE / TRADING_ORDER_BURST, TRADING_CANCEL_RATE / TRADING_CANCEL_BURST)",
        "content": {
            "application/json": {
                "example": {
                    "error": "rate_limited",
                    "detail": "more than 20 orders per second (bursts of 100) for this account; "
                    "retry after 0.05 s",
                }
            }
        },
    }
}


class RateLimited(DomainError):
    status = 429
    error = "rate_limited"

    def __init__(self, detail: str, retry_after_s: float) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))})


class RateLimiter:
    def __init__(self, redis: Redis, limits: dict[Action, tuple[float, int]]) -> None:
        """`limits`: per action (rate per second, burst); a rate of 0 means no limit."""
        self._take = redis.register_script(_TAKE)
        self.limits = limits

    async def check(self, account_id: uuid.UUID, action: Action) -> None:
        rate, burst = self.limits[action]
        if rate <= 0:
            return
        taken, wait = await self._take(
            keys=[f"ratelimit:{action}:{account_id}"], args=[rate, burst]
        )
        if not int(taken):
            RATE_LIMITED.labels(action).inc()
            raise RateLimited(
                f"more than {rate:g} {action}s per second (bursts of {burst}) for this account; "
                f"retry after {float(wait):.2f} s",
                float(wait),
            )


def _action(request: Request) -> Action | None:
    """What a request on the orders router counts as; reads are not limited."""
    method = request.method
    if method in ("POST", "PATCH"):
        return "order"  # place, buy, sell, replace
    if method == "DELETE":
        return "cancel"
    return None


async def limit_order_entry(request: Request, entry: OrderEntry) -> None:
    """A router dependency of the order endpoints: 429 rate_limited with Retry-After.

    On the request's account (`order_entry`, which the endpoints then find already chosen)."""
    action = _action(request)
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if action is not None and limiter is not None:
        await limiter.check(entry.account.id, action)
