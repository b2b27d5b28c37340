"""The engine process's Kafka entry point: records in, one Postgres transaction per batch,
notifications out (decode → core → accounting → repository → notify).

Exactly-once effects: a batch's fills, balances, order states AND the Kafka offsets it consumed
commit together in Postgres; nothing is committed to Kafka. On (re)assignment the books are
rebuilt from Postgres and consumption resumes at the stored offsets. Every batch first locks its
partitions' offset rows and checks they still hold the position this process expects, so an
engine that lost its partitions without noticing (a long pause) cannot write twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.kafka import ORDERS_TOPIC, PRICES_TOPIC
from shared.market_clock import MarketClock
from shared.market_epoch import load_market_clock
from shared.money import to_ticks
from trading_service.config import EngineSettings
from trading_service.engine import commands, intake, notify
from trading_service.engine.accounting import Entry, InvariantBroken, ReplaceSettled, Settlement
from trading_service.engine.commands import Message
from trading_service.engine.core.model import Canceled, Event, Expired, Rejected, TimeInForce
from trading_service.engine.health import EngineHealth, is_bad_command, reason
from trading_service.engine.intake import Batch, Record
from trading_service.engine.ledger import apply_events
from trading_service.engine.metrics import observe_batch, observe_handoff
from trading_service.engine.records import ReferencePrice
from trading_service.engine.repository import EngineDatabase, Repository
from trading_service.engine.scopes import ScopedCores
from trading_service.engine.trace import log_order_messages
from trading_service.messages import CancelRequest, NewOrder, PriceTick, ReplaceRequest
from trading_service.stored_orders import to_core_order

log = logging.getLogger(__name__)


class FencedOut(Exception):
    """Another engine processed our partitions since we last looked: rebuild from Postgres."""


class EngineRunner:
    def __init__(
        self,
        settings: EngineSettings,
        db: AsyncEngine,
        database: EngineDatabase,
        redis: Redis,
        consumer: AIOKafkaConsumer,
    ) -> None:
        self.settings = settings
        self.db = db  # the market clock's (shared/market_epoch.py)
        self.database = database  # everything else (repository.py)
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
            return intake.partition_of(symbol, count) in partitions

        tps = [TopicPartition(t, p) for t in (PRICES_TOPIC, ORDERS_TOPIC) for p in partitions]
        async with self.database.transaction() as repo:
            stored = await repo.load_books((tp.topic, tp.partition) for tp in tps)
        # DAY orders of a session that closed while no engine owned them expire now; the loop
        # expires the rest at the next close.
        self.trading_day, day_start = await self._trading_day()
        resting, stale_day = [], []
        for r in stored.resting:
            if not mine(r.symbol):
                continue
            assert r.accepted_at is not None
            if r.time_in_force == TimeInForce.DAY and r.accepted_at < day_start:
                stale_day.append(r.id)
            else:
                resting.append(r)
        cores = ScopedCores(self.settings.spread_bps, self.settings.house_size)
        self.ref_seq = {}
        for ref in stored.references:
            if mine(ref.symbol):
                cores.set_reference(ref.symbol, to_ticks(ref.price))  # empty books: no trades
                self.ref_seq[ref.symbol] = ref.seq
        for r in resting:
            order = to_core_order(r)
            order.triggered = r.triggered_at is not None
            cores.restore(order, r.league_id)
        cores.advance_priority(max((r.priority or 0 for r in resting), default=0))
        self.cores = cores
        self.assigned = set(partitions)
        self.expected = {tp: stored.offsets[(tp.topic, tp.partition)] for tp in tps}
        for tp in tps:
            self.consumer.seek(tp, self.expected[tp])
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
        now = datetime.now(UTC)
        async with self.database.transaction() as repo:
            settlement = await apply_events(repo, events, now)
            await repo.write(now, settlement)
        await notify.publish(self.redis, settlement, self.cores.public, ())

    async def run(self) -> None:
        backoff = 0.5
        while True:
            # The consumer long-polls the broker (fetch_max_wait_ms): records arrive as soon as
            # the broker has them; the timeout only bounds how late the trading day is checked.
            batch = await self.consumer.getmany(timeout_ms=200, max_records=self.settings.max_batch)
            async with self.lock:
                try:
                    await self._roll_trading_day()
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

    async def _roll_trading_day(self) -> None:
        """At the session close, the day's DAY orders expire."""
        today, _ = await self._trading_day()
        if self.trading_day is None:
            self.trading_day = today
        elif today != self.trading_day:
            expired = self.cores.expire_day_orders()
            self.trading_day = today
            if expired:
                await self._apply_alone(expired)
                await notify.publish(self.redis, None, self.cores.public, set(self.ref_seq))

    async def _rebuild_safely(self) -> None:
        try:
            await self.rebuild(set(self.assigned))
        except Exception:
            log.exception("rebuild failed; will retry with the next batch")

    async def process(self, batch: Batch) -> None:
        """Apply the records of `batch` this engine has not applied yet, in one transaction."""
        fresh = intake.fresh(batch, self.expected)
        if not fresh:
            return
        records = intake.drop_superseded_ticks(intake.in_order(fresh), self.cores)
        decoded = intake.decode_all(records)
        messages = [m for _, m in decoded]
        now = datetime.now(UTC)  # the batch's time: its fills', trades' and orders' updates
        observe_handoff(now.timestamp(), (r.timestamp for r in records if r.topic == ORDERS_TOPIC))
        started = time.perf_counter()
        next_offsets = {tp: recs[-1].offset + 1 for tp, recs in fresh.items()}
        async with self.database.transaction() as repo:
            await self._fence(repo, fresh)
            settlement, references = await self._match_and_settle(repo, messages, now)
            offsets = {(tp.topic, tp.partition): n for tp, n in next_offsets.items()}
            # While PostgreSQL applies the write, the executions message is encoded (published
            # only after commit): PostgreSQL and the engine share 2 cores, each at work at once.
            writing = asyncio.ensure_future(repo.write(now, settlement, references, offsets))
            try:
                encoded = await notify.encode_executions(settlement)
            except BaseException:
                await asyncio.wait([writing])  # never leave the transaction with it running
                if not writing.cancelled():
                    writing.exception()  # retrieved: the encoding's failure is the one raised
                raise
            await writing
        self.expected.update(next_offsets)
        observe_batch(len(decoded), time.perf_counter() - started, settlement)
        log_order_messages(decoded, settlement)
        touched = {o.symbol for o in settlement.orders}
        for m in messages:  # (isinstance with a `A | B` union builds the union each time)
            if isinstance(m, NewOrder):
                touched.add(m.order.symbol)
            elif isinstance(m, PriceTick):
                touched.add(m.symbol)
        await notify.publish(self.redis, settlement, self.cores.public, touched, encoded)

    async def _match_and_settle(
        self, repo: Repository, messages: Sequence[Message], now: datetime
    ) -> tuple[Settlement, list[ReferencePrice]]:
        """The messages through the core, their events into the money, and the newer reference
        prices. What the messages need from Postgres is loaded first, in two statements."""
        new_ids = [m.order.id for m in messages if isinstance(m, NewOrder)]
        cancel_ids = [m.order_id for m in messages if isinstance(m, CancelRequest)]
        replace_ids = [m.order_id for m in messages if isinstance(m, ReplaceRequest)]
        unaccepted = await repo.unaccepted(new_ids + cancel_ids)
        replaced_early = [
            i
            for i in new_ids
            if i in unaccepted and unaccepted[i].replace_seq > unaccepted[i].replace_applied_seq
        ]
        # Locked, so no replace is accepted on top of the one applied here until commit.
        pending = await repo.pending_replaces(replace_ids + replaced_early)
        matched = commands.match(self.cores, self.ref_seq, messages, unaccepted, pending)
        settlement = await apply_events(repo, matched.events, now)
        return settlement, list(matched.references.values())

    async def _fence(self, repo: Repository, batch: Batch) -> None:
        stored = await repo.fence((tp.topic, tp.partition) for tp in batch)
        for tp in batch:
            if stored.get((tp.topic, tp.partition)) != self.expected[tp]:
                raise FencedOut(
                    f"{tp} is at {stored.get((tp.topic, tp.partition))} in Postgres, "
                    f"expected {self.expected[tp]}"
                )

    # --- commands that cannot be applied ----------------------------------------------------

    async def _process_guarded(self, batch: Batch) -> None:
        """The batch in one transaction; if one of its commands cannot be applied, each record
        alone, refusing the ones that fail: one bad command never stops the others."""
        try:
            await self.process(batch)
        except Exception as exc:
            if not is_bad_command(exc):
                raise
            log.warning("batch not applied (%s); applying its records one by one", exc)
            await self.rebuild(set(self.assigned))
            await self._isolate(batch)

    async def _isolate(self, batch: Batch) -> None:
        for record in intake.in_order(batch):
            tp = TopicPartition(record.topic, record.partition)
            for attempt in (1, 2):
                if tp not in self.expected or record.offset < self.expected[tp]:
                    break  # not ours any more, or already applied
                try:
                    await self.process({tp: [record]})
                    break
                except Exception as exc:
                    if not is_bad_command(exc):
                        raise
                    await self.rebuild(set(self.assigned))
                    if tp not in self.expected:
                        break
                    if not await self._refuse(tp, record, exc, last_try=attempt == 2):
                        break
                    await self.rebuild(set(self.assigned))  # drop the orders it canceled

    async def _refuse(
        self, tp: TopicPartition, record: Record, exc: Exception, last_try: bool
    ) -> bool:
        """Refuse what `record` asked for, alone in a transaction, and step past it.

        A new order is rejected and a replace refused (their reservations given back); a record
        that broke an invariant through other orders (a price tick filling them) cancels those
        orders instead and returns True: the record itself is then applied again.
        """
        why = reason(exc)
        message: Message | None = None
        with contextlib.suppress(ValueError, KeyError, TypeError):
            message = intake.decode(record)
        own = _own_order(message)
        broken = exc.order_ids if isinstance(exc, InvariantBroken) else set()
        others = broken - {own}
        # Other orders broke it (the command only made them trade): those go, the command stays.
        retry = bool(others) and not last_try and own not in broken
        settlement = None
        async with self.database.transaction() as repo:
            await self._fence(repo, {tp: [record]})
            if retry:
                events: list[Entry] = [
                    Canceled(i, f"canceled by the engine: {why}") for i in sorted(others)
                ]
            else:
                events = await _refusal(repo, message, why)
            if events:
                try:
                    settlement = await _apply_in_savepoint(repo, events)
                except Exception as again:
                    if not is_bad_command(again):
                        raise
                    log.error("could not refuse a command cleanly; skipping it only")
                    retry = False
            if not retry:
                offsets = {(tp.topic, tp.partition): record.offset + 1}
                await repo.write(datetime.now(UTC), next_offsets=offsets)
        if not retry:
            self.expected[tp] = record.offset + 1
        self.health.refused(why)
        log.warning(
            "command refused; the engine goes on",
            extra={"topic": tp.topic, "offset": record.offset, "reason": why},
        )
        await self.health.record(self.redis)
        await notify.publish(self.redis, settlement, self.cores.public, ())
        return retry


def _own_order(message: Message | None) -> uuid.UUID | None:
    """The order a command places or changes (None for a price tick or a cancel)."""
    if isinstance(message, NewOrder):
        return message.order.id
    if isinstance(message, ReplaceRequest):
        return message.order_id
    return None


async def _refusal(repo: Repository, message: Message | None, why: str) -> list[Entry]:
    """What refusing `message` means, if it is still pending: a new order rejected, a replace
    settled as refused."""
    if isinstance(message, NewOrder):
        if message.order.id in await repo.unaccepted([message.order.id]):
            return [Rejected(message.order.id, f"refused by the engine: {why}")]
    elif isinstance(message, ReplaceRequest):
        found = await repo.pending_replaces([message.order_id])
        if message.order_id in found:
            seq = found[message.order_id].replace_seq
            return [ReplaceSettled(message.order_id, seq, refused=why)]
    return []


async def _apply_in_savepoint(repo: Repository, events: list[Entry]) -> Settlement:
    """`events` applied and written, or (raising) nothing of them."""
    now = datetime.now(UTC)
    async with repo.savepoint():
        settlement = await apply_events(repo, events, now)
        await repo.write(now, settlement)
    return settlement
