"""All SQL on the `users` table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from user_service.tables import users

UNIQUE_VIOLATION = "23505"
# The migration's unique indexes on lower(...) and the field each one protects.
_UNIQUE_INDEX_FIELDS = {"users_email_key": "email", "users_username_key": "username"}


@dataclass(frozen=True)
class UserRecord:
    id: uuid.UUID
    username: str
    email: str
    password_hash: str
    created_at: datetime


class DuplicateUser(Exception):
    """Another user already has this email or username (`field`, or None when unknown)."""

    def __init__(self, field: str | None) -> None:
        super().__init__(field)
        self.field = field


class UserRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, username: str, email: str, password_hash: str) -> UserRecord:
        user_id = uuid.uuid4()
        statement = (
            insert(users)
            .values(id=user_id, username=username, email=email, password_hash=password_hash)
            .returning(*users.c)
        )
        try:
            # A savepoint, so a duplicate leaves the request's transaction usable.
            async with self._conn.begin_nested():
                row = (await self._conn.execute(statement)).one()
        except IntegrityError as exc:
            if getattr(exc.orig, "sqlstate", None) != UNIQUE_VIOLATION:
                raise
            raise DuplicateUser(_violated_field(exc)) from None
        return _record(row)

    async def get(self, user_id: uuid.UUID) -> UserRecord | None:
        row = (await self._conn.execute(select(users).where(users.c.id == user_id))).one_or_none()
        return None if row is None else _record(row)

    async def get_by_email(self, email: str) -> UserRecord | None:
        statement = select(users).where(func.lower(users.c.email) == email.lower())
        row = (await self._conn.execute(statement)).one_or_none()
        return None if row is None else _record(row)

    async def get_by_username(self, username: str) -> UserRecord | None:
        statement = select(users).where(func.lower(users.c.username) == username.lower())
        row = (await self._conn.execute(statement)).one_or_none()
        return None if row is None else _record(row)

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        await self._conn.execute(
            update(users).where(users.c.id == user_id).values(password_hash=password_hash)
        )

    async def delete(self, user_id: uuid.UUID) -> None:
        await self._conn.execute(delete(users).where(users.c.id == user_id))


def _violated_field(exc: IntegrityError) -> str | None:
    # asyncpg's own exception (the DBAPI adapter's cause) names the violated index.
    constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    return _UNIQUE_INDEX_FIELDS.get(constraint or "")


def _record(row: Row[tuple[object, ...]]) -> UserRecord:
    m = row._mapping
    return UserRecord(
        id=m["id"],
        username=m["username"],
        email=m["email"],
        password_hash=m["password_hash"],
        created_at=m["created_at"],
    )
