"""Topic names and the one place that creates them with explicit partition counts."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

log = logging.getLogger(__name__)

PRICES_TOPIC = "stock-prices"
ORDERS_TOPIC = "orders"
# `stock-prices` and `orders` share a partition count so one engine owns both halves of a symbol.
CO_PARTITIONED_TOPICS = (PRICES_TOPIC, ORDERS_TOPIC)


async def ensure_topics(bootstrap_servers: str, partitions: int, timeout_s: float = 30.0) -> None:
    """Create the topics if missing; never rely on broker auto-create defaults."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(name, num_partitions=partitions, replication_factor=1)
                for name in CO_PARTITIONED_TOPICS
                if name not in existing
            ]
            if missing:
                # Another process may win the race to create them: fine.
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
                log.info("created topics", extra={"topics": [t.name for t in missing]})
            return
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
