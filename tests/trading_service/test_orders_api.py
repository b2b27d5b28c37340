"""Limit, stop and stop-limit orders, time in force, cancel, replace and market data over HTTP."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.trading_fixtures import Market, Trader, audit_violations, settle, until


async def place(api: httpx.AsyncClient, trader: Trader, **body: object) -> dict:
    response = await api.post("/orders?wait=true", json=body, headers=trader.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def order(api: httpx.AsyncClient, trader: Trader, order_id: str) -> dict:
    return (await api.get(f"/orders/{order_id}", headers=trader.headers)).json()


async def cash(api: httpx.AsyncClient, trader: Trader) -> tuple[Decimal, Decimal]:
    p = (await api.get("/portfolio", headers=trader.headers)).json()
    return Decimal(p["cash"]), Decimal(p["reserved_cash"])


async def test_a_limit_buy_rests_then_fills_at_its_limit_when_the_house_moves_through_it(
    api: httpx.AsyncClient, market: Market, trader: Trader, db: AsyncEngine
) -> None:
    await market.set("LIMA", "100.00")
    resting = await place(
        api,
        trader,
        symbol="LIMA",
        qty=10,
        side="buy",
        type="limit",
        limit_price="99.00",
        time_in_force="gtc",
    )
    assert resting["status"] == "new" and resting["filled_qty"] == 0
    assert await cash(api, trader) == (Decimal("100000.00"), Decimal("990.00"))

    book = (await api.get("/orderbook/LIMA?depth=5")).json()
    assert book["bids"][0] == {"price": "99.95", "qty": None, "orders": 0, "house": True}
    assert {"price": "99.00", "qty": 10, "orders": 1, "house": False} in book["bids"]
    assert book["asks"][0]["house"] is True and book["asks"][0]["price"] == "100.05"

    await market.set("LIMA", "98.50")  # house ask 98.55 <= 99.00: fills at the limit, 99.00
    filled = await order(api, trader, resting["id"])
    assert filled["status"] == "filled"
    assert filled["filled_avg_price"] == "99.00"
    assert await cash(api, trader) == (Decimal("100000.00") - Decimal("990.00"), Decimal("0.00"))
    tape = (await api.get("/market-trades/LIMA")).json()
    assert [(t["price"], t["qty"], t["aggressor_side"]) for t in tape][:1] == [
        ("99.00", 10, "sell")
    ]
    await settle(db)
    assert await audit_violations(db) == {}


async def test_user_orders_trade_with_each_other_before_the_house(
    api: httpx.AsyncClient, market: Market, new_trader, db: AsyncEngine
) -> None:
    seller, buyer = new_trader(), new_trader()
    await market.set("LIMB", "50.00")  # house 49.97 / 50.03
    await place(api, seller, symbol="LIMB", qty=20, side="buy", type="market")
    ask = await place(
        api,
        seller,
        symbol="LIMB",
        qty=5,
        side="sell",
        type="limit",
        limit_price="50.01",
        time_in_force="day",
    )
    assert ask["status"] == "new"
    quote = (await api.get("/quotes/LIMB")).json()
    assert (quote["ask"], quote["ask_size"]) == ("50.01", 5)

    bought = await place(api, buyer, symbol="LIMB", qty=8, side="buy", type="market")
    assert bought["status"] == "filled"
    assert [(f["price"], f["qty"]) for f in bought["fills"]] == [("50.01", 5), ("50.03", 3)]
    assert (await order(api, seller, ask["id"]))["status"] == "filled"
    seller_fills = (await api.get("/trades", headers=seller.headers)).json()
    assert seller_fills[0]["liquidity"] == "maker" and seller_fills[0]["price"] == "50.01"
    await settle(db)
    assert await audit_violations(db) == {}


async def test_stop_sell_triggers_when_the_price_falls_through_it(
    api: httpx.AsyncClient, market: Market, trader: Trader, db: AsyncEngine
) -> None:
    await market.set("LIMC", "200.00")
    await place(api, trader, symbol="LIMC", qty=4, side="buy", type="market")
    stop = await place(
        api,
        trader,
        symbol="LIMC",
        qty=4,
        side="sell",
        type="stop",
        stop_price="190.00",
        time_in_force="gtc",
    )
    assert stop["status"] == "new"
    sell_again = await api.post(
        "/orders", headers=trader.headers, json={"symbol": "LIMC", "qty": 1, "side": "sell"}
    )
    assert sell_again.status_code == 409  # the stop holds all 4 shares
    await market.set("LIMC", "195.00")
    assert (await order(api, trader, stop["id"]))["status"] == "new"
    await market.set("LIMC", "189.00")  # crosses 190: a market sell at the house bid 188.90

    async def stop_filled() -> bool:
        return (await order(api, trader, stop["id"]))["status"] == "filled"

    await until(stop_filled, "the stop fills")
    assert (await order(api, trader, stop["id"]))["filled_avg_price"] == "188.90"
    await settle(db)
    assert await audit_violations(db) == {}


async def test_ioc_and_fok_never_rest(
    api: httpx.AsyncClient, market: Market, trader: Trader
) -> None:
    await market.set("LIMD", "10.00")  # house ask 10.01
    ioc = await place(
        api,
        trader,
        symbol="LIMD",
        qty=5,
        side="buy",
        type="limit",
        limit_price="9.50",
        time_in_force="ioc",
    )
    fok = await place(
        api,
        trader,
        symbol="LIMD",
        qty=5,
        side="buy",
        type="limit",
        limit_price="9.50",
        time_in_force="fok",
    )
    assert ioc["status"] == "canceled" and ioc["filled_qty"] == 0
    assert fok["status"] == "canceled" and fok["filled_qty"] == 0
    assert ioc["reject_reason"] and fok["reject_reason"]
    assert await cash(api, trader) == (Decimal("100000.00"), Decimal("0.00"))
    crossing = await place(
        api,
        trader,
        symbol="LIMD",
        qty=5,
        side="buy",
        type="limit",
        limit_price="10.50",
        time_in_force="ioc",
    )
    assert crossing["status"] == "filled" and crossing["filled_avg_price"] == "10.01"


async def test_cancel_and_cancel_all_release_reservations(
    api: httpx.AsyncClient, market: Market, trader: Trader, db: AsyncEngine
) -> None:
    await market.set("LIME", "30.00")
    first = await place(
        api,
        trader,
        symbol="LIME",
        qty=10,
        side="buy",
        type="limit",
        limit_price="25.00",
        time_in_force="gtc",
    )
    canceled = await api.delete(f"/orders/{first['id']}", headers=trader.headers)
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    again = await api.delete(f"/orders/{first['id']}", headers=trader.headers)
    assert again.status_code == 409 and again.json()["error"] == "order_not_open"

    for price in ("24.00", "23.00", "22.00"):
        await place(
            api,
            trader,
            symbol="LIME",
            qty=1,
            side="buy",
            type="limit",
            limit_price=price,
            time_in_force="day",
        )
    open_orders = (await api.get("/orders?status=open", headers=trader.headers)).json()
    assert len(open_orders) == 3
    gone = await api.delete("/orders", headers=trader.headers)
    assert sorted(o["status"] for o in gone.json()) == ["canceled"] * 3
    assert (await api.get("/orders?status=open", headers=trader.headers)).json() == []
    assert await cash(api, trader) == (Decimal("100000.00"), Decimal("0.00"))
    await settle(db)
    assert await audit_violations(db) == {}


async def test_replace_adjusts_reservation_and_can_cross(
    api: httpx.AsyncClient, market: Market, trader: Trader, db: AsyncEngine
) -> None:
    await market.set("LIMF", "40.00")  # house ask 40.02
    placed = await place(
        api,
        trader,
        symbol="LIMF",
        qty=10,
        side="buy",
        type="limit",
        limit_price="35.00",
        time_in_force="gtc",
    )
    bigger = await api.patch(f"/orders/{placed['id']}", json={"qty": 20}, headers=trader.headers)
    assert bigger.status_code == 200, bigger.text
    assert bigger.json()["qty"] == 20
    assert await cash(api, trader) == (Decimal("100000.00"), Decimal("700.00"))
    too_big = await api.patch(
        f"/orders/{placed['id']}", json={"qty": 100_000}, headers=trader.headers
    )
    assert too_big.status_code == 409 and too_big.json()["error"] == "insufficient_funds"
    wrong_field = await api.patch(
        f"/orders/{placed['id']}", json={"stop_price": "30.00"}, headers=trader.headers
    )
    assert wrong_field.status_code == 422

    crossed = await api.patch(
        f"/orders/{placed['id']}", json={"limit_price": "41.00"}, headers=trader.headers
    )
    assert crossed.json()["status"] == "filled"
    assert crossed.json()["filled_avg_price"] == "40.02"
    assert await cash(api, trader) == (
        Decimal("100000.00") - 20 * Decimal("40.02"),
        Decimal("0.00"),
    )
    await settle(db)
    assert await audit_violations(db) == {}


async def test_client_order_id_is_idempotent(
    api: httpx.AsyncClient, market: Market, trader: Trader
) -> None:
    await market.set("LIMG", "12.00")
    body = {
        "symbol": "LIMG",
        "qty": 3,
        "side": "buy",
        "type": "limit",
        "limit_price": "11.00",
        "time_in_force": "gtc",
        "client_order_id": "my-order-1",
    }
    first = await api.post("/orders", json=body, headers=trader.headers)
    second = await api.post("/orders", json=body, headers=trader.headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    by_client = await api.get("/orders/by-client-id/my-order-1", headers=trader.headers)
    assert by_client.json()["id"] == first.json()["id"]
    assert len((await api.get("/orders", headers=trader.headers)).json()) == 1
    assert await cash(api, trader) == (Decimal("100000.00"), Decimal("33.00"))


@pytest.mark.parametrize(
    "body",
    [
        {"symbol": "LIMH", "qty": 1, "side": "buy", "type": "limit"},
        {"symbol": "LIMH", "qty": 1, "side": "buy", "type": "stop", "limit_price": "1.00"},
        {"symbol": "LIMH", "qty": 1, "side": "buy", "type": "stop_limit", "stop_price": "1.00"},
        {"symbol": "LIMH", "qty": 1, "side": "buy", "type": "limit", "limit_price": "10.001"},
        {"symbol": "LIMH", "qty": 1, "side": "buy", "type": "limit", "limit_price": "1e309"},
        {"symbol": "LIMH", "qty": 1, "side": "buy", "type": "limit", "limit_price": "NaN"},
        {"symbol": "LIMH", "qty": 1, "side": "buy", "type": "limit", "limit_price": "-0"},
        {"symbol": "LIMH", "qty": 1, "side": "buy", "type": "limit", "limit_price": 0.001},
        {"symbol": "LIMH", "qty": 1, "side": "buy", "type": "limit", "limit_price": "99999999"},
        {"symbol": "LIMH", "qty": 10**12, "side": "buy", "type": "market"},
        {"symbol": "LIMH", "qty": 1, "side": "hold", "type": "market"},
        {"symbol": "LIMH", "qty": 1, "side": "buy", "type": "market", "time_in_force": "week"},
        {"symbol": "LIMH", "qty": 1, "side": "buy", "client_order_id": "x" * 65},
        {"symbol": "'; DROP TABLE orders; --", "qty": 1, "side": "buy"},
    ],
)
async def test_invalid_orders_get_422_and_store_nothing(
    api: httpx.AsyncClient, trader: Trader, body: dict
) -> None:
    response = await api.post("/orders", json=body, headers=trader.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert (await api.get("/orders", headers=trader.headers)).json() == []


async def test_market_data_of_an_unknown_symbol_is_404(api: httpx.AsyncClient) -> None:
    for path in ("/orderbook/NOPEX", "/quotes/NOPEX"):
        response = await api.get(path)
        assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert (await api.get("/market-trades/NOPEX")).json() == []
