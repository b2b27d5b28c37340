"""A waiting order's answer (/trade/buy, /trade/sell, POST /orders?wait=true): built from the
engine's executions message when that tells all of it, else read back from PostgreSQL, and the
same either way."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from tests.trading_fixtures import Market, Trader
from trading_service.engine.core.model import OrderType, Side
from trading_service.messages import FillReport, OrderReport
from trading_service.order_status import OrderStatus
from trading_service.orders import service
from trading_service.orders.executions import Reported
from trading_service.orders.repository import Fill

CREATED = datetime(2026, 3, 2, 15, 0, 0, 500, tzinfo=UTC)
BATCH = datetime(2026, 3, 2, 15, 0, 0, 9123, tzinfo=UTC)

# The row order entry stored (RETURNING *): status new, nothing filled.
ROW = SimpleNamespace(
    id=uuid.uuid4(), client_order_id="c-1", symbol="AAPL", side="buy", type="market",
    time_in_force="day", qty=3, limit_price=None, stop_price=None, status="new", filled_qty=0,
    filled_notional=Decimal("0.00"), reject_reason=None, created_at=CREATED, updated_at=CREATED,
)  # fmt: skip

FILLED = OrderReport(
    ROW.id, uuid.uuid4(), "AAPL", OrderStatus.FILLED, 3, 0, OrderType.MARKET, Side.BUY, CREATED
)


def fill(qty: int, price: str = "100.05") -> FillReport:
    return FillReport(ROW.id, FILLED.account_id, "AAPL", Side.BUY, Decimal(price), qty, BATCH)


def read_back(report: OrderReport, fills: tuple[FillReport, ...]) -> Any:
    """What PostgreSQL holds after the engine's batch: the answer read back from it."""
    stored = SimpleNamespace(
        **{
            **vars(ROW),
            "status": report.status.value,
            "filled_qty": report.filled_qty,
            "filled_notional": sum((f.price * f.qty for f in fills), Decimal("0.00")),
            "updated_at": BATCH,
        }
    )
    return service.order_out(stored, [Fill(f.price, f.qty, f.ts) for f in fills])


@pytest.mark.parametrize(
    "report, fills",
    [
        (FILLED, (fill(3),)),
        (FILLED, (fill(1), fill(1), fill(1))),
        (
            dataclasses.replace(FILLED, status=OrderStatus.PARTIALLY_FILLED, filled_qty=2),
            (fill(2),),
        ),
    ],
)
def test_a_message_that_tells_all_answers_as_postgresql_would(
    report: OrderReport, fills: tuple[FillReport, ...]
) -> None:
    answer = service.from_report(ROW, Reported(report, fills))
    assert answer == read_back(report, fills)
    assert (
        answer is not None
        and answer.model_dump_json() == read_back(report, fills).model_dump_json()
    )


@pytest.mark.parametrize(
    "report, fills, why",
    [
        (FILLED, (), "no fill: updated_at is not in the message"),
        (dataclasses.replace(FILLED, status=OrderStatus.NEW, filled_qty=0), (), "rested"),
        (FILLED, (fill(2),), "a fill of an earlier message is missing"),
        (FILLED, (fill(2), fill(1)), "fills of different sizes: PostgreSQL's order unknown"),
        (FILLED, (fill(2, "100.05"), fill(1, "100.06")), "fills of different prices"),
        (
            dataclasses.replace(FILLED, status=OrderStatus.CANCELED, filled_qty=2),
            (fill(2),),
            "reason",
        ),
        (
            dataclasses.replace(FILLED, status=OrderStatus.EXPIRED, filled_qty=1),
            (fill(1),),
            "reason",
        ),
        (dataclasses.replace(FILLED, status=OrderStatus.REJECTED, filled_qty=0), (), "reason"),
        (dataclasses.replace(FILLED, replace_seq=1), (fill(3),), "replaced: other terms"),
    ],
)
def test_a_message_that_does_not_tell_all_is_read_from_postgresql(
    report: OrderReport, fills: tuple[FillReport, ...], why: str
) -> None:
    assert service.from_report(ROW, Reported(report, fills)) is None, why


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[list[uuid.UUID]]:
    """The orders a waiting answer read back from PostgreSQL."""
    calls: list[list[uuid.UUID]] = []
    read = service.as_they_stand

    async def counted(resources: Any, account_id: uuid.UUID, ids: list[uuid.UUID]) -> Any:
        calls.append(ids)
        return await read(resources, account_id, ids)

    monkeypatch.setattr(service, "as_they_stand", counted)
    return calls


