"""Applies a batch's events to the money, inside the batch's transaction: the rows they touch
are locked and loaded (repository, one round trip), then settled (accounting, pure); the caller
writes the settlement back with the rest of the batch (Repository.write)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from trading_service.engine import accounting
from trading_service.engine.accounting import Entry, Settlement
from trading_service.engine.repository import Partition, Repository
from trading_service.tables import HOUSE_ACCOUNT_ID


async def apply_events(
    repo: Repository,
    events: Sequence[Entry],
    now: datetime,
    fence: Mapping[Partition, int] | None = None,
) -> Settlement:
    """Lock the rows `events` touch and apply the events to them; raises InvariantBroken if the
    result would break a money invariant. With `fence`, the batch is fenced first in the same
    round trip (FencedOut)."""
    if not events:
        if fence is not None:
            await repo.fence(fence)
        return Settlement()
    orders, balances, holdings = await repo.lock(
        accounting.order_ids(events), HOUSE_ACCOUNT_ID, accounting.house_symbols(events), fence
    )
    return accounting.settle(HOUSE_ACCOUNT_ID, events, orders, balances, holdings, now)
