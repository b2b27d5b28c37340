"""Topic names and the one place that creates them with explicit partition counts and retention."""

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

_HOUR_MS = 3_600_000
_MIB = 1 << 20
# Set when a topic is created. Retention drops whole closed segments only, so each topic rolls
# segments often enough for its limits to bite.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    # Only the newest tick per symbol matters to anyone (the API replays the last 1,000 records
    # per partition on start, the engine keeps its own reference prices in PostgreSQL): a few
    # hours bound the log by time, 64 MiB per partition by size, whichever is hit first.
    PRICES_TOPIC: {
        "cleanup.policy": "delete",
        "retention.ms": str(6 * _HOUR_MS),
        "retention.bytes": str(64 * _MIB),
        "segment.bytes": str(16 * _MIB),
        "segment.ms": str(_HOUR_MS),
    },
    # An order must stay until the engine has processed it; a week covers any engine outage
    # worth waiting for (the outbox sweep re-sends from PostgreSQL whatever was never processed).
    ORDERS_TOPIC: {
        "cleanup.policy": "delete",
        "retention.ms": str(7 * 24 * _HOUR_MS),
        "retention.bytes": "-1",
        "segment.ms": str(24 * _HOUR_MS),
    },
}


async def ensure_topics(bootstrap_servers: str, partitions: int, timeout_s: float = 30.0) -> None:
    """Create the topics if missing; never rely on broker auto-create defaults."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(
                    name,
                    num_partitions=partitions,
                    replication_factor=1,
                    topic_configs=TOPIC_CONFIGS[name],
                )
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
