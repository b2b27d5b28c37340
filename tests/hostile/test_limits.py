"""Oversized bodies, absurd numbers, decimal tricks, unicode and SQL-looking strings: a clear 4xx
JSON error, and nothing stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.limits import MAX_BODY_BYTES
from tests.hostile.conftest import (
    PASSWORD,
    SigningKey,
    fresh_address,
    new_trader,
    new_user,
    publish_price,
    unique_symbol,
    user_service,
    user_settings,
)
from tests.stock_service.conftest import make_settings, running
from trading_service.tables import orders
from user_service.tables import users

HOSTILE_STRINGS = [
    "'; DROP TABLE orders; --",
    "' OR '1'='1",
    '" OR ""="',
    "1; SELECT pg_sleep(10)",
    "%s%s%s%n",
    "{{7*7}}",
    "\uff21\uff21\uff30\uff2c",  # fullwidth AAPL
    "AAPL\u202e",  # right-to-left override
    "A\u0000B",  # NUL: PostgreSQL text cannot even hold it
    "🚀",
    "Ä" * 5000,
    "",
    " ",
    "\n",
]

# (field value, why it must be refused); each goes in as the price of a limit order.
BAD_PRICES: list[tuple[str, str]] = [
    ("1e309", "overflows a double: infinity"),
    ("-1e309", "negative infinity"),
    ("NaN", "not a number"),
    ("Infinity", "infinity literal"),
    ("-Infinity", "negative infinity literal"),
    ('"NaN"', "NaN as a string"),
    ('"Infinity"', "infinity as a string"),
    ('"sNaN"', "signalling NaN as a string"),
    ("-0", "negative zero"),
    ('"-0.00"', "negative zero as a string"),
    ("0", "zero"),
    ("0.001", "below the tick"),
    ('"0.001"', "below the tick as a string"),
    ("100.005", "between ticks"),
    ('"1_000"', "underscore digit grouping"),
    ('"1,000"', "comma digit grouping"),
    ('" 1e400 "', "huge exponent"),
    ('"1e-400"', "tiny exponent"),
    ("1000000.01", "above the largest price"),
    ("1" + "0" * 400, "absurdly long integer"),
    ('"0x10"', "hex"),
    ("true", "boolean"),
    ("[1]", "array"),
    ('{"$gt": 0}', "object"),
    ("null", "null for a limit order"),
    ('"\uff11.00"', "fullwidth digit"),
    ('"\u0661\u0662.\u0663\u0664"', "Arabic-Indic digits"),
    ('"\u0967\u0966"', "Devanagari digits"),
    ('"1e2"', "exponent in a string"),
]

BAD_QUANTITIES: list[tuple[str, str]] = [
    ("0", "zero"),
    ("-1", "negative"),
    ("1.5", "fractional"),
    ("1.0", "a float, even integral"),
    ("1e3", "exponent float"),
    ('"10"', "string"),
    ("1000001", "above the largest quantity"),
    ("99999999999999999999999999", "beyond 64 bits"),
    ("1e309", "infinity"),
    ("NaN", "not a number"),
    ("true", "boolean"),
]


def _raw_order(symbol: str, **raw_fields: str) -> bytes:
    """An order body with some fields as raw JSON text (so NaN and 1e309 go out verbatim)."""
    fields = {
        "symbol": json.dumps(symbol),
        "qty": "5",
        "side": '"buy"',
        "type": '"limit"',
        "limit_price": '"10.00"',
    } | raw_fields
    return ("{" + ",".join(f'"{k}": {v}' for k, v in fields.items()) + "}").encode()


async def _stored_orders(db: AsyncEngine, trader_id: Any) -> int:
    async with db.connect() as conn:
        count: int = (
            await conn.execute(
                select(func.count()).select_from(orders).where(orders.c.account_id == trader_id)
            )
        ).scalar_one()
    return count


@pytest.fixture(scope="module")
async def symbol(trading: httpx.AsyncClient, prices: AIOKafkaProducer) -> str:
    listed = unique_symbol("LIM")
    await publish_price(prices, trading, listed, "100.00")
    return listed


def _assert_clear_4xx(response: httpx.Response, what: object) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "detail"}, (what, body)


@pytest.mark.parametrize(("raw", "why"), BAD_PRICES, ids=[w for _, w in BAD_PRICES])
async def test_bad_prices_are_refused(
    trading: httpx.AsyncClient,
    hostile_key: SigningKey,
    db: AsyncEngine,
    symbol: str,
    raw: str,
    why: str,
) -> None:
    trader = new_trader(hostile_key)
    headers = trader.headers | {"Content-Type": "application/json"}
    for field, order_type in (("limit_price", '"limit"'), ("stop_price", '"stop"')):
        body = (
            _raw_order(symbol, limit_price=raw)
            if field == "limit_price"
            else _raw_order(symbol, type=order_type, limit_price="null", stop_price=raw)
        )
        response = await trading.post("/orders", content=body, headers=headers)
        assert response.status_code == 422, (why, field, response.text)
        assert response.json()["error"] == "validation_error"
    assert await _stored_orders(db, trader.id) == 0


@pytest.mark.parametrize(("raw", "why"), BAD_QUANTITIES, ids=[w for _, w in BAD_QUANTITIES])
async def test_bad_quantities_are_refused(
    trading: httpx.AsyncClient,
    hostile_key: SigningKey,
    db: AsyncEngine,
    symbol: str,
    raw: str,
    why: str,
) -> None:
    trader = new_trader(hostile_key)
    headers = trader.headers | {"Content-Type": "application/json"}
    response = await trading.post("/orders", content=_raw_order(symbol, qty=raw), headers=headers)
    assert response.status_code == 422, (why, response.text)
    trade = await trading.post(
        "/trade/buy",
        content=f'{{"stock_symbol": "{symbol}", "quantity": {raw}}}'.encode(),
        headers=headers,
    )
    assert trade.status_code == 422, (why, trade.text)
    assert await _stored_orders(db, trader.id) == 0


async def test_affordable_in_shares_but_not_in_cash_is_409_and_stores_nothing(
    trading: httpx.AsyncClient, hostile_key: SigningKey, db: AsyncEngine, symbol: str
) -> None:
    trader = new_trader(hostile_key)
    response = await trading.post(
        "/orders",
        json={
            "symbol": symbol,
            "qty": 1_000_000,
            "side": "buy",
            "type": "limit",
            "limit_price": "1000000",
        },
        headers=trader.headers,
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "insufficient_funds"
    assert await _stored_orders(db, trader.id) == 0


def _string_fields(symbol: str) -> Iterator[tuple[str, dict[str, Any]]]:
    base = {"symbol": symbol, "qty": 1, "side": "buy", "type": "limit", "limit_price": "1.00"}
    for field in ("symbol", "side", "type", "time_in_force", "client_order_id", "limit_price"):
        for value in HOSTILE_STRINGS:
            yield field, base | {field: value}


async def test_hostile_strings_in_order_fields(
    trading: httpx.AsyncClient, hostile_key: SigningKey, db: AsyncEngine, symbol: str
) -> None:
    trader = new_trader(hostile_key)
    accepted = 0
    for field, body in _string_fields(symbol):
        response = await trading.post("/orders", json=body, headers=trader.headers)
        if field == "client_order_id" and response.status_code == 201:
            # Any printable ASCII is a fine id of the client's own: kept verbatim, never run.
            assert response.json()["client_order_id"] == body[field]
            accepted += 1
            continue
        _assert_clear_4xx(response, (field, body[field]))
    assert await _stored_orders(db, trader.id) == accepted


async def test_hostile_strings_in_paths_and_queries(
    trading: httpx.AsyncClient, hostile_key: SigningKey
) -> None:
    trader = new_trader(hostile_key)
    for value in HOSTILE_STRINGS:
        quoted = quote(value, safe="")
        for url, params in (
            (f"/orders/by-client-id/{quoted}", None),
            (f"/orders/{quoted}", None),
            ("/orders", {"symbol": value}),
            ("/orders", {"status": value}),
            (f"/prices/{quoted}", None),
            (f"/orderbook/{quoted}", None),
            (f"/quotes/{quoted}", None),
            (f"/market-trades/{quoted}", None),
            (f"/candles/{quoted}", None),
        ):
            response = await trading.get(url, params=params, headers=trader.headers)
            if response.status_code in (200, 307):
                continue  # e.g. "/orders/" with an empty id lists the orders
            _assert_clear_4xx(response, (url, params))


async def test_hostile_strings_at_the_user_service(db: AsyncEngine) -> None:
    settings = user_settings(register_max_per_ip=10_000, login_max_per_ip=10_000)
    async with user_service(settings, fresh_address()) as (_, client):
        for value in HOSTILE_STRINGS:
            for field in ("username", "email"):
                response = await client.post("/register", json=new_user(**{field: value}))
                _assert_clear_4xx(response, (field, value))
            login = await client.post("/login", json={"email": value, "password": value})
            _assert_clear_4xx(login, ("login", value))
        async with db.connect() as conn:
            stored = (
                await conn.execute(
                    select(func.count())
                    .select_from(users)
                    .where(users.c.username.in_([v for v in HOSTILE_STRINGS if "\0" not in v]))
                )
            ).scalar_one()
        assert stored == 0
        # Any string is a legitimate password: stored hashed, checked exactly, harmless to SQL.
        sql_password = "'; DROP TABLE users; -- Ä🚀"
        user = new_user(password=sql_password)
        assert (await client.post("/register", json=user)).status_code == 201
        ok = await client.post("/login", json={"email": user["email"], "password": sql_password})
        assert ok.status_code == 200
        wrong = await client.post("/login", json={"email": user["email"], "password": PASSWORD})
        assert wrong.status_code == 401


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_oversized_bodies_are_413(
    trading: httpx.AsyncClient,
    hostile_key: SigningKey,
    db: AsyncEngine,
    data_dir: Path,
    chunked: bool,
) -> None:
    trader = new_trader(hostile_key)
    padding = "x" * (MAX_BODY_BYTES + 1)
    payload = json.dumps(
        {"symbol": "AAPL", "qty": 1, "side": "buy", "client_order_id": padding}
    ).encode()

    def body() -> Any:
        if not chunked:
            return payload

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(payload), 4096):
                yield payload[start : start + 4096]

        return chunks()

    settings = user_settings(register_max_per_ip=10_000)
    stock_settings = make_settings(data_dir / "limits-stock", ["LIMSA"])
    async with (
        user_service(settings, fresh_address()) as (_, users_client),
        running(stock_settings) as (_, stock_client),
    ):
        responses = {
            "stock /stocks": await stock_client.request(
                "GET", "/stocks", content=body(), headers={"Content-Type": "application/json"}
            ),
            "trading /orders": await trading.post(
                "/orders",
                content=body(),
                headers=trader.headers | {"Content-Type": "application/json"},
            ),
            "user /register": await users_client.post(
                "/register", content=body(), headers={"Content-Type": "application/json"}
            ),
            "user /login": await users_client.post(
                "/login", content=body(), headers={"Content-Type": "application/json"}
            ),
        }
    for what, response in responses.items():
        assert response.status_code == 413, (what, response.text)
        assert response.json()["error"] == "payload_too_large", what
    assert await _stored_orders(db, trader.id) == 0


async def test_a_body_just_under_the_limit_is_judged_on_its_content(
    trading: httpx.AsyncClient, hostile_key: SigningKey
) -> None:
    trader = new_trader(hostile_key)
    body = json.dumps({"symbol": "AAPL", "qty": 1, "side": "buy", "client_order_id": ""})
    body = body[:-1] + " " * (MAX_BODY_BYTES - len(body)) + "}"
    assert len(body) == MAX_BODY_BYTES
    response = await trading.post(
        "/orders", content=body, headers=trader.headers | {"Content-Type": "application/json"}
    )
    assert response.status_code == 422  # the empty client_order_id, not the size


@pytest.mark.parametrize(
    "url",
    [
        "/candles/%00",
        "/candles/A%00",
        "/candles/AAPL?end=0001-01-01T00:00:00%2B14:00",  # year 0 in UTC
        "/candles/AAPL?end=9999-12-31T23:59:59-14:00",  # year 10000 in UTC
        "/candles/AAPL?end=10000-01-01T00:00:00Z",
        "/candles/AAPL?end=2026-13-01",
        "/candles/AAPL?end=0.0",  # not ISO 8601 (pydantic would read Unix time)
        "/candles/AAPL?end=1700000000",
        "/candles/%EF%BC%A1%EF%BC%A1%EF%BC%B0%EF%BC%AC",  # fullwidth AAPL
        "/calendar?start=0.0",  # a day is YYYY-MM-DD (pydantic would read Unix time)
        "/calendar?end=1700000000",
        "/calendar?start=2026-12-01T00:00:00",
    ],
)
async def test_candle_symbols_and_times_out_of_range_are_422(
    trading: httpx.AsyncClient, url: str
) -> None:
    response = await trading.get(url)
    assert response.status_code == 422, (url, response.text)
    assert set(response.json()) == {"error", "detail"}


async def test_candle_times_at_the_edges_of_the_calendar_are_answered(
    trading: httpx.AsyncClient,
) -> None:
    for end in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59Z"):
        response = await trading.get("/candles/AAPL", params={"end": end})
        assert response.status_code == 200, (end, response.text)
