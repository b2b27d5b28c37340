"""The engine process: Kafka in, one Postgres transaction per batch, notifications out.

Exactly-once effects: a batch's fills, balances, order states AND the Kafka offsets it consumed
commit together in Postgres; nothing is committed to Kafka. On (re)assignment the books are
rebuilt from Postgres and consumption resumes at the stored offsets. Every batch first locks its
partitions' offset rows and checks they still hold the position this process expects, so an
engine that lost its partitions without noticing (a long pause) cannot write twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord
from redis.asyncio import Redis
from sqlalchemy import Select, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.kafka import ORDERS_TOPIC, PRICES_TOPIC
from shared.market_clock import MarketClock
from shared.market_epoch import load_market_clock
from shared.money import to_ticks
from trading_service.config import EngineSettings
from trading_service.engine.accounting import InvariantBroken, ReplaceSettled
from trading_service.engine.core.model import (
    Canceled,
    Event,
    Expired,
    Rejected,
    Replaced,
    TimeInForce,
)
from trading_service.engine.ledger import Entry, apply_events
from trading_service.engine.metrics import observe_batch
from trading_service.engine.scopes import ScopedCores
from trading_service.engine.trace import log_order_messages
from trading_service.market.snapshots import book_snapshot, publish_books
from trading_service.messages import (
    EXECUTIONS_CHANNEL,
    CancelRequest,
    Executions,
    NewOrder,
    PriceTick,
    ReplaceRequest,
    decode_order_message,
)
from trading_service.order_status import OPEN
from trading_service.orders.service import to_core_order
from trading_service.tables import accounts, engine_offsets, orders, reference_prices

log = logging.getLogger(__name__)

_partitioner = DefaultPartitioner()


def partition_of(symbol: str, partitions: int) -> int:
    """The partition a symbol's records land on (the producers' default partitioner)."""
    return int(_partitioner(symbol.encode(), list(range(partitions)), list(range(partitions))))


class FencedOut(Exception):
    """Another engine processed our partitions since we last looked: rebuild from Postgres."""


# Redis hash: rejected_commands (all engine instances), last_reason, last_at.
HEALTH_KEY = "stocksim:engine:health"


@dataclass
class EngineHealth:
    """This process's record of the commands it refused rather than stop on them."""

    rejected_commands: int = 0
    last_reason: str | None = None

    def refused(self, reason: str) -> None:
        self.rejected_commands += 1
        self.last_reason = reason


def _is_bad_command(exc: Exception) -> bool:
    """A failure the records of a batch caused, not an outage: refused, never replayed forever.

    A database that is unreachable raises OperationalError/InterfaceError instead, and a fenced
    engine FencedOut: those are retried after a rebuild.
    """
    return isinstance(
        exc,
        InvariantBroken | IntegrityError | DataError | ArithmeticError | LookupError | ValueError,
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, InvariantBroken):
        return exc.reason
    if isinstance(exc, IntegrityError | DataError):
        return f"the database refused it ({str(exc.orig).splitlines()[0][:200]})"
    return f"it cannot be applied ({type(exc).__name__})"


