"""The latest price per symbol in Redis; a record with an older seq never overwrites a newer one."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from redis.asyncio import Redis

from trading_service.messages import PriceTick

PRICES_KEY = "stocksim:prices"
PRICES_CHANNEL = "prices"

# Compare-and-set on seq inside Redis: concurrent writers (API replicas) can never regress it.
_STORE_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local seq = cjson.decode(current)['seq']
  if seq >= tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[2])
return 1
"""


class PriceCache:
    def __init__(self, redis: Redis) -> None:  # a client with decode_responses=False
        self.redis = redis
        self._store = redis.register_script(_STORE_IF_NEWER)

    async def store(self, tick: PriceTick) -> bool:
        """Keep `tick` if it is newer than what is cached; True when it was stored."""
        payload = json.dumps(tick.as_json())
        stored = await self._store(
            keys=[PRICES_KEY, PRICES_CHANNEL], args=[tick.symbol, payload, tick.seq]
        )
        return bool(stored)

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
