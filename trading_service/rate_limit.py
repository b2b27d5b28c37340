"""Per-account rate limits on order entry: a token bucket per account and action in Redis.

Each account may place (or replace) `order_rate` orders per second with bursts up to
`order_burst`, and cancel likewise; the bucket lives in Redis and is updated by one Lua script,
so every replica of the API draws from the same bucket and no two requests race. Redis's own
clock is used, so replicas with skewed clocks agree too. One account at its limit slows nobody
else: each account has its own bucket. The checks of requests that arrive together go to Redis
in one pipeline (one round trip and one connection checkout, which cost more in the Redis
client than the script itself); each is still its own script call on its own bucket. Order
entry's price read rides along (`check(..., price_of=symbol)`): one HGET per symbol of the
round, in the same pipeline, read after the request arrived like any read of its own.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any, Literal

from fastapi import Request
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from shared.errors import DomainError
from trading_service.deps import OrderEntry
from trading_service.monitoring import RATE_LIMITED
from trading_service.prices.cache import PRICES_KEY, PriceRead

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


# A check waiting for the next pipeline: bucket, rate, burst, the symbol whose price to read
# along (or None), and its answer: (taken, wait, the price as Redis holds it).
_Answer = tuple[int, float, bytes | str | None]
_Queued = tuple[str, float, int, str | None, asyncio.Future[_Answer]]


class RateLimiter:
    def __init__(self, redis: Redis, limits: dict[Action, tuple[float, int]]) -> None:
        """`limits`: per action (rate per second, burst); a rate of 0 means no limit."""
        self._redis = redis
        self._take = redis.register_script(_TAKE)
        self.limits = limits
        self._queued: list[_Queued] = []  # checks waiting for the next pipeline
        self._sending: set[asyncio.Future[None]] = set()

    async def check(
        self, account_id: uuid.UUID, action: Action, price_of: str | None = None
    ) -> PriceRead | None:
        """429 when the account is over its limit. With `price_of`, also reads that symbol's
        price in the same round trip (None when there was no round trip: no limit set)."""
        rate, burst = self.limits[action]
        if rate <= 0:
            return None
        answer: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        self._queued.append((f"ratelimit:{action}:{account_id}", rate, burst, price_of, answer))
        if len(self._queued) == 1:  # the first of this round sends the pipeline, next tick
            asyncio.get_running_loop().call_soon(self._send_queued)
        taken, wait, price = await answer
        if not taken:
            RATE_LIMITED.labels(action).inc()
            raise RateLimited(
                f"more than {rate:g} {action}s per second (bursts of {burst}) for this account; "
                f"retry after {wait:.2f} s",
                wait,
            )
        return None if price_of is None else PriceRead(price)

    def _send_queued(self) -> None:
        queued, self._queued = self._queued, []
        sending = asyncio.ensure_future(self._take_all(queued))
        self._sending.add(sending)
        sending.add_done_callback(self._sending.discard)

    async def _take_all(self, queued: list[_Queued]) -> None:
        """One token from each bucket, in one round trip; each request gets its own answer (or
        the error Redis gave it, or the failure of the whole call)."""
        symbols = sorted({q[3] for q in queued if q[3] is not None})
        try:
            replies = await self._pipeline(queued, symbols)
            prices = dict(zip(symbols, replies[len(queued) :], strict=True))
            del replies[len(queued) :]
            missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
            if missing:  # Redis restarted (or flushed its scripts): load it, send those again
                await self._redis.script_load(_TAKE)
                again = await self._pipeline([queued[i] for i in missing], [])
                for i, reply in zip(missing, again, strict=True):
                    replies[i] = reply
        except BaseException as exc:
            for *_, answer in queued:
                if not answer.done():
                    answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (*_, symbol, answer), reply in zip(queued, replies, strict=True):
            if answer.done():  # the request was canceled meanwhile
                continue
            price = None if symbol is None else prices[symbol]
            if isinstance(reply, Exception):
                answer.set_exception(reply)
            elif isinstance(price, Exception):
                answer.set_exception(price)
            else:
                answer.set_result((int(reply[0]), float(reply[1]), price))

    async def _pipeline(self, queued: list[_Queued], symbols: list[str]) -> list[Any]:
        """The checks' script calls, then one HGET per symbol in `symbols`."""
        pipe = self._redis.pipeline(transaction=False)
        for bucket, rate, burst, *_ in queued:
            pipe.evalsha(self._take.sha, 1, bucket, rate, burst)
        for symbol in symbols:
            pipe.hget(PRICES_KEY, symbol)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies


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
