"""What a client gets first on subscribe: the current state of the channel, marked snapshot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from trading_service.candles.aggregator import CandleAggregator
from trading_service.market.snapshots import read_book
from trading_service.orders import repository as orders_repository
from trading_service.orders.service import render_orders
from trading_service.portfolio.service import portfolio
from trading_service.prices.cache import PriceCache
from trading_service.realtime import messages


@dataclass
class Snapshot:
    messages: list[str] = field(default_factory=list)
    # For price channels: the tick seq per symbol the snapshot holds (older updates are dropped).
    price_seqs: dict[str, int] = field(default_factory=dict)


@dataclass
class SnapshotReader:
    db: AsyncEngine
    redis: Redis
    prices: PriceCache
    candles: CandleAggregator

    async def read(self, channel: str, account_id: uuid.UUID | None, seq: int) -> Snapshot:
        """`seq`: the channel's current message seq; updates after the snapshot continue it."""
        snap = Snapshot()
        kind, _, rest = channel.partition(":")
        if kind == "prices":
            ticks = (
                await self.prices.get_many([rest])
                if rest
                else {t.symbol: t for t in await self.prices.all()}
            )
            for tick in ticks.values():
                snap.price_seqs[tick.symbol] = tick.seq
                snap.messages.append(messages.price(tick.as_json(), snapshot=True))
        elif kind in ("book", "quotes"):
            book = await read_book(self.redis, rest)
            if book is not None:
                build = messages.book if kind == "book" else messages.quote
                snap.messages.append(build(book, seq, snapshot=True))
        elif kind == "candles":
            symbol, _, interval = rest.partition(":")
            bar = self.candles.current(symbol, interval) or await self.candles.latest_stored(
                symbol, interval
            )
            if bar is not None:
                snap.messages.append(messages.candle(bar, seq, snapshot=True))
        elif kind == "orders" and account_id is not None:
            async with self.db.connect() as conn:
                rows = await orders_repository.list_orders(
                    conn, account_id, orders_repository.OPEN_STATUSES, None, 500
                )
                rendered = await render_orders(conn, rows)
            snap.messages += [messages.order(o, seq, snapshot=True) for o in reversed(rendered)]
        elif kind == "portfolio" and account_id is not None:
            async with self.db.connect() as conn:
                held = await portfolio(
                    conn, self.prices, self.candles.clock, account_id, datetime.now(UTC)
                )
            snap.messages.append(messages.portfolio(held, seq, snapshot=True))
        return snap
