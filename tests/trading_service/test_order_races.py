"""Hostile timing against order entry and the engine (issue 9, items 1, 5, 7, 9).

Concurrent requests are sent from one event loop through the real API, PostgreSQL, Kafka and
the session's engine: each request's transaction interleaves with the others' at every await.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.stack import Stack
from shared.kafka import ORDERS_TOPIC
from tests.trading_fixtures import Market, Trader, audit_violations, settle, until
from trading_service.app import create_app
from trading_service.config import TradingSettings
from trading_service.engine.health import HEALTH_KEY
from trading_service.messages import NewOrder, ReplaceRequest
from trading_service.orders.repository import insert_order
from trading_service.orders.service import to_core_order

ROUNDS = 20


async def rest_limit_buy(
    api: httpx.AsyncClient, trader: Trader, symbol: str, qty: int, price: str
) -> dict[str, Any]:
    response = await api.post(
        "/orders?wait=true",
        json={
            "symbol": symbol,
            "qty": qty,
            "side": "buy",
            "type": "limit",
            "limit_price": price,
            "time_in_force": "gtc",
        },
        headers=trader.headers,
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    assert order["status"] == "new"
    return order


async def portfolio_cash(api: httpx.AsyncClient, trader: Trader) -> tuple[Decimal, Decimal]:
    p = (await api.get("/portfolio", headers=trader.headers)).json()
    return Decimal(p["cash"]), Decimal(p["reserved_cash"])


async def stored(db: AsyncEngine, order_id: str) -> Any:
    async with db.connect() as conn:
        return (
            await conn.execute(text("SELECT * FROM orders WHERE id = :id"), {"id": order_id})
        ).one()


@asynccontextmanager
async def forging_producer(stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    """A producer of our own on the orders topic: records that skip the API's checks."""
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def exchange_trades_for_someone_else(
    api: httpx.AsyncClient, market: Market, new_trader: Callable[[], Trader], symbol: str
) -> None:
    """Another user's market order still fills: the engine is alive for every symbol."""
    await market.set(symbol, "10.00")
    bought = await api.post(
        "/trade/buy", json={"stock_symbol": symbol, "quantity": 3}, headers=new_trader().headers
    )
    assert bought.status_code == 201, bought.text
    assert bought.json()["status"] == "filled", bought.json()


async def test_two_racing_patches_are_checked_against_each_other_and_never_halt_the_engine(
    api: httpx.AsyncClient, market: Market, new_trader: Callable[[], Trader], db: AsyncEngine
) -> None:
    # The attack of issue 9: a limit buy 1000 @ 1.00, then at the same moment a PATCH raising the
    # limit to 100.00 and one raising the qty to 100,000. Each alone fits 100,000 of cash; both
    # together need 10,000,000.
    await market.set("RACEA", "200.00")
    for _ in range(ROUNDS):
        trader = new_trader()
        order = await rest_limit_buy(api, trader, "RACEA", 1000, "1.00")
        url = f"/orders/{order['id']}"
        price_patch, qty_patch = await asyncio.gather(
            api.patch(url, json={"limit_price": "100.00"}, headers=trader.headers),
            api.patch(url, json={"qty": 100_000}, headers=trader.headers),
        )
        answers = sorted([price_patch, qty_patch], key=lambda r: r.status_code)
        assert [r.status_code for r in answers] == [200, 409], [r.text for r in answers]
        accepted, refused = answers
        assert refused.json()["error"] == "insufficient_funds"
        # The answer shows the change it made, applied by the engine.
        applied = accepted.json()
        assert (applied["qty"], applied["limit_price"]) in ((1000, "100.00"), (100_000, "1.00"))
        assert applied["status"] == "new"
        assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("100000.00"))

    await exchange_trades_for_someone_else(api, market, new_trader, "RACEB")
    await settle(db)
    assert await audit_violations(db) == {}


async def test_racing_patches_within_the_cash_reserve_exactly_what_the_last_one_needs(
    api: httpx.AsyncClient, market: Market, new_trader: Callable[[], Trader], db: AsyncEngine
) -> None:
    await market.set("RACEC", "200.00")
    for _ in range(5):
        trader = new_trader()
        order = await rest_limit_buy(api, trader, "RACEC", 1000, "1.00")
        url = f"/orders/{order['id']}"
        answers = await asyncio.gather(
            api.patch(url, json={"limit_price": "2.00"}, headers=trader.headers),
            api.patch(url, json={"qty": 2000}, headers=trader.headers),
        )
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        final = (await api.get(url, headers=trader.headers)).json()
        # Both changes hold: the second built on the first, and its check covered both.
        assert (final["qty"], final["limit_price"]) == (2000, "2.00")
        assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("4000.00"))
    await settle(db)
    assert await audit_violations(db) == {}


