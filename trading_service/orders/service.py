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
from trading_service.messages import PriceTick
from trading_service.orders import repository
from trading_service.orders.schemas import FillOut, OrderOut, OrderRequest, avg_price
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

    balance = await repository.lock_balance(conn, account_id)
    reserved_cash = Decimal("0.00")
    reserved_qty = 0
    protection: Decimal | None = None
    if request.side is Side.BUY:
        per_share = reservation_price(request, last, collar_bps)
        if request.limit_price is None:
            protection = per_share
        reserved_cash = round_money(per_share * request.qty)
        available = balance.cash - balance.reserved_cash
        if reserved_cash > available:
            raise InsufficientFunds(
                f"buying {request.qty} {request.symbol} needs up to {reserved_cash:.2f} "
                f"(at {per_share:.2f} a share); buying power is {available:.2f}"
            )
        await repository.reserve_cash(conn, account_id, reserved_cash)
    else:
        holding = await repository.lock_holding(conn, account_id, request.symbol)
        available_qty = holding.qty - holding.reserved_qty
        if request.qty > available_qty:
            raise InsufficientShares(
                f"selling {request.qty} {request.symbol} but only {available_qty} are available "
                f"({holding.qty} held, {holding.reserved_qty} reserved by open orders)"
            )
        await repository.reserve_shares(conn, account_id, request.symbol, request.qty)
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


async def render_orders(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> list[OrderOut]:
    by_order = await repository.fills_by_order(conn, [r.id for r in rows])
    return [
        OrderOut(
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
            fills=[FillOut(price=f.price, qty=f.qty, ts=f.ts) for f in by_order.get(r.id, [])],
        )
        for r in rows
    ]


async def get_order(conn: AsyncConnection, account_id: uuid.UUID, order_id: uuid.UUID) -> OrderOut:
    row = await repository.get_order(conn, account_id, order_id)
    if row is None:
        raise OrderNotFound()
    return (await render_orders(conn, [row]))[0]
