"""The background task that ends leagues on time and records their equity history.

Safe with several trading-service replicas: a league being finalized is locked (the others skip
it), and a snapshot's time is the start of its interval, so two replicas write the same rows and
the second insert changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.background import raise_if_cancelled
from trading_service.leagues import repository, service
from trading_service.messages import CancelRequest
from trading_service.orders.handoff import OrderHandoff
from trading_service.prices.cache import PriceCache

log = logging.getLogger(__name__)


async def send_cancels(handoff: OrderHandoff, rows: list[Row[Any]]) -> None:
    """After the commit: the engine cancels them and releases their reservations (the outbox
    sweep re-sends any cancel the engine has not acted on)."""
    for row in rows:
        await handoff.send(row.symbol, CancelRequest(row.id, row.account_id))


async def finalize_due(db: AsyncEngine, prices: PriceCache, handoff: OrderHandoff) -> None:
    async with db.begin() as conn:
        canceled: list[Row[Any]] = []
        for league_id in await repository.due_to_finalize(conn):
            canceled += await service.finalize(conn, prices, league_id)
    await send_cancels(handoff, canceled)


async def take_snapshots(db: AsyncEngine, prices: PriceCache, every_s: float) -> datetime:
    async with db.begin() as conn:
        now = await repository.now(conn)
        bucket = datetime.fromtimestamp(now.timestamp() // every_s * every_s, UTC)
        for league_id in await repository.running(conn):
            await service.snapshot(conn, prices, league_id, bucket)
    return bucket


async def run_league_keeper(
    db: AsyncEngine,
    prices: PriceCache,
    handoff: OrderHandoff,
    check_s: float,
    snapshot_s: float,
) -> None:
    """Forever: finalize leagues whose end has come; snapshot running ones every `snapshot_s`."""
    last_bucket: datetime | None = None
    while True:
        await asyncio.sleep(check_s)
        try:
            await finalize_due(db, prices, handoff)
            now = datetime.now(UTC)
            if last_bucket is None or (now - last_bucket).total_seconds() >= snapshot_s:
                last_bucket = await take_snapshots(db, prices, snapshot_s)
        except asyncio.CancelledError:
            raise
        except Exception:
            raise_if_cancelled()  # a cancellation a library turned into its own error
            log.warning("league keeper failed; retrying", exc_info=True)
