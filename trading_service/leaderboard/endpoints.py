"""HTTP for the leaderboard (public: a classroom puts it on the wall)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from trading_service.deps import ResourcesDep
from trading_service.leaderboard import service
from trading_service.leaderboard.schemas import LeaderOut

router = APIRouter(tags=["leaderboard"])


@router.get(
    "/leaderboard",
    summary="Users ranked by total equity",
    description="Equity = cash + positions at the latest reference prices (at cost before a "
    "symbol's first price); return since start = equity against the starting cash. Names are "
    "user names, or `trader-` and the account id's first 8 hex digits for an account without "
    "one. Ties are "
    "broken by name.",
)
async def get_leaderboard(
    resources: ResourcesDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Rows to return")] = 100,
) -> list[LeaderOut]:
    async with resources.db.connect() as conn:
        return await service.leaderboard(conn, resources.prices, limit)
