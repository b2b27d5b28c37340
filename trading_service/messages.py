"""What travels on the `orders` topic and on the Redis `executions` channel.

The API writes an order to Postgres first and then hands it to the engine here; every message
may arrive twice (outbox re-publish), so the engine decides on the database's state, never on
the message alone.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.money import to_ticks
from shared.request_context import request_id, well_formed
from trading_service.engine.core.model import Order, OrderType, Side, TimeInForce

EXECUTIONS_CHANNEL = "executions"


def _request_id() -> str | None:
    """The id of the request that creates a message (None in background tasks)."""
    return request_id.get()


def _with_request_id(body: dict[str, Any], rid: str | None) -> bytes:
    # Only when there is one: a message without the field is what older engines expect.
    if rid is not None:
        body["request_id"] = rid
    return json.dumps(body).encode()


@dataclass(frozen=True, slots=True)
class NewOrder:
    order: Order
    # So the engine's log lines for this order carry the id of the request that placed it.
    request_id: str | None = field(default_factory=_request_id)

    def encode(self) -> bytes:
        o = self.order
        return _with_request_id(
            {
                "kind": "new",
                "id": str(o.id),
                "account_id": str(o.account_id),
                "symbol": o.symbol,
                "side": o.side.value,
                "type": o.type.value,
                "tif": o.tif.value,
                "qty": o.qty,
                "limit": o.limit,
                "stop": o.stop,
                "protection": o.protection,
            },
            self.request_id,
        )


@dataclass(frozen=True, slots=True)
class CancelRequest:
    order_id: uuid.UUID
    account_id: uuid.UUID
    request_id: str | None = field(default_factory=_request_id)

    def encode(self) -> bytes:
        return _with_request_id(
            {"kind": "cancel", "id": str(self.order_id), "account_id": str(self.account_id)},
            self.request_id,
        )


@dataclass(frozen=True, slots=True)
class ReplaceRequest:
    order_id: uuid.UUID
    account_id: uuid.UUID
    qty: int | None
    limit: int | None
    stop: int | None
    request_id: str | None = field(default_factory=_request_id)

    def encode(self) -> bytes:
        return _with_request_id(
            {
                "kind": "replace",
                "id": str(self.order_id),
                "account_id": str(self.account_id),
                "qty": self.qty,
                "limit": self.limit,
                "stop": self.stop,
            },
            self.request_id,
        )


OrderMessage = NewOrder | CancelRequest | ReplaceRequest


def decode_order_message(raw: bytes) -> OrderMessage:
    """Raises ValueError (or KeyError) on a malformed message; the engine skips those."""
    data: dict[str, Any] = json.loads(raw)
    kind = data["kind"]
    order_id = uuid.UUID(data["id"])
    account_id = uuid.UUID(data["account_id"])
    rid = well_formed(data.get("request_id"))  # absent in messages of older API processes
    if kind == "new":
        return NewOrder(
            Order(
                id=order_id,
                account_id=account_id,
                symbol=str(data["symbol"]),
                side=Side(data["side"]),
                type=OrderType(data["type"]),
                tif=TimeInForce(data["tif"]),
                qty=int(data["qty"]),
                limit=data.get("limit"),
                stop=data.get("stop"),
                protection=data.get("protection"),
            ),
            rid,
        )
    if kind == "cancel":
        return CancelRequest(order_id, account_id, rid)
    if kind == "replace":
        return ReplaceRequest(
            order_id, account_id, data.get("qty"), data.get("limit"), data.get("stop"), rid
        )
    raise ValueError(f"unknown order message kind {kind!r}")


@dataclass(frozen=True, slots=True)
class PriceTick:
    symbol: str
    price: Decimal
    ts: str
    seq: int
    # The market clock's time of the tick (the stock service adds it; older producers do not).
    market_ts: str | None = None

    @classmethod
    def decode(cls, raw: bytes) -> PriceTick:
        data = json.loads(raw)
        price = Decimal(str(data["price"]))
        to_ticks(price)  # rejects off-tick prices
        market_ts = data.get("market_ts")
        if market_ts is not None:
            market_ts = str(market_ts)
            datetime.fromisoformat(market_ts)  # rejects a malformed one
        return cls(str(data["symbol"]), price, str(data["ts"]), int(data["seq"]), market_ts)

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "price": f"{self.price:.2f}",
            "ts": self.ts,
            "seq": self.seq,
            "market_ts": self.market_ts,
        }
