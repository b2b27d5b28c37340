"""Registering users and looking them up."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.deleted_users import mark_deleted
from shared.errors import Conflict, ServiceUnavailable
from user_service import password_policy
from user_service.auth.service import check_password
from user_service.passwords import PasswordHasher
from user_service.throttle import Throttle
from user_service.users.repository import DuplicateUser, UserRecord, UserRepository
from user_service.users.schemas import RegisterRequest

log = logging.getLogger(__name__)


async def register(
    conn: AsyncConnection,
    hasher: PasswordHasher,
    throttle: Throttle,
    request: RegisterRequest,
    client: str,
) -> UserRecord:
    # Before the throttle: a person retrying passwords in the form should not use up the
    # address's sign-ups (a classroom behind one address shares them).
    password_policy.check_password(
        request.password, username=request.username, email=str(request.email)
    )
    await throttle.registration(client)
    password_hash = await hasher.hash(request.password)
    try:
        # No look-up first: the unique indexes decide, so two concurrent sign-ups cannot both win.
        user = await UserRepository(conn).add(
            username=request.username, email=request.email.lower(), password_hash=password_hash
        )
    except DuplicateUser as exc:
        what = {"email": "This email", "username": "This user name"}.get(exc.field or "")
        raise Conflict(f"{what or 'This email or user name'} is already registered") from None
    log.info("user registered", extra={"user_id": str(user.id)})
    return user


async def delete(
    conn: AsyncConnection,
    hasher: PasswordHasher,
    throttle: Throttle,
    redis: Redis,
    user: UserRecord,
    password: str,
    client: str,
) -> None:
    """Delete the user once the password is confirmed; their tokens stop working everywhere."""
    attempt = await throttle.login(user.email, client)
    await check_password(conn, hasher, user.email, password)
    await throttle.refund(attempt)
    await UserRepository(conn).delete(user.id)
    try:
        # Before the commit: if this fails the user stays, rather than vanishing here while
        # their tokens keep working at the trading service.
        await mark_deleted(redis, user.id)
    except (RedisError, OSError):
        raise ServiceUnavailable("cannot delete users right now") from None
    log.info("user deleted", extra={"user_id": str(user.id)})
