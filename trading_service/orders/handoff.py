"""Hands committed orders to the engine over Kafka, and re-publishes those it has not accepted.

The order row is its own outbox entry: `accepted_at IS NULL` means the engine has not seen it.
A crash between commit and publish loses nothing; the sweep sends it again, and the engine
ignores a copy of an order it has already accepted.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.background import raise_if_cancelled
from shared.kafka import ORDERS_TOPIC
from trading_service.messages import CancelRequest, NewOrder, OrderMessage
from trading_service.orders import repository
from trading_service.orders.service import replace_message
from trading_service.stored_orders import to_core_order

log = logging.getLogger(__name__)


def build_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    # No idempotent producer: the embedded broker rejects it, and the engine dedupes anyway.
    # No linger: an order leaves at once (order-to-fill latency); under load the orders that
    # arrive while a request to the broker is in flight still go together in the next one.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        linger_ms=0,
        request_timeout_ms=5000,
    )


class OrderHandoff:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def send(self, symbol: str, message: OrderMessage) -> None:
        """Queue for Kafka without waiting for the broker's ack.

        The order is committed before this is called, so the request need not wait: what the
        broker never gets, the outbox sweep sends again. Failures are only logged.
        """
        try:
            delivery = await self.producer.send(ORDERS_TOPIC, message.encode(), key=symbol.encode())
        except Exception:
            _log_failure(None)
            return
        delivery.add_done_callback(_log_failure)


def _log_failure(delivery: asyncio.Future[object] | None) -> None:
    if delivery is None or (not delivery.cancelled() and delivery.exception() is not None):
        log.warning("order hand-off to Kafka failed; the outbox sweep will retry")


async def run_outbox_sweep(db: AsyncEngine, handoff: OrderHandoff, after_s: float) -> None:
    """Forever: re-publish orders (cancels, replaces) the engine has not acted on in `after_s`.

    A replace message only tells the engine to look: it applies the order's latest pending terms
    from Postgres, so a copy sent twice changes nothing twice.
    """
    while True:
        await asyncio.sleep(after_s / 2)
        try:
            cutoff = datetime.now(UTC) - timedelta(seconds=after_s)
            async with db.begin() as conn:
                stale = await repository.claim_unaccepted(conn, cutoff)
                cancels = await repository.claim_unprocessed_cancels(conn, cutoff)
                replaces = await repository.claim_unsettled_replaces(conn, cutoff)
            for row in stale:
                await handoff.send(row.symbol, NewOrder(to_core_order(row)))
            for row in cancels:
                await handoff.send(row.symbol, CancelRequest(row.id, row.account_id))
            for row in replaces:
                await handoff.send(row.symbol, replace_message(row))
            if stale or cancels or replaces:
                log.info(
                    "re-published to the engine",
                    extra={
                        "orders": len(stale),
                        "cancels": len(cancels),
                        "replaces": len(replaces),
                    },
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            raise_if_cancelled()  # a cancellation a library turned into its own error
            log.warning("outbox sweep failed; retrying", exc_info=True)
