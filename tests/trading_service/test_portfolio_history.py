"""GET /portfolio/history (equity from fills and candles) and the portfolio's change today."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.trading_fixtures import Market, Trader, settle, until
from trading_service.candles.aggregator import bucket_start
from trading_service.portfolio.service import _Today
from trading_service.tables import accounts, candles, fills

HOUR = timedelta(hours=1)
GRANT = Decimal("100000.00")


def _symbol(prefix: str) -> str:
    # Letters only (symbols are [A-Z.]); new per test, so no other test's bars or fills mix in.
    return prefix + "".join(chr(ord("A") + int(c, 16)) for c in uuid.uuid4().hex[:5])


async def _trade(api: httpx.AsyncClient, trader: Trader, symbol: str, side: str, qty: int) -> Any:
    response = await api.post(
        "/orders?wait=true",
        json={"symbol": symbol, "qty": qty, "side": side, "type": "market"},
        headers=trader.headers,
    )
    order = response.json()
    assert response.status_code == 201 and order["status"] == "filled", response.text
    return order


async def _put_bar(db: AsyncEngine, symbol: str, start: datetime, close: str) -> None:
    async with db.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO candles (symbol, interval, start_ts, end_ts, open, high, low, close,"
                " open_seq, close_seq) VALUES (:s, '1h', :t, :e, :c, :c, :c, :c, 0, 0)"
                " ON CONFLICT (symbol, interval, start_ts) DO UPDATE SET close = :c"
            ),
            {"s": symbol, "t": start, "e": start + HOUR, "c": Decimal(close)},
        )


async def test_history_replays_fills_against_candle_closes(
    api: httpx.AsyncClient, market: Market, db: AsyncEngine, trader: Trader
) -> None:
    symbol = _symbol("PH")
    await market.set(symbol, "50.00")
    buy = await _trade(api, trader, symbol, "buy", 10)
    await market.set(symbol, "60.00")
    sell = await _trade(api, trader, symbol, "sell", 4)
    await settle(db)

    # Move the story into the past: account opened 6 h ago, bought 5 h ago, sold 3 h ago.
    hour = bucket_start(datetime.now(UTC), 3600)
    bought_at, sold_at = hour - 5 * HOUR + timedelta(minutes=10), hour - 3 * HOUR + HOUR / 2
    async with db.begin() as conn:
        await conn.execute(
            update(accounts).where(accounts.c.id == trader.id).values(created_at=hour - 6 * HOUR)
        )
        await conn.execute(update(fills).where(fills.c.order_id == buy["id"]).values(ts=bought_at))
        await conn.execute(update(fills).where(fills.c.order_id == sell["id"]).values(ts=sold_at))
    # Closes 5 h and 4 h ago, none 3 h ago (carried forward), one 2 h ago; the live price after.
    bars = {hour - 5 * HOUR: "52.00", hour - 4 * HOUR: "55.00", hour - 2 * HOUR: "58.00"}
    async with db.begin() as conn:
        await conn.execute(candles.delete().where(candles.c.symbol == symbol))
    for start, close in bars.items():
        await _put_bar(db, symbol, start, close)

    response = await api.get("/portfolio/history?period=1D&timeframe=1H", headers=trader.headers)
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["timeframe"] == "1H"
    assert got["base_value"] == "100000.00"  # nothing had happened when the first bar began

    # The same story, told independently: cash and shares after the fills before each bar's
    # end, valued at that bar's close (or the last earlier one), the live price for the last.
    buy_cost = sum(Decimal(f["price"]) * f["qty"] for f in buy["fills"])
    sell_gain = sum(Decimal(f["price"]) * f["qty"] for f in sell["fills"])
    stamps = [datetime.fromtimestamp(t, UTC) for t in got["timestamp"]]
    assert stamps[0] == hour - 6 * HOUR  # none before the account existed
    assert stamps[-1] == bucket_start(datetime.now(UTC), 3600) or stamps[-1] == hour
    assert all(b - a == HOUR for a, b in itertools.pairwise(stamps))
    expected = []
    for start in stamps:
        end = start + HOUR
        cash, qty = GRANT, 0
        if bought_at < end:
            cash, qty = cash - buy_cost, qty + 10
        if sold_at < end:
            cash, qty = cash + sell_gain, qty - 4
        closes = [Decimal(c) for t, c in sorted(bars.items()) if t <= start]
        price = closes[-1] if closes else Decimal(buy["fills"][-1]["price"])
        if start == stamps[-1]:
            price = Decimal("60.00")
        expected.append(cash + qty * price)
    assert [Decimal(e) for e in got["equity"]] == expected
    assert [Decimal(p) for p in got["profit_loss"]] == [e - GRANT for e in expected]
    assert got["profit_loss_pct"] == [
        f"{((e - GRANT) / GRANT).quantize(Decimal('0.000001')):f}" for e in expected
    ]
    # Amounts are exact strings; the last point is the portfolio's equity now.
    assert all(isinstance(e, str) and e.count(".") == 1 for e in got["equity"])
    portfolio = (await api.get("/portfolio", headers=trader.headers)).json()
    assert got["equity"][-1] == portfolio["equity"]


async def test_history_refuses_too_many_points_and_unknown_values(
    api: httpx.AsyncClient, trader: Trader
) -> None:
    for query in ["period=1M&timeframe=1Min", "period=1Y", "timeframe=2H", "period=1d"]:
        response = await api.get(f"/portfolio/history?{query}", headers=trader.headers)
        assert response.status_code == 422, query
        assert set(response.json()) == {"error", "detail"}
    fresh = await api.get("/portfolio/history", headers=trader.headers)
    assert fresh.status_code == 200
    body = fresh.json()
    # A new account: one flat point per 5-minute bar since it opened, at the starting cash.
    assert body["timeframe"] == "5Min" and body["base_value"] == "100000.00"
    assert set(body["equity"]) == {"100000.00"} and set(body["profit_loss_pct"]) == {"0.000000"}
    assert (await api.get("/portfolio/history")).status_code == 401


async def test_change_today_counts_from_the_open_and_from_todays_fills(
    api: httpx.AsyncClient, market: Market, db: AsyncEngine, trader: Trader
) -> None:
    symbol = _symbol("PD")
    await market.set(symbol, "40.00")  # the day's first tick: the daily bar opens at 40.00

    async def day_bar_stored() -> bool:
        async with db.connect() as conn:
            found = await conn.scalar(
                text("SELECT count(*) FROM candles WHERE symbol = :s AND interval = '1d'"),
                {"s": symbol},
            )
        return bool(found)

    await until(day_bar_stored, f"the daily bar of {symbol} is stored")
    buy = await _trade(api, trader, symbol, "buy", 10)
    await market.set(symbol, "44.00")
    sell = await _trade(api, trader, symbol, "sell", 4)
    await settle(db)

    portfolio = (await api.get("/portfolio", headers=trader.headers)).json()
    position = next(p for p in portfolio["positions"] if p["symbol"] == symbol)
    buy_cost = sum(Decimal(f["price"]) * f["qty"] for f in buy["fills"])
    sell_gain = sum(Decimal(f["price"]) * f["qty"] for f in sell["fills"])
    # Nothing was held at the open: today's change is value now less the cash put in today.
    expected = 6 * Decimal("44.00") - (buy_cost - sell_gain)
    assert Decimal(position["change_today"]) == expected
    assert position["day_open"] == "40.00"
    assert position["price_change_today_pct"] == "10.00"
    cost_basis = Decimal(position["market_value"]) - Decimal(position["unrealized_pnl"])
    assert Decimal(position["cost_basis"]) == cost_basis
    unrealized = Decimal(position["unrealized_pnl"])
    assert (
        position["unrealized_pnl_pct"]
        == f"{unrealized * 100 / Decimal(position['cost_basis']):.2f}"
    )
    assert Decimal(portfolio["change_today"]) == expected


def test_change_today_of_shares_held_at_the_open_and_partly_sold() -> None:
    # 10 held at the open (100.00), 4 sold today at 105.00, 6 left now at 110.00: the 6 made
    # 10.00 each and the 4 sold made 5.00 each.
    day = _Today(open=Decimal("100.00"), sold_qty=4, flow=-4 * Decimal("105.00"))
    assert day.change(6, Decimal("110.00")) == 6 * 10 + 4 * 5
    # Bought 3 more today at 108.00 on top: they made 2.00 each.
    day = _Today(open=Decimal("100.00"), bought_qty=3, flow=3 * Decimal("108.00"))
    assert day.change(13, Decimal("110.00")) == 10 * 10 + 3 * 2
