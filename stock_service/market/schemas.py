"""What the stock service's HTTP API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from shared.money import Money
from stock_service.market.service import Quote, iso_millis

UtcMillis = Annotated[datetime, PlainSerializer(iso_millis, return_type=str, when_used="json")]


class StockQuote(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": "AAPL",
                    "name": "Apple Inc.",
                    "price": "191.37",
                    "ts": "2026-01-02T14:30:00.125Z",
                    "seq": 1042,
                    "market_ts": "2026-01-02T15:42:10.500Z",
                    "open_price": "190.00",
                    "change": "1.37",
                    "change_pct": "0.72",
                }
            ]
        }
    )

    symbol: str = Field(description="Ticker symbol, upper case.")
    name: str = Field(description="Company name.")
    price: Money = Field(description="Latest reference price, 2 decimal places.")
    ts: UtcMillis = Field(description="When the price was set (UTC, milliseconds).")
    seq: int = Field(description="Steps of this symbol's walk; strictly increasing, never reused.")
    market_ts: UtcMillis = Field(
        description="The market clock's time of the price (UTC, milliseconds; see GET /clock)."
    )
    open_price: Money = Field(description="The symbol's starting price, where its walk began.")
    change: Money = Field(description="price - open_price.")
    change_pct: Money = Field(description="change as a percentage of open_price, 2 places.")

    @classmethod
    def of(cls, quote: Quote) -> StockQuote:
        return cls(
            symbol=quote.symbol,
            name=quote.listing.name,
            price=quote.price,
            ts=quote.ts,
            seq=quote.seq,
            market_ts=quote.market_ts,
            open_price=quote.listing.start_price,
            change=quote.change,
            change_pct=quote.change_pct,
        )


class FeedStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "symbols": 20,
                    "ticks": 5312,
                    "published_ticks": 5310,
                    "skipped_ticks": 0,
                    "last_publish_ok": True,
                    "last_published_at": "2026-01-02T14:30:00.125Z",
                    "failing_for_s": 0.0,
                    "last_error": None,
                }
            ]
        }
    )

    status: str = Field(
        description='"ok"; "degraded" while publishing fails within the grace; "unavailable".'
    )
    symbols: int
    ticks: int = Field(description="Ticks since start.")
    published_ticks: int = Field(description="Ticks whose prices reached Kafka.")
    skipped_ticks: int = Field(
        description="Ticks never sent: a newer tick replaced them while Kafka was busy."
    )
    last_publish_ok: bool | None = Field(
        description="Did the last publish succeed (null: none yet)."
    )
    last_published_at: UtcMillis | None
    failing_for_s: float = Field(description="Seconds publishing has been failing.")
    last_error: str | None
