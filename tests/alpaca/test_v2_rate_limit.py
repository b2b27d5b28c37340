"""/v2 order entry shares the account's rate limits: 429 with Retry-After, in Alpaca's shape."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.alpaca.conftest import KeyHolder, new_key_holder
from tests.live_server import serve
from tests.trading_fixtures import Market
from trading_service.app import create_app
from trading_service.config import TradingSettings

SYMBOL = "ALPRL"
BURST = 3


@pytest.fixture(scope="module")
async def limited(
    trading_settings: TradingSettings, engine: asyncio.Task[None], market: Market
) -> AsyncIterator[httpx.AsyncClient]:
    settings = trading_settings.model_copy(
        update={"order_rate": 0.5, "order_burst": BURST, "cancel_rate": 0.5, "cancel_burst": BURST}
    )
    await market.set(SYMBOL, "10.00")
    async with (
        serve(create_app(settings)) as host,
        httpx.AsyncClient(base_url=f"http://{host}", timeout=30) as http,
    ):
        yield http


async def test_v2_orders_over_the_limit_get_alpacas_429(
    limited: httpx.AsyncClient, users: httpx.AsyncClient
) -> None:
    greedy: KeyHolder = await new_key_holder(users)
    calm: KeyHolder = await new_key_holder(users)
    order = {"symbol": SYMBOL, "qty": 1, "side": "buy", "type": "limit",
             "limit_price": "1.00", "time_in_force": "gtc"}  # fmt: skip
    answers = [
        await limited.post("/v2/orders", json=order, headers=greedy.key_headers)
        for _ in range(BURST + 2)
    ]
    assert [a.status_code for a in answers[:BURST]] == [200] * BURST
    refused = answers[-1]
    assert refused.status_code == 429
    assert refused.json()["code"] == 42910000 and "per second" in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    # Reads are not limited, and another account is not slowed.
    assert (await limited.get("/v2/orders", headers=greedy.key_headers)).status_code == 200
    other = await limited.post("/v2/orders", json=order, headers=calm.key_headers)
    assert other.status_code == 200
    listed = (await limited.get("/v2/orders", headers=greedy.key_headers)).json()
    assert len(listed) == BURST  # the refused ones stored nothing
