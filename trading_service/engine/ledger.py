"""Applies a batch's events to the money, inside the batch's transaction: the rows they touch
are locked and loaded (repository), settled (accounting, pure), written back (repository)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from trading_service.engine import accounting
from trading_service.engine.accounting import Entry, Settlement
from trading_service.engine.repository import Repository
from trading_service.tables import HOUSE_ACCOUNT_ID


async def apply_events(repo: Repository, events: Sequence[Entry], now: datetime) -> Settlement:
    """Apply `events` to the rows they touch and write them; raises InvariantBroken (writing
    nothing) if the result would break a money invariant."""
    if not events:
        return Settlement()
    orders = await repo.lock_orders(accounting.order_ids(events))
    account_ids, position_keys = accounting.accounts_touched(
        HOUSE_ACCOUNT_ID, orders.values(), events
    )
    balances = await repo.lock_balances(account_ids)
    holdings = await repo.lock_holdings(position_keys)
    trade_ids = await repo.next_trade_ids(accounting.trade_count(events))
    settlement = accounting.settle(
        HOUSE_ACCOUNT_ID, events, orders, balances, holdings, trade_ids, now
    )
    await repo.write(settlement, now)
    return settlement
