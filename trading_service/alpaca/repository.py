"""SQL of the /v2 layer: replace links, order queries with Alpaca's filters, fills."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, MetaData, Row, Table, Uuid, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from trading_service.orders.repository import CLOSED_STATUSES, OPEN_STATUSES
from trading_service.tables import fills, orders

metadata = MetaData()

order_replacements = Table(
    "order_replacements",
    metadata,
    Column("old_order_id", Uuid, ForeignKey(orders.c.id), primary_key=True),
    Column("new_order_id", Uuid, ForeignKey(orders.c.id), nullable=False, unique=True),
    Column("replaced_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


async def add_replacement(conn: AsyncConnection, old: uuid.UUID, new: uuid.UUID) -> None:
    await conn.execute(order_replacements.insert().values(old_order_id=old, new_order_id=new))


async def links(
    conn: AsyncConnection, order_ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, uuid.UUID], dict[uuid.UUID, uuid.UUID]]:
    """(replaced_by, replaces) for the given orders."""
    replaced_by: dict[uuid.UUID, uuid.UUID] = {}
    replaces: dict[uuid.UUID, uuid.UUID] = {}
    if order_ids:
        rows = await conn.execute(
            select(order_replacements).where(
                or_(
                    order_replacements.c.old_order_id.in_(order_ids),
                    order_replacements.c.new_order_id.in_(order_ids),
                )
            )
        )
        for row in rows:
            replaced_by[row.old_order_id] = row.new_order_id
            replaces[row.new_order_id] = row.old_order_id
    return replaced_by, replaces


async def list_orders(
    conn: AsyncConnection,
    account_id: uuid.UUID,
    *,
    status: str,
    symbols: list[str] | None,
    side: str | None,
    after: datetime | None,
    until: datetime | None,
    ascending: bool,
    limit: int,
) -> list[Row[Any]]:
    query = select(orders).where(orders.c.account_id == account_id)
    if status == "open":
        query = query.where(orders.c.status.in_(OPEN_STATUSES))
    elif status == "closed":
        query = query.where(orders.c.status.in_(CLOSED_STATUSES))
    if symbols:
        query = query.where(orders.c.symbol.in_(symbols))
    if side is not None:
        query = query.where(orders.c.side == side)
    if after is not None:
        query = query.where(orders.c.created_at > after)
    if until is not None:
        query = query.where(orders.c.created_at < until)
    order = orders.c.created_at.asc() if ascending else orders.c.created_at.desc()
    return list((await conn.execute(query.order_by(order, orders.c.id).limit(limit))).all())


async def list_fills(
    conn: AsyncConnection,
    account_id: uuid.UUID,
    *,
    after: datetime | None,
    until: datetime | None,
    ascending: bool,
    limit: int,
) -> list[Row[Any]]:
    """Fills with their order's quantity, status and the order's filled qty up to each fill."""
    cum_qty = (
        func.sum(fills.c.qty)
        .over(partition_by=fills.c.order_id, order_by=fills.c.id)
        .label("cum_qty")
    )
    # The running sum is taken over all the account's fills, before the time filters.
    every = (
        select(
            fills, cum_qty, orders.c.qty.label("order_qty"), orders.c.status.label("order_status")
        )
        .join(orders, orders.c.id == fills.c.order_id)
        .where(fills.c.account_id == account_id)
        .subquery()
    )
    query = select(every)
    if after is not None:
        query = query.where(every.c.ts > after)
    if until is not None:
        query = query.where(every.c.ts < until)
    order = every.c.id.asc() if ascending else every.c.id.desc()
    return list((await conn.execute(query.order_by(order).limit(limit))).all())
