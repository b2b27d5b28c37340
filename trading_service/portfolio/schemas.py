from __future__ import annotations

from pydantic import BaseModel, Field

from shared.money import Money


class PositionOut(BaseModel):
    symbol: str
    qty: int
    avg_cost: Money
    cost_basis: Money = Field(description="What the shares held cost: qty x avg_cost")
    last_price: Money | None = Field(description="Latest reference price; null before the first")
    market_value: Money | None
    unrealized_pnl: Money | None
    unrealized_pnl_pct: Money | None = Field(
        default=None, description="unrealized_pnl / cost_basis x 100"
    )
    day_open: Money | None = Field(
        default=None,
        description="The current market session's opening price (its daily bar's open), as the "
        "market watch; null before the session's first tick",
    )
    change_today: Money | None = Field(
        default=None,
        description="P&L since the open: value now - value of the shares held at the open - cash "
        "paid for today's buys + cash received for today's sells",
    )
    price_change_today_pct: Money | None = Field(
        default=None, description="The price's change since the open, in % (last / day_open - 1)"
    )


class PortfolioOut(BaseModel):
    """Your account. equity = cash + market value of positions; buying_power = cash - reserved."""

    cash: Money
    reserved_cash: Money
    buying_power: Money
    equity: Money
    realized_pnl: Money
    unrealized_pnl: Money
    change_today: Money = Field(
        description="P&L since the open over every symbol held or traded today"
    )
    change_today_pct: Money | None = Field(
        default=None, description="change_today against the equity at the open, in %"
    )
    positions: list[PositionOut]


class PortfolioHistoryOut(BaseModel):
    """Equity over time in Alpaca's portfolio-history shape; amounts are exact decimal strings."""

    timestamp: list[int] = Field(
        description="Start of each bar in market time, Unix seconds (as GET /candles' `start`)"
    )
    equity: list[Money] = Field(description="Cash + holdings at the bar's close")
    profit_loss: list[Money] = Field(description="equity - base_value")
    profit_loss_pct: list[str] = Field(
        description="profit_loss / base_value as a fraction (0.0125 = +1.25%), 6 decimals"
    )
    base_value: Money = Field(description="Equity at the start of the first bar")
    timeframe: str
