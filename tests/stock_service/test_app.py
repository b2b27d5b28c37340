"""The running service over HTTP: endpoints, seq across restarts, and life without Kafka."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from devstack.servers import free_port
from devstack.stack import Stack
from stock_service.market.random_walk import GeometricBrownianMotion
from stock_service.market.state import load_state
from tests.stock_service.conftest import make_settings, running, wait_until

MONEY = re.compile(r"^-?\d+\.\d{2}$")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def seq_of(client: httpx.AsyncClient, symbol: str) -> int:
    response = await client.get(f"/stocks/{symbol}")
    assert response.status_code == 200
    seq: int = response.json()["seq"]
    return seq


async def test_list_and_get_stocks(stack: Stack, tmp_path: Path, symbols: list[str]) -> None:
    async with running(make_settings(tmp_path, symbols)) as (_, client):
        await wait_until(lambda: _ticked(client, symbols[0], 3), what="three ticks")
        listed = (await client.get("/stocks")).json()
        assert [s["symbol"] for s in listed] == symbols
        for stock in listed:
            assert set(stock) == {
                "symbol",
                "name",
                "price",
                "ts",
                "seq",
                "market_ts",
                "open_price",
                "change",
                "change_pct",
            }
            for field in ("price", "open_price", "change", "change_pct"):
                assert MONEY.match(stock[field]), stock
            assert TS.match(stock["ts"]) and TS.match(stock["market_ts"])
            assert Decimal(stock["change"]) == Decimal(stock["price"]) - Decimal(
                stock["open_price"]
            )
        assert listed[1]["open_price"] == "110.00"

        one = await client.get(f"/stocks/{symbols[1]}")
        assert one.status_code == 200
        assert one.json()["symbol"] == symbols[1]
        lower = await client.get(f"/stocks/{symbols[1].lower()}")
        assert lower.status_code == 200
        assert lower.json()["symbol"] == symbols[1]
        assert lower.json()["seq"] >= one.json()["seq"]


async def test_unknown_symbol_is_404(stack: Stack, tmp_path: Path, symbols: list[str]) -> None:
    async with running(make_settings(tmp_path, symbols)) as (_, client):
        for symbol in ("ZZZZ", "AAPL", "not a symbol at all"):
            response = await client.get(f"/stocks/{symbol}")
            assert response.status_code == 404
            body: dict[str, Any] = response.json()
            assert body["error"] == "not_found"
            assert symbol in body["detail"]


async def test_health_is_ok_while_publishing(
    stack: Stack, tmp_path: Path, symbols: list[str]
) -> None:
    async with running(make_settings(tmp_path, symbols)) as (_, client):

        async def published() -> bool:
            response = await client.get("/health")
            return response.status_code == 200 and response.json()["published_ticks"] >= 2

        await wait_until(published, what="published ticks")
        body = (await client.get("/health")).json()
        assert body["status"] == "ok"
        assert body["last_publish_ok"] is True
        assert body["symbols"] == len(symbols)


async def test_seq_and_path_survive_a_restart(
    stack: Stack, tmp_path: Path, symbols: list[str]
) -> None:
    settings = make_settings(tmp_path, symbols)
    async with running(settings) as (app, client):
        await wait_until(lambda: _ticked(client, symbols[0], 5), what="five ticks")
    last = app.state.feed.market.quote(symbols[0])
    saved = load_state(settings.state_path)
    assert saved is not None and saved.clean
    assert saved.walks[symbols[0]].seq == last.seq

    async with running(settings) as (_, client):
        first = (await client.get(f"/stocks/{symbols[0]}")).json()
        assert first["seq"] >= last.seq  # never backwards, not even before the first tick
        await wait_until(lambda: _ticked(client, symbols[0], last.seq + 3), what="more ticks")
        now = (await client.get(f"/stocks/{symbols[0]}")).json()

    # The walk went on along the path an uninterrupted run would have taken.
    walk = GeometricBrownianMotion(42, symbols[0], 0.07, 0.30, settings.dt)
    expected = walk.advance(walk.start(Decimal("100.00")), now["seq"])
    assert now["price"] == f"{expected.price:.2f}"


async def test_keeps_ticking_without_kafka_and_reports_503(
    stack: Stack, tmp_path: Path, symbols: list[str]
) -> None:
    # Nothing listens on this port: every connection attempt is refused.
    settings = make_settings(
        tmp_path,
        symbols,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        health_grace=0.3,
        reconnect_backoff=0.1,
    )
    async with running(settings) as (_, client):
        await wait_until(lambda: _ticked(client, symbols[0], 10), what="ticks without Kafka")

        async def unhealthy() -> bool:
            return (await client.get("/health")).status_code == 503

        await wait_until(unhealthy, what="/health to report 503")
        body = (await client.get("/health")).json()
        assert body["error"] == "service_unavailable"
        assert body["detail"]["last_publish_ok"] is False
        assert body["detail"]["published_ticks"] == 0
        assert (await client.get("/stocks")).status_code == 200
    saved = load_state(settings.state_path)
    assert saved is not None and saved.walks[symbols[0]].seq >= 10


async def _ticked(client: httpx.AsyncClient, symbol: str, seq: int) -> bool:
    return await seq_of(client, symbol) >= seq


async def test_without_stock_seed_the_path_follows_a_secret_seed_kept_across_restarts(
    stack: Stack, tmp_path: Path, symbols: list[str]
) -> None:
    settings = make_settings(tmp_path, symbols, seed=None)
    async with running(settings) as (_, client):
        await wait_until(lambda: _ticked(client, symbols[0], 3), what="three ticks")
    seed = int(settings.seed_path.read_text())
    assert seed != 42
    for path in (settings.seed_path, settings.state_path):
        assert path.stat().st_mode & 0o077 == 0, path  # neither file holds it for others

    async with running(settings) as (_, client):
        await wait_until(lambda: _ticked(client, symbols[0], 6), what="more ticks")
        now = (await client.get(f"/stocks/{symbols[0]}")).json()
        answers = [
            (await client.get(url)).text
            for url in ("/stocks", f"/stocks/{symbols[0]}", "/health", "/openapi.json", "/docs")
        ]
    assert int(settings.seed_path.read_text()) == seed
    walk = GeometricBrownianMotion(seed, symbols[0], 0.07, 0.30, settings.dt)
    expected = walk.advance(walk.start(Decimal("100.00")), now["seq"])
    assert now["price"] == f"{expected.price:.2f}"
    for text in answers:
        assert str(seed) not in text and str(seed)[:12] not in text
