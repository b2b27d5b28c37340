"""Cancels, replaces and GET /portfolio on asyncpg (trading_service/orders/changes.py,
portfolio.service.portfolio_pg): the same answers as the SQLAlchemy path they replace, another
user's order is 404 and untouched, a refused replace changes nothing, and a connection lost
in the middle of a request is a 503 with nothing half-done."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.trading_fixtures import Market, Trader, audit_violations, settle, until
from tests.trading_service.test_dead_connections import assert_unavailable
from tests.trading_service.test_order_races import portfolio_cash, rest_limit_buy, stored
from trading_service.orders import service
from trading_service.portfolio import service as portfolio_service


async def test_another_users_order_is_404_to_cancel_and_replace_and_stays_as_it_was(
    api: httpx.AsyncClient, market: Market, new_trader: Callable[[], Trader], db: AsyncEngine
) -> None:
    await market.set("OWNED", "50.00")
    owner, other = new_trader(), new_trader()
    order = await rest_limit_buy(api, owner, "OWNED", 4, "10.00")
    url = f"/orders/{order['id']}"
    deleted = await api.delete(url, headers=other.headers)
    assert deleted.status_code == 404, deleted.text
    assert deleted.json() == {"error": "not_found", "detail": "no such order"}
    patched = await api.patch(url, json={"qty": 8}, headers=other.headers)
    assert patched.status_code == 404, patched.text
    row = await stored(db, order["id"])
    assert (row.status, row.cancel_requested_at, row.replace_seq) == ("new", None, 0)
    assert await portfolio_cash(api, owner) == (Decimal("100000.00"), Decimal("40.00"))
    # The owner still can.
    canceled = await api.delete(url, headers=owner.headers)
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    again = await api.delete(url, headers=owner.headers)
    assert again.status_code == 409, again.text
    assert again.json() == {
        "error": "order_not_open",
        "detail": "order is canceled; only open orders can be canceled",
    }


async def test_a_replace_refused_for_cash_or_shares_changes_nothing(
    api: httpx.AsyncClient, market: Market, new_trader: Callable[[], Trader], db: AsyncEngine
) -> None:
    await market.set("SHORTR", "10.00")
    trader = new_trader()
    buy = await rest_limit_buy(api, trader, "SHORTR", 10, "1.00")
    refused = await api.patch(
        f"/orders/{buy['id']}", json={"qty": 1_000_000}, headers=trader.headers
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "insufficient_funds"
    assert "needs 999990.00 more" in refused.json()["detail"]
    assert (await stored(db, buy["id"])).replace_seq == 0
    assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("10.00"))
    grown = await api.patch(f"/orders/{buy['id']}", json={"qty": 30}, headers=trader.headers)
    assert grown.status_code == 200, grown.text
    assert grown.json()["qty"] == 30
    assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("30.00"))

    bought = await api.post(
        "/trade/buy", json={"stock_symbol": "SHORTR", "quantity": 5}, headers=trader.headers
    )
    assert bought.json()["status"] == "filled", bought.text
    sell = await api.post(
        "/orders?wait=true",
        json={"symbol": "SHORTR", "qty": 2, "side": "sell", "type": "limit",
              "limit_price": "99.00", "time_in_force": "gtc"},
        headers=trader.headers,
    )  # fmt: skip
    assert sell.status_code == 201, sell.text
    url = f"/orders/{sell.json()['id']}"
    too_many = await api.patch(url, json={"qty": 6}, headers=trader.headers)
    assert too_many.status_code == 409, too_many.text
    assert too_many.json() == {
        "error": "insufficient_shares",
        "detail": "the change needs 4 more SHORTR; 3 are available",
    }
    assert (await reserved_shares(db, trader, "SHORTR")) == 2
    assert (await stored(db, sell.json()["id"])).replace_seq == 0
    all_of_them = await api.patch(url, json={"qty": 5}, headers=trader.headers)
    assert all_of_them.status_code == 200, all_of_them.text
    assert (await reserved_shares(db, trader, "SHORTR")) == 5
    await settle(db)
    assert await audit_violations(db) == {}


async def reserved_shares(db: AsyncEngine, trader: Trader, symbol: str) -> int:
    async with db.connect() as conn:
        reserved: int = (
            await conn.execute(
                text("SELECT reserved_qty FROM positions WHERE account_id = :a AND symbol = :s"),
                {"a": trader.id, "s": symbol},
            )
        ).scalar_one()
    return reserved


async def test_two_replaces_and_a_cancel_of_one_order_at_once_stay_consistent(
    api: httpx.AsyncClient, market: Market, new_trader: Callable[[], Trader], db: AsyncEngine
) -> None:
    """Each change is checked against the one before it under the order's lock: whatever the
    order they land in, the cancel ends the order and every reservation is given back."""
    await market.set("TRIO", "300.00")
    for _ in range(8):
        trader = new_trader()
        order = await rest_limit_buy(api, trader, "TRIO", 10, "2.00")
        url = f"/orders/{order['id']}"
        first, second, delete = await asyncio.gather(
            api.patch(url, json={"qty": 30}, headers=trader.headers),
            api.patch(url, json={"limit_price": "3.00"}, headers=trader.headers),
            api.delete(url, headers=trader.headers),
        )
        assert delete.status_code == 200, delete.text
        assert delete.json()["status"] == "canceled"
        for patch in (first, second):
            assert patch.status_code in (200, 409), patch.text
            if patch.status_code == 409:
                assert patch.json()["error"] in ("order_not_open", "replace_refused")
        assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("0.00"))
    await settle(db)
    assert await audit_violations(db) == {}


async def test_a_replace_holds_no_lock_while_it_plans_and_a_change_in_between_is_checked_again(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    db: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While one PATCH is being planned, another PATCH of the same order goes through whole
    (the first holds no lock on the order then); the first, finding the order changed, is
    checked again against the second's terms and reserves what both together need."""
    await market.set("PLANR", "200.00")
    trader = new_trader()
    order = await rest_limit_buy(api, trader, "PLANR", 1000, "1.00")
    url = f"/orders/{order['id']}"
    plan = service.plan_replace
    between: list[httpx.Response] = []
    plans = 0

    async def plan_with_another_patch_meanwhile(*args: Any) -> Any:
        nonlocal plans
        plans += 1
        if plans == 1:
            # Before the first plan is done: the second PATCH, sent and answered meanwhile.
            between.append(await api.patch(url, json={"qty": 2000}, headers=trader.headers))
        return await plan(*args)

    monkeypatch.setattr(service, "plan_replace", plan_with_another_patch_meanwhile)
    first = await asyncio.wait_for(
        api.patch(url, json={"limit_price": "2.00"}, headers=trader.headers), 30
    )
    assert between[0].status_code == 200, between[0].text
    assert between[0].json()["qty"] == 2000
    assert first.status_code == 200, first.text
    assert (first.json()["qty"], first.json()["limit_price"]) == (2000, "2.00")
    assert (await stored(db, order["id"])).replace_seq == 2
    assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("4000.00"))
    await settle(db)
    assert await audit_violations(db) == {}


