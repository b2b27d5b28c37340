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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.background import raise_if_cancelled
from shared.kafka import ORDERS_TOPIC, PRICES_TOPIC
from shared.market_clock import MarketClock
from shared.market_epoch import load_market_clock
from shared.money import to_ticks
from trading_service.config import EngineSettings
from trading_service.engine import commands, intake, notify
from trading_service.engine.accounting import Entry, InvariantBroken, ReplaceSettled, Settlement
from trading_service.engine.commands import Matched, Message
from trading_service.engine.core.model import Canceled, Event, Expired, Rejected, TimeInForce
from trading_service.engine.health import EngineHealth, is_bad_command, reason
from trading_service.engine.intake import Batch, Record
from trading_service.engine.ledger import apply_events
from trading_service.engine.metrics import observe_batch, observe_handoff
from trading_service.engine.records import StoredOrder
from trading_service.engine.repository import EngineDatabase, FencedOut, Partition, Repository
from trading_service.engine.scopes import ScopedCores
from trading_service.engine.trace import log_order_messages
from trading_service.messages import CancelRequest, NewOrder, PriceTick, ReplaceRequest
from trading_service.order_status import OrderStatus
from trading_service.stored_orders import to_core_order

log = logging.getLogger(__name__)


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
        # A rebuild failed: the consumer may be past records never applied (it had fetched
        # them), so nothing is applied until a rebuild seeks it back.
        self.stale = False
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
        self.stale = False
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

    async def _today(self) -> int:
        """The current trading day's number (checked twice a batch: only the number)."""
        return (await self._market_clock()).day_index(datetime.now(UTC))

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
                    if self.stale:
                        await self.rebuild(set(self.assigned))
                        continue  # what was fetched before the seek comes again
                    await self._roll_trading_day()
                    # A batch the consumer already had while the previous one committed was read
                    # ahead (decoded, matched): applied next, before the lock is let go.
                    ahead: ReadAhead | None = None
                    while batch:
                        batch, ahead = await self._process_guarded(batch, ahead)
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
        today = await self._today()
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
            self.stale = True
            log.exception("rebuild failed; will retry before the next batch")

    async def process(
        self, batch: Batch, ahead: ReadAhead | None = None, read_ahead: bool = False
    ) -> tuple[Batch, ReadAhead | None]:
        """Apply the records of `batch` this engine has not applied yet, in one transaction.

        `ahead`: the batch as read ahead while the previous one committed. With `read_ahead`,
        the next batch the consumer already holds is read ahead while this one's write and
        commit run in PostgreSQL; it is returned (with what was read ahead) to be applied next.
        """
        if ahead is None:
            ahead = _decoded(batch, self.expected, self.cores)
        if ahead is None:
            return {}, None
        if ahead.failed is not None:
            raise ahead.failed  # as if it had failed here: the batch is refused or retried
        fresh, decoded, messages, now = ahead.fresh, ahead.decoded, ahead.messages, ahead.now
        started = time.perf_counter()
        next_offsets = ahead.next_offsets()
        following: asyncio.Future[tuple[Batch, ReadAhead | None]] | None = None
        try:
            async with self.database.transaction() as repo:
                fence = self._fence(fresh)
                matched = ahead.matched
                fence_with_locks: dict[Partition, int] | None = None
                if matched is None:
                    matched = await self._match(repo, messages, ahead.unaccepted, fence)
                else:  # matched while read ahead: fenced in the locks' round trip
                    fence_with_locks = fence
                settlement = await apply_events(repo, matched.events, now, fence_with_locks)
                # The books as this batch leaves them: the next one may be matched before this
                # one's notifications go out.
                books = notify.books(self.cores.public, _symbols(settlement, messages))
                offsets = {(tp.topic, tp.partition): n for tp, n in next_offsets.items()}
                # While PostgreSQL applies the write and commits, the executions message is
                # encoded (published only after commit) and the next batch read ahead:
                # PostgreSQL and the engine share 2 cores, each at work at once.
                writing = asyncio.ensure_future(
                    repo.write(now, settlement, list(matched.references.values()), offsets)
                )
                try:
                    if read_ahead:
                        following = asyncio.ensure_future(
                            self._read_ahead(next_offsets, settlement)
                        )
                    encoded = await notify.encode_executions(settlement)
                    await writing
                except BaseException:
                    await asyncio.wait([writing])  # never leave the transaction with it running
                    if not writing.cancelled():
                        writing.exception()  # retrieved: the first failure is the one raised
                    raise
        except BaseException:
            if following is not None:
                following.cancel()  # this batch failed: what was read ahead is dropped
                await asyncio.wait([following])
                if not following.cancelled():
                    following.exception()  # retrieved: this batch's failure is the one raised
            raise
        # Committed.
        self.expected.update(next_offsets)
        observe_batch(len(decoded), time.perf_counter() - started, settlement)
        log_order_messages(decoded, settlement)
        await notify.publish(self.redis, settlement, self.cores.public, (), encoded, books)
        if following is None:
            return {}, None
        read = await following
        # A stop (cancellation) that came while this task awaited the read ahead went to that
        # task; one that came as its fetch returned was lost there (the fetch's result wins),
        # so it is taken up here, or the engine would go on after SIGTERM.
        raise_if_cancelled()
        return read

    async def _match(
        self,
        repo: Repository,
        messages: Sequence[Message],
        unaccepted: dict[uuid.UUID, StoredOrder] | None,
        fence: dict[Partition, int],
    ) -> Matched:
        """The messages through the core, after the `fence` (Repository.fence). What they need
        from Postgres is loaded first, in two statements: the unaccepted orders (in the fence's
        round trip, unless read ahead) and the pending replaces (if any)."""
        if unaccepted is None:
            unaccepted = await repo.unaccepted(_unaccepted_ids(messages), fence)
        else:
            await repo.fence(fence)
        replace_ids = _pending_ids(messages, unaccepted)
        # Locked, so no replace is accepted on top of the one applied here until commit.
        pending = await repo.pending_replaces(replace_ids)
        return commands.match(self.cores, self.ref_seq, messages, unaccepted, pending)

    async def _read_ahead(
        self, after: dict[TopicPartition, int], settling: Settlement
    ) -> tuple[Batch, ReadAhead | None]:
        """While the batch that ends at `after` and settles as `settling` commits: the next
        batch if the consumer already holds it, decoded and, when that needs no lock, its
        unaccepted orders read and its messages matched. Nothing is written.

        The unaccepted orders are read outside the committing transaction, so the orders it
        processes are taken out as its settlement leaves them (the same rows after commit).
        A failure is kept in the result and raised when the batch is applied, after the one
        committing now: that one stands or falls alone.
        """
        try:
            if await self._today() != self.trading_day:
                return {}, None  # the day's DAY orders expire first (the loop's next turn)
            # Wait for nothing: a batch only if it is already there. (A fetch waits while the
            # group rebalances, and the rebalance waits for this batch's lock: bounded.)
            # (Not wait_for: on 3.11 it returns the result of a fetch that completes as the task
            # is cancelled, and the cancellation is lost.)
            async with asyncio.timeout(0.05):
                batch = await self.consumer.getmany(
                    timeout_ms=0, max_records=self.settings.max_batch
                )
        except Exception:
            # Nothing read ahead: the loop's own fetch meets the same state and raises it.
            log.debug("nothing read ahead", exc_info=True)
            return {}, None
        if not batch:
            return {}, None
        try:
            ahead = _decoded(batch, {**self.expected, **after}, self.cores)
        except Exception:
            return batch, None  # decoded again when it is applied, and refused there
        if ahead is None:
            return batch, None
        try:
            await asyncio.sleep(0)  # let the commit go out
            ids = _unaccepted_ids(ahead.messages)
            async with self.database.reading() as reader:
                unaccepted = await reader.unaccepted(ids)
            for order in settling.orders:
                if order.accepted_at is not None or order.status is not OrderStatus.NEW:
                    unaccepted.pop(order.id, None)  # processed by the committing batch
            ahead.unaccepted = unaccepted
            if not _pending_ids(ahead.messages, unaccepted):
                await asyncio.sleep(0)
                ahead.matched = commands.match(
                    self.cores, self.ref_seq, ahead.messages, unaccepted, {}
                )
        except Exception as exc:
            ahead.failed = exc
        return batch, ahead

    def _fence(self, batch: Batch) -> dict[Partition, int]:
        """Where this engine expects the batch's partitions to stand in Postgres."""
        return {(tp.topic, tp.partition): self.expected[tp] for tp in batch}

    # --- commands that cannot be applied ----------------------------------------------------

    async def _process_guarded(
        self, batch: Batch, ahead: ReadAhead | None = None
    ) -> tuple[Batch, ReadAhead | None]:
        """The batch in one transaction; if one of its commands cannot be applied, each record
        alone, refusing the ones that fail: one bad command never stops the others. Returns
        the next batch if it was read ahead."""
        try:
            return await self.process(batch, ahead, read_ahead=True)
        except Exception as exc:
            if not is_bad_command(exc):
                raise
            log.warning("batch not applied (%s); applying its records one by one", exc)
            await self.rebuild(set(self.assigned))
            await self._isolate(batch)
            return {}, None

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
            await repo.fence(self._fence({tp: [record]}))
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


