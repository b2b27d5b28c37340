"""Stock-service test helpers: settings on a private data dir, unique symbols, a running app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from stock_service.app import create_app
from stock_service.config import StockSettings

POLL_S = 0.02


@pytest.fixture
def symbols() -> list[str]:
    """Symbols no other test publishes, so records on the shared topic can be told apart."""
    tag = uuid.uuid4().hex[:5].upper()
    return [f"S{tag}{letter}" for letter in "ABCDEF"]


def make_settings(data_dir: Path, listed: list[str], **overrides: Any) -> StockSettings:
    values: dict[str, Any] = {
        "STOCKSIM_DATA_DIR": str(data_dir),
        "symbols": ",".join(f"{s}:{100 + 10 * i}.00" for i, s in enumerate(listed)),
        "symbols_file": None,
        "seed": 42,
        "tick_interval": 0.05,
        "state_save_interval": 0.2,
        **overrides,
    }
    return StockSettings(**values)


@asynccontextmanager
async def running(settings: StockSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan running (so it ticks and publishes) and a client for it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://stock") as client:
            yield app, client


async def wait_until(
    condition: Callable[[], Awaitable[bool]], within: float = 30.0, what: str = "condition"
) -> None:
    """Poll until `condition` holds; fails the test (not a timing assertion) if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await condition():
            return
        await asyncio.sleep(POLL_S)
    pytest.fail(f"gave up after {within} s waiting for {what}")
