"""An acknowledged order reaches the engine once, even when its hand-off is lost or repeated."""

from __future__ import annotations

import uuid

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.stack import Stack
from shared.kafka import ORDERS_TOPIC
from tests.trading_fixtures import Market, Trader, audit_violations, settle, until
from trading_service.messages import NewOrder
from trading_service.orders import repository
from trading_service.orders.schemas import OrderRequest
from trading_service.orders.service import place_order, to_core_order
from trading_service.tables import fills, orders


async def _order(db: AsyncEngine, order_id: uuid.UUID) -> dict:
    async with db.connect() as conn:
        row = (await conn.execute(select(orders).where(orders.c.id == order_id))).one()
        n_fills = (
            await conn.execute(
                select(func.count()).select_from(fills).where(fills.c.order_id == order_id)
            )
        ).scalar_one()
    return {**row._mapping, "fills": n_fills}


async def test_an_order_committed_but_never_handed_off_is_republished_and_filled(
    api: httpx.AsyncClient, market: Market, trader: Trader, db: AsyncEngine, trading_app
) -> None:
    """The API process 'dies' right after the commit: the outbox sweep hands the order over."""
    await market.set("AAPL", "100.00")
    resources = trading_app.state.resources
    async with db.begin() as conn:
        await repository.ensure_account(conn, trader.id, resources.settings.starting_cash)
    last = await resources.prices.get("AAPL")
    async with db.begin() as conn:
        row, _ = await place_order(
            conn,
            trader.id,
            OrderRequest(symbol="AAPL", qty=3, side="buy", type="market"),
            last,
            resources.settings.market_collar_bps,
        )
    # No hand-off here, on purpose.

    async def filled() -> bool:
        return (await _order(db, row.id))["status"] == "filled"

    await until(filled, "the swept order is filled")
    stored = await _order(db, row.id)
    assert stored["filled_qty"] == 3 and stored["fills"] == 1
    assert stored["reserved_cash"] == 0
    await settle(db)
    assert await audit_violations(db) == {}


async def test_a_repeated_hand_off_is_executed_once(
    api: httpx.AsyncClient, market: Market, trader: Trader, db: AsyncEngine, stack: Stack
) -> None:
    await market.set("MSFT", "400.00")
    placed = await api.post(
        "/trade/buy", json={"stock_symbol": "MSFT", "quantity": 2}, headers=trader.headers
    )
    assert placed.json()["status"] == "filled"
    order_id = uuid.UUID(placed.json()["id"])
    async with db.connect() as conn:
        row = (await conn.execute(select(orders).where(orders.c.id == order_id))).one()

    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    try:
        for _ in range(3):  # the duplicates an outbox re-publish or a producer retry can cause
            await producer.send_and_wait(
                ORDERS_TOPIC, NewOrder(to_core_order(row)).encode(), key=b"MSFT"
            )
    finally:
        await producer.stop()
    # A later price tick is processed after the duplicates (same partition, later offset).
    await market.set("MSFT", "401.00")

    stored = await _order(db, order_id)
    assert stored["filled_qty"] == 2 and stored["fills"] == 1
    portfolio = (await api.get("/portfolio", headers=trader.headers)).json()
    assert portfolio["positions"][0]["qty"] == 2
    assert await audit_violations(db) == {}


async def test_malformed_order_messages_are_skipped(
    api: httpx.AsyncClient, market: Market, trader: Trader, db: AsyncEngine, stack: Stack
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    try:
        for junk in (b"not json", b'{"kind": "new"}', b'{"kind": "teleport", "id": "x"}'):
            await producer.send_and_wait(ORDERS_TOPIC, junk, key=b"GOOGL")
    finally:
        await producer.stop()
    await market.set("GOOGL", "170.00")
    placed = await api.post(
        "/trade/buy", json={"stock_symbol": "GOOGL", "quantity": 1}, headers=trader.headers
    )
    assert placed.json()["status"] == "filled"
