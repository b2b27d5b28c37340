"""Publishes quotes to `stock-prices`: key = symbol, JSON value {symbol, price, ts, seq, market_ts}.

`ts` stays wall time (consumers judge freshness by it); `market_ts` is the market clock's time
of the tick (shared/market_clock.py), added so no consumer has to change.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from shared.kafka import PRICES_TOPIC, ensure_topics
from shared.money import fmt
from stock_service.market.service import Quote, iso_millis

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """No producer yet: the last connection attempt failed and the next one is not due."""


def price_record(quote: Quote) -> bytes:
    value = {
        "symbol": quote.symbol,
        "price": fmt(quote.price),
        "ts": iso_millis(quote.ts),
        "seq": quote.seq,
        "market_ts": iso_millis(quote.market_ts),
    }
    return json.dumps(value, separators=(",", ":")).encode()


class PricePublisher:
    """Owns the Kafka producer; connects lazily and again after a failure, never raising past it."""

    def __init__(
        self,
        bootstrap_servers: str,
        partitions: int,
        *,
        reconnect_backoff: float = 2.0,
        request_timeout: float = 5.0,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._partitions = partitions
        self._reconnect_backoff = reconnect_backoff
        self._request_timeout_ms = int(request_timeout * 1000)
        self._producer: AIOKafkaProducer | None = None
        self._next_connect_at = 0.0

    async def _connect(self) -> AIOKafkaProducer:
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_connect_at:
            raise BrokerUnavailable(
                f"Kafka at {self._bootstrap_servers} unreachable; retrying soon"
            )
        self._next_connect_at = loop.time() + self._reconnect_backoff
        await ensure_topics(self._bootstrap_servers, self._partitions, timeout_s=0)
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            # The default partitioner, as the `orders` producer uses: a symbol lands on the same
            # partition number of both topics.
            acks=1,
            linger_ms=5,
            enable_idempotence=False,  # the embedded broker (Tansu) rejects idempotent producers
            request_timeout_ms=self._request_timeout_ms,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        log.info("connected to Kafka", extra={"bootstrap_servers": self._bootstrap_servers})
        return producer

    async def publish(self, quotes: Sequence[Quote]) -> None:
        """Send one tick's quotes and wait until the broker has them all; raises on failure."""
        if self._producer is None:
            self._producer = await self._connect()
        pending = [
            await self._producer.send(PRICES_TOPIC, key=q.symbol.encode(), value=price_record(q))
            for q in quotes
        ]
        await asyncio.gather(*pending)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
