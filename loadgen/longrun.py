"""`make longrun` (`python -m loadgen.longrun`): hours of market in minutes, then the same checks
as at the start.

Starts a fresh stocksim whose stock service ticks `--speedup` times faster than the default
(20x: 400 messages/s for 20 symbols, so 30 minutes carry 10 hours of the default feed), lets
traders send steady orders through the public API, and every `--probe-every` seconds reads a
price from /prices and places a market buy that waits for its fill. The run passes when, at the
end as at the start, every price read is fresh (at most `--max-price-age` s old) and market buys
fill within their usual time (the median of the last probes at most `--slowdown` times that of
the first, plus 0.25 s for noise), with no 5xx from the API.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from loadgen import cli
from loadgen.accounts import CREDENTIALS_FILE
from loadgen.cli import configure_logging
from loadgen.exchange import Account
from loadgen.session import Session
from loadgen.stats import TERMINAL, Stats
from loadgen.system import System
from loadgen.traders import Pacer

DEFAULT_TICK_S = 1.0
# Probes compared at each end of the run.
WINDOW = 3
NOISE_S = 0.25


@dataclass
class Probe:
    at_s: float  # since the start of trading
    price_age_s: float | None  # None: no price answered
    fill_s: float | None  # None: the market buy did not fill before the API's wait ran out


@dataclass
class LongRun:
    max_price_age_s: float
    slowdown: float
    probes: list[Probe] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)

    def _ends(self) -> tuple[list[Probe], list[Probe]]:
        window = max(1, min(WINDOW, len(self.probes) // 2))
        return self.probes[:window], self.probes[-window:]

    def problems(self) -> list[str]:
        if len(self.probes) < 2:
            return ["fewer than 2 probes: run longer or probe more often"]
        first, last = self._ends()
        found = []
        for probe in first + last:
            if probe.price_age_s is None or probe.price_age_s > self.max_price_age_s:
                found.append(f"stale price at {probe.at_s:.0f} s: {probe.price_age_s}")
            if probe.fill_s is None:
                found.append(f"market buy at {probe.at_s:.0f} s did not fill in time")
        fills_first = [p.fill_s for p in first if p.fill_s is not None]
        fills_last = [p.fill_s for p in last if p.fill_s is not None]
        if fills_first and fills_last:
            usual = statistics.median(fills_first)
            now = statistics.median(fills_last)
            if now > self.slowdown * usual + NOISE_S:
                found.append(f"market buys slowed from {usual:.3f} s to {now:.3f} s")
        if self.stats.server_errors():
            found.append(f"{self.stats.server_errors()} server errors")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems()

    def report(self) -> str:
        lines = ["  t (s)   price age (s)   market buy filled in (s)"]
        for p in self.probes:
            age = "-" if p.price_age_s is None else f"{p.price_age_s:.3f}"
            fill = "-" if p.fill_s is None else f"{p.fill_s:.3f}"
            lines.append(f"  {p.at_s:6.0f}   {age:>13}   {fill:>24}")
        problems = self.problems()
        lines.append(self.stats.report())
        lines.append("PASS" if not problems else "FAIL: " + "; ".join(problems))
        return "\n".join(lines)


async def _probe(session: Session, account: Account, symbol: str, started: float) -> Probe:
    at = time.monotonic() - started
    age = None
    response = await session.exchange.trading.get(f"/prices/{symbol}")
    if response.status_code == 200:
        ts = datetime.fromisoformat(response.json()["ts"].replace("Z", "+00:00"))
        age = (datetime.now(UTC) - ts).total_seconds()
    sent = time.monotonic()
    order = await session.exchange.place(
        account,
        {"symbol": symbol, "qty": 1, "side": "buy", "client_order_id": secrets.token_hex(8)},
        wait=True,
    )
    filled = order is not None and order["status"] in TERMINAL and order["filled_qty"] == 1
    return Probe(at, age, time.monotonic() - sent if filled else None)


async def long_run(
    system: System,
    minutes: float,
    probe_every_s: float,
    traders: int = 10,
    rate: float = 10,
    max_price_age_s: float = 2.0,
    slowdown: float = 3.0,
) -> LongRun:
    """Trade on a started system for `minutes`, probing; the verdict is in the result."""
    result = LongRun(max_price_age_s, slowdown)
    session = Session(
        system.user_url, system.trading_url, system.root / CREDENTIALS_FILE, traders + 1,
        seed=11,
    )  # fmt: skip
    async with session:
        result.stats = session.stats
        # The prober trades only through its probes; the other accounts are the market.
        prober, session.accounts = session.accounts[0], session.accounts[1:]
        session.count = len(session.accounts)
        symbol = sorted(session.market.prices)[0]
        pacer = Pacer(rate, duration_s=minutes * 60)
        load = asyncio.create_task(session.trade(pacer))
        started = time.monotonic()
        while not pacer.done():
            result.probes.append(await _probe(session, prober, symbol, started))
            print(f"  probe {len(result.probes)}: {result.probes[-1]}", flush=True)
            next_at = started + len(result.probes) * probe_every_s
            await asyncio.sleep(
                max(0.0, min(next_at, pacer.deadline or next_at) - time.monotonic())
            )
        await load
        result.probes.append(await _probe(session, prober, symbol, started))
    return result


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.longrun",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=30, help="wall-clock minutes of trading")
    parser.add_argument("--speedup", type=float, default=20, help="ticks this much faster")
    parser.add_argument("--probe-every", type=float, default=30, help="seconds between probes")
    parser.add_argument("--traders", type=int, default=10)
    parser.add_argument("--rate", type=float, default=10, help="trader actions/s in all")
    parser.add_argument("--max-price-age", type=float, default=2.0, help="seconds")
    parser.add_argument("--slowdown", type=float, default=3.0, help="allowed factor at the end")
    parser.add_argument("--kafka", choices=["apache", "tansu"], default=None)
    return parser.parse_args(argv)


def fast_market(speedup: float) -> dict[str, str]:
    """The stock service's settings for a feed `speedup` times faster than the default."""
    return {"STOCK_TICK_INTERVAL": f"{DEFAULT_TICK_S / speedup:g}"}


async def run(args: argparse.Namespace) -> int:
    system = System(kafka_broker=args.kafka, env=fast_market(args.speedup))
    hours = args.minutes * args.speedup / 60
    print(
        f"starting a fresh system in {system.root}: {args.minutes:g} min at {args.speedup:g}x "
        f"ticks (~{hours:.1f} h of the default feed)",
        flush=True,
    )
    try:
        await system.start()
        result = await long_run(
            system, args.minutes, args.probe_every, args.traders, args.rate,
            args.max_price_age, args.slowdown,
        )  # fmt: skip
    finally:
        await system.stop()
    print(result.report())
    return 0 if result.ok else 1


def main() -> None:
    configure_logging()
    sys.exit(cli.run(run(parse())))


if __name__ == "__main__":
    main()
