"""HTTP for the market watch (no token needed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from trading_service.candles.aggregator import CandleAggregator
from trading_service.deps import ResourcesDep
from trading_service.marketwatch import service
from trading_service.marketwatch.schemas import WatchRowOut

router = APIRouter(tags=["market data"])


@router.get(
    "/market-watch",
    summary="Every symbol: price, change since the open, sparkline",
    description="The latest reference price of every symbol, its change since today's open (the "
    "first tick of the market clock's current trading day, see `GET /clock`), and the closes "
    "of its last 1-minute candles. Live updates: the WebSocket's `prices` channel.",
)
async def get_market_watch(
    request: Request,
    resources: ResourcesDep,
    points: Annotated[int, Query(ge=1, le=240, description="Sparkline points (1m closes)")] = 30,
) -> list[WatchRowOut]:
    candles: CandleAggregator = request.app.state.candles
    return await service.market_watch(resources.prices, candles, points)
