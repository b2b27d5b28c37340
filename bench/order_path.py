"""The order path over HTTP: /trade/buy and /trade/sell (wait for the fill), POST /orders
(acknowledgement) and POST /orders?wait=true (waits for the engine), at a fixed concurrency,
with 1 and 2 API workers side by side, plus order-to-fill latency, each next to the floor of
the web stack measured in the same run.

Real processes on a fresh embedded stack: uvicorn (uvloop + httptools) serving the trading API,
the matching engine, PostgreSQL with fsync on, Redis, the broker; wrk drives the load with 64
distinct accounts. The floor (bench/floor.py: FastAPI + asyncpg, one order-shaped transaction,
1 worker) runs beside them on the same PostgreSQL with the same wrk, tokens and accounts; it is
measured right before each run of the real system, and every figure is also printed as a ratio
to that floor (requests/s: higher is better; latencies: lower is better). Needs wrk
(apt-get install wrk).

    python -m bench.order_path --seconds 10 --repeat 3 --connections 32

`--engine-paused` adds POST /orders runs with the engine stopped (SIGSTOP) while wrk runs: what
the API gives with the engine's share of the machine free, e.g. to see whether a second worker
adds anything once the rest of the system leaves cores to it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import time
from datetime import datetime
from decimal import Decimal

import asyncpg
import httpx

from bench import floor, order_hops
from bench.harness import (
    Processes,
    Tokens,
    busy_cores,
    cpu_seconds,
    fresh_stack,
    machine_ticks,
    publish_price,
    summary,
    wrk,
)

FLOOR = "the floor (FastAPI + asyncpg, 1 worker)"
STARTING_CASH = "1000000000.00"


async def fill_latencies(database_url: str, since: datetime) -> list[float]:
    """Per order: first fill time minus creation time (ms), for orders created after `since`."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(
            "SELECT extract(epoch FROM min(f.ts) - o.created_at) * 1000 AS ms "
            "FROM orders o JOIN fills f ON f.order_id = o.id WHERE o.created_at > $1 "
            "GROUP BY o.id, o.created_at",
            since,
        )
        return sorted(float(r["ms"]) for r in rows)
    finally:
        await conn.close()


