"""HTTP: the listed stocks with their latest reference prices, and the feed's health."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Request

from shared.errors import ServiceUnavailable
from stock_service.market.feed import PriceFeed
from stock_service.market.schemas import FeedStatus, StockQuote
from stock_service.market.service import Market


def get_feed(request: Request) -> PriceFeed:
    return cast(PriceFeed, request.app.state.feed)


def get_market(request: Request) -> Market:
    return get_feed(request).market


FeedDep = Annotated[PriceFeed, Depends(get_feed)]
MarketDep = Annotated[Market, Depends(get_market)]

router = APIRouter()
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "The symbol is not listed.",
        "content": {
            "application/json": {
                "example": {"error": "not_found", "detail": "no listed symbol 'ZZZZ'"}
            }
        },
    }
}


@router.get(
    "/stocks",
    summary="List stocks",
    description="Every listed symbol with its latest reference price, in listing order.",
    tags=["stocks"],
)
async def list_stocks(market: MarketDep) -> list[StockQuote]:
    return [StockQuote.of(quote) for quote in market.quotes()]


@router.get(
    "/stocks/{symbol}",
    summary="Get one stock",
    description="The latest reference price of one symbol; the symbol is case-insensitive.",
    tags=["stocks"],
    responses=_NOT_FOUND,
)
async def get_stock(
    market: MarketDep,
    symbol: Annotated[str, Path(description="Ticker symbol.", examples=["AAPL"])],
) -> StockQuote:
    return StockQuote.of(market.quote(symbol))


@router.get(
    "/health",
    summary="Feed health",
    description=(
        "Whether prices are reaching Kafka. 503 when publishing has failed for longer than "
        "`STOCK_HEALTH_GRACE` seconds (including a broker never reached since start)."
    ),
    tags=["health"],
    responses={503: {"description": "Kafka has been unreachable for a while."}},
)
async def health(feed: FeedDep) -> FeedStatus:
    state = feed.health
    failing_for = state.failing_for(asyncio.get_running_loop().time())
    unavailable = failing_for > state.grace
    status = FeedStatus(
        status="unavailable"
        if unavailable
        else "ok"
        if state.failing_since is None
        else "degraded",
        symbols=len(feed.market.quotes()),
        ticks=state.ticks,
        published_ticks=state.published_ticks,
        skipped_ticks=state.skipped_ticks,
        last_publish_ok=state.last_publish_ok,
        last_published_at=state.last_published_at,
        failing_for_s=round(failing_for, 3),
        last_error=state.last_error,
    )
    if unavailable:
        raise ServiceUnavailable(status.model_dump(mode="json"))
    return status
