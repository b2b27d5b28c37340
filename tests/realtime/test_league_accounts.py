"""The WebSocket's private channels follow the account chosen in the auth message."""

from __future__ import annotations

import uuid

import httpx
from websockets.asyncio.client import connect

from tests.realtime.conftest import Server, receive_until, send
from tests.trading_fixtures import Market, SigningKey, Trader


async def test_private_channels_follow_the_chosen_league_account(
    replicas: tuple[Server, Server], market: Market, trader: Trader, signing_key: SigningKey
) -> None:
    one, _ = replicas
    await market.set("RTLG", "10.00")
    admin = {"Authorization": f"Bearer {signing_key.token(uuid.uuid4(), role='admin')}"}
    async with httpx.AsyncClient(base_url=one.http_url) as http:
        league = (
            await http.post(
                "/leagues", json={"name": "ws", "starting_cash": "700.00"}, headers=admin
            )
        ).json()
        joined = await http.post(
            "/leagues/join", json={"invite_code": league["invite_code"]}, headers=trader.headers
        )
        account = joined.json()
    token = trader.headers["Authorization"].removeprefix("Bearer ")
    async with connect(one.ws_url) as ws:
        await send(ws, action="auth", token=token, account_id=str(uuid.uuid4()))
        refused, _ = await receive_until(ws, lambda m: m["type"] in ("error", "authenticated"))
        assert refused["type"] == "error" and refused["error"] == "not_found"
        await send(ws, action="auth", token=token, account_id=account["id"])
        authenticated, _ = await receive_until(ws, lambda m: m["type"] == "authenticated")
        assert authenticated["account_id"] == account["id"]
        await send(ws, action="subscribe", channels=["portfolio"])
        start, _ = await receive_until(ws, lambda m: m["type"] == "portfolio")
        assert start["portfolio"]["cash"] == "700.00"
        await send(ws, action="auth", token=token)  # back to the personal account
        personal, _ = await receive_until(ws, lambda m: m["type"] == "authenticated")
        assert personal["account_id"] == str(trader.id)