async def test_the_engine_refuses_a_command_it_cannot_apply_and_keeps_trading(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    db: AsyncEngine,
    stack: Stack,
    trading_app: FastAPI,
) -> None:
    """Commands that reach the engine although no check allowed them (an API bug, a forged
    record): each is refused with a reason, its reservation given back, the rest applied."""
    redis = trading_app.state.resources.redis
    refused_before = int(await redis.hget(HEALTH_KEY, "rejected_commands") or 0)
    await market.set("POISA", "200.00")
    async with forging_producer(stack) as producer:
        # A market buy of 1,000 (about 200,000 of cash against 100,000) stored with no
        # reservation, as if the API's check had been skipped.
        greedy = new_trader()
        assert (await api.get("/portfolio", headers=greedy.headers)).status_code == 200
        greedy_id = uuid.uuid4()
        async with db.begin() as conn:
            row = await insert_order(
                conn,
                {
                    "id": greedy_id,
                    "account_id": greedy.id,
                    "client_order_id": "x",
                    "symbol": "POISA",
                    "side": "buy",
                    "type": "market",
                    "time_in_force": "ioc",
                    "qty": 1000,
                    "protection_price": Decimal("250.00"),
                    "status": "new",
                },
            )
        assert row is not None
        await producer.send_and_wait(
            ORDERS_TOPIC, NewOrder(to_core_order(row)).encode(), key=b"POISA"
        )
        # Later orders of everybody are still processed.
        await exchange_trades_for_someone_else(api, market, new_trader, "POISB")
        greedy_order = await stored(db, str(greedy_id))
        assert greedy_order.status == "rejected" and greedy_order.filled_qty == 0
        assert greedy_order.reject_reason.startswith("refused by the engine")
        assert "cash" in greedy_order.reject_reason
        assert await portfolio_cash(api, greedy) == (Decimal("100000.00"), Decimal("0.00"))

        # A replace to 100,000 @ 100.00 recorded as if the API had accepted it, not reserved.
        victim = new_trader()
        resting = await rest_limit_buy(api, victim, "POISA", 10, "1.00")
        async with db.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE orders SET replace_seq = replace_seq + 1, pending_qty = 100000, "
                    "pending_limit_price = 100.00 WHERE id = :id"
                ),
                {"id": resting["id"]},
            )
        forged = ReplaceRequest(uuid.UUID(resting["id"]), victim.id, 100_000, 10_000, None)
        await producer.send_and_wait(ORDERS_TOPIC, forged.encode(), key=b"POISA")
    await exchange_trades_for_someone_else(api, market, new_trader, "POISC")

    async def settled() -> bool:
        return bool((await stored(db, resting["id"])).replace_applied_seq == 1)

    await until(settled, "the engine settles the replace")
    replaced = await stored(db, resting["id"])
    assert (replaced.qty, replaced.limit_price, replaced.status) == (10, Decimal("1.00"), "new")
    assert "cash" in replaced.replace_reject_reason
    assert await portfolio_cash(api, victim) == (Decimal("100000.00"), Decimal("10.00"))
    assert int(await redis.hget(HEALTH_KEY, "rejected_commands")) >= refused_before + 2
    # The victim's order still works: a PATCH within its cash is applied.
    patched = await api.patch(f"/orders/{resting['id']}", json={"qty": 20}, headers=victim.headers)
    assert patched.status_code == 200 and patched.json()["qty"] == 20, patched.text
    await settle(db)
    assert await audit_violations(db) == {}


async def test_concurrent_retries_with_one_client_order_id_store_one_order_and_never_fail(
    api: httpx.AsyncClient, market: Market, new_trader: Callable[[], Trader], db: AsyncEngine
) -> None:
    await market.set("RETRY", "50.00")
    for _ in range(ROUNDS):
        trader = new_trader()
        body = {
            "symbol": "RETRY",
            "qty": 4,
            "side": "buy",
            "type": "limit",
            "limit_price": "10.00",
            "time_in_force": "gtc",
            "client_order_id": f"retry-{uuid.uuid4().hex}",
        }
        answers = await asyncio.gather(
            *(api.post("/orders", json=body, headers=trader.headers) for _ in range(2))
        )
        assert sorted(r.status_code for r in answers) == [200, 201], [r.text for r in answers]
        assert len({r.json()["id"] for r in answers}) == 1
        # One order, one reservation: the loser's was rolled back.
        assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("40.00"))
    await settle(db)
    assert await audit_violations(db) == {}


