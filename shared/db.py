"""The database clients every service builds in its lifespan: the async SQLAlchemy engine, and
for a hot path that runs a few fixed statements, a plain asyncpg pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.errors import ServiceUnavailable

# On asyncpg directly: the connection failed or PostgreSQL is going away (a restart).
CONNECTION_LOST = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    # A connection PostgreSQL closed while the pool held it can fail this way on its next use.
    asyncpg.exceptions.InternalClientError,
)


class DatabaseUnavailable(ServiceUnavailable):
    """The answer SQLAlchemy's disconnects get too (shared/errors.py): 503, retry in 1 s."""

    def __init__(self) -> None:
        super().__init__(
            "the database is unreachable; try again shortly", headers={"Retry-After": "1"}
        )


def create_db_engine(
    url: str, pool_size: int = 10, application_name: str | None = None
) -> AsyncEngine:
    """`application_name` names the connections in pg_stat_activity."""
    # No pool_pre_ping: it cost a round trip on every checkout, i.e. on every transaction. A
    # connection PostgreSQL dropped (a restart) fails its first statement instead; SQLAlchemy
    # sees a disconnect, invalidates every pooled connection older than it, and the request is
    # answered 503 (shared/errors.py), so the next one connects afresh.
    connect_args: dict[str, Any] = {}
    if application_name is not None:
        connect_args["server_settings"] = {"application_name": application_name}
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, connect_args=connect_args
    )


class AttrRecord(asyncpg.Record):  # type: ignore[misc]
    """An asyncpg row whose columns read as attributes too, like a SQLAlchemy row."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


async def create_pg_pool(url: str, size: int, application_name: str) -> asyncpg.Pool:
    """An asyncpg pool of `size` connections; statements are prepared once per connection.

    A connection PostgreSQL closed is replaced when it is next taken from the pool; one that
    dies in use fails its statement (the caller answers 503)."""
    return await asyncpg.create_pool(
        url.replace("postgresql+asyncpg://", "postgresql://", 1),
        min_size=size,
        max_size=size,
        record_class=AttrRecord,
        reset=_keep_session,
        server_settings={"application_name": application_name},
    )


async def _keep_session(_: asyncpg.Connection) -> None:
    """On release the pool still rolls back an open transaction; it skips its reset query
    (RESET ALL, UNLISTEN, advisory unlocks), a round trip per release for state these pools'
    users never set."""


@contextlib.asynccontextmanager
async def pg_connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection of `pool`; a lost connection inside is answered 503 (DatabaseUnavailable)
    and, like SQLAlchemy on a disconnect, replaces every connection of the pool on its next use:
    a restart of PostgreSQL fails one request, not one per pooled connection."""
    try:
        async with pool.acquire() as pg:
            yield pg
    except CONNECTION_LOST as exc:
        await pool.expire_connections()
        raise DatabaseUnavailable() from exc


async def close_pg_pool(pool: asyncpg.Pool, timeout_s: float = 5.0) -> None:
    """Close gracefully, or terminate what is still in use after `timeout_s` (a shutdown must
    not wait for ever on a connection a canceled task never gave back)."""
    try:
        await asyncio.wait_for(pool.close(), timeout_s)
    except TimeoutError:
        pool.terminate()