async def test_the_portfolio_on_asyncpg_answers_what_the_sqlalchemy_one_does(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    db: AsyncEngine,
    trading_app: FastAPI,
) -> None:
    await market.set("PFA", "20.00")
    await market.set("PFB", "7.00")
    trader = new_trader()
    for symbol, qty in (("PFA", 5), ("PFB", 9), ("PFA", 3)):
        bought = await api.post(
            "/trade/buy", json={"stock_symbol": symbol, "quantity": qty}, headers=trader.headers
        )
        assert bought.json()["status"] == "filled", bought.text
    sold = await api.post(
        "/trade/sell", json={"stock_symbol": "PFB", "quantity": 9}, headers=trader.headers
    )
    assert sold.json()["status"] == "filled", sold.text  # sold out: a qty-0 position
    await rest_limit_buy(api, trader, "PFA", 2, "1.00")
    await market.set("PFA", "21.50")

    async def daily_bars_stored() -> bool:
        # The day's open comes from the stored daily bar, which the candle builder writes a
        # moment after a symbol's first tick: both reads must see both symbols' bars (PFB's
        # too, sold out today but still in the day's change), or they differ only by timing.
        async with db.connect() as conn:
            count = await conn.scalar(
                text(
                    "SELECT count(DISTINCT symbol) FROM candles"
                    " WHERE symbol IN ('PFA', 'PFB') AND interval = '1d'"
                )
            )
        return count == 2

    await until(daily_bars_stored, "PFA's and PFB's daily bars are stored")
    answer = (await api.get("/portfolio", headers=trader.headers)).json()
    resources = trading_app.state.resources
    async with db.connect() as conn:
        expected = await portfolio_service.portfolio(
            conn, resources.prices, trading_app.state.clock, trader.id, datetime.now(UTC)
        )
    assert answer == expected.model_dump(mode="json")
    assert [p["symbol"] for p in answer["positions"]] == ["PFA"]
    assert answer["reserved_cash"] == "2.00"


