"""On real servers: a fresh system has a past, the live walk continues from it, and the clock
and calendar are served by the trading and stock services alike."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.stack import Stack
from shared.market_clock import MARKET_TZ
from stock_service.market.random_walk import GeometricBrownianMotion
from tests.stock_service.conftest import make_settings, running, wait_until

ISO_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")


async def candles(api: httpx.AsyncClient, symbol: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.get(f"/candles/{symbol}", params=params)
    assert response.status_code == 200, response.text
    bars: list[dict[str, Any]] = response.json()
    return bars


async def test_a_fresh_system_has_a_past_that_the_live_walk_continues(
    stack: Stack, tmp_path: Path, api: httpx.AsyncClient, db: AsyncEngine
) -> None:
    symbol = "P" + "".join(chr(ord("A") + int(c, 16)) for c in uuid.uuid4().hex[:5])  # letters only
    settings = make_settings(tmp_path, [symbol], tick_interval=0.2)  # default history
    async with running(settings) as (app, _):
        clock = app.state.clock

        async def history_written() -> bool:
            return bool(app.state.history.done())

        await wait_until(history_written, within=120, what="the history to be written")

        async def live_ticks() -> bool:
            response = await api.get(f"/prices/{symbol}")
            return response.status_code == 200 and response.json()["seq"] >= 5

        await wait_until(live_ticks, within=60, what="live ticks at the trading API")
        days = await candles(api, symbol, interval="1d", limit=1000)
        first_live_day = clock.current_session(clock.epoch).open

        async def live_minute_stored() -> bool:
            async with db.connect() as conn:
                return bool(
                    await conn.scalar(
                        text(
                            "SELECT count(*) FROM candles WHERE symbol = :s "
                            "AND interval = '1m' AND open_seq > 0"
                        ),
                        {"s": symbol},
                    )
                )

        await wait_until(live_minute_stored, within=30, what="a live 1m bar in PostgreSQL")

    # At least a year of trading days before the first one, each a whole session.
    past = [d for d in days if datetime.fromisoformat(d["start"]) < first_live_day]
    assert len(past) >= 250
    for bar in past:
        start = datetime.fromisoformat(bar["start"]).astimezone(MARKET_TZ)
        assert start.weekday() < 5 and (start.hour, start.minute) == (9, 30)
        assert datetime.fromisoformat(bar["end"]) - start == timedelta(hours=6, minutes=30)
        assert Decimal(bar["low"]) <= Decimal(bar["close"]) <= Decimal(bar["high"])
        assert bar["volume"] > 0
    assert len({d["start"] for d in past}) == len(past)
    assert past[-1]["close"] == "100.00"  # the listing's price: where the walk starts
    assert datetime.fromisoformat(days[-1]["start"]) >= first_live_day  # today's live bar

    # Several days of minute bars, paged back with `end`.
    minutes: list[dict[str, Any]] = []
    end: str | None = None
    while len(minutes) < 5 * 390 + 100:
        page = await candles(
            api, symbol, interval="1m", limit=1000, **({"end": end} if end else {})
        )
        assert page, "ran out of minute bars"
        minutes = page + minutes
        end = page[0]["start"]
    past_minutes = [m for m in minutes if datetime.fromisoformat(m["start"]) < first_live_day]
    per_day = {
        datetime.fromisoformat(m["start"]).astimezone(MARKET_TZ).date() for m in past_minutes
    }
    assert len(per_day) >= 5
    assert past_minutes[-1]["close"] == "100.00"
    for interval in ("5m", "15m", "1h"):
        assert len(await candles(api, symbol, interval=interval, limit=20)) == 20

    # The live walk goes on from the last historic close: its first bar opens on the walk's path
    # from that price (seq 1 normally; more if the first tick came after a stall).
    async with db.connect() as conn:
        first_live = (
            await conn.execute(
                text(
                    "SELECT open, open_seq FROM candles WHERE symbol = :s AND interval = '1m' "
                    "AND open_seq > 0 ORDER BY start_ts LIMIT 1"
                ),
                {"s": symbol},
            )
        ).one()
    walk = GeometricBrownianMotion(42, symbol, 0.07, 0.30, settings.dt)
    assert first_live.open == walk.advance(walk.start(Decimal("100.00")), first_live.open_seq).price


CLOCK_KEYS = {
    "timestamp",
    "is_open",
    "next_open",
    "next_close",
    "trading_day",
    "time_scale",
    "wall_time",
}


def check_clock(body: dict[str, Any]) -> datetime:
    assert set(body) == CLOCK_KEYS
    for key in ("timestamp", "next_open", "next_close"):
        assert ISO_OFFSET.match(body[key]) and body[key].endswith("-05:00"), body
    now = datetime.fromisoformat(body["timestamp"])
    today = date.fromisoformat(body["trading_day"])
    assert now.date() == today
    assert body["is_open"] is True
    assert body["next_close"] == f"{today}T16:00:00.000-05:00"
    next_open = datetime.fromisoformat(body["next_open"])
    assert next_open.time().isoformat() == "09:30:00" and next_open.date() > today
    assert next_open.weekday() < 5 and (next_open.date() - today).days in (1, 3)
    assert body["time_scale"] == 6.5
    wall = datetime.fromisoformat(body["wall_time"])
    assert abs((wall - datetime.now(UTC)).total_seconds()) < 30
    return now


async def test_clock_and_calendar_on_both_services(
    stack: Stack, tmp_path: Path, api: httpx.AsyncClient
) -> None:
    settings = make_settings(tmp_path, [f"C{uuid.uuid4().hex[:5].upper()}"], history_days=0)
    async with running(settings) as (_, stock):
        trading_clock = (await api.get("/clock")).json()
        stock_clock = (await stock.get("/clock")).json()
    # One clock: both services read the same epoch, so their market times agree.
    gap = check_clock(stock_clock) - check_clock(trading_clock)
    assert abs(gap.total_seconds()) < 30 * 6.5

    today = trading_clock["trading_day"]
    default = (await api.get("/calendar")).json()
    assert default[0] == {"date": today, "open": "09:30", "close": "16:00"}
    assert 20 <= len(default) <= 23
    week = (await api.get("/calendar", params={"start": "2026-12-04", "end": "2026-12-08"})).json()
    assert week == [
        {"date": "2026-12-04", "open": "09:30", "close": "16:00"},
        {"date": "2026-12-07", "open": "09:30", "close": "16:00"},
        {"date": "2026-12-08", "open": "09:30", "close": "16:00"},
    ]
    for params in (
        {"start": "2026-12-08", "end": "2026-12-04"},
        {"start": "2000-01-01", "end": "2030-01-01"},
        {"start": "2026-13-01"},
        {"end": "yesterday"},
        {"start": "9999-12-31\x00"},
    ):
        response = await api.get("/calendar", params=params)
        assert response.status_code == 422, params
        assert set(response.json()) == {"error", "detail"}
    assert (await api.get("/calendar", params={"start": "9999-12-30"})).status_code == 200
