"""A user service to make API keys at, next to the session's trading service and engine."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from devstack.stack import Stack
from tests.user_service.conftest import login, register
from user_service.app import create_app
from user_service.config import UserSettings


@pytest.fixture(scope="session")
async def users(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(UserSettings(register_max_per_ip=1_000_000, login_max_per_ip=1_000_000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://users") as c,
    ):
        yield c


@dataclass
class KeyHolder:
    user_id: uuid.UUID
    token: str  # the user service's access token, for /api-keys
    key_id: str
    secret: str

    @property
    def key_headers(self) -> dict[str, str]:
        return {"APCA-API-KEY-ID": self.key_id, "APCA-API-SECRET-KEY": self.secret}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def new_key_holder(users: httpx.AsyncClient, label: str = "bot") -> KeyHolder:
    """A new user with one API key, made through the user service's HTTP API."""
    user = await register(users)
    token = await login(users, user["email"])
    created = await users.post(
        "/api-keys", json={"label": label}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    return KeyHolder(uuid.UUID(user["id"]), token, body["key_id"], body["secret_key"])


@pytest.fixture
async def holder(users: httpx.AsyncClient) -> KeyHolder:
    return await new_key_holder(users)
