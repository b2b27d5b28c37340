"""Choosing the account per request: X-Account-Id, defaulting to the personal account."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.leagues.conftest import acting, join
from tests.trading_fixtures import Market, Trader, audit_violations, settle


async def test_personal_and_league_accounts_are_separate_and_chosen_by_header(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    league_factory: Callable[..., Any],
    db: AsyncEngine,
) -> None:
    await market.set("ACCT", "50.00")
    trader = new_trader()
    league = await league_factory(starting_cash="2500.00")
    account = await join(api, trader, league["invite_code"])
    assert account["league_id"] == league["id"]
    assert account["cash"] == "2500.00" and account["id"] != str(trader.id)

    listed = (await api.get("/accounts", headers=trader.headers)).json()
    assert [a["id"] for a in listed] == [str(trader.id), account["id"]]
    assert listed[0]["league_id"] is None and listed[0]["cash"] == "100000.00"

    bought = await api.post(
        "/orders?wait=true",
        json={"symbol": "ACCT", "qty": 10, "side": "buy", "type": "market"},
        headers=acting(trader, account["id"]),
    )
    assert bought.status_code == 201 and bought.json()["status"] == "filled", bought.text

    league_side = (await api.get("/portfolio", headers=acting(trader, account["id"]))).json()
    personal = (await api.get("/portfolio", headers=trader.headers)).json()
    assert [p["symbol"] for p in league_side["positions"]] == ["ACCT"]
    assert Decimal(league_side["cash"]) < Decimal("2500.00")
    assert personal["positions"] == [] and personal["cash"] == "100000.00"
    orders = (await api.get("/orders", headers=acting(trader, account["id"]))).json()
    assert [o["id"] for o in orders] == [bought.json()["id"]]
    assert (await api.get("/orders", headers=trader.headers)).json() == []
    fills = (await api.get("/trades", headers=acting(trader, account["id"]))).json()
    assert len(fills) == 1 and (await api.get("/trades", headers=trader.headers)).json() == []
    # The global leaderboard ranks personal accounts only.
    names = {row["name"] for row in (await api.get("/leaderboard?limit=1000")).json()}
    assert f"trader-{account['id'][:8]}" not in names and f"trader-{trader.id.hex[:8]}" in names
    await settle(db)
    assert await audit_violations(db) == {}


async def test_someone_elses_or_an_unknown_account_is_404(
    api: httpx.AsyncClient,
    new_trader: Callable[[], Trader],
    league_factory: Callable[..., Any],
) -> None:
    owner, intruder = new_trader(), new_trader()
    league = await league_factory()
    account = await join(api, owner, league["invite_code"])
    await api.get("/portfolio", headers=intruder.headers)  # the intruder's personal account
    for foreign in (account["id"], str(owner.id), str(uuid.uuid4()), str(uuid.UUID(int=0)), "x"):
        headers = acting(intruder, foreign)
        for response in (
            await api.get("/portfolio", headers=headers),
            await api.get("/orders", headers=headers),
            await api.post(
                "/orders",
                json={"symbol": "ACCT", "qty": 1, "side": "buy", "type": "market"},
                headers=headers,
            ),
            await api.post(f"/accounts/{account['id']}/reset", headers=intruder.headers),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["error"] == "not_found"
    assert [a["id"] for a in (await api.get("/accounts", headers=intruder.headers)).json()] == [
        str(intruder.id)
    ]
