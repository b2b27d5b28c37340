"""The seed's order path end to end: API → Postgres → Kafka → engine → Postgres → API."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.trading_fixtures import Market, Trader, audit_violations, settle
from trading_service.tables import orders

START = Decimal("100000.00")


async def portfolio(api: httpx.AsyncClient, trader: Trader) -> dict:
    response = await api.get("/portfolio", headers=trader.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_buy_then_sell_fills_against_the_house_quote(
    api: httpx.AsyncClient, market: Market, trader: Trader, db: AsyncEngine
) -> None:
    await market.set("AAPL", "100.00")  # house quote: bid 99.95, ask 100.05 (10 bps spread)

    bought = await api.post(
        "/trade/buy", json={"stock_symbol": "AAPL", "quantity": 10}, headers=trader.headers
    )
    assert bought.status_code == 201, bought.text
    order = bought.json()
    assert order["status"] == "filled"
    assert order["side"] == "buy" and order["type"] == "market" and order["qty"] == 10
    assert order["filled_qty"] == 10
    assert order["filled_avg_price"] == "100.05"
    assert order["fills"] == [{"price": "100.05", "qty": 10, "ts": order["fills"][0]["ts"]}]

    after_buy = await portfolio(api, trader)
    assert Decimal(after_buy["cash"]) == START - Decimal("1000.50")
    assert after_buy["reserved_cash"] == "0.00"  # the collar reservation was released
    # The change today depends on AAPL's open, which other tests moved: see
    # test_portfolio_history.py for it.
    today = ("day_open", "change_today", "price_change_today_pct")
    assert [{k: v for k, v in p.items() if k not in today} for p in after_buy["positions"]] == [
        {
            "symbol": "AAPL",
            "qty": 10,
            "avg_cost": "100.05",
            "cost_basis": "1000.50",
            "last_price": "100.00",
            "market_value": "1000.00",
            "unrealized_pnl": "-0.50",
            "unrealized_pnl_pct": "-0.05",
        }
    ]

    sold = await api.post(
        "/trade/sell", json={"stock_symbol": "aapl", "quantity": 5}, headers=trader.headers
    )
    assert sold.status_code == 201, sold.text
    assert sold.json()["status"] == "filled"
    assert sold.json()["filled_avg_price"] == "99.95"

    after_sell = await portfolio(api, trader)
    assert Decimal(after_sell["cash"]) == START - Decimal("1000.50") + Decimal("499.75")
    assert after_sell["realized_pnl"] == "-0.50"  # 5 x (99.95 - 100.05)
    assert after_sell["positions"][0]["qty"] == 5
    assert after_sell["positions"][0]["avg_cost"] == "100.05"
    assert Decimal(after_sell["equity"]) == Decimal(after_sell["cash"]) + 5 * Decimal("100.00")

    trades = (await api.get("/trades", headers=trader.headers)).json()
    assert [(t["side"], t["qty"], t["price"], t["liquidity"]) for t in trades] == [
        ("sell", 5, "99.95", "taker"),
        ("buy", 10, "100.05", "taker"),
    ]
    history = (await api.get("/orders", headers=trader.headers)).json()
    assert [o["side"] for o in history] == ["sell", "buy"]
    await settle(db)
    assert await audit_violations(db) == {}


async def test_portfolio_of_a_new_account_is_the_starting_grant(
    api: httpx.AsyncClient, trader: Trader
) -> None:
    p = await portfolio(api, trader)
    assert p == {
        "cash": "100000.00",
        "reserved_cash": "0.00",
        "buying_power": "100000.00",
        "equity": "100000.00",
        "realized_pnl": "0.00",
        "unrealized_pnl": "0.00",
        "change_today": "0.00",
        "change_today_pct": "0.00",
        "positions": [],
    }


async def test_concurrent_buys_never_overspend(
    api: httpx.AsyncClient, market: Market, trader: Trader, db: AsyncEngine
) -> None:
    await market.set("NVDA", "1000.00")
    # Each buy of 10 reserves 10 x 1050.00 (the 5% collar): 9 fit in 100,000, the 41 others don't.
    responses = await asyncio.gather(
        *(
            api.post(
                "/trade/buy", json={"stock_symbol": "NVDA", "quantity": 10}, headers=trader.headers
            )
            for _ in range(50)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 9 + [409] * 41
    assert all(r.json()["error"] == "insufficient_funds" for r in responses if r.status_code == 409)
    assert all(r.json()["status"] == "filled" for r in responses if r.status_code == 201)

    p = await portfolio(api, trader)
    assert Decimal(p["cash"]) == START - 9 * 10 * Decimal("1000.50")
    assert p["reserved_cash"] == "0.00"
    assert p["positions"][0]["qty"] == 90
    await settle(db)
    assert await audit_violations(db) == {}


async def test_refusals_change_nothing(
    api: httpx.AsyncClient, market: Market, trader: Trader, db: AsyncEngine
) -> None:
    await market.set("MSFT", "400.00")
    cases = [
        ({"stock_symbol": "MSFT", "quantity": 1000}, "/trade/buy", 409, "insufficient_funds"),
        ({"stock_symbol": "MSFT", "quantity": 1}, "/trade/sell", 409, "insufficient_shares"),
        ({"stock_symbol": "NOPE", "quantity": 1}, "/trade/buy", 422, "unknown_symbol"),
        ({"stock_symbol": "MSFT", "quantity": 0}, "/trade/buy", 422, "validation_error"),
        ({"stock_symbol": "MSFT", "quantity": -3}, "/trade/buy", 422, "validation_error"),
        ({"stock_symbol": "MSFT", "quantity": 1.5}, "/trade/buy", 422, "validation_error"),
        ({"stock_symbol": "MSFT", "quantity": "2"}, "/trade/buy", 422, "validation_error"),
        ({"stock_symbol": "MSFT", "quantity": True}, "/trade/buy", 422, "validation_error"),
        ({"stock_symbol": "MSFT"}, "/trade/buy", 422, "validation_error"),
        (
            {"stock_symbol": "MSFT; DROP TABLE orders", "quantity": 1},
            "/trade/buy",
            422,
            "validation_error",
        ),
        (
            {"stock_symbol": "MSFT", "quantity": 1, "price": "1.00"},
            "/trade/buy",
            422,
            "validation_error",
        ),
    ]
    for body, path, status, error in cases:
        response = await api.post(path, json=body, headers=trader.headers)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"] == error, (body, response.json())
        assert "detail" in response.json()

    malformed = await api.post(
        "/trade/buy",
        content=b'{"stock_symbol": "MSFT", "quan',
        headers={**trader.headers, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 422
    assert malformed.json()["error"] == "validation_error"

    async with db.connect() as conn:
        count = (
            await conn.execute(
                select(func.count()).select_from(orders).where(orders.c.account_id == trader.id)
            )
        ).scalar_one()
    assert count == 0
    assert (await portfolio(api, trader))["cash"] == "100000.00"


async def test_a_stale_price_refuses_market_orders_with_503(
    api: httpx.AsyncClient, market: Market, trader: Trader, trading_app
) -> None:
    await market.set("TSLA", "250.00")
    settings = trading_app.state.resources.settings
    saved = settings.max_price_age_s
    settings.max_price_age_s = 0.000001
    try:
        response = await api.post(
            "/trade/buy", json={"stock_symbol": "TSLA", "quantity": 1}, headers=trader.headers
        )
    finally:
        settings.max_price_age_s = saved
    assert response.status_code == 503
    assert response.json()["error"] == "no_price"


async def test_users_see_only_their_own_orders(
    api: httpx.AsyncClient, market: Market, new_trader
) -> None:
    alice, bob = new_trader(), new_trader()
    await market.set("AMZN", "180.00")
    placed = await api.post(
        "/trade/buy", json={"stock_symbol": "AMZN", "quantity": 1}, headers=alice.headers
    )
    order_id = placed.json()["id"]
    assert (await api.get(f"/orders/{order_id}", headers=alice.headers)).status_code == 200
    theirs = await api.get(f"/orders/{order_id}", headers=bob.headers)
    assert theirs.status_code == 404
    assert theirs.json()["error"] == "not_found"
    assert (await api.get("/orders", headers=bob.headers)).json() == []
    assert (await api.get("/trades", headers=bob.headers)).json() == []
