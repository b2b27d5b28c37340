"""What reaches `stock-prices` on a real broker: keys, JSON shape, seq order, partitioning."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner

from devstack.stack import Stack
from shared.kafka import PRICES_TOPIC
from tests.stock_service.conftest import make_settings, running, wait_until

PRICE = re.compile(r"^\d+\.\d{2}$")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TICKS = 8


@pytest.mark.kafka
async def test_prices_reach_kafka_keyed_and_ordered(
    stack: Stack, tmp_path: Path, symbols: list[str]
) -> None:
    settings = make_settings(tmp_path, symbols)
    async with running(settings) as (app, _):
        clock = app.state.clock

        async def published() -> bool:
            return bool(app.state.feed.health.published_ticks >= TICKS)

        await wait_until(published, what=f"{TICKS} published ticks")
    # Subscribed without a group: the client takes every partition, shared with no one. (Apache
    # Kafka's metadata lists only subscribed topics, so a bare consumer would see none.)
    consumer = AIOKafkaConsumer(
        PRICES_TOPIC,
        bootstrap_servers=stack.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:

        async def assigned_all() -> bool:
            return bool(consumer.assignment())

        await wait_until(assigned_all, what="the partitions are assigned")
        assigned = sorted(consumer.assignment())
        partitions = [tp.partition for tp in assigned]
        assert len(partitions) == settings.kafka_partitions
        await consumer.seek_to_beginning(*assigned)

        records: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)

        async def read_all() -> bool:
            batches = await consumer.getmany(*assigned, timeout_ms=200)
            for tp, messages in batches.items():
                for message in messages:
                    assert message.key is not None
                    key = message.key.decode()
                    if key in symbols:
                        records[key].append((tp.partition, json.loads(message.value)))
            # Filtered by our unique symbols: other tests share the topic. At least TICKS ticks of
            # every symbol were published before the app stopped.
            return all(len(records[s]) >= TICKS for s in symbols)

        await wait_until(read_all, what=f"{TICKS} records of every symbol")
    finally:
        await consumer.stop()

    partitioner = DefaultPartitioner()
    for symbol in symbols:
        seen = records[symbol]
        assert len(seen) >= TICKS
        for _, value in seen:
            # The seed contract's four fields, plus the market clock's time of the tick.
            assert set(value) == {"symbol", "price", "ts", "seq", "market_ts"}
            assert value["symbol"] == symbol
            assert isinstance(value["price"], str) and PRICE.match(value["price"])
            assert TS.match(value["ts"])
            assert TS.match(value["market_ts"])
            # Both are cut to milliseconds: a wall millisecond is time_scale market ones.
            expected = clock.market_time(datetime.fromisoformat(value["ts"]))
            drift = datetime.fromisoformat(value["market_ts"]) - expected
            assert abs(drift.total_seconds()) <= (clock.time_scale + 1) / 1000
        seqs = [value["seq"] for _, value in seen]
        assert seqs == sorted(set(seqs)), f"{symbol}: seq not strictly increasing: {seqs}"
        # One partition per symbol, the one the default partitioner gives the `orders` records too.
        assert {partition for partition, _ in seen} == {
            partitioner(symbol.encode(), partitions, partitions)
        }
