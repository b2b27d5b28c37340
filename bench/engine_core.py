"""Throughput and latency of the matching core on one CPU core.

A seeded, reproducible mixed stream over a few symbols: ~60% limit, 20% market, 15% cancel,
5% stop / stop-limit orders, priced around a per-symbol random-walk reference price that moves
every few dozen orders. Each repeat builds the same stream afresh (outside the timing) and runs
it twice: once untimed per call for throughput, once with perf_counter_ns around every call for
the per-order latency percentiles.

    python -m bench.engine_core --orders 200000 --repeat 5

`--vs-refbook` instead replays `../shared/bench/stream.py`'s thin and deep mixes through the core
and the naive `RefBook` side by side (bench/vs_refbook.py): the core by its plain-fields commands
(fills delivered as tuples on its tape, as RefBook records them), by its event commands (the
`Order`s built beforehand, events returned), and the engine's own path: decoded messages and
their stored rows through trading_service/engine/commands.py in batches of 500, out as the
entries accounting consumes (fills delivered as `Trade`s). It checks each gives RefBook's trades,
traded quantity and resting quantity per side, and prints msgs/s of each and the ratio (RefBook
time / that time in the same run), median (min-max) over the repeats:

    python -m bench.engine_core --vs-refbook --orders 200000 --repeat 5
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from bench import vs_refbook, yardsticks
from trading_service.engine import core
from trading_service.engine.core.matching import MatchingEngine
from trading_service.engine.core.model import Event, Order, OrderType, Side, TimeInForce


@dataclass(frozen=True, slots=True)
class Stream:
    # (kind, argument): "submit" Order | "cancel" UUID | "ref" (symbol, ticks)
    ops: list[tuple[str, object]]
    orders: int


def build_stream(n_orders: int, n_symbols: int, seed: int) -> Stream:
    rng = random.Random(seed)
    symbols = [f"SYM{i}" for i in range(n_symbols)]
    refs = {s: rng.randint(5_000, 50_000) for s in symbols}  # $50 - $500 in ticks
    ops: list[tuple[str, object]] = [("ref", (s, p)) for s, p in refs.items()]
    cancelable: list[uuid.UUID] = []
    for n in range(n_orders):
        if n % 40 == 0:
            # geometric random walk, ~0.1% per step, on the tick grid
            s = rng.choice(symbols)
            refs[s] = max(100, round(refs[s] * (1 + rng.gauss(0, 0.001))))
            ops.append(("ref", (s, refs[s])))
        roll = rng.random()
        symbol = rng.choice(symbols)
        ref = refs[symbol]
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        away = 1 if side is Side.BUY else -1  # +1: price moves towards the other side
        oid = uuid.UUID(int=rng.getrandbits(128))
        if roll < 0.60:
            # mostly passive, a few marketable: offsets in ticks around the reference
            limit = ref + away * (int(rng.gauss(-12, 10)))
            tif = TimeInForce.IOC if rng.random() < 0.05 else TimeInForce.GTC
            qty = rng.randint(1, 500)
            order = Order(oid, oid, symbol, side, OrderType.LIMIT, tif, qty, max(1, limit))
            ops.append(("submit", order))
            cancelable.append(oid)
        elif roll < 0.80:
            protection = ref + away * ref // 100
            order = Order(
                oid,
                oid,  # every order its own account: no self-trade prevention
                symbol,
                side,
                OrderType.MARKET,
                TimeInForce.DAY,
                rng.randint(1, 300),
                protection=max(1, protection),
            )
            ops.append(("submit", order))
        elif roll < 0.95:
            # cancel a recent order (it may have filled already: then cancel is a no-op)
            target = cancelable[-rng.randint(1, min(200, len(cancelable)))] if cancelable else oid
            ops.append(("cancel", target))
        else:
            stop = ref + away * rng.randint(1, 30)
            if rng.random() < 0.5:
                order = Order(
                    oid,
                    oid,  # every order its own account: no self-trade prevention
                    symbol,
                    side,
                    OrderType.STOP,
                    TimeInForce.DAY,
                    rng.randint(1, 200),
                    stop=stop,
                    protection=max(1, stop + away * stop // 100),
                )
            else:
                limit = max(1, stop + away * 5)
                order = Order(
                    oid,
                    oid,  # every order its own account: no self-trade prevention
                    symbol,
                    side,
                    OrderType.STOP_LIMIT,
                    TimeInForce.GTC,
                    rng.randint(1, 200),
                    limit=limit,
                    stop=stop,
                )
            ops.append(("submit", order))
    return Stream(ops, n_orders)


def bind(
    engine: MatchingEngine, stream: Stream
) -> list[tuple[bool, Callable[..., list[Event]], object]]:
    """Each op as (is_order, bound method, argument), so the timed loop does nothing else."""
    calls: list[tuple[bool, Callable[..., list[Event]], object]] = []
    for kind, arg in stream.ops:
        if kind == "submit":
            calls.append((True, engine.submit, arg))
        elif kind == "cancel":
            calls.append((True, engine.cancel, arg))
        else:
            calls.append((False, lambda a, e=engine: e.set_reference(*a), arg))
    return calls


@dataclass(frozen=True, slots=True)
class RunResult:
    orders_per_s: float
    p50_ns: int
    p99_ns: int
    events: int
    resting: int


def run_once(args: argparse.Namespace, seed: int) -> RunResult:
    gc.collect()
    # Throughput: the whole stream, no per-call timers.
    engine = MatchingEngine(spread_bps=args.spread_bps)
    calls = bind(engine, build_stream(args.orders, args.symbols, seed))
    events = 0
    start = time.perf_counter()
    for _, call, arg in calls:
        events += len(call(arg))
    elapsed = time.perf_counter() - start
    resting = sum(
        len(engine.book(f"SYM{i}").queue(side)) for i in range(args.symbols) for side in Side
    )

    # Latency: the same stream again, each order op timed on its own.
    engine = MatchingEngine(spread_bps=args.spread_bps)
    calls = bind(engine, build_stream(args.orders, args.symbols, seed))
    clock = time.perf_counter_ns
    samples: list[int] = []
    for is_order, call, arg in calls:
        t0 = clock()
        call(arg)
        t1 = clock()
        if is_order:
            samples.append(t1 - t0)
    samples.sort()
    return RunResult(
        orders_per_s=args.orders / elapsed,
        p50_ns=samples[len(samples) // 2],
        p99_ns=samples[len(samples) * 99 // 100],
        events=events,
        resting=resting,
    )


def profile(args: argparse.Namespace) -> None:
    engine = MatchingEngine(spread_bps=args.spread_bps)
    calls = bind(engine, build_stream(args.orders, args.symbols, args.seed))
    profiler = cProfile.Profile()
    profiler.enable()
    for _, call, arg in calls:
        call(arg)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


MIXES = {"thin": (0.60, 0.20, 0.15, 0.05), "deep": (0.60, 0.10, 0.15, 0.15)}


def spread(values: list[float], fmt: str) -> str:
    """median (min-max)"""
    return (
        f"{format(statistics.median(values), fmt)} "
        f"({format(min(values), fmt)}-{format(max(values), fmt)})"
    )


def which_core() -> str:
    if core.compiled():
        return "the core compiled by mypyc (STOCKSIM_PURE_PYTHON=1: the Python files)"
    return "the core as Python files (not compiled: see setup.py)"


def versus_refbook(args: argparse.Namespace) -> None:
    refbook, stream = yardsticks.load()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(
        f"core vs RefBook ({yardsticks.shared_bench_dir()}), {args.orders:,} messages x "
        f"{args.repeat} runs, seed {args.seed}, Python {sys.version.split()[0]}; "
        "msgs/s median (min-max), ratio = RefBook time / core time in the same run; "
        + ("GC on" if args.gc else "GC off in the timed loops, as timeit does (--gc: on)")
        + f"; {args.clock} clock; {which_core()}"
    )
    if not args.gc:
        gc.disable()
    failed = False
    for name, mix in MIXES.items():
        messages = stream.make_stream(args.orders, args.seed, mix)
        ref_rates: list[float] = []
        fast_rates: list[float] = []
        event_rates: list[float] = []
        fast_ratios: list[float] = []
        event_ratios: list[float] = []
        engine_rates: list[float] = []
        engine_ratios: list[float] = []
        same = True
        for _ in range(args.repeat):
            gc.collect()  # each replay starts from a clean heap
            ref_s, book = vs_refbook.replay_refbook(refbook, messages, clock)
            gc.collect()
            fast_s, engine = vs_refbook.replay_core(messages, clock)
            gc.collect()
            event_s, event_engine, delivered = vs_refbook.replay_core_given_orders(messages, clock)
            gc.collect()
            engine_s, public, entries = vs_refbook.replay_commands(messages, clock)
            expected = vs_refbook.refbook_outcome(book, refbook)
            same = (
                same
                and vs_refbook.core_outcome(engine) == expected
                and vs_refbook.events_outcome(event_engine, delivered) == expected
                and vs_refbook.entries_outcome(public, entries) == expected
            )
            n = len(messages)
            ref_rates.append(n / ref_s)
            fast_rates.append(n / fast_s)
            event_rates.append(n / event_s)
            fast_ratios.append(ref_s / fast_s)
            event_ratios.append(ref_s / event_s)
            engine_rates.append(n / engine_s)
            engine_ratios.append(ref_s / engine_s)
        failed = failed or not same
        print(
            f"{name} (mix {','.join(f'{p:.2f}' for p in mix)}; {stream.book_stats(messages)}): "
            + (
                f"same {len(expected.trades):,} trades, traded qty {expected.traded_qty:,}, "
                f"resting qty buy {expected.resting_buy:,} / sell {expected.resting_sell:,}"
                if same
                else "DIFFERENT trades, traded or resting qty from RefBook"
            )
        )
        print(f"  RefBook                              {spread(ref_rates, ',.0f')} msgs/s")
        print(
            f"  core, plain fields, fills as tuples  {spread(fast_rates, ',.0f')} msgs/s"
            f"   {spread(fast_ratios, '.2f')}x"
        )
        print(
            f"  core, Orders given, events returned  {spread(event_rates, ',.0f')} msgs/s"
            f"   {spread(event_ratios, '.2f')}x"
        )
        print(
            f"  engine: rows -> commands -> entries  {spread(engine_rates, ',.0f')} msgs/s"
            f"   {spread(engine_ratios, '.2f')}x"
        )
    gc.enable()
    if failed:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--spread-bps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", action="store_true", help="cProfile one run instead")
    parser.add_argument(
        "--vs-refbook",
        action="store_true",
        help="replay ../shared/bench/stream.py through the core and RefBook side by side",
    )
    parser.add_argument("--gc", action="store_true", help="--vs-refbook: keep GC on while timing")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="--vs-refbook: wall time, or this process's CPU time (steadier on a busy machine)",
    )
    args = parser.parse_args()
    if args.vs_refbook:
        versus_refbook(args)
        return
    if args.profile:
        profile(args)
        return

    results = []
    for i in range(args.repeat):
        result = run_once(args, args.seed)
        results.append(result)
        print(
            f"run {i + 1}: {result.orders_per_s:>10,.0f} orders/s"
            f"  p50 {result.p50_ns / 1000:.2f} us  p99 {result.p99_ns / 1000:.2f} us"
            f"  ({result.events:,} events,"
            f" {result.resting:,} resting at the end)",
            file=sys.stderr,
        )
    rates = [r.orders_per_s for r in results]
    p50 = [r.p50_ns / 1000 for r in results]
    p99 = [r.p99_ns / 1000 for r in results]
    print(
        f"{args.orders:,} orders x {args.repeat} runs, {args.symbols} symbols, Python "
        f"{sys.version.split()[0]}, {which_core()}\n"
        f"throughput: {statistics.median(rates):,.0f} orders/s "
        f"(min {min(rates):,.0f} - max {max(rates):,.0f})\n"
        f"per order p50: {statistics.median(p50):.2f} us ({min(p50):.2f} - {max(p50):.2f})\n"
        f"per order p99: {statistics.median(p99):.2f} us ({min(p99):.2f} - {max(p99):.2f})"
    )


if __name__ == "__main__":
    main()
