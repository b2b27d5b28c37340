"""The engine process: Kafka in, one Postgres transaction per batch, notifications out.

Exactly-once effects: a batch's fills, balances, order states AND the Kafka offsets it consumed
commit together in Postgres; nothing is committed to Kafka. On (re)assignment the books are
rebuilt from Postgres and consumption resumes at the stored offsets. Every batch first locks its
partitions' offset rows and checks they still hold the position this process expects, so an
engine that lost its partitions without noticing (a long pause) cannot write twice.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.kafka import ORDERS_TOPIC, PRICES_TOPIC
from shared.money import to_ticks
from trading_service.config import EngineSettings
from trading_service.engine.core.matching import MatchingEngine
from trading_service.engine.core.model import Canceled, Event, Expired, TimeInForce
from trading_service.engine.ledger import apply_events
from trading_service.market.snapshots import book_snapshot, publish_books
from trading_service.messages import (
    EXECUTIONS_CHANNEL,
    CancelRequest,
    NewOrder,
    PriceTick,
    ReplaceRequest,
    decode_order_message,
)
from trading_service.orders.service import to_core_order
from trading_service.tables import engine_offsets, orders, reference_prices

log = logging.getLogger(__name__)

OPEN = ("new", "partially_filled")
_partitioner = DefaultPartitioner()


def partition_of(symbol: str, partitions: int) -> int:
    """The partition a symbol's records land on (the producers' default partitioner)."""
    return int(_partitioner(symbol.encode(), list(range(partitions)), list(range(partitions))))


class FencedOut(Exception):
    """Another engine processed our partitions since we last looked: rebuild from Postgres."""


class EngineRunner:
    def __init__(
        self, settings: EngineSettings, db: AsyncEngine, redis: Redis, consumer: AIOKafkaConsumer
    ) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis
        self.consumer = consumer
        self.core = MatchingEngine(settings.spread_bps, settings.house_size)
        self.assigned: set[int] = set()
        self.expected: dict[TopicPartition, int] = {}  # next offset to process per partition
        self.ref_seq: dict[str, int] = {}
        self.trading_day = self._current_day()
        # Rebalance callbacks and batches take turns: a partition is never dropped mid-batch.
        self.lock = asyncio.Lock()

    # --- assignment -------------------------------------------------------------------------

    def listener(self) -> ConsumerRebalanceListener:
        runner = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
                async with runner.lock:
                    runner.assigned = set()
                    runner.expected = {}

            async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
                async with runner.lock:
                    await runner.rebuild({tp.partition for tp in assigned})

        return Listener()

    async def rebuild(self, partitions: set[int]) -> None:
        """Load the books, reference prices and offsets of `partitions` from Postgres; seek."""
        count = (
            len(self.consumer.partitions_for_topic(ORDERS_TOPIC) or ())
            or self.settings.kafka_partitions
        )

        def mine(symbol: str) -> bool:
            return partition_of(symbol, count) in partitions

        core = MatchingEngine(self.settings.spread_bps, self.settings.house_size)
        tps = [TopicPartition(t, p) for t in (PRICES_TOPIC, ORDERS_TOPIC) for p in partitions]
        async with self.db.begin() as conn:
            # Rows exist before anyone relies on locking them (see _fence).
            if tps:
                await conn.execute(
                    pg_insert(engine_offsets)
                    .values(
                        [
                            {"topic": tp.topic, "partition": tp.partition, "next_offset": 0}
                            for tp in tps
                        ]
                    )
                    .on_conflict_do_nothing()
                )
            stored = {
                TopicPartition(r.topic, r.partition): r.next_offset
                for r in await conn.execute(select(engine_offsets))
            }
            refs = [r for r in await conn.execute(select(reference_prices)) if mine(r.symbol)]
            resting = [
                r
                for r in await conn.execute(
                    select(orders)
                    .where(orders.c.status.in_(OPEN), orders.c.accepted_at.is_not(None))
                    .order_by(orders.c.priority)
                )
                if mine(r.symbol)
            ]
        day_start = datetime.fromtimestamp(self._current_day() * self.settings.trading_day_s, UTC)
        stale_day = [
            r.id
            for r in resting
            if r.time_in_force == TimeInForce.DAY and r.accepted_at < day_start
        ]
        resting = [r for r in resting if r.id not in set(stale_day)]
        self.ref_seq = {}
        for r in refs:
            core.set_reference(r.symbol, to_ticks(r.price))  # empty books: nothing can trade
            self.ref_seq[r.symbol] = r.seq
        for r in resting:
            order = to_core_order(r)
            order.triggered = r.triggered_at is not None
            core.restore(order)
        core.advance_priority(max((r.priority or 0 for r in resting), default=0))
        self.core = core
        self.assigned = set(partitions)
        self.expected = {tp: stored[tp] for tp in tps}
        for tp in tps:
            self.consumer.seek(tp, stored[tp])
        if stale_day:
            # DAY orders from a day that ended while no engine owned them.
            await self._apply_alone([Expired(order_id) for order_id in stale_day])
        log.info(
            "partitions assigned; books rebuilt from Postgres",
            extra={"partitions": sorted(partitions), "resting_orders": len(resting)},
        )

    # --- the loop ---------------------------------------------------------------------------

    def _current_day(self) -> int:
        return int(time.time() // self.settings.trading_day_s)

    async def _apply_alone(self, events: list[Event]) -> None:
        """Events no Kafka record caused (end of day), in a transaction of their own."""
        async with self.db.begin() as conn:
            result = await apply_events(conn, events, datetime.now(UTC))
        await self._notify(
            {"orders": result.orders, "trades": result.trades, "fills": result.fills}
        )

    async def run(self) -> None:
        backoff = 0.5
        while True:
            batch = await self.consumer.getmany(timeout_ms=200, max_records=self.settings.max_batch)
            async with self.lock:
                try:
                    if self._current_day() != self.trading_day:
                        expired = self.core.expire_day_orders()
                        self.trading_day = self._current_day()
                        if expired:
                            await self._apply_alone(expired)
                            await self._publish_books(set(self.ref_seq))
                    if batch:
                        await self.process(batch)
                    backoff = 0.5
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    level = logging.INFO if isinstance(exc, FencedOut) else logging.ERROR
                    log.log(level, "batch not applied; rebuilding from Postgres", exc_info=True)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10)
                    await self._rebuild_safely()

    async def _rebuild_safely(self) -> None:
        try:
            await self.rebuild(set(self.assigned))
        except Exception:
            log.exception("rebuild failed; will retry with the next batch")

    async def process(self, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> None:
        # Keep only what we own and have not applied yet (a re-delivery after a seek is normal).
        fresh_batch = {
            tp: [r for r in records if r.offset >= self.expected[tp]]
            for tp, records in batch.items()
            if tp in self.expected
        }
        fresh_batch = {tp: recs for tp, recs in fresh_batch.items() if recs}
        if not fresh_batch:
            return
        # Merge the two topics of a symbol by timestamp; each partition stays in offset order.
        records = list(heapq.merge(*fresh_batch.values(), key=lambda r: (r.timestamp, r.offset)))
        records = drop_superseded_ticks(records, self.core)
        new_ids = []
        decoded: list[tuple[ConsumerRecord[Any, Any], Any]] = []
        for record in records:
            try:
                if record.topic == PRICES_TOPIC:
                    decoded.append((record, PriceTick.decode(record.value)))
                else:
                    message = decode_order_message(record.value)
                    if isinstance(message, NewOrder):
                        new_ids.append(message.order.id)
                    decoded.append((record, message))
            except (ValueError, KeyError, TypeError):
                log.warning(
                    "skipping malformed record",
                    extra={"topic": record.topic, "offset": record.offset},
                )

        now = datetime.now(UTC)
        started = time.perf_counter()
        async with self.db.begin() as conn:
            await self._fence(conn, fresh_batch)
            unaccepted = await _unaccepted(conn, new_ids)
            events: list[Event] = []
            new_refs: dict[str, PriceTick] = {}
            for _, message in decoded:
                if isinstance(message, PriceTick):
                    if message.seq > self.ref_seq.get(message.symbol, -1):
                        self.ref_seq[message.symbol] = message.seq
                        new_refs[message.symbol] = message
                        events += self.core.set_reference(message.symbol, to_ticks(message.price))
                elif isinstance(message, NewOrder):
                    if message.order.id in unaccepted:
                        unaccepted.discard(message.order.id)  # a second copy in this batch: skip
                        events += self.core.submit(message.order)
                elif isinstance(message, CancelRequest):
                    found = self.core.cancel(message.order_id)
                    if not found and message.order_id in await _unaccepted(
                        conn, [message.order_id]
                    ):
                        # Canceled before the engine saw it: it must never be accepted later.
                        found = [Canceled(message.order_id, "canceled by user")]
                    events += found
                elif isinstance(message, ReplaceRequest):
                    events += self.core.replace(
                        message.order_id, message.qty, message.limit, message.stop
                    )
            result = await apply_events(conn, events, now)
            if new_refs:
                stmt = pg_insert(reference_prices)
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[reference_prices.c.symbol],
                        set_={
                            "price": stmt.excluded.price,
                            "seq": stmt.excluded.seq,
                            "ts": stmt.excluded.ts,
                        },
                    ),
                    [
                        {
                            "symbol": t.symbol,
                            "price": t.price,
                            "seq": t.seq,
                            "ts": datetime.fromisoformat(t.ts),
                        }
                        for t in new_refs.values()
                    ],
                )
            next_offsets = {tp: recs[-1].offset + 1 for tp, recs in fresh_batch.items()}
            await conn.execute(
                text(
                    "UPDATE engine_offsets SET next_offset = :n, updated_at = now() "
                    "WHERE topic = :t AND partition = :p"
                ),
                [{"n": n, "t": tp.topic, "p": tp.partition} for tp, n in next_offsets.items()],
            )
        self.expected.update(next_offsets)
        log.debug(
            "batch applied",
            extra={
                "records": len(records),
                "events": len(events),
                "ms": round(1000 * (time.perf_counter() - started), 1),
            },
        )
        if result.orders or result.trades:
            await self._notify(
                {"orders": result.orders, "trades": result.trades, "fills": result.fills}
            )
        touched = {o["symbol"] for o in result.orders} | {
            m.symbol if isinstance(m, PriceTick) else m.order.symbol
            for _, m in decoded
            if isinstance(m, PriceTick | NewOrder)
        }
        await self._publish_books(touched)

    async def _publish_books(self, symbols: set[str]) -> None:
        """Depth snapshots of what this batch touched, for the API and the WebSocket stream."""
        try:
            await publish_books(
                self.redis,
                [
                    book_snapshot(self.core, s)
                    for s in sorted(symbols)
                    if self.core.reference(s) is not None
                ],
            )
        except Exception:
            log.warning("could not publish order books to Redis", exc_info=True)

    async def _fence(
        self, conn: AsyncConnection, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]
    ) -> None:
        keys = sorted((tp.topic, tp.partition) for tp in batch)
        rows = await conn.execute(
            text(
                "SELECT topic, partition, next_offset FROM engine_offsets "
                "WHERE (topic, partition) IN "
                "(SELECT * FROM unnest(CAST(:topics AS text[]), CAST(:parts AS int[]))) "
                "ORDER BY topic, partition FOR UPDATE"
            ),
            {"topics": [k[0] for k in keys], "parts": [k[1] for k in keys]},
        )
        stored = {TopicPartition(r.topic, r.partition): r.next_offset for r in rows}
        for tp in batch:
            if stored.get(tp) != self.expected[tp]:
                raise FencedOut(
                    f"{tp} is at {stored.get(tp)} in Postgres, expected {self.expected[tp]}"
                )

    async def _notify(self, payload: dict[str, Any]) -> None:
        """After commit only; a lost notification costs a waiter its timeout, nothing else."""
        try:
            await self.redis.publish(EXECUTIONS_CHANNEL, json.dumps(payload))
        except Exception:
            log.warning("could not publish executions to Redis", exc_info=True)


async def _unaccepted(conn: AsyncConnection, order_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not order_ids:
        return set()
    rows = await conn.execute(
        select(orders.c.id).where(
            orders.c.id.in_(order_ids), orders.c.accepted_at.is_(None), orders.c.status == "new"
        )
    )
    return {r.id for r in rows}


def drop_superseded_ticks(
    records: list[ConsumerRecord[Any, Any]], core: MatchingEngine
) -> list[ConsumerRecord[Any, Any]]:
    """`records` without the price ticks that cannot matter: a big market sends many ticks of a
    symbol per batch, and decoding and applying each one is most of the engine's work.

    For a symbol with no resting order, no pending stop and no order message in this batch, a
    tick only re-quotes the house (set_reference has nothing to fill or trigger) and the next
    tick re-quotes it again, so only its last tick in the batch has an effect. Records are keyed
    by symbol and one symbol's ticks are in offset order in one partition (the stock service's
    seq grows with them), so the last by position is the newest.
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
                symbol = key.decode(errors="replace")
                quiet[key] = not core.book(symbol).orders and not core.pending_stops(symbol)
            if quiet[key]:
                continue
        kept.append(record)
    return kept
