from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.money import Money
from trading_service.engine.core.model import Side


class BookLevel(BaseModel):
    price: Money
    qty: int | None = Field(description="Shares at this price; null: the house's unlimited size")
    orders: int = Field(description="Resting user orders at this price (0 for the house)")
    house: bool = Field(description="True for the simulated market's own quote")


class OrderBookOut(BaseModel):
    """Aggregated depth, best price first on each side."""

    symbol: str
    bids: list[BookLevel]
    asks: list[BookLevel]
    ts: datetime


class QuoteOut(BaseModel):
    """Best bid and ask over user orders and the house; a null size means unlimited."""

    symbol: str
    bid: Money | None
    bid_size: int | None
    ask: Money | None
    ask_size: int | None
    ts: datetime


class MarketTradeOut(BaseModel):
    """One print on the public tape (no user ids)."""

    id: int
    price: Money
    qty: int
    aggressor_side: Side
    ts: datetime
