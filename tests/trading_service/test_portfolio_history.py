"""GET /portfolio/history (equity from fills and candles) and the portfolio's change today."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.market_clock import MarketClock
from tests.trading_fixtures import Market, Trader, settle, until
from trading_service.portfolio.service import _Today
from trading_service.tables import accounts, candles, fills

HOUR = timedelta(hours=1)
MARKET_ZONE = timezone(timedelta(hours=-5))  # the market's fixed zone, as in the README
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


async def _set_hour_bars(db: AsyncEngine, symbol: str, bars: dict[datetime, str]) -> None:
    """The symbol's stored bars become exactly these 1h closes (start -> close)."""
    async with db.begin() as conn:
        await conn.execute(candles.delete().where(candles.c.symbol == symbol))
    for start, close in bars.items():
        await _put_bar(db, symbol, start, close)


def _market(day: date, hour: int, minute: int = 0) -> datetime:
    """An instant of market time (UTC-05:00), as a UTC datetime."""
    return datetime.combine(day, time(hour, minute), MARKET_ZONE).astimezone(UTC)


def _hour_bars(days: list[date]) -> list[datetime]:
    """Starts of the 1h bars of these sessions (09:30-16:00): the 09:00 bar holds 09:30-10:00."""
    return [_market(day, hour) for day in days for hour in range(9, 16)]


async def test_history_replays_fills_against_candle_closes_in_market_time(
    api: httpx.AsyncClient,
    market: Market,
    db: AsyncEngine,
    trader: Trader,
    trading_app: FastAPI,
) -> None:
    clock: MarketClock = trading_app.state.clock
    symbol = _symbol("PH")
    await market.set(symbol, "50.00")
    buy = await _trade(api, trader, symbol, "buy", 10)
    await market.set(symbol, "60.00")
    sell = await _trade(api, trader, symbol, "sell", 4)
    await settle(db)

    # Move the story into the market's past, three sessions back: the account opened at 10:15,
    # bought at 12:10; sold two sessions back at 14:30. Fills and accounts keep wall time: the
    # wall instants are where the clock (shared/market_clock.py) reaches those market times.
    today = clock.day_index(datetime.now(UTC))
    d3, d2, d1, d0 = (clock.day_of(today - k) for k in (3, 2, 1, 0))
    opened_at, bought_at, sold_at = _market(d3, 10, 15), _market(d3, 12, 10), _market(d2, 14, 30)
    async with db.begin() as conn:
        await conn.execute(
            update(accounts)
            .where(accounts.c.id == trader.id)
            .values(created_at=clock.wall_time(opened_at))
        )
        for order, at in ((buy, bought_at), (sell, sold_at)):
            await conn.execute(
                update(fills).where(fills.c.order_id == order["id"]).values(ts=clock.wall_time(at))
            )
    # 1h closes: 12:00 and 13:00 of d3, none at 14:00 and 15:00 (carried forward), 10:00 of d1.
    bars = {_market(d3, 12): "52.00", _market(d3, 13): "55.00", _market(d1, 10): "58.00"}
    await _set_hour_bars(db, symbol, bars)

    before = datetime.now(UTC)
    response = await api.get("/portfolio/history?period=1W&timeframe=1H", headers=trader.headers)
    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["timeframe"] == "1H"
    assert got["base_value"] == "100000.00"  # nothing had happened when the first bar began

    # The bars: the sessions' hours from the one the account opened in (10:00 of d3; none
    # before it existed) to the bar forming now, market time; nights and weekends have none.
    stamps = [datetime.fromtimestamp(t, UTC) for t in got["timestamp"]]
    hours = [t for t in _hour_bars([d3, d2, d1, d0]) if t >= _market(d3, 10)]
    assert stamps[0] == _market(d3, 10)
    assert stamps in (
        [t for t in hours if t <= clock.market_time(before)],
        [t for t in hours if t <= clock.market_time(after)],
    )
    # The same story, told independently: cash and shares after the fills before each bar's
    # end, valued at that bar's close (or the last earlier one), the live price for the last.
    buy_cost = sum(Decimal(f["price"]) * f["qty"] for f in buy["fills"])
    sell_gain = sum(Decimal(f["price"]) * f["qty"] for f in sell["fills"])
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

    # 1D is the current session only, and its 1D bar starts at the session's open, as the
    # daily candles do.
    day = (
        await api.get("/portfolio/history?period=1D&timeframe=1H", headers=trader.headers)
    ).json()
    now_day = clock.current_session(datetime.now(UTC)).day
    assert [datetime.fromtimestamp(t, UTC) for t in day["timestamp"]] == [
        t for t in _hour_bars([now_day]) if t <= clock.market_time(datetime.now(UTC))
    ]
    daily = (
        await api.get("/portfolio/history?period=1W&timeframe=1D", headers=trader.headers)
    ).json()
    assert [datetime.fromtimestamp(t, UTC) for t in daily["timestamp"]] == [
        _market(d, 9, 30) for d in (d3, d2, d1, now_day)
    ]