@dataclass
class ReadAhead:
    """A batch's fresh records decoded, before its transaction; read ahead while the previous
    batch committed: also its unaccepted orders, and its messages matched unless they need a
    locked pending replace (those are matched in the transaction). `failed`: what failed while
    it was read ahead, raised when it is applied."""

    fresh: dict[TopicPartition, list[Record]]
    decoded: list[tuple[Record, Message]]
    messages: list[Message]
    now: datetime  # the batch's time: its fills', trades' and orders' updates
    unaccepted: dict[uuid.UUID, StoredOrder] | None = None
    matched: Matched | None = None
    failed: Exception | None = None

    def next_offsets(self) -> dict[TopicPartition, int]:
        return {tp: records[-1].offset + 1 for tp, records in self.fresh.items()}


def _decoded(
    batch: Batch, expected: Mapping[TopicPartition, int], cores: ScopedCores
) -> ReadAhead | None:
    """The records of `batch` past `expected` in order, decoded; None if there are none."""
    fresh = intake.fresh(batch, expected)
    if not fresh:
        return None
    records = intake.drop_superseded_ticks(intake.in_order(fresh), cores)
    decoded = intake.decode_all(records)
    now = datetime.now(UTC)
    observe_handoff(now.timestamp(), (r.timestamp for r in records if r.topic == ORDERS_TOPIC))
    return ReadAhead(fresh, decoded, [m for _, m in decoded], now)


