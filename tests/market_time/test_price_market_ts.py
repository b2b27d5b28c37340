"""GET /prices and GET /market-watch keep the market time the stock service stamps on each tick,
next to its wall ts (real Kafka, the trading service's price consumer and Redis cache)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime

import httpx

from shared.kafka import PRICES_TOPIC
from tests.trading_fixtures import Market, until


async def _publish(market: Market, tick: dict[str, object]) -> None:
    await market.producer.send_and_wait(
        PRICES_TOPIC, json.dumps(tick).encode(), key=str(tick["symbol"]).encode()
    )


async def test_prices_carry_the_ticks_market_time(api: httpx.AsyncClient, market: Market) -> None:
    symbol = "MT" + "".join(chr(ord("A") + int(c, 16)) for c in uuid.uuid4().hex[:5])
    seq = int(time.time() * 1000)
    wall = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    await _publish(market, {"symbol": symbol, "price": "12.34", "ts": wall, "seq": seq})

    async def seen(want: int) -> bool:
        response = await api.get(f"/prices/{symbol}")
        return response.status_code == 200 and response.json()["seq"] >= want

    await until(lambda: seen(seq), f"the API has {symbol} seq {seq}")
    # A producer that sends no market time: null, not a guess.
    assert (await api.get(f"/prices/{symbol}")).json()["market_ts"] is None

    market_ts = "2026-12-07T10:41:30.500Z"
    await _publish(
        market,
        {"symbol": symbol, "price": "12.35", "ts": wall, "seq": seq + 1, "market_ts": market_ts},
    )
    await until(lambda: seen(seq + 1), f"the API has {symbol} seq {seq + 1}")
    one = (await api.get(f"/prices/{symbol}")).json()
    assert datetime.fromisoformat(one["market_ts"]) == datetime.fromisoformat(market_ts)
    assert datetime.fromisoformat(one["ts"]) == datetime.fromisoformat(wall)
    (listed,) = [p for p in (await api.get("/prices")).json() if p["symbol"] == symbol]
    assert listed == one
    # The market watch says which session the latest tick is in (the page resets "today" on a
    # new session's first tick from it).
    (row,) = [r for r in (await api.get("/market-watch")).json() if r["symbol"] == symbol]
    assert datetime.fromisoformat(row["market_ts"]) == datetime.fromisoformat(market_ts)
