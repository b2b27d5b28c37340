"""`make bots` (`python -m loadgen`): simulated traders against a running stocksim.

Start the system with `make run` in one terminal, then `make bots` in another: ten traders
(random, momentum and market makers) trade through the public API for two minutes at about
five actions a second, then print what they did. Their accounts are signed up once and kept in
STOCKSIM_DATA_DIR/bots.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from loadgen import cli
from loadgen.accounts import CREDENTIALS_FILE
from loadgen.cli import add_trader_options, configure_logging
from loadgen.session import Session
from loadgen.traders import Pacer
from shared.config import CommonSettings


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadgen", description=__doc__.split("\n")[0])
    add_trader_options(parser, traders=10)
    parser.add_argument("--rate", type=float, default=5.0, help="actions/s in all (0: no limit)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds (0: no limit)")
    parser.add_argument("--orders", type=int, default=None, help="stop after this many orders")
    parser.add_argument("--user-url", default="http://127.0.0.1:8001")
    parser.add_argument("--trading-url", default="http://127.0.0.1:8002")
    parser.add_argument(
        "--league",
        metavar="CODE",
        default=None,
        help="join the league with this invite code and trade in it (its leaderboard moves)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="where bots.json lives (STOCKSIM_DATA_DIR)"
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or CommonSettings().data_dir
    session = Session(
        args.user_url, args.trading_url, data_dir / CREDENTIALS_FILE, args.traders, args.mix,
        args.seed, league=args.league,
    )  # fmt: skip
    pacer = Pacer(args.rate, args.orders, args.duration or None)
    async with session:
        print(
            f"{args.traders} traders trading on {args.trading_url} "
            f"({'until Ctrl-C' if not args.duration and not args.orders else 'then a summary'})",
            flush=True,
        )
        try:
            stats = await session.trade(pacer)
        except asyncio.CancelledError:
            stats = session.stats
    print(stats.report())
    return 0


def main() -> None:
    configure_logging()
    try:
        sys.exit(cli.run(run(parse())))
    except KeyboardInterrupt:
        sys.exit(130)
    except (OSError, RuntimeError) as exc:
        sys.exit(f"bots: {exc} (is `make run` running?)")


if __name__ == "__main__":
    main()
