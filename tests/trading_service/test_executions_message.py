"""The engine's executions message (pure, no I/O): what goes out comes back, garbage is refused.

Consumers (request waiters, WebSocket hub, Alpaca streams) rely on one rule: `decode` either
returns a fully typed message or raises MalformedMessage, which they log and skip.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from trading_service.engine.core.model import OrderType, Side
from trading_service.messages import (
    Executions,
    FillReport,
    MalformedMessage,
    OrderReport,
    TradeReport,
)
from trading_service.order_status import OPEN, TERMINAL, OrderStatus

AT = datetime(2026, 3, 2, 14, 30, 0, 123456, tzinfo=UTC)
ORDER, ACCOUNT = uuid.uuid4(), uuid.uuid4()


def sample() -> Executions:
    return Executions(
        orders=(
            OrderReport(
                ORDER,
                ACCOUNT,
                "AAPL",
                OrderStatus.PARTIALLY_FILLED,
                30,
                2,
                OrderType.LIMIT,
                Side.BUY,
                AT - timedelta(seconds=1),
            ),
            OrderReport(
                uuid.uuid4(),
                uuid.uuid4(),
                "AAPL",
                OrderStatus.FILLED,
                30,
                0,
                OrderType.MARKET,
                Side.SELL,
                # another zone: the offset survives the round trip
                datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
            ),
        ),
        trades=(TradeReport("AAPL", Decimal("187.25"), 30, Side.SELL, AT),),
        fills=(
            FillReport(ORDER, ACCOUNT, "AAPL", Side.BUY, Decimal("187.25"), 30, AT),
            FillReport(uuid.uuid4(), uuid.uuid4(), "AAPL", Side.SELL, Decimal("187.25"), 30, AT),
        ),
    )


def wire(message: Executions) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(message.encode())
    return body


def test_a_message_survives_encode_and_decode_exactly() -> None:
    message = sample()
    assert Executions.decode(message.encode()) == message
    assert Executions.decode(message.encode().decode()) == message  # str as well as bytes
    assert Executions.decode(Executions().encode()) == Executions()


def test_decoded_fields_are_typed_and_money_stays_decimal() -> None:
    decoded = Executions.decode(sample().encode())
    order, trade, fill = decoded.orders[0], decoded.trades[0], decoded.fills[0]
    assert isinstance(order.id, uuid.UUID) and order.account_id == ACCOUNT
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.status in OPEN
    assert decoded.orders[1].status in TERMINAL
    assert order.type is OrderType.LIMIT and order.side is Side.BUY
    assert trade.price == Decimal("187.25") and isinstance(trade.price, Decimal)
    assert fill.ts == AT and fill.ts.tzinfo is not None


def test_the_wire_format_is_the_one_consumers_already_read() -> None:
    # Unchanged field names and formats: an API process and an engine of different versions
    # (a rolling upgrade) still understand each other.
    body = wire(sample())
    assert set(body) == {"orders", "trades", "fills"}
    assert body["orders"][0] == {
        "id": str(ORDER),
        "account_id": str(ACCOUNT),
        "symbol": "AAPL",
        "status": "partially_filled",
        "filled_qty": 30,
        "replace_seq": 2,
        "type": "limit",
        "side": "buy",
        "created_at": (AT - timedelta(seconds=1)).isoformat(),
    }
    assert body["trades"][0] == {
        "symbol": "AAPL",
        "price": "187.25",
        "qty": 30,
        "aggressor_side": "sell",
        "ts": AT.isoformat(),
    }
    assert body["fills"][0]["price"] == "187.25" and body["fills"][0]["order_id"] == str(ORDER)


def test_an_older_engines_message_without_replace_seq_or_empty_lists_decodes() -> None:
    body = wire(sample())
    del body["orders"][0]["replace_seq"]
    del body["trades"], body["fills"]
    decoded = Executions.decode(json.dumps(body).encode())
    assert decoded.orders[0].replace_seq == 0
    assert decoded.trades == () and decoded.fills == ()


def _broken(section: str, field: str, value: Any) -> bytes:
    body = wire(sample())
    body[section][0][field] = value
    return json.dumps(body).encode()


def _missing(section: str, field: str) -> bytes:
    body = wire(sample())
    del body[section][0][field]
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe",  # not UTF-8
        b"[]",
        b"null",
        b'"orders"',
        b'{"orders": {}}',
        b'{"orders": [1]}',
        b'{"orders": [null]}',
        b"[" * 100_000,  # nested past the parser's recursion limit
        _missing("orders", "id"),
        _missing("orders", "status"),
        _broken("orders", "id", "not-a-uuid"),
        _broken("orders", "id", 7),
        _broken("orders", "status", "open"),
        _broken("orders", "filled_qty", "30"),
        _broken("orders", "filled_qty", 30.0),
        _broken("orders", "filled_qty", True),
        _broken("orders", "filled_qty", -1),
        _broken("orders", "replace_seq", None),
        _broken("orders", "type", "iceberg"),
        _broken("orders", "created_at", "yesterday"),
        _broken("orders", "created_at", "2026-03-02T14:30:00"),  # no time zone
        _broken("trades", "price", 187.25),  # a float: money is never a float here
        _broken("trades", "price", "187.255"),  # off the tick
        _broken("trades", "price", "NaN"),
        _broken("trades", "price", "-1.00"),
        _broken("trades", "price", "abc"),
        _broken("trades", "aggressor_side", "short"),
        _broken("trades", "symbol", None),
        _broken("fills", "account_id", None),
        _broken("fills", "ts", 1700000000),
        _missing("fills", "qty"),
    ],
)
def test_garbage_raises_malformed_message_and_nothing_else(raw: bytes) -> None:
    with pytest.raises(MalformedMessage):
        Executions.decode(raw)


def test_malformed_message_is_a_value_error_so_older_catch_alls_still_skip_it() -> None:
    assert issubclass(MalformedMessage, ValueError)


def test_the_status_sets_partition_every_stored_status() -> None:
    assert set(OPEN) | set(TERMINAL) == set(OrderStatus)
    assert not set(OPEN) & set(TERMINAL)
    # The values are the CHECK constraint's (migrations/versions/0001_initial.py).
    assert [s.value for s in OrderStatus] == [
        "new",
        "partially_filled",
        "filled",
        "canceled",
        "expired",
        "rejected",
    ]


def test_encode_writes_exactly_what_the_reports_as_json_say() -> None:
    # encode formats each distinct time and price once; the bytes stay those of as_json. The
    # same instant in two zones is equal as a datetime, yet each keeps its own offset.
    instant = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    elsewhere = instant.astimezone(timezone(timedelta(hours=-5)))
    assert instant == elsewhere
    message = sample()
    message = Executions(
        orders=(
            *message.orders,
            *(
                OrderReport(
                    uuid.uuid4(), uuid.uuid4(), "MSFT", OrderStatus.NEW, 0, 0, OrderType.LIMIT,
                    Side.SELL, at,
                )
                for at in (instant, elsewhere, instant)
            ),
        ),
        trades=(
            *message.trades,
            TradeReport("MSFT", Decimal("420.1"), 5, Side.BUY, elsewhere),
            TradeReport("MSFT", Decimal("420.10"), 5, Side.BUY, instant),
        ),
        fills=(
            *message.fills,
            FillReport(uuid.uuid4(), uuid.uuid4(), "MSFT", Side.BUY, Decimal("420.1"), 5, instant),
        ),
    )  # fmt: skip
    expected = json.dumps(
        {
            "orders": [o.as_json() for o in message.orders],
            "trades": [t.as_json() for t in message.trades],
            "fills": [f.as_json() for f in message.fills],
        }
    ).encode()
    assert message.encode() == expected
    assert [o["created_at"] for o in wire(message)["orders"][-3:]] == [
        instant.isoformat(),
        elsewhere.isoformat(),
        instant.isoformat(),
    ]


def test_encoding_in_steps_pauses_between_pieces_and_gives_the_same_bytes() -> None:
    # The engine encodes a big batch's message while PostgreSQL applies the batch's write,
    # pausing between pieces; the bytes are json.dumps's, whatever the piece size.
    orders = tuple(
        OrderReport(
            uuid.uuid4(), uuid.uuid4(), "AAPL", OrderStatus.NEW, 0, 0, OrderType.LIMIT, Side.BUY,
            AT + timedelta(microseconds=i % 3),
        )
        for i in range(1201)
    )  # fmt: skip
    message = Executions(orders, sample().trades, sample().fills)
    expected = json.dumps(
        {
            "orders": [o.as_json() for o in message.orders],
            "trades": [t.as_json() for t in message.trades],
            "fills": [f.as_json() for f in message.fills],
        }
    ).encode()
    for step in (1, 500, 1201, 5000):
        steps, pauses = message.encode_in_steps(step), 0
        while True:
            try:
                next(steps)
                pauses += 1
            except StopIteration as done:
                assert done.value == expected
                break
        # one pause per piece of each list: 1201 orders, 1 trade, 2 fills
        assert pauses == sum(-(-n // step) for n in (1201, 1, 2))
