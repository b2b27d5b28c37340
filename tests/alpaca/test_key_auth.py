"""API keys at the trading service: the key's account, refused at once when revoked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.api_keys import api_keys
from tests.alpaca.conftest import KeyHolder
from trading_service.alpaca.auth import Principal, authenticate_key
from trading_service.deps import Resources


def resources_of(app: FastAPI) -> Resources:
    resources: Resources = app.state.resources
    return resources


async def test_a_key_authenticates_as_its_account_until_revoked(
    trading_app: FastAPI, users: httpx.AsyncClient, holder: KeyHolder
) -> None:
    resources = resources_of(trading_app)
    principal = await authenticate_key(resources, holder.key_id, holder.secret)
    assert principal == Principal(holder.user_id, holder.user_id, holder.key_id)

    assert await authenticate_key(resources, holder.key_id, holder.secret + "x") is None
    assert await authenticate_key(resources, holder.key_id, "") is None
    assert await authenticate_key(resources, "PK" + "A" * 18, holder.secret) is None
    assert await authenticate_key(resources, "nul\x00key", holder.secret) is None

    revoked = await users.delete(f"/api-keys/{holder.key_id}", headers=holder.bearer)
    assert revoked.status_code == 204
    # No cache: the very next check reads the deletion.
    assert await authenticate_key(resources, holder.key_id, holder.secret) is None


async def test_last_used_is_written_at_most_once_a_minute(
    trading_app: FastAPI, db: AsyncEngine, holder: KeyHolder
) -> None:
    resources = resources_of(trading_app)

    async def last_used() -> datetime | None:
        async with db.connect() as conn:
            value: datetime | None = (
                await conn.execute(
                    select(api_keys.c.last_used_at).where(api_keys.c.key_id == holder.key_id)
                )
            ).scalar_one()
            return value

    assert await last_used() is None
    await authenticate_key(resources, holder.key_id, holder.secret)
    first = await last_used()
    assert first is not None
    await asyncio.sleep(0.05)
    await authenticate_key(resources, holder.key_id, holder.secret)
    assert await last_used() == first  # within the minute: not written again

    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    async with db.begin() as conn:
        await conn.execute(
            update(api_keys).where(api_keys.c.key_id == holder.key_id).values(last_used_at=long_ago)
        )
    await authenticate_key(resources, holder.key_id, holder.secret)
    refreshed = await last_used()
    assert refreshed is not None and refreshed > long_ago
