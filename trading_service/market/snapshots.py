"""Book snapshots as the API reads them from Redis (the engine writes them: book_snapshots.py)."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from trading_service.book_snapshots import BOOKS_KEY


async def read_book(redis: Redis, symbol: str) -> dict[str, Any] | None:
    raw = await redis.hget(BOOKS_KEY, symbol)
    if raw is None:
        return None
    snapshot: dict[str, Any] = json.loads(raw)
    return snapshot
