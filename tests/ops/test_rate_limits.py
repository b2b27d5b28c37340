"""Per-account limits: an account over its order or cancel rate gets 429 rate_limited with
Retry-After while another account trades on untouched; a user past the WebSocket cap is
refused with close code 4029. One trading API with low limits, on the session's servers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.live_server import serve
from tests.trading_fixtures import Market, Trader
from trading_service.app import create_app
from trading_service.config import TradingSettings
from trading_service.realtime.config import RealtimeSettings
from trading_service.realtime.connection import TOO_MANY_CONNECTIONS_CLOSE

SYMBOL = "RLIM"
ORDER_BURST = 5
CANCEL_BURST = 3
WS_PER_USER = 2


@dataclass
class Limited:
    http: httpx.AsyncClient
    ws_url: str


@pytest.fixture(scope="module")
async def limited(
    trading_settings: TradingSettings, engine: asyncio.Task[None], market: Market
) -> AsyncIterator[Limited]:
    settings = trading_settings.model_copy(
        update={
            "order_rate": 1.0,
            "order_burst": ORDER_BURST,
            "cancel_rate": 1.0,
            "cancel_burst": CANCEL_BURST,
        }
    )
    app = create_app(settings, RealtimeSettings(max_per_user=WS_PER_USER, heartbeat_s=30))
    await market.set(SYMBOL, "100.00")
    async with serve(app) as host, httpx.AsyncClient(base_url=f"http://{host}") as http:
        yield Limited(http, f"ws://{host}/ws")


def limit_buy(client_order_id: str | None = None) -> dict[str, object]:
    order: dict[str, object] = {
        "symbol": SYMBOL,
        "side": "buy",
        "type": "limit",
        "qty": 1,
        "limit_price": "50.00",
        "time_in_force": "gtc",
    }
    if client_order_id:
        order["client_order_id"] = client_order_id
    return order


async def test_an_account_over_its_order_rate_gets_429_and_another_is_not_slowed(
    limited: Limited, new_trader: Callable[[], Trader]
) -> None:
    greedy, other = new_trader(), new_trader()

    async def place(trader: Trader) -> httpx.Response:
        return await limited.http.post("/orders", json=limit_buy(), headers=trader.headers)

    # The greedy account sends three bursts' worth at once; the other its own full burst.
    answers = await asyncio.gather(
        *(place(greedy) for _ in range(3 * ORDER_BURST)),
        *(place(other) for _ in range(ORDER_BURST)),
    )
    greedy_answers, other_answers = answers[: 3 * ORDER_BURST], answers[3 * ORDER_BURST :]
    assert [r.status_code for r in other_answers] == [201] * ORDER_BURST, [
        r.text for r in other_answers
    ]
    placed = [r for r in greedy_answers if r.status_code == 201]
    refused = [r for r in greedy_answers if r.status_code == 429]
    # The bucket refills at 1/s: at most one more token while the burst is in flight.
    assert ORDER_BURST <= len(placed) <= ORDER_BURST + 1, [r.text for r in greedy_answers]
    assert len(placed) + len(refused) == len(greedy_answers)
    body = refused[0].json()
    assert body["error"] == "rate_limited" and "per second" in body["detail"]
    assert int(refused[0].headers["Retry-After"]) >= 1

    # Refused orders were never stored: only the placed ones exist.
    listed = await limited.http.get("/orders", headers=greedy.headers)
    assert len(listed.json()) == len(placed)
    # Reads are not limited, and after Retry-After the account may trade again.
    for _ in range(2 * ORDER_BURST):
        assert (await limited.http.get("/orders", headers=greedy.headers)).status_code == 200
    await asyncio.sleep(int(refused[0].headers["Retry-After"]) + 0.2)
    assert (await place(greedy)).status_code == 201


async def test_cancels_have_their_own_bucket(
    limited: Limited, new_trader: Callable[[], Trader]
) -> None:
    trader = new_trader()
    placed = await limited.http.post("/orders", json=limit_buy(), headers=trader.headers)
    assert placed.status_code == 201
    answers = [
        await limited.http.delete(f"/orders/{uuid.uuid4()}", headers=trader.headers)
        for _ in range(CANCEL_BURST)
    ]
    assert [r.status_code for r in answers] == [404] * CANCEL_BURST
    refused = await limited.http.delete(f"/orders/{placed.json()['id']}", headers=trader.headers)
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    # Placing draws from the order bucket, which the cancels did not touch.
    again = await limited.http.post("/orders", json=limit_buy(), headers=trader.headers)
    assert again.status_code == 201


async def test_a_user_past_the_websocket_cap_is_refused_with_4029(
    limited: Limited, trader: Trader, new_trader: Callable[[], Trader]
) -> None:
    token = trader.headers["Authorization"].removeprefix("Bearer ")

    async def authenticated(auth_token: str) -> tuple[ClientConnection, dict[str, Any]]:
        ws = await connect(limited.ws_url)
        await ws.send(json.dumps({"action": "auth", "token": auth_token}))
        return ws, json.loads(await asyncio.wait_for(ws.recv(), 20))

    held = []
    for _ in range(WS_PER_USER):
        ws, answer = await authenticated(token)
        assert answer["type"] == "authenticated", answer
        held.append(ws)
    extra, answer = await authenticated(token)
    assert answer["type"] == "error" and answer["error"] == "too_many_connections", answer
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(extra.recv(), 20)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == TOO_MANY_CONNECTIONS_CLOSE
    # Another user is not affected; a freed slot can be taken again.
    other = new_trader().headers["Authorization"].removeprefix("Bearer ")
    ws, answer = await authenticated(other)
    assert answer["type"] == "authenticated"
    await ws.close()
    await held.pop().close()
    await asyncio.sleep(0.5)
    ws, answer = await authenticated(token)
    assert answer["type"] == "authenticated", answer
    for connection in [*held, ws]:
        await connection.close()
