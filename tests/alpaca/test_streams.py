"""Alpaca's streams through alpaca-py unchanged, against a live trading service.

The SDK's streams run their own loop in `run()`; here their `_run_forever()` runs as a task on
the test's loop (next to the server), and is stopped with `stop_ws()` and a bounded wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import msgpack
import pytest
from alpaca.data.enums import DataFeed
from alpaca.data.live import StockDataStream
from alpaca.trading.client import TradingClient
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest
from alpaca.trading.stream import TradingStream
from websockets.asyncio.client import connect

from tests.alpaca.conftest import KeyHolder, new_key_holder
from tests.live_server import serve
from tests.trading_fixtures import Market, until
from trading_service.app import create_app
from trading_service.config import TradingSettings
from trading_service.realtime.config import RealtimeSettings


@pytest.fixture(scope="module")
async def host(trading_settings: TradingSettings, engine: Any) -> AsyncIterator[str]:
    app = create_app(trading_settings, RealtimeSettings(candle_flush_s=0.2))
    async with serve(app) as address:
        yield address


@contextlib.asynccontextmanager
async def running(stream: Any) -> AsyncIterator[None]:
    task = asyncio.create_task(stream._run_forever())
    try:
        yield
    finally:
        await stream.stop_ws()
        try:
            await asyncio.wait_for(task, 15)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    async def ok() -> bool:
        return check()

    await until(ok, what, timeout_s)


def in_thread(call: Callable[..., Any], *args: Any) -> Coroutine[Any, Any, Any]:
    return asyncio.to_thread(call, *args)


async def test_trade_updates_reach_the_keys_account_only(
    host: str, holder: KeyHolder, users: httpx.AsyncClient, market: Market
) -> None:
    await market.set("APST", "20.00")
    mine: list[TradeUpdate] = []
    theirs: list[TradeUpdate] = []
    other = await new_key_holder(users)

    async def on_mine(update: TradeUpdate) -> None:
        mine.append(update)

    async def on_theirs(update: TradeUpdate) -> None:
        theirs.append(update)

    stream = TradingStream(holder.key_id, holder.secret, url_override=f"ws://{host}/stream")
    stream.subscribe_trade_updates(on_mine)
    other_stream = TradingStream(other.key_id, other.secret, url_override=f"ws://{host}/stream")
    other_stream.subscribe_trade_updates(on_theirs)
    trading = TradingClient(holder.key_id, holder.secret, url_override=f"http://{host}")

    async with running(stream), running(other_stream):
        await wait_for(lambda: stream._running and other_stream._running, "both streams listen")
        await asyncio.sleep(0.3)  # the listen message is answered before updates are routed
        bought = await in_thread(
            trading.submit_order,
            MarketOrderRequest(symbol="APST", qty=5, side="buy", time_in_force="day"),
        )
        await wait_for(
            lambda: any(u.event == "fill" and u.order.id == bought.id for u in mine),
            "the market buy's fill",
        )
        events = [u for u in mine if u.order.id == bought.id]
        assert [u.event for u in events] == ["new", "fill"]
        fill = events[-1]
        assert (fill.qty, fill.position_qty) == (5, 5)
        assert fill.order.filled_avg_price is not None
        assert fill.price == float(fill.order.filled_avg_price) >= 20.0  # the house's ask
        assert fill.execution_id is not None
        assert fill.order.filled_qty == "5" and fill.order.status == "filled"

        resting = await in_thread(
            trading.submit_order,
            LimitOrderRequest(
                symbol="APST", qty=2, side="buy", time_in_force="gtc", limit_price=10
            ),
        )
        replacement = await in_thread(
            trading.replace_order_by_id, resting.id, ReplaceOrderRequest(limit_price=11)
        )
        await in_thread(trading.cancel_order_by_id, replacement.id)
        await wait_for(
            lambda: any(u.event == "canceled" and u.order.id == replacement.id for u in mine),
            "the replacement's cancel",
        )
        replaced = [u for u in mine if u.event == "replaced"]
        assert [u.order.id for u in replaced] == [resting.id]
        assert replaced[0].order.replaced_by == replacement.id
        new_ids = [u.order.id for u in mine if u.event == "new"]
        assert new_ids == [bought.id, resting.id, replacement.id]
        assert [u.order.limit_price for u in mine if u.order.id == replacement.id] == ["11.00"] * 2
        # Nothing of this account went to the other key's stream.
        assert theirs == []


async def test_trade_stream_refuses_a_wrong_key_and_answers_binary_frames_in_binary(
    host: str, holder: KeyHolder
) -> None:
    async with connect(f"ws://{host}/stream") as ws:
        await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert json.loads(await ws.recv())["data"] == {"error_message": "not authenticated"}
        await ws.send("[" * 50_000)
        assert json.loads(await ws.recv())["data"] == {"error_message": "invalid syntax"}
        auth = {"action": "authenticate", "data": {"key_id": holder.key_id, "secret_key": "x"}}
        await ws.send(json.dumps(auth))
        assert json.loads(await ws.recv())["data"]["status"] == "unauthorized"
    async with connect(f"ws://{host}/stream") as ws:
        auth["data"]["secret_key"] = holder.secret
        await ws.send(json.dumps(auth).encode())
        reply = await ws.recv()
        assert isinstance(reply, bytes)
        assert json.loads(reply) == {
            "stream": "authorization",
            "data": {"status": "authorized", "action": "authenticate"},
        }


async def test_stock_data_stream_gets_trades_quotes_and_bars_of_its_symbols(
    host: str, holder: KeyHolder, market: Market, signing_key: Any
) -> None:
    await market.set("APSD", "30.00")
    received: dict[str, list[Any]] = {"trades": [], "quotes": [], "bars": []}

    def collect(kind: str) -> Callable[[Any], Coroutine[Any, Any, None]]:
        async def handler(item: Any) -> None:
            received[kind].append(item)

        return handler

    stream = StockDataStream(
        holder.key_id, holder.secret, feed=DataFeed.IEX, url_override=f"ws://{host}/v2/iex"
    )
    stream.subscribe_trades(collect("trades"), "APSD")
    stream.subscribe_quotes(collect("quotes"), "APSD")
    stream.subscribe_bars(collect("bars"), "APSD")
    token = signing_key.token(holder.user_id)
    async with running(stream), httpx.AsyncClient(base_url=f"http://{host}") as http:
        await wait_for(lambda: stream._running, "the data stream runs")
        await asyncio.sleep(0.5)  # subscribe is sent right after auth
        await market.set("APSD", "31.00")
        await wait_for(lambda: bool(received["quotes"]), "a quote")
        quote = received["quotes"][-1]
        assert quote.symbol == "APSD" and quote.bid_price <= 31.0 <= quote.ask_price
        bought = await http.post(
            "/trade/buy",
            json={"stock_symbol": "APSD", "quantity": 4},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert bought.status_code == 201, bought.text
        await wait_for(lambda: bool(received["trades"]), "a trade")
        trade = received["trades"][-1]
        assert (trade.symbol, trade.size) == ("APSD", 4)
        # A market minute is about 9 wall seconds (6.5x): ticks until one bar has closed.
        for step in range(40):
            if received["bars"]:
                break
            await market.set("APSD", f"{31 + step % 3}.00")
            await asyncio.sleep(1)
        assert received["bars"], "no minute bar within 40 ticks"
        bar = received["bars"][0]
        assert bar.symbol == "APSD" and bar.low <= bar.close <= bar.high
        assert all(q.symbol == "APSD" for q in received["quotes"])


async def test_data_stream_protocol_errors_in_msgpack(host: str, holder: KeyHolder) -> None:
    headers = {"Content-Type": "application/msgpack"}
    async with connect(f"ws://{host}/v2/sip", additional_headers=headers) as ws:
        assert msgpack.unpackb(await ws.recv()) == [{"T": "success", "msg": "connected"}]
        await ws.send(msgpack.packb({"action": "subscribe", "trades": ["AAPL"]}))
        assert msgpack.unpackb(await ws.recv())[0]["code"] == 401
        await ws.send(msgpack.packb({"action": "auth", "key": holder.key_id, "secret": "no"}))
        assert msgpack.unpackb(await ws.recv()) == [
            {"T": "error", "code": 402, "msg": "auth failed"}
        ]
    async with connect(f"ws://{host}/v2/iex") as ws:  # no msgpack asked: JSON text
        assert json.loads(await ws.recv()) == [{"T": "success", "msg": "connected"}]
        await ws.send(json.dumps({"action": "auth", "key": holder.key_id, "secret": holder.secret}))
        assert json.loads(await ws.recv()) == [{"T": "success", "msg": "authenticated"}]
        await ws.send(json.dumps({"action": "subscribe", "trades": ["AAPL", "*"], "bars": "x"}))
        assert json.loads(await ws.recv())[0]["code"] == 400
        await ws.send("[" * 50_000)  # nesting deeper than the JSON parser's recursion
        assert json.loads(await ws.recv())[0]["code"] == 400
        await ws.send(json.dumps({"action": "subscribe", "quotes": ["msft"]}))
        (ack,) = json.loads(await ws.recv())
        assert ack["T"] == "subscription" and ack["quotes"] == ["MSFT"] and ack["trades"] == []


async def test_a_revoked_key_stops_its_trade_updates_within_seconds(
    host: str, users: httpx.AsyncClient
) -> None:
    holder = await new_key_holder(users)
    async with connect(f"ws://{host}/stream") as ws:
        auth = {"action": "authenticate", "data": {"key_id": holder.key_id}}
        auth["data"]["secret_key"] = holder.secret
        await ws.send(json.dumps(auth))
        assert json.loads(await ws.recv())["data"]["status"] == "authorized"
        await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert json.loads(await ws.recv())["stream"] == "listening"
        revoked = await users.delete(f"/api-keys/{holder.key_id}", headers=holder.bearer)
        assert revoked.status_code == 204
        reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert reply == {
            "stream": "authorization",
            "data": {"status": "unauthorized", "action": "authenticate"},
        }
        await asyncio.wait_for(ws.wait_closed(), 10)
