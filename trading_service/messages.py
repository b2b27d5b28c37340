"""What travels on the `orders` topic and on the Redis `executions` channel.

The API writes an order to Postgres first and then hands it to the engine here; every message
may arrive twice (outbox re-publish), so the engine decides on the database's state, never on
the message alone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from asyncpg.pgproto.pgproto import UUID as _ParsedUUID  # type: ignore[import-untyped]

from shared.money import to_ticks
from shared.request_context import request_id, well_formed
from trading_service.engine.core.model import Order, OrderType, Side, TimeInForce
from trading_service.order_status import OrderStatus

EXECUTIONS_CHANNEL = "executions"

T = TypeVar("T")


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

_SIDES = {s.value: s for s in Side}
_TYPES = {t.value: t for t in OrderType}
_TIFS = {t.value: t for t in TimeInForce}


def _uuid(text: str) -> uuid.UUID:
    """uuid.UUID(text), parsed in C: asyncpg's UUID (a uuid.UUID, equal and hashed alike, the
    type of every id the engine reads from PostgreSQL) parses the usual form ~5x faster than
    uuid.UUID, and the engine parses two per order message. The rarer forms uuid.UUID accepts
    ({...}, urn:uuid:...) still parse; anything else raises ValueError or TypeError."""
    try:
        return _ParsedUUID(text)  # type: ignore[no-any-return]
    except ValueError:
        return uuid.UUID(text)


def decode_order_message(raw: bytes) -> OrderMessage:
    """Raises ValueError, KeyError or TypeError on a malformed message; the engine skips
    those."""
    data: dict[str, Any] = json.loads(raw)
    kind = data["kind"]
    order_id = _uuid(data["id"])
    account_id = _uuid(data["account_id"])
    rid = well_formed(data.get("request_id"))  # absent in messages of older API processes
    if kind == "new":
        return NewOrder(
            Order(
                order_id,
                account_id,
                str(data["symbol"]),
                # Lookups, not Side(...) calls: an enum call costs a microsecond, and the engine
                # decodes every order (an unknown value still raises KeyError).
                _SIDES[data["side"]],
                _TYPES[data["type"]],
                _TIFS[data["tif"]],
                int(data["qty"]),
                data.get("limit"),
                data.get("stop"),
                data.get("protection"),
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


# --- the Redis `executions` channel: what the engine committed, one message per batch ---------


class MalformedMessage(ValueError):
    """A message that does not decode into its type; consumers log it and skip it."""


def _field(data: Any, name: str) -> Any:
    if not isinstance(data, dict):
        raise MalformedMessage(f"expected an object, got {type(data).__name__}")
    if name not in data:
        raise MalformedMessage(f"missing field {name!r}")
    return data[name]


def _str(data: Any, name: str) -> str:
    value = _field(data, name)
    if not isinstance(value, str):
        raise MalformedMessage(f"{name!r} is not a string")
    return value


def _count(data: Any, name: str) -> int:
    """A share count or sequence number: a whole number >= 0, never a float or a string."""
    value = _field(data, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedMessage(f"{name!r} is not a whole number >= 0")
    return value


def _parsed(data: Any, name: str, parse: Callable[[str], T]) -> T:
    text = _str(data, name)
    try:
        return parse(text)
    except (ValueError, ArithmeticError) as exc:
        raise MalformedMessage(f"{name!r} is not valid: {text!r}") from exc


def _time(text: str) -> datetime:
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        raise ValueError("no time zone")
    return ts


def _price(text: str) -> Decimal:
    price = Decimal(text)
    if not price.is_finite() or price <= 0:
        raise ValueError("not a positive price")
    to_ticks(price)  # rejects off-tick prices
    return price


def _list(data: Any, name: str) -> list[Any]:
    if not isinstance(data, dict):
        raise MalformedMessage(f"expected an object, got {type(data).__name__}")
    value = data.get(name, [])  # an empty list may be left out
    if not isinstance(value, list):
        raise MalformedMessage(f"{name!r} is not a list")
    return value


_STATUSES = {s.value: s for s in OrderStatus}


def _member(data: Any, name: str, members: dict[str, T]) -> T:
    """One of an enum's values, by lookup (an enum call costs a microsecond)."""
    value = _field(data, name)
    member = members.get(value) if isinstance(value, str) else None
    if member is None:
        raise MalformedMessage(f"{name!r} is not valid: {value!r}")
    return member


