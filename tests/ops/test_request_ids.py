"""Request ids: accepted from X-Request-ID when well-formed (else made), echoed, on every log
line of the request with the account id, and on the engine's line for the order it placed."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest

from shared.request_context import REQUEST_ID_HEADER
from tests.trading_fixtures import Market, Trader, until
from trading_service.engine.core.model import Order, OrderType, Side, TimeInForce
from trading_service.messages import CancelRequest, NewOrder, decode_order_message

SYMBOL = "RQID"


def lines_with(caplog: pytest.LogCaptureFixture, rid: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "request_id", None) == rid]


async def test_the_request_id_travels_from_the_client_to_the_engine(
    api: httpx.AsyncClient, market: Market, trader: Trader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await market.set(SYMBOL, "50.00")
    rid = f"client-{uuid.uuid4().hex}"
    placed = await api.post(
        "/orders?wait=true",
        json={"symbol": SYMBOL, "side": "buy", "type": "market", "qty": 2},
        headers=trader.headers | {REQUEST_ID_HEADER: rid},
    )
    assert placed.status_code == 201, placed.text
    assert placed.headers[REQUEST_ID_HEADER] == rid
    order_id = placed.json()["id"]

    def engine_line() -> logging.LogRecord | None:
        return next(
            (
                r
                for r in lines_with(caplog, rid)
                if r.name.startswith("trading_service.engine")
                and getattr(r, "order_id", None) == order_id
            ),
            None,
        )

    async def engine_logged() -> bool:
        return engine_line() is not None

    await until(engine_logged, "the engine logs the order under the request id")
    line = engine_line()
    assert line is not None and line.account_id == str(trader.id)  # type: ignore[attr-defined]
    # The API's own line for the request carries the account too.
    access = [r for r in lines_with(caplog, rid) if r.name == "stocksim.access"]
    assert access and access[0].account_id == str(trader.id)  # type: ignore[attr-defined]
    assert access[0].status == 201  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "sent",
    [None, "", "has spaces", "x" * 129, 'quote"d', "-starts-with-dash", "ünïcode"],
)
async def test_a_missing_or_malformed_request_id_is_replaced(
    api: httpx.AsyncClient, trader: Trader, sent: str | None
) -> None:
    headers: dict[str, str | bytes] = dict(trader.headers)
    answer = await api.get(
        "/portfolio",
        headers=headers if sent is None else headers | {REQUEST_ID_HEADER: sent.encode()},
    )
    assert answer.status_code == 200
    made = answer.headers[REQUEST_ID_HEADER]
    assert made != sent and len(made) == 32 and int(made, 16) >= 0
    again = await api.get("/portfolio", headers=headers)
    assert again.headers[REQUEST_ID_HEADER] != made  # one per request


def test_order_messages_stay_readable_both_ways() -> None:
    order = Order(
        id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.LIMIT,
        tif=TimeInForce.GTC,
        qty=1,
        limit=100,
    )
    # Made outside a request (the outbox sweep): no field at all, as before.
    bare = NewOrder(order)
    assert bare.request_id is None and b"request_id" not in bare.encode()
    # Orders compare by identity (the matching core's choice): compare what is on the wire.
    decoded = decode_order_message(bare.encode())
    assert isinstance(decoded, NewOrder) and decoded.request_id is None
    assert decoded.encode() == bare.encode()
    tagged = NewOrder(order, "req-1")
    decoded = decode_order_message(tagged.encode())
    assert isinstance(decoded, NewOrder) and decoded.request_id == "req-1"
    assert decoded.encode() == tagged.encode()
    # A forged id in a message is dropped, not logged.
    cancel = CancelRequest(order.id, order.account_id, "bad id")
    assert decode_order_message(cancel.encode()).request_id is None
