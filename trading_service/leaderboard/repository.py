"""SQL of the leaderboard: every user account with its holdings and its user name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncConnection

from trading_service.tables import accounts, positions

# The user service's table, read-only: both services share the database (make run, compose).
users = table("users", column("id"), column("username"))


async def accounts_with_names(conn: AsyncConnection) -> list[Any]:
    query = (
        select(accounts.c.id, accounts.c.cash, accounts.c.granted_cash, users.c.username)
        .select_from(accounts.outerjoin(users, users.c.id == accounts.c.id))
        .where(accounts.c.house.is_(False), accounts.c.league_id.is_(None))
    )
    return list((await conn.execute(query)).all())


async def holdings(conn: AsyncConnection) -> list[Any]:
    query = select(
        positions.c.account_id, positions.c.symbol, positions.c.qty, positions.c.cost_basis
    ).where(positions.c.house.is_(False), positions.c.qty != 0)
    return list((await conn.execute(query)).all())
