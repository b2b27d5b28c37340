"""Which account a request acts on, and resetting an account to its start.

`account_for` is the one place that decides: the HTTP dependency (trading_service/deps.py), the
WebSocket and the API-key layer all call it, so an account is only ever used by its owner.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import Conflict, NotFound
from trading_service.accounts import repository
from trading_service.accounts.schemas import AccountOut
from trading_service.leagues import repository as league_repository


class NoSuchAccount(NotFound):
    def __init__(self) -> None:
        super().__init__("no such account")


class ResetNotAllowed(Conflict):
    error = "reset_not_allowed"


class ResetPending(Conflict):
    error = "reset_pending"


class AccountFrozen(Conflict):
    error = "account_frozen"


@dataclass(frozen=True, slots=True)
class Account:
    id: uuid.UUID
    user_id: uuid.UUID
    league_id: uuid.UUID | None
    frozen: bool

    @property
    def personal(self) -> bool:
        return self.league_id is None


def _account(row: Row[Any]) -> Account:
    return Account(row.id, row.user_id, row.league_id, row.frozen_at is not None)


async def account_for(
    conn: AsyncConnection, user_id: uuid.UUID, account_id: uuid.UUID | None
) -> Account:
    """The account `user_id` acts on: `account_id` if it is theirs, else their personal one.

    Another user's account, the house's or an unknown id are the same 404, so ids cannot be
    probed. The personal account must exist (the auth dependency creates it on first use).
    """
    row = await repository.get(conn, user_id if account_id is None else account_id)
    if row is None or row.house or row.user_id != user_id:
        raise NoSuchAccount()
    return _account(row)


def account_out(row: Row[Any]) -> AccountOut:
    return AccountOut(
        id=row.id,
        league_id=row.league_id,
        league_name=getattr(row, "league_name", None),
        cash=row.cash,
        reserved_cash=row.reserved_cash,
        buying_power=row.cash - row.reserved_cash,
        frozen=row.frozen_at is not None,
        reset_count=row.reset_count,
        reset_at=row.reset_at,
        created_at=row.created_at,
    )


async def my_accounts(conn: AsyncConnection, user_id: uuid.UUID) -> list[AccountOut]:
    return [account_out(r) for r in await repository.list_for_user(conn, user_id)]


async def check_reset_allowed(conn: AsyncConnection, account: Account) -> None:
    if account.frozen:
        raise AccountFrozen("this account was removed from its league")
    if account.league_id is not None:
        league = await league_repository.get(conn, account.league_id)
        if not league.allow_reset:
            raise ResetNotAllowed("this league does not let its members reset their accounts")


async def starting_cash(conn: AsyncConnection, account: Any, personal_start: Decimal) -> Decimal:
    """The cash an account (re)starts with: its league's, or the personal starting cash."""
    if account.league_id is None:
        return personal_start
    league_start: Decimal = (await league_repository.get(conn, account.league_id)).starting_cash
    return league_start


async def finish_reset(
    conn: AsyncConnection, account: Account, personal_start: Decimal
) -> AccountOut:
    """Positions to the house, cash to the start; needs every open order already canceled."""
    row = await repository.get(conn, account.id, lock=True)
    assert row is not None
    if await repository.open_order_count(conn, account.id):
        raise ResetPending("open orders are still being canceled; try the reset again")
    start = await starting_cash(conn, row, personal_start)
    await repository.return_positions_to_house(conn, account.id)
    await repository.restart_cash(conn, account.id, start)
    after = await repository.get(conn, account.id)
    assert after is not None
    return account_out(after)
