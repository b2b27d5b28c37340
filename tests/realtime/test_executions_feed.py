"""One Redis subscription per process carries the engine's reports to both the requests waiting
for the engine and the WebSocket clients (real uvicorn server, real Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from tests.realtime.conftest import Message, Server, realtime_settings, receive_until, send, serve
from tests.trading_fixtures import until
from trading_service.config import TradingSettings
from trading_service.engine.core.model import OrderType, Side
from trading_service.messages import EXECUTIONS_CHANNEL, Executions, OrderReport, TradeReport
from trading_service.order_status import OrderStatus
from trading_service.orders.executions import ExecutionWaiter, finished

pytestmark = pytest.mark.slow

SYMBOL = "FEEDX"


@pytest.fixture
async def redis(trading_settings: TradingSettings) -> AsyncIterator[Redis]:
    client = Redis.from_url(trading_settings.redis_url)
    yield client
    await client.aclose()


async def subscribers(redis: Redis) -> int:
    """Connections subscribed to `executions`, across every server of this test session."""
    ((_, count),) = await redis.pubsub_numsub(EXECUTIONS_CHANNEL)
    return int(count)


def report(price: str) -> tuple[uuid.UUID, Executions]:
    order_id = uuid.uuid4()
    now = datetime.now(UTC)
    order = OrderReport(
        order_id,
        uuid.uuid4(),
        SYMBOL,
        OrderStatus.FILLED,
        7,
        0,
        OrderType.MARKET,
        Side.BUY,
        now,
    )
    trade = TradeReport(SYMBOL, Decimal(price), 7, Side.BUY, now)
    return order_id, Executions(orders=(order,), trades=(trade,))


async def publish_to_both(
    redis: Redis, waiter: ExecutionWaiter, ws: ClientConnection, price: str
) -> Message:
    """Publish one report; the waiting request resolves and the client gets the trade."""
    order_id, executions = report(price)
    async with waiter.expect(order_id, finished) as future:
        await redis.publish(EXECUTIONS_CHANNEL, executions.encode())
        await asyncio.wait_for(future, timeout=20)
    trade, _ = await receive_until(ws, lambda m: m["type"] == "trade" and m["price"] == price)
    return trade


async def publish_until_both(
    redis: Redis, waiter: ExecutionWaiter, ws: ClientConnection, prices: list[str]
) -> Message:
    """After a loss: reports published before the process has resubscribed are gone (a waiter
    times out, the client sees a gap), so publish a new one each second until one arrives."""
    for price in prices:
        order_id, executions = report(price)
        async with waiter.expect(order_id, finished) as future:
            await redis.publish(EXECUTIONS_CHANNEL, executions.encode())
            arrived, _ = await asyncio.wait({future}, timeout=1)  # (not cancelling it)
        if arrived:
            trade, _ = await receive_until(
                ws, lambda m, p=price: m["type"] == "trade" and m["price"] == p
            )
            return trade
    raise AssertionError("no report reached the waiter after the subscription was lost")


async def started(server: Server, redis: Redis, before: int) -> None:
    await until(lambda: _more(redis, before), "the server subscribes to executions")
    await asyncio.sleep(0.5)  # a second subscription (the old per-waiter one) would be up by now


async def _more(redis: Redis, before: int) -> bool:
    return await subscribers(redis) > before


async def test_one_publish_reaches_a_waiting_request_and_a_websocket_client(
    trading_settings: TradingSettings, topics: None, redis: Redis
) -> None:
    before = await subscribers(redis)
    async with serve(trading_settings, realtime_settings()) as server:
        await started(server, redis, before)
        assert await subscribers(redis) == before + 1  # one subscription for the whole process
        waiter: ExecutionWaiter = server.app.state.resources.executions
        async with connect(server.ws_url) as ws:
            await send(ws, action="subscribe", channels=[f"trades:{SYMBOL}"])
            await receive_until(ws, lambda m: m["type"] == "subscribed")
            trade = await publish_to_both(redis, waiter, ws, "12.34")
            assert trade["symbol"] == SYMBOL and trade["qty"] == 7
            assert trade["aggressor_side"] == "buy"


async def test_both_keep_getting_reports_after_the_subscription_is_lost(
    trading_settings: TradingSettings, topics: None, redis: Redis
) -> None:
    before = await subscribers(redis)
    async with serve(trading_settings, realtime_settings()) as server:
        await started(server, redis, before)
        waiter: ExecutionWaiter = server.app.state.resources.executions
        async with connect(server.ws_url) as ws:
            await send(ws, action="subscribe", channels=[f"trades:{SYMBOL}"])
            await receive_until(ws, lambda m: m["type"] == "subscribed")
            first = await publish_to_both(redis, waiter, ws, "20.00")
            subscribed = await subscribers(redis)
            # Redis drops every subscriber connection (a restart or failover looks the same).
            await redis.client_kill_filter(_type="pubsub")

            async def resubscribed() -> bool:
                return await subscribers(redis) >= subscribed

            await until(resubscribed, "every hub resubscribes")
            prices = [f"21.{cents:02}" for cents in range(60)]
            second = await publish_until_both(redis, waiter, ws, prices)
            # Whatever was published while it was away is missed: the seq says so.
            assert second["seq"] > first["seq"] + 1
