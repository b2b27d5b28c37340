"""The sign-up password policy: length, common passwords, no name in it; old users still log in."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from tests.user_service.conftest import login, new_user
from user_service.app import create_app
from user_service.config import UserSettings
from user_service.deps import Resources
from user_service.password_policy import WeakPassword, check_password, common_passwords
from user_service.tables import users


def test_the_blocklist_holds_the_ten_thousand_most_common_passwords() -> None:
    listed = common_passwords()
    assert len(listed) == 10_000
    assert {"password", "123456", "qwerty", "letmein", "iloveyou"} <= listed


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short-pw9", "at least 10 characters"),
        ("password", "at least 10 characters"),
        ("1234567890", "most common"),
        ("qwertyuiop", "most common"),
        ("Password2024!", "most common"),  # a common word with a suffix guessers try first
        ("FOOTBALL_123", "most common"),
        ("zzzzzzzzzzzz", "one repeated character"),
        ("my-alice_w-secret", "user name or email"),
        ("alice.w@example.com", "user name or email"),
    ],
)
def test_weak_passwords_are_refused_with_the_rule_they_break(password: str, rule: str) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_password(password, username="alice_w", email="alice.w@example.com")
    assert rule in refused.value.detail
    assert password not in refused.value.detail


@pytest.mark.parametrize(
    "password", ["correct horse battery", "plum-kettle-orbit-42", "Tr4ding-D3sk!", "a" * 9 + "b"]
)
def test_strong_passwords_pass(password: str) -> None:
    check_password(password, username="alice_w", email="alice.w@example.com")


@pytest.mark.parametrize(
    ("password", "rule"),
    [("password", "at least 10 characters"), ("password1234", "most common")],
)
async def test_registering_a_weak_password_is_422_weak_password_and_stores_nothing(
    client: httpx.AsyncClient, resources: Resources, password: str, rule: str
) -> None:
    data = new_user(password=password)
    response = await client.post("/register", json=data)

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "weak_password"
    assert rule in body["detail"] and body["detail"][0].isupper()
    async with resources.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(users).where(users.c.username == data["username"])
        )
    assert count == 0


async def test_refused_passwords_do_not_use_up_the_sign_up_limit(stack: Any) -> None:
    # A person retrying in the form (a classroom shares one address) still gets their turn.
    app = create_app(UserSettings(register_max_per_ip=2))
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://user-service") as client,
    ):
        for weak in ["password", "iloveyou2024", "letmein!!!!!"]:
            assert (await client.post("/register", json=new_user(password=weak))).status_code == 422
        for _ in range(2):
            assert (await client.post("/register", json=new_user())).status_code == 201
        assert (await client.post("/register", json=new_user())).status_code == 429


async def test_a_user_whose_password_predates_the_policy_still_logs_in(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    name = f"old_{uuid.uuid4().hex[:12]}"
    email = f"{name}@example.com"
    weak_hash = await resources.hasher.hash("password")
    async with resources.engine.begin() as conn:
        await conn.execute(
            insert(users).values(
                id=uuid.uuid4(), username=name, email=email, password_hash=weak_hash
            )
        )
    assert await login(client, email, "password")
    by_name = await client.post("/login", json={"username": name, "password": "password"})
    assert by_name.status_code == 200, by_name.text
