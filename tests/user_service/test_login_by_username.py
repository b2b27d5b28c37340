"""POST /login by user name as well as by email: the same account, the same limits."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared.tokens import TokenVerifier
from tests.user_service.conftest import PASSWORD, register, serving
from user_service.config import UserSettings


async def _sub(client: httpx.AsyncClient, settings: UserSettings, body: dict[str, str]) -> str:
    response = await client.post("/login", json=body)
    assert response.status_code == 200, response.text
    jwks = (await client.get("/.well-known/jwks.json")).json()
    verifier = TokenVerifier(jwks, settings.jwt_issuer, settings.jwt_audience)
    return str(verifier.verify(response.json()["access_token"]).sub)


async def test_username_field_logs_in_the_same_account_as_email(
    client: httpx.AsyncClient, settings: UserSettings
) -> None:
    user = await register(client)
    by_email = await _sub(client, settings, {"email": user["email"], "password": PASSWORD})
    by_name = await _sub(client, settings, {"username": user["username"], "password": PASSWORD})
    upper = await _sub(
        client, settings, {"username": user["username"].upper(), "password": PASSWORD}
    )
    assert by_email == by_name == upper == user["id"]


async def test_the_email_field_also_takes_a_user_name(
    client: httpx.AsyncClient, settings: UserSettings
) -> None:
    # One "email or user name" box in a form sends whatever was typed as `email`.
    user = await register(client)
    sub = await _sub(client, settings, {"email": user["username"], "password": PASSWORD})
    assert sub == user["id"]


async def test_wrong_password_by_user_name_looks_like_an_unknown_user(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    wrong = await client.post(
        "/login", json={"username": user["username"], "password": "not the password"}
    )
    unknown = await client.post(
        "/login", json={"username": f"nobody_{uuid.uuid4().hex[:8]}", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com", "username": "alice_w", "password": PASSWORD},
        {"username": "", "password": PASSWORD},
        {"username": "alice\x00", "password": PASSWORD},
        {"username": None, "password": PASSWORD},
    ],
)
async def test_both_or_a_bad_identifier_is_422(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/login", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


async def test_guesses_count_per_account_whichever_name_is_typed(stack: Any) -> None:
    async with serving(
        UserSettings(login_max_per_email=3, login_max_per_ip=10**6, register_max_per_ip=10**6)
    ) as client:
        user = await register(client)
        for body in [
            {"email": user["email"], "password": "wrong one"},
            {"username": user["username"], "password": "wrong two"},
            {"email": user["username"].upper(), "password": "wrong three"},
        ]:
            assert (await client.post("/login", json=body)).status_code == 401
        # The fourth attempt, by either name and even with the right password, is refused.
        locked = await client.post(
            "/login", json={"username": user["username"], "password": PASSWORD}
        )
        assert locked.status_code == 429
        assert locked.json()["error"] == "too_many_requests"
