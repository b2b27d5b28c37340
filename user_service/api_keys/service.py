"""Issuing and revoking a user's API keys."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.api_keys import hash_secret, new_key_id, new_secret, personal_account
from shared.errors import Conflict, NotFound, UnprocessableEntity
from user_service.api_keys import repository
from user_service.api_keys.schemas import CreatedKey, CreateKeyRequest, KeyOut


async def create(
    conn: AsyncConnection, pepper: str, user_id: uuid.UUID, request: CreateKeyRequest
) -> CreatedKey:
    account_id = request.account_id or personal_account(user_id)
    if account_id != personal_account(user_id) and not await repository.owns_account(
        conn, user_id, account_id
    ):
        raise UnprocessableEntity("account_id: a key can only be bound to an account of yours")
    if await repository.count(conn, user_id) >= repository.MAX_KEYS_PER_USER:
        raise Conflict(f"at most {repository.MAX_KEYS_PER_USER} API keys per user; revoke one")
    key_id, secret = new_key_id(), new_secret()
    stored = await repository.add(
        conn,
        key_id=key_id,
        user_id=user_id,
        account_id=account_id,
        label=request.label,
        secret_hash=hash_secret(pepper, key_id, secret),
    )
    return CreatedKey(
        key_id=key_id,
        secret_key=secret,
        label=stored.label,
        account_id=stored.account_id,
        created_at=stored.created_at,
    )


async def list_keys(conn: AsyncConnection, user_id: uuid.UUID) -> list[KeyOut]:
    return await repository.list_for(conn, user_id)


async def revoke(conn: AsyncConnection, user_id: uuid.UUID, key_id: str) -> None:
    # Another user's key answers as a missing one: ids are not confirmed to strangers.
    if not await repository.remove(conn, user_id, key_id):
        raise NotFound("no such API key")
