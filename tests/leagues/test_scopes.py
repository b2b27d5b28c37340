"""Money never crosses leagues: user orders match only orders of the same league (or, for
personal accounts, of personal accounts); every scope trades with the house."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.leagues.conftest import acting, join
from tests.trading_fixtures import Market, Trader, audit_violations, settle


async def place(api: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await api.post("/orders?wait=true", json=body, headers=headers)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


async def filled_qty(api: httpx.AsyncClient, headers: dict[str, str], order_id: str) -> int:
    response = await api.get(f"/orders/{order_id}", headers=headers)
    assert response.status_code == 200, response.text
    qty: int = response.json()["filled_qty"]
    return qty


async def test_a_league_order_trades_only_inside_its_league(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    league_factory: Callable[..., Any],
    db: AsyncEngine,
) -> None:
    await market.set("SCOPA", "100.00")  # the house bids 99.95 and asks 100.05
    seller, teammate, rival, outsider = new_trader(), new_trader(), new_trader(), new_trader()
    league, other = await league_factory(), await league_factory()
    as_seller = acting(seller, (await join(api, seller, league["invite_code"]))["id"])
    as_teammate = acting(teammate, (await join(api, teammate, league["invite_code"]))["id"])
    as_rival = acting(rival, (await join(api, rival, other["invite_code"]))["id"])

    bought = await place(api, as_seller, symbol="SCOPA", qty=10, side="buy", type="market")
    assert bought["status"] == "filled"
    # Better than the house's ask: anyone allowed to trade with it would buy here first.
    ask = await place(
        api,
        as_seller,
        symbol="SCOPA",
        qty=10,
        side="sell",
        type="limit",
        limit_price="100.00",
        time_in_force="gtc",
    )
    assert ask["status"] == "new"

    # The public book is the personal accounts' book: the league's order is not in it.
    book = (await api.get("/orderbook/SCOPA?depth=10")).json()
    assert [(a["price"], a["house"]) for a in book["asks"]] == [("100.05", True)]

    # A personal account and another league's member buy from the house, at the house's ask.
    for headers in (outsider.headers, as_rival):
        order = await place(api, headers, symbol="SCOPA", qty=4, side="buy", type="market")
        assert (order["status"], order["filled_avg_price"]) == ("filled", "100.05"), order
    assert await filled_qty(api, as_seller, ask["id"]) == 0

    # A member of the same league trades with the resting sell, at its price.
    order = await place(api, as_teammate, symbol="SCOPA", qty=4, side="buy", type="market")
    assert (order["status"], order["filled_avg_price"]) == ("filled", "100.00"), order
    assert await filled_qty(api, as_seller, ask["id"]) == 4

    await settle(db)
    assert await audit_violations(db) == {}


async def test_two_leagues_and_personal_accounts_rest_on_one_symbol_without_meeting(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    league_factory: Callable[..., Any],
    db: AsyncEngine,
) -> None:
    await market.set("SCOPB", "50.00")  # the house bids 49.97 and asks 50.03
    buyer, seller = new_trader(), new_trader()
    league, other = await league_factory(), await league_factory()
    as_buyer = acting(buyer, (await join(api, buyer, league["invite_code"]))["id"])
    as_seller = acting(seller, (await join(api, seller, other["invite_code"]))["id"])
    await place(api, as_seller, symbol="SCOPB", qty=5, side="buy", type="market")
    limit = {"symbol": "SCOPB", "qty": 5, "type": "limit", "time_in_force": "gtc"}
    bid = await place(api, as_buyer, **limit, side="buy", limit_price="50.01")
    # Would cross the bid if both were in one book: here it rests in its own league's book.
    ask = await place(api, as_seller, **limit, side="sell", limit_price="49.99")
    assert (bid["status"], ask["status"]) == ("new", "new")
    book = (await api.get("/orderbook/SCOPB?depth=10")).json()
    assert all(level["house"] for level in book["bids"] + book["asks"]), book

    # A price tick fills both against the house, each in its own league, at its own limit.
    await market.set("SCOPB", "49.90")  # the house asks 49.93 <= 50.01: the bid fills
    assert await filled_qty(api, as_buyer, bid["id"]) == 5
    assert await filled_qty(api, as_seller, ask["id"]) == 0
    await market.set("SCOPB", "50.10")  # the house bids 50.07 >= 49.99: the ask fills
    assert await filled_qty(api, as_seller, ask["id"]) == 5
    await settle(db)
    assert await audit_violations(db) == {}
