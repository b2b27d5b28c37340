"""shared/fetching on a real broker: a record of a busy partition is not held back by a long
poll on the quiet ones after the consumer was slow to take the records before it."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from devstack.servers import EmbeddedKafka
from devstack.stack import Stack
from shared.fetching import fetch_after_consumed

# The consumers' long poll: long, so the stall it causes stands out from any scheduling noise.
LONG_POLL_MS = 4000


async def _seconds_to_next_record(servers: str, topic: str, fixed: bool) -> float:
    """One partition of four gets records; the consumer takes them late once (past aiokafka's
    100 ms prefetch backoff), then: how long the next record takes to reach it."""
    partitions = [TopicPartition(topic, p) for p in range(4)]
    busy = 0
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers,
        enable_auto_commit=False,
        fetch_min_bytes=1,
        fetch_max_wait_ms=LONG_POLL_MS,
    )
    await producer.start()
    await consumer.start()
    try:
        if fixed:
            fetch_after_consumed(consumer)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        await producer.send_and_wait(topic, b"first", partition=busy)
        assert [r.value for r in await _records(consumer)] == [b"first"]
        # Fetched at once (a fetch of every partition is waiting on the broker), then left
        # unconsumed for longer than aiokafka's prefetch backoff.
        await producer.send_and_wait(topic, b"second", partition=busy)
        await asyncio.sleep(0.5)
        await producer.send_and_wait(topic, b"third", partition=busy)
        started = time.monotonic()
        seen: list[object] = []
        while b"third" not in seen:  # with "second" (a broker may hold a fetch back a while)
            seen += [r.value for r in await _records(consumer)]
        assert seen == [b"second", b"third"]
        return time.monotonic() - started
    finally:
        await consumer.stop()
        await producer.stop()


async def _records(consumer: AIOKafkaConsumer) -> list[object]:
    batch = await consumer.getmany(timeout_ms=3 * LONG_POLL_MS)
    return [r for records in batch.values() for r in records]


@pytest.mark.kafka
async def test_a_late_consumer_gets_the_next_record_without_waiting_for_a_long_poll(
    stack: Stack,
) -> None:
    if any(isinstance(s, EmbeddedKafka) for s in stack.servers):
        # Tansu answers a fetch at its own pace (1.5 s here), data or not: no stall to compare.
        pytest.skip("about Apache Kafka's long poll")
    servers = stack.kafka_bootstrap_servers
    topics = [f"fetching-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, num_partitions=4, replication_factor=1) for t in topics]
        )
    finally:
        await admin.close()
    # Without it (the case it exists for): the record waits for the long poll on the three
    # quiet partitions, which aiokafka sent without the busy one while its records waited.
    stalled = await _seconds_to_next_record(servers, topics[0], fixed=False)
    assert stalled > LONG_POLL_MS / 1000 / 4
    fixed = await _seconds_to_next_record(servers, topics[1], fixed=True)
    assert fixed < LONG_POLL_MS / 1000 / 8


async def test_it_refuses_a_consumer_without_the_fetcher_it_knows() -> None:
    # Not started: no fetcher yet. The same error an aiokafka without the attribute would meet.
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
    with pytest.raises(RuntimeError, match="_prefetch_backoff"):
        fetch_after_consumed(consumer)
