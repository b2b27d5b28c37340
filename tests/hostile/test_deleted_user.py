"""A deleted user's tokens stop working: at once at the user service, within seconds at trading."""

from __future__ import annotations

import httpx

from shared.deleted_users import DELETED_USERS_KEY
from tests.hostile.conftest import (
    PASSWORD,
    fresh_address,
    new_user,
    user_service,
    user_settings,
)
from tests.trading_fixtures import until


async def _register_and_login(client: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    data = new_user()
    created = await client.post("/register", json=data)
    assert created.status_code == 201, created.text
    login = await client.post("/login", json={"email": data["email"], "password": PASSWORD})
    assert login.status_code == 200, login.text
    return created.json(), login.json()["access_token"]


async def test_token_of_a_deleted_user_is_refused_everywhere(
    trading: httpx.AsyncClient,
) -> None:
    async with user_service(user_settings(), fresh_address()) as (app, users):
        user, token = await _register_and_login(users)
        auth = {"Authorization": f"Bearer {token}"}
        # The trading service accepts the user's token while the user exists.
        assert (await trading.get("/portfolio", headers=auth)).status_code == 200

        deleted = await users.request("DELETE", "/me", json={"password": PASSWORD}, headers=auth)
        assert deleted.status_code == 204, deleted.text
        assert await app.state.resources.redis.sismember(DELETED_USERS_KEY, user["id"])

        me = await users.get("/me", headers=auth)
        assert me.status_code == 401
        assert me.json()["error"] == "unauthorized"
        relogin = await users.post("/login", json={"email": user["email"], "password": PASSWORD})
        assert relogin.status_code == 401

    async def refused() -> bool:
        response = await trading.get("/portfolio", headers=auth)
        assert response.status_code in (200, 401), response.text
        return response.status_code == 401

    # Within the trading service's re-check interval (2 s), not at the token's expiry.
    await until(refused, what="the trading service refuses the deleted user's token", timeout_s=5)
    response = await trading.post(
        "/orders", json={"symbol": "AAPL", "qty": 1, "side": "buy"}, headers=auth
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "detail": "the token's user no longer exists",
    }


async def test_deleting_needs_the_password_and_a_token() -> None:
    async with user_service(user_settings(), fresh_address()) as (_, users):
        user, token = await _register_and_login(users)
        auth = {"Authorization": f"Bearer {token}"}
        wrong = await users.request("DELETE", "/me", json={"password": "not it"}, headers=auth)
        assert wrong.status_code == 401
        no_token = await users.request("DELETE", "/me", json={"password": PASSWORD})
        assert no_token.status_code == 401
        no_body = await users.request("DELETE", "/me", headers=auth)
        assert no_body.status_code == 422
        # Still there: none of the above deleted anything.
        assert (await users.get("/me", headers=auth)).json()["id"] == user["id"]
