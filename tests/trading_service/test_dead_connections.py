"""Pooled connections PostgreSQL dropped (as after its restart) are not pinged before use: the
request that meets one is answered 503 with Retry-After, never 500, nothing half-done, and the
next request gets a fresh connection."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.trading_fixtures import Market, Trader

ATTEMPTS = 10


async def drop_connections(db: AsyncEngine, application_name: str) -> int:
    """Terminate the API's idle connections of that name (what a PostgreSQL restart does)."""
    async with db.connect() as conn:
        dropped: int = (
            await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name LIKE :name AND state = 'idle'"
                ),
                {"name": application_name},
            )
        ).scalar_one()
    return dropped


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json() == {
        "error": "service_unavailable",
        "detail": "the database is unreachable; try again shortly",
    }


async def test_a_dropped_connection_is_a_503_then_the_pool_reconnects(
    api: httpx.AsyncClient, trader: Trader, db: AsyncEngine
) -> None:
    assert (await api.get("/orders", headers=trader.headers)).status_code == 200
    unavailable = 0
    for _ in range(ATTEMPTS):
        assert await drop_connections(db, "stocksim-trading") > 0
        # A connection that was busy while the others were dropped may serve a request first.
        for _ in range(3):
            answer = await api.get("/orders", headers=trader.headers)
            if answer.status_code != 503:
                assert answer.status_code == 200, answer.text
                continue
            assert_unavailable(answer)
            unavailable += 1
            # The failure invalidated every connection of the pool older than it.
            after = await api.get("/orders", headers=trader.headers)
            assert after.status_code == 200, after.text
            break
    # Without a ping per checkout, the failing statement is what finds the dead connection.
    assert unavailable > 0


async def test_order_entry_on_a_dropped_connection_is_a_503_or_stored_once(
    api: httpx.AsyncClient, market: Market, new_trader: Callable[[], Trader], db: AsyncEngine
) -> None:
    await market.set("DEAD", "10.00")
    for attempt in range(ATTEMPTS):
        trader = new_trader()
        body = {
            "symbol": "DEAD",
            "qty": 1,
            "side": "buy",
            "type": "limit",
            "limit_price": "1.00",
            "time_in_force": "gtc",
            "client_order_id": uuid.uuid4().hex,
        }
        # Every other one waits for the engine: its answer is read on the reads' pool.
        url = "/orders?wait=true" if attempt % 2 else "/orders"
        # A connection the previous attempt's drop killed, that nothing met since (PostgreSQL
        # ends a terminated backend a moment later), may meet this read first: one 503.
        ready = await api.get("/portfolio", headers=trader.headers)
        if ready.status_code == 503:
            assert_unavailable(ready)
            ready = await api.get("/portfolio", headers=trader.headers)
        assert ready.status_code == 200, ready.text
        await drop_connections(db, "stocksim-trading-%")  # order entry and its reads
        first = await api.post(url, json=body, headers=trader.headers)
        if first.status_code == 503:
            assert_unavailable(first)
        else:
            assert first.status_code == 201, first.text
        # The client retries with its client_order_id: one order, whenever the 503 came.
        retry = await api.post(url, json=body, headers=trader.headers)
        assert retry.status_code in ((200, 201) if first.status_code == 503 else (200,))
        orders = (await api.get("/orders", headers=trader.headers)).json()
        assert [o["client_order_id"] for o in orders] == [body["client_order_id"]]
