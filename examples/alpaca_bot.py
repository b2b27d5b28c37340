"""A small trading bot written for Alpaca, run against stocksim with the SDK unchanged.

    make run                                   # in one terminal
    .venv/bin/python examples/alpaca_bot.py    # in another (pip install alpaca-py otherwise)

It signs up a user at the user service, creates an API key there (POST /api-keys), then
trades through alpaca-py's TradingClient pointed at the trading service. With an existing key:
APCA_API_KEY_ID=... APCA_API_SECRET_KEY=... python examples/alpaca_bot.py
"""

from __future__ import annotations

import os
import secrets
import time

import httpx
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
)

USERS = os.environ.get("STOCKSIM_USERS_URL", "http://127.0.0.1:8001")
TRADING = os.environ.get("STOCKSIM_TRADING_URL", "http://127.0.0.1:8002")
SYMBOL = os.environ.get("SYMBOL", "AAPL")


def new_key() -> tuple[str, str]:
    """Sign up, log in and create an API key: what a person does once on the Keys screen."""
    name = f"alpacabot_{secrets.token_hex(4)}"
    user = {"username": name, "email": f"{name}@example.com", "password": secrets.token_hex(12)}
    with httpx.Client(base_url=USERS, timeout=10) as users:
        users.post("/register", json=user).raise_for_status()
        login = users.post("/login", json={"email": user["email"], "password": user["password"]})
        token = login.raise_for_status().json()["access_token"]
        key = users.post(
            "/api-keys",
            json={"label": "alpaca_bot.py"},
            headers={"Authorization": f"Bearer {token}"},
        )
        body = key.raise_for_status().json()
    return body["key_id"], body["secret_key"]


def main() -> None:
    key_id = os.environ.get("APCA_API_KEY_ID")
    secret = os.environ.get("APCA_API_SECRET_KEY")
    if not key_id or not secret:
        key_id, secret = new_key()
        print(f"created API key {key_id}")
    client = TradingClient(key_id, secret, paper=True, url_override=TRADING)

    account = client.get_account()
    clock = client.get_clock()
    print(f"account {account.account_number}: cash {account.cash}, equity {account.equity}")
    print(f"market time {clock.timestamp:%Y-%m-%d %H:%M}, closes {clock.next_close:%H:%M}")

    bought = client.submit_order(
        MarketOrderRequest(symbol=SYMBOL, qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    print(f"bought {bought.filled_qty} {SYMBOL} at {bought.filled_avg_price} ({bought.status})")

    # A limit well under the market rests; move it up once, then take it back.
    price = round(float(bought.filled_avg_price or 100) * 0.9, 2)
    resting = client.submit_order(
        LimitOrderRequest(
            symbol=SYMBOL,
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            limit_price=price,
        )
    )
    moved = client.replace_order_by_id(
        resting.id, ReplaceOrderRequest(limit_price=round(price * 1.01, 2))
    )
    print(f"limit {resting.id} replaced by {moved.id} at {moved.limit_price}")
    client.cancel_order_by_id(moved.id)

    time.sleep(1)
    for position in client.get_all_positions():
        print(f"holding {position.qty} {position.symbol}, unrealized P&L {position.unrealized_pl}")
    closed = client.close_all_positions(cancel_orders=True)
    print(f"closed {len(closed)} position(s)")
    done = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=10))
    for order in done:
        print(f"  {order.side} {order.qty} {order.symbol} {order.type}: {order.status}")


if __name__ == "__main__":
    main()
