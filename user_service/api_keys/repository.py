"""All SQL on the `api_keys` table from the user service's side."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.api_keys import api_keys
from user_service.api_keys.schemas import KeyOut

# Bounds what one user can pile up (each key is a row to scan on listing).
MAX_KEYS_PER_USER = 50


async def count(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    statement = select(func.count()).select_from(api_keys).where(api_keys.c.user_id == user_id)
    return int((await conn.execute(statement)).scalar_one())


async def owns_account(conn: AsyncConnection, user_id: uuid.UUID, account_id: uuid.UUID) -> bool:
    """Whether `account_id` is an account of the user's own besides the personal one.

    Accounts of one's own (league accounts, `accounts.user_id`) come with the leagues
    migration; before it the column does not exist and no such account can be named.
    """
    try:
        async with conn.begin_nested():
            found = await conn.execute(
                text("SELECT 1 FROM accounts WHERE id = :account AND user_id = :user"),
                {"account": account_id, "user": user_id},
            )
            return found.first() is not None
    except ProgrammingError:
        return False  # no accounts.user_id column (yet): only the personal account exists


async def add(
    conn: AsyncConnection,
    *,
    key_id: str,
    user_id: uuid.UUID,
    account_id: uuid.UUID,
    label: str,
    secret_hash: bytes,
) -> KeyOut:
    statement = (
        insert(api_keys)
        .values(
            key_id=key_id,
            user_id=user_id,
            account_id=account_id,
            label=label,
            secret_hash=secret_hash,
        )
        .returning(*_PUBLIC)
    )
    return KeyOut.model_validate((await conn.execute(statement)).one()._asdict())


async def list_for(conn: AsyncConnection, user_id: uuid.UUID) -> list[KeyOut]:
    statement = (
        select(*_PUBLIC)
        .where(api_keys.c.user_id == user_id)
        .order_by(api_keys.c.created_at, api_keys.c.key_id)
    )
    return [KeyOut.model_validate(row._asdict()) for row in await conn.execute(statement)]


async def remove(conn: AsyncConnection, user_id: uuid.UUID, key_id: str) -> bool:
    statement = (
        delete(api_keys)
        .where(api_keys.c.user_id == user_id, api_keys.c.key_id == key_id)
        .returning(api_keys.c.key_id)
    )
    return (await conn.execute(statement)).one_or_none() is not None


_PUBLIC = (
    api_keys.c.key_id,
    api_keys.c.label,
    api_keys.c.account_id,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
)
