"""Command-line pieces the bots, the soak and the fault drills share."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import uvloop


def mix(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split(":")]
    if len(parts) != 3 or min(parts) < 0 or sum(parts) == 0:
        raise argparse.ArgumentTypeError("give random:momentum:maker weights, e.g. 4:3:3")
    return parts[0], parts[1], parts[2]


def add_trader_options(parser: argparse.ArgumentParser, traders: int) -> None:
    parser.add_argument("--traders", type=int, default=traders, help="simulated traders")
    parser.add_argument(
        "--mix",
        type=mix,
        default=(4, 3, 3),
        help="proportions of random:momentum:maker traders (default 4:3:3)",
    )
    parser.add_argument("--seed", type=int, default=1, help="same seed, same decisions")


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "aiokafka", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run(main: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop: the traffic generator must not be what limits the traffic."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
