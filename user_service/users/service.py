"""Registering users and looking them up."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import Conflict
from user_service.passwords import PasswordHasher
from user_service.users.repository import DuplicateUser, UserRecord, UserRepository
from user_service.users.schemas import RegisterRequest

log = logging.getLogger(__name__)


async def register(
    conn: AsyncConnection, hasher: PasswordHasher, request: RegisterRequest
) -> UserRecord:
    password_hash = await hasher.hash(request.password)
    try:
        # No look-up first: the unique indexes decide, so two concurrent sign-ups cannot both win.
        user = await UserRepository(conn).add(
            username=request.username, email=request.email.lower(), password_hash=password_hash
        )
    except DuplicateUser as exc:
        what = exc.field or "email or username"
        raise Conflict(f"{what} already registered") from None
    log.info("user registered", extra={"user_id": str(user.id)})
    return user
