"""Cancels (of any account) and replaces (of a personal account), on asyncpg (Resources.pg).

Plain SQL that asyncpg prepares once per connection, none of SQLAlchemy's per-statement work.
A league account's replace stays on `service.request_replace` (its league's window and rules
are checked under the league's lock, on SQLAlchemy); a cancel has no league rule.

- a cancel is ONE statement (its own transaction): the order's row lock is the UPDATE's, and
  PostgreSQL re-checks `status` on the row as it stands after any concurrent change (a fill, a
  replace) committed, so an order that ended meanwhile is answered 409, never marked;
- a replace is checked by `service.plan_replace` against the order as read (the terms the
  previous replace set), then reserves any increase and records its terms in ONE statement
  (its own transaction) that applies only if the order's row is still the version it read
  (`xmin`): no row lock is held while the API plans, so the engine's batch never waits on an
  API event loop that is busy between two statements of a replace. A row that changed
  meanwhile (a fill, another replace, a cancel) or a reservation that does not fit matches
  nothing, and the replace is done again the locking way as before: lock the order (FOR NO KEY
  UPDATE), check, reserve and record, commit. A refusal from the read alone stands: what it
  refuses on (the order ended, a cancel requested, a triggered stop, the filled qty, the order
  type) never changes back.

A lost connection is answered 503 (shared/db.pg_connection); the request changed nothing or
committed whole. The answers wait for the engine as before (service.hand_off_and_wait).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from shared.db import pg_connection
from trading_service.messages import CancelRequest
from trading_service.order_status import OPEN
from trading_service.orders import repository, service
from trading_service.orders.executions import finished, replace_settled
from trading_service.orders.schemas import OrderOut, ReplaceOrderRequest

if TYPE_CHECKING:
    from trading_service.deps import Resources

_OPEN = [str(s) for s in OPEN]

_CANCEL = """
UPDATE orders SET cancel_requested_at = now(), published_at = now()
WHERE id = $1 AND account_id = $2 AND status = ANY($3::text[])
RETURNING id, symbol
"""

_STATUS = "SELECT status FROM orders WHERE id = $1 AND account_id = $2"

_LOCK = "SELECT * FROM orders WHERE id = $1 AND account_id = $2 FOR NO KEY UPDATE"

# The order and its row version: a replace planned on it is recorded only on that version.
_READ = "SELECT *, xmin::text AS version FROM orders WHERE id = $1 AND account_id = $2"

_PENDING = """replace_seq = replace_seq + 1, published_at = now(),
    pending_qty = $2, pending_limit_price = $3, pending_stop_price = $4,
    pending_protection_price = $5"""

_RECORD = f"UPDATE orders SET {_PENDING} WHERE id = $1 RETURNING *"

# $6: the increase, $7: the account; a reservation that does not fit matches no row.
_RECORD_WITH_CASH = f"""
WITH reserved AS (
    UPDATE accounts SET reserved_cash = reserved_cash + $6, updated_at = now()
    WHERE id = $7 AND cash - reserved_cash >= $6
    RETURNING id
)
UPDATE orders SET reserved_cash = reserved_cash + $6, {_PENDING}
WHERE id = $1 AND EXISTS (SELECT FROM reserved)
RETURNING *
"""

_RECORD_WITH_SHARES = f"""
WITH reserved AS (
    UPDATE positions SET reserved_qty = reserved_qty + $6, updated_at = now()
    WHERE account_id = $7 AND symbol = $8 AND qty - reserved_qty >= $6
    RETURNING account_id
)
UPDATE orders SET reserved_qty = reserved_qty + $6, {_PENDING}
WHERE id = $1 AND EXISTS (SELECT FROM reserved)
RETURNING *
"""


# The same three records, each only on the order's row version read ($6 without a
# reservation, $8 with one); the order's row is locked before any reservation is taken (the
# order of the locking path and of the engine's batches: orders, then accounts and positions).
_RECORD_IF_UNCHANGED = f"UPDATE orders SET {_PENDING} WHERE id = $1 AND xmin::text = $6 RETURNING *"

_RECORD_WITH_CASH_IF_UNCHANGED = f"""
WITH unchanged AS (SELECT FROM orders WHERE id = $1 AND xmin::text = $8 FOR NO KEY UPDATE),
reserved AS (
    UPDATE accounts SET reserved_cash = reserved_cash + $6, updated_at = now()
    WHERE id = $7 AND cash - reserved_cash >= $6 AND EXISTS (SELECT FROM unchanged)
    RETURNING id
)
UPDATE orders SET reserved_cash = reserved_cash + $6, {_PENDING}
WHERE id = $1 AND EXISTS (SELECT FROM reserved)
RETURNING *
"""

_RECORD_WITH_SHARES_IF_UNCHANGED = f"""
WITH unchanged AS (SELECT FROM orders WHERE id = $1 AND xmin::text = $9 FOR NO KEY UPDATE),
reserved AS (
    UPDATE positions SET reserved_qty = reserved_qty + $6, updated_at = now()
    WHERE account_id = $7 AND symbol = $8 AND qty - reserved_qty >= $6
      AND EXISTS (SELECT FROM unchanged)
    RETURNING account_id
)
UPDATE orders SET reserved_qty = reserved_qty + $6, {_PENDING}
WHERE id = $1 AND EXISTS (SELECT FROM reserved)
RETURNING *
"""


async def cancel(resources: Resources, account_id: uuid.UUID, order_id: uuid.UUID) -> OrderOut:
    """DELETE /orders/{id}: record the cancel, hand it to the engine, wait (bounded) for the
    order to end; the order as it then stands."""
    async with pg_connection(resources.pg) as pg:
        row = await pg.fetchrow(_CANCEL, order_id, account_id, _OPEN)
        if row is None:
            status = await pg.fetchval(_STATUS, order_id, account_id)
    if row is None:
        if status is None:
            raise service.OrderNotFound()
        raise service.OrderNotOpen(f"order is {status}; only open orders can be canceled")
    # Waits for the order to end, not for any news of it: a replace applied meanwhile is no
    # answer to a cancel.
    await service.hand_off_and_wait(
        resources, [(row["symbol"], CancelRequest(order_id, account_id))], [(order_id, finished)],
        True,
    )  # fmt: skip
    return (await service.as_they_stand(resources, account_id, [order_id]))[0]


async def replace(
    resources: Resources, account_id: uuid.UUID, order_id: uuid.UUID, change: ReplaceOrderRequest
) -> OrderOut:
    """PATCH /orders/{id}: check and record the replace under the order's lock, hand it to
    the engine, wait (bounded) until it settled; the order with the change applied, or 409."""
    async with pg_connection(resources.pg) as pg:
        row = await _record_unless_changed(resources, pg, account_id, order_id, change)
        if row is None:
            async with pg.transaction():
                row = await _record_replace(resources, pg, account_id, order_id, change)
    seq = row["replace_seq"]
    await service.hand_off_and_wait(
        resources,
        [(row["symbol"], service.replace_message(row))],
        [(order_id, replace_settled(seq))],
        True,
    )
    async with pg_connection(resources.pg) as pg:
        found = await repository.orders_with_fills(pg, account_id, [order_id])
    if not found:
        raise service.OrderNotFound()
    after, fills = found[0]
    if after["replace_applied_seq"] == seq and after["replace_reject_reason"] is not None:
        raise service.ReplaceRefused(
            f"the change was not applied: {after['replace_reject_reason']}"
        )
    if after["replace_applied_seq"] < seq and after["status"] not in OPEN:
        raise service.OrderNotOpen(f"the order was {after['status']} before the change applied")
    return service.order_out(after, fills)


async def _planned(
    resources: Resources,
    pg: Any,
    read: str,
    account_id: uuid.UUID,
    order_id: uuid.UUID,
    change: ReplaceOrderRequest,
) -> tuple[Any, service.ReplacePlan, tuple[Any, ...]]:
    """The order (read by `read`), the replace's plan on it, and the pending terms to record."""
    order = await pg.fetchrow(read, order_id, account_id)
    if order is None:
        raise service.OrderNotFound()
    plan = await service.plan_replace(
        order, change, resources.prices.get, resources.settings.market_collar_bps
    )
    terms = plan.terms
    pending = (order_id, terms.qty, terms.limit_price, terms.stop_price, terms.protection_price)
    return order, plan, pending


