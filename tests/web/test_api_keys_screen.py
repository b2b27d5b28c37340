"""The Keys screen's routes: the signed-in browser creates, lists and revokes its API keys, and
a key made there trades on /v2 until it is revoked."""

from __future__ import annotations

import httpx

from tests.web.conftest import BROWSER
from tests.web.test_session import sign_up


async def test_the_browser_manages_its_keys_and_they_work_on_v2(
    browser: httpx.AsyncClient,
) -> None:
    user = await sign_up(browser)
    assert (await browser.get("/session/api-keys")).json() == []

    refused = await browser.post("/session/api-keys", json={"label": "web bot"})
    assert refused.status_code == 403  # no CSRF header: nothing created
    created = await browser.post("/session/api-keys", json={"label": "web bot"}, headers=BROWSER)
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["secret_key"] and key["account_id"] == user["body"]["account_id"]

    listed = (await browser.get("/session/api-keys")).json()
    assert [(k["key_id"], k["label"]) for k in listed] == [(key["key_id"], "web bot")]
    assert "secret_key" not in listed[0]

    headers = {"APCA-API-KEY-ID": key["key_id"], "APCA-API-SECRET-KEY": key["secret_key"]}
    account = await browser.get("/v2/account", headers=headers)
    assert account.status_code == 200 and account.json()["id"] == user["body"]["account_id"]

    revoked = await browser.delete(f"/session/api-keys/{key['key_id']}", headers=BROWSER)
    assert revoked.status_code == 204
    assert (await browser.get("/v2/account", headers=headers)).status_code == 403
    again = await browser.delete(f"/session/api-keys/{key['key_id']}", headers=BROWSER)
    assert again.status_code == 404  # the user service's answer, passed on

    browser.cookies.clear()
    assert (await browser.get("/session/api-keys")).status_code == 401
