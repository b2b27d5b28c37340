"""SQL of accounts: who owns which, and the reset's bookkeeping."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from trading_service.order_status import OPEN
from trading_service.tables import HOUSE_ACCOUNT_ID, accounts, leagues, orders, positions

OPEN_STATUSES = OPEN


async def ensure_personal(conn: AsyncConnection, user_id: uuid.UUID, grant: Decimal) -> None:
    """The personal account (id = user id) with the starting cash, unless it exists."""
    await conn.execute(
        pg_insert(accounts)
        .values(id=user_id, user_id=user_id, cash=grant, granted_cash=grant)
        .on_conflict_do_nothing(index_elements=[accounts.c.id])
    )


async def get(conn: AsyncConnection, account_id: uuid.UUID, lock: bool = False) -> Row[Any] | None:
    query = select(accounts).where(accounts.c.id == account_id)
    if lock:
        query = query.with_for_update()
    return (await conn.execute(query)).one_or_none()


async def reset_at(conn: AsyncConnection, account_id: uuid.UUID) -> datetime | None:
    """When the account was last reset (what came before is history), or None."""
    query = select(accounts.c.reset_at).where(accounts.c.id == account_id)
    moment: datetime | None = (await conn.execute(query)).scalar_one_or_none()
    return moment


async def list_for_user(conn: AsyncConnection, user_id: uuid.UUID) -> list[Row[Any]]:
    query = (
        select(accounts, leagues.c.name.label("league_name"))
        .select_from(accounts.outerjoin(leagues, leagues.c.id == accounts.c.league_id))
        .where(and_(accounts.c.user_id == user_id, accounts.c.house.is_(False)))
        .order_by(accounts.c.league_id.is_not(None), accounts.c.created_at)
    )
    return list((await conn.execute(query)).all())


async def open_order_count(conn: AsyncConnection, account_id: uuid.UUID) -> int:
    query = select(func.count()).where(
        and_(orders.c.account_id == account_id, orders.c.status.in_(OPEN_STATUSES))
    )
    count: int = (await conn.execute(query)).scalar_one()
    return count


async def return_positions_to_house(conn: AsyncConnection, account_id: uuid.UUID) -> None:
    """Every share the account holds goes back to the house; the account's positions restart.

    Shares stay conserved per symbol (the house's qty rises by what the account's falls).
    """
    held = (
        await conn.execute(
            select(positions.c.symbol, positions.c.qty).where(
                and_(positions.c.account_id == account_id, positions.c.qty != 0)
            )
        )
    ).all()
    for symbol, qty in held:
        await conn.execute(
            pg_insert(positions)
            .values(account_id=HOUSE_ACCOUNT_ID, symbol=symbol, house=True, qty=qty)
            .on_conflict_do_update(
                index_elements=[positions.c.account_id, positions.c.symbol],
                set_={"qty": positions.c.qty + qty, "updated_at": func.now()},
            )
        )
    await conn.execute(
        update(positions)
        .where(positions.c.account_id == account_id)
        .values(qty=0, reserved_qty=0, cost_basis=0, realized_pnl=0, updated_at=func.now())
    )


async def restart_cash(conn: AsyncConnection, account_id: uuid.UUID, start: Decimal) -> None:
    """Cash back to `start`; the grant moves by the same amount, so cash stays conserved."""
    await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(
            granted_cash=accounts.c.granted_cash + (start - accounts.c.cash),
            cash=start,
            reset_count=accounts.c.reset_count + 1,
            reset_at=func.now(),
            updated_at=func.now(),
        )
    )