@pytest.mark.parametrize(
    "path, body",
    [
        ("/trade/buy", {"stock_symbol": "WAITF", "quantity": 7}),
        ("/orders?wait=true", {"symbol": "WAITF", "qty": 7, "side": "buy", "type": "market"}),
        (
            "/orders?wait=true",
            {"symbol": "WAITF", "qty": 7, "side": "buy", "type": "limit", "limit_price": "101.00",
             "time_in_force": "ioc", "client_order_id": "ioc-1"},
        ),
    ],
)  # fmt: skip
async def test_a_filled_order_is_answered_from_the_message_as_it_is_stored(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    reads: list[list[uuid.UUID]],
    path: str,
    body: dict[str, Any],
) -> None:
    trader = new_trader()
    await market.set("WAITF", "100.00")
    placed = await api.post(path, json=body, headers=trader.headers)
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "filled" and placed.json()["filled_qty"] == 7
    assert reads == []  # no second read: the engine's message told all of it
    stored = await api.get(f"/orders/{placed.json()['id']}", headers=trader.headers)
    assert placed.json() == stored.json()

    sold = await api.post(
        "/trade/sell", json={"stock_symbol": "WAITF", "quantity": 7}, headers=trader.headers
    )
    assert sold.status_code == 201 and sold.json()["status"] == "filled", sold.text
    assert reads == []
    assert (
        sold.json()
        == (await api.get(f"/orders/{sold.json()['id']}", headers=trader.headers)).json()
    )


async def test_orders_the_message_does_not_tell_all_of_are_read_back(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    reads: list[list[uuid.UUID]],
) -> None:
    buyer, seller = new_trader(), new_trader()
    await market.set("WAITR", "100.00")  # house quote: bid 99.95, ask 100.05
    rested = await api.post(
        "/orders?wait=true",
        json={"symbol": "WAITR", "qty": 2, "side": "buy", "type": "limit", "limit_price": "90.00"},
        headers=buyer.headers,
    )
    assert rested.status_code == 201 and rested.json()["status"] == "new", rested.text
    assert reads == [[uuid.UUID(rested.json()["id"])]]  # no fill: updated_at is not in it
    # One share offered under the house's ask: an IOC for 5 at that price fills 1 and its
    # rest is canceled, with a reason only PostgreSQL has.
    bought = await api.post(
        "/trade/buy", json={"stock_symbol": "WAITR", "quantity": 1}, headers=seller.headers
    )
    assert bought.status_code == 201, bought.text
    offer = {"symbol": "WAITR", "qty": 1, "side": "sell", "type": "limit", "limit_price": "100.01"}
    offered = await api.post("/orders?wait=true", json=offer, headers=seller.headers)
    assert offered.status_code == 201 and offered.json()["status"] == "new", offered.text
    reads.clear()
    ioc = await api.post(
        "/orders?wait=true",
        json={"symbol": "WAITR", "qty": 5, "side": "buy", "type": "limit",
              "limit_price": "100.01", "time_in_force": "ioc"},
        headers=buyer.headers,
    )  # fmt: skip
    assert ioc.status_code == 201, ioc.text
    assert ioc.json()["status"] == "canceled" and ioc.json()["filled_qty"] == 1
    assert ioc.json()["reject_reason"]
    assert reads == [[uuid.UUID(ioc.json()["id"])]]
    for answer, trader in ((rested, buyer), (ioc, buyer)):  # (the offer filled since)
        stored = await api.get(f"/orders/{answer.json()['id']}", headers=trader.headers)
        assert answer.json() == stored.json()
