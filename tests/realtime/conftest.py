"""Real uvicorn servers (free ports) running the trading app, and a WebSocket client helper.

The trading fixtures (engine, market, tokens) come from tests/trading_fixtures.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection

from tests.live_server import serve as serve_app
from trading_service.app import create_app
from trading_service.config import TradingSettings
from trading_service.realtime.config import RealtimeSettings

Message = dict[str, Any]


@dataclass
class Server:
    app: FastAPI
    http_url: str
    ws_url: str


@contextlib.asynccontextmanager
async def serve(settings: TradingSettings, realtime: RealtimeSettings) -> AsyncIterator[Server]:
    """The app on a real uvicorn server (its lifespan runs) on a free port."""
    app = create_app(settings, realtime)
    async with serve_app(app) as host:
        yield Server(app, f"http://{host}", f"ws://{host}/ws")


def realtime_settings(**overrides: Any) -> RealtimeSettings:
    values: dict[str, Any] = {"heartbeat_s": 0.5, "candle_flush_s": 0.2} | overrides
    return RealtimeSettings(**values)


@pytest.fixture(scope="session")
async def replicas(
    trading_settings: TradingSettings,
    engine: asyncio.Task[None],
    topics: None,
) -> AsyncIterator[tuple[Server, Server]]:
    """Two replicas of the trading API: nothing in memory is shared between them."""
    async with (
        serve(trading_settings, realtime_settings()) as one,
        serve(trading_settings, realtime_settings()) as two,
    ):
        yield one, two


async def receive(
    ws: ClientConnection, timeout_s: float = 20, skip_heartbeats: bool = True
) -> Message:
    """The next message; heartbeats come every half second here, so between any two
    messages a test expects, unless it asks for them."""
    async with asyncio.timeout(timeout_s):
        while True:
            message: Message = json.loads(await ws.recv())
            if not (skip_heartbeats and message["type"] == "heartbeat"):
                return message


async def receive_until(
    ws: ClientConnection,
    matches: Callable[[Message], bool],
    timeout_s: float = 30,
    skip_heartbeats: bool = True,
) -> tuple[Message, list[Message]]:
    """The first message that `matches`, and everything received before it."""
    seen: list[Message] = []
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive(ws, timeout_s, skip_heartbeats)
                if matches(message):
                    return message, seen
                seen.append(message)
    except TimeoutError:
        raise AssertionError(f"no matching message; received {seen}") from None


async def send(ws: ClientConnection, **message: Any) -> None:
    await ws.send(json.dumps(message))
