"""Candle responses."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from shared.money import Money

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _iso_8601_only(value: Any) -> Any:
    """Pydantic also reads "0.0" or "1700000000" as Unix time; the documented form is ISO 8601."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-11-02T15:30:00Z")
    return value


def _as_utc(moment: datetime) -> datetime:
    """A naive time is UTC; an aware one must still be a date in UTC (years 1 to 9999)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+14:00 is in year 0 in UTC, 9999-12-31T23:59-14:00 in year 10000.
        raise ValueError("must fall between 0001-01-01 and 9999-12-31 in UTC") from None


# A query-string time: compared with UTC timestamps in PostgreSQL and in memory.
UtcDatetime = Annotated[datetime, BeforeValidator(_iso_8601_only), AfterValidator(_as_utc)]


class CandleOut(BaseModel):
    """One bar: OHLC of the reference price, volume = shares traded on the exchange."""

    start: datetime = Field(description="Start of the bar (inclusive), market time in UTC")
    end: datetime = Field(description="End of the bar (exclusive), market time in UTC")
    open: Money
    high: Money
    low: Money
    close: Money
    volume: int
