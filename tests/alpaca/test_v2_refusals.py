"""/v2 refuses what this exchange does not offer and bad input: Alpaca's error shape, no 5xx,
nothing stored. And the JWT API's orders are /v2's orders."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.alpaca.conftest import KeyHolder
from tests.trading_fixtures import Market, SigningKey
from trading_service.tables import orders

SYMBOL = "ALPREF"
MARKET_BUY = {"symbol": SYMBOL, "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"}


async def stored_orders(db: AsyncEngine, holder: KeyHolder) -> int:
    async with db.connect() as conn:
        count: int = (
            await conn.execute(
                select(func.count())
                .select_from(orders)
                .where(orders.c.account_id == holder.user_id)
            )
        ).scalar_one()
        return count


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"notional": "100"}, "notional"),
        ({"qty": 1.5}, "fractional"),
        ({"qty": "0.5"}, "fractional"),
        ({"extended_hours": True}, "extended hours"),
        ({"type": "trailing_stop", "trail_percent": "1"}, "trailing stop"),
        ({"order_class": "bracket", "take_profit": {"limit_price": "60"}}, "bracket"),
        ({"order_class": "oco"}, "oco"),
        ({"order_class": "oto"}, "oto"),
        ({"time_in_force": "opg"}, "auction"),
        ({"time_in_force": "cls"}, "auction"),
        ({"side": "sell", "qty": 5}, "short selling"),
    ],
)
async def test_what_we_do_not_offer_is_refused_by_name(
    api: httpx.AsyncClient,
    market: Market,
    db: AsyncEngine,
    holder: KeyHolder,
    change: dict[str, Any],
    named: str,
) -> None:
    await market.set(SYMBOL, "20.00")
    body = {
        k: v for k, v in (MARKET_BUY | change).items() if not (k == "qty" and "notional" in change)
    }
    response = await api.post("/v2/orders", json=body, headers=holder.key_headers)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == 42210000 and named in error["message"].lower()
    assert await stored_orders(db, holder) == 0


@pytest.mark.parametrize(
    "body",
    [
        MARKET_BUY | {"qty": 0},
        MARKET_BUY | {"qty": -3},
        MARKET_BUY | {"qty": "abc"},
        MARKET_BUY | {"qty": True},
        MARKET_BUY | {"qty": "1e400"},
        MARKET_BUY | {"qty": None},
        MARKET_BUY | {"qty": 10**30},
        MARKET_BUY | {"symbol": "NOPE\x00"},
        MARKET_BUY | {"side": "short"},
        MARKET_BUY | {"type": "limit"},  # no limit_price
        MARKET_BUY | {"type": "limit", "limit_price": "NaN"},
        MARKET_BUY | {"type": "limit", "limit_price": 10.005},
        MARKET_BUY | {"limit_price": 10},  # a market order takes none
        MARKET_BUY | {"client_order_id": "x" * 65},
        {"symbol": SYMBOL},
    ],
)
async def test_bad_orders_are_422_and_store_nothing(
    api: httpx.AsyncClient, market: Market, db: AsyncEngine, holder: KeyHolder, body: Any
) -> None:
    await market.set(SYMBOL, "20.00")
    response = await api.post("/v2/orders", json=body, headers=holder.key_headers)
    assert response.status_code == 422, response.text
    assert set(response.json()) == {"code", "message"}
    assert await stored_orders(db, holder) == 0


async def test_quantities_as_the_sdks_send_them(
    api: httpx.AsyncClient, market: Market, holder: KeyHolder
) -> None:
    await market.set(SYMBOL, "20.00")
    for qty in (2, 2.0, "2", "2.00"):
        response = await api.post(
            "/v2/orders", json=MARKET_BUY | {"qty": qty}, headers=holder.key_headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["qty"] == "2" and response.json()["filled_qty"] == "2"


async def test_keys_are_checked_and_errors_have_alpacas_shape(
    api: httpx.AsyncClient, holder: KeyHolder
) -> None:
    for headers in (
        {},
        {"APCA-API-KEY-ID": holder.key_id},
        {"APCA-API-KEY-ID": holder.key_id, "APCA-API-SECRET-KEY": "wrong"},
        {"APCA-API-KEY-ID": "PKNOSUCHKEY000000000", "APCA-API-SECRET-KEY": holder.secret},
        {"Authorization": f"Bearer {holder.token}"},  # a user-service token is no key
    ):
        response = await api.get("/v2/account", headers=headers)
        assert response.status_code == 403
        assert response.json()["code"] == 40310000 and response.json()["message"]
    missing = await api.get("/v2/orders/not-a-uuid", headers=holder.key_headers)
    assert missing.status_code == 422 and set(missing.json()) == {"code", "message"}


async def test_not_enough_cash_is_403_as_on_alpaca(
    api: httpx.AsyncClient, market: Market, db: AsyncEngine, holder: KeyHolder
) -> None:
    await market.set(SYMBOL, "20.00")
    response = await api.post(
        "/v2/orders", json=MARKET_BUY | {"qty": 999_999}, headers=holder.key_headers
    )
    assert response.status_code == 403 and "buying power" in response.json()["message"]
    assert await stored_orders(db, holder) == 0


async def test_one_domain_two_faces(
    api: httpx.AsyncClient, market: Market, holder: KeyHolder, signing_key: SigningKey
) -> None:
    await market.set(SYMBOL, "20.00")
    bearer = {"Authorization": f"Bearer {signing_key.token(holder.user_id)}"}
    placed = await api.post(
        "/orders",
        json={
            "symbol": SYMBOL,
            "qty": 3,
            "side": "buy",
            "type": "limit",
            "limit_price": "5.00",
            "time_in_force": "gtc",
            "client_order_id": "jwt-side",
        },
        headers=bearer,
    )
    assert placed.status_code == 201, placed.text
    seen = await api.get(f"/v2/orders/{placed.json()['id']}", headers=holder.key_headers)
    assert seen.status_code == 200
    assert seen.json()["client_order_id"] == "jwt-side" and seen.json()["limit_price"] == "5.00"
    assert seen.json()["status"] in ("new", "accepted")

    canceled = await api.delete("/v2/orders", headers=holder.key_headers)
    assert canceled.status_code == 207
    assert [(c["id"], c["status"]) for c in canceled.json()] == [(placed.json()["id"], 200)]
    after = await api.get(f"/orders/{placed.json()['id']}", headers=bearer)
    assert after.json()["status"] == "canceled"


async def test_time_filters_take_iso_8601_only(api: httpx.AsyncClient, holder: KeyHolder) -> None:
    for query in ("after=2020-01-01T00:00:00Z", "until=2999-01-01", "after=2020-01-01T00:00:00"):
        ok = await api.get(f"/v2/orders?status=all&{query}", headers=holder.key_headers)
        assert ok.status_code == 200, (query, ok.text)
    for query in ("after=0.0", "until=1700000000", "after=2020-13-01", "until=yesterday"):
        refused = await api.get(f"/v2/orders?{query}", headers=holder.key_headers)
        assert refused.status_code == 422, query
        fills = await api.get(f"/v2/account/activities/FILL?{query}", headers=holder.key_headers)
        assert fills.status_code == 422, query


@pytest.mark.parametrize(
    "query",
    [
        "/v2/calendar?start=0.0",
        "/v2/calendar?end=1700000000",
        "/v2/account/portfolio/history?date_end=0",
    ],
)
async def test_a_day_that_is_not_yyyy_mm_dd_is_422(
    api: httpx.AsyncClient, holder: KeyHolder, query: str
) -> None:
    response = await api.get(query, headers=holder.key_headers)
    assert response.status_code == 422, (query, response.text)
    assert set(response.json()) == {"code", "message"}
