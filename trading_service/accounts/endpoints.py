"""HTTP for your accounts: the list, and resetting one to its start."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from fastapi import APIRouter

from trading_service.accounts import service
from trading_service.accounts.schemas import AccountOut
from trading_service.deps import CurrentUser, ResourcesDep
from trading_service.leagues.keeper import send_cancels
from trading_service.orders import repository as orders_repository

router = APIRouter(tags=["accounts"])


@router.get(
    "/accounts",
    summary="Your accounts",
    description="The personal account (id = your user id) first, then one per league you "
    "joined. Choose the one a request acts on with the `X-Account-Id` header.",
)
async def list_accounts(claims: CurrentUser, resources: ResourcesDep) -> list[AccountOut]:
    async with resources.db.connect() as conn:
        return await service.my_accounts(conn, claims.sub)


@router.post(
    "/accounts/{account_id}/reset",
    summary="Reset an account to its starting cash",
    description="Cancels the open orders (through the engine, releasing their reservations), "
    "returns every share to the house and sets cash back to the start (the personal starting "
    "cash, or the league's). Orders and fills stay, as history before `reset_at`. A league "
    "account only if the league allows resets.",
    responses={
        404: {"description": "No such account of yours"},
        409: {
            "description": "The league forbids resets, the account is frozen, or an order "
            "was still being canceled (try again)"
        },
    },
)
async def reset_account(
    account_id: uuid.UUID, claims: CurrentUser, resources: ResourcesDep
) -> AccountOut:
    async with resources.db.begin() as conn:
        account = await service.account_for(conn, claims.sub, account_id)
        await service.check_reset_allowed(conn, account)
        canceled = await orders_repository.mark_cancel_requested(conn, account.id)
    async with contextlib.AsyncExitStack() as stack:
        processed = [
            await stack.enter_async_context(resources.executions.expect(r.id)) for r in canceled
        ]
        await send_cancels(resources.handoff, canceled)
        if processed:
            await asyncio.wait(
                [asyncio.shield(p) for p in processed], timeout=resources.settings.order_wait_s
            )
    async with resources.db.begin() as conn:
        return await service.finish_reset(conn, account, resources.settings.starting_cash)
