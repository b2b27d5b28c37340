"""Order entry's routes take the account as one dependency (trading_service/deps.py
`order_entry`): the API page still documents what they read — the bearer token and the
X-Account-Id header — as it does for the other routes."""

from __future__ import annotations

import pytest

from trading_service.app import create_app
from trading_service.config import TradingSettings


@pytest.mark.parametrize(
    ("path", "method"),
    [("/orders", "post"), ("/trade/buy", "post"), ("/trade/sell", "post"), ("/orders", "get")],
)
def test_order_entry_documents_its_token_and_account_header(
    trading_settings: TradingSettings, path: str, method: str
) -> None:
    operation = create_app(trading_settings).openapi()["paths"][path][method]
    assert {"HTTPBearer": []} in operation["security"]
    headers = [p["name"].lower() for p in operation["parameters"] if p["in"] == "header"]
    assert headers == ["x-account-id"]
    assert "429" in operation["responses"]  # the rate limit, still on every order route
