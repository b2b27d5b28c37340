"""The web page's sign-in box takes an email or a user name; weak sign-up passwords are refused."""

from __future__ import annotations

import httpx

from tests.web.conftest import BROWSER
from tests.web.test_session import PASSWORD, sign_up


async def test_signing_in_by_user_name_through_the_session(browser: httpx.AsyncClient) -> None:
    user = await sign_up(browser)
    assert (await browser.post("/session/logout", headers=BROWSER)).status_code < 300
    # The page sends whatever was typed in "Email or user name" as `email`.
    response = await browser.post(
        "/session/login",
        json={"email": user["username"].upper(), "password": PASSWORD},
        headers=BROWSER,
    )
    assert response.status_code == 200, response.text
    assert response.json()["account_id"] == user["body"]["account_id"]
    assert (await browser.get("/session")).json()["username"] == user["username"]


async def test_a_common_password_is_refused_in_words(browser: httpx.AsyncClient) -> None:
    user = await sign_up(browser)
    weak = {
        "username": user["username"] + "2",
        "email": "2" + user["email"],
        "password": "password",
    }
    response = await browser.post("/session/register", json=weak, headers=BROWSER)
    assert response.status_code == 422
    assert response.json() == {"error": "weak_password", "detail": "Use at least 10 characters."}
    common = await browser.post(
        "/session/register", json=weak | {"password": "Password2024!"}, headers=BROWSER
    )
    assert common.status_code == 422
    assert common.json()["error"] == "weak_password"
    assert "most common passwords" in common.json()["detail"]
