"""What the API's price consumer stores of a fetch: every tick, but of the start-up replay only
the newest of each symbol."""

from __future__ import annotations

import json
from typing import Any

from aiokafka.structs import ConsumerRecord, TopicPartition

from shared.kafka import PRICES_TOPIC
from trading_service.prices.consumer import ticks_to_store


def tick(partition: int, offset: int, symbol: str, seq: int) -> ConsumerRecord[Any, Any]:
    value = {"symbol": symbol, "price": "10.00", "seq": seq, "ts": "2026-12-02T04:00:00.000Z"}
    return ConsumerRecord(
        PRICES_TOPIC, partition, offset, 0, 0, symbol.encode(), json.dumps(value).encode(),
        None, 0, 0, (),
    )  # fmt: skip


def test_every_tick_after_the_replay_is_stored_in_order_of_the_replay_only_the_newest() -> None:
    replay_ends = {TopicPartition(PRICES_TOPIC, 0): 3, TopicPartition(PRICES_TOPIC, 1): 1}
    records = [
        tick(0, 0, "AAPL", 1),
        tick(0, 1, "AAPL", 2),  # the replay's newest AAPL
        tick(0, 2, "MSFT", 3),
        tick(0, 3, "AAPL", 4),  # read after the start: each one counts
        tick(0, 4, "AAPL", 5),
        tick(1, 0, "NVDA", 6),
        tick(1, 1, "NVDA", 7),
        tick(1, 2, "NVDA", 8),
    ]
    bad = ConsumerRecord(PRICES_TOPIC, 0, 5, 0, 0, b"AAPL", b"{not json", None, 0, 0, ())
    stored = ticks_to_store([*records, bad], replay_ends)
    assert [(t.symbol, t.seq) for t in stored] == [
        ("AAPL", 2),
        ("MSFT", 3),
        ("NVDA", 6),
        ("AAPL", 4),
        ("AAPL", 5),
        ("NVDA", 7),
        ("NVDA", 8),
    ]
