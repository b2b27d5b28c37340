"""Every process serves /livez, /readyz and /metrics: the figures move during a short trading
run, and readiness names the server that is stopped (503) until it is back (200)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadgen.system import System

pytestmark = pytest.mark.slow

PROCESSES = ("user", "trading", "stock", "engine")
# What each process needs (shared/probes.py checks, wired in each app and the engine).
NEEDS = {
    "user": {"postgres", "redis"},
    "trading": {"postgres", "redis", "kafka"},
    "stock": {"kafka"},
    "engine": {"postgres", "redis", "kafka"},
}


def url(system: System, process: str) -> str:
    return {
        "user": system.user_url,
        "trading": system.trading_url,
        "stock": system.stock_url,
        "engine": system.engine_url,
    }[process]


async def scrape(
    client: httpx.AsyncClient, base: str
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get(f"{base}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def test_metrics_of_every_process_move_during_trading(system: System) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        before = {p: await scrape(client, url(system, p)) for p in PROCESSES}

        email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
        registered = await client.post(
            f"{system.user_url}/register",
            json={
                "username": f"ops_{uuid.uuid4().hex[:8]}",
                "email": email,
                "password": "opsops-pass-1",
            },
        )
        assert registered.status_code == 201, registered.text
        login = await client.post(
            f"{system.user_url}/login", json={"email": email, "password": "opsops-pass-1"}
        )
        assert login.status_code == 200, login.text
        # Every service echoes a request id (shared/request_context.py).
        for answer in (registered, login, await client.get(f"{system.stock_url}/livez")):
            assert len(answer.headers["X-Request-ID"]) == 32
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for _ in range(3):
            bought = await client.post(
                f"{system.trading_url}/trade/buy",
                json={"stock_symbol": "AAPL", "quantity": 1},
                headers=auth,
            )
            assert bought.status_code == 201, bought.text
            assert bought.json()["status"] == "filled", bought.text
        order = await client.get(f"{system.trading_url}/orders/{bought.json()['id']}", headers=auth)
        assert order.status_code == 200

        await asyncio.sleep(6)  # one sampling round of the outbox and price ages
        after = {p: await scrape(client, url(system, p)) for p in PROCESSES}

    user, trading, stock, engine = (after[p] for p in PROCESSES)
    for samples, old, route, method in (
        (user, before["user"], "/login", "POST"),
        (trading, before["trading"], "/trade/buy", "POST"),
    ):
        name = "stocksim_http_requests_total"
        assert total(
            samples, name, route=route, method=method, status="201" if route != "/login" else "200"
        ) > total(old, name, route=route, method=method)
        assert total(samples, "stocksim_http_request_duration_seconds_count", route=route) > 0
    # The route template, never the raw path (bounded label values).
    assert total(trading, "stocksim_http_requests_total", route="/orders/{order_id}") == 1
    assert not any(
        n == "stocksim_http_requests_total" and ("route", f"/orders/{order.json()['id']}") in ls
        for n, ls in trading
    )
    assert total(trading, "stocksim_orders_submitted_total", type="market", side="buy") >= 3
    assert total(trading, "stocksim_outbox_backlog_orders") == 0
    assert total(trading, "stocksim_price_age_seconds", symbol="AAPL") > 0
    assert total(stock, "stocksim_price_ticks_total", outcome="published") > total(
        before["stock"], "stocksim_price_ticks_total", outcome="published"
    )
    for name in (
        "stocksim_engine_batch_records_count",
        "stocksim_engine_batch_apply_seconds_count",
    ):
        assert total(engine, name) > total(before["engine"], name)
    assert (
        total(engine, "stocksim_orders_final_total", type="market", side="buy", status="filled")
        - total(
            before["engine"],
            "stocksim_orders_final_total",
            type="market",
            side="buy",
            status="filled",
        )
        == 3
    )
    assert (
        total(engine, "stocksim_fills_total", side="buy")
        - total(before["engine"], "stocksim_fills_total", side="buy")
        >= 3
    )
    assert total(engine, "stocksim_order_to_fill_seconds_count") >= 3
    assert (
        total(engine, "stocksim_engine_order_handoff_seconds_count")
        - total(before["engine"], "stocksim_engine_order_handoff_seconds_count")
        >= 3
    )
    lag = [ls for n, ls in engine if n == "stocksim_engine_consumer_lag_records"]
    assert {dict(ls)["topic"] for ls in lag} == {"orders", "stock-prices"}


async def readiness(
    client: httpx.AsyncClient, system: System
) -> dict[str, tuple[int, dict[str, object]]]:
    answers = {}
    for process in PROCESSES:
        response = await client.get(f"{url(system, process)}/readyz")
        answers[process] = (response.status_code, response.json())
    return answers


async def until_ready(client: httpx.AsyncClient, system: System, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        answers = await readiness(client, system)
        if all(status == 200 for status, _ in answers.values()):
            return
        assert time.monotonic() < deadline, answers
        await asyncio.sleep(0.5)


@pytest.mark.kafka
@pytest.mark.parametrize("server", ["redis", "postgres", "kafka"])
async def test_readiness_names_a_stopped_server_until_it_is_back(
    system: System, server: str
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        await until_ready(client, system)
        for process in PROCESSES:
            live = await client.get(f"{url(system, process)}/livez")
            assert live.status_code == 200 and live.json() == {"status": "alive"}

        await system.stop_server(server)
        try:
            answers = await readiness(client, system)
            for process, (status, body) in answers.items():
                if server in NEEDS[process]:
                    assert status == 503, (process, body)
                    assert body["error"] == "not_ready" and server in body["down"], (process, body)
                    assert server in str(body["detail"])
                else:
                    assert status == 200, (process, body)
                # Liveness never looks at a dependency: nobody restarts a healthy process.
                assert (await client.get(f"{url(system, process)}/livez")).status_code == 200
        finally:
            await system.start_server(server)
        await until_ready(client, system)


async def test_the_dashboard_shows_only_figures_the_processes_expose(system: System) -> None:
    dashboard = json.loads((Path(__file__).parents[2] / "ops/grafana/stocksim.json").read_text())
    wanted = {
        re.sub(r"_(bucket|sum|count)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"stocksim_[a-z_]+", target["expr"])
    }
    exposed: set[str] = set()
    async with httpx.AsyncClient(timeout=30) as client:
        for process in PROCESSES:
            response = await client.get(f"{url(system, process)}/metrics")
            for family in text_string_to_metric_families(response.text):
                exposed |= {family.name, f"{family.name}_total"}
    assert wanted and wanted <= exposed, wanted - exposed
