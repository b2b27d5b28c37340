"""Resetting an account: open orders canceled through the engine, shares to the house, cash to
the start, history kept; the audit balances afterwards."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.leagues.conftest import acting, join
from tests.trading_fixtures import Market, Trader, audit_violations, settle


async def _trade_then_rest(
    api: httpx.AsyncClient, headers: dict[str, str], symbol: str
) -> dict[str, Any]:
    bought = await api.post(
        "/orders?wait=true",
        json={"symbol": symbol, "qty": 30, "side": "buy", "type": "market"},
        headers=headers,
    )
    assert bought.json()["status"] == "filled", bought.text
    for body in (
        {"symbol": symbol, "qty": 10, "side": "sell", "type": "limit", "limit_price": "99.00"},
        {"symbol": symbol, "qty": 5, "side": "buy", "type": "limit", "limit_price": "1.00"},
    ):
        rested = await api.post(
            "/orders?wait=true", json={**body, "time_in_force": "gtc"}, headers=headers
        )
        assert rested.json()["status"] == "new", rested.text
    portfolio: dict[str, Any] = (await api.get("/portfolio", headers=headers)).json()
    assert portfolio["reserved_cash"] == "5.00"
    return portfolio


def _holdings(portfolio: dict[str, Any]) -> dict[str, Any]:
    """What a reset changes; valuations move with the market and the session's open."""
    return {
        "cash": portfolio["cash"],
        "reserved_cash": portfolio["reserved_cash"],
        "realized_pnl": portfolio["realized_pnl"],
        "positions": [(p["symbol"], p["qty"], p["avg_cost"]) for p in portfolio["positions"]],
    }


async def test_resetting_the_personal_account(
    api: httpx.AsyncClient, market: Market, trader: Trader, db: AsyncEngine
) -> None:
    await market.set("RSET", "20.00")
    await _trade_then_rest(api, trader.headers, "RSET")
    reset = await api.post(f"/accounts/{trader.id}/reset", headers=trader.headers)
    assert reset.status_code == 200, reset.text
    assert reset.json()["cash"] == "100000.00" and reset.json()["reset_count"] == 1
    portfolio = (await api.get("/portfolio", headers=trader.headers)).json()
    assert portfolio["cash"] == "100000.00" and portfolio["reserved_cash"] == "0.00"
    assert portfolio["positions"] == [] and portfolio["realized_pnl"] == "0.00"
    # History is kept, listed only when asked.
    assert (await api.get("/orders", headers=trader.headers)).json() == []
    assert (await api.get("/trades", headers=trader.headers)).json() == []
    history = (await api.get("/orders?before_reset=true", headers=trader.headers)).json()
    assert sorted(o["status"] for o in history) == ["canceled", "canceled", "filled"]
    assert len((await api.get("/trades?before_reset=true", headers=trader.headers)).json()) == 1
    # The account trades again from the start.
    again = await api.post(
        "/orders?wait=true",
        json={"symbol": "RSET", "qty": 1, "side": "buy", "type": "market"},
        headers=trader.headers,
    )
    assert again.json()["status"] == "filled"
    assert [o["id"] for o in (await api.get("/orders", headers=trader.headers)).json()] == [
        again.json()["id"]
    ]
    await settle(db)
    assert await audit_violations(db) == {}


async def test_a_league_account_resets_only_if_the_league_allows_it(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    league_factory: Callable[..., Any],
    db: AsyncEngine,
) -> None:
    await market.set("RSLG", "20.00")
    strict = await league_factory(starting_cash="3000.00")
    lenient = await league_factory(starting_cash="4000.00", allow_reset=True)
    trader = new_trader()
    refused_account = await join(api, trader, strict["invite_code"])
    allowed_account = await join(api, trader, lenient["invite_code"])
    before = await _trade_then_rest(api, acting(trader, refused_account["id"]), "RSLG")
    await _trade_then_rest(api, acting(trader, allowed_account["id"]), "RSLG")

    refused = await api.post(f"/accounts/{refused_account['id']}/reset", headers=trader.headers)
    assert refused.status_code == 409 and refused.json()["error"] == "reset_not_allowed"
    unchanged = (await api.get("/portfolio", headers=acting(trader, refused_account["id"]))).json()
    assert _holdings(unchanged) == _holdings(before)
    open_orders = await api.get(
        "/orders?status=open", headers=acting(trader, refused_account["id"])
    )
    assert len(open_orders.json()) == 2, open_orders.text

    done = await api.post(f"/accounts/{allowed_account['id']}/reset", headers=trader.headers)
    assert done.status_code == 200, done.text
    assert done.json()["cash"] == "4000.00" and done.json()["league_id"] == lenient["id"]
    after = (await api.get("/portfolio", headers=acting(trader, allowed_account["id"]))).json()
    assert after["positions"] == [] and Decimal(after["equity"]) == Decimal("4000.00")
    board = (await api.get(f"/leagues/{lenient['id']}/leaderboard", headers=trader.headers)).json()
    assert board == [
        {
            "rank": 1,
            "username": board[0]["username"],
            "account_id": allowed_account["id"],
            "equity": "4000.00",
            "return_pct": "0.00",
            "trades": 0,
        }
    ]
    await settle(db)
    assert await audit_violations(db) == {}
