"""The three services on the session's real servers, for hostile-input tests.

Self-contained on purpose: tests/trading_service's session fixtures (its engine, its signing key)
must exist once per session, so this directory starts its own trading API (a second replica, no
engine of its own) that trusts the user service's key, as in production. The session's `db` and
`topics` come from tests/trading_fixtures.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from devstack.stack import Stack
from shared.kafka import PRICES_TOPIC
from tests.trading_fixtures import SigningKey, until
from trading_service.app import create_app as create_trading_app
from trading_service.config import TradingSettings
from user_service.app import create_app as create_user_app
from user_service.config import UserSettings
from user_service.keys import JWKS_FILE, load_signing_key, write_jwks

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _servers(stack: Stack) -> None:
    """Every test here talks to the real servers; settings read their addresses from the env."""


@pytest.fixture(scope="session")
def hostile_key(stack: Stack) -> SigningKey:
    """The user service's own signing key: tokens minted here and real logins both verify."""
    settings = UserSettings()
    key = load_signing_key(settings)
    write_jwks(key, settings.keys_dir)
    return SigningKey(key.private_key, key.kid)


@pytest.fixture(scope="session")
def hostile_trading_settings(
    stack: Stack, data_dir: Path, hostile_key: SigningKey, topics: None
) -> TradingSettings:
    return TradingSettings(
        jwks_file=UserSettings().keys_dir / JWKS_FILE,
        order_wait_s=0.5,
        max_price_age_s=3600,
        log_json=False,
    )


@pytest.fixture(scope="session")
async def trading(hostile_trading_settings: TradingSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_trading_app(hostile_trading_settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://trading"
        ) as client,
    ):
        yield client


@pytest.fixture(scope="session")
async def prices(stack: Stack, topics: None) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    yield producer
    await producer.stop()


async def publish_price(
    producer: AIOKafkaProducer, trading: httpx.AsyncClient, symbol: str, price: str
) -> None:
    """Publish like the stock service and wait until the trading API has the price."""
    seq = int(time.time() * 1_000_000)
    value = {
        "symbol": symbol,
        "price": price,
        "seq": seq,
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
    }
    await producer.send_and_wait(PRICES_TOPIC, json.dumps(value).encode(), key=symbol.encode())

    async def seen() -> bool:
        response = await trading.get(f"/prices/{symbol}")
        return response.status_code == 200 and response.json()["seq"] >= seq

    await until(seen, what=f"the trading API sees {symbol} seq {seq}")


@dataclass
class Trader:
    id: uuid.UUID
    headers: dict[str, str]


def new_trader(key: SigningKey) -> Trader:
    user_id = uuid.uuid4()
    return Trader(user_id, {"Authorization": f"Bearer {key.token(user_id)}"})


def unique_symbol(prefix: str) -> str:
    """A symbol no other test uses (letters only, at most 10 characters)."""
    letters = "".join(chr(ord("A") + int(c, 16) % 26) for c in uuid.uuid4().hex[:6])
    return f"{prefix}{letters}"[:10]


def user_settings(**overrides: Any) -> UserSettings:
    return UserSettings(**overrides)


@asynccontextmanager
async def user_service(
    settings: UserSettings, client_address: str = "127.0.0.1"
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A running user service; its client connects from `client_address`."""
    app = create_user_app(settings)
    transport = httpx.ASGITransport(app=app, client=(client_address, 50000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://user-service") as client,
    ):
        yield app, client


def fresh_address() -> str:
    """A client address no other test uses, so per-address counters start at zero."""
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


def new_user(**changes: Any) -> dict[str, Any]:
    name = f"h_{uuid.uuid4().hex[:12]}"
    return {"username": name, "email": f"{name}@example.com", "password": PASSWORD} | changes
