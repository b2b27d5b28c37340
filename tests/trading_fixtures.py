"""Trading fixtures for every test folder (a pytest plugin, see tests/conftest.py): a running
trading API and matching engine on the real servers, prices under the test's control.

Tokens are signed here with a test key whose public half is the JWKS the API trusts, exactly as
the user service would sign them (tests/user_service covers the user service itself).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.stack import Stack
from shared.db import create_db_engine
from shared.kafka import PRICES_TOPIC, ensure_topics
from stock_service.market.service import iso_millis
from trading_service.app import create_app
from trading_service.audit import audit
from trading_service.config import EngineSettings, TradingSettings
from trading_service.engine.__main__ import main as engine_main
from trading_service.tables import reference_prices

ISSUER = "stocksim-user-service"
AUDIENCE = "stocksim"


@dataclass
class SigningKey:
    private: Ed25519PrivateKey
    kid: str

    def token(self, sub: uuid.UUID | str, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": str(sub),
            "iat": now,
            "exp": now + 3600,
            "iss": ISSUER,
            "aud": AUDIENCE,
        }
        claims.update(overrides)
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})


@pytest.fixture(scope="session")
def signing_key(data_dir: Path) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
    key = SigningKey(private, "test-key-1")
    jwk.update({"kid": key.kid, "alg": "EdDSA", "use": "sig"})
    (data_dir / "trading-jwks.json").write_text(json.dumps({"keys": [jwk]}))
    return key


@pytest.fixture(scope="session")
async def db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_db_engine(stack.database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def topics(stack: Stack) -> None:
    await ensure_topics(stack.kafka_bootstrap_servers, 4)


@pytest.fixture(scope="session")
def trading_settings(stack: Stack, data_dir: Path, signing_key: SigningKey) -> TradingSettings:
    return TradingSettings(
        jwks_file=data_dir / "trading-jwks.json",
        order_wait_s=10,
        republish_after_s=1.0,
        max_price_age_s=3600,
        log_json=False,
        # Lifted: tests place orders as fast as they can; tests/ops tests the limits.
        order_rate=0,
        cancel_rate=0,
    )


@pytest.fixture(scope="session")
async def engine(stack: Stack, topics: None) -> AsyncIterator[asyncio.Task[None]]:
    settings = EngineSettings(
        group_id=f"engine-{uuid.uuid4().hex[:8]}", session_timeout_ms=2000, log_json=False
    )
    task = asyncio.create_task(engine_main(settings))
    yield task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture(scope="session")
async def trading_app(trading_settings: TradingSettings, topics: None) -> AsyncIterator[FastAPI]:
    app = create_app(trading_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def api(trading_app: FastAPI, engine: asyncio.Task[None]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=trading_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://trading") as client:
        yield client


class Market:
    """Publishes prices like the stock service; waits until the API and the engine have them."""

    _seq = itertools.count(int(time.time() * 1000))

    def __init__(self, producer: AIOKafkaProducer, db: AsyncEngine, api: httpx.AsyncClient):
        self.producer, self.db, self.api = producer, db, api

    async def set(self, symbol: str, price: str) -> int:
        seq = next(self._seq)
        value = {
            "symbol": symbol,
            "price": price,
            "seq": seq,
            # Stamped as the stock service stamps them, to the millisecond: a tick stamped with
            # the second truncated can fall before the market epoch a fresh database just
            # stored, into the previous session's last seconds (and its bars).
            "ts": iso_millis(datetime.now(UTC)),
        }
        await self.producer.send_and_wait(
            PRICES_TOPIC, json.dumps(value).encode(), key=symbol.encode()
        )
        await until(lambda: self._engine_has(symbol, seq), what=f"engine sees {symbol} seq {seq}")
        await until(lambda: self._api_has(symbol, seq), what=f"API sees {symbol} seq {seq}")
        return seq

    async def _engine_has(self, symbol: str, seq: int) -> bool:
        async with self.db.connect() as conn:
            stored = (
                await conn.execute(
                    select(reference_prices.c.seq).where(reference_prices.c.symbol == symbol)
                )
            ).scalar_one_or_none()
        return stored is not None and stored >= seq

    async def _api_has(self, symbol: str, seq: int) -> bool:
        response = await self.api.get(f"/prices/{symbol}")
        return response.status_code == 200 and response.json()["seq"] >= seq


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="session")
async def market(
    stack: Stack, topics: None, db: AsyncEngine, api: httpx.AsyncClient
) -> AsyncIterator[Market]:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    yield Market(producer, db, api)
    await producer.stop()


@dataclass
class Trader:
    id: uuid.UUID
    headers: dict[str, str]


@pytest.fixture
def new_trader(signing_key: SigningKey) -> Callable[[], Trader]:
    def make() -> Trader:
        user_id = uuid.uuid4()
        return Trader(user_id, {"Authorization": f"Bearer {signing_key.token(user_id)}"})

    return make


@pytest.fixture
def trader(new_trader: Callable[[], Trader]) -> Trader:
    return new_trader()


async def audit_violations(db: AsyncEngine) -> dict[str, list[str]]:
    async with db.connect() as conn:
        return {k: v for k, v in (await audit(conn)).items() if v}


async def settle(db: AsyncEngine, timeout_s: float = 30) -> None:
    """Wait until the engine has processed every order the API acknowledged."""

    async def idle() -> bool:
        async with db.connect() as conn:
            pending = (
                await conn.execute(text("SELECT count(*) FROM orders WHERE accepted_at IS NULL"))
            ).scalar_one()
        return pending == 0

    await until(idle, "every order is processed", timeout_s)


def money(value: str) -> Decimal:
    return Decimal(value)
