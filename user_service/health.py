"""Liveness that includes the database: a user service without it can do nothing."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shared.errors import ServiceUnavailable
from user_service.deps import ResourcesDep

router = APIRouter(tags=["health"])

DB_CHECK_TIMEOUT_S = 2


@router.get(
    "/health",
    summary="Service health",
    description='`{"status": "ok"}` when the database answers, else 503.',
    responses={503: {"description": "The database is unreachable"}},
)
async def health(resources: ResourcesDep) -> dict[str, str]:
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT_S), resources.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, SQLAlchemyError, TimeoutError):
        raise ServiceUnavailable("database unavailable") from None
    return {"status": "ok"}
