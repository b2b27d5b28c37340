"""HTTP for the latest reference prices (public)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from shared.errors import NotFound
from shared.money import Money
from trading_service.deps import ResourcesDep
from trading_service.messages import PriceTick

router = APIRouter(tags=["prices"])


class PriceOut(BaseModel):
    symbol: str
    price: Money
    ts: datetime = Field(description="When the stock service published it, wall time")
    seq: int
    market_ts: datetime | None = Field(
        default=None,
        description="The same instant on the market clock (GET /clock), the candles' time axis; "
        "null for a tick from a producer that does not send it",
    )


def _out(tick: PriceTick) -> PriceOut:
    return PriceOut(
        symbol=tick.symbol,
        price=tick.price,
        ts=datetime.fromisoformat(tick.ts),
        seq=tick.seq,
        market_ts=None if tick.market_ts is None else datetime.fromisoformat(tick.market_ts),
    )


@router.get("/prices", summary="Latest price of every symbol")
async def list_prices(resources: ResourcesDep) -> list[PriceOut]:
    return [_out(t) for t in await resources.prices.all()]


@router.get(
    "/prices/{symbol}",
    summary="Latest price of one symbol",
    responses={404: {"description": "Unknown symbol or no price yet"}},
)
async def get_price(
    symbol: Annotated[str, Path(max_length=10)], resources: ResourcesDep
) -> PriceOut:
    # The process's memory first: bots poll this; order entry prices at Redis's (the same tick
    # but for the moment between a store and its reply).
    tick = await resources.prices.current(symbol.upper(), resources.settings.max_price_age_s)
    if tick is None:
        raise NotFound(f"no price for {symbol.upper()!r}")
    return _out(tick)
