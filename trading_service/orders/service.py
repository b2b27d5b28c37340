"""Order entry: check buying power, reserve cash or shares, store the order — one transaction.

The caller owns the transaction and hands the order to the engine only after it commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import Conflict, NotFound, ServiceUnavailable, UnprocessableEntity
from shared.money import from_ticks, round_money, ticks_up, to_ticks
from trading_service.engine.core.model import Order, OrderType, Side, TimeInForce
from trading_service.messages import PriceTick, ReplaceRequest
from trading_service.orders import repository
from trading_service.orders.schemas import (
    FillOut,
    OrderOut,
    OrderRequest,
    ReplaceOrderRequest,
    avg_price,
)
from trading_service.prices.cache import age_seconds


class InsufficientFunds(Conflict):
    error = "insufficient_funds"


class InsufficientShares(Conflict):
    error = "insufficient_shares"


class UnknownSymbol(UnprocessableEntity):
    error = "unknown_symbol"


class NoPrice(ServiceUnavailable):
    error = "no_price"


class OrderNotOpen(Conflict):
    error = "order_not_open"


class OrderNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("no such order")


def check_price(symbol: str, tick: PriceTick | None, max_age_s: float) -> PriceTick:
    """The reference price an order is checked against; a market order needs a fresh one."""
    if tick is None:
        raise UnknownSymbol(f"unknown symbol {symbol!r}: no price has ever been published for it")
    if age_seconds(tick) > max_age_s:
        raise NoPrice(
            f"no price for {symbol} in the last {max_age_s:g} s; the stock service may be down"
        )
    return tick


def reservation_price(request: OrderRequest, last: PriceTick, collar_bps: int) -> Decimal:
    """Per-share cash a buy reserves: its limit, or a protection price above the market."""
    if request.limit_price is not None:
        return request.limit_price
    anchor = max(last.price, request.stop_price or last.price)
    return from_ticks(ticks_up(anchor * (10_000 + collar_bps) / 10_000))


async def place_order(
    conn: AsyncConnection,
    account_id: uuid.UUID,
    request: OrderRequest,
    last: PriceTick,
    collar_bps: int,
) -> tuple[Row[Any], bool]:
    """Reserve and store the order; returns (order row, created). Idempotent on client_order_id."""
    client_order_id = request.client_order_id or str(uuid.uuid4())
    if request.client_order_id is not None:
        existing = await repository.get_order_by_client_id(conn, account_id, client_order_id)
        if existing is not None:
            return existing, False

    reserved_cash = Decimal("0.00")
    reserved_qty = 0
    protection: Decimal | None = None
    if request.side is Side.BUY:
        per_share = reservation_price(request, last, collar_bps)
        if request.limit_price is None:
            protection = per_share
        reserved_cash = round_money(per_share * request.qty)
        if not await repository.reserve_cash(conn, account_id, reserved_cash):
            balance = await repository.get_balance(conn, account_id)
            raise InsufficientFunds(
                f"buying {request.qty} {request.symbol} needs up to {reserved_cash:.2f} "
                f"(at {per_share:.2f} a share); buying power is "
                f"{balance.cash - balance.reserved_cash:.2f}"
            )
    else:
        if not await repository.reserve_shares(conn, account_id, request.symbol, request.qty):
            holding = await repository.get_holding(conn, account_id, request.symbol)
            raise InsufficientShares(
                f"selling {request.qty} {request.symbol} but only "
                f"{holding.qty - holding.reserved_qty} are available ({holding.qty} held, "
                f"{holding.reserved_qty} reserved by open orders)"
            )
        reserved_qty = request.qty

    row = await repository.insert_order(
        conn,
        {
            "id": uuid.uuid4(),
            "account_id": account_id,
            "client_order_id": client_order_id,
            "symbol": request.symbol,
            "side": request.side.value,
            "type": request.type.value,
            "time_in_force": request.time_in_force.value,
            "qty": request.qty,
            "limit_price": request.limit_price,
            "stop_price": request.stop_price,
            "protection_price": protection,
            "status": "new",
            "reserved_cash": reserved_cash,
            "reserved_qty": reserved_qty,
        },
    )
    return row, True


def to_core_order(row: Row[Any]) -> Order:
    """The engine's view of a stored order (prices in ticks)."""

    def ticks(value: Decimal | None) -> int | None:
        return None if value is None else to_ticks(value)

    return Order(
        id=row.id,
        account_id=row.account_id,
        symbol=row.symbol,
        side=Side(row.side),
        type=OrderType(row.type),
        tif=TimeInForce(row.time_in_force),
        qty=row.qty,
        limit=ticks(row.limit_price),
        stop=ticks(row.stop_price),
        protection=ticks(row.protection_price),
        filled=row.filled_qty,
        priority=row.priority or 0,
    )


