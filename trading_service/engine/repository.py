"""All of the engine's SQL: rebuild, fence, unaccepted orders, locks, batch writes, offsets.

The engine applies its batches one at a time, so it holds one asyncpg connection (opened again
after an outage) and talks to it directly (a second one only reads the next batch's orders
while a batch commits): statements are prepared once and cached by asyncpg,
and each batch reads and writes with set-based statements over arrays (`= ANY($1)`, `unnest`),
a handful per batch whatever its size: a batch of new orders is BEGIN, the fence with its
unaccepted orders, the locks, the write, COMMIT (five round trips); four when it was read
ahead (its unaccepted orders read while the batch before it committed, the fence then goes
with the locks).

Rows are locked in one global order (orders, then accounts, then positions, each sorted) and the
API never takes them in another order, so engines and API requests cannot deadlock.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from trading_service.engine.accounting import Balance, Holding, OrderState, PositionKey, Settlement
from trading_service.engine.records import (
    PendingReplace,
    ReferencePrice,
    StoredBooks,
    StoredOrder,
)
from trading_service.order_status import OPEN, OrderStatus

Partition = tuple[str, int]  # (topic, partition)
_OPEN = [s.value for s in OPEN]
_STATUSES = {s.value: s for s in OrderStatus}

_STORED_ORDER_COLUMNS = (
    "o.id, o.account_id, a.league_id, o.symbol, o.side, o.type, o.time_in_force, o.qty, "
    "o.limit_price, o.stop_price, o.protection_price, o.filled_qty, o.priority, o.accepted_at, "
    "o.triggered_at, o.replace_seq, o.replace_applied_seq "
)
_STORED_ORDER = _STORED_ORDER_COLUMNS + "FROM orders o JOIN accounts a ON a.id = o.account_id "
_ORDER_STATE = (
    "id, account_id, symbol, side, type, status, qty, filled_qty, filled_notional, "
    "reserved_cash, reserved_qty, limit_price, stop_price, protection_price, reject_reason, "
    "priority, accepted_at, triggered_at, replace_applied_seq, replace_reject_reason, created_at"
)


def plain_dsn(database_url: str) -> str:
    """asyncpg's DSN for a SQLAlchemy URL (postgresql+asyncpg://...)."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class FencedOut(Exception):
    """Another engine processed our partitions since we last looked: rebuild from Postgres."""


class EngineDatabase:
    """The engine's connection, (re)opened on first use after a loss."""

    def __init__(self, database_url: str) -> None:
        self.dsn = plain_dsn(database_url)
        self._conn: asyncpg.Connection | None = None
        self._reader: asyncpg.Connection | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repository]:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn)
        conn = self._conn
        async with conn.transaction():
            yield Repository(conn)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Repository]:
        """Reads outside the batch's transaction, on a second connection: while one batch
        commits on the first, the next one's unaccepted orders are read here. Never writes."""
        if self._reader is None or self._reader.is_closed():
            # (bounded: the batch that committed meanwhile waits for its read ahead)
            self._reader = await asyncpg.connect(self.dsn, timeout=5)
        try:
            yield Repository(self._reader)
        except BaseException:
            # (cancelled mid-statement, the connection's state is unknown: opened afresh)
            reader, self._reader = self._reader, None
            reader.terminate()
            raise

    async def close(self) -> None:
        for conn in (self._conn, self._reader):
            if conn is not None:
                await conn.close()
        self._conn = self._reader = None


