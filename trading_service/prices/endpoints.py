"""HTTP for the latest reference prices (public)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from shared.errors import NotFound
from shared.money import Money
from trading_service.deps import ResourcesDep

router = APIRouter(tags=["prices"])


class PriceOut(BaseModel):
    symbol: str
    price: Money
    ts: datetime
    seq: int


@router.get("/prices", summary="Latest price of every symbol")
async def list_prices(resources: ResourcesDep) -> list[PriceOut]:
    return [
        PriceOut(symbol=t.symbol, price=t.price, ts=datetime.fromisoformat(t.ts), seq=t.seq)
        for t in await resources.prices.all()
    ]


@router.get(
    "/prices/{symbol}",
    summary="Latest price of one symbol",
    responses={404: {"description": "Unknown symbol or no price yet"}},
)
async def get_price(
    symbol: Annotated[str, Path(max_length=10)], resources: ResourcesDep
) -> PriceOut:
    tick = await resources.prices.get(symbol.upper())
    if tick is None:
        raise NotFound(f"no price for {symbol.upper()!r}")
    return PriceOut(
        symbol=tick.symbol, price=tick.price, ts=datetime.fromisoformat(tick.ts), seq=tick.seq
    )