async def test_an_unexpected_error_is_a_json_500(trading_settings: TradingSettings) -> None:
    # The app without its lifespan has no resources: any authenticated route fails on a bug-like
    # AttributeError, which must still answer the documented error shape.
    app = create_app(trading_settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://trading") as client:
        response = await client.get("/portfolio", headers={"Authorization": "Bearer x"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "internal_error"


async def test_patch_and_delete_of_one_order_at_once_answer_consistently(
    api: httpx.AsyncClient, market: Market, new_trader: Callable[[], Trader], db: AsyncEngine
) -> None:
    """Both take the order's row lock: a cancel after a replace cancels the replaced order, a
    replace after a cancel request is 409. Neither answers with a state that is not the
    outcome of its own request."""
    await market.set("RACED", "200.00")
    outcomes = set()
    for _ in range(ROUNDS):
        trader = new_trader()
        order = await rest_limit_buy(api, trader, "RACED", 10, "1.00")
        url = f"/orders/{order['id']}"
        patch, delete = await asyncio.gather(
            api.patch(url, json={"qty": 20}, headers=trader.headers),
            api.delete(url, headers=trader.headers),
        )
        assert delete.status_code == 200, delete.text
        assert delete.json()["status"] == "canceled", delete.json()
        if patch.status_code == 200:
            assert patch.json()["qty"] == 20, patch.json()  # never the old qty
            outcomes.add("replaced, then canceled")
        else:
            assert patch.status_code == 409, patch.text
            assert patch.json()["error"] in ("order_not_open", "replace_refused")
            outcomes.add("canceled first")
        assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("0.00"))
    assert outcomes
    await settle(db)
    assert await audit_violations(db) == {}


async def test_moving_a_buy_stop_moves_its_reservation_with_its_protection_price(
    api: httpx.AsyncClient, market: Market, new_trader: Callable[[], Trader], db: AsyncEngine
) -> None:
    await market.set("STOPR", "60.00")
    trader = new_trader()
    placed = await api.post(
        "/orders?wait=true",
        json={"symbol": "STOPR", "qty": 10, "side": "buy", "type": "stop", "stop_price": "70.00"},
        headers=trader.headers,
    )
    assert placed.status_code == 201, placed.text
    url = f"/orders/{placed.json()['id']}"
    # Reserved at the stop's collar: 70.00 x 1.05 = 73.50 a share.
    assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("735.00"))

    too_far = await api.patch(url, json={"stop_price": "20000.00"}, headers=trader.headers)
    assert too_far.status_code == 409 and too_far.json()["error"] == "insufficient_funds"

    raised = await api.patch(url, json={"stop_price": "5000.00"}, headers=trader.headers)
    assert raised.status_code == 200, raised.text
    assert raised.json()["stop_price"] == "5000.00"
    # Taken at once, under the order's lock: 5,000.00 x 1.05 = 5,250.00 a share.
    assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("52500.00"))

    lowered = await api.patch(url, json={"stop_price": "4000.00"}, headers=trader.headers)
    assert lowered.status_code == 200, lowered.text
    # Given back once the engine applied it: 4,000.00 x 1.05 = 4,200.00 a share.
    assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("42000.00"))

    await market.set("STOPR", "4001.00")  # crosses the stop: a market buy up to 4,200.00
    final = (await api.get(url, headers=trader.headers)).json()
    assert final["status"] == "filled", final
    assert final["filled_qty"] == 10
    assert Decimal(final["filled_avg_price"]) <= Decimal("4200.00")
    cash, reserved = await portfolio_cash(api, trader)
    assert reserved == Decimal("0.00")
    assert cash == Decimal("100000.00") - 10 * Decimal(final["filled_avg_price"])
    await settle(db)
    assert await audit_violations(db) == {}


