"""All SQL of order entry and order history (SQLAlchemy Core on the request's connection)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from trading_service.order_status import OPEN, TERMINAL
from trading_service.tables import accounts, fills, orders, positions, reference_prices

OPEN_STATUSES = OPEN
CLOSED_STATUSES = TERMINAL


@dataclass(frozen=True, slots=True)
class Balance:
    cash: Decimal
    reserved_cash: Decimal


@dataclass(frozen=True, slots=True)
class Holding:
    qty: int
    reserved_qty: int


async def ensure_account(conn: AsyncConnection, account_id: uuid.UUID, grant: Decimal) -> None:
    await conn.execute(
        pg_insert(accounts)
        .values(id=account_id, user_id=account_id, cash=grant, granted_cash=grant)
        .on_conflict_do_nothing(index_elements=[accounts.c.id])
    )


async def reserve_cash(conn: AsyncConnection, account_id: uuid.UUID, amount: Decimal) -> bool:
    """Reserve `amount` if buying power covers it, in one statement; False changes nothing."""
    row = (
        await conn.execute(
            update(accounts)
            .where(
                and_(
                    accounts.c.id == account_id,
                    accounts.c.cash - accounts.c.reserved_cash >= amount,
                )
            )
            .values(reserved_cash=accounts.c.reserved_cash + amount, updated_at=func.now())
            .returning(accounts.c.id)
        )
    ).one_or_none()
    return row is not None


async def get_balance(conn: AsyncConnection, account_id: uuid.UUID) -> Balance:
    row = (
        await conn.execute(
            select(accounts.c.cash, accounts.c.reserved_cash).where(accounts.c.id == account_id)
        )
    ).one()
    return Balance(row.cash, row.reserved_cash)


async def reserve_shares(
    conn: AsyncConnection, account_id: uuid.UUID, symbol: str, qty: int
) -> bool:
    """Reserve `qty` shares if that many are free, in one statement; False changes nothing."""
    row = (
        await conn.execute(
            update(positions)
            .where(
                and_(
                    positions.c.account_id == account_id,
                    positions.c.symbol == symbol,
                    positions.c.qty - positions.c.reserved_qty >= qty,
                )
            )
            .values(reserved_qty=positions.c.reserved_qty + qty, updated_at=func.now())
            .returning(positions.c.qty)
        )
    ).one_or_none()
    return row is not None


async def get_holding(conn: AsyncConnection, account_id: uuid.UUID, symbol: str) -> Holding:
    row = (
        await conn.execute(
            select(positions.c.qty, positions.c.reserved_qty).where(
                and_(positions.c.account_id == account_id, positions.c.symbol == symbol)
            )
        )
    ).one_or_none()
    return Holding(0, 0) if row is None else Holding(row.qty, row.reserved_qty)


async def is_listed(conn: AsyncConnection, symbol: str) -> bool:
    """Whether the engine has ever priced `symbol` (it stores every reference price it takes)."""
    found = await conn.execute(
        select(reference_prices.c.symbol).where(reference_prices.c.symbol == symbol)
    )
    return found.first() is not None


async def insert_order(conn: AsyncConnection, values: dict[str, Any]) -> Row[Any] | None:
    """The stored order; None when the account already has one with this client_order_id (a
    concurrent request with the same id committed first: this statement waited for it)."""
    return (
        await conn.execute(
            pg_insert(orders)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[orders.c.account_id, orders.c.client_order_id])
            .returning(*orders.c)
        )
    ).one_or_none()


async def get_order(
    conn: AsyncConnection, account_id: uuid.UUID, order_id: uuid.UUID
) -> Row[Any] | None:
    return (
        await conn.execute(
            select(orders).where(and_(orders.c.id == order_id, orders.c.account_id == account_id))
        )
    ).one_or_none()


async def get_order_by_client_id(
    conn: AsyncConnection, account_id: uuid.UUID, client_order_id: str
) -> Row[Any] | None:
    return (
        await conn.execute(
            select(orders).where(
                and_(orders.c.account_id == account_id, orders.c.client_order_id == client_order_id)
            )
        )
    ).one_or_none()


async def list_orders(
    conn: AsyncConnection,
    account_id: uuid.UUID,
    statuses: tuple[str, ...] | None,
    symbol: str | None,
    limit: int,
    since: datetime | None = None,
) -> list[Row[Any]]:
    query = select(orders).where(orders.c.account_id == account_id)
    if since is not None:  # an account's last reset: older orders are history
        query = query.where(orders.c.created_at >= since)
    if statuses is not None:
        query = query.where(orders.c.status.in_(statuses))
    if symbol is not None:
        query = query.where(orders.c.symbol == symbol)
    query = query.order_by(orders.c.created_at.desc(), orders.c.id).limit(limit)
    return list((await conn.execute(query)).all())


async def fills_by_order(
    conn: AsyncConnection, order_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Any]]:
    grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
    if order_ids:
        rows = await conn.execute(
            select(fills.c.order_id, fills.c.price, fills.c.qty, fills.c.ts)
            .where(fills.c.order_id.in_(order_ids))
            .order_by(fills.c.id)
        )
        for row in rows:
            grouped[row.order_id].append(row)
    return grouped


async def list_fills(
    conn: AsyncConnection, account_id: uuid.UUID, limit: int, since: datetime | None = None
) -> list[Row[Any]]:
    query = select(fills).where(fills.c.account_id == account_id)
    if since is not None:
        query = query.where(fills.c.ts >= since)
    rows = await conn.execute(query.order_by(fills.c.id.desc()).limit(limit))
    return list(rows.all())


async def claim_unaccepted(
    conn: AsyncConnection, older_than: datetime, limit: int = 500
) -> list[Row[Any]]:
    """Orders the engine has not accepted in time; marks them re-published (outbox sweep)."""
    stale = (
        select(orders.c.id)
        .where(
            and_(
                orders.c.accepted_at.is_(None),
                orders.c.cancel_requested_at.is_(None),
                orders.c.status == "new",
                orders.c.created_at < older_than,
                (orders.c.published_at.is_(None)) | (orders.c.published_at < older_than),
            )
        )
        .order_by(orders.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = await conn.execute(
        update(orders)
        .where(orders.c.id.in_(stale))
        .values(published_at=func.now())
        .returning(*orders.c)
    )
    return sorted(rows.all(), key=lambda r: r.created_at)


async def lock_order(
    conn: AsyncConnection, account_id: uuid.UUID, order_id: uuid.UUID
) -> Row[Any] | None:
    return (
        await conn.execute(
            select(orders)
            .where(and_(orders.c.id == order_id, orders.c.account_id == account_id))
            .with_for_update(key_share=True)
        )
    ).one_or_none()


async def mark_cancel_requested(
    conn: AsyncConnection, account_id: uuid.UUID, order_id: uuid.UUID | None = None
) -> list[Row[Any]]:
    """Record the cancel request (the sweep re-sends it until the engine acts); one or all open."""
    query = update(orders).where(
        and_(orders.c.account_id == account_id, orders.c.status.in_(OPEN_STATUSES))
    )
    if order_id is not None:
        query = query.where(orders.c.id == order_id)
    rows = await conn.execute(
        query.values(cancel_requested_at=func.now(), published_at=func.now()).returning(*orders.c)
    )
    return list(rows.all())


async def add_order_reservation(
    conn: AsyncConnection, order_id: uuid.UUID, cash: Decimal, qty: int
) -> None:
    await conn.execute(
        update(orders)
        .where(orders.c.id == order_id)
        .values(
            reserved_cash=orders.c.reserved_cash + cash, reserved_qty=orders.c.reserved_qty + qty
        )
    )


async def record_replace(
    conn: AsyncConnection, order_id: uuid.UUID, pending: dict[str, Any]
) -> Row[Any]:
    """Store an accepted replace's terms as the order's pending ones; counts it (replace_seq)."""
    return (
        await conn.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(replace_seq=orders.c.replace_seq + 1, published_at=func.now(), **pending)
            .returning(*orders.c)
        )
    ).one()


async def claim_unsettled_replaces(
    conn: AsyncConnection, older_than: datetime, limit: int = 500
) -> list[Row[Any]]:
    """Accepted replaces of still-open orders the engine has not settled in time (resend)."""
    return await _claim_open_for_resend(
        conn, orders.c.replace_seq > orders.c.replace_applied_seq, older_than, limit
    )


async def accounts_with_open_orders(
    conn: AsyncConnection, account_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Those of `account_ids` with an open order nobody has asked to cancel yet.

    The ids are users' (= their personal accounts'); their league accounts count too.
    """
    if not account_ids:
        return []
    owned = select(accounts.c.id).where(accounts.c.user_id.in_(account_ids))
    rows = await conn.execute(
        select(orders.c.account_id)
        .where(
            and_(
                orders.c.account_id.in_(owned),
                orders.c.status.in_(OPEN_STATUSES),
                orders.c.cancel_requested_at.is_(None),
            )
        )
        .distinct()
    )
    return [r.account_id for r in rows]


