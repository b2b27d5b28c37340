"""DAY orders expire at the session close on the market clock (real engine, API and servers).

A stack of its own (fresh PostgreSQL, Redis and broker): this engine runs on a fast clock of its
own, and must not share partitions with the session's engine.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.stack import Stack, start_stack
from shared import migrate
from shared.db import create_db_engine
from shared.kafka import PRICES_TOPIC, ensure_topics
from shared.market_clock import SESSION_S, MarketClock
from tests.trading_fixtures import SigningKey, until
from trading_service.app import create_app
from trading_service.config import EngineSettings, TradingSettings
from trading_service.engine.__main__ import main as engine_main

SESSION_WALL_S = 15.0  # one trading day every 15 wall seconds


@pytest.fixture(scope="module")
def isolated(data_dir: Path, stack: Stack) -> Iterator[Stack]:
    own = start_stack(
        data_dir / f"day-expiry-{uuid.uuid4().hex[:6]}",
        environ={},
        postgres_settings={"fsync": "off"},
        kafka_broker=os.environ.get("STOCKSIM_KAFKA") or "tansu",
    )
    migrate.upgrade(own.database_url)
    yield own
    own.stop()


def servers(stack: Stack, clock: MarketClock) -> dict[str, Any]:
    return {
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": stack.redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "STOCKSIM_MARKET_EPOCH": clock.epoch,
        "MARKET_TIME_SCALE": clock.time_scale,
        "log_json": False,
    }


class Engine:
    """The matching engine in this process, stopped and started again like an operator would."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(engine_main(self.settings))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None


@dataclass
class System:
    api: httpx.AsyncClient
    clock: MarketClock
    engine: Engine


@pytest.fixture
async def system(isolated: Stack, data_dir: Path) -> AsyncIterator[System]:
    await ensure_topics(isolated.kafka_bootstrap_servers, 4)
    clock = MarketClock(datetime.now(UTC) - timedelta(seconds=1), SESSION_S / SESSION_WALL_S)
    engine = Engine(
        EngineSettings(group_id="day-expiry", session_timeout_ms=2000, **servers(isolated, clock))
    )
    engine.start()
    settings = TradingSettings(
        jwks_file=data_dir / "trading-jwks.json",
        max_price_age_s=3600,
        order_wait_s=10,
        **servers(isolated, clock),
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://iso") as client:
                yield System(client, clock, engine)
    finally:
        await engine.stop()


async def publish_price(stack: Stack, api: httpx.AsyncClient, symbol: str, price: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    try:
        value = {"symbol": symbol, "price": price, "seq": 1, "ts": datetime.now(UTC).isoformat()}
        await producer.send_and_wait(PRICES_TOPIC, json.dumps(value).encode(), key=symbol.encode())
    finally:
        await producer.stop()

    async def api_has_it() -> bool:
        return (await api.get(f"/prices/{symbol}")).status_code == 200

    await until(api_has_it, "the API has the price", timeout_s=60)


async def place(api: httpx.AsyncClient, headers: dict[str, str], tif: str) -> str:
    body = {"symbol": "DAYX", "qty": 1, "side": "buy", "type": "limit", "limit_price": "40.00"}
    response = await api.post(
        "/orders?wait=true", json=body | {"time_in_force": tif}, headers=headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "new"  # resting: the engine accepted it
    order_id: str = response.json()["id"]
    return order_id


async def order_row(db: AsyncEngine, order_id: str) -> Any:
    async with db.connect() as conn:
        query = "SELECT status, accepted_at, updated_at FROM orders WHERE id = :id"
        return (await conn.execute(text(query), {"id": order_id})).one()


async def wait_expired(db: AsyncEngine, order_id: str) -> Any:
    async def expired() -> bool:
        return bool((await order_row(db, order_id)).status == "expired")

    await until(expired, "the DAY order expires", timeout_s=3 * SESSION_WALL_S + 30)
    return await order_row(db, order_id)


async def test_day_orders_expire_at_the_session_close(
    isolated: Stack, system: System, signing_key: SigningKey
) -> None:
    api, clock = system.api, system.clock
    await publish_price(isolated, api, "DAYX", "50.00")
    headers = {"Authorization": f"Bearer {signing_key.token(uuid.uuid4())}"}
    day_id, gtc_id = await place(api, headers, "day"), await place(api, headers, "gtc")
    db = create_db_engine(isolated.database_url, pool_size=2)
    try:
        day = await wait_expired(db, day_id)
        # It lived until the close of the session it was accepted in, on the market clock.
        close_wall = clock.wall_time(clock.current_session(day.accepted_at).close)
        assert day.accepted_at < close_wall <= day.updated_at
        assert (day.updated_at - close_wall).total_seconds() < 10  # the engine's next loop
        assert (await order_row(db, gtc_id)).status == "new"  # good till canceled: untouched
        order = (await api.get(f"/orders/{day_id}", headers=headers)).json()
        assert order["status"] == "expired"

        # A close that passes while no engine runs: the next engine expires the order on start.
        later_id = await place(api, headers, "day")
        await system.engine.stop()
        later = await order_row(db, later_id)
        close_wall = clock.wall_time(clock.current_session(later.accepted_at).close)
        await asyncio.sleep(max(0.0, (close_wall - datetime.now(UTC)).total_seconds()) + 0.5)
        assert (await order_row(db, later_id)).status == "new"
        system.engine.start()
        later = await wait_expired(db, later_id)
        assert later.updated_at > close_wall
        assert (await order_row(db, gtc_id)).status == "new"
    finally:
        await db.dispose()
