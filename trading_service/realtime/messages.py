"""Server messages: one JSON object each, with a "type"; encoded once, sent to many clients."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from trading_service.candles.aggregator import Bar
from trading_service.realtime.connection import encode


def _flag(body: dict[str, Any], snapshot: bool) -> str:
    if snapshot:
        body["snapshot"] = True
    return encode(body)


def price(tick: dict[str, Any], snapshot: bool = False) -> str:
    """`seq` of a price is the stock service's tick seq for that symbol."""
    return _flag({"type": "price", **tick}, snapshot)


def price_from_redis(raw: bytes) -> str:
    # The price cache publishes {symbol, price, ts, seq, market_ts} as a JSON object: splice
    # the type in instead of decoding and encoding every tick again.
    return '{"type":"price",' + raw.decode()[1:]


def book(snap: dict[str, Any], seq: int, snapshot: bool = False) -> str:
    return _flag(
        {
            "type": "book",
            "symbol": snap["symbol"],
            "reference": snap.get("reference"),
            "bids": snap["bids"],
            "asks": snap["asks"],
            "ts": snap["ts"],
            "seq": seq,
        },
        snapshot,
    )


def quote(snap: dict[str, Any], seq: int, snapshot: bool = False) -> str:
    return _flag(
        {"type": "quote", "symbol": snap["symbol"], **snap["quote"], "ts": snap["ts"], "seq": seq},
        snapshot,
    )


def trade(t: dict[str, Any], seq: int) -> str:
    return encode({"type": "trade", **t, "seq": seq})


def fill(f: dict[str, Any], seq: int) -> str:
    return encode(
        {
            "type": "fill",
            "order_id": f["order_id"],
            "symbol": f["symbol"],
            "side": f["side"],
            "price": f["price"],
            "qty": f["qty"],
            "ts": f["ts"],
            "seq": seq,
        }
    )


def _model(kind: str, model: BaseModel, seq: int, snapshot: bool) -> str:
    # Nested: an order has a "type" field of its own (market, limit, ...).
    return _flag({"type": kind, kind: model.model_dump(mode="json"), "seq": seq}, snapshot)


def order(o: BaseModel, seq: int, snapshot: bool = False) -> str:
    """{"type": "order", "order": <the body of GET /orders/{id}>, "seq": ...}"""
    return _model("order", o, seq, snapshot)


def portfolio(p: BaseModel, seq: int, snapshot: bool = False) -> str:
    """{"type": "portfolio", "portfolio": <the body of GET /portfolio>, "seq": ...}"""
    return _model("portfolio", p, seq, snapshot)


def candle(bar: Bar, seq: int, snapshot: bool = False) -> str:
    return _flag({"type": "candle", **bar.as_json(), "seq": seq}, snapshot)


def subscribed(channels: set[str]) -> str:
    return encode({"type": "subscribed", "channels": sorted(channels)})


def authenticated(account_id: uuid.UUID, expires: int) -> str:
    return encode(
        {
            "type": "authenticated",
            "account_id": str(account_id),
            "expires_at": datetime.fromtimestamp(expires, UTC).isoformat(),
        }
    )


def heartbeat() -> str:
    return encode({"type": "heartbeat", "ts": datetime.now(UTC).isoformat()})