async def test_history_after_a_reset_starts_at_the_reset_from_the_starting_cash(
    api: httpx.AsyncClient,
    market: Market,
    db: AsyncEngine,
    trader: Trader,
    trading_app: FastAPI,
) -> None:
    clock: MarketClock = trading_app.state.clock
    symbol = _symbol("PR")
    await market.set(symbol, "50.00")
    before_reset = await _trade(api, trader, symbol, "buy", 10)
    await settle(db)
    reset = await api.post(f"/accounts/{trader.id}/reset", headers=trader.headers)
    assert reset.status_code == 200, reset.text
    await market.set(symbol, "60.00")
    after_reset = await _trade(api, trader, symbol, "buy", 3)
    await settle(db)

    # The story in the market's past: opened at 10:15 of d3, bought at 12:10, reset at 11:20 of
    # d2, bought again at 14:30 of d2.
    today = clock.day_index(datetime.now(UTC))
    d3, d2 = clock.day_of(today - 3), clock.day_of(today - 2)
    reset_at, bought_at = _market(d2, 11, 20), _market(d2, 14, 30)
    async with db.begin() as conn:
        await conn.execute(
            update(accounts)
            .where(accounts.c.id == trader.id)
            .values(
                created_at=clock.wall_time(_market(d3, 10, 15)),
                reset_at=clock.wall_time(reset_at),
            )
        )
        for order, at in ((before_reset, _market(d3, 12, 10)), (after_reset, bought_at)):
            await conn.execute(
                update(fills).where(fills.c.order_id == order["id"]).values(ts=clock.wall_time(at))
            )
    bars = {_market(d3, 13): "52.00", _market(d2, 15): "55.00"}
    await _set_hour_bars(db, symbol, bars)

    got = (
        await api.get("/portfolio/history?period=1W&timeframe=1H", headers=trader.headers)
    ).json()
    stamps = [datetime.fromtimestamp(t, UTC) for t in got["timestamp"]]
    assert stamps[0] == _market(d2, 11)  # the bar of the reset: nothing before it
    assert got["base_value"] == "100000.00"  # the starting cash, not the old account's equity
    # Only the fills since the reset count, from the starting cash.
    cost = sum(Decimal(f["price"]) * f["qty"] for f in after_reset["fills"])
    expected = []
    for start in stamps:
        cash, qty = GRANT, 0
        if bought_at < start + HOUR:
            cash, qty = cash - cost, 3
        closes = [Decimal(c) for t, c in sorted(bars.items()) if t <= start]
        price = Decimal("60.00") if start == stamps[-1] else closes[-1]
        expected.append(cash + qty * price)
    assert [Decimal(e) for e in got["equity"]] == expected
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


