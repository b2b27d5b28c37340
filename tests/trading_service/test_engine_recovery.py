"""Engines as real processes: two share the symbols; one dies by kill -9; nothing lost or doubled.

These run on a stack of their own (fresh PostgreSQL database, Redis and broker) so that the
session's in-process engine cannot touch their partitions.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
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
from tests.trading_fixtures import SigningKey, audit_violations, settle, until
from trading_service.app import create_app
from trading_service.config import TradingSettings

pytestmark = pytest.mark.kafka

SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "JPM", "NFLX"]


@pytest.fixture(scope="module")
def isolated(data_dir: Path, stack: Stack) -> Iterator[Stack]:
    # A broker of the same kind as the session's (STOCKSIM_KAFKA; Apache Kafka by default).
    own = start_stack(
        data_dir / f"recovery-{uuid.uuid4().hex[:6]}",
        environ={},
        postgres_settings={"fsync": "off"},
        kafka_broker=os.environ.get("STOCKSIM_KAFKA"),
    )
    migrate.upgrade(own.database_url)
    yield own
    own.stop()


class Engines:
    """Engine processes of one consumer group, started and killed like an operator would."""

    def __init__(self, stack: Stack, log_dir: Path) -> None:
        self.env = {
            **os.environ,
            **stack.env(),
            "ENGINE_GROUP_ID": "recovery-engines",
            "ENGINE_SESSION_TIMEOUT_MS": "2000",
            "LOG_JSON": "false",
            "ENGINE_MAX_BATCH": "200",
        }
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"engine-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "trading_service.engine"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _print_logs(log_dir: Path) -> None:
    for path in sorted(log_dir.glob("engine-*.log")):  # shown by pytest when the test failed
        print(f"--- {path.name}\n{path.read_text()[-4000:]}")
        path.unlink()


@pytest.fixture
async def engines(isolated: Stack, data_dir: Path) -> AsyncIterator[Engines]:
    await ensure_topics(isolated.kafka_bootstrap_servers, 4)
    running = Engines(isolated, data_dir)
    yield running
    running.stop_all()
    _print_logs(data_dir)


@pytest.fixture
async def iso_db(isolated: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_db_engine(isolated.database_url, pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture
async def iso_api(
    isolated: Stack, data_dir: Path, signing_key: SigningKey, engines: Engines
) -> AsyncIterator[httpx.AsyncClient]:
    settings = TradingSettings(
        DATABASE_URL=isolated.database_url,
        REDIS_URL=isolated.redis_url,
        KAFKA_BOOTSTRAP_SERVERS=isolated.kafka_bootstrap_servers,
        jwks_file=data_dir / "trading-jwks.json",
        republish_after_s=1.0,
        max_price_age_s=3600,
        order_wait_s=15,
        # The flows send hundreds of orders from a handful of accounts as fast as the engines
        # take them: what is under test is recovery, so the per-account limits are lifted.
        order_rate=0,
        cancel_rate=0,
        log_json=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://iso") as client:
            yield client


async def publish_prices(
    stack: Stack, db: AsyncEngine, api: httpx.AsyncClient, prices: dict[str, str]
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    seq = int(time.time() * 1000)
    try:
        for symbol, price in prices.items():
            value = {
                "symbol": symbol,
                "price": price,
                "seq": seq,
                "ts": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            }
            await producer.send_and_wait(
                PRICES_TOPIC, json.dumps(value).encode(), key=symbol.encode()
            )
    finally:
        await producer.stop()

    async def everyone_has_them() -> bool:
        async with db.connect() as conn:
            n = (
                await conn.execute(
                    text("SELECT count(*) FROM reference_prices WHERE seq >= :seq"), {"seq": seq}
                )
            ).scalar_one()
        seen = (await api.get("/prices")).json()
        return n == len(prices) and sum(p["seq"] >= seq for p in seen) == len(prices)

    await until(everyone_has_them, "engines and API have the prices", timeout_s=60)


def headers(key: SigningKey, user: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.token(user)}"}


async def random_flow(
    api: httpx.AsyncClient, key: SigningKey, users: list[uuid.UUID], n: int, seed: int
) -> list[dict[str, Any]]:
    """`n` orders of every kind from `users`, 16 at a time; returns what the API acknowledged."""
    rng = random.Random(seed)
    acknowledged: list[dict[str, Any]] = []
    semaphore = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        user = rng.choice(users)
        symbol = rng.choice(SYMBOLS)
        roll = rng.random()
        body: dict[str, Any] = {
            "symbol": symbol,
            "qty": rng.randint(1, 5),
            "client_order_id": f"flow-{seed}-{i}",
        }
        if roll < 0.35:
            body |= {"side": "buy", "type": "market"}
        elif roll < 0.55:
            body |= {"side": "sell", "type": "market"}
        elif roll < 0.8:
            body |= {
                "side": rng.choice(["buy", "sell"]),
                "type": "limit",
                "time_in_force": rng.choice(["gtc", "day", "ioc"]),
                "limit_price": f"{rng.choice([98, 99, 100, 101, 102])}.{rng.randint(0, 99):02d}",
            }
        else:
            body |= {"side": "sell", "type": "stop", "stop_price": "95.00", "time_in_force": "gtc"}
        async with semaphore:
            response = await api.post("/orders", json=body, headers=headers(key, user))
            if response.status_code in (200, 201):
                acknowledged.append(response.json())
                if rng.random() < 0.15:
                    await api.delete(f"/orders/{response.json()['id']}", headers=headers(key, user))
            else:
                assert response.status_code == 409, response.text  # not enough cash or shares

    await asyncio.gather(*(one(i) for i in range(n)))
    return acknowledged


async def assert_all_processed_once(db: AsyncEngine, acknowledged: list[dict[str, Any]]) -> None:
    await settle(db, timeout_s=120)
    ids = [uuid.UUID(o["id"]) for o in acknowledged]
    async with db.connect() as conn:
        stored = {
            r.id: r
            for r in await conn.execute(
                text("SELECT id, status, accepted_at FROM orders WHERE id = ANY(:ids)"),
                {"ids": ids},
            )
        }
        accepted_twice = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT order_id FROM fills GROUP BY order_id, trade_id "
                    "HAVING count(*) > 1) dup"
                )
            )
        ).scalar_one()
    assert set(stored) == set(ids), "an acknowledged order is missing"
    assert all(r.accepted_at is not None for r in stored.values())
    assert accepted_twice == 0
    assert await audit_violations(db) == {}


async def test_two_engines_share_the_symbols_and_one_takes_over_when_the_other_stops(
    isolated: Stack,
    engines: Engines,
    iso_db: AsyncEngine,
    iso_api: httpx.AsyncClient,
    signing_key: SigningKey,
) -> None:
    first, second = engines.start(), engines.start()
    await publish_prices(isolated, iso_db, iso_api, dict.fromkeys(SYMBOLS, "100.00"))
    users = [uuid.uuid4() for _ in range(6)]
    acknowledged = await random_flow(iso_api, signing_key, users, 300, seed=1)
    await assert_all_processed_once(iso_db, acknowledged)

    first.send_signal(signal.SIGTERM)
    assert first.wait(15) == 0
    # The survivor now owns every partition: prices and orders of all symbols still move.
    await publish_prices(isolated, iso_db, iso_api, dict.fromkeys(SYMBOLS, "100.50"))
    acknowledged += await random_flow(iso_api, signing_key, users, 200, seed=2)
    await assert_all_processed_once(iso_db, acknowledged)
    assert second.poll() is None


async def test_kill_9_mid_stream_loses_and_doubles_nothing(
    isolated: Stack,
    engines: Engines,
    iso_db: AsyncEngine,
    iso_api: httpx.AsyncClient,
    signing_key: SigningKey,
) -> None:
    victim = engines.start()
    await publish_prices(isolated, iso_db, iso_api, dict.fromkeys(SYMBOLS, "100.00"))
    users = [uuid.uuid4() for _ in range(10)]

    async def kill_then_restart() -> None:
        await asyncio.sleep(1.5)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        await asyncio.sleep(0.5)
        engines.start()

    flow = asyncio.create_task(random_flow(iso_api, signing_key, users, 2000, seed=3))
    await kill_then_restart()
    acknowledged = await flow
    assert victim.returncode == -signal.SIGKILL
    await assert_all_processed_once(iso_db, acknowledged)


async def test_a_restarted_engine_keeps_league_orders_in_their_league(
    isolated: Stack,
    engines: Engines,
    iso_db: AsyncEngine,
    iso_api: httpx.AsyncClient,
    signing_key: SigningKey,
) -> None:
    first = engines.start()
    await publish_prices(isolated, iso_db, iso_api, {"LEAGR": "100.00"})  # house 99.95 / 100.05
    admin = {"Authorization": f"Bearer {signing_key.token(uuid.uuid4(), role='admin')}"}
    created = await iso_api.post(
        "/leagues", json={"name": "restart", "starting_cash": "10000.00"}, headers=admin
    )
    assert created.status_code == 201, created.text
    seller, teammate, outsider = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def member(user: uuid.UUID) -> dict[str, str]:
        joined = await iso_api.post(
            "/leagues/join",
            json={"invite_code": created.json()["invite_code"]},
            headers=headers(signing_key, user),
        )
        assert joined.status_code == 201, joined.text
        return {**headers(signing_key, user), "X-Account-Id": joined.json()["id"]}

    async def place(as_: dict[str, str], **body: Any) -> dict[str, Any]:
        response = await iso_api.post(
            "/orders?wait=true", json={"symbol": "LEAGR", **body}, headers=as_
        )
        assert response.status_code == 201, response.text
        order: dict[str, Any] = response.json()
        return order

    as_seller, as_teammate = await member(seller), await member(teammate)
    await place(as_seller, qty=10, side="buy", type="market")
    ask = await place(
        as_seller, qty=10, side="sell", type="limit", limit_price="100.00", time_in_force="gtc"
    )
    assert ask["status"] == "new"

    first.send_signal(signal.SIGTERM)
    assert first.wait(15) == 0
    engines.start()  # rebuilds the books from PostgreSQL, each order in its league's book

    outside = await place(headers(signing_key, outsider), qty=4, side="buy", type="market")
    assert (outside["status"], outside["filled_avg_price"]) == ("filled", "100.05"), outside
    inside = await place(as_teammate, qty=4, side="buy", type="market")
    assert (inside["status"], inside["filled_avg_price"]) == ("filled", "100.00"), inside
    resting = (await iso_api.get(f"/orders/{ask['id']}", headers=as_seller)).json()
    assert resting["filled_qty"] == 4
    await settle(iso_db, timeout_s=120)
    assert await audit_violations(iso_db) == {}
