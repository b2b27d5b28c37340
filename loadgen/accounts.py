"""Bot accounts: signed up once through the user service, kept in the data dir, reused.

The user service limits sign-ups per client address (USER_REGISTER_MAX_PER_IP, 10 a minute by
default): missing accounts are created as fast as it allows (waiting out each 429's
Retry-After), and the next run finds them in `bots.json` and only logs in.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path

from loadgen.exchange import Account, Exchange
from loadgen.http import Response, TransportError

log = logging.getLogger(__name__)

CREDENTIALS_FILE = "bots.json"


def _load(path: Path) -> list[Account]:
    if not path.exists():
        return []
    return [Account(**a) for a in json.loads(path.read_text())]


def _save(path: Path, accounts: list[Account]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = [
        {k: v for k, v in asdict(a).items() if k not in ("token", "trading_account")}
        for a in accounts
    ]
    path.write_text(json.dumps(saved, indent=1))
    path.chmod(0o600)  # passwords of throwaway accounts, but passwords still


async def _until_answered(call: Callable[[], Awaitable[Response]], what: str) -> Response:
    """Wait out 429s and transient failures; return the first definite answer."""
    unreachable = 0
    for _ in range(1000):
        try:
            response = await call()
        except TransportError as exc:
            unreachable += 1
            if unreachable > 10:
                raise RuntimeError(f"{what}: the user service is unreachable ({exc!r})") from exc
            await asyncio.sleep(1)
            continue
        if response.status_code == 429:
            wait = float(response.headers.get("retry-after", "5"))
            log.info("%s throttled by the user service: waiting %.0f s", what, wait)
            await asyncio.sleep(wait)
            continue
        if response.status_code >= 500:
            await asyncio.sleep(1)
            continue
        return response
    raise RuntimeError(f"{what}: no answer")


async def sign_up(exchange: Exchange, prefix: str) -> Account:
    while True:
        username = f"{prefix}-{secrets.token_hex(4)}"
        email = f"{username}@example.com"
        password = secrets.token_urlsafe(12)
        response = await _until_answered(
            functools.partial(exchange.register, username, email, password), "sign-up"
        )
        if response.status_code == 201:
            return Account(username, email, password, response.json()["id"])
        if response.status_code != 409:  # 409: the name is taken; draw another
            raise RuntimeError(f"sign-up refused: {response.status_code} {response.text}")


async def ensure_accounts(
    exchange: Exchange, count: int, path: Path, prefix: str = "bot", parallel: int = 4
) -> list[Account]:
    """`count` logged-in accounts: those stored at `path` first, new sign-ups for the rest."""
    stored = _load(path)
    accounts = stored[:count]
    if len(accounts) < count:
        log.info("signing up %d bot accounts", count - len(accounts))
    while len(accounts) < count:
        account = await sign_up(exchange, prefix)
        accounts.append(account)
        stored.append(account)
        _save(path, stored)  # after each one: an interrupted run keeps what it created
    gate = asyncio.Semaphore(parallel)

    async def login(account: Account) -> None:
        async with gate:
            response = await _until_answered(lambda: exchange.login(account), "login")
        if response.status_code != 200:
            raise RuntimeError(
                f"login of {account.email} refused ({response.status_code}): delete "
                f"{path} if the data dir was reset"
            )

    await asyncio.gather(*(login(a) for a in accounts))
    return accounts
