"""HTTP for public market data (no token needed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from shared.errors import NotFound
from trading_service.book_snapshots import SNAPSHOT_DEPTH
from trading_service.deps import ResourcesDep
from trading_service.engine.core.model import Side
from trading_service.market import repository
from trading_service.market.schemas import BookLevel, MarketTradeOut, OrderBookOut, QuoteOut
from trading_service.market.snapshots import read_book
from trading_service.orders.schemas import SYMBOL_PATTERN

router = APIRouter(tags=["market data"])
SymbolPath = Annotated[
    str,
    Path(max_length=10, pattern=SYMBOL_PATTERN, description="Ticker symbol", examples=["AAPL"]),
]


async def _snapshot(resources: ResourcesDep, symbol: str) -> dict[str, Any]:
    snapshot = await read_book(resources.redis, symbol.upper())
    if snapshot is None:
        raise NotFound(f"no order book for {symbol.upper()!r} (unknown symbol or no price yet)")
    return snapshot


@router.get(
    "/orderbook/{symbol}",
    summary="Order book depth",
    description="The public book: personal accounts' resting orders and the house's quote. "
    "A league's orders match only inside the league and are not shown here.",
    responses={404: {"description": "Unknown symbol or no price yet"}},
)
async def order_book(
    symbol: SymbolPath,
    resources: ResourcesDep,
    depth: Annotated[int, Query(ge=1, le=SNAPSHOT_DEPTH, description="Levels per side")] = 10,
) -> OrderBookOut:
    snap = await _snapshot(resources, symbol)
    return OrderBookOut(
        symbol=snap["symbol"],
        bids=[BookLevel.model_validate(level) for level in snap["bids"][:depth]],
        asks=[BookLevel.model_validate(level) for level in snap["asks"][:depth]],
        ts=snap["ts"],
    )


@router.get(
    "/quotes/{symbol}",
    summary="Best bid and ask",
    responses={404: {"description": "Unknown symbol or no price yet"}},
)
async def quote(symbol: SymbolPath, resources: ResourcesDep) -> QuoteOut:
    snap = await _snapshot(resources, symbol)
    return QuoteOut(symbol=snap["symbol"], ts=snap["ts"], **snap["quote"])


@router.get("/market-trades/{symbol}", summary="The public tape, newest first")
async def market_trades(
    symbol: SymbolPath,
    resources: ResourcesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[MarketTradeOut]:
    async with resources.db.connect() as conn:
        rows = await repository.recent_trades(conn, symbol.upper(), limit)
    return [
        MarketTradeOut(
            id=r.id, price=r.price, qty=r.qty, aggressor_side=Side(r.aggressor_side), ts=r.ts
        )
        for r in rows
    ]
