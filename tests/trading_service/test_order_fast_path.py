"""`POST /orders` (without a query string or with `?wait=true`), `POST /trade/buy` and
`POST /trade/sell` are answered by trading_service/orders/fast_path.py, not by the FastAPI
routes: the same answers as the routes give, and everything else still goes to the routes.

The route's answer for the same request is had by sending the caller's own account id as
`X-Account-ID` (the personal account either way), which the fast path leaves to the route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from shared.metrics import HTTP_REQUESTS
from tests.trading_fixtures import Market, SigningKey, Trader
from trading_service.orders import endpoints

VOLATILE = {"id", "created_at", "updated_at", "client_order_id"}


@pytest.fixture
def route_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per request the FastAPI route answered (its `_submit`)."""
    calls: list[bool] = []
    real = endpoints._submit

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(True)
        return await real(*args, **kwargs)

    monkeypatch.setattr(endpoints, "_submit", counting)
    return calls


def via_route(trader: Trader) -> dict[str, str]:
    return {**trader.headers, "X-Account-ID": str(trader.id)}


def stable(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    """The answer but what differs between two orders (ids, times, so the length) and the
    request id; the body's keys in their order."""
    body = response.json()
    if isinstance(body, dict):
        body = [(k, v) for k, v in body.items() if k not in VOLATILE]
        body = [(k, [without_ts(f) for f in v] if k == "fills" else v) for k, v in body]
    headers = dict(response.headers)
    for name in ("x-request-id", "content-length"):
        headers.pop(name, None)
    return response.status_code, body, headers


def without_ts(fill: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in fill.items() if k != "ts"]


async def test_a_plain_order_is_answered_by_the_fast_path_as_the_route_answers_it(
    api: httpx.AsyncClient, market: Market, trader: Trader, route_calls: list[bool]
) -> None:
    await market.set("FAST", "20.00")
    order = {"symbol": "fast", "qty": 3, "side": "buy", "type": "limit", "limit_price": "19.50",
             "time_in_force": "gtc"}  # fmt: skip
    fast = await api.post("/orders", json=order, headers=trader.headers)
    assert route_calls == []
    routed = await api.post("/orders", json=order, headers=via_route(trader))
    assert route_calls == [True]
    assert fast.status_code == 201, fast.text
    assert stable(fast) == stable(routed)
    assert fast.json()["symbol"] == "FAST" and fast.json()["status"] == "new"
    assert fast.headers["content-length"] == str(len(fast.content))


async def test_a_repeated_client_order_id_answers_the_existing_order_with_200(
    api: httpx.AsyncClient, market: Market, trader: Trader, route_calls: list[bool]
) -> None:
    await market.set("FAST", "20.00")
    order = {"symbol": "FAST", "qty": 1, "side": "buy", "type": "market", "client_order_id": "f-1"}
    first = await api.post("/orders", json=order, headers=trader.headers)
    again = await api.post("/orders", json=order, headers=trader.headers)
    routed = await api.post("/orders", json=order, headers=via_route(trader))
    assert (first.status_code, again.status_code, routed.status_code) == (201, 200, 200)
    assert again.json()["id"] == first.json()["id"] == routed.json()["id"]
    assert again.json().keys() == routed.json().keys()  # (the engine may have filled it since)
    assert len(route_calls) == 1


async def test_refusals_are_the_routes_refusals(
    api: httpx.AsyncClient,
    market: Market,
    trader: Trader,
    signing_key: SigningKey,
    route_calls: list[bool],
) -> None:
    await market.set("FAST", "20.00")
    too_big = {"symbol": "FAST", "qty": 1_000_000, "side": "buy", "type": "market"}
    fast = await api.post("/orders", json=too_big, headers=trader.headers)
    routed = await api.post("/orders", json=too_big, headers=via_route(trader))
    assert fast.status_code == 409 and fast.json()["error"] == "insufficient_funds"
    assert stable(fast) == stable(routed)

    no_shares = {"symbol": "FAST", "qty": 5, "side": "sell", "type": "market"}
    fast = await api.post("/orders", json=no_shares, headers=trader.headers)
    routed = await api.post("/orders", json=no_shares, headers=via_route(trader))
    assert fast.status_code == 409 and stable(fast) == stable(routed)

    unknown = {"symbol": "NOSUCH", "qty": 1, "side": "buy", "type": "market"}
    fast = await api.post("/orders", json=unknown, headers=trader.headers)
    routed = await api.post("/orders", json=unknown, headers=via_route(trader))
    assert fast.status_code == 422 and stable(fast) == stable(routed)
    assert len(route_calls) == 3

    expired = signing_key.token(trader.id, iat=1, exp=2)
    bad = {"Authorization": f"Bearer {expired}"}
    fast = await api.post("/orders", json=too_big, headers=bad)
    routed = await api.post("/orders", json=too_big, headers={**bad, "X-Account-ID": "x"})
    assert fast.status_code == 401 and stable(fast) == stable(routed)
    assert fast.headers["www-authenticate"] == routed.headers["www-authenticate"] == "Bearer"


ONE = {"symbol": "FAST", "qty": 1, "side": "buy"}
NOT_TAKEN: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
    "bad qty": lambda h: {"json": {**ONE, "qty": 0}, "headers": h},
    "extra field": lambda h: {"json": {**ONE, "x": 1}, "headers": h},
    "not JSON": lambda h: {
        "content": b"{nope",
        "headers": {**h, "Content-Type": "application/json"},
    },
    "a list": lambda h: {"json": [1], "headers": h},
    "no body": lambda h: {"headers": h},
    "form": lambda h: {"data": {"symbol": "FAST"}, "headers": h},
    "no token": lambda h: {"json": ONE},
    "basic auth": lambda h: {"json": ONE, "headers": {"Authorization": "Basic eDp5"}},
}