class Repository:
    """The statements of one transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        async with self.conn.transaction():
            yield

    # --- rebuild ----------------------------------------------------------------------------

    async def load_books(self, partitions: Iterable[Partition]) -> StoredBooks:
        """Offsets (rows created for `partitions` first), reference prices, resting orders."""
        topics, numbers = _columns(sorted(partitions), 2)
        # Rows exist before anyone relies on locking them (see fence).
        await self.conn.execute(
            "INSERT INTO engine_offsets (topic, partition, next_offset) "
            "SELECT t, p, 0 FROM unnest($1::text[], $2::int[]) AS k(t, p) "
            "ON CONFLICT DO NOTHING",
            topics,
            numbers,
        )
        offsets = {
            (r["topic"], r["partition"]): r["next_offset"]
            for r in await self.conn.fetch(
                "SELECT topic, partition, next_offset FROM engine_offsets"
            )
        }
        references = [
            ReferencePrice(*r)
            for r in await self.conn.fetch("SELECT symbol, price, seq, ts FROM reference_prices")
        ]
        resting = await self.conn.fetch(
            f"SELECT {_STORED_ORDER}"
            "WHERE o.status = ANY($1::text[]) AND o.accepted_at IS NOT NULL ORDER BY o.priority",
            _OPEN,
        )
        return StoredBooks(offsets, references, [StoredOrder(*r) for r in resting])

    # --- before matching --------------------------------------------------------------------

    async def fence(self, expected: Mapping[Partition, int]) -> None:
        """Lock the partitions' offset rows; FencedOut unless each stores the `expected` next
        offset (another engine processed them since this one looked)."""
        topics, numbers = _columns(sorted(expected), 2)
        _check_fence(expected, await self.conn.fetch(_FENCE_ONLY, topics, numbers))

    async def unaccepted(
        self, order_ids: Iterable[uuid.UUID], fence: Mapping[Partition, int] | None = None
    ) -> dict[uuid.UUID, StoredOrder]:
        """The stored orders among these that the engine has not processed yet; with `fence`,
        in the same round trip, the fence first (see `fence`: the orders are read as they
        stood when the statement began, as a read ahead reads them before the transaction)."""
        ids = list(set(order_ids))
        if fence is not None:
            topics, numbers = _columns(sorted(fence), 2)
            rows = await self.conn.fetch(
                _FENCED_UNACCEPTED, topics, numbers, ids, OrderStatus.NEW.value
            )
            _check_fence(fence, [r[17:] for r in rows if r[0] is None])
            return {r[0]: StoredOrder(*r[:17]) for r in rows if r[0] is not None}
        if not ids:
            return {}
        rows = await self.conn.fetch(_UNACCEPTED, ids, OrderStatus.NEW.value)
        return {r["id"]: StoredOrder(*r) for r in rows}

    async def pending_replaces(
        self, order_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, PendingReplace]:
        """Open orders among these with a replace the engine has not settled, locked: the API
        cannot accept another one on top until this batch commits."""
        ids = sorted(set(order_ids))
        if not ids:
            return {}
        rows = await self.conn.fetch(
            "SELECT id, accepted_at, replace_seq, pending_qty, pending_limit_price, "
            "pending_stop_price, pending_protection_price FROM orders "
            "WHERE id = ANY($1::uuid[]) AND replace_seq > replace_applied_seq "
            "AND status = ANY($2::text[]) ORDER BY id FOR NO KEY UPDATE",
            ids,
            _OPEN,
        )
        return {r["id"]: PendingReplace(*r) for r in rows}

    # --- the rows a batch changes, locked ---------------------------------------------------

    async def lock(
        self,
        order_ids: Iterable[uuid.UUID],
        house_id: uuid.UUID,
        house_symbols: Iterable[str],
        fence: Mapping[Partition, int] | None = None,
    ) -> tuple[dict[uuid.UUID, OrderState], dict[uuid.UUID, Balance], dict[PositionKey, Holding]]:
        """The rows a batch's events change, locked in one round trip, in the global order:
        the orders; then the accounts of those orders, and the house's if it traded (it did
        in `house_symbols`); then those accounts' existing positions in the orders' symbols,
        and the house's in `house_symbols` (`accounting.house_symbols`). With `fence`, the
        fence (see `fence`) before them, in the same round trip."""
        ids = sorted(set(order_ids))
        symbols = sorted(set(house_symbols))
        orders: dict[uuid.UUID, OrderState] = {}
        balances: dict[uuid.UUID, Balance] = {}
        holdings: dict[PositionKey, Holding] = {}
        if not ids and not symbols:
            if fence is not None:
                await self.fence(fence)
            return orders, balances, holdings
        if fence is None:
            rows = await self.conn.fetch(_LOCK, ids, house_id, symbols)
        else:
            topics, numbers = _columns(sorted(fence), 2)
            rows = await self.conn.fetch(_FENCED_LOCK, topics, numbers, ids, house_id, symbols)
            _check_fence(fence, [(r[3], r[7], r[8]) for r in rows if r[0] == 3])
        statuses = _STATUSES
        for r in rows:
            kind = r[0]
            if kind == 3:
                continue  # a fence row, checked above
            if kind == 0:
                state = OrderState(*r[1:22])
                state.status = statuses[r[6]]  # a lookup: OrderStatus(...) costs more
                orders[state.id] = state
            elif kind == 1:
                balances[r[1]] = Balance(r[22], r[23])
            else:
                holdings[(r[2], r[3])] = Holding(r[24], r[25], r[26], r[27], r[28], True)
        return orders, balances, holdings

    # --- writes -----------------------------------------------------------------------------

    async def write(
        self,
        now: datetime,
        settlement: Settlement | None = None,
        references: Iterable[ReferencePrice] = (),
        next_offsets: Mapping[Partition, int] | None = None,
    ) -> None:
        """Everything a batch writes, in ONE statement (one round trip whatever the batch's size):
        its trades (numbered from the sequence in event order) and fills, the orders, balances
        and positions it changed, newer reference prices, the offsets past its records."""
        s = settlement or Settlement()
        offsets = next_offsets or {}
        balances = sorted(s.balances.items())
        holdings = sorted(s.holdings.items())
        refs = list(references)
        parts = sorted(offsets)
        await self.conn.execute(
            _WRITE,
            now,
            *_columns(
                [(t.symbol, str(t.price), t.qty, t.aggressor_side, t.buy_order_id, t.sell_order_id)
                 for t in s.trades], 6,
            ),
            *_columns(
                [(f.trade_seq, f.order_id, f.account_id, f.symbol, f.side, str(f.price), f.qty,
                  f.liquidity) for f in s.fills], 8,
            ),
            *_columns(
                [(o.id, o.status, o.filled_qty, str(o.filled_notional), str(o.reserved_cash),
                  o.reserved_qty, o.reject_reason, o.priority, o.accepted_at, o.triggered_at,
                  o.qty, _text(o.limit_price), _text(o.stop_price), _text(o.protection_price),
                  o.replace_applied_seq, o.replace_reject_reason) for o in s.orders], 16,
            ),
            *_columns([(k, str(b.cash), str(b.reserved_cash)) for k, b in balances], 3),
            *_columns(
                [(k[0], k[1], h.house, h.qty, h.reserved_qty, str(h.cost_basis),
                  str(h.realized_pnl))
                 for k, h in holdings], 7,
            ),
            *_columns([(r.symbol, str(r.price), r.seq, r.ts) for r in refs], 4),
            *_columns([(p[0], p[1], offsets[p]) for p in parts], 3),
        )  # fmt: skip


# Each CTE below is materialized and read whole by one arm of the UNION ALL, in the arms'
# order (an Append runs its arms one after the other, and a query that locks rows is never
# parallel): so rows are locked in the global order, each CTE sorted before it locks.
_FENCE = """
WITH fence AS MATERIALIZED (
    SELECT topic, partition, next_offset FROM engine_offsets
    WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[]))
    ORDER BY topic, partition FOR UPDATE
)
"""

_FENCE_ONLY = _FENCE + "SELECT topic, partition, next_offset FROM fence"
_UNACCEPTED = (
    f"SELECT {_STORED_ORDER}"
    "WHERE o.id = ANY($1::uuid[]) AND o.accepted_at IS NULL AND o.status = $2"
)
# The fence's rows (id NULL) and the unaccepted orders: StoredOrder's 17 columns, then the
# fence's 3.
_FENCED_UNACCEPTED = f"""{_FENCE}
SELECT NULL::uuid, NULL::uuid, NULL::uuid, NULL, NULL, NULL, NULL, NULL::bigint, NULL::numeric,
    NULL::numeric, NULL::numeric, NULL::bigint, NULL::bigint, NULL::timestamptz,
    NULL::timestamptz, NULL::bigint, NULL::bigint, topic, partition, next_offset