class EngineRunner:
    def __init__(
        self, settings: EngineSettings, db: AsyncEngine, redis: Redis, consumer: AIOKafkaConsumer
    ) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis
        self.consumer = consumer
        # One core per scope (a league, or None for personal accounts): money never crosses
        # leagues (trading_service/engine/scopes.py).
        self.cores = ScopedCores(settings.spread_bps, settings.house_size)
        self.assigned: set[int] = set()
        self.expected: dict[TopicPartition, int] = {}  # next offset to process per partition
        self.ref_seq: dict[str, int] = {}
        self.clock: MarketClock | None = None  # loaded from Postgres by the first rebuild/loop
        self.trading_day: int | None = None
        self.health = EngineHealth()
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

        cores = ScopedCores(self.settings.spread_bps, self.settings.house_size)
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
                    _with_scope()
                    .where(orders.c.status.in_(OPEN), orders.c.accepted_at.is_not(None))
                    .order_by(orders.c.priority)
                )
                if mine(r.symbol)
            ]
        # DAY orders of a session that closed while no engine owned them expire now; the loop
        # expires the rest at the next close.
        self.trading_day, day_start = await self._trading_day()
        stale_day = [
            r.id
            for r in resting
            if r.time_in_force == TimeInForce.DAY and r.accepted_at < day_start
        ]
        resting = [r for r in resting if r.id not in set(stale_day)]
        self.ref_seq = {}
        for r in refs:
            cores.set_reference(r.symbol, to_ticks(r.price))  # empty books: nothing can trade
            self.ref_seq[r.symbol] = r.seq
        for r in resting:
            order = to_core_order(r)
            order.triggered = r.triggered_at is not None
            cores.restore(order, r.league_id)
        cores.advance_priority(max((r.priority or 0 for r in resting), default=0))
        self.cores = cores
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

    # DAY orders live until the session close on the market clock (shared/market_clock.py).
    async def _market_clock(self) -> MarketClock:
        if self.clock is None:
            self.clock = await load_market_clock(self.db, self.settings)
        return self.clock

    async def _trading_day(self) -> tuple[int, datetime]:
        """The current trading day's number, and the wall time its session opened."""
        clock = await self._market_clock()
        now = datetime.now(UTC)
        return clock.day_index(now), clock.wall_time(clock.current_session(now).open)

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
                    today, _ = await self._trading_day()
                    if self.trading_day is None:
                        self.trading_day = today
                    elif today != self.trading_day:
                        expired = self.cores.expire_day_orders()
                        self.trading_day = today
                        if expired:
                            await self._apply_alone(expired)
                            await self._publish_books(set(self.ref_seq))
                    if batch:
                        await self._process_guarded(batch)
                    backoff = 0.5
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    level = logging.INFO if isinstance(exc, FencedOut) else logging.ERROR
                    log.log(level, "batch not applied; rebuilding from Postgres", exc_info=True)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10)
                    await self._rebuild_safely()

    async def _process_guarded(
        self, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]
    ) -> None:
        """The batch in one transaction; if one of its commands cannot be applied, each record
        alone, refusing the ones that fail: one bad command never stops the others."""
        try:
            await self.process(batch)
        except Exception as exc:
            if not _is_bad_command(exc):
                raise
            log.warning("batch not applied (%s); applying its records one by one", exc)
            await self.rebuild(set(self.assigned))
            await self._isolate(batch)

    async def _isolate(self, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> None:
        records = heapq.merge(*batch.values(), key=lambda r: (r.timestamp, r.offset))
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            for attempt in (1, 2):
                if tp not in self.expected or record.offset < self.expected[tp]:
                    break  # not ours any more, or already applied
                try:
                    await self.process({tp: [record]})
                    break
                except Exception as exc:
                    if not _is_bad_command(exc):
                        raise
                    await self.rebuild(set(self.assigned))
                    if tp not in self.expected:
                        break
                    if not await self._refuse(tp, record, exc, last_try=attempt == 2):
                        break
                    await self.rebuild(set(self.assigned))  # drop the orders it canceled

    async def _refuse(
        self,
        tp: TopicPartition,
        record: ConsumerRecord[Any, Any],
        exc: Exception,
        last_try: bool,
    ) -> bool:
        """Refuse what `record` asked for, alone in a transaction, and step past it.

        A new order is rejected and a replace refused (their reservations given back); a record
        that broke an invariant through other orders (a price tick filling them) cancels those
        orders instead and returns True: the record itself is then applied again.
        """
        reason = _reason(exc)
        message: Any = None
        with contextlib.suppress(ValueError, KeyError, TypeError):
            message = (
                PriceTick.decode(record.value)
                if record.topic == PRICES_TOPIC
                else decode_order_message(record.value)
            )
        own = (
            message.order.id
            if isinstance(message, NewOrder)
            else message.order_id
            if isinstance(message, ReplaceRequest)
            else None
        )
        broken = exc.order_ids if isinstance(exc, InvariantBroken) else set()
        others = broken - {own}
        # Other orders broke it (the command only made them trade): those go, the command stays.
        retry = bool(others) and not last_try and own not in broken
        now = datetime.now(UTC)
        async with self.db.begin() as conn:
            await self._fence(conn, {tp: [record]})
            events: list[Entry] = []
            if retry:
                events = [Canceled(i, f"canceled by the engine: {reason}") for i in sorted(others)]
            elif isinstance(message, NewOrder):
                if message.order.id in await _unaccepted(conn, [message.order.id]):
                    events = [Rejected(message.order.id, f"refused by the engine: {reason}")]
            elif isinstance(message, ReplaceRequest):
                found = await _pending_replaces(conn, [message.order_id])
                if message.order_id in found:
                    seq = found[message.order_id].replace_seq
                    events = [ReplaceSettled(message.order_id, seq, refused=reason)]
            result = None
            if events:
                try:
                    async with conn.begin_nested():
                        result = await apply_events(conn, events, now)
                except Exception as again:
                    if not _is_bad_command(again):
                        raise
                    log.error("could not refuse a command cleanly; skipping it only")
                    retry = False
            if not retry:
                await self._store_offsets(conn, {tp: record.offset + 1})
        if not retry:
            self.expected[tp] = record.offset + 1
        self.health.refused(reason)
        log.warning(
            "command refused; the engine goes on",
            extra={"topic": tp.topic, "offset": record.offset, "reason": reason},
        )
        await self._record_health()
        if result is not None:
            await self._notify(
                {"orders": result.orders, "trades": result.trades, "fills": result.fills}
            )
        return retry

    async def _record_health(self) -> None:
        """Shared by every engine instance in Redis: refused commands in all, the last reason."""
        try:
            await self.redis.hincrby(HEALTH_KEY, "rejected_commands", 1)
            await self.redis.hset(
                HEALTH_KEY,
                mapping={
                    "last_reason": self.health.last_reason or "",
                    "last_at": datetime.now(UTC).isoformat(),
                },
            )
        except Exception:
            log.warning("could not record the engine's health in Redis", exc_info=True)

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
        records = drop_superseded_ticks(records, self.cores)
        decoded: list[tuple[ConsumerRecord[Any, Any], Any]] = []
        for record in records:
            try:
                if record.topic == PRICES_TOPIC:
                    decoded.append((record, PriceTick.decode(record.value)))
                else:
                    decoded.append((record, decode_order_message(record.value)))
            except (ValueError, KeyError, TypeError):
                log.warning(
                    "skipping malformed record",
                    extra={"topic": record.topic, "offset": record.offset},
                )
        await self._apply(fresh_batch, decoded)

    async def _apply(
        self,
        fresh_batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]],
        decoded: list[tuple[ConsumerRecord[Any, Any], Any]],
    ) -> None:
        """One transaction: the records' effects and the offsets past them, or nothing."""
        new_ids = [m.order.id for _, m in decoded if isinstance(m, NewOrder)]
        replace_ids = [m.order_id for _, m in decoded if isinstance(m, ReplaceRequest)]
        now = datetime.now(UTC)
        started = time.perf_counter()
        async with self.db.begin() as conn:
            await self._fence(conn, fresh_batch)
            # The order's terms come from Postgres, never from the message: what the API checked
            # and reserved for is what the engine applies (a forged record cannot change it).
            unaccepted = await _unaccepted(conn, new_ids)
            # Locked, so no replace is accepted on top of the one applied here until commit.
            replaced_early = [
                i for i, r in unaccepted.items() if r.replace_seq > r.replace_applied_seq
            ]
            pending = await _pending_replaces(conn, replace_ids + replaced_early)
            events: list[Entry] = []
            new_refs: dict[str, PriceTick] = {}
            for _, message in decoded:
                if isinstance(message, PriceTick):
                    if message.seq > self.ref_seq.get(message.symbol, -1):
                        self.ref_seq[message.symbol] = message.seq
                        new_refs[message.symbol] = message
                        events += self.cores.set_reference(message.symbol, to_ticks(message.price))
                elif isinstance(message, NewOrder):
                    row = unaccepted.pop(message.order.id, None)  # a second copy: skipped
                    if row is not None:
                        events += self._submit(row, pending.pop(row.id, None))
                elif isinstance(message, CancelRequest):
                    found: list[Entry] = list(self.cores.cancel(message.order_id))
                    if not found and message.order_id in await _unaccepted(
                        conn, [message.order_id]
                    ):
                        # Canceled before the engine saw it: it must never be accepted later.
                        unaccepted.pop(message.order_id, None)
                        found = [Canceled(message.order_id, "canceled by user")]
                    events += found
                elif isinstance(message, ReplaceRequest):
                    events += self._replace(message.order_id, pending)
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
            await self._store_offsets(conn, next_offsets)
        self.expected.update(next_offsets)
        observe_batch(len(decoded), time.perf_counter() - started, result)
        log_order_messages(decoded, result)
        log.debug(
            "batch applied",
            extra={
                "records": len(decoded),
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

    async def _store_offsets(
        self, conn: AsyncConnection, next_offsets: dict[TopicPartition, int]
    ) -> None:
        await conn.execute(
            text(
                "UPDATE engine_offsets SET next_offset = :n, updated_at = now() "
                "WHERE topic = :t AND partition = :p"
            ),
            [{"n": n, "t": tp.topic, "p": tp.partition} for tp, n in next_offsets.items()],
        )

    def _submit(self, row: Any, replace: Any | None) -> list[Entry]:
        """A new order, into its account's scope; a replace the API accepted before the engine
        saw the order applies first."""
        order = to_core_order(row)
        if replace is None:
            return list(self.cores.submit(order, row.league_id))
        order.qty = replace.pending_qty
        order.limit = _ticks(replace.pending_limit_price)
        order.stop = _ticks(replace.pending_stop_price)
        order.protection = _ticks(replace.pending_protection_price)
        settled: list[Entry] = [
            ReplaceSettled(row.id, replace.replace_seq, replace.pending_protection_price),
            Replaced(row.id, order.qty, order.limit, order.stop, 0),
        ]
        return settled + self.cores.submit(order, row.league_id)

    def _replace(self, order_id: uuid.UUID, pending: dict[uuid.UUID, Any]) -> list[Entry]:
        """Apply the order's latest pending terms (any copy of any of its replace messages)."""
        row = pending.get(order_id)
        if row is None:
            return [ReplaceSettled(order_id, None)]  # settled already: report it again
        if row.accepted_at is None:
            return []  # the engine has not seen the order yet: its NewOrder applies the terms
        del pending[order_id]
        live = self.cores.order(order_id)
        refused = "the order is no longer open"
        events: list[Event] = []
        if live is not None:
            qty, limit = row.pending_qty, _ticks(row.pending_limit_price)
            stop, protection = _ticks(row.pending_stop_price), _ticks(row.pending_protection_price)
            if qty <= live.filled:
                refused = f"qty must be above the {live.filled} shares already filled"
            else:
                # The core keeps a replaced order's protection price; a buy stop's moves with its
                # stop, so it is set on the live order first (and put back if nothing changed).
                old_protection, live.protection = live.protection, protection
                events = self.cores.replace(
                    order_id,
                    qty,
                    limit if limit != live.limit else None,
                    stop if stop != live.stop else None,
                )
                if not events:
                    live.protection = old_protection
                    refused = "the engine cannot apply these terms"
        if not events:
            return [ReplaceSettled(order_id, row.replace_seq, refused=refused)]
        return [ReplaceSettled(order_id, row.replace_seq, row.pending_protection_price), *events]

    async def _publish_books(self, symbols: set[str]) -> None:
        """Depth snapshots of what this batch touched, for the API and the WebSocket stream: the
        personal accounts' (public) books only; a league's book is private to the league."""
        try:
            public = self.cores.public
            await publish_books(
                self.redis,
                [
                    book_snapshot(public, s)
                    for s in sorted(symbols)
                    if public.reference(s) is not None
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
            await self.redis.publish(EXECUTIONS_CHANNEL, Executions.from_json(payload).encode())
        except Exception:
            log.warning("could not publish executions to Redis", exc_info=True)


def _ticks(value: Decimal | None) -> int | None:
    return None if value is None else to_ticks(value)


def _with_scope() -> Select[Any]:
    """Order rows with their account's league_id: the scope the order matches in."""
    return select(orders, accounts.c.league_id).select_from(
        orders.join(accounts, accounts.c.id == orders.c.account_id)
    )


async def _unaccepted(conn: AsyncConnection, order_ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """The stored rows of these orders that the engine has not processed yet, with their scope."""
    if not order_ids:
        return {}
    rows = await conn.execute(
        _with_scope().where(
            orders.c.id.in_(order_ids), orders.c.accepted_at.is_(None), orders.c.status == "new"
        )
    )
    return {r.id: r for r in rows}


async def _pending_replaces(
    conn: AsyncConnection, order_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    """Open orders among these with a replace the engine has not settled, locked: the API cannot
    accept another one on top until this batch commits."""
    if not order_ids:
        return {}
    rows = await conn.execute(
        select(orders)
        .where(
            orders.c.id.in_(sorted(set(order_ids))),
            orders.c.replace_seq > orders.c.replace_applied_seq,
            orders.c.status.in_(OPEN),
        )
        .order_by(orders.c.id)
        .with_for_update(key_share=True)
    )
    return {r.id: r for r in rows}


def drop_superseded_ticks(
    records: list[ConsumerRecord[Any, Any]], cores: ScopedCores
) -> list[ConsumerRecord[Any, Any]]:
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
