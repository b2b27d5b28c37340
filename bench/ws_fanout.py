"""WebSocket fan-out: N clients subscribed to all prices, S symbols ticking R times a second.

Ticks go through the real path: Kafka `stock-prices` → the API's price consumer → Redis price
cache (PUBLISH `prices`) → the hub's one subscription → every client's frames → the socket.

The clients are kept light so that they measure the server, not themselves: most of them only
count the ticks in each frame (a C-level regex over the text, no JSON); one in `--sample-every`
also parses every frame, timestamps it on arrival (before parsing), and checks that each
symbol's seq only goes up. Round i of the ticker carries seq BASE + i for every symbol, so a
client counts exactly the ticks of the measured rounds, whenever they arrive (up to `--grace`
seconds after the window). The market ticks from the start; the window begins 2 s after every
client has subscribed.

Reported per run: tick-to-client latency (receive time - the tick's `ts`, stamped when it is
produced) p50/p99 over the sampled clients; delivered = ticks of the measured rounds received /
(clients x symbols x rounds); clients told `slow_consumer` and dropped; the API process's CPU
per delivered tick and per frame (what a busy shared machine does not distort much); the client
processes' own CPU share of the window (near 100% means the clients, not the server, were the
limit: add `--client-procs` or run them elsewhere); API RSS growth per connection. And where the
time goes before the fan-out: a probe process timestamps every tick of the window as a Kafka
consumer set like the API's price consumer gets it, and as the price cache's Redis channel
`prices` publishes it (what the API's hub receives), both after the tick's `ts`.

    python -m bench.ws_fanout --clients 1000 --symbols 20 --rate 10 --seconds 10 --repeat 3
    python -m bench.ws_fanout --no-batch ...   # one frame per message instead of JSON arrays
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import re
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from redis.asyncio import Redis
from websockets.asyncio.client import connect

from bench.harness import Processes, Tokens, fresh_stack, summary
from devstack.stack import Stack
from shared.kafka import PRICES_TOPIC
from trading_service.messages import PriceTick
from trading_service.prices.cache import PRICES_CHANNEL, PriceCache
from trading_service.prices.consumer import FETCH_MAX_WAIT_MS

# The seq of every message in a frame; price seqs of one run all have the same number of digits.
_SEQ = re.compile(r'"seq": ?(\d+)')


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Window:
    """The measured rounds (seq `first`..`last`), and when the clients stop listening."""

    first: int
    last: int
    start_at: float  # wall time of round `first`
    end_at: float  # wall time just after round `last`
    deadline: float  # end_at + grace: a tick of the window arriving later counts as lost


def _client_worker(
    url: str, clients: int, sample_every: int, compression: bool, parent: Any
) -> None:
    """One process of clients: connects and subscribes them all, says how many are ready, gets
    the window, sends back latencies (ms), counts, violations and its CPU use."""

    async def main() -> None:
        # Until the window is known nothing counts: "~" sorts after every digit string.
        lo = hi = "~"
        window = Window(0, 0, float("inf"), float("inf"), float("inf"))
        ready = asyncio.Event()  # every client subscribed or failed
        pending = clients
        running: set[int] = set()
        subscribed = 0
        latencies: list[float] = []
        violations = 0
        per_client: list[int] = []  # ticks of the window each client received
        frames = 0
        told_slow = 0
        late = 0  # subscribed only after the window began: it misses its first rounds

        async def count_only(ws: Any) -> int:
            nonlocal frames, told_slow
            ticks = 0
            async for frame in ws:
                frames += 1
                ticks += sum(1 for s in _SEQ.findall(frame) if lo <= s <= hi)
                if '"slow_consumer"' in frame:
                    told_slow += 1
                if time.time() >= window.deadline:
                    break
            return ticks

        async def sample(ws: Any) -> int:
            nonlocal frames, told_slow, violations
            ticks = 0
            last: dict[str, int] = {}
            async for frame in ws:
                now = time.time()  # on arrival: the parsing below is the client's own time
                frames += 1
                data = json.loads(frame)
                for m in data if isinstance(data, list) else [data]:
                    if m.get("error") == "slow_consumer":
                        told_slow += 1
                    if m.get("type") != "price" or m.get("snapshot"):
                        continue
                    seq = m["seq"]
                    if seq <= last.get(m["symbol"], -1):
                        violations += 1
                    last[m["symbol"]] = seq
                    if window.first <= seq <= window.last:
                        ts = datetime.fromisoformat(m["ts"]).timestamp()
                        latencies.append((now - ts) * 1000)
                        ticks += 1
                if now >= window.deadline:
                    break
            return ticks

        def settled() -> None:
            nonlocal pending
            pending -= 1
            if not pending:
                ready.set()

        async def client(n: int) -> None:
            try:
                await subscriber(n)
            except BaseException:
                if n not in running:  # failed before subscribing: nobody waits for it
                    settled()
                raise

        async def subscriber(n: int) -> None:
            nonlocal late, subscribed
            async with connect(
                url,
                max_size=None,
                ping_interval=None,
                open_timeout=60,
                compression="deflate" if compression else None,
            ) as ws:
                await ws.send(json.dumps({"action": "subscribe", "channels": ["prices"]}))
                answer = await ws.recv()  # "subscribed" (alone, or first in its array)
                if time.time() > window.start_at or '"subscribed"' not in answer:
                    late += 1
                subscribed += 1
                running.add(n)
                settled()
                per_client.append(await (sample(ws) if n % sample_every == 0 else count_only(ws)))

        tasks = []
        for n in range(clients):
            tasks.append(asyncio.create_task(client(n)))
            await asyncio.sleep(0.01)  # a steady stream of handshakes, not a SYN flood
        done = asyncio.ensure_future(asyncio.gather(*tasks, return_exceptions=True))
        waiting: list[asyncio.Future[Any]] = [done, asyncio.ensure_future(ready.wait())]
        await asyncio.wait(waiting, timeout=600, return_when=asyncio.FIRST_COMPLETED)
        parent.send(subscribed)
        window = await asyncio.to_thread(parent.recv)
        lo, hi = str(window.first), str(window.last)
        assert len(lo) == len(hi)  # so comparing the digit strings compares the numbers
        await asyncio.sleep(max(0.0, window.start_at - time.time()))
        cpu_start = time.process_time()
        results = await done
        cpu = time.process_time() - cpu_start
        errors = [repr(r) for r in results if isinstance(r, BaseException)]
        parent.send(
            {
                "latencies": latencies,
                "violations": violations,
                "per_client": per_client,
                "frames": frames,
                "told_slow": told_slow,
                "cpu_share": cpu / max(1e-9, time.time() - window.start_at),
                "errors": errors[:3],
                "failed": len(errors),
                "late": late,
            }
        )

    asyncio.run(main())


def _probe_worker(kafka: str, redis_url: str, parent: Any) -> None:
    """Where a tick's time goes before the fan-out: a Kafka consumer set like the API's price
    consumer and a subscriber of the price cache's Redis channel, in a process of their own,
    timestamp every tick on arrival. Sends back (hop, seq, ms after the tick's `ts`)."""

    async def main() -> None:
        arrivals: list[tuple[str, int, float]] = []
        consumer = AIOKafkaConsumer(
            PRICES_TOPIC,
            bootstrap_servers=kafka,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        redis = Redis.from_url(redis_url)
        pubsub = redis.pubsub(ignore_subscribe_messages=True)

        def arrived(hop: str, raw: bytes) -> None:
            now = time.time()
            tick = json.loads(raw)
            ts = datetime.fromisoformat(tick["ts"]).timestamp()
            arrivals.append((hop, int(tick["seq"]), (now - ts) * 1000))

        async def from_kafka() -> None:
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        arrived("kafka", record.value)

        async def from_redis() -> None:
            async for message in pubsub.listen():
                arrived("redis", message["data"])

        await consumer.start()
        while not consumer.assignment():  # as the API's consumer: every partition, from the end
            await asyncio.sleep(0.1)
        await consumer.seek_to_end(*consumer.assignment())
        await pubsub.subscribe(PRICES_CHANNEL)
        parent.send("ready")
        window = await asyncio.to_thread(parent.recv)
        tasks = [asyncio.create_task(from_kafka()), asyncio.create_task(from_redis())]
        await asyncio.sleep(max(0.0, window.deadline - time.time()))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await consumer.stop()
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await redis.aclose()
        parent.send([a for a in arrivals if window.first <= a[1] <= window.last])

    asyncio.run(main())


def _percentiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    values = sorted(values)
    return values[len(values) // 2], values[int(len(values) * 0.99)]


async def _ticker(
    stack: Stack,
    source: Literal["kafka", "redis"],
    symbols: list[str],
    rate: float,
    base_seq: int,
    t0: float,
    until: list[float],
) -> None:
    """All symbols tick together `rate` times a second, like the stock service: round i at
    t0 + i / rate with seq base_seq + i (late rounds are caught up, never skipped), until the
    time in `until[0]` (set once the window is known).

    source "kafka": produced to `stock-prices` (the whole path); "redis": stored in the price
    cache directly, one call per round as the API's price consumer does (the fan-out alone).
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False, linger_ms=0
    )
    redis = Redis.from_url(stack.redis_url)
    cache = PriceCache(redis)
    await producer.start()
    try:
        i = 0
        while t0 + i / rate < until[0]:
            await asyncio.sleep(max(0.0, t0 + i / rate - time.time()))
            seq = base_seq + i
            ts = datetime.now(UTC).isoformat()
            if source == "redis":
                await cache.store_many([PriceTick(s, Decimal("100.00"), ts, seq) for s in symbols])
            else:
                for s in symbols:
                    value = {"symbol": s, "price": "100.00", "seq": seq, "ts": ts}
                    await producer.send(PRICES_TOPIC, json.dumps(value).encode(), key=s.encode())
                await producer.flush()
            i += 1
    finally:
        await producer.stop()
        await redis.aclose()


def one_run(args: argparse.Namespace, url: str, api_pid: int, stack: Stack) -> dict[str, float]:
    per_proc = [args.clients // args.client_procs] * args.client_procs
    per_proc[0] += args.clients - sum(per_proc)
    probe, probe_end = multiprocessing.Pipe()
    prober = multiprocessing.Process(
        target=_probe_worker,
        args=(stack.kafka_bootstrap_servers, stack.redis_url, probe_end),
    )
    prober.start()
    probe.recv()  # subscribed
    pipes, procs = [], []
    for n in per_proc:
        mine, theirs = multiprocessing.Pipe()
        p = multiprocessing.Process(
            target=_client_worker,
            args=(url, n, args.sample_every, not args.no_compression, theirs),
        )
        p.start()
        pipes.append(mine)
        procs.append(p)
    window, rss_connected, rss_before, api_cpu = asyncio.run(
        _tick_and_measure(stack, args, pipes, api_pid, probe)
    )
    results = [r.recv() for r in pipes]
    for p in procs:
        p.join()
    arrivals = probe.recv()
    prober.join()
    kafka_p50, kafka_p99 = _percentiles([ms for hop, _, ms in arrivals if hop == "kafka"])
    redis_p50, redis_p99 = _percentiles([ms for hop, _, ms in arrivals if hop == "redis"])
    latencies = sorted(x for r in results for x in r["latencies"])
    failed = sum(r["failed"] for r in results)
    if failed:
        print("  client errors:", failed, [e for r in results for e in r["errors"]][:3])
    per_client = sorted(n for r in results for n in r["per_client"])
    connected = len(per_client)
    ticks = sum(per_client)
    each = args.symbols * (window.last - window.first + 1)
    frames = sum(r["frames"] for r in results)
    expected = args.clients * each
    return {
        "p50": latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "delivered": ticks / expected if expected else 0.0,
        "violations": float(sum(r["violations"] for r in results)),
        "told_slow": float(sum(r["told_slow"] for r in results)),
        "late": float(sum(r["late"] for r in results)),
        "client_min": per_client[0] / each if per_client else 0.0,
        "client_median": per_client[len(per_client) // 2] / each if per_client else 0.0,
        "kib_per_conn": (rss_connected - rss_before) / 1024 / max(1, connected),
        "failed": float(failed),
        "api_us_per_tick": api_cpu / max(1, ticks) * 1e6,
        "api_us_per_frame": api_cpu / max(1, frames) * 1e6,
        "api_cpu_share": api_cpu / (window.deadline - window.start_at),
        "client_cpu_share": max(r["cpu_share"] for r in results),
        "kafka_p50": kafka_p50,
        "kafka_p99": kafka_p99,
        "redis_p50": redis_p50,
        "redis_p99": redis_p99,
    }


async def _tick_and_measure(
    stack: Stack, args: argparse.Namespace, pipes: list[Any], api_pid: int, probe: Any
) -> tuple[Window, int, int, float]:
    """Ticks from the start (clients connect while the market moves); once every client has
    subscribed, fixes the window 2 s later and tells the clients. Returns the window, the API's
    RSS with every client connected and before, and its CPU seconds from the window's start to
    the clients' deadline."""
    symbols = [f"WS{i:02d}" for i in range(args.symbols)]
    rss_before = rss_bytes(api_pid)
    t0 = time.time()
    base_seq = 10**15 + time.time_ns() // 10**6 % 10**12  # 16 digits, new per run
    until = [float("inf")]
    ticker = asyncio.create_task(
        _ticker(stack, args.source, symbols, args.rate, base_seq, t0, until)
    )
    subscribed = sum([await asyncio.to_thread(p.recv) for p in pipes])
    if subscribed < args.clients:
        print(f"  only {subscribed} of {args.clients} clients subscribed")
    skip = math.ceil((time.time() + 2 - t0) * args.rate)  # everyone warm by then
    rounds = int(args.seconds * args.rate)
    start_at = t0 + skip / args.rate
    end_at = start_at + rounds / args.rate
    window = Window(
        base_seq + skip, base_seq + skip + rounds - 1, start_at, end_at, end_at + args.grace
    )
    until[0] = end_at
    for p in [*pipes, probe]:
        p.send(window)
    await asyncio.sleep(max(0.0, window.start_at - time.time()))
    rss: int = rss_bytes(api_pid)
    cpu_start = cpu_seconds(api_pid)
    await ticker
    await asyncio.sleep(max(0.0, window.deadline - time.time()))
    return window, rss, rss_before, cpu_seconds(api_pid) - cpu_start


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
    parser.add_argument(
        "--sample-every", type=int, default=20, help="1 client in N parses and timestamps"
    )
    parser.add_argument(
        "--grace", type=float, default=3, help="seconds a tick of the window may still arrive"
    )
    parser.add_argument("--source", choices=["kafka", "redis"], default="kafka")
    parser.add_argument("--no-batch", action="store_true", help="one WebSocket frame per message")
    parser.add_argument(
        "--no-compression", action="store_true", help="clients do not offer permessage-deflate"
    )
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
                    f"max {r['max']:.1f} ms, delivered {r['delivered']:.1%} "
                    f"(per client: min {r['client_min']:.0%}, median {r['client_median']:.0%}; "
                    f"{r['late']:.0f} subscribed late), "
                    f"told slow {r['told_slow']:.0f}, out-of-order {r['violations']:.0f}, "
                    f"API {r['api_us_per_tick']:.1f} µs CPU/tick "
                    f"({r['api_us_per_frame']:.0f} µs/frame, {r['api_cpu_share']:.0%} of a core), "
                    f"clients {r['client_cpu_share']:.0%} of a core per process, "
                    f"{r['kib_per_conn']:.1f} KiB/conn; "
                    f"ts → Kafka consumer p50 {r['kafka_p50']:.1f} p99 {r['kafka_p99']:.1f} ms, "
                    f"→ Redis `prices` p50 {r['redis_p50']:.1f} p99 {r['redis_p99']:.1f} ms",
                    flush=True,
                )
        finally:
            procs.stop()
    mode = "one frame per message" if args.no_batch else "batched frames"
    mode += f", ticks from {args.source}"
    mode += ", no compression" if args.no_compression else ", permessage-deflate"
    print(
        f"\n{args.clients} clients, {args.symbols} symbols x {args.rate:g}/s, {mode}, "
        f"{args.repeat} runs of {args.seconds:g} s: median (min-max)"
    )
    print(f"  tick-to-client p50: {summary([r['p50'] for r in runs], '{:.1f}')} ms")
    print(f"  tick-to-client p99: {summary([r['p99'] for r in runs], '{:.1f}')} ms")
    for hop, name in (("kafka", "Kafka consumer"), ("redis", "Redis `prices`")):
        print(
            f"  ts → {name + ':':16}p50 {summary([r[hop + '_p50'] for r in runs], '{:.1f}')} ms, "
            f"p99 {summary([r[hop + '_p99'] for r in runs], '{:.1f}')} ms"
        )
    print(f"  delivered:          {summary([r['delivered'] * 100 for r in runs], '{:.1f}')} %")
    print(f"  told slow, dropped: {summary([r['told_slow'] for r in runs], '{:.0f}')}")
    print(f"  out-of-order ticks: {summary([r['violations'] for r in runs], '{:.0f}')}")
    print(f"  API CPU per tick:   {summary([r['api_us_per_tick'] for r in runs], '{:.1f}')} µs")
    print(f"  API CPU per frame:  {summary([r['api_us_per_frame'] for r in runs], '{:.0f}')} µs")
    print(f"  client CPU share:   {summary([r['client_cpu_share'] * 100 for r in runs])} %")
    print(f"  memory/connection:  {summary([r['kib_per_conn'] for r in runs], '{:.1f}')} KiB")
    print(f"  median of p99 {statistics.median(r['p99'] for r in runs):.1f} ms (target ≤ 100)")
    if max(r["client_cpu_share"] for r in runs) > 0.9:
        print("  a client process used over 90% of a core: the clients may be the limit")


if __name__ == "__main__":
    main()