FROM fence
UNION ALL
SELECT {_STORED_ORDER_COLUMNS}, NULL, NULL, NULL
FROM orders o JOIN accounts a ON a.id = o.account_id
WHERE o.id = ANY($3::uuid[]) AND o.accepted_at IS NULL AND o.status = $4
"""

# kind 0: an order (OrderState's 21 columns); 1: an account (id, cash, reserved_cash);
# 2: a position (account_id, symbol, qty, reserved_qty, cost_basis, realized_pnl, house).
# ($ids, $house, $symbols: the order ids, the house's id, the symbols the house traded.)
_LOCKED = f"""locked_orders AS MATERIALIZED (
    SELECT {_ORDER_STATE} FROM orders WHERE id = ANY($ids::uuid[]) ORDER BY id FOR NO KEY UPDATE
), locked_accounts AS MATERIALIZED (
    SELECT id, cash, reserved_cash FROM accounts
    WHERE id IN (SELECT account_id FROM locked_orders
                 UNION ALL SELECT $house::uuid WHERE cardinality($symbols::text[]) > 0)
    ORDER BY id FOR NO KEY UPDATE
), locked_positions AS MATERIALIZED (
    SELECT p.account_id, p.symbol, p.qty, p.reserved_qty, p.cost_basis, p.realized_pnl, p.house
    FROM positions p
    JOIN (SELECT account_id, symbol FROM locked_orders
          UNION SELECT $house::uuid, s FROM unnest($symbols::text[]) AS s) AS k
    USING (account_id, symbol)
    ORDER BY p.account_id, p.symbol FOR NO KEY UPDATE OF p
)
SELECT 0, {_ORDER_STATE},
    NULL::numeric, NULL::numeric, NULL::bigint, NULL::bigint, NULL::numeric, NULL::numeric,
    NULL::bool
