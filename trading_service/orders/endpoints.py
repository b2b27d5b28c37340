"""HTTP for order entry and order history."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.routing import APIRoute

from shared.errors import error_body
from shared.market_clock import MarketClock
from trading_service.accounts import repository as accounts_repository
from trading_service.deps import ActiveAccount, CurrentAccount, Entry, OrderEntry, ResourcesDep
from trading_service.engine.core.model import Side
from trading_service.leagues import service as league_rules
from trading_service.messages import CancelRequest
from trading_service.orders import changes, repository, service
from trading_service.orders.executions import finished, replace_settled
from trading_service.orders.schemas import (
    CLIENT_ORDER_ID_PATTERN,
    SYMBOL_PATTERN,
    OrderOut,
    OrderRequest,
    ReplaceOrderRequest,
    TradeOut,
    TradeRequest,
)

router = APIRouter(tags=["orders"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "Missing, expired or invalid token",
        "content": {"application/json": {"example": error_body("unauthorized", "token expired")}},
    },
    409: {
        "description": "Not enough buying power or shares",
        "content": {
            "application/json": {
                "example": error_body("insufficient_funds", "buying power is 120.00")
            }
        },
    },
    422: {"description": "Malformed request or unknown symbol"},
    503: {"description": "No fresh reference price for the symbol"},
}


async def _submit(entry: Entry, request: OrderRequest, wait: bool, response: Response) -> OrderOut:
    account = entry.account
    order, created = await service.submit(
        entry.resources, account.id, request, wait, account.personal
    )
    if not created:
        response.status_code = status.HTTP_200_OK  # same client_order_id: the existing order
    return order


@router.post(
    "/trade/buy",
    status_code=status.HTTP_201_CREATED,
    summary="Buy at market (the seed's endpoint)",
    description="Places a market buy and waits (a few seconds at most) for the matching engine, "
    "then returns the order in its final state with its fill price and quantity. Cash is "
    "reserved at a protection price above the last price, so the fill can never overspend.",
    responses=_ERRORS,
)
async def buy(body: TradeRequest, entry: OrderEntry, response: Response) -> OrderOut:
    return await _submit(entry, body.market_order(Side.BUY), wait=True, response=response)


@router.post(
    "/trade/sell",
    status_code=status.HTTP_201_CREATED,
    summary="Sell at market (the seed's endpoint)",
    description="Places a market sell of shares you hold and waits for the engine, like "
    "/trade/buy.",
    responses=_ERRORS,
)
async def sell(body: TradeRequest, entry: OrderEntry, response: Response) -> OrderOut:
    return await _submit(entry, body.market_order(Side.SELL), wait=True, response=response)


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    summary="Place an order",
    description="Market, limit, stop or stop-limit, with time in force day, gtc, ioc or fok. "
    "Returns at once with the order as stored (status `new`); with `?wait=true` waits (bounded) "
    "until the engine has processed it. A repeated `client_order_id` returns the existing order "
    "with 200 and creates nothing.",
    responses=_ERRORS,
)
async def place_order(
    body: OrderRequest,
    entry: OrderEntry,
    response: Response,
    wait: Annotated[bool, Query(description="Wait for the engine before answering.")] = False,
) -> OrderOut:
    return await _submit(entry, body, wait=wait, response=response)


# The plain case of these three (and of `?wait=true`) is answered by orders/fast_path.py (same
# answers, less CPU), which labels its requests with these routes for the metrics.
ORDER_ENTRY_ROUTES = {
    r.path: r
    for r in router.routes
    if isinstance(r, APIRoute)
    and r.path in ("/orders", "/trade/buy", "/trade/sell")
    and "POST" in (r.methods or ())
}


_BEFORE_RESET = Query(
    description="Also list what the account did before its last reset (POST /accounts/{id}/reset)"
)


@router.get("/orders", summary="Your orders, newest first")
async def list_orders(
    account_id: CurrentAccount,
    resources: ResourcesDep,
    status_filter: Annotated[
        Literal["open", "closed", "all"], Query(alias="status", description="open, closed or all")
    ] = "all",
    symbol: Annotated[
        str | None,
        Query(max_length=10, pattern=SYMBOL_PATTERN, description="Only this symbol"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_reset: Annotated[bool, _BEFORE_RESET] = False,
) -> list[OrderOut]:
    statuses = {
        "open": repository.OPEN_STATUSES,
        "closed": repository.CLOSED_STATUSES,
        "all": None,
    }[status_filter]
    async with resources.db.connect() as conn:
        rows = await repository.list_orders(
            conn,
            account_id,
            statuses,
            symbol.upper() if symbol else None,
            limit,
            None if before_reset else await accounts_repository.reset_at(conn, account_id),
        )
        return await service.render_orders(conn, rows)


@router.get(
    "/orders/by-client-id/{client_order_id}",
    summary="One of your orders, by your client_order_id",
    responses={404: {"description": "No such order of yours"}},
)
async def get_order_by_client_id(
    client_order_id: Annotated[str, Path(max_length=64, pattern=CLIENT_ORDER_ID_PATTERN)],
    account_id: CurrentAccount,
    resources: ResourcesDep,
) -> OrderOut:
    async with resources.db.connect() as conn:
        row = await repository.get_order_by_client_id(conn, account_id, client_order_id)
        if row is None:
            raise service.OrderNotFound()
        return (await service.render_orders(conn, [row]))[0]


@router.get(
    "/orders/{order_id}",
    summary="One of your orders with its fills",
    responses={404: {"description": "No such order of yours (another user's order is 404 too)"}},
)
async def get_order(
    order_id: uuid.UUID, account_id: CurrentAccount, resources: ResourcesDep
) -> OrderOut:
    async with resources.db.connect() as conn:
        return await service.get_order(conn, account_id, order_id)


@router.get("/trades", summary="Your fills, newest first")
async def list_trades(
    request: Request,
    account_id: CurrentAccount,
    resources: ResourcesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_reset: Annotated[bool, _BEFORE_RESET] = False,
) -> list[TradeOut]:
    async with resources.db.connect() as conn:
        rows = await repository.list_fills(
            conn,
            account_id,
            limit,
            None if before_reset else await accounts_repository.reset_at(conn, account_id),
        )
    clock: MarketClock = request.app.state.clock
    return [
        TradeOut(
            id=r.id,
            order_id=r.order_id,
            symbol=r.symbol,
            side=Side(r.side),
            price=r.price,
            qty=r.qty,
            liquidity=r.liquidity,
            ts=r.ts,
            market_time=clock.market_time(r.ts),
        )
        for r in rows
    ]


@router.delete(
    "/orders/{order_id}",
    summary="Cancel an open order",
    description="Records the cancel (it survives a crash) and waits, bounded, for the engine; "
    "returns the order as it then stands — `canceled`, or `filled` if it filled first.",
    responses={
        404: {"description": "No such order of yours"},
        409: {"description": "The order is no longer open"},
    },
)
async def cancel_order(
    order_id: uuid.UUID, account_id: CurrentAccount, resources: ResourcesDep
) -> OrderOut:
    return await changes.cancel(resources, account_id, order_id)


@router.delete(
    "/orders",
    summary="Cancel all your open orders",
    description="Returns the orders that were open, as they stand after the engine acted.",
)
async def cancel_all_orders(account_id: CurrentAccount, resources: ResourcesDep) -> list[OrderOut]:
    async with resources.db.begin() as conn:
        rows = await repository.mark_cancel_requested(conn, account_id)
    await service.hand_off_and_wait(
        resources,
        [(r.symbol, CancelRequest(r.id, account_id)) for r in rows],
        [(r.id, finished) for r in rows],
        True,
    )
    return await service.as_they_stand(resources, account_id, [r.id for r in rows])


@router.patch(
    "/orders/{order_id}",
    summary="Replace an open order's qty, limit or stop price",
    description="A price change or a larger qty loses time priority; a smaller qty keeps it. "
    "Buying power (or shares) for any increase is reserved now, under the order's lock: "
    "changes to one order are checked one after the other, each against the terms the previous "
    "one set, so two PATCHes sent at once can never together reserve less than they need. "
    "Raising a buy stop's stop_price re-reserves at the new stop's protection price. "
    "Reductions are given back when the engine applies the change. Waits, bounded, for the "
    "engine and answers the order with the change applied; 409 if the engine refused it (the "
    "order filled or was canceled first). A cancel-requested order cannot be replaced.",
    responses={
        404: {"description": "No such order of yours"},
        409: {
            "description": "Not open any more (or cancel requested), not enough buying power, "
            "or the engine refused the change"
        },
        422: {"description": "Field not valid for this order type, or qty <= filled"},
    },
)
async def replace_order(
    order_id: uuid.UUID,
    body: ReplaceOrderRequest,
    account: ActiveAccount,
    resources: ResourcesDep,
) -> OrderOut:
    account_id = account.id
    if account.personal:  # no league rules: on asyncpg (orders/changes.py)
        return await changes.replace(resources, account_id, order_id, body)
    async with resources.db.begin() as conn:
        await league_rules.check_replace(
            conn, account_id, order_id, body.qty, body.limit_price, body.stop_price
        )
        row, message = await service.request_replace(
            conn,
            account_id,
            order_id,
            body,
            resources.prices.get,
            resources.settings.market_collar_bps,
        )
    seq = row.replace_seq
    await service.hand_off_and_wait(
        resources, [(row.symbol, message)], [(row.id, replace_settled(seq))], True
    )
    async with resources.db.connect() as conn:
        after = await repository.get_order(conn, account_id, order_id)
        if after is None:
            raise service.OrderNotFound()
        if after.replace_applied_seq == seq and after.replace_reject_reason is not None:
            raise service.ReplaceRefused(
                f"the change was not applied: {after.replace_reject_reason}"
            )
        if after.replace_applied_seq < seq and after.status not in repository.OPEN_STATUSES:
            raise service.OrderNotOpen(f"the order was {after.status} before the change applied")
        return (await service.render_orders(conn, [after]))[0]
