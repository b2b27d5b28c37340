"""The latest price per symbol in Redis; a record with an older seq never overwrites a newer one."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from redis.asyncio import Redis

from trading_service.messages import PriceTick

PRICES_KEY = "stocksim:prices"
PRICES_CHANNEL = "prices"

# Compare-and-set on seq inside Redis: concurrent writers (API replicas) can never regress it.
# One call stores a whole batch (ARGV: symbol, payload, seq, symbol, payload, seq, ...): a
# round trip per tick cannot keep up with thousands of ticks a second.
_STORE_IF_NEWER = """
local stored = 0
for i = 1, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if not current or cjson.decode(current)['seq'] < tonumber(ARGV[i + 2]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('PUBLISH', KEYS[2], ARGV[i + 1])
    stored = stored + 1
  end
end
return stored
"""


class PriceCache:
    def __init__(self, redis: Redis) -> None:  # a client with decode_responses=False
        self.redis = redis
        self._store = redis.register_script(_STORE_IF_NEWER)

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
        stored = await self._store(keys=[PRICES_KEY, PRICES_CHANNEL], args=args)
        return int(stored)

    async def get(self, symbol: str) -> PriceTick | None:
        raw = await self.redis.hget(PRICES_KEY, symbol)
        return None if raw is None else PriceTick.decode(_bytes(raw))

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