async def test_change_today_is_since_the_open_of_the_market_session(
    api: httpx.AsyncClient,
    market: Market,
    db: AsyncEngine,
    trader: Trader,
    trading_app: FastAPI,
) -> None:
    clock: MarketClock = trading_app.state.clock
    symbol = _symbol("PS")
    await market.set(symbol, "40.00")  # the session's first tick: its daily bar opens at 40.00
    session_open = clock.current_session(datetime.now(UTC)).open

    async def day_bar_stored() -> bool:
        async with db.connect() as conn:
            found = await conn.scalar(
                text(
                    "SELECT count(*) FROM candles WHERE symbol = :s AND interval = '1d'"
                    " AND start_ts = :t"
                ),
                {"s": symbol, "t": session_open},
            )
        return bool(found)

    await until(day_bar_stored, f"the daily bar of {symbol} for this session is stored")
    await market.set(symbol, "42.00")
    buy = await _trade(api, trader, symbol, "buy", 10)
    await market.set(symbol, "44.00")
    sell = await _trade(api, trader, symbol, "sell", 4)
    await settle(db)
    # The buy happened in the previous session: the wall instant of its 15:00 (market time),
    # which on the wall clock is a moment ago, so only the market clock can tell it apart.
    previous = clock.day_of(clock.day_index(datetime.now(UTC)) - 1)
    bought_at = clock.wall_time(_market(previous, 15))
    async with db.begin() as conn:
        await conn.execute(update(fills).where(fills.c.order_id == buy["id"]).values(ts=bought_at))

    portfolio = (await api.get("/portfolio", headers=trader.headers)).json()
    position = next(p for p in portfolio["positions"] if p["symbol"] == symbol)
    sell_gain = sum(Decimal(f["price"]) * f["qty"] for f in sell["fills"])
    # 10 held at the open (40.00): 6 are worth 44.00 now and 4 were sold this session.
    expected = 6 * Decimal("44.00") - 10 * Decimal("40.00") + sell_gain
    assert position["day_open"] == "40.00"
    assert Decimal(position["change_today"]) == expected
    assert Decimal(portfolio["change_today"]) == expected

    # The trades list gives each fill's market time too: the candles' time axis.
    trades = (await api.get("/trades?limit=10", headers=trader.headers)).json()
    by_order = {t["order_id"]: t for t in trades}
    # (Up to float rounding of the clock's wall <-> market maths: well under a millisecond.)
    bought_market = datetime.fromisoformat(by_order[buy["id"]]["market_time"])
    assert abs(bought_market - _market(previous, 15)) < timedelta(milliseconds=1)
    sold = by_order[sell["id"]]
    assert datetime.fromisoformat(sold["market_time"]) == clock.market_time(
        datetime.fromisoformat(sold["ts"])
    )
    assert datetime.fromisoformat(sold["market_time"]) >= session_open


def test_change_today_of_shares_held_at_the_open_and_partly_sold() -> None:
    # 10 held at the open (100.00), 4 sold today at 105.00, 6 left now at 110.00: the 6 made
    # 10.00 each and the 4 sold made 5.00 each.
    day = _Today(open=Decimal("100.00"), sold_qty=4, flow=-4 * Decimal("105.00"))
    assert day.change(6, Decimal("110.00")) == 6 * 10 + 4 * 5
    # Bought 3 more today at 108.00 on top: they made 2.00 each.
    day = _Today(open=Decimal("100.00"), bought_qty=3, flow=3 * Decimal("108.00"))
    assert day.change(13, Decimal("110.00")) == 10 * 10 + 3 * 2


async def test_history_of_an_account_restarted_after_the_request_began_is_empty_not_an_error(
    api: httpx.AsyncClient, db: AsyncEngine, trader: Trader
) -> None:
    assert (await api.get("/portfolio", headers=trader.headers)).status_code == 200
    # A reset that commits after the request read `now`, in a bar that had not begun then (moved
    # an hour ahead here, so the race is certain): no bar to show, and no 500.
    async with db.begin() as conn:
        await conn.execute(
            update(accounts)
            .where(accounts.c.id == trader.id)
            .values(reset_at=datetime.now(UTC) + HOUR)
        )
    response = await api.get("/portfolio/history?timeframe=1Min", headers=trader.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timestamp"] == [] and body["equity"] == []
    assert body["base_value"] == "100000.00"
