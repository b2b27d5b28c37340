"""Deleting a user ends their trading: resting orders are canceled, private sockets closed."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.hostile.conftest import (
    PASSWORD,
    fresh_address,
    new_user,
    publish_price,
    unique_symbol,
    user_service,
    user_settings,
)
from tests.live_server import serve
from tests.trading_fixtures import until
from trading_service.app import create_app
from trading_service.config import TradingSettings


async def _order(db: AsyncEngine, order_id: str) -> Any:
    async with db.connect() as conn:
        return (
            await conn.execute(
                text("SELECT status, filled_qty, reserved_cash FROM orders WHERE id = :id"),
                {"id": order_id},
            )
        ).one()


async def _engine_price(db: AsyncEngine, symbol: str) -> str | None:
    async with db.connect() as conn:
        price = (
            await conn.execute(
                text("SELECT price FROM reference_prices WHERE symbol = :s"), {"s": symbol}
            )
        ).scalar_one_or_none()
    return None if price is None else f"{price:.2f}"


async def test_deleting_a_user_cancels_their_orders_and_closes_their_sockets(
    hostile_trading_settings: TradingSettings,
    prices: AIOKafkaProducer,
    engine: asyncio.Task[None],
    db: AsyncEngine,
) -> None:
    symbol = unique_symbol("DEL")
    app = create_app(hostile_trading_settings.model_copy(update={"order_wait_s": 10}))
    async with (
        serve(app) as host,
        httpx.AsyncClient(base_url=f"http://{host}") as trading,
        user_service(user_settings(), fresh_address()) as (_, users),
    ):
        data = new_user()
        assert (await users.post("/register", json=data)).status_code == 201
        login = await users.post("/login", json={"email": data["email"], "password": PASSWORD})
        token = login.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        await publish_price(prices, trading, symbol, "100.00")
        await until(lambda: _is(_engine_price(db, symbol), "100.00"), what="the engine prices it")
        resting = await trading.post(
            "/orders?wait=true",
            json={
                "symbol": symbol,
                "qty": 5,
                "side": "buy",
                "type": "limit",
                "limit_price": "90.00",
                "time_in_force": "gtc",
            },
            headers=auth,
        )
        assert resting.status_code == 201 and resting.json()["status"] == "new", resting.text
        order_id = resting.json()["id"]

        async with connect(f"ws://{host}/ws") as ws:
            await ws.send(json.dumps({"action": "auth", "token": token}))
            await ws.send(json.dumps({"action": "subscribe", "channels": ["orders", "portfolio"]}))
            received: list[dict[str, Any]] = []

            async def read_until_closed() -> None:
                try:
                    while True:
                        received.append(json.loads(await ws.recv()))
                except ConnectionClosed:
                    return

            reader = asyncio.create_task(read_until_closed())
            await until(lambda: _has(received, "subscribed"), what="the private channels are open")

            deleted = await users.request(
                "DELETE", "/me", json={"password": PASSWORD}, headers=auth
            )
            assert deleted.status_code == 204, deleted.text
            deleted_at = time.monotonic()

            async def canceled() -> bool:
                return (await _order(db, order_id)).status == "canceled"

            await until(canceled, what="the deleted user's order is canceled", timeout_s=15)
            await asyncio.wait_for(reader, timeout=15)  # the server closed the socket
            assert time.monotonic() - deleted_at < 15
            closing = [m for m in received if m.get("type") == "error"]
            assert closing and closing[-1]["error"] == "account_deleted", received
            assert not [m for m in received if m.get("type") == "fill"]

        # The house's ask moves through the old limit: a live order would fill now.
        await publish_price(prices, trading, symbol, "80.00")
        await until(lambda: _is(_engine_price(db, symbol), "80.00"), what="the engine moves")
        final = await _order(db, order_id)
        assert (final.status, final.filled_qty, final.reserved_cash) == ("canceled", 0, 0)


async def _is(value: Any, expected: str) -> bool:
    return bool(await value == expected)


async def _has(received: list[dict[str, Any]], kind: str) -> bool:
    return any(m.get("type") == kind for m in received)
