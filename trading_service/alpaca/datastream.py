"""Alpaca's market-data stream messages for one client: its subscriptions and its encoding.

alpaca-py asks for msgpack (`Content-Type: application/msgpack` on the handshake) and reads
every frame as a msgpack array of messages whose `t` is a msgpack Timestamp; other clients
get the same arrays as JSON text with RFC 3339 times.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgpack

from shared.market_clock import MarketClock
from trading_service.alpaca.marketdata import EXCHANGE, TAPE, UNLIMITED_SIZE, rfc3339
from trading_service.alpaca.outbox import Outbox
from trading_service.candles.aggregator import Bar
from trading_service.messages import TradeReport

CHANNELS = ("trades", "quotes", "bars")
# Channels alpaca-py may ask for that this exchange does not produce: acknowledged as empty.
SILENT_CHANNELS = ("updatedBars", "dailyBars", "statuses", "lulds", "corrections", "cancelErrors")
MAX_SYMBOLS = 1_000
_SYMBOL = re.compile(r"^(\*|[A-Z][A-Z.]{0,9})$")


class ProtocolError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DataClient:
    def __init__(self, outbox: Outbox, use_msgpack: bool) -> None:
        self.outbox = outbox
        self.use_msgpack = use_msgpack
        self.authenticated = False
        self.subscriptions: dict[str, set[str]] = {c: set() for c in CHANNELS}

    # --- control -------------------------------------------------------------------------------

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        try:
            message = msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)
        except (ValueError, RecursionError, msgpack.UnpackException):  # deep nesting too
            raise ProtocolError(400, "invalid syntax") from None
        if not isinstance(message, dict):
            raise ProtocolError(400, "invalid syntax")
        return message

    def change(self, message: dict[str, Any], subscribe: bool) -> None:
        asked: dict[str, list[str]] = {}
        for channel in CHANNELS:
            symbols = message.get(channel, [])
            if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
                raise ProtocolError(400, f"invalid syntax: {channel} must be a list of symbols")
            upper = [s.upper() for s in symbols]
            if not all(_SYMBOL.match(s) for s in upper):
                raise ProtocolError(400, f"invalid syntax: bad symbol in {channel}")
            asked[channel] = upper
        for channel, symbols in asked.items():
            if subscribe:
                self.subscriptions[channel].update(symbols)
            else:
                self.subscriptions[channel].difference_update(symbols)
            if len(self.subscriptions[channel]) > MAX_SYMBOLS:
                self.subscriptions[channel].difference_update(symbols)
                raise ProtocolError(405, "symbol limit exceeded")
        self.send(self.subscription_message())

    def subscription_message(self) -> dict[str, Any]:
        body: dict[str, Any] = {"T": "subscription"}
        for channel in CHANNELS:
            body[channel] = sorted(self.subscriptions[channel])
        for channel in SILENT_CHANNELS:
            body[channel] = []
        return body

    def wants(self, channel: str, symbol: str) -> bool:
        subscribed = self.subscriptions[channel]
        return bool(subscribed) and (symbol in subscribed or "*" in subscribed)

    # --- market data ---------------------------------------------------------------------------

    def trade(self, trade: TradeReport, clock: MarketClock) -> None:
        self.send(
            {
                "T": "t",
                "S": trade.symbol,
                "x": EXCHANGE,
                "p": float(trade.price),
                "s": trade.qty,
                "c": ["@"],
                "z": TAPE,
                "t": clock.market_time(trade.ts),
            }
        )

    def quote(self, symbol: str, snapshot: dict[str, Any], clock: MarketClock) -> None:
        quote = snapshot["quote"]

        def size(price: str | None, qty: int | None) -> int:
            return 0 if price is None else UNLIMITED_SIZE if qty is None else qty

        self.send(
            {
                "T": "q",
                "S": symbol,
                "bx": EXCHANGE,
                "bp": float(Decimal(quote["bid"] or "0")),
                "bs": size(quote["bid"], quote["bid_size"]),
                "ax": EXCHANGE,
                "ap": float(Decimal(quote["ask"] or "0")),
                "as": size(quote["ask"], quote["ask_size"]),
                "c": ["R"],
                "z": TAPE,
                "t": clock.market_time(datetime.fromisoformat(snapshot["ts"])),
            }
        )

    def bar(self, bar: Bar) -> None:
        self.send(
            {
                "T": "b",
                "S": bar.symbol,
                "o": float(bar.open),
                "h": float(bar.high),
                "l": float(bar.low),
                "c": float(bar.close),
                "v": bar.volume,
                "n": None,
                "vw": None,
                "t": bar.start,
            }
        )

    def send(self, message: dict[str, Any]) -> None:
        self.outbox.send(self.encode([message]))

    def encode(self, messages: list[dict[str, Any]]) -> str | bytes:
        if self.use_msgpack:
            packed: bytes = msgpack.packb(messages, datetime=True)
            return packed
        return json.dumps(
            messages, default=lambda v: rfc3339(v) if isinstance(v, datetime) else str(v)
        )