def _unaccepted_ids(messages: Sequence[Message]) -> list[uuid.UUID]:
    """The orders the messages place or cancel: those not processed yet are loaded."""
    ids = [m.order.id for m in messages if isinstance(m, NewOrder)]
    return ids + [m.order_id for m in messages if isinstance(m, CancelRequest)]


def _pending_ids(
    messages: Sequence[Message], unaccepted: Mapping[uuid.UUID, StoredOrder]
) -> list[uuid.UUID]:
    """The orders whose pending replace the messages may apply: replaced ones, and new ones
    replaced before the engine saw them."""
    ids = []
    for m in messages:
        if isinstance(m, NewOrder):
            row = unaccepted.get(m.order.id)
            if row is not None and row.replace_seq > row.replace_applied_seq:
                ids.append(row.id)
        elif isinstance(m, ReplaceRequest):
            ids.append(m.order_id)
    return ids


def _symbols(settlement: Settlement, messages: Sequence[Message]) -> set[str]:
    """The symbols whose books a batch may have changed."""
    touched = {o.symbol for o in settlement.orders}
    for m in messages:  # (isinstance with a `A | B` union builds the union each time)
        if isinstance(m, NewOrder):
            touched.add(m.order.symbol)
        elif isinstance(m, PriceTick):
            touched.add(m.symbol)
    return touched
