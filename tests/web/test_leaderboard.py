"""GET /leaderboard: equity = cash + positions at the latest prices, ranked, named."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.trading_fixtures import Market, Trader, settle

SYMBOL = "LDRA"


async def board_rows(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await api.get("/leaderboard?limit=1000")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def board(api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    # By name, for rows whose name the test made unique (trader-xxxx names of the session's many
    # accounts without a user row could repeat).
    return {row["name"]: row for row in await board_rows(api)}


async def test_ranks_by_equity_at_the_latest_price_with_user_names(
    api: httpx.AsyncClient,
    market: Market,
    db: AsyncEngine,
    new_trader: Callable[[], Trader],
) -> None:
    await market.set(SYMBOL, "50.00")
    buyer, idle = new_trader(), new_trader()
    name = f"leader_{uuid.uuid4().hex[:8]}"
    async with db.begin() as conn:  # the user service's row: the board shows its name
        await conn.execute(
            text(
                "INSERT INTO users (id, username, email, password_hash) "
                "VALUES (:id, :name, :email, 'x')"
            ),
            {"id": buyer.id, "name": name, "email": f"{name}@example.com"},
        )
    bought = await api.post(
        "/orders?wait=true",
        json={"symbol": SYMBOL, "qty": 100, "side": "buy", "type": "market"},
        headers=buyer.headers,
    )
    assert bought.json()["status"] == "filled", bought.text
    assert (await api.get("/portfolio", headers=idle.headers)).status_code == 200
    await settle(db)

    await market.set(SYMBOL, "60.00")
    listed = await board_rows(api)
    rows = {row["name"]: row for row in listed}
    portfolio = (await api.get("/portfolio", headers=buyer.headers)).json()
    mine, other = rows[name], rows[f"trader-{idle.id.hex[:8]}"]
    assert mine["equity"] == portfolio["equity"]
    cash = Decimal(portfolio["cash"])
    assert Decimal(mine["equity"]) == cash + 100 * Decimal("60.00")
    expected_pct = (Decimal(mine["equity"]) - Decimal("100000")) / Decimal("1000")
    assert mine["return_pct"] == f"{expected_pct:.2f}"
    assert mine["positions"] == 1
    assert other == {
        "rank": other["rank"],
        "name": f"trader-{idle.id.hex[:8]}",
        "equity": "100000.00",
        "return_pct": "0.00",
        "positions": 0,
    }
    # paid about 50.05 a share, now worth 60: ahead of an account that did nothing
    assert mine["rank"] < other["rank"]
    ranks = [row["rank"] for row in listed]
    assert ranks == list(range(1, len(ranks) + 1))
    equities = [Decimal(row["equity"]) for row in sorted(rows.values(), key=lambda r: r["rank"])]
    assert equities == sorted(equities, reverse=True)


async def test_limit_and_validation(api: httpx.AsyncClient, trader: Trader) -> None:
    assert (await api.get("/portfolio", headers=trader.headers)).status_code == 200
    one = await api.get("/leaderboard?limit=1")
    assert one.status_code == 200 and len(one.json()) == 1
    bad = await api.get("/leaderboard?limit=0")
    assert bad.status_code == 422
    assert set(bad.json()) == {"error", "detail"}


async def test_market_watch_has_change_since_open(api: httpx.AsyncClient, market: Market) -> None:
    await market.set("LDRW", "20.00")
    await market.set("LDRW", "21.00")
    response = await api.get("/market-watch")
    assert response.status_code == 200
    row = next(r for r in response.json() if r["symbol"] == "LDRW")
    assert row["price"] == "21.00"
    assert Decimal(row["change"]) == Decimal(row["price"]) - Decimal(row["open"])
    assert row["sparkline"][-1] == "21.00"
