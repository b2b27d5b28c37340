"""Self-trade prevention on the real stack: an order never trades with its own account's resting
order, so a user cannot print volume on the tape and the candles with themselves."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.trading_fixtures import Market, Trader, audit_violations, settle


async def place(api: httpx.AsyncClient, trader: Trader, **body: object) -> dict:
    response = await api.post("/orders?wait=true", json=body, headers=trader.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def test_an_ioc_buy_meeting_the_same_users_resting_sell_is_canceled_untraded(
    api: httpx.AsyncClient, market: Market, new_trader, db: AsyncEngine
) -> None:
    user, other = new_trader(), new_trader()
    await market.set("STPA", "50.00")  # house 49.97 / 50.03
    bought = await place(api, user, symbol="STPA", qty=10, side="buy", type="market")
    assert bought["status"] == "filled"
    tape_before = (await api.get("/market-trades/STPA")).json()

    sell = await place(
        api, user, symbol="STPA", qty=10, side="sell", type="limit",
        limit_price="50.01", time_in_force="gtc",
    )  # fmt: skip
    assert sell["status"] == "new"
    buy = await place(
        api, user, symbol="STPA", qty=10, side="buy", type="limit",
        limit_price="50.01", time_in_force="ioc",
    )  # fmt: skip
    assert (buy["status"], buy["filled_qty"]) == ("canceled", 0)
    assert buy["reject_reason"] == "self_trade_prevented"
    assert buy["fills"] == []
    assert (await api.get("/market-trades/STPA")).json() == tape_before  # nothing printed

    resting = (await api.get(f"/orders/{sell['id']}", headers=user.headers)).json()
    assert (resting["status"], resting["filled_qty"]) == ("new", 0)
    # still live for everybody else
    taken = await place(
        api, other, symbol="STPA", qty=10, side="buy", type="limit",
        limit_price="50.01", time_in_force="ioc",
    )  # fmt: skip
    assert taken["status"] == "filled"
    assert [(f["price"], f["qty"]) for f in taken["fills"]] == [("50.01", 10)]
    await settle(db)
    assert await audit_violations(db) == {}