class _Reader:
    """Parses the fields of one message, each distinct id, time and price text once: a batch's
    reports share one time, an order's id and account are in its fills too, and prices repeat.
    Ids are parsed in C (`_uuid`); what each accepts and refuses is what `_parsed` with
    uuid.UUID, `_time` and `_price` accept and refuse."""

    __slots__ = ("_ids", "_prices", "_times")

    def __init__(self) -> None:
        self._ids: dict[str, uuid.UUID] = {}
        self._times: dict[str, datetime] = {}
        self._prices: dict[str, Decimal] = {}

    def id(self, data: Any, name: str) -> uuid.UUID:
        text = _str(data, name)
        found = self._ids.get(text)
        if found is None:
            try:
                found = self._ids[text] = _uuid(text)
            except (ValueError, TypeError) as exc:
                raise MalformedMessage(f"{name!r} is not valid: {text!r}") from exc
        return found

    def time(self, data: Any, name: str) -> datetime:
        text = _str(data, name)
        found = self._times.get(text)
        if found is None:
            found = self._times[text] = _parsed(data, name, _time)
        return found

    def price(self, data: Any, name: str) -> Decimal:
        text = _str(data, name)
        found = self._prices.get(text)
        if found is None:
            found = self._prices[text] = _parsed(data, name, _price)
        return found


@dataclass(frozen=True, slots=True)
class OrderReport:
    """An order's state after the batch that changed it."""

    id: uuid.UUID
    account_id: uuid.UUID
    symbol: str
    status: OrderStatus
    filled_qty: int
    # Replaces settled so far: what a PATCH waits for (orders/executions.py).
    replace_seq: int
    # For the engine's metrics: orders by type and side, order-to-fill latency.
    type: OrderType
    side: Side
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "account_id": str(self.account_id),
            "symbol": self.symbol,
            "status": self.status.value,
            "filled_qty": self.filled_qty,
            "replace_seq": self.replace_seq,
            "type": self.type.value,
            "side": self.side.value,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any, read: _Reader | None = None) -> OrderReport:
        read = read or _Reader()
        return cls(
            read.id(data, "id"),
            read.id(data, "account_id"),
            _str(data, "symbol"),
            _member(data, "status", _STATUSES),
            _count(data, "filled_qty"),
            _count(data, "replace_seq") if "replace_seq" in data else 0,
            _member(data, "type", _TYPES),
            _member(data, "side", _SIDES),
            read.time(data, "created_at"),
        )


@dataclass(frozen=True, slots=True)
class TradeReport:
    """A trade on the tape (no account: the public `trades` channels carry it)."""

    symbol: str
    price: Decimal
    qty: int
    aggressor_side: Side
    ts: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "price": f"{self.price:.2f}",
            "qty": self.qty,
            "aggressor_side": self.aggressor_side.value,
            "ts": self.ts.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any, read: _Reader | None = None) -> TradeReport:
        read = read or _Reader()
        return cls(
            _str(data, "symbol"),
            read.price(data, "price"),
            _count(data, "qty"),
            _member(data, "aggressor_side", _SIDES),
            read.time(data, "ts"),
        )


@dataclass(frozen=True, slots=True)
class FillReport:
    """One user's side of a trade."""

    order_id: uuid.UUID
    account_id: uuid.UUID
    symbol: str
    side: Side
    price: Decimal
    qty: int
    ts: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "order_id": str(self.order_id),
            "account_id": str(self.account_id),
            "symbol": self.symbol,
            "side": self.side.value,
            "price": f"{self.price:.2f}",
            "qty": self.qty,
            "ts": self.ts.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any, read: _Reader | None = None) -> FillReport:
        read = read or _Reader()
        return cls(
            read.id(data, "order_id"),
            read.id(data, "account_id"),
            _str(data, "symbol"),
            _member(data, "side", _SIDES),
            read.price(data, "price"),
            _count(data, "qty"),
            read.time(data, "ts"),
        )


