"""Candles (endpoint, channel, persistence across restarts) and the slow-consumer cut-off."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.uri import parse_uri

from tests.realtime.conftest import (
    Server,
    realtime_settings,
    receive_until,
    send,
    serve,
)
from tests.trading_fixtures import Market, Trader, until
from trading_service.config import TradingSettings
from trading_service.realtime.connection import SLOW_CONSUMER_CLOSE
from trading_service.tables import candles

pytestmark = pytest.mark.slow


async def test_candles_are_built_served_and_survive_a_restart(
    replicas: tuple[Server, Server],
    market: Market,
    trader: Trader,
    db: AsyncEngine,
    trading_settings: TradingSettings,
) -> None:
    one, _ = replicas
    async with connect(one.ws_url) as ws:
        await send(ws, action="subscribe", channels=["candles:RTCDL:1d"])
        await receive_until(ws, lambda m: m["type"] == "subscribed")
        for price in ("40.00", "42.00", "39.50", "41.00"):
            await market.set("RTCDL", price)
        pushed, _ = await receive_until(
            ws, lambda m: m["type"] == "candle" and m["close"] == "41.00"
        )
    # One UTC day holds all four ticks (1d bars), so the bar is fully determined.
    assert pushed | {"open": "40.00", "high": "42.00", "low": "39.50"} == pushed

    async with httpx.AsyncClient(base_url=one.http_url) as http:
        bought = await http.post(
            "/trade/buy", json={"stock_symbol": "RTCDL", "quantity": 7}, headers=trader.headers
        )
        assert bought.status_code == 201, bought.text

        async def volume_counted() -> bool:
            bars = (await http.get("/candles/rtcdl", params={"interval": "1d"})).json()
            return bool(bars) and bars[-1]["volume"] == 7

        await until(volume_counted, "the trade's volume is in the bar")
        (bar,) = (await http.get("/candles/RTCDL", params={"interval": "1d", "limit": 5})).json()
        assert bar | {"open": "40.00", "high": "42.00", "low": "39.50", "close": "41.00"} == bar

        assert (await http.get("/candles/RTCDL", params={"interval": "7m"})).status_code == 422
        assert (await http.get("/candles/RTCDL", params={"limit": 0})).status_code == 422
        assert (await http.get("/candles/NOSUCH")).json() == []
        before = await http.get("/candles/RTCDL", params={"interval": "1d", "end": bar["start"]})
        assert before.json() == []

    async def stored() -> bool:
        async with db.connect() as conn:
            row = (
                await conn.execute(
                    select(candles).where(candles.c.symbol == "RTCDL", candles.c.interval == "1d")
                )
            ).one_or_none()
        return row is not None and row.volume == 7 and str(row.close) == "41.00"

    await until(stored, "the bar is in Postgres")
    # A replica started now has seen none of these ticks: it serves the bar from Postgres.
    async with (
        serve(trading_settings, realtime_settings()) as fresh,
        httpx.AsyncClient(base_url=fresh.http_url) as http,
    ):
        again = (await http.get("/candles/RTCDL", params={"interval": "1d"})).json()
    assert again == [bar]


@pytest.mark.parametrize("slow_query", ["", "?batch=true"])
async def test_a_slow_client_is_told_and_disconnected_while_others_keep_up(
    trading_settings: TradingSettings, market: Market, slow_query: str
) -> None:
    # Grace enough for this test to read what was waiting, then the error.
    settings = realtime_settings(send_queue=50, close_grace_s=10.0)
    async with serve(trading_settings, settings) as server:
        hub = server.app.state.hub
        async with connect(server.ws_url) as fast:
            # Then never reads; batched or not, what waits for it is bounded the same way.
            slow = await asyncio.to_thread(_silent_client, server.ws_url + slow_query)
            await send(fast, action="subscribe", channels=["prices:RTSLOW"])
            await receive_until(fast, lambda m: m["type"] == "subscribed")
            await until(
                lambda: _is(len(hub.subscribers.get("prices:RTSLOW", ())) == 2),
                "both subscribed",
            )
            port = slow[0].getsockname()[1]
            slow_conn = next(c for c in hub.connections if c.websocket.client.port == port)
            publishing = asyncio.create_task(
                _publish_ticks(trading_settings.redis_url, "RTSLOW", 3000)
            )
            await until(
                lambda: _is(slow_conn not in hub.connections),
                "the slow client is dropped",
            )
            assert slow_conn.closed
            # Told: it gets what was already on its way, then the error, then the close.
            messages, close_code = await asyncio.to_thread(_read_until_closed, *slow)
            assert messages[-1]["error"] == "slow_consumer", messages[-1]
            assert close_code == SLOW_CONSUMER_CLOSE
            last = await publishing
            await receive_until(fast, lambda m: m.get("seq") == last)
            assert hub.subscribers["prices:RTSLOW"] == {
                c for c in hub.connections if c is not slow_conn
            }
            # The fast client is still connected and served.
            await send(fast, action="unsubscribe", channels=["prices:RTSLOW"])
            subscribed, _ = await receive_until(fast, lambda m: m["type"] == "subscribed")
            assert subscribed["channels"] == []
            slow[0].close()


def _silent_client(ws_url: str) -> tuple[socket.socket, ClientProtocol]:
    """A WebSocket client with a tiny receive buffer that subscribes and then never reads."""
    protocol = ClientProtocol(parse_uri(ws_url))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no autotune
    host, port = ws_url.removeprefix("ws://").split("/")[0].split(":")
    sock.connect((host, int(port)))
    protocol.send_request(protocol.connect())
    sock.sendall(b"".join(protocol.data_to_send()))
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)  # exactly the handshake, nothing after it
    assert response.startswith(b"HTTP/1.1 101"), response
    protocol.receive_data(response)
    protocol.send_text(json.dumps({"action": "subscribe", "channels": ["prices:RTSLOW"]}).encode())
    sock.sendall(b"".join(protocol.data_to_send()))
    return sock, protocol


def _read_until_closed(
    sock: socket.socket, protocol: ClientProtocol
) -> tuple[list[dict[str, Any]], int | None]:
    """Everything the server sent, up to its close frame, and the close code."""
    sock.settimeout(30)
    messages: list[dict[str, Any]] = []
    while data := sock.recv(65536):
        protocol.receive_data(data)
        for frame in protocol.events_received():
            if isinstance(frame, Frame) and frame.opcode is Opcode.TEXT:
                parsed = json.loads(bytes(frame.data))
                messages.extend(parsed if isinstance(parsed, list) else [parsed])
            elif isinstance(frame, Frame) and frame.opcode is Opcode.CLOSE:
                return messages, Close.parse(frame.data).code
    return messages, None


async def _is(value: bool) -> bool:
    return value


async def _publish_ticks(redis_url: str, symbol: str, n: int) -> int:
    """Publish like the price cache does (bypassing Kafka, big ticks), 20 at a time; last seq."""
    redis = Redis.from_url(redis_url)
    base = int(time.time() * 1000)
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    try:
        for chunk in range(0, n, 20):
            async with redis.pipeline(transaction=False) as pipe:
                for i in range(chunk, min(n, chunk + 20)):
                    tick = {"symbol": symbol, "price": "10.00", "ts": ts, "seq": base + i}
                    pipe.publish("prices", json.dumps(tick | {"note": "x" * 8000}))
                await pipe.execute()
            await asyncio.sleep(0.005)  # a burst per "tick", like the stock service's
    finally:
        await redis.aclose()
    return base + n - 1
