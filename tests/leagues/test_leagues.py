"""Classroom leagues on the real servers: who may do what, the trading window, the rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.leagues.conftest import acting, join
from tests.trading_fixtures import Market, Trader, audit_violations, settle, until

MARKET_BUY = {"side": "buy", "type": "market"}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_only_an_administrator_creates_or_runs_a_league(
    api: httpx.AsyncClient, trader: Trader, league_factory: Callable[..., Any]
) -> None:
    body = {"name": "nope", "starting_cash": "1000.00"}
    refused = await api.post("/leagues", json=body, headers=trader.headers)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    league = await league_factory()
    await join(api, trader, league["invite_code"])
    for method, path in (
        ("POST", f"/leagues/{league['id']}/invite-code"),
        ("POST", f"/leagues/{league['id']}/close"),
        ("GET", f"/leagues/{league['id']}/members"),
        ("DELETE", f"/leagues/{league['id']}/members/{trader.id}"),
    ):
        response = await api.request(method, path, headers=trader.headers)
        assert response.status_code == 403, (path, response.text)
    # A member sees the league, without its invite code.
    seen = (await api.get(f"/leagues/{league['id']}", headers=trader.headers)).json()
    assert seen["status"] == "open" and seen["invite_code"] is None


async def test_another_users_league_is_404_unless_public(
    api: httpx.AsyncClient, new_trader: Callable[[], Trader], league_factory: Callable[..., Any]
) -> None:
    member, outsider = new_trader(), new_trader()
    private = await league_factory()
    public = await league_factory(public=True)
    await join(api, member, private["invite_code"])
    for path in ("", "/leaderboard", "/equity"):
        hidden = await api.get(f"/leagues/{private['id']}{path}", headers=outsider.headers)
        assert hidden.status_code == 404 and hidden.json()["detail"] == "no such league"
        assert (await api.get(f"/leagues/{private['id']}{path}", headers=member.headers)).is_success
        assert (
            await api.get(f"/leagues/{public['id']}{path}", headers=outsider.headers)
        ).is_success
    listed = {lg["id"] for lg in (await api.get("/leagues", headers=outsider.headers)).json()}
    assert public["id"] in listed and private["id"] not in listed


async def test_joining_again_answers_the_same_account_and_a_rotated_code_is_refused(
    api: httpx.AsyncClient,
    new_trader: Callable[[], Trader],
    admin: Trader,
    league_factory: Callable[..., Any],
) -> None:
    first, late = new_trader(), new_trader()
    league = await league_factory()
    account = await join(api, first, league["invite_code"])
    again = await api.post(
        "/leagues/join", json={"invite_code": league["invite_code"]}, headers=first.headers
    )
    assert again.status_code == 200 and again.json()["id"] == account["id"]  # a retry
    rotated = (await api.post(f"/leagues/{league['id']}/invite-code", headers=admin.headers)).json()
    assert rotated["invite_code"] != league["invite_code"]
    old = await api.post(
        "/leagues/join", json={"invite_code": league["invite_code"]}, headers=late.headers
    )
    assert old.status_code == 404
    await join(api, late, rotated["invite_code"])


async def test_no_orders_before_the_start_or_after_the_end(
    api: httpx.AsyncClient,
    market: Market,
    trader: Trader,
    league_factory: Callable[..., Any],
) -> None:
    await market.set("WIND", "20.00")
    now = datetime.now(UTC)
    upcoming = await league_factory(starts_at=iso(now + timedelta(hours=1)))
    ending = await league_factory(
        starts_at=iso(now - timedelta(hours=1)), ends_at=iso(now + timedelta(seconds=2))
    )
    early = await join(api, trader, upcoming["invite_code"])
    late = await join(api, trader, ending["invite_code"])
    await asyncio.sleep(
        max(0.0, (now + timedelta(seconds=2.5) - datetime.now(UTC)).total_seconds())
    )
    for account, phrase in ((early, "opens at"), (late, "has ended")):
        before = (await api.get("/portfolio", headers=acting(trader, account["id"]))).json()
        response = await api.post(
            "/orders",
            json={"symbol": "WIND", "qty": 1, **MARKET_BUY},
            headers=acting(trader, account["id"]),
        )
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "league_not_open" and phrase in response.json()["detail"]
        after = (await api.get("/portfolio", headers=acting(trader, account["id"]))).json()
        assert after == before
        assert (await api.get("/orders", headers=acting(trader, account["id"]))).json() == []


async def test_league_rules_allowed_symbols_and_max_order_value(
    api: httpx.AsyncClient,
    market: Market,
    trader: Trader,
    league_factory: Callable[..., Any],
    db: AsyncEngine,
) -> None:
    await market.set("RULA", "10.00")
    await market.set("RULB", "10.00")
    league = await league_factory(allowed_symbols=["rula"], max_order_value="500.00")
    account = await join(api, trader, league["invite_code"])
    headers = acting(trader, account["id"])
    other = await api.post(
        "/orders", json={"symbol": "RULB", "qty": 1, **MARKET_BUY}, headers=headers
    )
    assert other.status_code == 422 and other.json()["error"] == "symbol_not_allowed"
    big = await api.post(
        "/orders", json={"symbol": "RULA", "qty": 51, **MARKET_BUY}, headers=headers
    )
    assert big.status_code == 422 and big.json()["error"] == "order_value_too_large"
    assert "500.00" in big.json()["detail"]
    limit = {"symbol": "RULA", "qty": 60, "side": "buy", "type": "limit", "limit_price": "9.00"}
    assert (await api.post("/orders", json=limit, headers=headers)).status_code == 422
    # A replace cannot grow an order past the limit either.
    small = await api.post("/orders?wait=true", json={**limit, "qty": 10}, headers=headers)
    assert small.status_code == 201 and small.json()["status"] == "new", small.text
    grown = await api.patch(f"/orders/{small.json()['id']}", json={"qty": 60}, headers=headers)
    assert grown.status_code == 422 and grown.json()["error"] == "order_value_too_large"
    kept = await api.get(f"/orders/{small.json()['id']}", headers=headers)
    assert kept.json()["qty"] == 10
    ok = await api.post(
        "/orders?wait=true", json={"symbol": "RULA", "qty": 50, **MARKET_BUY}, headers=headers
    )
    assert ok.status_code == 201 and ok.json()["status"] == "filled", ok.text
    # The personal account is not bound by the league's rules.
    personal = await api.post(
        "/orders?wait=true",
        json={"symbol": "RULB", "qty": 100, **MARKET_BUY},
        headers=trader.headers,
    )
    assert personal.status_code == 201, personal.text
    await settle(db)
    assert await audit_violations(db) == {}


async def test_two_leagues_trade_the_same_symbol_at_once_and_the_books_balance(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    league_factory: Callable[..., Any],
    db: AsyncEngine,
) -> None:
    await market.set("DUAL", "25.00")
    leagues = [
        await league_factory(starting_cash="5000.00"),
        await league_factory(starting_cash="8000.00"),
    ]
    members = [
        (lg, t, await join(api, t, lg["invite_code"]))
        for lg in leagues
        for t in (new_trader(), new_trader())
    ]

    async def trade(trader: Trader, account: dict[str, Any]) -> None:
        headers = acting(trader, account["id"])
        for qty in (10, 5):
            r = await api.post(
                "/orders?wait=true",
                json={"symbol": "DUAL", "qty": qty, **MARKET_BUY},
                headers=headers,
            )
            assert r.status_code == 201, r.text
        r = await api.post(
            "/orders?wait=true",
            json={"symbol": "DUAL", "qty": 7, "side": "sell", "type": "market"},
            headers=headers,
        )
        assert r.status_code == 201, r.text

    await asyncio.gather(*(trade(t, a) for _, t, a in members))
    await settle(db)
    assert await audit_violations(db) == {}
    for league in leagues:
        board = (
            await api.get(
                f"/leagues/{league['id']}/leaderboard",
                headers=members[0][1].headers if league is leagues[0] else members[2][1].headers,
            )
        ).json()
        assert [row["rank"] for row in board] == [1, 2]
        assert all(row["trades"] == 3 for row in board)
        start = Decimal(league["starting_cash"])
        for row in board:
            # only house spreads move equity: within 1 % of the league's own starting cash
            assert abs(Decimal(row["equity"]) - start) < start / 100
            assert Decimal(row["return_pct"]) == (
                (Decimal(row["equity"]) - start) * 100 / start
            ).quantize(Decimal("0.01"))
    for _, trader, account in members:
        p = (await api.get("/portfolio", headers=acting(trader, account["id"]))).json()
        assert p["positions"][0]["qty"] == 8


async def test_a_league_ending_cancels_resting_orders_and_freezes_the_standings(
    api: httpx.AsyncClient,
    market: Market,
    trader: Trader,
    league_factory: Callable[..., Any],
    db: AsyncEngine,
) -> None:
    await market.set("ENDS", "40.00")
    now = datetime.now(UTC)
    league = await league_factory(
        starts_at=iso(now - timedelta(minutes=1)), ends_at=iso(now + timedelta(seconds=4))
    )
    account = await join(api, trader, league["invite_code"])
    headers = acting(trader, account["id"])
    bought = await api.post(
        "/orders?wait=true", json={"symbol": "ENDS", "qty": 20, **MARKET_BUY}, headers=headers
    )
    assert bought.status_code == 201, bought.text
    resting = await api.post(
        "/orders?wait=true",
        json={
            "symbol": "ENDS",
            "qty": 10,
            "side": "buy",
            "type": "limit",
            "limit_price": "30.00",
            "time_in_force": "gtc",
        },
        headers=headers,
    )
    selling = await api.post(
        "/orders?wait=true",
        json={
            "symbol": "ENDS",
            "qty": 5,
            "side": "sell",
            "type": "limit",
            "limit_price": "60.00",
            "time_in_force": "gtc",
        },
        headers=headers,
    )
    assert resting.json()["status"] == "new" and selling.json()["status"] == "new"
    p = (await api.get("/portfolio", headers=headers)).json()
    assert p["reserved_cash"] == "300.00"

    async def finalized() -> bool:
        lg = (await api.get(f"/leagues/{league['id']}", headers=trader.headers)).json()
        return lg["finalized_at"] is not None

    await until(finalized, "the league is finalized", timeout_s=60)

    async def released() -> bool:
        orders = (await api.get("/orders", headers=headers)).json()
        return all(o["status"] in ("canceled", "filled") for o in orders)

    await until(released, "the resting orders are canceled", timeout_s=60)
    p = (await api.get("/portfolio", headers=headers)).json()
    assert p["reserved_cash"] == "0.00"
    statuses = {o["id"]: o["status"] for o in (await api.get("/orders", headers=headers)).json()}
    assert (
        statuses[resting.json()["id"]] == "canceled"
        and statuses[selling.json()["id"]] == "canceled"
    )
    frozen = (await api.get(f"/leagues/{league['id']}/leaderboard", headers=trader.headers)).json()
    await market.set("ENDS", "80.00")  # the price doubles after the end: the standings do not move
    assert (
        await api.get(f"/leagues/{league['id']}/leaderboard", headers=trader.headers)
    ).json() == frozen
    series = (await api.get(f"/leagues/{league['id']}/equity", headers=trader.headers)).json()
    assert series[0]["points"][-1]["equity"] == frozen[0]["equity"]
    await settle(db)
    assert await audit_violations(db) == {}


async def test_closing_early_and_removing_a_member_while_trading(
    api: httpx.AsyncClient,
    market: Market,
    new_trader: Callable[[], Trader],
    admin: Trader,
    league_factory: Callable[..., Any],
    db: AsyncEngine,
) -> None:
    await market.set("KICK", "15.00")
    league = await league_factory()
    stays, leaves = new_trader(), new_trader()
    kept = await join(api, stays, league["invite_code"])
    removed = await join(api, leaves, league["invite_code"])
    headers = acting(leaves, removed["id"])
    resting = {
        "symbol": "KICK",
        "qty": 10,
        "side": "buy",
        "type": "limit",
        "limit_price": "10.00",
        "time_in_force": "gtc",
    }

    async def keep_trading() -> list[int]:
        codes = []
        for _ in range(8):
            r = await api.post("/orders", json=resting, headers=headers)
            codes.append(r.status_code)
        return codes

    trading = asyncio.create_task(keep_trading())
    await asyncio.sleep(0.05)
    out = await api.delete(
        f"/leagues/{league['id']}/members/{removed['id']}", headers=admin.headers
    )
    assert out.status_code == 200 and out.json()["frozen"] is True, out.text
    codes = await trading
    assert set(codes) <= {201, 409}
    after = await api.post("/orders", json=resting, headers=headers)
    assert after.status_code == 409 and after.json()["error"] == "account_frozen"

    async def all_canceled() -> bool:
        orders = (await api.get("/orders", headers=headers)).json()
        return all(o["status"] == "canceled" for o in orders)

    await until(all_canceled, "the removed member's orders are canceled", timeout_s=60)
    assert (await api.get("/portfolio", headers=headers)).json()["reserved_cash"] == "0.00"
    # The administrator sees every member's portfolio and orders.
    seen = await api.get(
        f"/leagues/{league['id']}/members/{removed['id']}/orders", headers=admin.headers
    )
    assert len(seen.json()) == codes.count(201)
    held = await api.get(
        f"/leagues/{league['id']}/members/{removed['id']}/portfolio", headers=admin.headers
    )
    assert held.json()["cash"] == "10000.00" and held.json()["reserved_cash"] == "0.00"
    for path in ("portfolio", "orders"):
        peek = f"/leagues/{league['id']}/members/{kept['id']}/{path}"
        assert (await api.get(peek, headers=leaves.headers)).status_code == 403
    members = (await api.get(f"/leagues/{league['id']}/members", headers=admin.headers)).json()
    assert {m["account_id"]: m["frozen"] for m in members} == {
        kept["id"]: False,
        removed["id"]: True,
    }

    r = await api.post("/orders", json=resting, headers=acting(stays, kept["id"]))
    assert r.status_code == 201
    closed = await api.post(f"/leagues/{league['id']}/close", headers=admin.headers)
    assert closed.json()["status"] == "ended" and closed.json()["finalized_at"] is not None
    refused = await api.post("/orders", json=resting, headers=acting(stays, kept["id"]))
    assert refused.status_code == 409 and refused.json()["error"] == "league_not_open"
    late = await api.post(
        "/leagues/join", json={"invite_code": league["invite_code"]}, headers=new_trader().headers
    )
    assert late.status_code == 409 and late.json()["error"] == "league_not_open"
    await until(
        lambda: _reserved_is_zero(api, stays, kept["id"]), "the close released the reservation", 60
    )
    await settle(db)
    assert await audit_violations(db) == {}


async def _reserved_is_zero(api: httpx.AsyncClient, trader: Trader, account_id: str) -> bool:
    p = (await api.get("/portfolio", headers=acting(trader, account_id))).json()
    return bool(p["reserved_cash"] == "0.00")