@pytest.mark.parametrize("case", list(NOT_TAKEN))
async def test_what_the_fast_path_does_not_take_gets_the_routes_answer(
    api: httpx.AsyncClient, trader: Trader, case: str
) -> None:
    response = await api.post("/orders", **NOT_TAKEN[case](trader.headers))
    assert response.status_code in (401, 422), (case, response.text)
    body = response.json()
    if response.status_code == 422:  # FastAPI's own validation answer, with its locations
        assert body["error"] == "validation_error" and body["detail"][0]["loc"][0] == "body"
    else:
        assert body["error"] == "unauthorized"


# The waiting routes: each answers once the engine has processed the order.
WAITING = ["/trade/buy", "/trade/sell", "/orders?wait=true"]


def market_order(path: str, qty: int, symbol: str = "FAST") -> dict[str, Any]:
    """A market order of `qty` shares in `path`'s body shape (a buy on `/orders`)."""
    if path.startswith("/trade/"):
        return {"stock_symbol": symbol, "quantity": qty}
    return {"symbol": symbol, "qty": qty, "side": "buy", "type": "market"}


async def give_shares(api: httpx.AsyncClient, trader: Trader, path: str) -> None:
    """Shares of FAST for `/trade/sell` to sell."""
    if path == "/trade/sell":
        bought = await api.post(
            "/trade/buy", json=market_order("/trade/buy", 10), headers=trader.headers
        )
        assert bought.status_code == 201 and bought.json()["status"] == "filled", bought.text


async def fast_then_routed(
    api: httpx.AsyncClient,
    route_calls: list[bool],
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
    account: str,
) -> tuple[httpx.Response, httpx.Response]:
    """The same request answered by the fast path, then by the route (as `account`, which the
    fast path leaves to the route)."""
    calls = len(route_calls)
    fast = await api.post(path, json=body, headers=headers)
    assert len(route_calls) == calls, "the route answered what the fast path should have"
    routed = await api.post(path, json=body, headers={**headers, "X-Account-ID": account})
    return fast, routed


@pytest.mark.parametrize("path", WAITING)
async def test_a_waiting_order_is_answered_by_the_fast_path_as_the_route_answers_it(
    api: httpx.AsyncClient, market: Market, trader: Trader, route_calls: list[bool], path: str
) -> None:
    await market.set("FAST", "20.00")  # the house quote: bid 19.99, ask 20.01
    await give_shares(api, trader, path)
    fast, routed = await fast_then_routed(
        api, route_calls, path, market_order(path, 2), trader.headers, str(trader.id)
    )
    assert route_calls == [True]
    assert fast.status_code == 201, fast.text
    assert fast.json()["status"] == "filled" and fast.json()["filled_qty"] == 2
    assert len(fast.json()["fills"]) == 1
    assert stable(fast) == stable(routed)
    assert fast.headers["content-length"] == str(len(fast.content))