async def claim_unprocessed_cancels(
    conn: AsyncConnection, older_than: datetime, limit: int = 500
) -> list[Row[Any]]:
    """Acknowledged cancels of still-open orders, due to be sent to the engine again."""
    return await _claim_open_for_resend(
        conn, orders.c.cancel_requested_at.is_not(None), older_than, limit
    )


async def _claim_open_for_resend(
    conn: AsyncConnection,
    unsettled: ColumnElement[bool],
    older_than: datetime,
    limit: int,
) -> list[Row[Any]]:
    """Open orders matching `unsettled` last published before `older_than`, re-stamped as
    published now; rows another sweeper holds are skipped, not waited for."""
    stale = (
        select(orders.c.id)
        .where(
            and_(
                unsettled,
                orders.c.status.in_(OPEN_STATUSES),
                orders.c.published_at < older_than,
            )
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = await conn.execute(
        update(orders)
        .where(orders.c.id.in_(stale))
        .values(published_at=func.now())
        .returning(*orders.c)
    )
    return list(rows.all())


# Order entry's hot path, on asyncpg directly (trading_service/orders/group_commit.py): plain
# SQL that asyncpg prepares once per connection, with none of SQLAlchemy's per-statement work.
# Each placement is ONE statement: the reservation and the order row together, so an order
# refused for buying power (no row) changes nothing and needs no savepoint. created_at and
# updated_at are the statement's clock, not the transaction's: orders committed in one group
# keep their own times.

_INSERT_ORDER = """
INSERT INTO orders (id, account_id, client_order_id, symbol, side, type, time_in_force, qty,
                    limit_price, stop_price, protection_price, status, reserved_cash,
                    reserved_qty, created_at, updated_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'new', $12, $13,
       clock_timestamp(), clock_timestamp()
FROM reserved
"""

_INSERT_RESERVED = (
    _INSERT_ORDER
    + """ON CONFLICT (account_id, client_order_id) DO NOTHING
RETURNING *
"""
)

PLACE_BUY = (
    """
WITH reserved AS (
    UPDATE accounts SET reserved_cash = reserved_cash + $12, updated_at = now()
    WHERE id = $2 AND cash - reserved_cash >= $12
    RETURNING id
)"""
    + _INSERT_RESERVED
)

PLACE_SELL = (
    """
WITH reserved AS (
    UPDATE positions SET reserved_qty = reserved_qty + $13, updated_at = now()
    WHERE account_id = $2 AND symbol = $4 AND qty - reserved_qty >= $13
    RETURNING account_id
)"""
    + _INSERT_RESERVED
)

# The same placement for a run of orders sent in one round trip (asyncpg's fetchmany: PostgreSQL
# still executes them one after the other, in order). Each execution answers exactly one row,
# so the rows line up with the orders: the stored order, or (id NULL) a refusal carrying what
# it was refused on: the account's cash for a buy, the position for a sell, as the statement
# saw them. No ON CONFLICT: a client_order_id the account already has (another process stored
# it after order entry looked) fails the run, which is then applied one order at a time, each
# with its savepoint; a run never keeps a reservation without its order.
PLACE_ONE_ROW = (
    """
WITH cash AS (
    UPDATE accounts SET reserved_cash = reserved_cash + $12, updated_at = now()
    WHERE $5 = 'buy' AND id = $2 AND cash - reserved_cash >= $12
    RETURNING id
), shares AS (
    UPDATE positions SET reserved_qty = reserved_qty + $13, updated_at = now()
    WHERE $5 = 'sell' AND account_id = $2 AND symbol = $4 AND qty - reserved_qty >= $13
    RETURNING account_id
), reserved AS (
    SELECT id FROM cash UNION ALL SELECT account_id FROM shares
), placed AS ("""
    + _INSERT_ORDER
    + """RETURNING *
)
SELECT placed.*, b.cash AS refused_cash, b.reserved_cash AS refused_reserved_cash,
       h.qty AS refused_qty, h.reserved_qty AS refused_reserved_qty
FROM (VALUES (1)) AS one (n)
LEFT JOIN placed ON true
LEFT JOIN accounts b ON placed.id IS NULL AND $5 = 'buy' AND b.id = $2
LEFT JOIN positions h ON placed.id IS NULL AND $5 = 'sell' AND h.account_id = $2
                         AND h.symbol = $4
"""
)

_ORDER_BY_CLIENT_ID = "SELECT * FROM orders WHERE account_id = $1 AND client_order_id = $2"
_ORDERS_BY_CLIENT_IDS = """
SELECT o.* FROM unnest($1::uuid[], $2::text[]) AS asked (account_id, client_order_id)
JOIN orders o USING (account_id, client_order_id)
"""
_BALANCE = "SELECT cash, reserved_cash FROM accounts WHERE id = $1"
_HOLDING = "SELECT qty, reserved_qty FROM positions WHERE account_id = $1 AND symbol = $2"


async def place_reserved(pg: Any, values: dict[str, Any]) -> Any | None:
    """Reserve (cash for a buy, shares for a sell) and store the order in one statement on an
    asyncpg connection: the stored row, or None when the reservation did not fit (nothing
    changed) or, with a client_order_id, the account already has that order."""
    sql = PLACE_BUY if values["side"] == "buy" else PLACE_SELL
    return await pg.fetchrow(
        sql,
        values["id"],
        values["account_id"],
        values["client_order_id"],
        values["symbol"],
        values["side"],
        values["type"],
        values["time_in_force"],
        values["qty"],
        values["limit_price"],
        values["stop_price"],
        values["protection_price"],
        values["reserved_cash"],
        values["reserved_qty"],
    )


async def place_reserved_many(pg: Any, values: list[dict[str, Any]]) -> list[Any]:
    """`place_reserved` for each of `values`, in order, in one round trip: per order its row
    (`id` None when the reservation did not fit: nothing changed, `refused_*` say why)."""
    return list(
        await pg.fetchmany(
            PLACE_ONE_ROW,
            [
                (
                    v["id"],
                    v["account_id"],
                    v["client_order_id"],
                    v["symbol"],
                    v["side"],
                    v["type"],
                    v["time_in_force"],
                    v["qty"],
                    v["limit_price"],
                    v["stop_price"],
                    v["protection_price"],
                    v["reserved_cash"],
                    v["reserved_qty"],
                )
                for v in values
            ],
        )
    )


async def order_by_client_id(pg: Any, account_id: uuid.UUID, client_order_id: str) -> Any | None:
    return await pg.fetchrow(_ORDER_BY_CLIENT_ID, account_id, client_order_id)


async def orders_by_client_ids(pg: Any, asked: list[tuple[uuid.UUID, str]]) -> list[Any]:
    """The orders these (account, client_order_id) pairs already name, in one round trip."""
    return list(await pg.fetch(_ORDERS_BY_CLIENT_IDS, [a for a, _ in asked], [c for _, c in asked]))


async def balance_of(pg: Any, account_id: uuid.UUID) -> Balance:
    row = await pg.fetchrow(_BALANCE, account_id)
    return Balance(row["cash"], row["reserved_cash"])


async def holding_of(pg: Any, account_id: uuid.UUID, symbol: str) -> Holding:
    row = await pg.fetchrow(_HOLDING, account_id, symbol)
    return Holding(0, 0) if row is None else Holding(row["qty"], row["reserved_qty"])


# An order's fills ride along as arrays: one round trip for the orders and their fills.
# The columns an answer shows (service.order_out), and the fills in one scan of the order's.
_ORDERS_WITH_FILLS = """
SELECT o.id, o.client_order_id, o.symbol, o.side, o.type, o.time_in_force, o.qty, o.limit_price,
       o.stop_price, o.status, o.filled_qty, o.filled_notional, o.reject_reason, o.created_at,
       o.updated_at, o.replace_applied_seq, o.replace_reject_reason,  -- a replace's outcome
       coalesce(f.prices, '{}') AS fill_prices,
       coalesce(f.qtys, '{}') AS fill_qtys,
       coalesce(f.times, '{}') AS fill_times
FROM orders o
LEFT JOIN LATERAL (
    SELECT array_agg(price ORDER BY id) AS prices, array_agg(qty ORDER BY id) AS qtys,
           array_agg(ts ORDER BY id) AS times
    FROM fills WHERE order_id = o.id
) f ON true
WHERE o.id = ANY($1::uuid[]) AND o.account_id = $2
"""


@dataclass(frozen=True, slots=True)
class Fill:
    price: Decimal
    qty: int
    ts: datetime


async def orders_with_fills(
    pg: Any, account_id: uuid.UUID, order_ids: list[uuid.UUID]
) -> list[tuple[Any, list[Fill]]]:
    """The account's orders among `order_ids` (in that order) with their fills, on an asyncpg
    connection (the answer of every order that waited)."""
    rows = {r["id"]: r for r in await pg.fetch(_ORDERS_WITH_FILLS, order_ids, account_id)}
    return [
        (
            row,
            [
                Fill(price, qty, ts)
                for price, qty, ts in zip(
                    row["fill_prices"], row["fill_qtys"], row["fill_times"], strict=True
                )
            ],
        )
        for row in (rows.get(i) for i in order_ids)
        if row is not None
    ]
