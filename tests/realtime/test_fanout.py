"""The fan-out: every tick reaches every client that keeps up, batched or not, bursts included."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from shared.kafka import PRICES_TOPIC
from tests.realtime.conftest import Server, realtime_settings, send, serve
from tests.trading_fixtures import Market, until
from trading_service.config import TradingSettings

pytestmark = pytest.mark.slow


async def _publish_bursts(redis_url: str, symbols: list[str], bursts: int, size: int) -> int:
    """Publish like the price cache does (bypassing Kafka): `bursts` times, `size` ticks of
    each symbol in one pipeline, all arriving at once. Returns the first seq; seqs run on."""
    redis = Redis.from_url(redis_url)
    first = int(time.time() * 1000)
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    seq = first
    try:
        for _ in range(bursts):
            async with redis.pipeline(transaction=False) as pipe:
                for _ in range(size):
                    for symbol in symbols:
                        tick = {"symbol": symbol, "price": "10.00", "ts": ts, "seq": seq}
                        pipe.publish("prices", json.dumps(tick))
                    seq += 1
                await pipe.execute()
            await asyncio.sleep(0.2)
    finally:
        await redis.aclose()
    return first


async def _frames_until(
    ws: ClientConnection, done: Any, timeout_s: float = 60
) -> list[list[dict[str, Any]] | dict[str, Any]]:
    frames: list[Any] = []
    async with asyncio.timeout(timeout_s):
        while not done(frames):
            frames.append(json.loads(await ws.recv()))
    return frames


def _messages(frames: list[Any]) -> list[dict[str, Any]]:
    return [m for f in frames for m in (f if isinstance(f, list) else [f])]


def _price_seqs(frames: list[Any], symbol: str) -> list[int]:
    return [
        m["seq"]
        for m in _messages(frames)
        if m["type"] == "price" and m["symbol"] == symbol and not m.get("snapshot")
    ]


async def test_a_burst_bigger_than_the_send_queue_reaches_a_batch_client_that_keeps_up(
    trading_settings: TradingSettings,
) -> None:
    """The send queue bounds what waits for a client that does not read, not a burst: 3
    bursts of 200 ticks of two symbols, with room for 50 messages, all arrive in order."""
    settings = realtime_settings(send_queue=50, heartbeat_s=30)
    symbols = ["RTBURSTA", "RTBURSTB"]
    async with serve(trading_settings, settings) as server:
        hub = server.app.state.hub
        async with (
            connect(server.ws_url + "?batch=true", max_size=None) as batched,
            connect(server.ws_url, max_size=None) as single,
        ):
            for ws in (batched, single):
                await ws.send(json.dumps({"action": "subscribe", "channels": ["prices"]}))
            await until(lambda: _is(len(hub.subscribers.get("prices", ())) == 2), "both subscribed")
            first = await _publish_bursts(trading_settings.redis_url, symbols, 3, 200)
            expected = list(range(first, first + 600))

            def complete(frames: list[Any]) -> bool:
                return all(expected[-1] in _price_seqs(frames, s) for s in symbols)

            for ws, batch in ((batched, True), (single, False)):
                frames = await _frames_until(ws, complete)
                assert all(isinstance(f, list) for f in frames) is batch
                if batch:  # a burst arrives in a few frames, not one per tick
                    assert max(len(f) for f in frames) > 1
                for symbol in symbols:
                    assert _price_seqs(frames, symbol) == expected, symbol
                errors = [m for m in _messages(frames) if m["type"] == "error"]
                assert errors == []
            assert len(hub.connections) == 2


async def test_a_batch_client_of_several_channels_gets_each_channel_in_order(
    trading_settings: TradingSettings,
) -> None:
    """prices:A and prices:B (and their shared blocks) go out together, each symbol in seq
    order, none lost or repeated; a client of prices:A alone gets only A's."""
    settings = realtime_settings(heartbeat_s=30)
    async with serve(trading_settings, settings) as server:
        hub = server.app.state.hub
        async with (
            connect(server.ws_url + "?batch=true") as both,
            connect(server.ws_url + "?batch=true") as one,
        ):
            await send(both, action="subscribe", channels=["prices:RTMULTA", "prices:RTMULTB"])
            await send(one, action="subscribe", channels=["prices:RTMULTA"])
            await until(
                lambda: _is(
                    len(hub.subscribers.get("prices:RTMULTA", ())) == 2
                    and "prices:RTMULTB" in hub.subscribers
                ),
                "all subscribed",
            )
            first = await _publish_bursts(trading_settings.redis_url, ["RTMULTA", "RTMULTB"], 5, 10)
            expected = list(range(first, first + 50))
            frames = await _frames_until(
                both,
                lambda fs: (
                    expected[-1] in _price_seqs(fs, "RTMULTA")
                    and expected[-1] in _price_seqs(fs, "RTMULTB")
                ),
            )
            assert _price_seqs(frames, "RTMULTA") == expected
            assert _price_seqs(frames, "RTMULTB") == expected
            frames = await _frames_until(one, lambda fs: expected[-1] in _price_seqs(fs, "RTMULTA"))
            assert _price_seqs(frames, "RTMULTA") == expected
            assert _price_seqs(frames, "RTMULTB") == []
            # Still served afterwards: the connection is fine.
            await send(one, action="unsubscribe", channels=["prices:RTMULTA"])
            frames = await _frames_until(
                one, lambda fs: any(m["type"] == "subscribed" for m in _messages(fs))
            )
            assert [m["channels"] for m in _messages(frames) if m["type"] == "subscribed"] == [[]]


