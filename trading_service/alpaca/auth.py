"""API-key authentication (APCA-API-KEY-ID / APCA-API-SECRET-KEY) for /v2 and the streams.

The key is read from the shared database on every request, so a key revoked at the user
service is refused from the next request on, by every replica, with no cache to invalidate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from shared.api_keys import api_keys, looks_like_key_id, secret_matches
from trading_service.deps import Resources
from trading_service.orders import repository

# last_used_at is written at most this often per key: one UPDATE a minute, not one a request.
LAST_USED_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an API key speaks for: the user who made it and the one account it trades."""

    user_id: uuid.UUID
    account_id: uuid.UUID
    key_id: str


async def authenticate_key(resources: Resources, key_id: str, secret: str) -> Principal | None:
    """The key's principal, or None for an unknown, revoked or wrong key (one answer for all).

    Also refuses keys of deleted users (401/503 from DeletedUsers.check, as for tokens) and
    makes sure the key's account exists, with the starting cash, as the JWT path does.
    """
    if not looks_like_key_id(key_id) or not secret or len(secret) > 256:
        return None
    async with resources.db.connect() as conn:
        row = (
            await conn.execute(
                select(
                    api_keys.c.user_id,
                    api_keys.c.account_id,
                    api_keys.c.secret_hash,
                    api_keys.c.last_used_at,
                    func.now().label("now"),
                ).where(api_keys.c.key_id == key_id)
            )
        ).one_or_none()
    if row is None or not secret_matches(
        resources.settings.api_key_pepper, key_id, secret, row.secret_hash
    ):
        return None
    await resources.deleted_users.check(row.user_id)
    if _stale(row.last_used_at, row.now) or row.account_id not in resources.known_accounts:
        async with resources.db.begin() as conn:
            await repository.ensure_account(conn, row.account_id, resources.settings.starting_cash)
            if _stale(row.last_used_at, row.now):
                await conn.execute(
                    update(api_keys)
                    .where(api_keys.c.key_id == key_id)
                    .values(last_used_at=func.now())
                )
        resources.known_accounts.add(row.account_id)
    return Principal(user_id=row.user_id, account_id=row.account_id, key_id=key_id)


def _stale(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or (now - last_used_at).total_seconds() >= LAST_USED_EVERY_S
