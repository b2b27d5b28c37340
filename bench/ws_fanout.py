"""WebSocket fan-out: N clients subscribed to all prices, S symbols ticking R times a second.

Ticks go through the real path: Kafka `stock-prices` → the API's price consumer → Redis price
cache (PUBLISH `prices`) → the hub's one subscription → every client's queue → the socket.
Latency = client receive time - the tick's `ts` (stamped when it is produced). Every client
also checks that each symbol's seq only goes up. Memory per connection = the API process's
RSS growth while the clients are connected / clients. Client processes share the 2 cores
with the server, so the numbers are pessimistic.

    python bench/ws_fanout.py --clients 1000 --symbols 20 --rate 10 --seconds 10 --repeat 3
    python bench/ws_fanout.py --no-batch ...   # one frame per message instead of JSON arrays
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis
from websockets.asyncio.client import connect

from bench.harness import Processes, Tokens, fresh_stack, summary
from devstack.stack import Stack
from shared.kafka import PRICES_TOPIC
from trading_service.messages import PriceTick
from trading_service.prices.cache import PriceCache


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _client_worker(url: str, clients: int, seconds: float, start_at: float, out: Any) -> None:
    """One process of clients; sends back latencies (ms), order violations and counts."""

    async def main() -> None:
        latencies: list[float] = []
        violations = 0
        received = 0
        ready = 0

        async def client() -> None:
            nonlocal violations, received, ready
            last: dict[str, int] = {}
            async with connect(url, max_size=None, ping_interval=None, open_timeout=60) as ws:
                await ws.send(json.dumps({"action": "subscribe", "channels": ["prices"]}))
                ready += 1
                async for frame in ws:
                    now = time.time()
                    data = json.loads(frame)
                    for m in data if isinstance(data, list) else [data]:
                        if m.get("type") != "price" or m.get("snapshot"):
                            continue
                        if m["seq"] <= last.get(m["symbol"], -1):
                            violations += 1
                        last[m["symbol"]] = m["seq"]
                        if start_at <= now < start_at + seconds:
                            ts = datetime.fromisoformat(m["ts"]).timestamp()
                            latencies.append((now - ts) * 1000)
                            received += 1
                    if now >= start_at + seconds:
                        return

        tasks = []
        for _ in range(clients):
            tasks.append(asyncio.create_task(client()))
            await asyncio.sleep(0.01)  # a steady stream of handshakes, not a SYN flood
        results = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [repr(r) for r in results if isinstance(r, BaseException)]
        out.send(
            {
                "latencies": latencies,
                "violations": violations,
                "received": received,
                "errors": errors[:3],
                "failed": len(errors),
            }
        )

    asyncio.run(main())


async def _ticker(stack: Stack, source: str, symbols: list[str], rate: float, until: float) -> None:
    """All symbols tick together `rate` times a second, like the stock service.

    source "kafka": produced to `stock-prices` (the whole path); "redis": stored in the price
    cache directly, as the API's price consumer does (the fan-out alone).
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False, linger_ms=0
    )
    redis = Redis.from_url(stack.redis_url)
    cache = PriceCache(redis)
    await producer.start()
    seq = time.time_ns() // 1000
    try:
        next_at = time.monotonic()
        while time.time() < until:
            seq += 1
            ts = datetime.now(UTC).isoformat()
            for s in symbols:
                if source == "redis":
                    await cache.store(PriceTick(s, Decimal("100.00"), ts, seq))
                    continue
                value = {"symbol": s, "price": "100.00", "seq": seq, "ts": ts}
                await producer.send(PRICES_TOPIC, json.dumps(value).encode(), key=s.encode())
            await producer.flush()
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        await producer.stop()
        await redis.aclose()


