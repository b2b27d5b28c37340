"""A bot written for Alpaca drives a real trading service through alpaca-py, unchanged.

A live uvicorn serves the trading app (tests/live_server.py) on the session's PostgreSQL,
Redis, Kafka and engine; the key comes from the user service's POST /api-keys.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import (
    AssetClass,
    AssetStatus,
    OrderSide,
    OrderStatus,
    OrderType,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetCalendarRequest,
    GetOrdersRequest,
    GetPortfolioHistoryRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopOrderRequest,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.alpaca.conftest import KeyHolder, new_key_holder
from tests.live_server import serve
from tests.trading_fixtures import Market, SigningKey, audit_violations, settle
from trading_service.alpaca.mapping import asset_id
from trading_service.app import create_app
from trading_service.config import TradingSettings

SYMBOL = "ALPBOT"


@pytest.fixture(scope="module")
async def live(trading_settings: TradingSettings, engine: object) -> AsyncIterator[str]:
    async with serve(create_app(trading_settings)) as host:
        yield f"http://{host}"


def client_for(holder: KeyHolder, url: str) -> TradingClient:
    return TradingClient(holder.key_id, holder.secret, paper=True, url_override=url)


async def call(fn, *args):  # type: ignore[no-untyped-def]
    # alpaca-py is synchronous: off the event loop, which serves the live trading service.
    return await asyncio.to_thread(fn, *args)


async def test_a_bot_trades_through_alpaca_py_unchanged(
    live: str,
    users: httpx.AsyncClient,
    api: httpx.AsyncClient,
    market: Market,
    signing_key: SigningKey,
    db: AsyncEngine,
) -> None:
    holder = await new_key_holder(users, "alpaca bot")
    bot = client_for(holder, live)
    await market.set(SYMBOL, "50.00")

    account = await call(bot.get_account)
    assert account.status == "ACTIVE" and account.currency == "USD"
    assert Decimal(account.cash) == Decimal(account.buying_power) == Decimal("100000.00")
    assert account.equity == account.portfolio_value == "100000.00"

    clock = await call(bot.get_clock)
    assert clock.is_open and clock.next_close > clock.timestamp
    today = clock.timestamp.date()
    days = await call(
        bot.get_calendar, GetCalendarRequest(start=today, end=today + timedelta(days=13))
    )
    assert 9 <= len(days) <= 10 and all(d.date.weekday() < 5 for d in days)
    assert days[0].open.hour == 9 and days[0].open.minute == 30

    assets = await call(bot.get_all_assets)
    mine = [a for a in assets if a.symbol == SYMBOL]
    assert len(mine) == 1 and mine[0].id == asset_id(SYMBOL)
    assert mine[0].asset_class is AssetClass.US_EQUITY and mine[0].status is AssetStatus.ACTIVE
    assert mine[0].tradable and not (mine[0].shortable or mine[0].fractionable)
    assert (await call(bot.get_asset, SYMBOL)).id == (await call(bot.get_asset, mine[0].id)).id

    # A market buy (alpaca-py sends qty as 10.0), answered once the engine filled it.
    bought = await call(
        bot.submit_order,
        MarketOrderRequest(
            symbol=SYMBOL, qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
        ),
    )
    assert bought.status is OrderStatus.FILLED and bought.filled_qty == "10"
    assert bought.filled_at is not None and Decimal(bought.filled_avg_price) > Decimal("50")

    # One domain: the JWT API shows the same order under the same id.
    bearer = {"Authorization": f"Bearer {signing_key.token(holder.user_id)}"}
    seen = await api.get(f"/orders/{bought.id}", headers=bearer)
    assert seen.status_code == 200 and seen.json()["status"] == "filled"

    # A resting limit, replaced (a new order replaces it), then canceled.
    resting = await call(
        bot.submit_order,
        LimitOrderRequest(
            symbol=SYMBOL,
            qty=5,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            limit_price=40.0,
            client_order_id="bot-rest-1",
        ),
    )
    assert resting.status is OrderStatus.NEW and resting.limit_price == "40.00"
    assert (await call(bot.get_order_by_client_id, "bot-rest-1")).id == resting.id
    replacement = await call(
        bot.replace_order_by_id, resting.id, ReplaceOrderRequest(qty=6, limit_price=41.0)
    )
    assert replacement.id != resting.id and replacement.replaces == resting.id
    assert replacement.qty == "6" and replacement.limit_price == "41.00"
    assert replacement.status is OrderStatus.NEW
    old = await call(bot.get_order_by_id, resting.id)
    assert old.status is OrderStatus.REPLACED and old.replaced_by == replacement.id
    assert old.replaced_at is not None
    await call(bot.cancel_order_by_id, replacement.id)
    canceled = await call(bot.get_order_by_id, replacement.id)
    assert canceled.status is OrderStatus.CANCELED and canceled.canceled_at is not None

    # Stop and stop-limit orders rest until their stop; cancel_orders cancels both (207).
    for request in (
        StopOrderRequest(
            symbol=SYMBOL, qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.GTC, stop_price=30
        ),
        StopLimitOrderRequest(
            symbol=SYMBOL,
            qty="1",
            side=OrderSide.SELL,
            time_in_force=TimeInForce.DAY,
            stop_price=30,
            limit_price=29.5,
        ),
    ):
        order = await call(bot.submit_order, request)
        assert order.status is OrderStatus.NEW and order.order_type in (
            OrderType.STOP,
            OrderType.STOP_LIMIT,
        )
    open_orders = await call(bot.get_orders, GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert len(open_orders) == 2
    statuses = await call(bot.cancel_orders)
    assert sorted(s.status for s in statuses) == [200, 200]
    assert await call(bot.get_orders, GetOrdersRequest(status=QueryOrderStatus.OPEN)) == []
    every = await call(
        bot.get_orders,
        GetOrdersRequest(status=QueryOrderStatus.ALL, symbols=[SYMBOL], direction="asc"),
    )
    assert [o.id for o in every][:3] == [bought.id, resting.id, replacement.id]
    assert len(every) == 5
    assert len(await call(bot.get_orders, GetOrdersRequest(status="all", limit=2))) == 2

    # Positions, closed by qty, by percentage, then all.
    [position] = await call(bot.get_all_positions)
    assert position.symbol == SYMBOL and position.qty == "10" and position.side == "long"
    assert (await call(bot.get_open_position, SYMBOL)).qty == "10"
    sold = await call(bot.close_position, SYMBOL, ClosePositionRequest(qty="4"))
    assert sold.side is OrderSide.SELL and sold.filled_qty == "4"
    sold = await call(bot.close_position, SYMBOL, ClosePositionRequest(percentage="50"))
    assert sold.filled_qty == "3"
    closed = await call(bot.close_all_positions, True)
    assert [(c.symbol, c.status) for c in closed] == [(SYMBOL, 200)]
    assert await call(bot.get_all_positions) == []
    with pytest.raises(APIError) as missing:
        await call(bot.get_open_position, SYMBOL)
    assert missing.value.status_code == 404

    history = await call(
        bot.get_portfolio_history, GetPortfolioHistoryRequest(period="1D", timeframe="5Min")
    )
    assert history.equity and len(history.equity) == len(history.timestamp)

    async with httpx.AsyncClient(base_url=live, headers=holder.key_headers, timeout=10) as raw:
        fills = (await raw.get("/v2/account/activities/FILL")).json()
    assert sorted((f["side"], f["qty"]) for f in fills if f["type"] == "fill") == [
        ("buy", "10"),
        ("sell", "3"),
        ("sell", "3"),
        ("sell", "4"),
    ]

    await settle(db)
    assert await audit_violations(db) == {}


async def test_a_revoked_key_is_refused_at_once(live: str, users: httpx.AsyncClient) -> None:
    holder = await new_key_holder(users)
    bot = client_for(holder, live)
    assert (await call(bot.get_account)).status == "ACTIVE"
    revoked = await users.delete(f"/api-keys/{holder.key_id}", headers=holder.bearer)
    assert revoked.status_code == 204
    with pytest.raises(APIError) as refused:
        await call(bot.get_account)
    assert refused.value.status_code == 403
    assert refused.value.code == 40310000


async def test_another_users_order_is_404(
    live: str, users: httpx.AsyncClient, market: Market
) -> None:
    owner, stranger = await new_key_holder(users), await new_key_holder(users)
    await market.set(SYMBOL, "50.00")
    order = await call(
        client_for(owner, live).submit_order,
        LimitOrderRequest(
            symbol=SYMBOL, qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=1
        ),
    )
    intruder = client_for(stranger, live)
    for attempt in (
        lambda: intruder.get_order_by_id(order.id),
        lambda: intruder.cancel_order_by_id(order.id),
        lambda: intruder.replace_order_by_id(order.id, ReplaceOrderRequest(qty=2)),
        lambda: intruder.get_order_by_client_id(order.client_order_id),
        lambda: intruder.get_order_by_id(uuid.uuid4()),
    ):
        with pytest.raises(APIError) as refused:
            await asyncio.to_thread(attempt)
        assert refused.value.status_code == 404
    assert (await call(client_for(owner, live).get_order_by_id, order.id)).status is (
        OrderStatus.NEW
    )
    await call(client_for(owner, live).cancel_order_by_id, order.id)
