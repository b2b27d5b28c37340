"""The WebSocket stream against real uvicorn servers, a real engine and real Redis/Postgres."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.realtime.conftest import Server, receive, receive_until, send
from tests.trading_fixtures import Market, SigningKey, Trader, until

pytestmark = pytest.mark.slow


async def test_public_channels_send_a_snapshot_then_updates(
    replicas: tuple[Server, Server], market: Market
) -> None:
    one, _ = replicas
    await market.set("RTPUB", "100.00")
    async with connect(one.ws_url) as ws:
        channels = ["prices:rtpub", "quotes:RTPUB", "book:RTPUB", "candles:RTPUB:1m"]
        await send(ws, action="subscribe", channels=channels)
        assert await receive(ws) == {
            "type": "subscribed",
            "channels": ["book:RTPUB", "candles:RTPUB:1m", "prices:RTPUB", "quotes:RTPUB"],
        }
        snapshots: dict[str, dict[str, Any]] = {}
        while len(snapshots) < 4:
            message = await receive(ws)
            assert message.get("snapshot") is True, message
            snapshots[message["type"]] = message
        assert snapshots["price"]["price"] == "100.00"
        first_seq = snapshots["price"]["seq"]
        assert snapshots["quote"]["bid"] is not None and snapshots["quote"]["ask"] is not None
        assert snapshots["book"]["symbol"] == "RTPUB" and snapshots["book"]["bids"]
        assert snapshots["candle"]["close"] == "100.00"

        await market.set("RTPUB", "101.00")
        updates: dict[str, dict[str, Any]] = {}
        received: list[dict[str, Any]] = []  # shown if anything unexpected arrives
        async with asyncio.timeout(30):
            while updates.keys() != {"price", "quote", "book", "candle"}:
                message = await receive(ws)
                received.append(message)
                if message["type"] == "heartbeat":
                    continue
                assert message["type"] in {"price", "quote", "book", "candle"}, received
                if message["type"] != "candle" or message["close"] == "101.00":
                    updates[message["type"]] = message
        assert all("snapshot" not in m for m in updates.values())
        assert updates["price"]["price"] == "101.00" and updates["price"]["seq"] > first_seq
        assert updates["quote"]["seq"] > snapshots["quote"]["seq"]
        assert Decimal(updates["quote"]["bid"]) > Decimal(snapshots["quote"]["bid"])
        assert updates["book"]["reference"] == "101.00"
        assert updates["candle"]["high"] == "101.00" and updates["candle"]["low"] == "100.00"


async def test_all_prices_channel_and_heartbeats(
    replicas: tuple[Server, Server], market: Market
) -> None:
    one, _ = replicas
    await market.set("RTALL1", "10.00")
    async with connect(one.ws_url) as ws:
        await send(ws, action="subscribe", channels=["prices"])
        await receive_until(ws, lambda m: m["type"] == "subscribed")
        snapshot, _ = await receive_until(ws, lambda m: m.get("symbol") == "RTALL1")
        assert snapshot["snapshot"] is True and snapshot["price"] == "10.00"
        await market.set("RTALL2", "20.00")
        update, _ = await receive_until(ws, lambda m: m.get("symbol") == "RTALL2")
        assert update == {**update, "type": "price", "price": "20.00"}
        await receive_until(ws, lambda m: m["type"] == "heartbeat", skip_heartbeats=False)


async def test_bad_messages_get_an_error_and_the_connection_stays_open(
    replicas: tuple[Server, Server],
) -> None:
    one, _ = replicas
    async with connect(one.ws_url) as ws:
        bad = [
            "not json",
            json.dumps([1, 2]),
            json.dumps({"action": "dance"}),
            json.dumps({"action": "subscribe"}),
            json.dumps({"action": "subscribe", "channels": ["weather:LONDON"]}),
            json.dumps({"action": "subscribe", "channels": ["candles:AAPL:7m"]}),
            json.dumps({"action": "subscribe", "channels": ["prices:AA PL"]}),
            json.dumps({"action": "auth"}),
            json.dumps({"action": "auth", "token": "not-a-jwt"}),
            json.dumps({"action": "subscribe", "channels": ["orders"]}),  # not authenticated
        ]
        for raw in bad:
            await ws.send(raw)
            error, _ = await receive_until(ws, lambda m: m["type"] != "heartbeat")
            assert error["type"] == "error", (raw, error)
            assert error["error"] and error["detail"], error
        await ws.send(b"\x00binary")
        await receive_until(ws, lambda m: m["type"] == "error")
        await send(ws, action="subscribe", channels=["prices:AAPL"])
        subscribed, _ = await receive_until(ws, lambda m: m["type"] == "subscribed")
        assert subscribed["channels"] == ["prices:AAPL"]
        await send(ws, action="unsubscribe", channels=["prices:AAPL"])
        subscribed, _ = await receive_until(ws, lambda m: m["type"] == "subscribed")
        assert subscribed["channels"] == []


async def test_an_order_placed_through_one_replica_streams_to_a_client_of_the_other(
    replicas: tuple[Server, Server], market: Market, trader: Trader
) -> None:
    one, two = replicas
    await market.set("RTREP", "50.00")
    async with connect(two.ws_url) as ws:
        token = trader.headers["Authorization"].removeprefix("Bearer ")
        await send(ws, action="auth", token=token)
        authenticated = await receive(ws)
        assert authenticated["type"] == "authenticated"
        assert authenticated["account_id"] == str(trader.id)
        await send(ws, action="subscribe", channels=["orders", "portfolio", "trades:RTREP"])
        await receive_until(ws, lambda m: m["type"] == "subscribed")
        start, _ = await receive_until(ws, lambda m: m["type"] == "portfolio")
        assert start["snapshot"] is True and start["portfolio"]["positions"] == []
        assert start["portfolio"]["cash"] == "100000.00"

        async with httpx.AsyncClient(base_url=one.http_url) as http:
            response = await http.post(
                "/trade/buy", json={"stock_symbol": "RTREP", "quantity": 3}, headers=trader.headers
            )
            assert response.status_code == 201, response.text
            placed = response.json()
            assert placed["status"] == "filled"

        held, before = await receive_until(
            ws, lambda m: m["type"] == "portfolio" and m["portfolio"]["positions"] != []
        )
        (position,) = held["portfolio"]["positions"]
        assert position["symbol"] == "RTREP" and position["qty"] == 3
        orders = [m["order"] for m in before if m["type"] == "order"]
        assert orders[-1] == placed
        (fill,) = [m for m in before if m["type"] == "fill"]
        assert fill["order_id"] == placed["id"] and fill["qty"] == 3 and fill["side"] == "buy"
        assert fill["price"] == placed["filled_avg_price"] and fill["symbol"] == "RTREP"
        (trade,) = [m for m in before if m["type"] == "trade"]
        assert trade["qty"] == 3 and trade["price"] == fill["price"]
        assert held["seq"] > start["seq"]


async def test_trades_channel_and_open_orders_snapshot(
    replicas: tuple[Server, Server], market: Market, new_trader: Callable[[], Trader]
) -> None:
    one, two = replicas
    await market.set("RTTRD", "20.00")
    buyer = new_trader()
    async with connect(one.ws_url) as ws, httpx.AsyncClient(base_url=two.http_url) as http:
        await send(ws, action="subscribe", channels=["trades:RTTRD"])
        await receive_until(ws, lambda m: m["type"] == "subscribed")
        resting = await http.post(
            "/orders",
            json={
                "symbol": "RTTRD",
                "qty": 2,
                "side": "buy",
                "type": "limit",
                "limit_price": "5.00",
                "time_in_force": "gtc",
            },
            headers=buyer.headers,
            params={"wait": "true"},
        )
        assert resting.status_code == 201, resting.text
        bought = await http.post(
            "/trade/buy", json={"stock_symbol": "RTTRD", "quantity": 4}, headers=buyer.headers
        )
        assert bought.status_code == 201, bought.text
        trade, _ = await receive_until(ws, lambda m: m["type"] == "trade")
        assert trade["symbol"] == "RTTRD" and trade["qty"] == 4
        assert trade["aggressor_side"] == "buy"
        assert trade["price"] == bought.json()["filled_avg_price"]

        # A new subscriber to `orders` first gets the open orders as they are.
        await send(ws, action="auth", token=buyer.headers["Authorization"][7:])
        await send(ws, action="subscribe", channels=["orders"])
        snapshot, _ = await receive_until(ws, lambda m: m["type"] == "order")
        assert snapshot["snapshot"] is True and snapshot["order"] == resting.json()


async def test_an_expired_token_closes_the_private_channels_only(
    replicas: tuple[Server, Server], market: Market, signing_key: SigningKey
) -> None:
    one, _ = replicas
    await market.set("RTEXP", "30.00")
    # Expired 8 s ago: still inside the verifier's 10 s leeway, so it expires 2 s from now.
    token = signing_key.token(uuid.uuid4(), exp=int(time.time()) - 8)
    async with connect(one.ws_url) as ws:
        await send(ws, action="auth", token=token)
        assert (await receive(ws))["type"] == "authenticated"
        await send(ws, action="subscribe", channels=["orders", "portfolio", "prices:RTEXP"])
        await receive_until(ws, lambda m: m["type"] == "subscribed")
        expired, _ = await receive_until(ws, lambda m: m["type"] == "error")
        assert expired["error"] == "token_expired"
        assert "orders" in expired["detail"] and "portfolio" in expired["detail"]
        remaining, _ = await receive_until(ws, lambda m: m["type"] == "subscribed")
        assert remaining["channels"] == ["prices:RTEXP"]
        await send(ws, action="subscribe", channels=["orders"])
        refused, _ = await receive_until(ws, lambda m: m["type"] == "error")
        assert refused["error"] == "unauthorized"
        await market.set("RTEXP", "31.00")
        price, _ = await receive_until(ws, lambda m: m["type"] == "price" and m["price"] == "31.00")
        assert price["symbol"] == "RTEXP"


async def test_a_token_of_another_issuer_is_refused(
    replicas: tuple[Server, Server], signing_key: SigningKey
) -> None:
    one, _ = replicas
    async with connect(one.ws_url) as ws:
        await send(ws, action="auth", token=signing_key.token(uuid.uuid4(), iss="someone-else"))
        error = await receive(ws)
        assert error["type"] == "error" and error["error"] == "unauthorized"


async def test_a_connection_that_closes_early_leaves_nothing_behind(
    replicas: tuple[Server, Server],
) -> None:
    one, _ = replicas
    hub = one.app.state.hub
    async with connect(one.ws_url) as ws:
        await send(ws, action="subscribe", channels=["prices:RTGONE"])
        await receive_until(ws, lambda m: m["type"] == "subscribed")
        assert "prices:RTGONE" in hub.subscribers
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(10):
            while True:  # what arrived before the close (a heartbeat) is still handed out
                await ws.recv()

    async def unsubscribed() -> bool:
        return "prices:RTGONE" not in hub.subscribers

    await until(unsubscribed, "the hub forgets the closed connection")
