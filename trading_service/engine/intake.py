"""Kafka records into the engine's messages: which ones are fresh, in what order, decoded."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord

from shared.kafka import PRICES_TOPIC
from trading_service.engine.commands import Message
from trading_service.engine.scopes import ScopedCores
from trading_service.messages import PriceTick, decode_order_message

log = logging.getLogger(__name__)

Record: TypeAlias = "ConsumerRecord[Any, Any]"
Batch: TypeAlias = "Mapping[TopicPartition, list[Record]]"

_partitioner = DefaultPartitioner()


def partition_of(symbol: str, partitions: int) -> int:
    """The partition a symbol's records land on (the producers' default partitioner)."""
    return int(_partitioner(symbol.encode(), list(range(partitions)), list(range(partitions))))


def fresh(
    batch: Batch, expected: Mapping[TopicPartition, int]
) -> dict[TopicPartition, list[Record]]:
    """Only what we own and have not applied yet (a re-delivery after a seek is normal)."""
    kept = {
        tp: [r for r in records if r.offset >= expected[tp]]
        for tp, records in batch.items()
        if tp in expected
    }
    return {tp: records for tp, records in kept.items() if records}


def in_order(batch: Batch) -> list[Record]:
    """The two topics of a symbol merged by timestamp; each partition stays in offset order."""
    return list(heapq.merge(*batch.values(), key=lambda r: (r.timestamp, r.offset)))


def decode(record: Record) -> Message:
    """Raises ValueError, KeyError or TypeError on a malformed record."""
    if record.topic == PRICES_TOPIC:
        return PriceTick.decode(record.value)
    return decode_order_message(record.value)


def decode_all(records: Iterable[Record]) -> list[tuple[Record, Message]]:
    """The records that decode; a malformed one is logged and skipped."""
    decoded: list[tuple[Record, Message]] = []
    for record in records:
        try:
            decoded.append((record, decode(record)))
        except (ValueError, KeyError, TypeError):
            log.warning(
                "skipping malformed record", extra={"topic": record.topic, "offset": record.offset}
            )
    return decoded


def drop_superseded_ticks(records: list[Record], cores: ScopedCores) -> list[Record]:
    """`records` without the price ticks that cannot matter: a big market sends many ticks of a
    symbol per batch, and decoding and applying each one is most of the engine's work.

    For a symbol with no resting order, no pending stop (in any scope) and no order message in
    this batch, a tick only re-quotes the house (set_reference has nothing to fill or trigger)
    and the next tick re-quotes it again, so only its last tick in the batch has an effect.
    Records are keyed by symbol and one symbol's ticks are in offset order in one partition (the
    stock service's seq grows with them), so the last by position is the newest.
    """
    ordered = {r.key for r in records if r.topic != PRICES_TOPIC}
    if None in ordered:
        return records  # an order message without a symbol key: do not guess
    last = {r.key: i for i, r in enumerate(records) if r.topic == PRICES_TOPIC and r.key}
    quiet: dict[bytes, bool] = {}
    kept = []
    for i, record in enumerate(records):
        key = record.key
        if record.topic == PRICES_TOPIC and key and last[key] != i and key not in ordered:
            if key not in quiet:
                quiet[key] = not cores.busy(key.decode(errors="replace"))
            if quiet[key]:
                continue
        kept.append(record)
    return kept
