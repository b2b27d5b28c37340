"""Deleted users' open orders are canceled: a deleted account must not trade any more.

The user service puts a deleted user's id into the Redis set `stocksim:deleted-users`
(shared/deleted_users.py) before the deletion commits. Every trading process sweeps that set
and records a cancel for each open order of those accounts, exactly like DELETE /orders; the
outbox sweep re-sends a cancel the engine has not acted on, so a crash in between loses none.
Token checks refuse the user's new orders within seconds, and later sweeps cancel anything
that still slipped in.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.background import raise_if_cancelled
from shared.deleted_users import DELETED_USERS_KEY
from trading_service.messages import CancelRequest
from trading_service.orders import repository
from trading_service.orders.handoff import OrderHandoff

log = logging.getLogger(__name__)


async def cancel_deleted_accounts_orders(
    db: AsyncEngine, redis: Redis, handoff: OrderHandoff
) -> int:
    """One sweep; returns how many orders it asked the engine to cancel."""
    members = await redis.smembers(DELETED_USERS_KEY)
    deleted = []
    for raw in members:
        try:
            deleted.append(uuid.UUID(raw.decode() if isinstance(raw, bytes) else str(raw)))
        except ValueError:
            continue
    async with db.begin() as conn:
        accounts = await repository.accounts_with_open_orders(conn, deleted)
        canceled = [
            row
            for account in accounts
            for row in await repository.mark_cancel_requested(conn, account)
        ]
    for row in canceled:
        await handoff.send(row.symbol, CancelRequest(row.id, row.account_id))
    if canceled:
        log.info(
            "canceling deleted users' orders",
            extra={"accounts": len(accounts), "orders": len(canceled)},
        )
    return len(canceled)


async def run_deleted_accounts_sweep(
    db: AsyncEngine, redis: Redis, handoff: OrderHandoff, every_s: float
) -> None:
    """Forever: cancel the open orders of deleted users every `every_s`."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await cancel_deleted_accounts_orders(db, redis, handoff)
        except asyncio.CancelledError:
            raise
        except Exception:
            raise_if_cancelled()  # a cancellation a library turned into its own error
            log.warning("deleted users' orders sweep failed; retrying", exc_info=True)
