"""Deleted users, shared between the user service (writes) and the services that verify tokens.

A token stays valid until it expires, so deleting a user must also reach every verifier: the
user service adds the id to a Redis set, and verifiers refuse tokens whose subject is in it.
"""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import ServiceUnavailable, Unauthorized

DELETED_USERS_KEY = "stocksim:deleted-users"
# A deleted user's token stops working at most this long after the deletion.
RECHECK_AFTER_S = 2.0
# Bounds the per-process memory of accounts seen alive; past it the cache starts over.
MAX_REMEMBERED = 100_000


async def mark_deleted(redis: Redis, user_id: uuid.UUID) -> None:
    await redis.sadd(DELETED_USERS_KEY, str(user_id))


class DeletedUsers:
    """Refuses tokens of deleted users; asks Redis at most once per account per RECHECK_AFTER_S."""

    def __init__(self, redis: Redis, recheck_after_s: float = RECHECK_AFTER_S) -> None:
        self._redis = redis
        self._recheck_after_s = recheck_after_s
        self._alive_at: dict[uuid.UUID, float] = {}
        self._deleted: set[uuid.UUID] = set()

    async def check(self, user_id: uuid.UUID) -> None:
        """Raise 401 if the user was deleted (503 if that cannot be known right now)."""
        if user_id in self._deleted:
            raise Unauthorized("the token's user no longer exists")
        now = time.monotonic()
        seen = self._alive_at.get(user_id)
        if seen is not None and now - seen < self._recheck_after_s:
            return
        try:
            deleted = await self._redis.sismember(DELETED_USERS_KEY, str(user_id))
        except (RedisError, OSError):
            # Fail closed: a deleted user's token must not work while we cannot tell.
            raise ServiceUnavailable("cannot check the token's user right now") from None
        if deleted:
            self._deleted.add(user_id)
            self._alive_at.pop(user_id, None)
            raise Unauthorized("the token's user no longer exists")
        if len(self._alive_at) >= MAX_REMEMBERED:
            self._alive_at.clear()
        self._alive_at[user_id] = now