@dataclass(frozen=True, slots=True)
class Executions:
    """What one committed engine batch changed: the request waiters, the WebSocket hub and the
    Alpaca streams all read it (published after commit, so it never tells of a rolled-back
    batch; a lost one costs a waiter its timeout)."""

    orders: tuple[OrderReport, ...] = ()
    trades: tuple[TradeReport, ...] = ()
    fills: tuple[FillReport, ...] = ()

    def encode(self) -> bytes:
        """The same bytes as json.dumps of the reports' as_json()."""
        steps = self.encode_in_steps()
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def encode_in_steps(self, step: int = 500) -> Generator[None, None, bytes]:
        """`encode`, pausing (yielding) after each `step` reports; returns the bytes.

        The engine encodes a batch's message while PostgreSQL applies the batch's write, and
        pauses let its event loop keep sending that write. Built faster than json.dumps of the
        as_json() dicts, to the same bytes: a batch's trades and fills share one time, an API
        group's orders one creation time, and prices repeat, so each distinct time and price is
        formatted once; the lists are encoded in pieces joined as json.dumps joins them.
        """
        # The same instant in another zone (or fold) is equal but written otherwise: keyed apart.
        times: dict[tuple[datetime, Any, int], str] = {}
        prices: dict[Decimal, str] = {}

        def time(ts: datetime) -> str:
            key = (ts, ts.tzinfo, ts.fold)
            text = times.get(key)
            if text is None:
                text = times[key] = ts.isoformat()
            return text

        def price(p: Decimal) -> str:
            text = prices.get(p)
            if text is None:
                text = prices[p] = f"{p:.2f}"
            return text

        def order(o: OrderReport) -> dict[str, Any]:
            return {
                "id": str(o.id),
                "account_id": str(o.account_id),
                "symbol": o.symbol,
                "status": o.status.value,
                "filled_qty": o.filled_qty,
                "replace_seq": o.replace_seq,
                "type": o.type.value,
                "side": o.side.value,
                "created_at": time(o.created_at),
            }

        def trade(t: TradeReport) -> dict[str, Any]:
            return {
                "symbol": t.symbol,
                "price": price(t.price),
                "qty": t.qty,
                "aggressor_side": t.aggressor_side.value,
                "ts": time(t.ts),
            }

        def fill(f: FillReport) -> dict[str, Any]:
            return {
                "order_id": str(f.order_id),
                "account_id": str(f.account_id),
                "symbol": f.symbol,
                "side": f.side.value,
                "price": price(f.price),
                "qty": f.qty,
                "ts": time(f.ts),
            }

        parts: list[str] = []
        lists: tuple[tuple[str, tuple[Any, ...], Callable[[Any], dict[str, Any]]], ...] = (
            ("orders", self.orders, order),
            ("trades", self.trades, trade),
            ("fills", self.fills, fill),
        )
        for name, reports, as_json in lists:
            pieces = []
            for i in range(0, len(reports), step):
                # "[a, b]" without its brackets: the pieces join into json.dumps's list
                pieces.append(json.dumps([as_json(r) for r in reports[i : i + step]])[1:-1])
                yield
            parts.append(f"{json.dumps(name)}: [{', '.join(pieces)}]")
        return ("{" + ", ".join(parts) + "}").encode()

    @classmethod
    def from_json(cls, data: Any) -> Executions:
        """From the parsed JSON body; raises MalformedMessage, naming the first bad field."""
        read = _Reader()
        return cls(
            orders=tuple([OrderReport.from_json(o, read) for o in _list(data, "orders")]),
            trades=tuple([TradeReport.from_json(t, read) for t in _list(data, "trades")]),
            fills=tuple([FillReport.from_json(f, read) for f in _list(data, "fills")]),
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Executions:
        """Raises MalformedMessage (and nothing else) on anything but a well-formed message."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # ValueError: also bad UTF-8
            raise MalformedMessage(f"not JSON: {exc}") from exc
        return cls.from_json(data)
