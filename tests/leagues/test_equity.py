"""Equity snapshots: one row per member per interval, however many replicas take them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.leagues.conftest import acting, join
from tests.trading_fixtures import Market, Trader
from trading_service.leagues.keeper import take_snapshots


async def test_snapshots_are_taken_once_per_interval_and_served_as_series(
    api: httpx.AsyncClient,
    trading_app: FastAPI,
    market: Market,
    new_trader: Callable[[], Trader],
    league_factory: Callable[..., Any],
    db: AsyncEngine,
) -> None:
    await market.set("SNAP", "10.00")
    league = await league_factory(starting_cash="1000.00")
    one, two = new_trader(), new_trader()
    account = await join(api, one, league["invite_code"])
    await join(api, two, league["invite_code"])
    bought = await api.post(
        "/orders?wait=true",
        json={"symbol": "SNAP", "qty": 10, "side": "buy", "type": "market"},
        headers=acting(one, account["id"]),
    )
    assert bought.json()["status"] == "filled"
    prices = trading_app.state.resources.prices
    # Two replicas in the same hour-long interval write the same rows: the second adds none.
    first = await take_snapshots(db, prices, every_s=3600)
    second = await take_snapshots(db, prices, every_s=3600)
    assert first == second
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT count(*) FROM league_equity WHERE league_id = :id AND ts = :ts"),
                {"id": league["id"], "ts": first},
            )
        ).scalar_one()
    assert rows == 2
    series = (await api.get(f"/leagues/{league['id']}/equity", headers=one.headers)).json()
    by_account = {s["account_id"]: s["points"] for s in series}
    assert len(by_account) == 2
    mine = [p for p in by_account[account["id"]] if p["ts"].startswith(first.isoformat()[:19])]
    board = (await api.get(f"/leagues/{league['id']}/leaderboard", headers=one.headers)).json()
    equity = {row["account_id"]: row["equity"] for row in board}
    assert [p["equity"] for p in mine] == [equity[account["id"]]]