async def _record_unless_changed(
    resources: Resources,
    pg: Any,
    account_id: uuid.UUID,
    order_id: uuid.UUID,
    change: ReplaceOrderRequest,
) -> Any:
    """Plan on the order as read and record in one statement on that row version; None if the
    row changed meanwhile or the reservation does not fit (the locking way decides those)."""
    order, plan, pending = await _planned(resources, pg, _READ, account_id, order_id, change)
    if plan.extra_cash > 0:
        return await pg.fetchrow(
            _RECORD_WITH_CASH_IF_UNCHANGED, *pending, plan.extra_cash, account_id, order.version
        )
    if plan.extra_qty > 0:
        return await pg.fetchrow(
            _RECORD_WITH_SHARES_IF_UNCHANGED,
            *pending, plan.extra_qty, account_id, order["symbol"], order.version,
        )  # fmt: skip
    return await pg.fetchrow(_RECORD_IF_UNCHANGED, *pending, order.version)


async def _record_replace(
    resources: Resources,
    pg: Any,
    account_id: uuid.UUID,
    order_id: uuid.UUID,
    change: ReplaceOrderRequest,
) -> Any:
    order, plan, pending = await _planned(resources, pg, _LOCK, account_id, order_id, change)
    if plan.extra_cash > 0:
        row = await pg.fetchrow(_RECORD_WITH_CASH, *pending, plan.extra_cash, account_id)
        if row is None:
            raise service.replace_short_of_funds(plan, await repository.balance_of(pg, account_id))
        return row
    if plan.extra_qty > 0:
        row = await pg.fetchrow(
            _RECORD_WITH_SHARES, *pending, plan.extra_qty, account_id, order["symbol"]
        )
        if row is None:
            raise service.replace_short_of_shares(
                plan, order["symbol"], await repository.holding_of(pg, account_id, order["symbol"])
            )
        return row
    return await pg.fetchrow(_RECORD, *pending)