FROM locked_orders
UNION ALL
SELECT 1, id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, cash, reserved_cash, NULL, NULL, NULL, NULL, NULL
FROM locked_accounts
UNION ALL
SELECT 2, NULL, account_id, symbol, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, qty, reserved_qty, cost_basis,
    realized_pnl, house
FROM locked_positions
"""
_LOCK = "WITH " + _LOCKED.replace("$ids", "$1").replace("$house", "$2").replace("$symbols", "$3")
# The fence first (its arm first: its rows are locked before the orders'), then the same locks:
# kind 3 is a fence row, its topic, partition and next offset where an order has its symbol,
# qty and filled_qty.
_FENCED_LOCK = (
    _FENCE.rstrip()
    + ", "
    + _LOCKED.replace("$ids", "$3")
    .replace("$house", "$4")
    .replace("$symbols", "$5")
    .replace(
        "SELECT 0, ",
        "SELECT 3, NULL::uuid, NULL::uuid, topic, NULL, NULL, NULL, partition::bigint, "
        "next_offset::bigint, " + ", ".join(["NULL"] * 20) + "\nFROM fence\nUNION ALL\nSELECT 0, ",
        1,
    )
)


def _check_fence(expected: Mapping[Partition, int], rows: Iterable[Sequence[Any]]) -> None:
    stored = {(r[0], r[1]): r[2] for r in rows}
    for (topic, partition), offset in expected.items():
        if stored.get((topic, partition)) != offset:
            raise FencedOut(
                f"{topic}-{partition} is at {stored.get((topic, partition))} in Postgres, "
                f"expected {offset}"
            )


# Amounts go as text (str of the exact Decimal), cast to numeric here: asyncpg's binary numeric
# encoding cost the engine ~1 µs of CPU per amount, text ~0.4 with str() (and PostgreSQL reads
# the text form no slower). Data-modifying CTEs all run, to completion, whether or not the final
# SELECT reads them; the foreign keys (fills -> trades) are checked at the end of the statement.
# Each arm does nothing for empty arrays. nextval() runs once per trade in generate_series order
# (a CTE with a volatile function is materialized), so trade ids follow the event order.
_WRITE = """
WITH trade_ids AS (
    SELECT n, nextval(pg_get_serial_sequence('trades', 'id')) AS id
    FROM generate_series(1, cardinality($2::text[])) AS n
), new_trades AS (
    INSERT INTO trades (id, symbol, price, qty, aggressor_side, buy_order_id, sell_order_id, ts)
    SELECT i.id, t.symbol, t.price, t.qty, t.aggressor_side, t.buy_order_id, t.sell_order_id,
           $1::timestamptz
    FROM unnest($2::text[], $3::text[]::numeric[], $4::bigint[], $5::text[], $6::uuid[],
                $7::uuid[])
        WITH ORDINALITY AS t(symbol, price, qty, aggressor_side, buy_order_id, sell_order_id, n)
    JOIN trade_ids i USING (n)
), new_fills AS (
    INSERT INTO fills (trade_id, order_id, account_id, symbol, side, price, qty, liquidity, ts)
    SELECT i.id, f.order_id, f.account_id, f.symbol, f.side, f.price, f.qty, f.liquidity,
           $1::timestamptz
    FROM unnest($8::bigint[], $9::uuid[], $10::uuid[], $11::text[], $12::text[],
                $13::text[]::numeric[], $14::bigint[], $15::text[])
        AS f(n, order_id, account_id, symbol, side, price, qty, liquidity)
    JOIN trade_ids i USING (n)
), changed_orders AS (
    UPDATE orders o SET status = u.status, filled_qty = u.filled_qty,
        filled_notional = u.filled_notional, reserved_cash = u.reserved_cash,
        reserved_qty = u.reserved_qty, reject_reason = u.reject_reason, priority = u.priority,
        accepted_at = u.accepted_at, triggered_at = u.triggered_at, qty = u.qty,
        limit_price = u.limit_price, stop_price = u.stop_price,
        protection_price = u.protection_price, replace_applied_seq = u.replace_applied_seq,
        replace_reject_reason = u.replace_reject_reason, updated_at = $1::timestamptz
    FROM unnest($16::uuid[], $17::text[], $18::bigint[], $19::text[]::numeric[],
                $20::text[]::numeric[], $21::bigint[], $22::text[], $23::bigint[],
                $24::timestamptz[], $25::timestamptz[], $26::bigint[], $27::text[]::numeric[],
                $28::text[]::numeric[], $29::text[]::numeric[], $30::bigint[], $31::text[])
        AS u(id, status, filled_qty, filled_notional, reserved_cash, reserved_qty,
             reject_reason, priority, accepted_at, triggered_at, qty, limit_price, stop_price,
             protection_price, replace_applied_seq, replace_reject_reason)
    WHERE o.id = u.id AND o.id = ANY($16::uuid[])
), changed_balances AS (
    UPDATE accounts a SET cash = u.cash, reserved_cash = u.reserved_cash,
        updated_at = $1::timestamptz
    FROM unnest($32::uuid[], $33::text[]::numeric[], $34::text[]::numeric[])
        AS u(id, cash, reserved_cash)
    WHERE a.id = u.id
), changed_positions AS (
    INSERT INTO positions (account_id, symbol, house, qty, reserved_qty, cost_basis,
                           realized_pnl, updated_at)
    SELECT *, $1::timestamptz FROM unnest($35::uuid[], $36::text[], $37::bool[], $38::bigint[],
                             $39::bigint[], $40::text[]::numeric[], $41::text[]::numeric[])
    ON CONFLICT (account_id, symbol) DO UPDATE SET qty = excluded.qty,
        reserved_qty = excluded.reserved_qty, cost_basis = excluded.cost_basis,
        realized_pnl = excluded.realized_pnl, updated_at = now()
), newer_references AS (
    INSERT INTO reference_prices (symbol, price, seq, ts)
    SELECT * FROM unnest($42::text[], $43::text[]::numeric[], $44::bigint[], $45::timestamptz[])
    ON CONFLICT (symbol) DO UPDATE SET price = excluded.price, seq = excluded.seq,
        ts = excluded.ts
), applied_offsets AS (
    UPDATE engine_offsets e SET next_offset = u.n, updated_at = now()
    FROM unnest($46::text[], $47::int[], $48::bigint[]) AS u(t, p, n)
    WHERE e.topic = u.t AND e.partition = u.p
)
SELECT 1
"""


def _text(amount: Decimal | None) -> str | None:
    """An amount as the write sends it (exact: str of the Decimal)."""
    return None if amount is None else str(amount)


def _columns(rows: Iterable[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as `width` column lists: the arrays an `unnest` turns back into rows."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns
