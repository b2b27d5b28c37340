"""`GET /clock` and `GET /calendar`: the market clock over HTTP, on every service that has one.

The shapes follow Alpaca's clock and calendar (so the `/v2` layer can map onto them) plus a few
extras; the web page and bots code against them. The app keeps its `MarketClock` in
`app.state.clock` (loaded in the lifespan, see shared/market_epoch.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, cast

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import UnprocessableEntity
from shared.market_clock import MarketClock, calendar
from shared.query_dates import IsoDate

MAX_CALENDAR_DAYS = 3660
DEFAULT_CALENDAR_DAYS = 30

router = APIRouter(tags=["market time"])


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds")


class ClockOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "timestamp": "2026-12-01T11:02:13.500-05:00",
                    "is_open": True,
                    "next_open": "2026-12-02T09:30:00.000-05:00",
                    "next_close": "2026-12-01T16:00:00.000-05:00",
                    "trading_day": "2026-12-01",
                    "time_scale": 6.5,
                    "wall_time": "2026-12-02T04:29:33.000+00:00",
                }
            ]
        }
    )

    timestamp: str = Field(description="Market time now, ISO 8601 in the market zone (-05:00).")
    is_open: bool = Field(
        description="Always true: market time only runs through sessions (see the README)."
    )
    next_open: str = Field(description="Market time the next trading day opens.")
    next_close: str = Field(description="Market time the current session closes.")
    trading_day: str = Field(description="The current trading day, YYYY-MM-DD.")
    time_scale: float = Field(description="Market seconds that pass per wall second.")
    wall_time: str = Field(description="Wall-clock time now, ISO 8601 UTC.")


class CalendarDayOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"date": "2026-12-01", "open": "09:30", "close": "16:00"}]}
    )

    date: str = Field(description="The trading day, YYYY-MM-DD.")
    open: str = Field(description="Session open, HH:MM market time.")
    close: str = Field(description="Session close, HH:MM market time.")


def _clock(request: Request) -> MarketClock:
    return cast(MarketClock, request.app.state.clock)


@router.get(
    "/clock",
    summary="The market clock",
    description=(
        "Market time now, the current trading day and its session. Market time runs "
        "`time_scale` times faster than the wall clock and only through sessions (09:30-16:00 "
        "at UTC-05:00, weekdays): when a session closes the next one opens at once, so the "
        "market is always open. `next_close` is when DAY orders expire and today's daily bar "
        "ends; to turn a market-time span into wall seconds, divide it by `time_scale`."
    ),
)
async def get_clock(request: Request) -> ClockOut:
    now = datetime.now(UTC)
    state = _clock(request).state(now)
    return ClockOut(
        timestamp=_iso(state.timestamp),
        is_open=state.is_open,
        next_open=_iso(state.next_open),
        next_close=_iso(state.next_close),
        trading_day=state.trading_day.isoformat(),
        time_scale=state.time_scale,
        wall_time=_iso(state.wall_time),
    )


@router.get(
    "/calendar",
    summary="Trading days and their sessions",
    description=(
        "Every trading day from `start` to `end` (both included; every weekday, no holidays) "
        f"with its session in market time. Defaults: from the current trading day, "
        f"{DEFAULT_CALENDAR_DAYS} days on. At most {MAX_CALENDAR_DAYS} days per request; "
        "days before the market's first day are its generated history."
    ),
    responses={422: {"description": "A bad date, `end` before `start`, or a range too long."}},
)
async def get_calendar(
    request: Request,
    start: Annotated[
        IsoDate | None, Query(description="First day, YYYY-MM-DD.", examples=["2026-12-01"])
    ] = None,
    end: Annotated[
        IsoDate | None, Query(description="Last day, YYYY-MM-DD.", examples=["2026-12-31"])
    ] = None,
) -> list[CalendarDayOut]:
    if start is None:
        start = _clock(request).state(datetime.now(UTC)).trading_day
    if end is None:
        end = start + timedelta(days=min(DEFAULT_CALENDAR_DAYS, (date.max - start).days))
    if end < start:
        raise UnprocessableEntity("end is before start")
    if (end - start).days >= MAX_CALENDAR_DAYS:
        raise UnprocessableEntity(f"at most {MAX_CALENDAR_DAYS} days per request")
    return [
        CalendarDayOut(
            date=s.day.isoformat(), open=s.open.strftime("%H:%M"), close=s.close.strftime("%H:%M")
        )
        for s in calendar(start, end)
    ]
