"""SQL of leagues: the league rows, their member accounts, their equity snapshots."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, and_, column, func, or_, select, table, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from trading_service.order_status import OPEN
from trading_service.tables import accounts, fills, league_equity, leagues, orders, positions

# The user service's table, read-only (both services share the database).
users = table("users", column("id"), column("username"))

OPEN_STATUSES = OPEN


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> Row[Any]:
    return (await conn.execute(leagues.insert().values(**values).returning(*leagues.c))).one()


async def get(conn: AsyncConnection, league_id: uuid.UUID, lock: bool = False) -> Row[Any]:
    query = select(leagues).where(leagues.c.id == league_id)
    if lock:
        query = query.with_for_update()
    return (await conn.execute(query)).one()


async def find(conn: AsyncConnection, league_id: uuid.UUID) -> Row[Any] | None:
    return (await conn.execute(select(leagues).where(leagues.c.id == league_id))).one_or_none()


async def by_invite_code(conn: AsyncConnection, code: str) -> Row[Any] | None:
    query = select(leagues).where(leagues.c.invite_code == code).with_for_update(read=True)
    return (await conn.execute(query)).one_or_none()


async def visible_to(conn: AsyncConnection, user_id: uuid.UUID, admin: bool) -> list[Row[Any]]:
    query = select(leagues).order_by(leagues.c.created_at.desc())
    if not admin:
        member = select(accounts.c.league_id).where(accounts.c.user_id == user_id)
        query = query.where(or_(leagues.c.public, leagues.c.id.in_(member)))
    return list((await conn.execute(query)).all())


async def is_member(conn: AsyncConnection, league_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    query = select(accounts.c.id).where(
        and_(accounts.c.league_id == league_id, accounts.c.user_id == user_id)
    )
    return (await conn.execute(query)).first() is not None


async def set_invite_code(conn: AsyncConnection, league_id: uuid.UUID, code: str) -> Row[Any]:
    query = (
        update(leagues)
        .where(leagues.c.id == league_id)
        .values(invite_code=code)
        .returning(*leagues.c)
    )
    return (await conn.execute(query)).one()


async def mark_closed(conn: AsyncConnection, league_id: uuid.UUID) -> None:
    await conn.execute(
        update(leagues)
        .where(and_(leagues.c.id == league_id, leagues.c.closed_at.is_(None)))
        .values(closed_at=func.now())
    )


async def mark_finalized(conn: AsyncConnection, league_id: uuid.UUID) -> None:
    await conn.execute(
        update(leagues).where(leagues.c.id == league_id).values(finalized_at=func.now())
    )


async def due_to_finalize(conn: AsyncConnection) -> list[uuid.UUID]:
    """Leagues that ended (by date or closed early) whose books are not yet frozen; locked, so
    two replicas never finalize the same league (the other skips it)."""
    query = (
        select(leagues.c.id)
        .where(
            and_(
                leagues.c.finalized_at.is_(None),
                or_(leagues.c.closed_at.is_not(None), leagues.c.ends_at <= func.now()),
            )
        )
        .with_for_update(skip_locked=True)
    )
    return list((await conn.execute(query)).scalars())


async def running(conn: AsyncConnection) -> list[uuid.UUID]:
    query = select(leagues.c.id).where(
        and_(leagues.c.finalized_at.is_(None), leagues.c.starts_at <= func.now())
    )
    return list((await conn.execute(query)).scalars())


async def join(
    conn: AsyncConnection, league_id: uuid.UUID, user_id: uuid.UUID, grant: Decimal
) -> Row[Any] | None:
    """The new league account; None when the user already has one in this league."""
    query = (
        pg_insert(accounts)
        .values(
            id=uuid.uuid4(),
            user_id=user_id,
            league_id=league_id,
            cash=grant,
            granted_cash=grant,
        )
        .on_conflict_do_nothing(
            index_elements=[accounts.c.user_id, accounts.c.league_id],
            index_where=accounts.c.league_id.is_not(None),
        )
        .returning(*accounts.c)
    )
    return (await conn.execute(query)).one_or_none()


async def member_of(conn: AsyncConnection, league_id: uuid.UUID, user_id: uuid.UUID) -> Row[Any]:
    query = select(accounts).where(
        and_(accounts.c.league_id == league_id, accounts.c.user_id == user_id)
    )
    return (await conn.execute(query)).one()


async def member_account(
    conn: AsyncConnection, league_id: uuid.UUID, account_id: uuid.UUID
) -> Row[Any] | None:
    query = select(accounts).where(
        and_(accounts.c.id == account_id, accounts.c.league_id == league_id)
    )
    return (await conn.execute(query)).one_or_none()


async def members(conn: AsyncConnection, league_id: uuid.UUID) -> list[Row[Any]]:
    query = (
        select(accounts, users.c.username)
        .select_from(accounts.outerjoin(users, users.c.id == accounts.c.user_id))
        .where(accounts.c.league_id == league_id)
        .order_by(accounts.c.created_at)
    )
    return list((await conn.execute(query)).all())


async def holdings(conn: AsyncConnection, league_id: uuid.UUID) -> list[Any]:
    query = (
        select(positions.c.account_id, positions.c.symbol, positions.c.qty, positions.c.cost_basis)
        .select_from(positions.join(accounts, accounts.c.id == positions.c.account_id))
        .where(and_(accounts.c.league_id == league_id, positions.c.qty != 0))
    )
    return list((await conn.execute(query)).all())


async def trade_counts(conn: AsyncConnection, league_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """Fills per member account since its last reset."""
    query = (
        select(fills.c.account_id, func.count())
        .select_from(fills.join(accounts, accounts.c.id == fills.c.account_id))
        .where(
            and_(
                accounts.c.league_id == league_id,
                or_(accounts.c.reset_at.is_(None), fills.c.ts >= accounts.c.reset_at),
            )
        )
        .group_by(fills.c.account_id)
    )
    return {r[0]: r[1] for r in await conn.execute(query)}


async def cancel_open_orders(conn: AsyncConnection, account_ids: list[uuid.UUID]) -> list[Row[Any]]:
    """Record the cancel of every open order of these accounts (the engine carries it out; the
    outbox sweep re-sends the cancel until it has)."""
    if not account_ids:
        return []
    query = (
        update(orders)
        .where(
            and_(
                orders.c.account_id.in_(account_ids),
                orders.c.status.in_(OPEN_STATUSES),
                orders.c.cancel_requested_at.is_(None),
            )
        )
        .values(cancel_requested_at=func.now(), published_at=func.now())
        .returning(*orders.c)
    )
    return list((await conn.execute(query)).all())


async def freeze(conn: AsyncConnection, account_id: uuid.UUID) -> None:
    await conn.execute(
        update(accounts)
        .where(and_(accounts.c.id == account_id, accounts.c.frozen_at.is_(None)))
        .values(frozen_at=func.now(), updated_at=func.now())
    )


async def save_equity(
    conn: AsyncConnection,
    league_id: uuid.UUID,
    ts: datetime,
    rows: list[tuple[uuid.UUID, Decimal, int]],
    final: bool,
) -> None:
    """One snapshot per member at `ts`; a second writer of the same `ts` changes nothing."""
    if not rows:
        return
    await conn.execute(
        pg_insert(league_equity)
        .values(
            [
                {
                    "league_id": league_id,
                    "account_id": a,
                    "ts": ts,
                    "equity": e,
                    "trades": t,
                    "final": final,
                }
                for a, e, t in rows
            ]
        )
        .on_conflict_do_nothing()
    )


async def final_standings(conn: AsyncConnection, league_id: uuid.UUID) -> list[Row[Any]]:
    query = select(league_equity).where(
        and_(league_equity.c.league_id == league_id, league_equity.c.final.is_(True))
    )
    return list((await conn.execute(query)).all())


async def equity_history(conn: AsyncConnection, league_id: uuid.UUID) -> list[Any]:
    query = (
        select(league_equity.c.account_id, league_equity.c.ts, league_equity.c.equity)
        .where(league_equity.c.league_id == league_id)
        .order_by(league_equity.c.account_id, league_equity.c.ts)
    )
    return list((await conn.execute(query)).all())


async def now(conn: AsyncConnection) -> datetime:
    moment: datetime = (await conn.execute(select(func.now()))).scalar_one()
    return moment
