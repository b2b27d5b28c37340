from __future__ import annotations

from pydantic import BaseModel, Field

from shared.money import Money


class PositionOut(BaseModel):
    symbol: str
    qty: int
    avg_cost: Money
    last_price: Money | None = Field(description="Latest reference price; null before the first")
    market_value: Money | None
    unrealized_pnl: Money | None


class PortfolioOut(BaseModel):
    """Your account. equity = cash + market value of positions; buying_power = cash - reserved."""

    cash: Money
    reserved_cash: Money
    buying_power: Money
    equity: Money
    realized_pnl: Money
    unrealized_pnl: Money
    positions: list[PositionOut]
