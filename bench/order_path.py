"""The order path over HTTP: /trade/buy (waits for the fill) and POST /orders (acknowledgement),
at a fixed concurrency, with 1 and 2 API workers side by side, plus order-to-fill latency.

Real processes on a fresh embedded stack: uvicorn (uvloop + httptools) serving the trading API,
the matching engine, PostgreSQL with fsync on, Redis, the broker; wrk drives the load with 64
distinct accounts. Needs wrk (apt-get install wrk).

    python bench/order_path.py --seconds 10 --repeat 3 --connections 32
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from datetime import datetime

import asyncpg

from bench.harness import Processes, Tokens, fresh_stack, publish_price, summary, wrk


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


async def wait_settled(database_url: str) -> None:
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        while await conn.fetchval("SELECT count(*) FROM orders WHERE accepted_at IS NULL"):
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    buy = {"stock_symbol": "AAPL", "quantity": 1}
    order = {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market"}
    results: dict[str, dict[str, list[float]]] = {}
    with fresh_stack() as (stack, root):
        tokens = Tokens(root, 64)
        procs = Processes(
            stack,
            root,
            {
                "TRADING_JWKS_FILE": str(tokens.jwks_file),
                "TRADING_STARTING_CASH": "1000000000.00",
                "TRADING_MAX_PRICE_AGE_S": "86400",
            },
        )
        try:
            procs.engine()
            for workers in args.workers:
                port, api = procs.api(workers)
                asyncio.run(publish_price(stack, "AAPL", "190.00", port))
                wrk(port, "/trade/buy", buy, tokens.tokens, args.connections, 2, root)  # warm-up
                for _ in range(args.repeat):
                    for name, path, body in (
                        ("/trade/buy (waits for fill)", "/trade/buy", buy),
                        ("POST /orders (ack)", "/orders", order),
                    ):
                        asyncio.run(wait_settled(stack.database_url))
                        started = datetime.now().astimezone()
                        r = wrk(
                            port, path, body, tokens.tokens, args.connections, args.seconds, root
                        )
                        key = f"{name}, {workers} worker(s)"
                        for metric, value in r.items():
                            results.setdefault(key, {}).setdefault(metric, []).append(value)
                        asyncio.run(wait_settled(stack.database_url))
                        fills = asyncio.run(fill_latencies(stack.database_url, started))
                        results[key].setdefault("fill_p50", []).append(percentile(fills, 0.5))
                        results[key].setdefault("fill_p99", []).append(percentile(fills, 0.99))
                        results[key].setdefault("orders", []).append(float(len(fills)))
                api.terminate()
                api.wait()
        finally:
            procs.stop()

    print(
        f"\n{args.connections} connections, {args.seconds} s per run, {args.repeat} runs; "
        "median (min–max)"
    )
    for key, m in results.items():
        print(f"\n{key}")
        print(f"  requests/s            {summary(m['rps'])}")
        print(
            f"  latency p50 / p99 ms  {summary(m['p50'], '{:.1f}')} / {summary(m['p99'], '{:.1f}')}"
        )
        print(
            f"  order-to-fill p50/p99 {summary(m['fill_p50'], '{:.1f}')} / "
            f"{summary(m['fill_p99'], '{:.1f}')} ms"
        )
        print(f"  non-2xx               {statistics.median(m['non2xx']):.0f}")


if __name__ == "__main__":
    main()
