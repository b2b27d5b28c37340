"""Consumes `stock-prices` into the Redis price cache (runs inside each API process)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from shared.kafka import PRICES_TOPIC
from trading_service.messages import PriceTick
from trading_service.prices.cache import PriceCache

log = logging.getLogger(__name__)

# Records re-read per partition on start: several ticks of every symbol at the default rate.
REPLAY = 1000
# Records per fetch: a second of a 5,000 ticks/s market per round, still one Redis call.
FETCH_RECORDS = 5000


def newest_per_symbol(records: Iterable[ConsumerRecord[Any, Any]]) -> list[PriceTick]:
    """The newest tick of each symbol among `records`: the only one the cache keeps anyway.

    Decoding (JSON, Decimal) is most of the cost per record, so only the last record of each
    key is decoded: a key is a symbol, and one symbol's records are in offset order in one
    partition. A record with no key is decoded on its own.
    """
    last: dict[object, ConsumerRecord[Any, Any]] = {}
    for record in records:
        last[record.key if record.key is not None else (record.partition, record.offset)] = record
    newest: dict[str, PriceTick] = {}
    for record in last.values():
        try:
            tick = PriceTick.decode(record.value)
        except (ValueError, KeyError, TypeError):
            log.warning("skipping malformed price record", extra={"offset": record.offset})
            continue
        if tick.symbol not in newest or tick.seq > newest[tick.symbol].seq:
            newest[tick.symbol] = tick
    return list(newest.values())


async def run_price_consumer(bootstrap_servers: str, cache: PriceCache) -> None:
    """Forever: follow every partition of `stock-prices` and keep the newest tick per symbol.

    No consumer group: every replica reads everything, and the seq check in Redis makes the
    duplicate writes harmless. Each (re)start re-reads the last REPLAY records of every partition,
    so the cache holds every symbol's latest price at once, not only after its next tick.
    Each fetch is coalesced to one tick per symbol and stored in one Redis call.
    """
    while True:
        # Subscribed without a group: the client assigns itself every partition of the topic
        # once its metadata knows them (re-checked every 2 s until the topic exists).
        consumer = AIOKafkaConsumer(
            PRICES_TOPIC,
            bootstrap_servers=bootstrap_servers,
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="latest",
            metadata_max_age_ms=2000,
            # A tick should reach the cache at once, not when the broker's fetch wait runs out.
            fetch_max_wait_ms=10,
        )
        try:
            await consumer.start()
            while not consumer.assignment():
                await asyncio.sleep(0.1)
            tps = sorted(consumer.assignment())
            for tp, end in (await consumer.end_offsets(tps)).items():
                consumer.seek(tp, max(0, end - REPLAY))
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=FETCH_RECORDS)
                ticks = newest_per_symbol(r for records in batch.values() for r in records)
                await cache.store_many(ticks)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("price consumer failed; restarting in 1 s")
            await asyncio.sleep(1)
        finally:
            await consumer.stop()
