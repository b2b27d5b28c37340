"""`python -m trading_service.engine`: one matching-engine instance of the consumer group."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import uvloop
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from shared.collector import quiet_garbage_collector
from shared.db import create_db_engine
from shared.fetching import fetch_after_consumed
from shared.kafka import ORDERS_TOPIC, PRICES_TOPIC, ensure_topics
from shared.logging import configure_logging
from shared.probes import KafkaCheck, postgres_check, redis_check
from trading_service.config import EngineSettings
from trading_service.engine.metrics import CONSUMER_LAG
from trading_service.engine.probe import ProbeServer
from trading_service.engine.repository import EngineDatabase
from trading_service.engine.runner import EngineRunner

log = logging.getLogger("trading_service.engine")


async def main(settings: EngineSettings | None = None) -> None:
    settings = settings or EngineSettings()
    configure_logging("engine", settings.log_level, settings.log_json)
    await ensure_topics(settings.kafka_bootstrap_servers, settings.kafka_partitions)
    db = create_db_engine(settings.database_url, pool_size=2)  # the clock's and the probe's
    database = EngineDatabase(settings.database_url)
    redis = Redis.from_url(settings.redis_url)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=max(settings.session_timeout_ms // 6, 300),
        max_poll_interval_ms=60_000,
        # Wait on the broker, not poll it: a fetch returns as soon as one record is there.
        fetch_min_bytes=1,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    runner = EngineRunner(settings, db, database, redis, consumer)
    kafka_check = KafkaCheck(settings.kafka_bootstrap_servers)
    probe = ProbeServer(
        settings.http_host,
        settings.http_port,
        {"postgres": postgres_check(db), "redis": redis_check(redis), "kafka": kafka_check},
    )
    await probe.start()
    CONSUMER_LAG.runners.append(runner)
    consumer.subscribe([PRICES_TOPIC, ORDERS_TOPIC], listener=runner.listener())
    await consumer.start()
    fetch_after_consumed(consumer)
    log.info("engine started", extra={"group": settings.group_id})
    task = asyncio.create_task(runner.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        # Cancelled from outside (an embedding task), the runner is still running: stop it before
        # its consumer, or it keeps fetching and the stop never ends.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # A clean stop leaves the group at once, so another engine takes the symbols over now.
        await consumer.stop()
        CONSUMER_LAG.runners.remove(runner)
        await probe.close()
        await kafka_check.close()
        await redis.aclose()
        await database.close()
        await db.dispose()
        log.info("engine stopped")


if __name__ == "__main__":
    quiet_garbage_collector()
    # uvloop, as the API runs: a small batch is a handful of socket round trips (PostgreSQL,
    # Kafka, Redis), and the standard loop's selector and transport writes were half of the
    # engine's CPU on the waiting paths (py-spy).
    uvloop.run(main())