async def hold_order_lock(
    db: AsyncEngine, order_id: str, locked: asyncio.Event, release: asyncio.Event
) -> None:
    """Lock the order's row until `release`: a request changing it waits in PostgreSQL."""
    async with db.begin() as conn:
        await conn.execute(
            text("SELECT id FROM orders WHERE id = :id FOR UPDATE"), {"id": order_id}
        )
        locked.set()
        await release.wait()


async def terminate_waiting_reader(db: AsyncEngine) -> int:
    """End the API's asyncpg connection that waits for a row lock (what a crash of its backend
    or a restart of PostgreSQL does to a request in flight)."""
    async with db.connect() as conn:
        ended: int = (
            await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'stocksim-trading-reads' "
                    "AND wait_event_type = 'Lock'"
                )
            )
        ).scalar_one()
    return ended


async def waiting_readers(db: AsyncEngine) -> bool:
    async with db.connect() as conn:
        waiting: int = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND application_name = 'stocksim-trading-reads'"
                )
            )
        ).scalar_one()
    return waiting > 0


async def test_a_connection_lost_during_a_cancel_or_replace_is_a_503_and_changes_nothing(
    api: httpx.AsyncClient, market: Market, new_trader: Callable[[], Trader], db: AsyncEngine
) -> None:
    await market.set("LOSTC", "40.00")
    trader = new_trader()
    order = await rest_limit_buy(api, trader, "LOSTC", 3, "5.00")
    url = f"/orders/{order['id']}"
    requests: list[Callable[[], Any]] = [
        lambda: api.patch(url, json={"qty": 6}, headers=trader.headers),
        lambda: api.delete(url, headers=trader.headers),
    ]
    for send in requests:
        locked, release = asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(hold_order_lock(db, order["id"], locked, release))
        await locked.wait()
        request = asyncio.create_task(send())
        await until(lambda: waiting_readers(db), "the request waits for the order's lock")
        assert await terminate_waiting_reader(db) == 1
        answer = await request
        release.set()
        await holder
        assert_unavailable(answer)
        row = await stored(db, order["id"])
        assert (row.status, row.cancel_requested_at, row.replace_seq) == ("new", None, 0)
        assert await portfolio_cash(api, trader) == (Decimal("100000.00"), Decimal("15.00"))
    # The pool serves the retry on a fresh connection.
    replaced = await requests[0]()
    assert replaced.status_code == 200, replaced.text
    canceled = await requests[1]()
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    await settle(db)
    assert await audit_violations(db) == {}


async def test_more_requests_at_once_than_redis_connections_wait_for_one_not_503(
    api: httpx.AsyncClient, market: Market, trader: Trader
) -> None:
    """Each request reads Redis (token checks, prices); a burst beyond the pool's 100
    connections queues for a connection instead of being answered 503."""
    await market.set("BURST", "10.00")
    answers = await asyncio.gather(
        *(api.get("/portfolio", headers=trader.headers) for _ in range(300))
    )
    assert sorted({a.status_code for a in answers}) == [200], {
        a.status_code: a.text for a in answers
    }
