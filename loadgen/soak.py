"""`make soak` (`python -m loadgen.soak`): a long trading day on a fresh system, then proof.

Starts its own stocksim (fresh data dir, free ports, sign-up limits lifted), lets 200 traders
send 100,000 orders of every type with cancels and replaces as fast as the system answers,
waits for the engine to catch up, runs the invariant audit and cross-checks every order a client
was acknowledged against the database. Prints orders/s, latencies and the violations found;
exits 1 if there is any violation or any 5xx other than a clear 503.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field

from loadgen import cli
from loadgen.accounts import CREDENTIALS_FILE
from loadgen.check import Verdict, settle, verify
from loadgen.cli import add_trader_options, configure_logging
from loadgen.cpu import per_order_report
from loadgen.pgwait import PgSessions, sampling
from loadgen.session import Session
from loadgen.stats import Stats
from loadgen.system import System
from loadgen.traders import Pacer
from shared.db import create_db_engine


@dataclass
class SoakResult:
    stats: Stats
    verdict: Verdict
    # CPU seconds used while trading: this client, and each part of the system.
    cpu_s: dict[str, float] = field(default_factory=dict)
    # What PostgreSQL's sessions were doing while trading (loadgen/pgwait.py).
    sessions: PgSessions = field(default_factory=PgSessions)
    traders: int = 0

    @property
    def ok(self) -> bool:
        return self.verdict.violations == 0 and self.stats.server_errors() == 0

    def report(self) -> str:
        cpu = per_order_report(self.cpu_s, self.stats.orders_placed)
        return "\n".join(
            line
            for line in (
                self.stats.report(),
                self.closed_loop(),
                cpu,
                self.sessions.report(),
                self.verdict.report(),
            )
            if line
        )

    def closed_loop(self) -> str:
        """Each trader sends its next request when the last is answered: by Little's law the
        traders' time divided among the requests answered bounds the mean latency from above
        (equal to it when no trader ever pauses), whatever the system's speed."""
        requests = sum(self.stats.answers.values())
        if not self.traders or not requests:
            return ""
        ms = 1000 * self.traders * self.stats.elapsed_s / requests
        return (
            f"closed loop: {self.traders} traders each wait for their answer: "
            f"{self.traders} x {self.stats.elapsed_s:.1f} s / {requests:,} requests "
            f"= {ms:.0f} ms per request on average (Little's law; an upper bound)"
        )


async def soak_on(
    system: System,
    traders: int,
    orders: int,
    rate: float = 0,
    mix: tuple[int, int, int] = (4, 3, 3),
    seed: int = 1,
    report_every_s: float = 0,
) -> SoakResult:
    """Trade `orders` new orders on a started system, settle, audit, cross-check."""
    session = Session(
        system.user_url, system.trading_url, system.root / CREDENTIALS_FILE, traders, mix, seed,
    )  # fmt: skip
    async with session:
        progress = (
            asyncio.create_task(_progress(session.stats, orders, report_every_s))
            if report_every_s
            else None
        )
        before = _cpu_s(system)
        try:
            async with sampling(system.database_url) as sessions:
                stats = await session.trade(Pacer(rate, orders))
        finally:
            if progress is not None:
                progress.cancel()
        after = _cpu_s(system)
    cpu_s = {name: after[name] - before[name] for name in after if name in before}
    db = create_db_engine(system.database_url, pool_size=2)
    try:
        await settle(db)
        return SoakResult(stats, await verify(db, stats.acks), cpu_s, sessions, traders)
    finally:
        await db.dispose()


def _cpu_s(system: System) -> dict[str, float]:
    """CPU seconds so far of this process (the traders) and of each part of the system."""
    return {"client": time.process_time(), **system.cpu_seconds()}


async def _progress(stats: Stats, orders: int, every_s: float = 30) -> None:
    while True:
        await asyncio.sleep(every_s)
        rate = stats.orders_placed / max(stats.elapsed_s, 1e-9)
        print(
            f"  {stats.orders_placed:,} / {orders:,} orders acknowledged, {rate:,.0f}/s", flush=True
        )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadgen.soak", description=__doc__)
    add_trader_options(parser, traders=200)
    parser.add_argument("--orders", type=int, default=100_000, help="new orders in all")
    parser.add_argument("--rate", type=float, default=0, help="actions/s in all (0: no limit)")
    parser.add_argument("--api-workers", type=int, default=2, help="trading service processes")
    parser.add_argument(
        "--kafka", choices=["apache", "tansu"], default=None, help="broker (STOCKSIM_KAFKA)"
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    system = System(kafka_broker=args.kafka, api_workers=args.api_workers)
    print(f"starting a fresh system in {system.root}", flush=True)
    try:
        await system.start()
        print(f"{args.traders} traders, {args.orders:,} orders: trading", flush=True)
        result = await soak_on(
            system, args.traders, args.orders, args.rate, args.mix, args.seed, report_every_s=30
        )
    finally:
        await system.stop()
    print(result.report())
    return 0 if result.ok else 1


def main() -> None:
    configure_logging()
    sys.exit(cli.run(run(parse())))


if __name__ == "__main__":
    main()
