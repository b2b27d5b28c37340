"""`make faults` (`python -m loadgen.faults`): break one part of a loaded system at a time.

Each drill starts traders on a running system, breaks one part while they trade, checks how
the system answers meanwhile (a clear 503 where it cannot work safely; acknowledged orders
where it can), restores the part, checks that the system recovers by itself (the price feed
moves again, and an order placed then is filled and reported back), lets the traders finish,
then runs the audit and the cross-check of every acknowledged order. The drills:

- engine:   kill -9 the matching engine, start a new one
- trading:  kill -9 the trading service, start it again (its outbox sweep re-sends what the
            dead process had stored but not handed to Kafka)
- postgres: restart PostgreSQL
- kafka:    kill -9 the Kafka broker, start it again on the same log. Apache Kafka (the
            default) recovers its log: every acknowledged record is still there. On Tansu
            (STOCKSIM_KAFKA=tansu) the log is lost (memory only): the drill then also does what
            `make run` does on a fresh broker (recreate the topics, reset the engine's stored
            offsets, restart the engine)
- redis:    stop Redis, start it again (empty: it keeps nothing)
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from loadgen import cli
from loadgen.accounts import CREDENTIALS_FILE
from loadgen.check import Verdict, settle, verify
from loadgen.cli import configure_logging
from loadgen.exchange import Account
from loadgen.http import Client, TransportError
from loadgen.session import Session
from loadgen.stats import TERMINAL, Stats
from loadgen.system import System
from loadgen.traders import Pacer
from shared.db import create_db_engine

FAULTS = ("engine", "trading", "postgres", "kafka", "redis")
NOTICE_WITHIN_S = 4.5


@dataclass
class Drill:
    fault: str
    stats: Stats = field(default_factory=Stats)
    verdict: Verdict = field(default_factory=Verdict)
    # What POST /orders answered while the part was down: status and error name.
    during: list[str] = field(default_factory=list)
    recovered_in_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.verdict.violations == 0
            and self.stats.server_errors() == 0
            and self.recovered_in_s is not None
        )

    def report(self) -> str:
        recovered = (
            "did NOT recover"
            if self.recovered_in_s is None
            else f"recovered {self.recovered_in_s:.1f} s after the part came back"
        )
        return "\n".join(
            [
                f"== fault: {self.fault} — {'PASS' if self.ok else 'FAIL'}",
                f"while down, POST /orders answered: {', '.join(self.during) or 'nothing tried'}",
                recovered,
                *self.notes,
                self.stats.report(),
                self.verdict.report(),
            ]
        )


async def _probe(session: Session, account: Account, what: str) -> str:
    """One POST /orders, no retry: the status and error name the client would see."""
    symbol = sorted(session.market.prices)[0]
    body = {
        "symbol": symbol, "qty": 1, "side": "buy", "type": "limit", "time_in_force": "gtc",
        "limit_price": "1.00", "client_order_id": f"probe-{what}-{secrets.token_hex(4)}",
    }  # fmt: skip
    try:
        response = await session.exchange.trading.post(
            "/orders", json=body, headers={"Authorization": f"Bearer {account.token}"}
        )
    except TransportError as exc:
        return type(exc).__name__
    if response.status_code in (200, 201):
        session.stats.acknowledge(account.id, response.json())
        return str(response.status_code)
    try:
        error = response.json().get("error", "?")
    except ValueError:
        error = "not JSON: " + response.text[:60]
    return f"{response.status_code} {error}"


async def _price_seq(client: Client, symbol: str) -> int:
    try:
        response = await client.get(f"/prices/{symbol}")
    except TransportError:
        return -1
    return int(response.json()["seq"]) if response.status_code == 200 else -1


async def _recovery(
    session: Session, account: Account, result: Drill, timeout_s: float = 90
) -> float | None:
    """Seconds until prices move again and a market order is filled and reported back."""
    started = time.monotonic()
    deadline = started + timeout_s
    symbol = sorted(session.market.prices)[0]
    client = session.exchange.trading
    seq = await _price_seq(client, symbol)
    while await _price_seq(client, symbol) <= seq:
        if time.monotonic() > deadline:
            result.notes.append("prices never moved again")
            return None
        await asyncio.sleep(0.2)
    result.notes.append(f"prices moved again after {time.monotonic() - started:.1f} s")
    while time.monotonic() < deadline:
        sent = time.monotonic()
        order = await session.exchange.place(
            account,
            {"symbol": symbol, "qty": 1, "side": "buy", "client_order_id": secrets.token_hex(8)},
            wait=True,
        )
        # Answered before the API's wait ran out (TRADING_ORDER_WAIT_S, 5 s): the engine's
        # notice reached the executions listener, not only the order the database.
        if (
            order is not None
            and order["status"] in TERMINAL
            and time.monotonic() - sent < NOTICE_WITHIN_S
        ):
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    return None


async def _down(system: System, fault: str) -> Callable[[], Awaitable[None]]:
    """Break the part; return what brings it back."""
    if fault in ("engine", "trading"):
        await system.kill_service(fault)
        return lambda: system.start_service(fault)
    if fault == "kafka":
        await system.kill_server(fault)
        return lambda: system.start_server(fault)
    await system.stop_server(fault)
    return lambda: system.start_server(fault)


async def drill(
    system: System,
    fault: str,
    traders: int = 10,
    orders: int = 600,
    rate: float = 60,
    outage_s: float = 3.0,
) -> Drill:
    """Trade on `system`, break `fault` for `outage_s`, restore, settle, audit, cross-check."""
    result = Drill(fault)
    session = Session(
        system.user_url, system.trading_url, system.root / CREDENTIALS_FILE, traders,
        seed=FAULTS.index(fault) + 7, retry_for_s=90,
    )  # fmt: skip
    async with session:
        result.stats = session.stats
        prober = session.accounts[0]
        load = asyncio.create_task(session.trade(Pacer(rate, orders)))
        await asyncio.sleep(2)
        restore = await _down(system, fault)
        down_until = time.monotonic() + outage_s
        while time.monotonic() < down_until:
            result.during.append(await _probe(session, prober, fault))
            await asyncio.sleep(0.5)
        await restore()
        result.recovered_in_s = await _recovery(session, prober, result)
        await load
    if fault == "kafka" and not system.kafka_keeps_data:
        result.notes.append(
            "the embedded broker lost its log: topics recreated, engine offsets reset and the "
            "engine restarted, as `make run` does"
        )
    db = create_db_engine(system.database_url, pool_size=2)
    try:
        await settle(db)
        result.verdict = await verify(db, result.stats.acks)
    finally:
        await db.dispose()
    return result


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "faults", nargs="*", default=list(FAULTS), help=f"some of {', '.join(FAULTS)} (all)"
    )
    parser.add_argument("--traders", type=int, default=20)
    parser.add_argument("--orders", type=int, default=1500, help="new orders per drill")
    parser.add_argument("--rate", type=float, default=80, help="actions/s in all")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds each part is down")
    parser.add_argument("--kafka", choices=["apache", "tansu"], default=None)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    unknown = set(args.faults) - set(FAULTS)
    if unknown:
        raise SystemExit(f"unknown fault(s) {sorted(unknown)}; choose from {', '.join(FAULTS)}")
    system = System(kafka_broker=args.kafka)
    print(f"starting a fresh system in {system.root}", flush=True)
    results: list[Drill] = []
    try:
        await system.start()
        for fault in args.faults:
            print(f"drill: {fault}", flush=True)
            results.append(
                await drill(system, fault, args.traders, args.orders, args.rate, args.outage)
            )
            print(results[-1].report(), flush=True)
    finally:
        await system.stop()
    print("\nsummary: " + ", ".join(f"{r.fault} {'PASS' if r.ok else 'FAIL'}" for r in results))
    return 0 if all(r.ok for r in results) else 1


def main() -> None:
    configure_logging()
    sys.exit(cli.run(run(parse())))


if __name__ == "__main__":
    main()
