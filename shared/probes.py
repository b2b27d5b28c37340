"""Liveness and readiness: `/livez` (the process answers) and `/readyz` (what it needs answers).

Orchestrators restart a process whose liveness fails and stop routing to one whose readiness
fails, so readiness names every dependency that is down and liveness never looks at any: a
database outage must not restart every service at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka.client import AIOKafkaClient
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

# Each check gets this long; a hung dependency is as down as a refused one.
CHECK_TIMEOUT_S = 2.0

Check = Callable[[], Awaitable[object]]


def postgres_check(db: AsyncEngine) -> Check:
    async def check() -> None:
        async with db.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def redis_check(redis: Redis) -> Check:
    async def check() -> None:
        await redis.ping()

    return check


class KafkaCheck:
    """Asks a broker for cluster metadata over a client of its own (never a producer's or a
    consumer's, whose connections a probe must not disturb)."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._client: AIOKafkaClient | None = None

    async def __call__(self) -> None:
        if self._client is None:
            client = AIOKafkaClient(
                bootstrap_servers=self.bootstrap_servers, request_timeout_ms=2000
            )
            try:
                await client.bootstrap()
            except BaseException:
                await client.close()
                raise
            self._client = client
        try:
            await self._client.fetch_all_metadata()
        except BaseException:
            # Start over next time: a broker that came back may have another identity.
            await self.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()


async def readiness(checks: Mapping[str, Check]) -> tuple[int, dict[str, Any]]:
    """(200, {"status": "ready", ...}) or (503, {"error": "not_ready", "down": [...], ...})."""
    names = list(checks)
    results = await asyncio.gather(*(_run(checks[n]) for n in names))
    status = {name: error or "ok" for name, error in zip(names, results, strict=True)}
    down = [name for name, error in zip(names, results, strict=True) if error is not None]
    if not down:
        return 200, {"status": "ready", "checks": status}
    return 503, {
        "error": "not_ready",
        "detail": f"unavailable: {', '.join(down)}",
        "down": down,
        "checks": status,
    }


async def _run(check: Check) -> str | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await check()
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


def probe_router(checks: Callable[[], Mapping[str, Check]]) -> APIRouter:
    """`/livez` and `/readyz`; `checks` is called per request (the clients exist after startup)."""
    router = APIRouter(tags=["health"])

    @router.get(
        "/livez",
        summary="Liveness: the process answers",
        description='Always `{"status": "alive"}`; looks at no dependency.',
    )
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @router.get(
        "/readyz",
        summary="Readiness: every dependency of this process answers",
        description='200 `{"status": "ready", "checks": {...}}`, or 503 `{"error": "not_ready", '
        '"detail": ..., "down": ["kafka", ...], "checks": {...}}` naming what is down.',
        responses={503: {"description": "A dependency is down; `down` names it"}},
    )
    async def readyz() -> JSONResponse:
        status, body = await readiness(checks())
        if status != 200:
            log.warning("not ready", extra={"down": body["down"]})
        return JSONResponse(body, status_code=status)

    return router
