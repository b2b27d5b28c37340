"""The trading API's own Prometheus figures, and the task that samples the ones read from storage.

Gauges that several workers report (multiprocess mode, shared/metrics.py) say how they combine:
connections add up across live workers, backlog and price age are the same figure read by each.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.background import raise_if_cancelled
from trading_service.prices.cache import PriceCache, age_seconds
from trading_service.tables import orders

log = logging.getLogger(__name__)

ORDERS_SUBMITTED = Counter(
    "stocksim_orders_submitted_total",
    "Orders the API stored and handed to the engine, by type and side.",
    ["type", "side"],
)
RATE_LIMITED = Counter(
    "stocksim_rate_limited_total",
    "Requests refused with 429 by the per-account rate limit, by action (order, cancel).",
    ["action"],
)
WS_CONNECTIONS = Gauge(
    "stocksim_ws_connections",
    "Open WebSocket connections.",
    multiprocess_mode="livesum",
)
WS_SLOW_CONSUMERS = Counter(
    "stocksim_ws_slow_consumers_dropped_total",
    "WebSocket clients disconnected because they read too slowly.",
)
WS_REFUSED = Counter(
    "stocksim_ws_connections_refused_total",
    "WebSocket connections closed because their user already had the most allowed.",
)
OUTBOX_BACKLOG = Gauge(
    "stocksim_outbox_backlog_orders",
    "Orders stored but not yet accepted by the engine.",
    multiprocess_mode="max",
)
OUTBOX_OLDEST_AGE = Gauge(
    "stocksim_outbox_oldest_age_seconds",
    "Age of the oldest order the engine has not accepted yet (0 when none).",
    multiprocess_mode="max",
)
PRICE_AGE = Gauge(
    "stocksim_price_age_seconds",
    "Seconds since the cached reference price of each symbol was published.",
    ["symbol"],
    multiprocess_mode="max",
)

SAMPLE_EVERY_S = 5.0


async def sample_storage(db: AsyncEngine, prices: PriceCache) -> None:
    """Forever: the outbox backlog from PostgreSQL and each symbol's price age from Redis."""
    while True:
        try:
            async with db.connect() as conn:
                count, oldest = (
                    await conn.execute(
                        select(
                            func.count(),
                            func.extract("epoch", func.now() - func.min(orders.c.created_at)),
                        ).where(orders.c.accepted_at.is_(None))
                    )
                ).one()
            OUTBOX_BACKLOG.set(count)
            OUTBOX_OLDEST_AGE.set(float(oldest or 0))
            for tick in await prices.all():
                PRICE_AGE.labels(tick.symbol).set(max(0.0, age_seconds(tick)))
        except asyncio.CancelledError:
            raise
        except Exception:
            raise_if_cancelled()  # a cancellation a library turned into its own error
            # The readiness probe reports the outage; the figures just stay where they were.
            log.debug("could not sample the outbox and price ages", exc_info=True)
        await asyncio.sleep(SAMPLE_EVERY_S)
