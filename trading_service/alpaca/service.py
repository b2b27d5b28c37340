"""The /v2 layer's logic: Alpaca requests translated onto the one orders service.

Orders go through the same path as `POST /orders` (trading_service/orders): the same checks,
reservations, transactions and hand-off to the engine, so an order placed here is in `/orders`
and on the WebSocket, and the other way round.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import UnprocessableEntity
from shared.money import MAX_QTY
from trading_service.alpaca import mapping
from trading_service.alpaca import repository as alpaca_repository
from trading_service.alpaca.errors import Forbidden, NotSupported
from trading_service.alpaca.schemas import OrderOut, OrderRequest, ReplaceRequest
from trading_service.deps import Resources
from trading_service.engine.core.model import Side
from trading_service.messages import CancelRequest, NewOrder
from trading_service.orders import repository, service
from trading_service.orders import schemas as orders_schemas
from trading_service.orders.executions import finished, processed
from trading_service.stored_orders import to_core_order

_WHOLE = re.compile(r"^\s*\d+(\.0*)?\s*$")


def whole_shares(value: Any, field: str = "qty") -> int:
    """A quantity as Alpaca's SDK sends it (10, 10.0 or "10") as whole shares."""
    if value is None:
        raise UnprocessableEntity(f"{field} is required")
    if isinstance(value, bool):
        raise UnprocessableEntity(f"{field} must be a number")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise UnprocessableEntity(f"{field} must be a number") from None
    if not number.is_finite() or number <= 0:
        raise UnprocessableEntity(f"{field} must be a positive whole number of shares")
    if number != number.to_integral_value() or (
        isinstance(value, str) and not _WHOLE.fullmatch(value)
    ):
        raise NotSupported(
            f"fractional orders are not supported: {field} must be a whole number of shares"
        )
    if number > MAX_QTY:
        raise UnprocessableEntity(f"{field} must be at most {MAX_QTY}")
    return int(number)


def refuse_unsupported(request: OrderRequest) -> None:
    if request.notional is not None:
        raise NotSupported("notional orders are not supported: give qty in whole shares")
    if request.order_class not in (None, "", "simple") or request.take_profit or request.stop_loss:
        raise NotSupported(
            f"order_class {request.order_class or 'with take_profit/stop_loss'} is not "
            "supported: only simple orders (no bracket, OCO or OTO)"
        )
    if request.type == "trailing_stop" or request.trail_price or request.trail_percent:
        raise NotSupported("trailing stop orders are not supported")
    if request.extended_hours:
        raise NotSupported("extended hours are not supported: trade during the session")
    if request.time_in_force in ("opg", "cls"):
        raise NotSupported(
            f"time_in_force {request.time_in_force} is not supported: this market has no "
            "opening or closing auction (use day, gtc, ioc or fok)"
        )


def to_order_request(request: OrderRequest) -> orders_schemas.OrderRequest:
    refuse_unsupported(request)
    return _validated(
        {
            "symbol": request.symbol,
            "qty": whole_shares(request.qty),
            "side": request.side,
            "type": request.type,
            "time_in_force": request.time_in_force,
            "limit_price": request.limit_price,
            "stop_price": request.stop_price,
            "client_order_id": request.client_order_id,
        }
    )


def _validated(fields: dict[str, Any]) -> orders_schemas.OrderRequest:
    try:
        return orders_schemas.OrderRequest.model_validate(
            {k: v for k, v in fields.items() if v is not None}
        )
    except ValidationError as exc:
        message = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}".lstrip(": ")
            for err in exc.errors()
        )
        raise UnprocessableEntity(message) from None


async def check_no_short(
    conn: AsyncConnection, account_id: uuid.UUID, request: orders_schemas.OrderRequest
) -> None:
    """A sell beyond the shares held would be a short sale: refused by name, as Alpaca would."""
    if request.side is Side.SELL:
        holding = await repository.get_holding(conn, account_id, request.symbol)
        if request.qty > holding.qty:
            raise NotSupported(
                f"short selling is not supported: selling {request.qty} {request.symbol} but "
                f"{holding.qty} are held"
            )
        if request.qty > holding.qty - holding.reserved_qty:
            raise Forbidden(
                f"insufficient qty available for order (requested: {request.qty}, available: "
                f"{holding.qty - holding.reserved_qty})"
            )


async def present(conn: AsyncConnection, rows: list[Any]) -> list[OrderOut]:
    replaced_by, replaces = await alpaca_repository.links(conn, [r.id for r in rows])
    return [mapping.order_out(r, replaced_by.get(r.id), replaces.get(r.id)) for r in rows]


async def get_order(resources: Resources, account_id: uuid.UUID, order_id: uuid.UUID) -> OrderOut:
    async with resources.db.connect() as conn:
        row = await repository.get_order(conn, account_id, order_id)
        if row is None:
            raise service.OrderNotFound()
        (order,) = await present(conn, [row])
        return order