async def test_a_replace_accepted_before_the_engine_saw_the_order_applies_with_it(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    db: AsyncEngine,
    stack: Stack,
) -> None:
    """The PATCH's record can reach Kafka before the order's own (two producers): the engine
    then applies the pending terms when the order arrives, not the stale ones it carries."""
    await market.set("EARLY", "200.00")
    trader = new_trader()
    assert (await api.get("/portfolio", headers=trader.headers)).status_code == 200
    order_id = uuid.uuid4()
    # What POST (10 @ 1.00) and then PATCH (20 @ 2.00) store before the engine sees either.
    async with db.begin() as conn:
        row = await insert_order(
            conn,
            {
                "id": order_id,
                "account_id": trader.id,
                "client_order_id": "early",
                "symbol": "EARLY",
                "side": "buy",
                "type": "limit",
                "time_in_force": "gtc",
                "qty": 10,
                "limit_price": Decimal("1.00"),
                "status": "new",
                "reserved_cash": Decimal("40.00"),
                "replace_seq": 1,
                "pending_qty": 20,
                "pending_limit_price": Decimal("2.00"),
            },
        )
        assert row is not None
        await conn.execute(
            text("UPDATE accounts SET reserved_cash = reserved_cash + 40.00 WHERE id = :id"),
            {"id": trader.id},
        )
    async with forging_producer(stack) as producer:
        forged_early = ReplaceRequest(order_id, trader.id, 20, 200, None)
        await producer.send_and_wait(ORDERS_TOPIC, forged_early.encode(), key=b"EARLY")
        await producer.send_and_wait(
            ORDERS_TOPIC, NewOrder(to_core_order(row)).encode(), key=b"EARLY"
        )

    async def accepted() -> bool:
        return bool((await stored(db, str(order_id))).accepted_at is not None)

    await until(accepted, "the engine accepts the order")
    final = await stored(db, str(order_id))
    assert (final.qty, final.limit_price, final.status) == (20, Decimal("2.00"), "new")
    assert (final.replace_applied_seq, final.reserved_cash) == (1, Decimal("40.00"))
    assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("40.00"))
    book = (await api.get("/orderbook/EARLY?depth=10")).json()
    assert {"price": "2.00", "qty": 20, "orders": 1, "house": False} in book["bids"]
    await settle(db)
    assert await audit_violations(db) == {}


async def test_a_price_move_that_would_fill_a_corrupt_order_cancels_it_and_fills_the_rest(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    db: AsyncEngine,
    stack: Stack,
) -> None:
    """The bad command is not always the record that trips the check: a price tick filling an
    order that reserved nothing and costs more than the cash (1,000 @ 145.00 against 100,000).
    That order is canceled; the tick then applies to the rest."""
    await market.set("CORRU", "200.00")
    bystander = new_trader()
    legit = await rest_limit_buy(api, bystander, "CORRU", 5, "150.00")
    corrupt_trader = new_trader()
    assert (await api.get("/portfolio", headers=corrupt_trader.headers)).status_code == 200
    corrupt_id = uuid.uuid4()
    async with db.begin() as conn:
        row = await insert_order(
            conn,
            {
                "id": corrupt_id,
                "account_id": corrupt_trader.id,
                "client_order_id": "c",
                "symbol": "CORRU",
                "side": "buy",
                "type": "limit",
                "time_in_force": "gtc",
                "qty": 1000,
                "limit_price": Decimal("145.00"),
                "status": "new",
            },
        )
    assert row is not None
    async with forging_producer(stack) as producer:
        await producer.send_and_wait(
            ORDERS_TOPIC, NewOrder(to_core_order(row)).encode(), key=b"CORRU"
        )

    async def resting() -> bool:
        return bool((await stored(db, str(corrupt_id))).accepted_at is not None)

    await until(resting, "the unreserved order rests")  # alone it breaks nothing yet

    await market.set("CORRU", "140.00")  # the house's ask crosses both bids
    corrupt = await stored(db, str(corrupt_id))
    assert (corrupt.status, corrupt.filled_qty) == ("canceled", 0)
    assert corrupt.reject_reason.startswith("canceled by the engine")
    assert await portfolio_cash(api, corrupt_trader) == (Decimal("100000.00"), Decimal("0.00"))
    filled = (await api.get(f"/orders/{legit['id']}", headers=bystander.headers)).json()
    assert (filled["status"], filled["filled_avg_price"]) == ("filled", "150.00")
    await settle(db)
    assert await audit_violations(db) == {}
