"""The latest price per symbol in Redis; a record with an older seq never overwrites a newer one.

Each process also keeps, in memory, the ticks its own price consumer put in (or found in) Redis
(`PriceCache.latest`): GET /prices/{symbol} reads them there instead of making a Redis round trip.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from redis.asyncio import Redis

from trading_service.messages import PriceTick

PRICES_KEY = "stocksim:prices"
PRICES_CHANNEL = "prices"

# Compare-and-set on seq inside Redis: concurrent writers (API replicas) can never regress it.
# One call stores a whole batch (ARGV: symbol, payload, seq, symbol, payload, seq, ...): a
# round trip per tick cannot keep up with thousands of ticks a second. Per tick: 1 stored,
# 2 already there (another replica stored it), 0 older than what is there.
_STORE_IF_NEWER = """
local outcome = {}
for i = 1, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  local seq = tonumber(ARGV[i + 2])
  local held = current and cjson.decode(current)['seq']
  if not held or held < seq then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('PUBLISH', KEYS[2], ARGV[i + 1])
    outcome[#outcome + 1] = 1
  elseif held == seq then
    outcome[#outcome + 1] = 2
  else
    outcome[#outcome + 1] = 0
  end
end
return outcome
"""


class PriceRead:
    """A symbol's latest price as Redis held it, read along with another round trip (order
    entry's rate limit: trading_service/rate_limit.py)."""

    __slots__ = ("tick",)

    def __init__(self, raw: bytes | str | None) -> None:
        self.tick = None if raw is None else PriceTick.decode(_bytes(raw))


class PriceCache:
    def __init__(self, redis: Redis, latest: dict[str, PriceTick] | None = None) -> None:
        """`redis`: a client with decode_responses=False. `latest`: the memory of another
        PriceCache of this process to share (the price consumer's, on its own thread)."""
        self.redis = redis
        self._store = redis.register_script(_STORE_IF_NEWER)
        # Per symbol, the newest tick this process saw Redis hold. Written only by the thread
        # that stores (the price consumer), read by the others (a dict read is atomic).
        self.latest: dict[str, PriceTick] = {} if latest is None else latest

    def sharing_memory(self, redis: Redis) -> PriceCache:
        """A cache on another client (another thread's event loop) that fills this one's memory."""
        return PriceCache(redis, self.latest)

    async def store(self, tick: PriceTick) -> bool:
        """Keep `tick` if it is newer than what is cached; True when it was stored."""
        return await self.store_many([tick]) == 1

    async def store_many(self, ticks: list[PriceTick]) -> int:
        """Keep each tick newer than its symbol's cached one, in one round trip; the number kept.

        Ticks are compared one after another, so the highest seq of a symbol wins in any order.
        """
        if not ticks:
            return 0
        args: list[str | int] = []
        for tick in ticks:
            args += [tick.symbol, json.dumps(tick.as_json()), tick.seq]
        outcome = await self._store(keys=[PRICES_KEY, PRICES_CHANNEL], args=args)
        latest = self.latest
        for tick, kept in zip(ticks, outcome, strict=True):
            # Remembered only once Redis holds it: the memory never runs ahead of Redis, and a
            # tick Redis refused as older (a replay) never hides the newer one Redis has.
            if int(kept) and ((held := latest.get(tick.symbol)) is None or held.seq < tick.seq):
                latest[tick.symbol] = tick
        return sum(1 for kept in outcome if int(kept) == 1)

    async def get(self, symbol: str) -> PriceTick | None:
        raw = await self.redis.hget(PRICES_KEY, symbol)
        return None if raw is None else PriceTick.decode(_bytes(raw))

    async def current(self, symbol: str, fresh_s: float) -> PriceTick | None:
        """The latest price as this process knows it: from memory when its price consumer has
        stored one of the symbol's ticks since it started (as new as Redis's but for the moment
        between a write and its reply) no older than `fresh_s`, else from Redis: a replica
        whose own consumer fell behind still finds the tick another replica stored."""
        tick = self.latest.get(symbol)
        if tick is not None and age_seconds(tick) <= fresh_s:
            return tick
        return await self.get(symbol)

    async def get_many(self, symbols: list[str]) -> dict[str, PriceTick]:
        if not symbols:
            return {}
        raws = await self.redis.hmget(PRICES_KEY, symbols)
        return {
            s: PriceTick.decode(_bytes(r))
            for s, r in zip(symbols, raws, strict=True)
            if r is not None
        }

    async def all(self) -> list[PriceTick]:
        raws = await self.redis.hgetall(PRICES_KEY)
        return sorted((PriceTick.decode(_bytes(v)) for v in raws.values()), key=lambda t: t.symbol)


def age_seconds(tick: PriceTick, now: datetime | None = None) -> float:
    ts = datetime.fromisoformat(tick.ts.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - ts).total_seconds()


def _bytes(raw: bytes | str) -> bytes:
    return raw.encode() if isinstance(raw, str) else raw
