"""Classroom leagues: creating and joining them, their trading window and rules, their end.

A league account is an ordinary account (own cash, reservations, positions, orders) whose
`league_id` ties it to the league's rules. Order entry checks the rules in the same transaction
that reserves, holding the league row FOR SHARE: closing and removing a member take it FOR
UPDATE, so an order is either in before them (and canceled by them) or refused.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import Conflict, DomainError, NotFound, UnprocessableEntity
from shared.money import round_money
from shared.tokens import Claims
from trading_service.accounts.schemas import AccountOut
from trading_service.accounts.service import AccountFrozen, account_out
from trading_service.leagues import repository
from trading_service.leagues.schemas import (
    EquityPoint,
    EquitySeries,
    LeagueCreate,
    LeagueOut,
    MemberOut,
    StandingOut,
)
from trading_service.prices.cache import PriceCache
from trading_service.tables import accounts, leagues, orders

_CODE_ALPHABET = string.ascii_uppercase + string.digits


class Forbidden(DomainError):
    status = 403
    error = "forbidden"


class LeagueNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("no such league")


class LeagueNotOpen(Conflict):
    error = "league_not_open"


class SymbolNotAllowed(UnprocessableEntity):
    error = "symbol_not_allowed"


class OrderTooLarge(UnprocessableEntity):
    error = "order_value_too_large"


def _name(member: Row[Any]) -> str:
    # As on the global leaderboard: a name a person can read, never a raw id.
    return str(member.username or f"trader-{member.user_id.hex[:8]}")


def require_admin(claims: Claims) -> None:
    if not claims.is_admin:
        raise Forbidden("only an administrator may do this")


def new_invite_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))


def status(league: Row[Any], now: datetime) -> str:
    if league.closed_at is not None or (league.ends_at is not None and now >= league.ends_at):
        return "ended"
    return "upcoming" if now < league.starts_at else "open"


def league_out(league: Row[Any], now: datetime, show_code: bool) -> LeagueOut:
    return LeagueOut(
        id=league.id,
        name=league.name,
        invite_code=league.invite_code if show_code else None,
        starting_cash=league.starting_cash,
        starts_at=league.starts_at,
        ends_at=league.ends_at,
        allowed_symbols=league.allowed_symbols,
        max_order_value=league.max_order_value,
        allow_reset=league.allow_reset,
        public=league.public,
        status=status(league, now),
        closed_at=league.closed_at,
        finalized_at=league.finalized_at,
        created_at=league.created_at,
    )


async def create(conn: AsyncConnection, claims: Claims, body: LeagueCreate) -> LeagueOut:
    require_admin(claims)
    now = await repository.now(conn)
    starts_at = body.starts_at or now
    if body.ends_at is not None and body.ends_at <= starts_at:
        raise UnprocessableEntity("ends_at must be after starts_at")
    row = await repository.insert(
        conn,
        {
            "id": uuid.uuid4(),
            "name": body.name,
            "invite_code": new_invite_code(),
            "starting_cash": body.starting_cash,
            "starts_at": starts_at,
            "ends_at": body.ends_at,
            "allowed_symbols": sorted(set(body.allowed_symbols)) if body.allowed_symbols else None,
            "max_order_value": body.max_order_value,
            "allow_reset": body.allow_reset,
            "public": body.public,
            "created_by": claims.sub,
        },
    )
    return league_out(row, now, show_code=True)


async def visible(conn: AsyncConnection, claims: Claims, league_id: uuid.UUID) -> Row[Any]:
    """The league if the caller may see it (administrator, member, or public); else 404."""
    league = await repository.find(conn, league_id)
    if league is None:
        raise LeagueNotFound()
    if league.public or claims.is_admin:
        return league
    if await repository.is_member(conn, league_id, claims.sub):
        return league
    raise LeagueNotFound()


async def administered(conn: AsyncConnection, claims: Claims, league_id: uuid.UUID) -> Row[Any]:
    require_admin(claims)
    league = await repository.find(conn, league_id)
    if league is None:
        raise LeagueNotFound()
    return league


async def list_leagues(conn: AsyncConnection, claims: Claims) -> list[LeagueOut]:
    now = await repository.now(conn)
    return [
        league_out(r, now, show_code=claims.is_admin)
        for r in await repository.visible_to(conn, claims.sub, claims.is_admin)
    ]


async def join(conn: AsyncConnection, user_id: uuid.UUID, code: str) -> tuple[AccountOut, bool]:
    """(the account, created): joining again answers the account already held, so a retried
    join never fails."""
    league = await repository.by_invite_code(conn, code.strip().upper())
    if league is None:
        # The same answer for a wrong code and a rotated one: codes cannot be probed.
        raise NotFound("no league has this invite code")
    now = await repository.now(conn)
    if status(league, now) == "ended":
        raise LeagueNotOpen(f"league {league.name!r} has ended")
    account = await repository.join(conn, league.id, user_id, league.starting_cash)
    created = account is not None
    if account is None:
        account = await repository.member_of(conn, league.id, user_id)
    out = account_out(account)
    out.league_name = league.name
    return out, created


async def check_order_entry(
    conn: AsyncConnection, account_id: uuid.UUID, symbol: str, qty: int, price: Decimal | None
) -> None:
    """Refuse an order the account's league does not allow now; call in the order's transaction.

    `price` is the per-share value the order is measured at (its limit, else the last price).
    """
    # Lock order league -> account, as closing and removing members take them (the engine
    # takes orders -> accounts), so none of them can deadlock with another.
    league_id = (
        await conn.execute(select(accounts.c.league_id).where(accounts.c.id == account_id))
    ).scalar_one()
    if league_id is None:
        return  # the personal account: no league rules
    league = (
        await conn.execute(
            select(leagues).where(leagues.c.id == league_id).with_for_update(read=True)
        )
    ).one()
    # Read under the league lock: a removal holds the league FOR UPDATE until it commits.
    frozen = (
        await conn.execute(select(accounts.c.frozen_at).where(accounts.c.id == account_id))
    ).scalar_one()
    if frozen is not None:
        raise AccountFrozen("this account was removed from its league and takes no orders")
    now = await repository.now(conn)
    match status(league, now):
        case "upcoming":
            raise LeagueNotOpen(f"league {league.name!r} opens at {league.starts_at.isoformat()}")
        case "ended":
            raise LeagueNotOpen(f"league {league.name!r} has ended; it takes no more orders")
    if league.allowed_symbols is not None and symbol not in league.allowed_symbols:
        raise SymbolNotAllowed(
            f"{symbol} is not traded in league {league.name!r}; allowed: "
            + ", ".join(league.allowed_symbols)
        )
    if league.max_order_value is None or price is None:
        return
    value = round_money(price * qty)
    if value > league.max_order_value:
        raise OrderTooLarge(
            f"the order is worth {value:.2f}; league {league.name!r} allows at most "
            f"{league.max_order_value:.2f} per order"
        )


async def check_replace(
    conn: AsyncConnection,
    account_id: uuid.UUID,
    order_id: uuid.UUID,
    qty: int | None,
    limit: Decimal | None,
    stop: Decimal | None,
) -> None:
    """A changed order obeys its league's window and rules like a new one (an unknown order is
    left to the replace, which answers 404)."""
    order = (
        await conn.execute(
            select(orders).where(and_(orders.c.id == order_id, orders.c.account_id == account_id))
        )
    ).one_or_none()
    if order is None:
        return
    price = limit or order.limit_price or stop or order.stop_price or order.protection_price
    await check_order_entry(conn, account_id, order.symbol, qty or order.qty, price)


async def rotate_code(conn: AsyncConnection, claims: Claims, league_id: uuid.UUID) -> LeagueOut:
    await administered(conn, claims, league_id)
    row = await repository.set_invite_code(conn, league_id, new_invite_code())
    return league_out(row, await repository.now(conn), show_code=True)


async def close(
    conn: AsyncConnection, claims: Claims, prices: PriceCache, league_id: uuid.UUID
) -> tuple[LeagueOut, list[Row[Any]]]:
    """End the league now; returns it and the orders whose cancel the caller hands to the engine."""
    await administered(conn, claims, league_id)
    await repository.get(conn, league_id, lock=True)
    await repository.mark_closed(conn, league_id)
    canceled = await finalize(conn, prices, league_id)
    league = await repository.get(conn, league_id)
    return league_out(league, await repository.now(conn), show_code=True), canceled


async def finalize(
    conn: AsyncConnection, prices: PriceCache, league_id: uuid.UUID
) -> list[Row[Any]]:
    """Cancel every open order of the league and freeze its standings (the league row is locked
    by the caller). The standings are valued now: resting orders cannot fill any more since
    order entry is shut and their cancels go out with this commit."""
    league = await repository.get(conn, league_id)
    if league.finalized_at is not None:
        return []
    members = await repository.members(conn, league_id)
    canceled = await repository.cancel_open_orders(conn, [m.id for m in members])
    standing = await _valuations(conn, prices, league_id)
    await repository.save_equity(conn, league_id, await repository.now(conn), standing, final=True)
    await repository.mark_finalized(conn, league_id)
    return canceled


async def remove_member(
    conn: AsyncConnection, claims: Claims, league_id: uuid.UUID, account_id: uuid.UUID
) -> tuple[AccountOut, list[Row[Any]]]:
    await administered(conn, claims, league_id)
    # The league row first (waits for the member's orders in flight), then the orders, then the
    # account: the lock order of order entry and of the engine (see check_order_entry).
    await repository.get(conn, league_id, lock=True)
    if await repository.member_account(conn, league_id, account_id) is None:
        raise NotFound("no such member account in this league")
    canceled = await repository.cancel_open_orders(conn, [account_id])
    await repository.freeze(conn, account_id)
    row = await repository.member_account(conn, league_id, account_id)
    assert row is not None
    return account_out(row), canceled


async def member_list(
    conn: AsyncConnection, claims: Claims, league_id: uuid.UUID
) -> list[MemberOut]:
    await administered(conn, claims, league_id)
    return [
        MemberOut(
            account_id=m.id,
            user_id=m.user_id,
            username=_name(m),
            cash=m.cash,
            reserved_cash=m.reserved_cash,
            frozen=m.frozen_at is not None,
            joined_at=m.created_at,
        )
        for m in await repository.members(conn, league_id)
    ]


async def _valuations(
    conn: AsyncConnection, prices: PriceCache, league_id: uuid.UUID
) -> list[tuple[uuid.UUID, Decimal, int]]:
    """(account, equity, trades) of every member, valued like GET /portfolio."""
    last = {tick.symbol: tick.price for tick in await prices.all()}
    value: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for h in await repository.holdings(conn, league_id):
        price = last.get(h.symbol)
        value[h.account_id] += h.cost_basis if price is None else price * h.qty
    trades = await repository.trade_counts(conn, league_id)
    return [
        (m.id, round_money(m.cash + value[m.id]), trades.get(m.id, 0))
        for m in await repository.members(conn, league_id)
    ]


async def leaderboard(
    conn: AsyncConnection, prices: PriceCache, league: Row[Any]
) -> list[StandingOut]:
    """Live standings, or the frozen final ones once the league is finalized."""
    names = {m.id: _name(m) for m in await repository.members(conn, league.id)}
    if league.finalized_at is not None:
        rows = [
            (r.account_id, r.equity, r.trades)
            for r in await repository.final_standings(conn, league.id)
        ]
    else:
        rows = await _valuations(conn, prices, league.id)
    rows.sort(key=lambda r: (-r[1], names.get(r[0], "")))
    start = league.starting_cash
    return [
        StandingOut(
            rank=i,
            username=names.get(account_id, f"trader-{account_id.hex[:8]}"),
            account_id=account_id,
            equity=equity,
            return_pct=round_money((equity - start) * 100 / start),
            trades=trades,
        )
        for i, (account_id, equity, trades) in enumerate(rows, start=1)
    ]


async def equity(conn: AsyncConnection, league: Row[Any]) -> list[EquitySeries]:
    members = await repository.members(conn, league.id)
    series = {m.id: EquitySeries(account_id=m.id, username=_name(m), points=[]) for m in members}
    for r in await repository.equity_history(conn, league.id):
        if r.account_id in series:
            series[r.account_id].points.append(EquityPoint(ts=r.ts, equity=r.equity))
    return list(series.values())


async def snapshot(
    conn: AsyncConnection, prices: PriceCache, league_id: uuid.UUID, ts: datetime
) -> None:
    await repository.save_equity(
        conn, league_id, ts, await _valuations(conn, prices, league_id), False
    )
