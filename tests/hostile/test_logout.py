"""Logging out revokes that token for the rest of its life: at the user service, the trading
API and its WebSocket; the user's other tokens keep working."""

from __future__ import annotations

import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.hostile.conftest import PASSWORD, fresh_address, new_user, user_service, user_settings
from tests.live_server import serve
from tests.trading_fixtures import until
from trading_service.app import create_app as create_trading_app
from trading_service.config import TradingSettings
from trading_service.session.cookies import CSRF_HEADER, SESSION_COOKIE


async def _token(users: httpx.AsyncClient, user: dict[str, Any]) -> str:
    response = await users.post("/login", json={"email": user["email"], "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _ws_auth(ws: ClientConnection, token: str) -> dict[str, Any]:
    """The answer to an auth message: `authenticated` or an error."""
    await ws.send(json.dumps({"action": "auth", "token": token}))
    while True:
        message: dict[str, Any] = json.loads(await ws.recv())
        if message.get("type") in ("authenticated", "error"):
            return message


async def test_logout_at_the_user_service_revokes_the_token_everywhere(
    trading: httpx.AsyncClient, hostile_trading_settings: TradingSettings
) -> None:
    settings = user_settings(register_max_per_ip=100, login_max_per_ip=100)
    async with (
        user_service(settings, fresh_address()) as (_, users),
        serve(create_trading_app(hostile_trading_settings)) as address,
        connect(f"ws://{address}/ws") as ws,
    ):
        user = new_user()
        assert (await users.post("/register", json=user)).status_code == 201
        token, other = await _token(users, user), await _token(users, user)
        assert token != other
        # Seen valid first, so the trading API has it in its cache when the logout comes.
        assert (await trading.get("/portfolio", headers=_bearer(token))).status_code == 200
        assert (await _ws_auth(ws, token))["type"] == "authenticated"

        assert (await users.post("/logout", headers=_bearer(token))).status_code == 204

        me = await users.get("/me", headers=_bearer(token))
        assert me.status_code == 401 and "revoked" in me.json()["detail"]
        assert (await users.post("/logout", headers=_bearer(token))).status_code == 401

        async def trading_refuses() -> bool:
            response = await trading.get("/portfolio", headers=_bearer(token))
            return response.status_code == 401

        await until(trading_refuses, what="the trading API refuses the logged-out token")
        refused = await _ws_auth(ws, token)
        assert refused["type"] == "error" and refused["error"] == "unauthorized", refused

        # Only that token: the user's other one still works everywhere.
        assert (await users.get("/me", headers=_bearer(other))).status_code == 200
        assert (await trading.get("/portfolio", headers=_bearer(other))).status_code == 200
        assert (await _ws_auth(ws, other))["type"] == "authenticated"


async def test_browser_sign_out_revokes_the_session_token(trading: httpx.AsyncClient) -> None:
    settings = user_settings(register_max_per_ip=100, login_max_per_ip=100)
    async with user_service(settings, fresh_address()) as (_, users):
        user = new_user()
        assert (await users.post("/register", json=user)).status_code == 201
        token = await _token(users, user)
        trading.cookies.set(SESSION_COOKIE, token)
        try:
            out = await trading.post("/session/logout", headers={CSRF_HEADER: "fetch"})
        finally:
            trading.cookies.clear()
        assert out.status_code == 204
        assert SESSION_COOKIE in out.headers["set-cookie"]  # cleared
        assert (await trading.get("/portfolio", headers=_bearer(token))).status_code == 401
        assert (await users.get("/me", headers=_bearer(token))).status_code == 401
