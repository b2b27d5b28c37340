"""The browser session: sign-up/sign-in set an HttpOnly cookie the API and the stream accept."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.web.conftest import BROWSER, serve
from trading_service.app import create_app
from trading_service.config import TradingSettings
from trading_service.session.cookies import SESSION_COOKIE

PASSWORD = "correct horse battery"


def new_user() -> dict[str, str]:
    name = f"web_{uuid.uuid4().hex[:12]}"
    return {"username": name, "email": f"{name}@example.com", "password": PASSWORD}


async def sign_up(browser: httpx.AsyncClient) -> dict[str, Any]:
    user = new_user()
    response = await browser.post("/session/register", json=user, headers=BROWSER)
    assert response.status_code == 201, response.text
    return user | {"set_cookie": response.headers["set-cookie"], "body": response.json()}


async def test_sign_up_sets_an_httponly_strict_cookie_and_no_token_in_the_body(
    browser: httpx.AsyncClient,
) -> None:
    user = await sign_up(browser)
    cookie = user["set_cookie"].lower()
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for attribute in ("httponly", "samesite=strict", "path=/", "max-age="):
        assert attribute in cookie
    assert "secure" not in cookie  # plain http here; https adds it
    assert user["body"]["username"] == user["username"]
    assert "token" not in json.dumps(user["body"])

    me = await browser.get("/session")
    assert me.status_code == 200
    assert me.json()["account_id"] == user["body"]["account_id"]

    portfolio = await browser.get("/portfolio")  # cookie only: reads need no extra header
    assert portfolio.status_code == 200, portfolio.text
    assert portfolio.json()["cash"] == "100000.00"


async def test_cookie_state_changes_need_the_csrf_header(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    order = {"symbol": "WEBX", "qty": 1, "side": "buy", "type": "limit", "limit_price": "1.00"}

    refused = await browser.post("/orders", json=order)
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf_rejected"
    assert (await browser.delete("/orders")).status_code == 403
    assert (await browser.get("/orders")).json() == []  # nothing was placed

    allowed = await browser.delete("/orders", headers=BROWSER)
    assert allowed.status_code == 200, allowed.text


async def test_session_posts_need_the_csrf_header_too(browser: httpx.AsyncClient) -> None:
    user = new_user()
    response = await browser.post("/session/register", json=user)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    login = await browser.post("/session/login", json=user)
    assert login.status_code == 403


async def test_refusals_of_the_user_service_are_passed_on(browser: httpx.AsyncClient) -> None:
    user = await sign_up(browser)
    browser.cookies.clear()
    duplicate = await browser.post(
        "/session/register", json={**new_user(), "email": user["email"]}, headers=BROWSER
    )
    assert duplicate.status_code == 409
    wrong = await browser.post(
        "/session/login",
        json={"email": user["email"], "password": "not the password"},
        headers=BROWSER,
    )
    assert wrong.status_code == 401
    assert set(wrong.json()) == {"error", "detail"}
    short = await browser.post(
        "/session/register", json={**new_user(), "password": "short"}, headers=BROWSER
    )
    assert short.status_code == 422
    assert "set-cookie" not in wrong.headers and "set-cookie" not in short.headers


async def test_sign_in_then_sign_out(browser: httpx.AsyncClient) -> None:
    user = await sign_up(browser)
    browser.cookies.clear()
    assert (await browser.get("/session")).json() is None
    assert (await browser.get("/portfolio")).status_code == 401

    login = await browser.post(
        "/session/login",
        json={"email": user["email"], "password": PASSWORD},
        headers=BROWSER,
    )
    assert login.status_code == 200, login.text
    assert login.json()["username"] == user["username"]
    assert (await browser.get("/portfolio")).status_code == 200

    logout = await browser.post("/session/logout", headers=BROWSER)
    assert logout.status_code == 204
    assert "max-age=0" in logout.headers["set-cookie"].lower()
    assert (await browser.get("/session")).json() is None
    assert (await browser.get("/portfolio")).status_code == 401


async def test_a_bad_cookie_is_a_401_and_is_forgotten(browser: httpx.AsyncClient) -> None:
    browser.cookies.set(SESSION_COOKIE, "not-a-token")
    assert (await browser.get("/portfolio")).status_code == 401
    me = await browser.get("/session")
    assert me.status_code == 200 and me.json() is None
    assert "max-age=0" in me.headers["set-cookie"].lower()


async def test_the_stream_authenticates_from_the_cookie_of_its_own_origin(
    web_settings: TradingSettings, browser: httpx.AsyncClient
) -> None:
    user = await sign_up(browser)
    cookie = f"{SESSION_COOKIE}={browser.cookies[SESSION_COOKIE]}"
    # A replica of its own (the stream needs a real server; `web_app` runs its lifespan already).
    async with serve(create_app(web_settings)) as host:
        async with connect(
            f"ws://{host}/ws", additional_headers={"Cookie": cookie, "Origin": f"http://{host}"}
        ) as ws:
            first = json.loads(await ws.recv())
            assert first == {
                "type": "authenticated",
                "account_id": user["body"]["account_id"],
                "expires_at": first["expires_at"],
            }
            await ws.send(json.dumps({"action": "subscribe", "channels": ["portfolio"]}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            assert json.loads(await ws.recv())["portfolio"]["cash"] == "100000.00"
        # Another site's page: the browser would send the cookie, the server ignores it.
        async with connect(
            f"ws://{host}/ws", additional_headers={"Cookie": cookie, "Origin": "http://evil.test"}
        ) as ws:
            await ws.send(json.dumps({"action": "subscribe", "channels": ["portfolio"]}))
            answer = json.loads(await ws.recv())
            assert answer["type"] == "error" and answer["error"] == "unauthorized"
