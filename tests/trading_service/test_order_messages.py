"""The orders topic's messages as the engine decodes them (pure, no I/O)."""

from __future__ import annotations

import json
import uuid

import pytest

from trading_service.engine.core.model import Order, OrderType, Side, TimeInForce
from trading_service.messages import CancelRequest, NewOrder, ReplaceRequest, decode_order_message

ORDER, ACCOUNT = uuid.uuid4(), uuid.uuid4()


def new_order() -> dict[str, object]:
    order = Order(ORDER, ACCOUNT, "AAPL", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, 5, 10_000)
    body: dict[str, object] = json.loads(NewOrder(order, None).encode())
    return body


def test_ids_decode_to_equal_uuids_in_every_form_uuid_accepts() -> None:
    for form in (str(ORDER), ORDER.hex, f"{{{ORDER}}}", f"urn:uuid:{ORDER}", str(ORDER).upper()):
        decoded = decode_order_message(json.dumps({**new_order(), "id": form}).encode())
        assert isinstance(decoded, NewOrder)
        assert decoded.order.id == ORDER and hash(decoded.order.id) == hash(ORDER)
        assert isinstance(decoded.order.id, uuid.UUID) and decoded.order.account_id == ACCOUNT
        assert {ORDER: "found"}[decoded.order.id] == "found"
    cancel = decode_order_message(CancelRequest(ORDER, ACCOUNT, None).encode())
    assert cancel == CancelRequest(ORDER, ACCOUNT, None)
    replace = decode_order_message(ReplaceRequest(ORDER, ACCOUNT, 3, 10_100, None, None).encode())
    assert replace == ReplaceRequest(ORDER, ACCOUNT, 3, 10_100, None, None)


def test_a_new_order_decodes_to_the_terms_it_was_sent_with() -> None:
    decoded = decode_order_message(json.dumps(new_order()).encode())
    assert isinstance(decoded, NewOrder)
    o = decoded.order
    assert (o.symbol, o.side, o.type, o.tif, o.qty, o.limit, o.stop, o.protection) == (
        "AAPL", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, 5, 10_000, None, None,
    )  # fmt: skip
    assert o.side is Side.BUY and o.type is OrderType.LIMIT and o.tif is TimeInForce.GTC


@pytest.mark.parametrize(
    "change",
    [
        {"id": 5},  # not a string: uuid.UUID raised AttributeError, which the engine never skips
        {"id": None},
        {"account_id": ["x"]},
        {"id": "not-a-uuid"},
        {"id": f"{ORDER}0"},
        {"side": "sideways"},
        {"type": "iceberg"},
        {"tif": ["gtc"]},
        {"qty": "many"},
        {"kind": "teleport"},
    ],
)
def test_a_malformed_message_raises_what_the_engine_skips(change: dict[str, object]) -> None:
    raw = json.dumps({**new_order(), **change}).encode()
    with pytest.raises((ValueError, KeyError, TypeError)):
        decode_order_message(raw)
