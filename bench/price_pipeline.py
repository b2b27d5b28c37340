"""The price pipeline under a big market: Kafka `stock-prices` → the trading API's Redis cache
and the engine's reference prices, at a fixed tick rate.

Real processes on a fresh stack (Apache Kafka, PostgreSQL, Redis; the trading API under uvicorn
and the matching engine): this process publishes `--ticks-per-s` ticks over `--symbols` symbols
(one round of every symbol each symbols/rate seconds, as the stock service does), and meanwhile
reads /prices/{symbol} and the engine's reference_prices row of random symbols. Every tick's seq
is the number of ticks published before it, so the seq a reader sees tells how far the consumer
behind it has come: its throughput. The price must be at most 1 s old at p99 at the API.

    python -m bench.price_pipeline --ticks-per-s 5000 --symbols 500 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from bench.harness import Processes, Tokens, fresh_stack
from devstack.stack import Stack
from shared.kafka import PRICES_TOPIC

WARM_UP_S = 5.0


@dataclass
class Readings:
    """Ages (s) of the newest price seen, and (time, seq) to derive throughput, per reader."""

    ages: list[float] = field(default_factory=list)
    seqs: list[tuple[float, int]] = field(default_factory=list)

    def throughput(self) -> float:
        """Ticks per second the reader's consumer got through, after the warm-up."""
        if len(self.seqs) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self.seqs[0], self.seqs[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def report(self, name: str) -> str:
        if not self.ages:
            return f"{name}: no readings"
        ages = sorted(self.ages)
        p99 = ages[min(len(ages) - 1, int(0.99 * len(ages)))]
        third = max(1, len(self.ages) // 3)
        first, last = statistics.median(self.ages[:third]), statistics.median(self.ages[-third:])
        return (
            f"{name}: price age p50 {statistics.median(ages) * 1000:,.0f} ms, "
            f"p99 {p99 * 1000:,.0f} ms, max {ages[-1] * 1000:,.0f} ms "
            f"(median of the first third {first * 1000:,.0f} ms, of the last {last * 1000:,.0f} "
            f"ms); consumer throughput {self.throughput():,.0f} ticks/s ({len(ages)} readings)"
        )


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _age(ts: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(ts.replace("Z", "+00:00"))).total_seconds()


async def publish(
    stack: Stack, symbols: list[str], rate: float, seconds: float, published: list[int]
) -> None:
    """Rounds of one tick per symbol, paced to `rate` ticks/s; published[0] counts the ticks."""
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False, linger_ms=5
    )
    await producer.start()
    cents = dict.fromkeys(symbols, 10_000)
    round_s = len(symbols) / rate
    started = time.monotonic()
    try:
        rounds = 0
        while time.monotonic() - started < seconds:
            ts = _now_iso()
            for symbol in symbols:
                cents[symbol] = max(100, cents[symbol] + random.choice((-5, -1, 0, 1, 5)))
                value = {
                    "symbol": symbol,
                    "price": f"{cents[symbol] // 100}.{cents[symbol] % 100:02d}",
                    "seq": published[0],
                    "ts": ts,
                }
                await producer.send(PRICES_TOPIC, json.dumps(value).encode(), key=symbol.encode())
                published[0] += 1
            rounds += 1
            await asyncio.sleep(max(0.0, started + rounds * round_s - time.monotonic()))
        await producer.flush()
    finally:
        await producer.stop()


async def read_api(port: int, symbols: list[str], until: float, readings: Readings) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        while time.monotonic() < until:
            response = await client.get(f"/prices/{random.choice(symbols)}")
            if response.status_code == 200:
                body = response.json()
                readings.ages.append(_age(body["ts"]))
                readings.seqs.append((time.monotonic(), int(body["seq"])))
            await asyncio.sleep(0.05)


async def read_engine(database_url: str, symbols: list[str], until: float, r: Readings) -> None:
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        while time.monotonic() < until:
            row = await conn.fetchrow(
                "SELECT extract(epoch FROM now() - ts) AS age, seq FROM reference_prices "
                "WHERE symbol = $1",
                random.choice(symbols),
            )
            if row is not None:
                r.ages.append(float(row["age"]))
                r.seqs.append((time.monotonic(), int(row["seq"])))
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def measure(
    stack: Stack, api_port: int, symbols: list[str], rate: float, seconds: float
) -> tuple[Readings, Readings, float]:
    published = [1]
    producing = asyncio.create_task(publish(stack, symbols, rate, seconds, published))
    await asyncio.sleep(WARM_UP_S)
    started, count_at_start = time.monotonic(), published[0]
    until = time.monotonic() + seconds - WARM_UP_S
    api, engine = Readings(), Readings()
    await asyncio.gather(
        read_api(api_port, symbols, until, api),
        read_engine(stack.database_url, symbols, until, engine),
    )
    sent_rate = (published[0] - count_at_start) / (time.monotonic() - started)
    await producing
    return api, engine, sent_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks-per-s", type=float, default=5000)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    if args.seconds <= WARM_UP_S:
        raise SystemExit(f"--seconds must be more than the {WARM_UP_S:.0f} s warm-up")
    symbols = [f"P{i:04d}" for i in range(args.symbols)]
    with fresh_stack() as (stack, root):
        tokens = Tokens(root, 1)
        processes = Processes(
            stack, root, {"TRADING_JWKS_FILE": str(tokens.jwks_file), "LOG_JSON": "false"}
        )
        try:
            port, _ = processes.api()
            processes.engine()
            api, engine, sent = asyncio.run(
                measure(stack, port, symbols, args.ticks_per_s, args.seconds)
            )
        finally:
            processes.stop()
    print(
        f"{args.symbols} symbols, {args.ticks_per_s:,.0f} ticks/s asked, {sent:,.0f} ticks/s "
        f"published, {args.seconds:.0f} s (the first {WARM_UP_S:.0f} s not measured)"
    )
    print(api.report("trading API (/prices)"))
    print(engine.report("engine (reference_prices)"))


if __name__ == "__main__":
    main()
