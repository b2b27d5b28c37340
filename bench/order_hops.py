"""Order-to-fill taken apart, per order, from outside the processes (bench.order_path).

Four instants per order, all on this machine's clock:
- `created_at`: the start of the group-commit transaction that stored the order (PostgreSQL's
  now());
- the Kafka record's timestamp: when the API appended the order to its producer's batch (after
  the commit; aiokafka stamps records as they are appended);
- the first fill's `ts`: the start of the engine batch that filled it (the engine stamps a
  batch's fills, trades and order updates with one time before it writes them);
- when the `executions` message naming the order reached a subscriber of Redis (this process:
  a thread that only timestamps raw messages; they are parsed after the run).

So the hops are: the transaction, its commit and the hand-off (→ produced); the broker and the
engine's fetch and wait for its previous batch (→ engine batch); the engine's batch, commit and
publish (→ executions seen). What is left of a waiting request's latency is before the
transaction (HTTP, auth, price, queueing for a group) and after the message (the waiter, the
answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from datetime import datetime

import asyncpg
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.kafka import ORDERS_TOPIC
from trading_service.messages import EXECUTIONS_CHANNEL

HOPS = ("txn+commit+hand-off", "Kafka+engine wait", "engine batch+publish", "order-to-seen")


class ExecutionsTap:
    """A thread subscribed to `executions` that keeps (arrival time, raw message) pairs."""

    def __init__(self, redis_url: str) -> None:
        self._client = redis.Redis.from_url(redis_url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(EXECUTIONS_CHANNEL)
        self._seen: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.2)
            if message is not None:
                self._seen.append((time.time(), message["data"]))

    def first_seen(self, since: float) -> dict[str, float]:
        """Order id → when the first message naming it (after `since`) arrived."""
        first: dict[str, float] = {}
        for at, raw in list(self._seen):
            if at < since:
                continue
            for order in json.loads(raw).get("orders", []):
                first.setdefault(order["id"], at)
        return first

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._pubsub.close()
        self._client.close()


async def produced_at(
    bootstrap_servers: str, since: float, partitions: int = 4
) -> dict[str, float]:
    """New-order id → its Kafka record's timestamp (s), for records stamped after `since`
    (`partitions`: the orders topic's, bench.harness.fresh_stack's 4)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(ORDERS_TOPIC, p) for p in range(partitions)]
        consumer.assign(parts)
        starts = await consumer.offsets_for_times({tp: int(since * 1000) for tp in parts})
        ends = await consumer.end_offsets(parts)
        wanted = {}
        for tp in parts:
            found = starts.get(tp)
            if found is not None and found.offset < ends[tp]:
                consumer.seek(tp, found.offset)
                wanted[tp] = ends[tp]
        times: dict[str, float] = {}
        while wanted:
            batch = await consumer.getmany(*wanted, timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    body = json.loads(r.value)
                    if body.get("kind") == "new":
                        times.setdefault(body["id"], r.timestamp / 1000)
                if records and records[-1].offset + 1 >= wanted[tp]:
                    del wanted[tp]
        return times
    finally:
        # aiokafka's group-less consumer re-raises the cancellation of its own task on stop.
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()


async def order_times(database_url: str, since: datetime) -> dict[str, tuple[float, float]]:
    """Order id → (created_at, first fill's ts) in seconds, for filled orders created after
    `since`."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(
            "SELECT o.id::text AS id, extract(epoch FROM o.created_at) AS created, "
            "extract(epoch FROM min(f.ts)) AS filled "
            "FROM orders o JOIN fills f ON f.order_id = o.id WHERE o.created_at > $1 "
            "GROUP BY o.id, o.created_at",
            since,
        )
        return {r["id"]: (float(r["created"]), float(r["filled"])) for r in rows}
    finally:
        await conn.close()


def hops(
    orders: dict[str, tuple[float, float]], produced: dict[str, float], seen: dict[str, float]
) -> dict[str, list[float]]:
    """Per hop, the sorted milliseconds of every order with all four instants."""
    out: dict[str, list[float]] = {h: [] for h in HOPS}
    for order_id, (created, filled) in orders.items():
        sent, arrived = produced.get(order_id), seen.get(order_id)
        if sent is None or arrived is None:
            continue
        for hop, ms in zip(
            HOPS,
            (sent - created, filled - sent, arrived - filled, arrived - created),
            strict=True,
        ):
            out[hop].append(1000 * ms)
    return {h: sorted(v) for h, v in out.items()}