def order_out(r: Row[Any], fills: Sequence[Any] = ()) -> OrderOut:
    return OrderOut(
        id=r.id,
        client_order_id=r.client_order_id,
        symbol=r.symbol,
        side=Side(r.side),
        type=OrderType(r.type),
        time_in_force=TimeInForce(r.time_in_force),
        qty=r.qty,
        limit_price=r.limit_price,
        stop_price=r.stop_price,
        status=r.status,
        filled_qty=r.filled_qty,
        filled_avg_price=avg_price(r.filled_notional, r.filled_qty),
        reject_reason=r.reject_reason,
        created_at=r.created_at,
        updated_at=r.updated_at,
        fills=[FillOut(price=f.price, qty=f.qty, ts=f.ts) for f in fills],
    )


async def render_orders(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> list[OrderOut]:
    by_order = await repository.fills_by_order(conn, [r.id for r in rows])
    return [order_out(r, by_order.get(r.id, [])) for r in rows]


async def get_order(conn: AsyncConnection, account_id: uuid.UUID, order_id: uuid.UUID) -> OrderOut:
    row = await repository.get_order(conn, account_id, order_id)
    if row is None:
        raise OrderNotFound()
    return (await render_orders(conn, [row]))[0]


async def request_cancel(
    conn: AsyncConnection, account_id: uuid.UUID, order_id: uuid.UUID
) -> Row[Any]:
    """Record the cancel of an open order; the engine carries it out."""
    order = await repository.lock_order(conn, account_id, order_id)
    if order is None:
        raise OrderNotFound()
    if order.status not in repository.OPEN_STATUSES:
        raise OrderNotOpen(f"order is {order.status}; only open orders can be canceled")
    (row,) = await repository.mark_cancel_requested(conn, account_id, order_id)
    return row


async def request_replace(
    conn: AsyncConnection,
    account_id: uuid.UUID,
    order_id: uuid.UUID,
    change: ReplaceOrderRequest,
) -> tuple[Row[Any], ReplaceRequest]:
    """Validate a replace and reserve any increase it needs now; the engine applies it."""
    order = await repository.lock_order(conn, account_id, order_id)
    if order is None:
        raise OrderNotFound()
    if order.status not in repository.OPEN_STATUSES or order.cancel_requested_at is not None:
        raise OrderNotOpen(f"order is {order.status}; only open orders can be replaced")
    kind = OrderType(order.type)
    if change.limit_price is not None and kind not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        raise UnprocessableEntity(f"a {kind} order has no limit_price to change")
    if change.stop_price is not None:
        if kind not in (OrderType.STOP, OrderType.STOP_LIMIT):
            raise UnprocessableEntity(f"a {kind} order has no stop_price to change")
        if order.triggered_at is not None:
            raise OrderNotOpen("the stop has already triggered; its stop_price is final")
    qty = change.qty if change.qty is not None else order.qty
    if qty <= order.filled_qty:
        raise UnprocessableEntity(f"qty must be above the {order.filled_qty} shares already filled")
    remaining = qty - order.filled_qty
    if order.side == Side.BUY.value:
        per_share = change.limit_price or order.limit_price or order.protection_price
        extra = round_money(per_share * remaining) - order.reserved_cash
        if extra > 0:
            if not await repository.reserve_cash(conn, account_id, extra):
                balance = await repository.get_balance(conn, account_id)
                raise InsufficientFunds(
                    f"the change needs {extra:.2f} more; buying power is "
                    f"{balance.cash - balance.reserved_cash:.2f}"
                )
            await repository.add_order_reservation(conn, order.id, extra, 0)
    else:
        extra_qty = remaining - order.reserved_qty
        if extra_qty > 0:
            if not await repository.reserve_shares(conn, account_id, order.symbol, extra_qty):
                holding = await repository.get_holding(conn, account_id, order.symbol)
                raise InsufficientShares(
                    f"the change needs {extra_qty} more {order.symbol}; "
                    f"{holding.qty - holding.reserved_qty} are available"
                )
            await repository.add_order_reservation(conn, order.id, Decimal("0"), extra_qty)
    message = ReplaceRequest(
        order.id,
        account_id,
        change.qty,
        None if change.limit_price is None else to_ticks(change.limit_price),
        None if change.stop_price is None else to_ticks(change.stop_price),
    )
    return order, message
