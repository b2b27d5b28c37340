"""Feeds the Alpaca streams from the hub's one Redis subscription (no subscription per client).

The hub hands every message it receives to `AlpacaFeed.tap` after its own dispatch (its
candles are up to date by then), and the engine's reports, decoded, to `on_executions` through
the process's executions feed. Market data goes straight out to /v2/iex and /v2/sip clients;
execution reports of accounts with a /stream listener are queued and rendered by one task
(`run_trade_updates`), which reads the orders back once per report.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.background import raise_if_cancelled
from shared.market_clock import MarketClock
from trading_service.alpaca import service as alpaca_service
from trading_service.alpaca.datastream import DataClient
from trading_service.alpaca.outbox import Outbox
from trading_service.alpaca.trade_updates import Event, Seen, events_of
from trading_service.candles.aggregator import Bar, CandleAggregator
from trading_service.messages import Executions, FillReport, OrderReport
from trading_service.orders import repository as orders_repository
from trading_service.tables import positions

log = logging.getLogger(__name__)

Report = tuple[uuid.UUID, list[OrderReport], list[FillReport]]


class AlpacaFeed:
    def __init__(self, db: AsyncEngine, clock: MarketClock, candles: CandleAggregator) -> None:
        self.db = db
        self.clock = clock
        self.candles = candles
        self.listeners: dict[uuid.UUID, set[Outbox]] = defaultdict(set)
        self.data_clients: set[DataClient] = set()
        self.seen = Seen()
        self._reports: asyncio.Queue[Report] = asyncio.Queue(10_000)
        self._minute: dict[str, Bar] = {}  # the forming 1m bar as last seen, per symbol
        self._last_quote: dict[str, tuple[Any, ...]] = {}

    # --- clients -------------------------------------------------------------------------------

    def listen(self, account_id: uuid.UUID, outbox: Outbox) -> None:
        self.listeners[account_id].add(outbox)

    def unlisten(self, account_id: uuid.UUID, outbox: Outbox) -> None:
        listeners = self.listeners.get(account_id)
        if listeners is not None:
            listeners.discard(outbox)
            if not listeners:
                del self.listeners[account_id]

    # --- from the hub --------------------------------------------------------------------------

    def tap(self, channel: bytes, data: bytes) -> None:
        try:
            if channel == b"prices":
                self._on_tick(json.loads(data)["symbol"])
            elif channel.startswith(b"book:"):
                self._on_book(channel[5:].decode(), data)
        except (ValueError, KeyError, TypeError, ArithmeticError):
            log.warning("alpaca feed skipped a malformed message", extra={"channel": str(channel)})

    def _wanted(self, channel: str, symbol: str) -> list[DataClient]:
        return [c for c in self.data_clients if c.wants(channel, symbol)]

    def _on_tick(self, symbol: str) -> None:
        """Alpaca's minute bars: a bar goes out when the next minute's first tick arrives."""
        forming = self.candles.current(symbol, "1m")
        if forming is None:
            return
        previous = self._minute.get(symbol)
        if previous is not None and previous.start != forming.start:
            for client in self._wanted("bars", symbol):
                client.bar(previous)
        if previous is not None or self._wanted("bars", symbol):
            self._minute[symbol] = dataclasses.replace(forming)

    def _on_book(self, symbol: str, raw: bytes) -> None:
        clients = self._wanted("quotes", symbol)
        if not clients:
            self._last_quote.pop(symbol, None)
            return
        snapshot = json.loads(raw)
        quote = snapshot["quote"]
        top = (quote["bid"], quote["bid_size"], quote["ask"], quote["ask_size"])
        if self._last_quote.get(symbol) == top:
            return  # a change below the top of the book is no new quote
        self._last_quote[symbol] = top
        for client in clients:
            client.quote(symbol, snapshot, self.clock)

    def on_executions(self, executions: Executions) -> None:
        """A listener of the process's executions feed, after the hub's (its candles are
        up to date by then)."""
        for trade in executions.trades:
            symbol = trade.symbol
            if symbol in self._minute:
                self._minute[symbol] = dataclasses.replace(
                    self.candles.current(symbol, "1m") or self._minute[symbol]
                )
            for client in self._wanted("trades", symbol):
                client.trade(trade, self.clock)
        by_account: dict[uuid.UUID, Report] = {}
        for order in executions.orders:
            if order.account_id in self.listeners:
                by_account.setdefault(order.account_id, (order.account_id, [], []))[1].append(order)
        for fill in executions.fills:
            if fill.account_id in by_account:
                by_account[fill.account_id][2].append(fill)
        for report in by_account.values():
            try:
                self._reports.put_nowait(report)
            except asyncio.QueueFull:
                log.warning("trade updates queue full; dropping an execution report")

    # --- trade updates -------------------------------------------------------------------------

    async def run_trade_updates(self) -> None:
        """Forever: render queued execution reports and send them to their account's listeners."""
        while True:
            account_id, reports, fills = await self._reports.get()
            try:
                await self._send_updates(account_id, reports, fills)
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelled()  # a cancellation a library turned into its own error
                log.warning("could not send trade updates", exc_info=True)

    async def _send_updates(
        self, account_id: uuid.UUID, reports: list[OrderReport], fills: list[FillReport]
    ) -> None:
        events: list[Event] = []
        for report in reports:
            own = [f for f in fills if f.order_id == report.id]
            events.extend(events_of(report, own, self.seen))
        if not events:
            return
        async with self.db.connect() as conn:
            ids = list(dict.fromkeys(e.order_id for e in events))
            rows = [await orders_repository.get_order(conn, account_id, i) for i in ids]
            orders = {o.id: o for o in await alpaca_service.present(conn, [r for r in rows if r])}
            # A /v2 replace: the old order's `replaced` goes out with the new order's `new`.
            old_ids = [
                o.replaces for o in orders.values() if o.replaces and o.replaces not in orders
            ]
            old_rows = [await orders_repository.get_order(conn, account_id, i) for i in old_ids]
            for old in await alpaca_service.present(conn, [r for r in old_rows if r]):
                orders[old.id] = old
            symbols = sorted({o.symbol for o in orders.values() if o.symbol})
            held = {
                r.symbol: int(r.qty)
                for r in await conn.execute(
                    select(positions.c.symbol, positions.c.qty).where(
                        positions.c.account_id == account_id, positions.c.symbol.in_(symbols)
                    )
                )
            }
        frames = []
        for index, event in enumerate(events):
            order = orders.get(event.order_id)
            if order is None:
                continue
            if event.event == "canceled" and order.status == "replaced":
                continue  # canceled by a /v2 replace: `replaced` tells it
            if event.event == "new" and order.replaces is not None and order.replaces in orders:
                frames.append(_frame("replaced", orders[order.replaces], None, None))
            position_qty = None
            if event.qty is not None and order.symbol is not None:
                # The position right after this fill: later fills of this batch taken off.
                later = sum(
                    (e.qty or 0) * (1 if e.side == "buy" else -1)
                    for e in events[index + 1 :]
                    if e.qty is not None and e.symbol == order.symbol
                )
                position_qty = held.get(order.symbol, 0) - later
            frames.append(_frame(event.event, order, event, position_qty))
        for outbox in tuple(self.listeners.get(account_id, ())):
            for frame in frames:
                # Answered in the kind of frame the client speaks (Alpaca's are binary).
                outbox.send(frame.encode() if outbox.binary else frame)


def _frame(kind: str, order: Any, event: Event | None, position_qty: int | None) -> str:
    rendered = order.model_dump(mode="json")
    data: dict[str, Any] = {
        "event": kind,
        "order": rendered,
        "timestamp": (event.timestamp if event and event.timestamp else rendered["updated_at"]),
    }
    if event is not None and event.price is not None:
        data["price"] = f"{Decimal(event.price):f}"
        data["qty"] = str(event.qty)
        data["position_qty"] = str(position_qty)
        data["execution_id"] = str(event.execution_id)
    return json.dumps({"stream": "trade_updates", "data": data})