async def submit(
    resources: Resources, account_id: uuid.UUID, request: orders_schemas.OrderRequest
) -> OrderOut:
    """Through the orders service's own submit; waits (bounded) for the engine, as Alpaca's
    answer comes after the order reached the exchange."""
    async with resources.db.connect() as conn:
        await check_no_short(conn, account_id, request)
    placed, _ = await service.submit(resources, account_id, request, wait=True)
    return await get_order(resources, account_id, placed.id)


async def replace(
    resources: Resources, account_id: uuid.UUID, order_id: uuid.UUID, change: ReplaceRequest
) -> OrderOut:
    """Alpaca's replace: the old order is canceled, a new one `replaces` it (docs/alpaca.md).

    1. The cancel is recorded after checking that the new order would pass (funds, shares):
       a refused replace changes nothing.
    2. The engine carries the cancel out; an order that filled meanwhile cannot be replaced.
    3. The new order is stored with its reservation and its link to the old one in one
       transaction, then handed to the engine like any order.
    """
    async with resources.db.begin() as conn:
        old = await repository.lock_order(conn, account_id, order_id)
        if old is None:
            raise service.OrderNotFound()
        if old.status not in repository.OPEN_STATUSES or old.cancel_requested_at is not None:
            raise service.OrderNotOpen(f"order is {old.status}; only open orders can be replaced")
        terms = service.latest_terms(old)  # a PATCH the engine has not applied yet counts
        new = _validated(
            {
                "symbol": old.symbol,
                "qty": terms.qty - old.filled_qty
                if change.qty is None
                else whole_shares(change.qty),
                "side": old.side,
                "type": old.type,
                "time_in_force": change.time_in_force or old.time_in_force,
                "limit_price": terms.limit_price
                if change.limit_price is None
                else change.limit_price,
                "stop_price": terms.stop_price if change.stop_price is None else change.stop_price,
                "client_order_id": change.client_order_id,
            }
        )
        if change.time_in_force in ("opg", "cls"):
            raise NotSupported(f"time_in_force {change.time_in_force} is not supported")
        await _check_replace_affordable(resources, conn, account_id, old, new)
        await repository.mark_cancel_requested(conn, account_id, old.id)
    await service.hand_off_and_wait(
        resources, [(old.symbol, CancelRequest(old.id, account_id))], [(old.id, finished)], True
    )
    async with resources.db.connect() as conn:
        old = await repository.get_order(conn, account_id, order_id)
    assert old is not None
    if old.status == "filled":
        raise service.OrderNotOpen("the order filled before it could be replaced")
    if old.status != "canceled":
        raise UnprocessableEntity(
            f"the order is {old.status} and its cancel is pending; it will be canceled, "
            "place the new order once it is"
        )
    if change.qty is None:
        # What was left of the old order when its cancel took effect.
        new = new.model_copy(update={"qty": service.latest_terms(old).qty - old.filled_qty})
    last = service.check_price(
        new.symbol, await resources.prices.get(new.symbol), resources.settings.max_price_age_s
    )
    async with resources.db.begin() as conn:
        try:
            row, created = await service.place_order(
                conn, account_id, new, last, resources.settings.market_collar_bps
            )
        except service.ClientOrderIdTaken:
            created = False
        if not created:
            raise UnprocessableEntity("client_order_id must be unique")
        await alpaca_repository.add_replacement(conn, old.id, row.id)
    await service.hand_off_and_wait(
        resources, [(row.symbol, NewOrder(to_core_order(row)))], [(row.id, processed)], True
    )
    return await get_order(resources, account_id, row.id)


async def _check_replace_affordable(
    resources: Resources,
    conn: AsyncConnection,
    account_id: uuid.UUID,
    old: Any,
    new: orders_schemas.OrderRequest,
) -> None:
    """Whether the new order fits once the old one's reservation is released."""
    if new.side is Side.BUY:
        last = await resources.prices.get(new.symbol)
        if last is None:
            return  # place_order refuses it later with the price error
        per_share = service.reservation_price(new, last, resources.settings.market_collar_bps)
        balance = await repository.get_balance(conn, account_id)
        free = balance.cash - balance.reserved_cash + old.reserved_cash
        if per_share * new.qty > free:
            raise Forbidden(
                f"insufficient buying power: the new order needs up to "
                f"{per_share * new.qty:.2f}, {free:.2f} would be free"
            )
    else:
        holding = await repository.get_holding(conn, account_id, new.symbol)
        free_qty = holding.qty - holding.reserved_qty + old.reserved_qty
        if new.qty > free_qty:
            raise Forbidden(
                f"insufficient qty available for order (requested: {new.qty}, available: "
                f"{free_qty})"
            )
