"""The async SQLAlchemy engine every service builds in its lifespan."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_db_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    # pool_pre_ping: a restarted PostgreSQL must not leave dead connections in the pool
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
