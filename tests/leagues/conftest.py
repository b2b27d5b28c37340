"""League tests trade through Kafka; the shared fixtures live in tests/trading_fixtures.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.trading_fixtures import SigningKey, Trader

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.kafka)


@pytest.fixture
def admin(signing_key: SigningKey) -> Trader:
    user_id = uuid.uuid4()
    return Trader(user_id, {"Authorization": f"Bearer {signing_key.token(user_id, role='admin')}"})


@pytest.fixture
def league_factory(api: httpx.AsyncClient, admin: Trader) -> Callable[..., Any]:
    async def create(**body: Any) -> dict[str, Any]:
        body.setdefault("name", f"league-{uuid.uuid4().hex[:6]}")
        body.setdefault("starting_cash", "10000.00")
        response = await api.post("/leagues", json=body, headers=admin.headers)
        assert response.status_code == 201, response.text
        league: dict[str, Any] = response.json()
        return league

    return create


async def join(api: httpx.AsyncClient, trader: Trader, code: str) -> dict[str, Any]:
    response = await api.post("/leagues/join", json={"invite_code": code}, headers=trader.headers)
    assert response.status_code == 201, response.text
    account: dict[str, Any] = response.json()
    return account


def acting(trader: Trader, account_id: str) -> dict[str, str]:
    """The trader's headers, acting on one of their accounts."""
    return {**trader.headers, "X-Account-Id": account_id}