@pytest.mark.parametrize("path", WAITING)
async def test_waiting_refusals_are_the_routes_refusals(
    api: httpx.AsyncClient,
    market: Market,
    trader: Trader,
    signing_key: SigningKey,
    route_calls: list[bool],
    path: str,
) -> None:
    await market.set("FAST", "20.00")
    too_many = market_order(path, 1_000_000)  # buying power, or shares to sell
    fast, routed = await fast_then_routed(
        api, route_calls, path, too_many, trader.headers, str(trader.id)
    )
    assert fast.status_code == 409, fast.text
    error = "insufficient_shares" if path == "/trade/sell" else "insufficient_funds"
    assert fast.json()["error"] == error and stable(fast) == stable(routed)
    assert fast.content == routed.content

    unknown = market_order(path, 1, symbol="NOSUCH")
    fast, routed = await fast_then_routed(
        api, route_calls, path, unknown, trader.headers, str(trader.id)
    )
    assert fast.status_code == 422 and stable(fast) == stable(routed)
    assert fast.content == routed.content
    assert route_calls == [True, True]

    expired = signing_key.token(trader.id, iat=1, exp=2)
    bad = {"Authorization": f"Bearer {expired}"}
    fast, routed = await fast_then_routed(api, route_calls, path, too_many, bad, "x")
    assert fast.status_code == 401 and stable(fast) == stable(routed)
    assert fast.content == routed.content
    assert fast.headers["www-authenticate"] == routed.headers["www-authenticate"] == "Bearer"

    refused = {**market_order(path, 1), "extra": 1}  # FastAPI's own 422, from the route
    fast, routed = await fast_then_routed(
        api, route_calls, path, refused, trader.headers, str(trader.id)
    )
    assert fast.status_code == 422 and stable(fast) == stable(routed)
    assert fast.json()["detail"][0]["loc"][0] == "body"


async def test_a_repeated_client_order_id_with_wait_answers_the_existing_order_with_200(
    api: httpx.AsyncClient, market: Market, trader: Trader, route_calls: list[bool]
) -> None:
    await market.set("FAST", "20.00")
    order = {**market_order("/orders", 1), "client_order_id": "fw-1"}
    first = await api.post("/orders?wait=true", json=order, headers=trader.headers)
    assert first.status_code == 201 and first.json()["status"] == "filled", first.text
    again, routed = await fast_then_routed(
        api, route_calls, "/orders?wait=true", order, trader.headers, str(trader.id)
    )
    assert (again.status_code, routed.status_code) == (200, 200)
    assert again.json() == routed.json() == first.json()
    assert route_calls == [True]


@pytest.mark.parametrize(
    "path", ["/orders?wait=1", "/orders?wait=true&wait=true", "/orders?x=1", "/trade/buy?wait=true"]
)
async def test_other_query_strings_still_go_to_the_route(
    api: httpx.AsyncClient, market: Market, trader: Trader, route_calls: list[bool], path: str
) -> None:
    await market.set("FAST", "20.00")
    response = await api.post(path, json=market_order(path, 1), headers=trader.headers)
    assert response.status_code == 201, response.text
    assert route_calls == [True]


async def test_orders_with_wait_false_are_acknowledged_by_the_fast_path(
    api: httpx.AsyncClient, market: Market, trader: Trader, route_calls: list[bool]
) -> None:
    await market.set("FAST", "20.00")
    order = {"symbol": "FAST", "qty": 1, "side": "buy", "type": "limit", "limit_price": "19.00"}
    fast, routed = await fast_then_routed(
        api, route_calls, "/orders?wait=false", order, trader.headers, str(trader.id)
    )
    assert fast.status_code == 201 and fast.json()["status"] == "new"
    assert stable(fast) == stable(routed) and route_calls == [True]


@pytest.mark.parametrize("path", ["/orders", *WAITING])
async def test_the_fast_path_keeps_the_request_id_and_the_metrics(
    api: httpx.AsyncClient, market: Market, trader: Trader, route_calls: list[bool], path: str
) -> None:
    await market.set("FAST", "20.00")
    await give_shares(api, trader, path)
    labels = ("trading", "POST", path.partition("?")[0], "201")
    before = HTTP_REQUESTS.labels(*labels)._value.get()
    response = await api.post(
        path,
        json=market_order(path, 1),
        headers={**trader.headers, "X-Request-ID": "fast-path-1"},
    )
    assert response.status_code == 201 and route_calls == []
    assert response.headers["x-request-id"] == "fast-path-1"
    assert HTTP_REQUESTS.labels(*labels)._value.get() == before + 1
