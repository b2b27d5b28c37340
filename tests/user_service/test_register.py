"""POST /register: creates a user once, never shows the password, refuses bad input with 4xx."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.user_service.conftest import PASSWORD, new_user, register
from user_service.deps import Resources
from user_service.tables import users


async def stored(resources: Resources, username: str) -> list[dict[str, Any]]:
    async with resources.engine.connect() as conn:
        rows = await conn.execute(
            select(users).where(func.lower(users.c.username) == username.lower())
        )
        return [dict(row._mapping) for row in rows]


async def test_register_returns_the_user_without_the_password(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    data = new_user()
    response = await client.post("/register", json=data)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "username", "email", "created_at"}
    assert uuid.UUID(body["id"])
    assert (body["username"], body["email"]) == (data["username"], data["email"])
    assert PASSWORD not in response.text and "argon2" not in response.text
    [row] = await stored(resources, data["username"])
    assert row["id"] == uuid.UUID(body["id"])
    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]


async def test_email_is_stored_lowercased(client: httpx.AsyncClient, resources: Resources) -> None:
    data = new_user()
    mixed_case = data["email"].replace("trader_", "Trader_").replace("example.com", "Example.COM")
    body = await register(client, username=data["username"], email=mixed_case)
    assert body["email"] == data["email"]
    [row] = await stored(resources, data["username"])
    assert row["email"] == data["email"]


@pytest.mark.parametrize(
    ("field", "change"),
    [("email", str), ("email", str.upper), ("username", str), ("username", str.upper)],
)
async def test_duplicate_email_or_username_is_a_conflict(
    client: httpx.AsyncClient, field: str, change: Any
) -> None:
    first = await register(client)
    again = new_user(**{field: change(first[field])})
    response = await client.post("/register", json=again)
    assert response.status_code == 409
    what = {"email": "This email", "username": "This user name"}[field]
    assert response.json() == {"error": "conflict", "detail": f"{what} is already registered"}


async def test_concurrent_registrations_of_one_email_create_one_user(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    email = new_user()["email"]
    attempts = [new_user(email=email) for _ in range(10)]
    responses = await asyncio.gather(*(client.post("/register", json=a) for a in attempts))

    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 9
    async with resources.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(users).where(users.c.email == email)
        )
    assert count == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"email": "not-an-email"},
        {"email": "trader@"},
        {"username": "ab"},
        {"username": "a" * 33},
        {"username": "john doe"},
        {"username": "jöhn"},
        {"username": "john@doe"},
        {"password": ""},
        {"password": "p" * 129},
        {"password": 12345678},
        {"username": None},
    ],
)
async def test_invalid_registration_is_422_and_creates_nothing(
    client: httpx.AsyncClient, resources: Resources, changes: dict[str, Any]
) -> None:
    data = {k: v for k, v in new_user(**changes).items() if v is not None}
    response = await client.post("/register", json=data)

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["detail"] and all("loc" in d and "msg" in d for d in body["detail"])
    if isinstance(data.get("username"), str):
        assert await stored(resources, data["username"]) == []


async def test_validation_error_does_not_echo_the_password(client: httpx.AsyncClient) -> None:
    response = await client.post("/register", json=new_user(password="tiny"))
    assert response.status_code == 422
    assert "tiny" not in response.text


@pytest.mark.parametrize("content", [b"{not json", b"", b"[]", b'"john"', b"null"])
async def test_malformed_body_is_422(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(
        "/register", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
