"""The public HTTP API as a trader uses it, with every answer counted and timed.

Requests that fail in transit or answer 5xx are sent again (the same `client_order_id`, so a
retry can never place an order twice) until they get a definite answer or the retry budget is
spent; a client may then not know whether its order exists, and such orders are not counted
as acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from loadgen.http import Client, Response, TransportError
from loadgen.stats import Stats


@dataclass
class Account:
    username: str
    email: str
    password: str
    id: str
    token: str | None = None
    # The account its orders go to (X-Account-Id): its league account with --league, else None
    # (the personal one).
    trading_account: str | None = None


class Exchange:
    def __init__(
        self,
        user_url: str,
        trading_url: str,
        stats: Stats,
        timeout_s: float = 30.0,
        retry_for_s: float = 60.0,
    ) -> None:
        self.stats = stats
        self.retry_for_s = retry_for_s
        # One connection pool per service for every trader (loadgen/http.py: a pooled
        # connection costs nothing to find, so one pool serves hundreds of traders).
        self.users = Client(user_url, timeout_s)
        self.trading = Client(trading_url, timeout_s)

    async def aclose(self) -> None:
        await self.users.aclose()
        await self.trading.aclose()

    # --- accounts ---------------------------------------------------------------------------

    async def register(self, username: str, email: str, password: str) -> Response:
        body = {"username": username, "email": email, "password": password}
        return await self._send("register", self.users, "POST", "/register", json=body)

    async def login(self, account: Account) -> Response:
        body = {"email": account.email, "password": account.password}
        response = await self._send("login", self.users, "POST", "/login", json=body)
        if response.status_code == 200:
            account.token = response.json()["access_token"]
        return response

    async def join_league(self, account: Account, invite_code: str) -> str:
        """The account's league account (joined now, or already): its id."""
        response = await self.trading.post(
            "/leagues/join",
            json={"invite_code": invite_code},
            headers={"Authorization": f"Bearer {account.token}"},
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(
                f"joining the league refused: {response.status_code} {response.text}"
            )
        league_account: str = response.json()["id"]
        return league_account

    # --- trading ----------------------------------------------------------------------------

    async def place(
        self, account: Account, order: dict[str, Any], wait: bool = False
    ) -> dict[str, Any] | None:
        """POST /orders; the order if acknowledged (201, or 200 for a retry), else None.

        With `wait`, the answer comes once the engine has processed the order (bounded).
        """
        path = "/orders?wait=true" if wait else "/orders"
        response = await self._trade("place", account, "POST", path, json=order)
        if response is None or response.status_code not in (200, 201):
            return None
        placed: dict[str, Any] = response.json()
        self.stats.acknowledge(account.id, placed)
        return placed

    async def cancel(self, account: Account, order_id: str) -> dict[str, Any] | None:
        """DELETE /orders/{id}: the order as it stands after the engine acted, or None (409)."""
        response = await self._trade("cancel", account, "DELETE", f"/orders/{order_id}")
        return self._order_answer(account, response)

    async def replace(
        self, account: Account, order_id: str, change: dict[str, Any]
    ) -> dict[str, Any] | None:
        response = await self._trade("replace", account, "PATCH", f"/orders/{order_id}", change)
        return self._order_answer(account, response)

    async def portfolio(self, account: Account) -> dict[str, Any] | None:
        response = await self._trade("portfolio", account, "GET", "/portfolio")
        return None if response is None or response.status_code != 200 else response.json()

    async def prices(self) -> dict[str, Decimal]:
        """Every symbol's reference price (GET /prices needs no token)."""
        try:
            response = await self.trading.get("/prices")
        except TransportError:
            return {}
        if response.status_code != 200:
            return {}
        return {p["symbol"]: Decimal(p["price"]) for p in response.json()}

    def _order_answer(self, account: Account, response: Response | None) -> dict[str, Any] | None:
        if response is None or response.status_code != 200:
            return None
        order: dict[str, Any] = response.json()
        self.stats.acknowledge(account.id, order)
        return order

    async def _trade(
        self,
        op: str,
        account: Account,
        method: str,
        path: str,
        json: dict[str, Any] | None = None,
    ) -> Response | None:
        """Send with the account's token, logging in again once if it expired."""
        for _ in range(2):
            headers = {"Authorization": f"Bearer {account.token}"}
            if account.trading_account:
                headers["X-Account-Id"] = account.trading_account
            response = await self._retrying(op, self.trading, method, path, json, headers)
            if response is None or response.status_code != 401:
                return response
            await self.login(account)
        return response

    async def _retrying(
        self,
        op: str,
        client: Client,
        method: str,
        path: str,
        json: dict[str, Any] | None,
        headers: dict[str, str],
    ) -> Response | None:
        deadline = time.monotonic() + self.retry_for_s
        backoff = 0.2
        while True:
            try:
                response = await self._send(op, client, method, path, json=json, headers=headers)
            except TransportError:
                response = None
            if response is not None and response.status_code < 500:
                return response
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _send(
        self, op: str, client: Client, method: str, path: str, **kwargs: Any
    ) -> Response:
        started = time.perf_counter()
        try:
            response = await client.request(method, path, **kwargs)
        except TransportError as exc:
            self.stats.record(op, type(exc).__name__, None)
            raise
        ms = 1000 * (time.perf_counter() - started)
        self.stats.record(op, _outcome(response), ms)
        return response


def _outcome(response: Response) -> str:
    """ "201", or "409 insufficient_funds": the status with the error name, when there is one."""
    if response.status_code < 400:
        return str(response.status_code)
    try:
        error = response.json().get("error", "")
    except ValueError:
        error = "not-json"
    return f"{response.status_code} {error}".strip()
