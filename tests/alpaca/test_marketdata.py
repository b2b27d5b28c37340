"""Alpaca market-data REST through alpaca-py unchanged, against a live trading service.

alpaca-py's clients are synchronous (requests): each call runs in a thread so the server, on
this test's event loop, keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockSnapshotRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.alpaca.conftest import KeyHolder
from tests.live_server import serve
from tests.trading_fixtures import Market, SigningKey, until
from trading_service.app import create_app
from trading_service.config import TradingSettings
from trading_service.realtime.config import RealtimeSettings
from trading_service.tables import candles


@pytest.fixture(scope="module")
async def server(trading_settings: TradingSettings, engine: Any) -> AsyncIterator[str]:
    app = create_app(trading_settings, RealtimeSettings(candle_flush_s=0.2))
    async with serve(app) as host:
        yield f"http://{host}"


def client(holder: KeyHolder, url: str) -> StockHistoricalDataClient:
    return StockHistoricalDataClient(holder.key_id, holder.secret, url_override=url)


def day_bars(symbol: str, first: datetime, count: int, base: Decimal) -> list[dict[str, Any]]:
    """`count` daily bars with distinct closes, one a day from `first`."""
    rows = []
    for i in range(count):
        close = base + i
        start = first + timedelta(days=i)
        rows.append(
            {
                "symbol": symbol,
                "interval": "1d",
                "start_ts": start,
                "end_ts": start + timedelta(hours=6, minutes=30),
                "open": close - 1,
                "high": close + Decimal("0.50"),
                "low": close - Decimal("1.25"),
                "close": close,
                "open_seq": i * 2,
                "close_seq": i * 2 + 1,
                "volume": 100 + i,
            }
        )
    return rows


async def test_bars_of_several_symbols_page_through_every_stored_bar_exactly_once(
    server: str, holder: KeyHolder, db: AsyncEngine
) -> None:
    first = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
    async with db.begin() as conn:
        await conn.execute(candles.insert(), day_bars("APBA", first, 7, Decimal("10.00")))
        await conn.execute(candles.insert(), day_bars("APBB", first, 5, Decimal("50.00")))
        # Another interval and a bar outside the range must not show.
        minute = day_bars("APBA", first, 1, Decimal("99.00"))[0] | {"interval": "1m"}
        await conn.execute(candles.insert(), [minute])
    data = client(holder, server)
    request = StockBarsRequest(
        symbol_or_symbols=["APBA", "APBB"],
        timeframe=TimeFrame.Day,
        start=first,
        end=first + timedelta(days=6),  # excludes APBA's 7th bar
    )
    # alpaca-py follows next_page_token by itself; force pages of 4 bars through the raw API too.
    barset = await asyncio.to_thread(data.get_stock_bars, request)
    closes = {s: [b.close for b in bars] for s, bars in barset.data.items()}
    assert closes == {
        "APBA": [10.0, 11.0, 12.0, 13.0, 14.0, 15.0],
        "APBB": [50.0, 51.0, 52.0, 53.0, 54.0],
    }
    bar = barset.data["APBB"][1]
    assert (bar.timestamp, bar.open, bar.high, bar.low, bar.volume) == (
        first + timedelta(days=1),
        50.0,
        51.5,
        49.75,
        101,
    )

    pages: list[dict[str, Any]] = []
    token = None
    async with httpx.AsyncClient(base_url=server, headers=holder.key_headers) as http:
        while True:
            params = {
                "symbols": "APBA,APBB",
                "timeframe": "1Day",
                "start": first.isoformat(),
                "end": (first + timedelta(days=6)).isoformat(),
                "limit": "4",
            } | ({"page_token": token} if token else {})
            page = (await http.get("/v2/stocks/bars", params=params)).json()
            pages.append(page)
            token = page["next_page_token"]
            if token is None:
                break
    assert [sum(len(v) for v in p["bars"].values()) for p in pages] == [4, 4, 3]
    served = [(s, b["t"]) for p in pages for s, bars in p["bars"].items() for b in bars]
    assert len(served) == len(set(served)) == 11

    # The limit counts across pages: alpaca-py stops after 3 bars.
    limited = await asyncio.to_thread(
        data.get_stock_bars,
        StockBarsRequest(symbol_or_symbols="APBA", timeframe=TimeFrame.Day, start=first, limit=3),
    )
    assert [b.close for b in limited.data["APBA"]] == [10.0, 11.0, 12.0]
    # Newest first, one symbol, the single-symbol route.
    async with httpx.AsyncClient(base_url=server, headers=holder.key_headers) as http:
        one = await http.get(
            "/v2/stocks/apba/bars",
            params={"timeframe": "1D", "start": "2025-03-01", "sort": "desc", "limit": "2"},
        )
    assert one.status_code == 200, one.text
    assert [b["c"] for b in one.json()["bars"]] == [16.0, 15.0]
    assert one.json()["next_page_token"] is not None


async def test_bad_bar_requests_are_alpaca_style_422s_and_keys_are_required(
    server: str, holder: KeyHolder
) -> None:
    data = client(holder, server)
    with pytest.raises(APIError) as refused:
        await asyncio.to_thread(
            data.get_stock_bars,
            StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame(2, TimeFrameUnit.Hour)),
        )
    assert refused.value.status_code == 422
    assert "timeframe" in refused.value.message
    async with httpx.AsyncClient(base_url=server) as http:
        bad = {"symbols": "AAPL", "timeframe": "1Min"}
        for params in (
            bad | {"limit": "0"},
            bad | {"limit": "x"},
            bad | {"start": "yesterday"},
            bad | {"page_token": "!!"},
            bad | {"symbols": "A;B"},
            {"timeframe": "1Min"},
        ):
            response = await http.get("/v2/stocks/bars", params=params, headers=holder.key_headers)
            assert response.status_code == 422, params
            assert set(response.json()) == {"code", "message"}
        for headers in ({}, {"APCA-API-KEY-ID": holder.key_id, "APCA-API-SECRET-KEY": "wrong"}):
            response = await http.get("/v2/stocks/bars", params=bad, headers=headers)
            assert response.status_code == 403
            assert set(response.json()) == {"code", "message"}


async def test_latest_quote_trade_and_snapshot_follow_the_market(
    server: str, holder: KeyHolder, market: Market, signing_key: SigningKey
) -> None:
    data = client(holder, server)
    await market.set("APQT", "42.00")
    # The house quote is around the reference price once the engine has published the book.
    quotes: dict[str, Any] = {}

    async def quoted() -> bool:
        nonlocal quotes
        quotes = await asyncio.to_thread(
            data.get_stock_latest_quote, StockLatestQuoteRequest(symbol_or_symbols=["APQT"])
        )
        return "APQT" in quotes

    await until(quoted, "a quote for APQT")
    quote = quotes["APQT"]
    assert 0 < quote.bid_price <= 42.0 <= quote.ask_price
    assert quote.bid_size > 0 and quote.ask_size > 0

    token = signing_key.token(holder.user_id)
    async with httpx.AsyncClient(base_url=server) as http:
        bought = await http.post(
            "/trade/buy",
            json={"stock_symbol": "APQT", "quantity": 3},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert bought.status_code == 201, bought.text
    fill = bought.json()
    trades = await asyncio.to_thread(
        data.get_stock_latest_trade, StockLatestTradeRequest(symbol_or_symbols="APQT")
    )
    trade = trades["APQT"]
    assert trade.size == 3
    assert Decimal(str(trade.price)) == Decimal(fill["filled_avg_price"] or fill["price"])
    assert trade.id is not None

    snapshots = await asyncio.to_thread(
        data.get_stock_snapshot, StockSnapshotRequest(symbol_or_symbols=["APQT", "NOSUCH"])
    )
    assert set(snapshots) == {"APQT"}
    snap = snapshots["APQT"]
    assert snap.latest_trade is not None and snap.latest_trade.id == trade.id
    assert snap.latest_quote is not None and snap.latest_quote.ask_price >= 42.0
    assert snap.minute_bar is not None and snap.minute_bar.close == 42.0
    assert snap.daily_bar is not None and snap.daily_bar.close == 42.0
