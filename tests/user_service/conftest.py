"""A running user service (lifespan included) on the session's real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from devstack.stack import Stack
from user_service.app import create_app
from user_service.config import UserSettings
from user_service.deps import Resources

PASSWORD = "correct horse battery"


@pytest.fixture
def settings(stack: Stack) -> UserSettings:
    # Every test signs up from the same address; tests/hostile checks the per-address limits.
    return UserSettings(register_max_per_ip=1_000_000, login_max_per_ip=1_000_000)


@asynccontextmanager
async def serving(settings: UserSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a freshly started app, for tests that start and stop it themselves."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://user-service"
        ) as client,
    ):
        yield client


@pytest.fixture
async def app(settings: UserSettings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://user-service") as client:
        yield client


@pytest.fixture
def resources(app: FastAPI) -> Resources:
    resources: Resources = app.state.resources
    return resources


def new_user(**changes: Any) -> dict[str, Any]:
    """Registration data no other test uses: the database lives as long as the session."""
    name = f"trader_{uuid.uuid4().hex[:12]}"
    return {"username": name, "email": f"{name}@example.com", "password": PASSWORD} | changes


async def register(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    data = new_user(**changes)
    response = await client.post("/register", json=data)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body | {"password": data["password"]}


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token
