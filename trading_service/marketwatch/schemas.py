from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.money import Money


class WatchRowOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": "AAPL",
                    "price": "190.09",
                    "ts": "2026-11-25T17:46:39.120000Z",
                    "market_ts": "2026-12-01T11:02:13.500Z",
                    "open": "189.50",
                    "change": "0.59",
                    "change_pct": "0.31",
                    "sparkline": ["189.50", "189.80", "190.09"],
                }
            ]
        }
    )

    symbol: str
    price: Money
    ts: str = Field(description="The latest tick's wall time")
    market_ts: str | None = Field(
        default=None,
        description="The latest tick's market time (null from a producer that does not send it)",
    )
    open: Money = Field(
        description="Today's open: the first tick of the current trading day's session on the "
        "market clock (GET /clock), i.e. the open of today's 1d candle"
    )
    change: Money = Field(description="price - open")
    change_pct: Money = Field(description="change as a percentage of open")
    sparkline: list[Money] = Field(description="Closes of the last 1-minute candles, oldest first")
