"""The role claim: the first user and those named by USER_ADMIN_EMAILS are administrators."""

from __future__ import annotations

import uuid

import httpx
import jwt
from sqlalchemy import text

from devstack.stack import Stack
from tests.user_service.conftest import login, register, serving
from user_service.config import UserSettings
from user_service.deps import Resources


async def _role(client: httpx.AsyncClient, email: str) -> str:
    # The signature is covered by test_login; here only the claim matters.
    role: str = jwt.decode(await login(client, email), options={"verify_signature": False})["role"]
    return role


async def test_a_named_email_is_an_administrator_and_others_are_users(stack: Stack) -> None:
    boss = f"boss_{uuid.uuid4().hex[:10]}@example.com"
    settings = UserSettings(
        admin_emails=[boss.upper()], register_max_per_ip=1_000_000, login_max_per_ip=1_000_000
    )
    async with serving(settings) as client:
        await register(client, email=boss)
        plain = await register(client)
        assert await _role(client, boss) == "admin"
        assert await _role(client, plain["email"]) == "user"


async def test_the_first_registered_user_is_an_administrator(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    first, later = await register(client), await register(client)
    async with resources.engine.begin() as conn:
        # Stands in for a fresh system: this user now registered before everyone else.
        await conn.execute(
            text("UPDATE users SET created_at = '1970-01-01T00:00:00Z' WHERE id = :id"),
            {"id": first["id"]},
        )
    try:
        assert await _role(client, first["email"]) == "admin"
        assert await _role(client, later["email"]) == "user"
    finally:
        async with resources.engine.begin() as conn:
            await conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": first["id"]})
