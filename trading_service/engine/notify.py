"""After commit: the batch's executions and the depth of the books it touched, to Redis in one
pipeline (one round trip). A lost notification costs a waiter its timeout, nothing else."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from trading_service.book_snapshots import BOOKS_KEY, book_channel, book_snapshot
from trading_service.engine.accounting import Settlement
from trading_service.engine.core.matching import MatchingEngine
from trading_service.messages import EXECUTIONS_CHANNEL

log = logging.getLogger(__name__)


def executions(s: Settlement) -> dict[str, Any]:
    """The executions message: the orders the batch changed, its trades, users' fills."""
    return {
        "orders": [
            {
                "id": str(o.id),
                "account_id": str(o.account_id),
                "symbol": o.symbol,
                "status": o.status,
                "filled_qty": o.filled_qty,
                # Replaces settled so far: what a PATCH waits for (orders/executions.py).
                "replace_seq": o.replace_applied_seq,
                # for the engine's metrics: orders by type and side, order-to-fill latency
                "type": o.type,
                "side": o.side,
                "created_at": o.created_at.isoformat(),
            }
            for o in s.orders
        ],
        "trades": [
            {
                "symbol": t.symbol,
                "price": f"{t.price:.2f}",
                "qty": t.qty,
                "aggressor_side": t.aggressor_side,
                "ts": t.ts.isoformat(),
            }
            for t in s.trades
        ],
        # Users' fills, so the WebSocket stream can push them without reading them back.
        "fills": [
            {
                "order_id": str(f.order_id),
                "account_id": str(f.account_id),
                "symbol": f.symbol,
                "side": f.side,
                "price": f"{f.price:.2f}",
                "qty": f.qty,
                "ts": f.ts.isoformat(),
            }
            for f in s.fills
        ],
    }


async def publish(
    redis: Redis, settlement: Settlement | None, public: MatchingEngine, symbols: Iterable[str]
) -> None:
    """The executions (if the batch changed any order or traded) and the depth snapshots of the
    personal accounts' (public) books among `symbols`; a league's book is private to it."""
    try:
        async with redis.pipeline(transaction=False) as pipe:
            if settlement is not None and (settlement.orders or settlement.trades):
                pipe.publish(EXECUTIONS_CHANNEL, json.dumps(executions(settlement)))
            for symbol in sorted(symbols):
                if public.reference(symbol) is None:
                    continue
                payload = json.dumps(book_snapshot(public, symbol))
                pipe.hset(BOOKS_KEY, symbol, payload)
                pipe.publish(book_channel(symbol), payload)
            if len(pipe):
                await pipe.execute()
    except Exception:
        log.warning("could not publish executions and books to Redis", exc_info=True)
