"""Candle responses."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.money import Money


class CandleOut(BaseModel):
    """One bar: OHLC of the reference price, volume = shares traded on the exchange."""

    start: datetime = Field(description="Start of the bar (inclusive), market time in UTC")
    end: datetime = Field(description="End of the bar (exclusive), market time in UTC")
    open: Money
    high: Money
    low: Money
    close: Money
    volume: int
