"""Tokens revoked before they expire (logout), shared by every service that verifies tokens.

A token stays valid until it expires, so logging out must reach every verifier: the revoking
service stores the token's id in Redis for the rest of the token's life, and verifiers refuse
tokens whose id is there. The same cache rule as shared/deleted_users.py: each process asks
Redis about a token at most every RECHECK_AFTER_S, and refuses with 503 rather than guess when
Redis cannot answer.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.deleted_users import MAX_REMEMBERED, RECHECK_AFTER_S
from shared.errors import ServiceUnavailable, Unauthorized
from shared.tokens import LEEWAY_S, Claims

KEY_PREFIX = "stocksim:revoked-token:"
REVOKED = "the token was revoked (logged out)"


def token_id(claims: Claims) -> str:
    """The token's `jti` (every token the user service signs has one), else its (sub, iat)."""
    return claims.jti if claims.jti is not None else f"{claims.sub}@{claims.iat}"


class RevokedTokens:
    """Revokes tokens and refuses revoked ones; asks Redis at most once per token per recheck."""

    def __init__(self, redis: Redis, recheck_after_s: float = RECHECK_AFTER_S) -> None:
        self._redis = redis
        self._recheck_after_s = recheck_after_s
        self._valid_at: dict[str, float] = {}
        self._revoked: dict[str, int] = {}  # token id -> its exp: forgotten once it expired

    async def revoke(self, claims: Claims) -> None:
        """Refused here at once, by every other verifier within RECHECK_AFTER_S."""
        # Until the verifiers' leeway past `exp` is over too: then the token is dead anyway.
        remaining_s = max(1, claims.exp + LEEWAY_S - int(time.time()) + 1)
        try:
            await self._redis.set(KEY_PREFIX + token_id(claims), 1, ex=remaining_s)
        except (RedisError, OSError):
            raise ServiceUnavailable("cannot revoke the token right now") from None
        self._remember_revoked(token_id(claims), claims.exp)

    async def check(self, claims: Claims) -> None:
        """Raise 401 if the token was revoked (503 if that cannot be known right now)."""
        tid = token_id(claims)
        if tid in self._revoked:
            raise Unauthorized(REVOKED)
        now = time.monotonic()
        seen = self._valid_at.get(tid)
        if seen is not None and now - seen < self._recheck_after_s:
            return
        try:
            revoked = await self._redis.exists(KEY_PREFIX + tid)
        except (RedisError, OSError):
            # Fail closed: a logged-out token must not work while we cannot tell.
            raise ServiceUnavailable("cannot check the token right now") from None
        if revoked:
            self._valid_at.pop(tid, None)
            self._remember_revoked(tid, claims.exp)
            raise Unauthorized(REVOKED)
        if len(self._valid_at) >= MAX_REMEMBERED:
            self._valid_at.clear()
        self._valid_at[tid] = now

    def _remember_revoked(self, tid: str, exp: int) -> None:
        if len(self._revoked) >= MAX_REMEMBERED:
            # Expired tokens fail verification anyway; Redis still has the live ones.
            cutoff = time.time() - LEEWAY_S
            self._revoked = {t: e for t, e in self._revoked.items() if e >= cutoff}
            if len(self._revoked) >= MAX_REMEMBERED:
                self._revoked.clear()
        self._revoked[tid] = exp
