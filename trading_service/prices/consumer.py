"""Consumes `stock-prices` into the Redis price cache (runs inside each API process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition
from redis.asyncio import ConnectionPool, Redis

from shared.background import raise_if_cancelled
from shared.fetching import fetch_after_consumed
from shared.kafka import PRICES_TOPIC
from trading_service.messages import PriceTick
from trading_service.prices.cache import PriceCache

log = logging.getLogger(__name__)

# Records re-read per partition on start: several ticks of every symbol at the default rate.
REPLAY = 1000
# Records per fetch: a second of a 5,000 ticks/s market per round, still one Redis call.
FETCH_RECORDS = 5000
# The broker answers a fetch as soon as one record is there (fetch_min_bytes 1), so a tick
# reaches the cache at once whatever this wait; a short one only polls an idle topic (every
# 10 ms cost ~15% of an API worker's CPU under order load).
FETCH_MAX_WAIT_MS = 500


def newest_per_symbol(records: Iterable[ConsumerRecord[Any, Any]]) -> list[PriceTick]:
    """The newest tick of each symbol among `records`: the only one the cache keeps anyway
    (used for the records re-read at start: the stream has seen them long ago).

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


def ticks_to_store(
    records: Iterable[ConsumerRecord[Any, Any]], replayed_below: Mapping[TopicPartition, int]
) -> list[PriceTick]:
    """What to store of one fetch, in order: of the records re-read at start (offsets below
    `replayed_below` of their partition) only each symbol's newest, of the others every tick.

    The cache publishes each tick it stores, so a fetch that caught several ticks of a symbol
    (this process was busy) still streams every one of them, in seq order.
    """
    replayed: list[ConsumerRecord[Any, Any]] = []
    ticks: list[PriceTick] = []
    for record in records:
        if record.offset < replayed_below.get(TopicPartition(record.topic, record.partition), 0):
            replayed.append(record)
            continue
        try:
            ticks.append(PriceTick.decode(record.value))
        except (ValueError, KeyError, TypeError):
            log.warning("skipping malformed price record", extra={"offset": record.offset})
    return newest_per_symbol(replayed) + ticks


async def run_price_consumer(bootstrap_servers: str, cache: PriceCache) -> None:
    """Forever: follow `stock-prices` into the cache, on a thread and event loop of its own.

    The API's event loop also writes every WebSocket frame; with a thousand clients one flush
    is a thousand writer steps, and each of the consumer's fetch round trips would queue behind
    them: ticks of a symbol would pile up between two fetches and all but the newest be lost to
    the stream (see `newest_per_symbol`). On its own loop the consumer only competes for the
    interpreter lock, which Python hands over every few milliseconds. It talks to the same
    Redis server through a client of its own (a client belongs to one loop).
    """
    api_loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = api_loop.create_future()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[None]]] = []

    async def consume() -> None:
        pool = cache.redis.connection_pool
        redis = Redis.from_pool(
            ConnectionPool(connection_class=pool.connection_class, **pool.connection_kwargs)
        )
        # Its own client, the API's memory (GET /prices/{symbol} reads the prices there).
        task = asyncio.create_task(follow_prices(bootstrap_servers, cache.sharing_memory(redis)))
        running.append((asyncio.get_running_loop(), task))
        try:
            await task
        finally:
            await redis.aclose()

    def run() -> None:
        try:
            with contextlib.suppress(asyncio.CancelledError):  # stopped by the API's shutdown
                asyncio.run(consume())
        finally:
            with contextlib.suppress(RuntimeError):  # the API's loop is closed already
                api_loop.call_soon_threadsafe(_resolve, ended)

    threading.Thread(target=run, name="price-consumer", daemon=True).start()
    try:
        await asyncio.shield(ended)
    finally:
        while not running and not ended.done():  # cancelled within its first milliseconds
            await asyncio.sleep(0.01)
        for loop, task in running:
            loop.call_soon_threadsafe(task.cancel)
        await ended  # the consumer has stopped and closed its connections


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def follow_prices(bootstrap_servers: str, cache: PriceCache) -> None:
    """Forever: follow every partition of `stock-prices` into the cache, which publishes each
    tick newer than the one it holds (the WebSocket stream's source).

    No consumer group: every replica reads everything, and the seq check in Redis makes the
    duplicate writes harmless. Each (re)start re-reads the last REPLAY records of every partition,
    so the cache holds every symbol's latest price at once, not only after its next tick; of
    those only each symbol's newest is stored. Each fetch is stored in one Redis call.
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
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        try:
            await consumer.start()
            fetch_after_consumed(consumer)
            while not consumer.assignment():
                await asyncio.sleep(0.1)
            tps = sorted(consumer.assignment())
            ends = await consumer.end_offsets(tps)
            for tp, end in ends.items():
                consumer.seek(tp, max(0, end - REPLAY))
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=FETCH_RECORDS)
                records = (r for records in batch.values() for r in records)
                await cache.store_many(ticks_to_store(records, ends))
        except asyncio.CancelledError:
            raise
        except Exception:
            raise_if_cancelled()  # a cancellation a library turned into its own error
            log.exception("price consumer failed; restarting in 1 s")
            await asyncio.sleep(1)
        finally:
            await consumer.stop()
