"""Group commit of order entry (trading_service/orders/group_commit.py) on the real PostgreSQL.

Placements are queued before a flusher runs, so they are applied as ONE group: one transaction,
which the orders' xmin shows. A refused order in the group changes nothing and fails alone.
The orders are never handed to Kafka here: the outbox sweep of the session's API sends them to
the engine, and the audit afterwards must be clean.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.stack import Stack
from shared.db import create_pg_pool
from tests.trading_fixtures import Market, Trader, audit_violations, settle
from trading_service.config import TradingSettings
from trading_service.engine.core.model import OrderType, Side, TimeInForce
from trading_service.messages import PriceTick
from trading_service.orders import repository
from trading_service.orders.group_commit import OrderGroups
from trading_service.orders.schemas import OrderRequest
from trading_service.orders.service import InsufficientFunds, InsufficientShares

LAST = PriceTick("GROUP", Decimal("50.00"), "2026-01-01T00:00:00.000Z", 1)


@pytest.fixture
async def groups(stack: Stack) -> AsyncIterator[OrderGroups]:
    pool = await create_pg_pool(stack.database_url, 1, "test-group-commit")
    yield OrderGroups(pool)
    await pool.close()


def limit_buy(qty: int, price: str, client_order_id: str | None = None) -> OrderRequest:
    return OrderRequest(
        symbol="GROUP",
        qty=qty,
        side=Side.BUY,
        type=OrderType.LIMIT,
        limit_price=Decimal(price),
        time_in_force=TimeInForce.GTC,
        client_order_id=client_order_id,
    )


async def one_group(
    groups: OrderGroups, placements: list[tuple[Trader, OrderRequest]], collar_bps: int
) -> list[Any]:
    """Queue every placement, then let one flusher take them all at once."""
    tasks = [
        asyncio.create_task(groups.place(t.id, request, LAST, collar_bps))
        for t, request in placements
    ]
    await asyncio.sleep(0)  # every placement is queued before the flusher starts
    flusher = asyncio.create_task(groups.run())
    try:
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)


def group_sizes() -> tuple[float, float]:
    """stocksim_order_group_size: (groups committed, orders in them) in this process."""
    count = REGISTRY.get_sample_value("stocksim_order_group_size_count") or 0.0
    total = REGISTRY.get_sample_value("stocksim_order_group_size_sum") or 0.0
    return count, total


async def signed_up(
    api: httpx.AsyncClient, new_trader: Callable[[], Trader], n: int
) -> list[Trader]:
    traders = [new_trader() for _ in range(n)]
    for t in traders:  # the first request creates the personal account
        assert (await api.get("/portfolio", headers=t.headers)).status_code == 200
    return traders


async def placed_over_http(
    api: httpx.AsyncClient, trader: Trader, qty: int, client_order_id: str
) -> dict[str, Any]:
    """A GTC limit buy at 1.00 placed through the API (not in a test's group): the order."""
    placed = await api.post(
        "/orders",
        json={
            "symbol": "GROUP",
            "qty": qty,
            "side": "buy",
            "type": "limit",
            "limit_price": "1.00",
            "time_in_force": "gtc",
            "client_order_id": client_order_id,
        },
        headers=trader.headers,
    )
    assert placed.status_code == 201, placed.text
    order: dict[str, Any] = placed.json()
    return order


async def reserved(db: AsyncEngine, trader: Trader) -> Decimal:
    async with db.connect() as conn:
        value: Decimal = (
            await conn.execute(
                text("SELECT reserved_cash FROM accounts WHERE id = :id"), {"id": trader.id}
            )
        ).scalar_one()
    return value


async def xmins(db: AsyncEngine, ids: list[uuid.UUID]) -> set[str]:
    async with db.connect() as conn:
        rows = await conn.execute(
            text("SELECT xmin::text FROM orders WHERE id = ANY(:ids)"), {"ids": ids}
        )
        return {r[0] for r in rows}


async def test_a_group_stores_its_good_orders_in_one_transaction_and_refuses_bad_ones_alone(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    db: AsyncEngine,
    groups: OrderGroups,
    trading_settings: TradingSettings,
) -> None:
    await market.set("GROUP", "50.00")
    good, poor, seller, overflow = await signed_up(api, new_trader, 4)
    # A symbol PostgreSQL cannot store (validation keeps NUL bytes out; here it is forced in):
    # its statement fails and aborts the group's transaction, which is then applied again order
    # by order.
    unstorable = OrderRequest.model_construct(
        **{**limit_buy(1, "1.00").__dict__, "symbol": "GR\x00"}
    )
    sell = OrderRequest(symbol="GROUP", qty=5, side=Side.SELL, type=OrderType.MARKET)
    outcomes = await one_group(
        groups,
        [
            (good, limit_buy(10, "1.00")),
            (poor, limit_buy(10_000, "20.00")),  # needs 200,000.00 of 100,000.00
            (good, limit_buy(20, "1.00")),
            (seller, sell),  # holds no GROUP
            (overflow, unstorable),
            (good, limit_buy(30, "1.00")),
        ],
        trading_settings.market_collar_bps,
    )
    first, refused, second, unsold, failed, third = outcomes
    assert isinstance(refused, InsufficientFunds), refused
    assert "buying power is 100000.00" in refused.detail
    assert isinstance(unsold, InsufficientShares), unsold
    assert isinstance(failed, asyncpg.PostgresError), failed
    for placed in (first, second, third):
        assert not isinstance(placed, BaseException), placed
        assert placed[1] is True
    assert [o[0].qty for o in (first, second, third)] == [10, 20, 30]
    # The three good orders committed together; the refused ones changed nothing.
    assert len(await xmins(db, [o[0].id for o in (first, second, third)])) == 1
    assert await reserved(db, good) == Decimal("60.00")
    for t in (poor, seller, overflow):
        assert await reserved(db, t) == Decimal("0.00")
        async with db.connect() as conn:
            count = (
                await conn.execute(
                    text("SELECT count(*) FROM orders WHERE account_id = :a"), {"a": t.id}
                )
            ).scalar_one()
        assert count == 0
    await settle(db)  # the outbox sweep hands them to the engine
    assert await audit_violations(db) == {}


async def test_one_account_twice_in_a_group_with_cash_for_one_order(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    db: AsyncEngine,
    groups: OrderGroups,
    trading_settings: TradingSettings,
) -> None:
    await market.set("GROUP", "50.00")
    (trader,) = await signed_up(api, new_trader, 1)
    groups_before = group_sizes()
    # 60,000.00 each of the account's 100,000.00.
    first, second = await one_group(
        groups,
        [(trader, limit_buy(3_000, "20.00")), (trader, limit_buy(3_000, "20.00"))],
        trading_settings.market_collar_bps,
    )
    assert not isinstance(first, BaseException), first
    assert isinstance(second, InsufficientFunds), second
    assert "buying power is 40000.00" in second.detail
    assert await reserved(db, trader) == Decimal("60000.00")
    # One group of two, as /metrics shows it.
    assert group_sizes() == (groups_before[0] + 1, groups_before[1] + 2)
    await settle(db)
    assert await audit_violations(db) == {}


async def test_client_order_ids_in_a_group_store_one_order_each(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    db: AsyncEngine,
    groups: OrderGroups,
    trading_settings: TradingSettings,
) -> None:
    """A retry in the same group, a retry of an order committed earlier, and a new id."""
    await market.set("GROUP", "50.00")
    (trader,) = await signed_up(api, new_trader, 1)
    earlier = await placed_over_http(api, trader, 1, "earlier")
    twice, again, retried, fresh = await one_group(
        groups,
        [
            (trader, limit_buy(2, "1.00", "twice")),
            (trader, limit_buy(2, "1.00", "twice")),
            (trader, limit_buy(1, "1.00", "earlier")),
            (trader, limit_buy(3, "1.00", "fresh")),
        ],
        trading_settings.market_collar_bps,
    )
    assert twice[1] is True and again[1] is False and again[0].id == twice[0].id
    assert retried[1] is False and str(retried[0].id) == earlier["id"]
    assert fresh[1] is True
    # 1 + 2 + 3 shares at 1.00: the retries reserved nothing.
    assert await reserved(db, trader) == Decimal("6.00")
    await settle(db)
    assert await audit_violations(db) == {}


async def test_orders_sent_at_once_over_http_are_answered_after_their_own_commit(
    api: httpx.AsyncClient, market: Market, new_trader: Callable[[], Trader], db: AsyncEngine
) -> None:
    """Through POST /orders: every 201 is an order already stored; the poor one is 409."""
    await market.set("GROUP", "50.00")
    traders = await signed_up(api, new_trader, 8)
    bodies = [
        {"symbol": "GROUP", "qty": 10_000 if i == 3 else 2, "side": "buy", "type": "limit",
         "limit_price": "20.00", "time_in_force": "gtc"}
        for i in range(len(traders))
    ]  # fmt: skip
    answers = await asyncio.gather(
        *(
            api.post("/orders", json=b, headers=t.headers)
            for t, b in zip(traders, bodies, strict=True)
        )
    )
    for i, answer in enumerate(answers):
        if i == 3:
            assert answer.status_code == 409, answer.text
            assert answer.json()["error"] == "insufficient_funds"
            continue
        assert answer.status_code == 201, answer.text
        async with db.connect() as conn:  # committed before the answer: visible to anyone
            stored = (
                await conn.execute(
                    text("SELECT qty FROM orders WHERE id = :id"), {"id": answer.json()["id"]}
                )
            ).scalar_one()
        assert stored == 2
    assert await reserved(db, traders[3]) == Decimal("0.00")
    await settle(db)
    assert await audit_violations(db) == {}


async def test_a_bug_met_by_one_order_fails_it_alone(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    db: AsyncEngine,
    groups: OrderGroups,
    trading_settings: TradingSettings,
) -> None:
    await market.set("GROUP", "50.00")
    good, broken = await signed_up(api, new_trader, 2)
    # A quantity no validated request can carry: computing its reservation raises.
    nonsense = OrderRequest.model_construct(**{**limit_buy(1, "1.00").__dict__, "qty": "many"})
    stored, failed = await one_group(
        groups,
        [(good, limit_buy(5, "1.00")), (broken, nonsense)],
        trading_settings.market_collar_bps,
    )
    assert isinstance(failed, TypeError), failed
    assert not isinstance(stored, BaseException) and stored[1] is True
    assert await reserved(db, good) == Decimal("5.00")
    assert await reserved(db, broken) == Decimal("0.00")
    await settle(db)
    assert await audit_violations(db) == {}


async def test_new_orders_go_in_one_round_trip_applied_in_order(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    db: AsyncEngine,
    groups: OrderGroups,
    trading_settings: TradingSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One statement per order still, in the same order (each sees the ones before it), but a
    run of them sent together, a new client_order_id among them; a client_order_id repeated
    within the group is applied alone, after the run, and answers the order stored in it."""
    await market.set("GROUP", "50.00")
    (trader,) = await signed_up(api, new_trader, 1)
    runs: list[int] = []
    real = repository.place_reserved_many

    async def counted(pg: Any, values: list[dict[str, Any]]) -> list[Any]:
        runs.append(len(values))
        return await real(pg, values)

    monkeypatch.setattr(repository, "place_reserved_many", counted)
    # 100,000.00 of buying power: 60,000 fits, the next 60,000 no more, 30,000 still fits.
    outcomes = await one_group(
        groups,
        [
            (trader, limit_buy(3_000, "20.00")),
            (trader, limit_buy(3_000, "20.00")),
            (trader, limit_buy(1_500, "20.00")),
            (trader, limit_buy(1, "1.00", "with-id")),
            (trader, limit_buy(500, "20.00")),
            (trader, limit_buy(1, "1.00")),
            (trader, limit_buy(1, "1.00", "with-id")),
        ],
        trading_settings.market_collar_bps,
    )
    assert runs == [6]
    first, refused, third, with_id, too_much, last, repeated = outcomes
    assert not isinstance(repeated, BaseException) and not isinstance(with_id, BaseException)
    assert repeated[1] is False and repeated[0].id == with_id[0].id
    assert isinstance(refused, InsufficientFunds), refused
    assert "buying power is 40000.00" in refused.detail  # as the statement saw it
    assert isinstance(too_much, InsufficientFunds), too_much
    assert "buying power is 9999.00" in too_much.detail
    for placed in (first, third, with_id, last):
        assert not isinstance(placed, BaseException) and placed[1] is True, placed
    assert await reserved(db, trader) == Decimal("90002.00")
    await settle(db)
    assert await audit_violations(db) == {}


async def test_a_group_without_client_order_ids_is_one_implicit_transaction(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    db: AsyncEngine,
    groups: OrderGroups,
    trading_settings: TradingSettings,
) -> None:
    """Sent as one pipeline without BEGIN/COMMIT: the stored orders share one transaction, a
    refused one changed nothing, the account's reservation counts each stored order once."""
    await market.set("GROUP", "50.00")
    a, b = await signed_up(api, new_trader, 2)
    outcomes = await one_group(
        groups,
        [
            (a, limit_buy(10, "1.00")),
            (b, limit_buy(10_000, "20.00")),  # needs 200,000.00 of 100,000.00
            (a, limit_buy(20, "1.00")),
            (b, limit_buy(3, "1.00")),
        ],
        trading_settings.market_collar_bps,
    )
    first, refused, second, third = outcomes
    assert isinstance(refused, InsufficientFunds), refused
    assert "buying power is 100000.00" in refused.detail
    stored = [o[0].id for o in (first, second, third)]
    assert len(await xmins(db, stored)) == 1
    assert (await reserved(db, a), await reserved(db, b)) == (Decimal("30.00"), Decimal("3.00"))
    await settle(db)
    assert await audit_violations(db) == {}


async def test_a_client_order_id_stored_meanwhile_by_another_process_reserves_nothing_twice(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    db: AsyncEngine,
    groups: OrderGroups,
    trading_settings: TradingSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The group looks its client_order_ids up before its transaction; one that another process
    commits after that look fails the run (no reservation kept without its order), and the
    group, applied again one order at a time, answers it with the stored order."""
    await market.set("GROUP", "50.00")
    (trader,) = await signed_up(api, new_trader, 1)
    other = await placed_over_http(api, trader, 4, "raced")

    async def looked_before_it_was_stored(pg: Any, asked: list[Any]) -> list[Any]:
        return []

    monkeypatch.setattr(repository, "orders_by_client_ids", looked_before_it_was_stored)
    before, raced, after = await one_group(
        groups,
        [
            (trader, limit_buy(1, "1.00")),
            (trader, limit_buy(2, "1.00", "raced")),
            (trader, limit_buy(3, "1.00", "new")),
        ],
        trading_settings.market_collar_bps,
    )
    assert not isinstance(raced, BaseException), raced
    assert raced[1] is False and str(raced[0].id) == other["id"]
    for placed in (before, after):
        assert not isinstance(placed, BaseException) and placed[1] is True, placed
    # 4 (the other process's) + 1 + 3 at 1.00: the raced retry reserved nothing.
    assert await reserved(db, trader) == Decimal("8.00")
    await settle(db)
    assert await audit_violations(db) == {}