async def give_shares(port: int, tokens: list[str], qty: int) -> None:
    """Each account buys `qty` shares once (through the API), so the /trade/sell runs have
    shares to sell."""
    order = {"symbol": "AAPL", "qty": qty, "side": "buy", "type": "market"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for token in tokens:
            r = await client.post(
                "/orders?wait=true", json=order, headers={"Authorization": f"Bearer {token}"}
            )
            if r.status_code != 201 or r.json()["status"] != "filled":
                raise SystemExit(f"could not give the bench accounts shares: {r.text}")


async def wait_settled(database_url: str) -> None:
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        while await conn.fetchval("SELECT count(*) FROM orders WHERE accepted_at IS NULL"):
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


def per_order_ms(cpu_s: float, run: dict[str, float]) -> float:
    """CPU milliseconds per answered request of a wrk run."""
    return 1000 * cpu_s / max(1.0, run["requests"])


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--paths",
        nargs="+",
        default=["/trade/buy", "/trade/sell", "/orders", "/orders?wait=true"],
        help="only these paths (to save time)",
    )
    parser.add_argument(
        "--engine-paused",
        action="store_true",
        help="also run POST /orders with the engine stopped (SIGSTOP) for the run: what the "
        "API gives with the engine's share of the machine free (its orders fill after the run)",
    )
    args = parser.parse_args()

    one_share = {"stock_symbol": "AAPL", "quantity": 1}
    order = {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market"}
    floor_order = {"symbol": "AAPL", "qty": 1, "side": "buy", "price": "190.00"}
    results: dict[str, dict[str, list[float]]] = {}

    def record(key: str, run: dict[str, float], floor_run: dict[str, float] | None) -> None:
        for metric, value in run.items():
            results.setdefault(key, {}).setdefault(metric, []).append(value)
        if floor_run is not None:  # paired with the floor measured just before
            for metric in ("rps", "p50", "p99"):
                ratios = results[key].setdefault(f"{metric}_x", [])
                ratios.append(run[metric] / floor_run[metric])
            # Each run as it ends (a slow run among fast ones shows when it happened).
            print(
                f"  {time.strftime('%H:%M:%S')} {key}: {run['rps']:,.0f} req/s = "
                f"{run['rps'] / floor_run['rps']:.2f}x the floor's {floor_run['rps']:,.0f}, "
                f"p50 {run['p50']:.1f} ms, p99 {run['p99']:.1f} ms",
                flush=True,
            )

    with fresh_stack() as (stack, root):
        tokens = Tokens(root, 64)
        tap = order_hops.ExecutionsTap(stack.redis_url)
        procs = Processes(
            stack,
            root,
            {
                "TRADING_JWKS_FILE": str(tokens.jwks_file),
                "TRADING_STARTING_CASH": STARTING_CASH,
                "TRADING_MAX_PRICE_AGE_S": "86400",
                # 64 accounts at the floor's pace place ~35 orders/s each, over the default
                # per-account limit (20/s, bursts of 100): it would answer 429 late in a run.
                # Raised, not lifted: each order still pays the limiter's Redis round trip
                # (which also reads the order's price), as with the default settings.
                "TRADING_ORDER_RATE": "100000",
                # The orders of a run with the engine paused must not be sent again meanwhile.
                "TRADING_REPUBLISH_AFTER_S": "600",
            },
        )
        try:
            engine = procs.engine()
            asyncio.run(floor.prepare(stack.database_url, tokens.users, Decimal(STARTING_CASH)))
            floor_port, floor_proc = procs.floor(stack.database_url, tokens.jwks_file)

            def measure_floor() -> dict[str, float]:
                cpu, machine = cpu_seconds(floor_proc.pid), machine_ticks()
                run = wrk(
                    floor_port, "/order", floor_order, tokens.tokens, args.connections,
                    args.seconds, root,
                )  # fmt: skip
                run["busy"] = busy_cores(machine, machine_ticks())
                run["cpu_ms"] = per_order_ms(cpu_seconds(floor_proc.pid) - cpu, run)
                if run["non2xx"]:
                    raise SystemExit(f"the floor answered {run['non2xx']:.0f} non-2xx: see {root}")
                record(FLOOR, run, None)
                return run

            wrk(
                floor_port, "/order", floor_order, tokens.tokens, args.connections, 2, root
            )  # warm-up
            for workers in args.workers:
                port, api = procs.api(workers)
                asyncio.run(publish_price(stack, "AAPL", "190.00", port))
                wrk(
                    port, "/trade/buy", one_share, tokens.tokens, args.connections, 2, root
                )  # warm-up
                # More than every /trade/sell run of this API process can sell.
                asyncio.run(give_shares(port, tokens.tokens, 100_000))
                runs = [
                    ("/trade/buy (waits for fill)", "/trade/buy", one_share, False),
                    ("/trade/sell (waits for fill)", "/trade/sell", one_share, False),
                    ("POST /orders (ack)", "/orders", order, False),
                    (
                        "POST /orders?wait=true (waits for the engine)",
                        "/orders?wait=true",
                        order,
                        False,
                    ),
                ]
                if args.engine_paused:
                    runs.append(("POST /orders (ack), engine paused", "/orders", order, True))
                for _ in range(args.repeat):
                    for name, path, body, paused in runs:
                        if path not in args.paths:
                            continue
                        asyncio.run(wait_settled(stack.database_url))
                        floor_run = measure_floor()
                        started = datetime.now().astimezone()
                        since = started.timestamp()
                        api_cpu, engine_cpu = cpu_seconds(api.pid), cpu_seconds(engine.pid)
                        if paused:
                            engine.send_signal(signal.SIGSTOP)
                        machine, wall = machine_ticks(), time.monotonic()
                        try:
                            r = wrk(
                                port, path, body, tokens.tokens, args.connections, args.seconds,
                                root,
                            )  # fmt: skip
                        finally:
                            if paused:
                                engine.send_signal(signal.SIGCONT)
                        wall = time.monotonic() - wall
                        r["busy"] = busy_cores(machine, machine_ticks())
                        api_used = cpu_seconds(api.pid) - api_cpu
                        r["cpu_ms"] = per_order_ms(api_used, r)
                        # Whether the API was the bound: a worker near 1 core is; the machine
                        # near all of its cores with the API well under them means the rest is.
                        r["api_cores"] = api_used / wall
                        r["engine_cores"] = (cpu_seconds(engine.pid) - engine_cpu) / wall
                        key = f"{name}, {workers} worker(s)"
                        record(key, r, floor_run)
                        asyncio.run(wait_settled(stack.database_url))
                        if paused:  # its orders filled after the run: no latencies to take
                            continue
                        # Until the engine has processed every order of the run.
                        engine_ms = per_order_ms(cpu_seconds(engine.pid) - engine_cpu, r)
                        results[key].setdefault("engine_cpu_ms", []).append(engine_ms)
                        fills = asyncio.run(fill_latencies(stack.database_url, started))
                        results[key].setdefault("fill_p50", []).append(percentile(fills, 0.5))
                        results[key].setdefault("fill_p99", []).append(percentile(fills, 0.99))
                        results[key].setdefault("orders", []).append(float(len(fills)))
                        timed = (
                            asyncio.run(order_hops.order_times(stack.database_url, started)),
                            asyncio.run(
                                order_hops.produced_at(stack.kafka_bootstrap_servers, since)
                            ),
                            tap.first_seen(since),
                        )
                        per_hop = order_hops.hops(*timed)
                        if not per_hop["order-to-seen"]:
                            print(
                                "no order's hops could be timed: filled, produced, seen = "
                                f"{', '.join(str(len(t)) for t in timed)}",
                                flush=True,
                            )
                        for hop, values in per_hop.items():
                            if values:
                                for p, at in (("p50", 0.5), ("p99", 0.99)):
                                    results[key].setdefault(f"{hop} {p}", []).append(
                                        percentile(values, at)
                                    )
                procs.stop_one(api)
        finally:
            procs.stop()
            tap.close()

    print(
        f"\n{args.connections} connections, {args.seconds} s per run, {args.repeat} runs; "
        "median (min–max)"
    )
    for key, m in results.items():
        x = key != FLOOR  # ratios to the floor of the same repeat
        print(f"\n{key}")
        print(
            f"  requests/s            {summary(m['rps'])}"
            + (f"   = {summary(m['rps_x'], '{:.2f}')}x the floor" if x else "")
        )
        print(
            f"  latency p50 / p99 ms  {summary(m['p50'], '{:.1f}')} / {summary(m['p99'], '{:.1f}')}"
            + (
                f"   = {summary(m['p50_x'], '{:.2f}')}x / "
                f"{summary(m['p99_x'], '{:.2f}')}x the floor"
                if x
                else ""
            )
        )
        if "fill_p50" in m:  # not with the engine paused
            print(
                f"  order-to-fill p50/p99 {summary(m['fill_p50'], '{:.1f}')} / "
                f"{summary(m['fill_p99'], '{:.1f}')} ms"
            )
            for hop in order_hops.HOPS:
                if f"{hop} p50" in m:
                    print(
                        f"    {hop:<22}{summary(m[f'{hop} p50'], '{:.1f}')} / "
                        f"{summary(m[f'{hop} p99'], '{:.1f}')} ms"
                    )
        if "engine_cpu_ms" in m:
            print(
                f"  CPU ms per order      API {summary(m['cpu_ms'], '{:.2f}')}, "
                f"engine {summary(m['engine_cpu_ms'], '{:.2f}')}"
            )
        else:  # the floor's own process, or the API's with the engine paused
            print(f"  CPU ms per order      {summary(m['cpu_ms'], '{:.2f}')}")
        print(
            f"  machine busy          {summary(m['busy'], '{:.2f}')} of {os.cpu_count()} cores"
            " (wrk and the bench's own listener included)"
        )
        if x:
            print(
                f"    of which            API {summary(m['api_cores'], '{:.2f}')}, "
                f"engine {summary(m['engine_cores'], '{:.2f}')} (the rest: PostgreSQL, the "
                "broker, Redis, wrk, the kernel)"
            )
        print(f"  non-2xx               {statistics.median(m['non2xx']):.0f}")


if __name__ == "__main__":
    main()