def one_run(args: argparse.Namespace, url: str, api_pid: int, stack: Stack) -> dict[str, float]:
    symbols = [f"WS{i:02d}" for i in range(args.symbols)]
    rss_before = rss_bytes(api_pid)
    per_proc = [args.clients // args.client_procs] * args.client_procs
    per_proc[0] += args.clients - sum(per_proc)
    connect_s = max(5.0, args.clients * 0.01 / args.client_procs + 3)
    start_at = time.time() + connect_s + 2  # measure once everyone is connected and warm
    pipes, procs = [], []
    for n in per_proc:
        recv, send = multiprocessing.Pipe(duplex=False)
        p = multiprocessing.Process(
            target=_client_worker, args=(url, n, args.seconds, start_at, send)
        )
        p.start()
        pipes.append(recv)
        procs.append(p)
    # Ticks from the start: clients connect while the market moves, as in real life.
    rss_connected = asyncio.run(_ticker_until_measured(stack, symbols, args, start_at, api_pid))
    results = [r.recv() for r in pipes]
    for p in procs:
        p.join()
    latencies = sorted(x for r in results for x in r["latencies"])
    failed = sum(r["failed"] for r in results)
    if failed:
        print("  client errors:", failed, [e for r in results for e in r["errors"]][:3])
    expected = args.clients * args.symbols * args.rate * args.seconds
    return {
        "p50": latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "delivered": len(latencies) / expected if expected else 0.0,
        "violations": float(sum(r["violations"] for r in results)),
        "kib_per_conn": (rss_connected - rss_before) / 1024 / max(1, args.clients - failed),
        "failed": float(failed),
    }


async def _ticker_until_measured(
    stack: Stack,
    symbols: list[str],
    args: argparse.Namespace,
    start_at: float,
    api_pid: int,
) -> int:
    """Ticks until the measurement ends; the API's RSS once every client is connected."""
    until = start_at + args.seconds + 1
    ticker = asyncio.create_task(_ticker(stack, args.source, symbols, args.rate, until))
    await asyncio.sleep(max(0.0, start_at - time.time()))
    rss: int = rss_bytes(api_pid)
    await ticker
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10, help="ticks per symbol per second")
    parser.add_argument("--seconds", type=float, default=10, help="measured time per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--source", choices=["kafka", "redis"], default="kafka")
    parser.add_argument("--no-batch", action="store_true", help="one WebSocket frame per message")
    args = parser.parse_args()

    with fresh_stack() as (stack, root):
        tokens = Tokens(root, 1)
        procs = Processes(stack, root, {"TRADING_JWKS_FILE": str(tokens.jwks_file)})
        # One worker: the RSS per connection is read from this very process.
        port, server = procs.api(workers=1)
        try:
            url = f"ws://127.0.0.1:{port}/ws" + ("" if args.no_batch else "?batch=true")
            runs = []
            for i in range(args.repeat):
                r = one_run(args, url, server.pid, stack)
                runs.append(r)
                print(
                    f"run {i + 1}: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
                    f"max {r['max']:.1f} ms, delivered {r['delivered']:.1%}, "
                    f"out-of-order {r['violations']:.0f}, {r['kib_per_conn']:.1f} KiB/conn",
                    flush=True,
                )
        finally:
            procs.stop()
    mode = "one frame per message" if args.no_batch else "batched frames"
    mode += f", ticks from {args.source}"
    print(
        f"\n{args.clients} clients, {args.symbols} symbols x {args.rate:g}/s, {mode}, "
        f"{args.repeat} runs of {args.seconds:g} s: median (min-max)"
    )
    print(f"  tick-to-client p50: {summary([r['p50'] for r in runs], '{:.1f}')} ms")
    print(f"  tick-to-client p99: {summary([r['p99'] for r in runs], '{:.1f}')} ms")
    print(f"  delivered:          {summary([r['delivered'] * 100 for r in runs], '{:.1f}')} %")
    print(f"  out-of-order ticks: {summary([r['violations'] for r in runs], '{:.0f}')}")
    print(f"  memory/connection:  {summary([r['kib_per_conn'] for r in runs], '{:.1f}')} KiB")
    print(f"  median of p99 {statistics.median(r['p99'] for r in runs):.1f} ms (target ≤ 100)")


if __name__ == "__main__":
    main()
