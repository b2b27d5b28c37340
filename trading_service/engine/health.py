"""The commands the engine refused rather than stop on them: what counts as one, its reason,
and the count every engine instance shares in Redis."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg  # type: ignore[import-untyped]
from redis.asyncio import Redis

from trading_service.engine.accounting import InvariantBroken

log = logging.getLogger(__name__)

# Redis hash: rejected_commands (all engine instances), last_reason, last_at.
HEALTH_KEY = "stocksim:engine:health"


@dataclass
class EngineHealth:
    """This process's record of the commands it refused rather than stop on them."""

    rejected_commands: int = 0
    last_reason: str | None = None

    def refused(self, reason: str) -> None:
        self.rejected_commands += 1
        self.last_reason = reason

    async def record(self, redis: Redis) -> None:
        """Shared by every engine instance in Redis: refused commands in all, the last reason."""
        try:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(HEALTH_KEY, "rejected_commands", 1)
                pipe.hset(
                    HEALTH_KEY,
                    mapping={
                        "last_reason": self.last_reason or "",
                        "last_at": datetime.now(UTC).isoformat(),
                    },
                )
                await pipe.execute()
        except Exception:
            log.warning("could not record the engine's health in Redis", exc_info=True)


def is_bad_command(exc: Exception) -> bool:
    """A failure the records of a batch caused, not an outage: refused, never replayed forever.

    A database that is unreachable raises a connection error instead, and a fenced engine
    FencedOut: those are retried after a rebuild.
    """
    return isinstance(
        exc,
        InvariantBroken
        | asyncpg.IntegrityConstraintViolationError
        | asyncpg.DataError
        | ArithmeticError
        | LookupError
        | ValueError,
    )


def reason(exc: Exception) -> str:
    if isinstance(exc, InvariantBroken):
        return exc.reason
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError | asyncpg.DataError):
        return f"the database refused it ({str(exc).splitlines()[0][:200]})"
    return f"it cannot be applied ({type(exc).__name__})"
