"""HTTP for classroom leagues (administrators create and run them; members join with a code)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response, status

from shared.errors import NotFound, error_body
from trading_service.accounts.schemas import AccountOut
from trading_service.deps import CurrentUser, ResourcesDep
from trading_service.leagues import repository, service
from trading_service.leagues.keeper import send_cancels
from trading_service.leagues.schemas import (
    EquitySeries,
    JoinRequest,
    LeagueCreate,
    LeagueOut,
    MemberOut,
    StandingOut,
)
from trading_service.orders import repository as orders_repository
from trading_service.orders import service as orders_service
from trading_service.orders.schemas import OrderOut
from trading_service.portfolio import service as portfolio_service
from trading_service.portfolio.schemas import PortfolioOut

router = APIRouter(tags=["leagues"])

_ADMIN: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Not an administrator",
        "content": {
            "application/json": {
                "example": error_body("forbidden", "only an administrator may do this")
            }
        },
    },
    404: {"description": "No such league"},
}
_VISIBLE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such league, or not yours to see (not a member, not public)"}
}


@router.post(
    "/leagues",
    status_code=status.HTTP_201_CREATED,
    summary="Create a league (administrators)",
    description="Returns the league with its invite code; members join with the code.",
    responses=_ADMIN,
)
async def create_league(
    body: LeagueCreate, claims: CurrentUser, resources: ResourcesDep
) -> LeagueOut:
    async with resources.db.begin() as conn:
        return await service.create(conn, claims, body)


@router.get("/leagues", summary="Leagues you are in, public ones (administrators: all)")
async def list_leagues(claims: CurrentUser, resources: ResourcesDep) -> list[LeagueOut]:
    async with resources.db.connect() as conn:
        return await service.list_leagues(conn, claims)


@router.post(
    "/leagues/join",
    status_code=status.HTTP_201_CREATED,
    summary="Join a league with its invite code",
    description="Opens your account in the league with the league's starting cash (201). Send "
    "its id as `X-Account-Id` to trade in it. Joining again answers that account with 200.",
    responses={
        200: {"description": "Already a member: your account in the league"},
        404: {"description": "No league has this code"},
        409: {"description": "The league has ended"},
    },
)
async def join_league(
    body: JoinRequest, claims: CurrentUser, resources: ResourcesDep, response: Response
) -> AccountOut:
    async with resources.db.begin() as conn:
        account, created = await service.join(conn, claims.sub, body.invite_code)
    if not created:
        response.status_code = status.HTTP_200_OK
    return account


@router.get("/leagues/{league_id}", summary="One league", responses=_VISIBLE)
async def get_league(
    league_id: uuid.UUID, claims: CurrentUser, resources: ResourcesDep
) -> LeagueOut:
    async with resources.db.connect() as conn:
        league = await service.visible(conn, claims, league_id)
        now = await repository.now(conn)
    return service.league_out(league, now, show_code=claims.is_admin)


@router.post(
    "/leagues/{league_id}/invite-code",
    summary="Replace the invite code (administrators); the old one stops working",
    responses=_ADMIN,
)
async def rotate_invite_code(
    league_id: uuid.UUID, claims: CurrentUser, resources: ResourcesDep
) -> LeagueOut:
    async with resources.db.begin() as conn:
        return await service.rotate_code(conn, claims, league_id)


@router.post(
    "/leagues/{league_id}/close",
    summary="End the league now (administrators)",
    description="Its accounts take no more orders, their open orders are canceled (reservations "
    "released) and the standings are frozen.",
    responses=_ADMIN,
)
async def close_league(
    league_id: uuid.UUID, claims: CurrentUser, resources: ResourcesDep
) -> LeagueOut:
    async with resources.db.begin() as conn:
        league, canceled = await service.close(conn, claims, resources.prices, league_id)
    await send_cancels(resources.handoff, canceled)
    return league


@router.get("/leagues/{league_id}/members", summary="Members (administrators)", responses=_ADMIN)
async def list_members(
    league_id: uuid.UUID, claims: CurrentUser, resources: ResourcesDep
) -> list[MemberOut]:
    async with resources.db.connect() as conn:
        return await service.member_list(conn, claims, league_id)


@router.delete(
    "/leagues/{league_id}/members/{account_id}",
    summary="Remove a member (administrators)",
    description="Their open orders are canceled and the account is frozen (it takes no orders); "
    "its history stays.",
    responses=_ADMIN,
)
async def remove_member(
    league_id: uuid.UUID, account_id: uuid.UUID, claims: CurrentUser, resources: ResourcesDep
) -> AccountOut:
    async with resources.db.begin() as conn:
        account, canceled = await service.remove_member(conn, claims, league_id, account_id)
    await send_cancels(resources.handoff, canceled)
    return account


async def _member(
    resources: ResourcesDep, claims: CurrentUser, league_id: uuid.UUID, account_id: uuid.UUID
) -> None:
    async with resources.db.connect() as conn:
        await service.administered(conn, claims, league_id)
        if await repository.member_account(conn, league_id, account_id) is None:
            raise NotFound("no such member account in this league")


@router.get(
    "/leagues/{league_id}/members/{account_id}/portfolio",
    summary="A member's portfolio (administrators)",
    responses=_ADMIN,
)
async def member_portfolio(
    request: Request,
    league_id: uuid.UUID,
    account_id: uuid.UUID,
    claims: CurrentUser,
    resources: ResourcesDep,
) -> PortfolioOut:
    await _member(resources, claims, league_id, account_id)
    async with resources.db.connect() as conn:
        return await portfolio_service.portfolio(
            conn, resources.prices, request.app.state.clock, account_id, datetime.now(UTC)
        )


@router.get(
    "/leagues/{league_id}/members/{account_id}/orders",
    summary="A member's orders, newest first (administrators)",
    responses=_ADMIN,
)
async def member_orders(
    league_id: uuid.UUID, account_id: uuid.UUID, claims: CurrentUser, resources: ResourcesDep
) -> list[OrderOut]:
    await _member(resources, claims, league_id, account_id)
    async with resources.db.connect() as conn:
        rows = await orders_repository.list_orders(conn, account_id, None, None, 500)
        return await orders_service.render_orders(conn, rows)


@router.get(
    "/leagues/{league_id}/leaderboard",
    summary="The league's standings",
    description="Equity = cash + positions at the latest reference prices; return against the "
    "league's starting cash; trades = fills since the account's last reset. Frozen at the end.",
    responses=_VISIBLE,
)
async def league_leaderboard(
    league_id: uuid.UUID, claims: CurrentUser, resources: ResourcesDep
) -> list[StandingOut]:
    async with resources.db.connect() as conn:
        league = await service.visible(conn, claims, league_id)
        return await service.leaderboard(conn, resources.prices, league)


@router.get(
    "/leagues/{league_id}/equity",
    summary="Equity history per member",
    description="Snapshots taken every TRADING_LEAGUE_SNAPSHOT_S while the league runs, and one "
    "at its end.",
    responses=_VISIBLE,
)
async def league_equity(
    league_id: uuid.UUID, claims: CurrentUser, resources: ResourcesDep
) -> list[EquitySeries]:
    async with resources.db.connect() as conn:
        league = await service.visible(conn, claims, league_id)
        return await service.equity(conn, league)
