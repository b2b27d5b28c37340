"""The engine with persistence: sustained settled orders/s, one PostgreSQL transaction per batch.

A seeded mixed stream (~60% limit, 20% market, 15% cancel, 5% stop) from 200 accounts over 4
symbols is stored as the API would store it (reservations included) and queued on Kafka, then
the engine is started and timed from its first accepted order until it has stored the offset past
the last message (polled every 10 ms, so the last batch's commit is inside the span). The tables
are analyzed after the load, as autovacuum keeps them analyzed on a running system. Also
printed: the engine process's CPU time per settled order over the same span (user + system, from
/proc), which the noise of a shared machine disturbs far less than the rate. Fresh stack per run;
PostgreSQL with fsync on. The audit must find nothing afterwards.

    python -m bench.engine_persist --orders 20000 --repeat 3 --batch 500 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.harness import Processes, fresh_stack, summary
from bench.harness import cpu_seconds as tree_cpu_seconds
from devstack.stack import Stack
from shared.kafka import ORDERS_TOPIC
from shared.money import to_ticks
from trading_service.engine.core.model import Order, OrderType, Side, TimeInForce
from trading_service.messages import CancelRequest, NewOrder
from trading_service.tables import HOUSE_ACCOUNT_ID

SYMBOLS = {
    "AAPL": Decimal("190.00"),
    "MSFT": Decimal("420.00"),
    "NVDA": Decimal("120.00"),
    "JPM": Decimal("200.00"),
}
CASH = Decimal("10000000.00")
SHARES = 1_000


async def seed(stack: Stack, n: int, seed_: int) -> int:
    """Accounts with cash and shares bought from the house, reference prices, and the orders;
    the number of messages queued."""
    rng = random.Random(seed_)
    users = [uuid.uuid4() for _ in range(200)]
    conn = await asyncpg.connect(stack.database_url.replace("+asyncpg", ""))
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False, linger_ms=20
    )
    await producer.start()
    try:
        cost = sum(SHARES * p for p in SYMBOLS.values())
        await conn.executemany(
            "INSERT INTO accounts (id, cash, granted_cash) VALUES ($1, $2, $3)",
            [(u, CASH - cost, CASH) for u in users],
        )
        await conn.execute(
            "UPDATE accounts SET cash = cash + $1 WHERE id = $2",
            cost * len(users),
            HOUSE_ACCOUNT_ID,
        )
        await conn.executemany(
            "INSERT INTO positions (account_id, symbol, qty, cost_basis, house) "
            "VALUES ($1, $2, $3, $4, $5)",
            [(u, s, SHARES, SHARES * p, False) for u in users for s, p in SYMBOLS.items()]
            + [(HOUSE_ACCOUNT_ID, s, -SHARES * len(users), 0, True) for s in SYMBOLS],
        )
        await conn.executemany(
            "INSERT INTO reference_prices (symbol, price, seq, ts) VALUES ($1, $2, 1, now())",
            list(SYMBOLS.items()),
        )

        rows, messages, resting = [], [], []
        reserved_cash: dict[uuid.UUID, Decimal] = {}
        reserved_qty: dict[tuple[uuid.UUID, str], int] = {}
        for i in range(n):
            roll = rng.random()
            if roll < 0.15 and resting:
                victim = resting.pop(rng.randrange(len(resting)))
                messages.append((victim[1], CancelRequest(victim[0], victim[2])))
                continue
            user, symbol = rng.choice(users), rng.choice(list(SYMBOLS))
            ref = SYMBOLS[symbol]
            side = rng.choice([Side.BUY, Side.SELL])
            qty = rng.randint(1, 20)
            kind, tif, limit, stop, protection = OrderType.LIMIT, TimeInForce.GTC, None, None, None
            if roll < 0.75:
                limit = ref + Decimal(rng.randint(-60, 60)) / 100
            elif roll < 0.95:
                kind, tif = OrderType.MARKET, TimeInForce.DAY
                protection = ref * Decimal("1.05") if side is Side.BUY else None
            else:
                kind = OrderType.STOP
                stop = ref + (Decimal("1.00") if side is Side.BUY else Decimal("-1.00"))
                protection = stop * Decimal("1.05") if side is Side.BUY else None
            if protection is not None:
                protection = protection.quantize(Decimal("0.01"))
            order_id = uuid.uuid4()
            cash = (limit or protection or Decimal(0)) * qty if side is Side.BUY else Decimal(0)
            shares = qty if side is Side.SELL else 0
            reserved_cash[user] = reserved_cash.get(user, Decimal(0)) + cash
            reserved_qty[(user, symbol)] = reserved_qty.get((user, symbol), 0) + shares
            rows.append(
                (
                    order_id,
                    user,
                    f"bench-{i}",
                    symbol,
                    side.value,
                    kind.value,
                    tif.value,
                    qty,
                    limit,
                    stop,
                    protection,
                    cash,
                    shares,
                )
            )
            order = Order(
                order_id,
                user,
                symbol,
                side,
                kind,
                tif,
                qty,
                None if limit is None else to_ticks(limit),
                None if stop is None else to_ticks(stop),
                None if protection is None else to_ticks(protection),
            )
            messages.append((symbol, NewOrder(order)))
            if kind is OrderType.LIMIT:
                resting.append((order_id, symbol, user))
        await conn.executemany(
            "INSERT INTO orders (id, account_id, client_order_id, symbol, side, type, "
            "time_in_force, qty, limit_price, stop_price, protection_price, status, "
            "reserved_cash, reserved_qty) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'new', $12, $13)",
            rows,
        )
        await conn.executemany(
            "UPDATE accounts SET reserved_cash = $2 WHERE id = $1", list(reserved_cash.items())
        )
        await conn.executemany(
            "UPDATE positions SET reserved_qty = $3 WHERE account_id = $1 AND symbol = $2",
            [(u, s, q) for (u, s), q in reserved_qty.items()],
        )
        # Statistics of the tables loaded here, as autovacuum keeps them on a running system
        # (its first pass would come a minute after this bulk load, after the run): without
        # them PostgreSQL plans the batch's reads for an orders table of one row. (Not the
        # tables the run fills from empty: analyzed empty, trades would be scanned whole by
        # each fill's foreign-key check.)
        await conn.execute("ANALYZE accounts, positions, reference_prices, orders")
        for symbol, message in messages:
            await producer.send(ORDERS_TOPIC, message.encode(), key=symbol.encode())
        await producer.flush()
        return len(messages)
    finally:
        await producer.stop()
        await conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pids(stack: Stack) -> dict[str, int]:
    """The embedded PostgreSQL's and Kafka's process ids (their CPU is counted with their
    children's: PostgreSQL's backends)."""
    pids = {}
    for name in ("postgres", "kafka"):
        server = next((s for s in stack.servers if s.name == name), None)
        if server is not None and server.proc is not None:
            pids[name] = server.proc.pid
    return pids


async def settled(
    stack: Stack, messages: int, engine_pid: int
) -> tuple[float, int, float, dict[str, float]]:
    """Wait until the engine has applied every message; (seconds from its first acceptance to
    then, orders, engine CPU seconds over that time, the servers' CPU seconds over it)."""
    conn = await asyncpg.connect(stack.database_url.replace("+asyncpg", ""))
    applied = "SELECT coalesce(sum(next_offset), 0) FROM engine_offsets WHERE topic = $1"
    try:
        # (Polled on the offsets' few rows: a count over the orders every 10 ms was PostgreSQL
        # work of its own beside the engine's first batch.)
        while not await conn.fetchval(applied, ORDERS_TOPIC):
            await asyncio.sleep(0.01)
        cpu_start = cpu_seconds(engine_pid)
        servers = server_pids(stack)
        servers_start = {name: tree_cpu_seconds(pid) for name, pid in servers.items()}
        while await conn.fetchval(applied, ORDERS_TOPIC) < messages:
            await asyncio.sleep(0.01)
        ended, cpu = time.time(), cpu_seconds(engine_pid) - cpu_start
        servers_cpu = {
            name: tree_cpu_seconds(pid) - servers_start[name] for name, pid in servers.items()
        }
        first = await conn.fetchval("SELECT min(accepted_at) FROM orders")
        violations = await audit(stack)
        assert violations == 0, f"{violations} audit violations"
        n = int(await conn.fetchval("SELECT count(*) FROM orders"))
        return ended - first.timestamp(), n, cpu, servers_cpu
    finally:
        await conn.close()


async def audit(stack: Stack) -> int:
    from sqlalchemy.ext.asyncio import create_async_engine

    from trading_service.audit import audit as run_audit

    engine = create_async_engine(stack.database_url)
    try:
        async with engine.connect() as conn:
            return sum(len(v) for v in (await run_audit(conn)).values())
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, nargs="+", default=[500])
    args = parser.parse_args()
    rates: dict[int, list[float]] = {b: [] for b in args.batch}
    cpu_per_order: dict[int, list[float]] = {b: [] for b in args.batch}
    server_cpu: dict[int, dict[str, list[float]]] = {b: {} for b in args.batch}
    for run in range(args.repeat):
        for batch in args.batch:  # variants side by side in each round
            with fresh_stack() as (stack, root):
                messages = asyncio.run(seed(stack, args.orders, seed_=run))
                procs = Processes(stack, root, {"ENGINE_MAX_BATCH": str(batch)})
                started = time.perf_counter()
                engine = procs.engine()
                try:
                    span, n, cpu, servers = asyncio.run(settled(stack, messages, engine.pid))
                finally:
                    procs.stop()
                rates[batch].append(n / span)
                cpu_per_order[batch].append(1e6 * cpu / n)
                for name, seconds in servers.items():
                    server_cpu[batch].setdefault(name, []).append(1e6 * seconds / n)
                others = ", ".join(f"{name} {1e6 * s / n:,.0f}" for name, s in servers.items())
                print(
                    f"run {run + 1}, batch {batch}: {n} orders settled in {span:.2f} s "
                    f"({n / span:,.0f}/s; {time.perf_counter() - started:.1f} s incl. start; "
                    f"engine CPU {1e6 * cpu / n:,.0f} µs per order; {others})"
                )
    print(f"\nengine with persistence, {args.orders} messages, median (min–max) of {args.repeat}")
    for batch, values in rates.items():
        print(
            f"  max batch {batch:>5}: {summary(values)} settled orders/s, engine CPU "
            f"{summary(cpu_per_order[batch])} µs per order"
        )
        for name, values in server_cpu[batch].items():
            print(f"{'':>19}{name} CPU {summary(values)} µs per order")


if __name__ == "__main__":
    main()