async def test_frames_encoded_once_reach_clients_of_every_compression(
    trading_settings: TradingSettings,
) -> None:
    """The stream writes the frames it encoded once per channel straight to the sockets: a
    client without compression, one with the default offer (the server may keep its context,
    as browsers allow), one that wants a smaller window and no context, batched or not, all
    decode every tick in order."""
    settings = realtime_settings(heartbeat_s=30)
    small = ClientPerMessageDeflateFactory(
        server_no_context_takeover=True, server_max_window_bits=10
    )
    async with serve(trading_settings, settings) as server:
        hub = server.app.state.hub
        async with (
            connect(server.ws_url + "?batch=true", compression=None) as plain,
            connect(server.ws_url + "?batch=true") as deflate,
            connect(server.ws_url + "?batch=true", extensions=[small], compression=None) as tiny,
            connect(server.ws_url) as single,
        ):
            clients = [plain, deflate, tiny, single]
            for ws in clients:
                await send(ws, action="subscribe", channels=["prices:RTWIREA", "prices:RTWIREB"])
            await until(
                lambda: _is(len(hub.subscribers.get("prices:RTWIREB", ())) == 4), "subscribed"
            )
            # The server's socket takes the frames the app encoded (ws_protocol.py).
            assert all(c.sink is not None for c in hub.connections)
            assert [len(ws.protocol.extensions) for ws in clients] == [0, 1, 1, 1]
            first = await _publish_bursts(trading_settings.redis_url, ["RTWIREA", "RTWIREB"], 3, 40)
            expected = list(range(first, first + 120))
            for ws in clients:
                frames = await _frames_until(
                    ws, lambda fs: expected[-1] in _price_seqs(fs, "RTWIREB")
                )
                assert _price_seqs(frames, "RTWIREA") == expected
                assert _price_seqs(frames, "RTWIREB") == expected
            # Answers to one client alone go the same way.
            await send(tiny, action="unsubscribe", channels=["prices:RTWIREA"])
            frames = await _frames_until(
                tiny, lambda fs: any(m["type"] == "subscribed" for m in _messages(fs))
            )
            assert [m["channels"] for m in _messages(frames) if m["type"] == "subscribed"] == [
                ["prices:RTWIREB"]
            ]


async def _is(value: bool) -> bool:
    return value


async def test_every_tick_of_a_burst_through_kafka_reaches_the_stream(
    replicas: tuple[Server, Server], market: Market
) -> None:
    """50 ticks of a symbol sent at once land in one or two fetches of the API's price consumer:
    each is stored and published in turn, none coalesced away."""
    one, _ = replicas
    async with connect(one.ws_url + "?batch=true") as ws:
        await send(ws, action="subscribe", channels=["prices:RTEVERY"])
        await _frames_until(ws, lambda fs: any(m["type"] == "subscribed" for m in _messages(fs)))
        first = int(time.time() * 1000)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        for seq in range(first, first + 50):
            tick = {"symbol": "RTEVERY", "price": "10.00", "seq": seq, "ts": ts}
            await market.producer.send(PRICES_TOPIC, json.dumps(tick).encode(), key=b"RTEVERY")
        await market.producer.flush()
        frames = await _frames_until(ws, lambda fs: first + 49 in _price_seqs(fs, "RTEVERY"))
    assert _price_seqs(frames, "RTEVERY") == list(range(first, first + 50))
