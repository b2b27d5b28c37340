"""API keys at the user service: created with the secret once, listed without it, revoked."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.api_keys import api_keys, hash_secret
from tests.user_service.conftest import login, register
from user_service.deps import Resources


async def bearer(client: httpx.AsyncClient) -> tuple[uuid.UUID, dict[str, str]]:
    user = await register(client)
    token = await login(client, user["email"])
    return uuid.UUID(user["id"]), {"Authorization": f"Bearer {token}"}


async def stored_keys(engine: AsyncEngine, user_id: uuid.UUID) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(api_keys).where(api_keys.c.user_id == user_id))
        return [dict(row._mapping) for row in rows]


async def test_a_key_is_created_listed_without_its_secret_and_revoked(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    user_id, headers = await bearer(client)
    first = await client.post("/api-keys", json={"label": "momentum bot"}, headers=headers)
    second = await client.post("/api-keys", json={"label": "maker"}, headers=headers)
    assert first.status_code == second.status_code == 201, first.text
    created = first.json()
    assert created["key_id"].startswith("PK") and len(created["key_id"]) == 20
    assert len(created["secret_key"]) == 40
    assert created["label"] == "momentum bot"
    assert created["account_id"] == str(user_id)  # the personal account by default

    rows = await stored_keys(resources.engine, user_id)
    assert len(rows) == 2
    [row] = [r for r in rows if r["key_id"] == created["key_id"]]
    # Only the keyed hash is stored, never the secret.
    assert row["secret_hash"] == hash_secret(
        resources.settings.api_key_pepper, created["key_id"], created["secret_key"]
    )
    assert created["secret_key"].encode() not in bytes(row["secret_hash"])  # type: ignore[arg-type]

    listed = await client.get("/api-keys", headers=headers)
    assert listed.status_code == 200
    assert [k["label"] for k in listed.json()] == ["momentum bot", "maker"]
    assert "secret_key" not in listed.text and created["secret_key"] not in listed.text
    assert listed.json()[0]["last_used_at"] is None

    revoked = await client.delete(f"/api-keys/{created['key_id']}", headers=headers)
    assert revoked.status_code == 204
    assert [k["label"] for k in (await client.get("/api-keys", headers=headers)).json()] == [
        "maker"
    ]
    again = await client.delete(f"/api-keys/{created['key_id']}", headers=headers)
    assert again.status_code == 404


async def test_another_users_key_cannot_be_seen_or_revoked(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    owner_id, owner = await bearer(client)
    _, stranger = await bearer(client)
    key = (await client.post("/api-keys", json={"label": "mine"}, headers=owner)).json()
    assert (await client.get("/api-keys", headers=stranger)).json() == []
    refused = await client.delete(f"/api-keys/{key['key_id']}", headers=stranger)
    assert refused.status_code == 404
    assert len(await stored_keys(resources.engine, owner_id)) == 1


async def test_bad_requests_store_nothing(client: httpx.AsyncClient, resources: Resources) -> None:
    user_id, headers = await bearer(client)
    for body in (
        {},
        {"label": ""},
        {"label": "x" * 65},
        {"label": "nul\x00byte"},
        {"label": "bot", "account_id": str(uuid.uuid4())},  # not the user's account
        {"label": "bot", "account_id": "not-a-uuid"},
        {"label": "bot", "extra": 1},
    ):
        response = await client.post("/api-keys", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
    assert (await client.post("/api-keys", json={"label": "bot"})).status_code == 401
    assert await stored_keys(resources.engine, user_id) == []


async def test_a_key_may_name_the_personal_account(client: httpx.AsyncClient) -> None:
    user_id, headers = await bearer(client)
    created = await client.post(
        "/api-keys", json={"label": "bot", "account_id": str(user_id)}, headers=headers
    )
    assert created.status_code == 201 and created.json()["account_id"] == str(user_id)
