"""After commit: the batch's executions and the depth of the books it touched, to Redis in one
pipeline (one round trip). A lost notification costs a waiter its timeout, nothing else."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable

from redis.asyncio import Redis

from trading_service.book_snapshots import BOOKS_KEY, book_channel, book_snapshot
from trading_service.engine.accounting import Settlement
from trading_service.engine.core.matching import MatchingEngine
from trading_service.engine.core.model import OrderType, Side
from trading_service.messages import (
    EXECUTIONS_CHANNEL,
    Executions,
    FillReport,
    OrderReport,
    TradeReport,
)

log = logging.getLogger(__name__)


# Lookups, not Side(...) calls: an enum call costs a microsecond per order and fill.
_SIDES = {s.value: s for s in Side}
_TYPES = {t.value: t for t in OrderType}


def executions(s: Settlement) -> Executions:
    """The executions message: the orders the batch changed, its trades, users' fills."""
    sides, types = _SIDES, _TYPES
    return Executions(
        orders=tuple(
            OrderReport(
                o.id, o.account_id, o.symbol, o.status, o.filled_qty, o.replace_applied_seq,
                types[o.type], sides[o.side], o.created_at,
            )
            for o in s.orders
        ),
        trades=tuple(
            TradeReport(t.symbol, t.price, t.qty, sides[t.aggressor_side], t.ts) for t in s.trades
        ),
        fills=tuple(
            FillReport(f.order_id, f.account_id, f.symbol, sides[f.side], f.price, f.qty, f.ts)
            for f in s.fills
        ),
    )  # fmt: skip


async def encode_executions(settlement: Settlement) -> bytes | None:
    """The executions message's bytes (None if the batch changed no order and did not trade),
    encoded in steps that let the event loop run in between: the runner encodes while
    PostgreSQL applies the batch's write, so the two share the machine's cores."""
    if not (settlement.orders or settlement.trades):
        return None
    await asyncio.sleep(0)  # the write starts first
    message = executions(settlement)
    await asyncio.sleep(0)
    steps = message.encode_in_steps()
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        await asyncio.sleep(0)


def books(public: MatchingEngine, symbols: Iterable[str]) -> list[tuple[str, str]]:
    """The depth snapshots of the personal accounts' (public) books among `symbols`, as they
    stand now; a league's book is private to it."""
    return [
        (symbol, json.dumps(book_snapshot(public, symbol)))
        for symbol in sorted(symbols)
        if public.reference(symbol) is not None
    ]


async def publish(
    redis: Redis,
    settlement: Settlement | None,
    public: MatchingEngine,
    symbols: Iterable[str],
    encoded: bytes | None = None,
    snapshots: Iterable[tuple[str, str]] = (),
) -> None:
    """The executions (if the batch changed any order or traded; `encoded`: already encoded),
    the depth snapshots of the public books among `symbols` and the `snapshots` taken before."""
    try:
        async with redis.pipeline(transaction=False) as pipe:
            if encoded is not None:
                pipe.publish(EXECUTIONS_CHANNEL, encoded)
            elif settlement is not None and (settlement.orders or settlement.trades):
                pipe.publish(EXECUTIONS_CHANNEL, executions(settlement).encode())
            for symbol, payload in [*snapshots, *books(public, symbols)]:
                pipe.hset(BOOKS_KEY, symbol, payload)
                pipe.publish(book_channel(symbol), payload)
            if len(pipe):
                await pipe.execute()
    except Exception:
        log.warning("could not publish executions and books to Redis", exc_info=True)
