"""No user reads, cancels or changes another's orders, fills or portfolio: 404, never 403."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.hostile.conftest import SigningKey, Trader, new_trader, publish_price, unique_symbol
from trading_service.tables import orders


@pytest.fixture
async def victim_order(
    trading: httpx.AsyncClient, prices: AIOKafkaProducer, hostile_key: SigningKey
) -> tuple[Trader, dict[str, Any]]:
    symbol = unique_symbol("ACC")
    await publish_price(prices, trading, symbol, "100.00")
    victim = new_trader(hostile_key)
    placed = await trading.post(
        "/orders",
        json={
            "symbol": symbol,
            "qty": 5,
            "side": "buy",
            "type": "limit",
            "time_in_force": "gtc",
            "limit_price": "1.00",
            "client_order_id": "victim-1",
        },
        headers=victim.headers,
    )
    assert placed.status_code == 201, placed.text
    return victim, placed.json()


async def test_another_users_order_is_not_found(
    trading: httpx.AsyncClient,
    hostile_key: SigningKey,
    victim_order: tuple[Trader, Any],
    db: AsyncEngine,
) -> None:
    victim, order = victim_order
    intruder = new_trader(hostile_key)
    order_id = order["id"]
    attempts = {
        "read": await trading.get(f"/orders/{order_id}", headers=intruder.headers),
        "read by client id": await trading.get(
            "/orders/by-client-id/victim-1", headers=intruder.headers
        ),
        "cancel": await trading.delete(f"/orders/{order_id}", headers=intruder.headers),
        "replace": await trading.patch(
            f"/orders/{order_id}", json={"qty": 1}, headers=intruder.headers
        ),
    }
    for what, response in attempts.items():
        assert response.status_code == 404, (what, response.text)
        assert response.json() == {"error": "not_found", "detail": "no such order"}, what

    # An id that exists for nobody gets the very same answer: existence does not leak.
    guessed = await trading.get(f"/orders/{uuid.uuid4()}", headers=intruder.headers)
    assert guessed.status_code == 404
    assert guessed.json() == attempts["read"].json()

    # Nothing changed for the owner, not even a cancel request the engine has yet to act on.
    mine = await trading.get(f"/orders/{order_id}", headers=victim.headers)
    assert mine.status_code == 200
    assert mine.json()["qty"] == 5
    assert mine.json()["status"] == order["status"]
    async with db.connect() as conn:
        stored = (
            await conn.execute(select(orders).where(orders.c.id == uuid.UUID(order_id)))
        ).one()
    assert stored.cancel_requested_at is None
    assert stored.qty == 5


async def test_cancel_all_and_lists_only_touch_ones_own(
    trading: httpx.AsyncClient, hostile_key: SigningKey, victim_order: tuple[Trader, Any]
) -> None:
    victim, order = victim_order
    intruder = new_trader(hostile_key)
    await trading.get("/portfolio", headers=intruder.headers)  # opens the intruder's account
    canceled = await trading.delete("/orders", headers=intruder.headers)
    assert canceled.status_code == 200
    assert canceled.json() == []
    assert (await trading.get("/orders", headers=intruder.headers)).json() == []
    assert (await trading.get("/trades", headers=intruder.headers)).json() == []
    portfolio = (await trading.get("/portfolio", headers=intruder.headers)).json()
    assert portfolio["positions"] == []
    assert portfolio["buying_power"] == portfolio["cash"]  # the victim's reservation is not here

    mine = (await trading.get(f"/orders/{order['id']}", headers=victim.headers)).json()
    assert mine["status"] in ("new", "partially_filled")
    listed = (await trading.get("/orders", headers=victim.headers)).json()
    assert [o["id"] for o in listed] == [order["id"]]
