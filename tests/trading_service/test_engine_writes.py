"""What the engine writes for one batch in one statement (engine/repository.py): every trade and
fill of an order that sweeps several levels, numbered in the order they happened."""

from __future__ import annotations

from decimal import Decimal

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.trading_fixtures import Market, Trader, audit_violations, settle
from trading_service.tables import fills, trades


async def place(api: httpx.AsyncClient, trader: Trader, **body: object) -> dict:
    response = await api.post("/orders?wait=true", json=body, headers=trader.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def test_a_sweep_writes_its_trades_and_fills_numbered_in_matching_order(
    api: httpx.AsyncClient, market: Market, new_trader, db: AsyncEngine
) -> None:
    seller, buyer = new_trader(), new_trader()
    await market.set("SWEEP", "100.00")  # house 99.95 / 100.05
    await place(api, seller, symbol="SWEEP", qty=30, side="buy", type="market")
    for price in ("100.03", "100.01", "100.02"):  # rest better than the house ask
        await place(
            api, seller, symbol="SWEEP", qty=10, side="sell", type="limit", limit_price=price,
            time_in_force="gtc",
        )  # fmt: skip
    sweep = await place(
        api, buyer, symbol="SWEEP", qty=35, side="buy", type="limit", limit_price="100.05"
    )
    assert sweep["status"] == "filled" and sweep["filled_qty"] == 35

    async with db.connect() as conn:
        taken = (
            await conn.execute(
                select(trades.c.id, trades.c.price, trades.c.qty, trades.c.sell_order_id)
                .where(trades.c.buy_order_id == sweep["id"])
                .order_by(trades.c.id)
            )
        ).all()
        buyer_fills = (
            await conn.execute(
                select(fills.c.trade_id, fills.c.price, fills.c.qty, fills.c.liquidity)
                .where(fills.c.order_id == sweep["id"])
                .order_by(fills.c.trade_id)
            )
        ).all()
    # Best price first, the house last; ids ascend in that order.
    assert [(t.price, t.qty) for t in taken] == [
        (Decimal("100.01"), 10), (Decimal("100.02"), 10), (Decimal("100.03"), 10),
        (Decimal("100.05"), 5),
    ]  # fmt: skip
    assert taken[-1].sell_order_id is None  # the house sold the rest
    assert [(f.trade_id, f.price, f.qty, f.liquidity) for f in buyer_fills] == [
        (t.id, t.price, t.qty, "taker") for t in taken
    ]
    await settle(db)
    assert await audit_violations(db) == {}
