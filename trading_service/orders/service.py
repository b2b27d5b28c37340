"""Order entry: check buying power, reserve cash or shares, store the order — one transaction —
then hand it to the engine (and maybe wait for it).

`place_order` runs in the caller's transaction; `submit` is the whole path of POST /orders and
/trade/*: a personal account's order is committed with the orders that arrive with it
(trading_service/orders/group_commit.py), a league account's in its own transaction under the
league's rules; the order is handed to the engine only after its commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import pg_connection
from shared.errors import Conflict, NotFound, ServiceUnavailable, UnprocessableEntity
from shared.money import from_ticks, round_money, ticks_up, to_ticks
from trading_service.engine.core.model import OrderType, Side, TimeInForce
from trading_service.leagues import service as league_rules
from trading_service.messages import NewOrder, OrderMessage, PriceTick, ReplaceRequest
from trading_service.monitoring import ORDERS_SUBMITTED
from trading_service.order_status import OrderStatus
from trading_service.orders import repository
from trading_service.orders.executions import Outcome, Reported, processed
from trading_service.orders.schemas import (
    FillOut,
    OrderOut,
    OrderRequest,
    ReplaceOrderRequest,
    avg_price,
)
from trading_service.prices.cache import PriceRead, age_seconds
from trading_service.stored_orders import to_core_order

if TYPE_CHECKING:
    from trading_service.deps import Resources


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


class ReplaceRefused(Conflict):
    error = "replace_refused"


class ClientOrderIdTaken(Exception):
    """A concurrent request with the same client_order_id stored its order first; the caller
    rolls back (giving back this request's reservation) and answers with that order."""


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
    return protection_price(last, request.stop_price, collar_bps)


def protection_price(last: PriceTick, stop: Decimal | None, collar_bps: int) -> Decimal:
    """The collar a market (or stop) buy reserves at and never pays more than: above both the
    last price and its stop."""
    anchor = max(last.price, stop or last.price)
    return from_ticks(ticks_up(anchor * (10_000 + collar_bps) / 10_000))


async def place_order(
    conn: AsyncConnection,
    account_id: uuid.UUID,
    request: OrderRequest,
    last: PriceTick,
    collar_bps: int,
) -> tuple[Row[Any], bool]:
    """Reserve and store the order; returns (order row, created). Idempotent on client_order_id.

    A league account's window and rules are checked first, in this same transaction."""
    await league_rules.check_order_entry(
        conn,
        account_id,
        request.symbol,
        request.qty,
        request.limit_price or request.stop_price or last.price,
    )
    client_order_id = request.client_order_id or str(uuid.uuid4())
    if request.client_order_id is not None:
        existing = await repository.get_order_by_client_id(conn, account_id, client_order_id)
        if existing is not None:
            return existing, False

    held = reservation(request, last, collar_bps)
    if request.side is Side.BUY:
        if not await repository.reserve_cash(conn, account_id, held.cash):
            raise insufficient_funds(request, held, await repository.get_balance(conn, account_id))
    elif not await repository.reserve_shares(conn, account_id, request.symbol, request.qty):
        holding = await repository.get_holding(conn, account_id, request.symbol)
        raise insufficient_shares(request, holding)

    row = await repository.insert_order(
        conn, new_order_values(account_id, request, client_order_id, held)
    )
    if row is None:
        raise ClientOrderIdTaken(client_order_id)
    return row, True


@dataclass(frozen=True, slots=True)
class Reservation:
    """What an order holds while it is open: cash (a buy) or shares (a sell)."""

    cash: Decimal
    qty: int
    per_share: Decimal  # a buy's reservation price (0 for a sell)
    protection: Decimal | None  # a market or stop buy's collar


def reservation(request: OrderRequest, last: PriceTick, collar_bps: int) -> Reservation:
    if request.side is Side.SELL:
        return Reservation(Decimal("0.00"), request.qty, Decimal("0"), None)
    per_share = reservation_price(request, last, collar_bps)
    protection = per_share if request.limit_price is None else None
    return Reservation(round_money(per_share * request.qty), 0, per_share, protection)


def new_order_values(
    account_id: uuid.UUID, request: OrderRequest, client_order_id: str, held: Reservation
) -> dict[str, Any]:
    """The new order's row (status `new`), holding `held`."""
    return {
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
        "protection_price": held.protection,
        "status": "new",
        "reserved_cash": held.cash,
        "reserved_qty": held.qty,
    }


def insufficient_funds(
    request: OrderRequest, held: Reservation, balance: repository.Balance
) -> InsufficientFunds:
    return InsufficientFunds(
        f"buying {request.qty} {request.symbol} needs up to {held.cash:.2f} "
        f"(at {held.per_share:.2f} a share); buying power is "
        f"{balance.cash - balance.reserved_cash:.2f}"
    )


def insufficient_shares(request: OrderRequest, holding: repository.Holding) -> InsufficientShares:
    return InsufficientShares(
        f"selling {request.qty} {request.symbol} but only "
        f"{holding.qty - holding.reserved_qty} are available ({holding.qty} held, "
        f"{holding.reserved_qty} reserved by open orders)"
    )


async def submit(
    resources: Resources,
    account_id: uuid.UUID,
    request: OrderRequest,
    wait: bool,
    personal: bool = False,
    price: PriceRead | None = None,
) -> tuple[OrderOut, bool]:
    """Reserve and store, hand to the engine, then (maybe) wait for it; returns (order, created).
    A repeated client_order_id creates nothing and answers the existing order.

    `personal`: the account is known to be a personal one (no league rules), so its order can
    be committed with others (group commit). `price`: the symbol's price already read from
    Redis for this request (with its rate limit); else it is read here."""
    settings = resources.settings
    # From Redis, not the process's memory of it: with Redis away an order is 503 at once
    # (docs/guarantees.md, cut Redis), not priced at what this process last saw.
    tick = price.tick if price is not None else await resources.prices.get(request.symbol)
    if tick is None:
        async with resources.db.connect() as conn:
            if await repository.is_listed(conn, request.symbol):
                # Redis came back empty and the price consumer is still refilling it.
                raise NoPrice(f"the price of {request.symbol} is reloading; try again")
    last = check_price(request.symbol, tick, settings.max_price_age_s)
    if personal:
        row, created = await resources.order_groups.place(
            account_id, request, last, settings.market_collar_bps
        )
    else:
        row, created = await _place_alone(resources, account_id, request, last)
    if not created:
        async with resources.db.connect() as conn:
            return (await render_orders(conn, [row]))[0], False
    ORDERS_SUBMITTED.labels(row.type, row.side).inc()
    message = NewOrder(to_core_order(row))
    if not wait:
        # Nothing can have happened to it yet that the caller is waiting to see.
        await resources.handoff.send(row.symbol, message)
        return order_out(row), True
    return await answer_when_processed(resources, account_id, row, message), True


async def answer_when_processed(
    resources: Resources, account_id: uuid.UUID, row: Any, message: NewOrder
) -> OrderOut:
    """Hand a new order to the engine, wait (bounded) until the engine has processed it, and
    answer it as it then stands: from the engine's message when that tells the whole answer
    (`from_report`), else (or past the timeout) read from PostgreSQL."""
    (reported,) = await hand_off_and_wait(
        resources, [(row.symbol, message)], [(row.id, processed)], True
    )
    if reported is not None:
        answer = from_report(row, reported)
        if answer is not None:
            return answer
    return (await as_they_stand(resources, account_id, [row.id]))[0]


# Only PostgreSQL has an order's reject_reason: an order that ended so is read from there.
_WITH_REASON = frozenset({OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


def from_report(row: Any, reported: Reported) -> OrderOut | None:
    """The new order `row` as the engine's message left it: what reading it back from
    PostgreSQL right after that batch's commit gives, or None when the message does not tell
    all of it, which is when:

    - it ended canceled, rejected or expired (its reject_reason is not in the message);
    - its fills in this message are not all of its fills (filled_qty counts more: a message
      before this one was missed), or it has none (its updated_at is then not in the message;
      with a fill it is the fill's time, as the engine writes one time per batch);
    - it has fills of different prices or sizes in this message (PostgreSQL lists fills by id,
      an order the message does not carry);
    - a replace was applied to it (its terms are no longer those of `row`).
    """
    report, fills = reported
    if report.status in _WITH_REASON or not fills or report.replace_seq:
        return None
    first = fills[0]
    filled = 0
    for f in fills:
        if f.price != first.price or f.qty != first.qty:
            return None
        filled += f.qty
    if filled != report.filled_qty:
        return None
    return _order_out(
        row,
        report.status.value,
        filled,
        # The engine's filled_notional: the sum of its fills' price x qty (cents, exact).
        first.price * filled,
        None,
        first.ts,
        fills,
    )


async def _place_alone(
    resources: Resources, account_id: uuid.UUID, request: OrderRequest, last: PriceTick
) -> tuple[Row[Any], bool]:
    """One order in its own transaction (a league account's: its rules take the league lock)."""
    try:
        async with resources.db.begin() as conn:
            return await place_order(
                conn, account_id, request, last, resources.settings.market_collar_bps
            )
    except ClientOrderIdTaken:
        # A concurrent retry stored it first; this attempt's reservation was rolled back.
        async with resources.db.connect() as conn:
            found = await repository.get_order_by_client_id(
                conn, account_id, request.client_order_id or ""
            )
        if found is None:
            raise OrderNotFound() from None  # stored, then gone: cannot happen
        return found, False


async def hand_off_and_wait(
    resources: Resources,
    handoffs: list[tuple[str, OrderMessage]],
    waits: list[tuple[uuid.UUID, Outcome]],
    wait: bool,
) -> list[Reported | None]:
    """Send to the engine after the commit; optionally wait (bounded) until it has done what
    each order waits for. Returns, per wait, the engine's report that resolved it, or None
    (not waited, or past the timeout: the orders are then answered as they stand)."""
    async with contextlib.AsyncExitStack() as stack:
        done = [
            await stack.enter_async_context(resources.executions.expect(order_id, outcome))
            for order_id, outcome in waits
        ]
        for symbol, message in handoffs:
            await resources.handoff.send(symbol, message)
        if wait and done:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(resources.settings.order_wait_s):
                    for d in done:  # one bound for all of them
                        await d
        return [d.result() if d.done() and not d.cancelled() else None for d in done]


# Connections of the asyncpg pool for the order path's reads (Resources.pg).
ORDER_READ_CONNECTIONS = 6


async def as_they_stand(
    resources: Resources, account_id: uuid.UUID, order_ids: list[uuid.UUID]
) -> list[OrderOut]:
    """The orders with their fills, read now (on asyncpg: the answer of every waiting order)."""
    async with pg_connection(resources.pg) as pg:
        found = await repository.orders_with_fills(pg, account_id, order_ids)
    return [order_out(row, fills) for row, fills in found]


def order_out(r: Row[Any], fills: Sequence[Any] = ()) -> OrderOut:
    return _order_out(
        r, r.status, r.filled_qty, r.filled_notional, r.reject_reason, r.updated_at, fills
    )


def _order_out(
    r: Any,
    status: str,
    filled_qty: int,
    filled_notional: Decimal,
    reject_reason: str | None,
    updated_at: datetime,
    fills: Sequence[Any],
) -> OrderOut:
    """The order's terms from its row `r`, its state as given."""
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
        status=status,
        filled_qty=filled_qty,
        filled_avg_price=avg_price(filled_notional, filled_qty),
        reject_reason=reject_reason,
        created_at=r.created_at,
        updated_at=updated_at,
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


@dataclass(frozen=True, slots=True)
class Terms:
    """What a replace can change: an order's qty and prices (protection: a buy's collar)."""

    qty: int
    limit_price: Decimal | None
    stop_price: Decimal | None
    protection_price: Decimal | None


def latest_terms(order: Row[Any]) -> Terms:
    """The terms of the latest replace the API accepted, applied by the engine or not yet."""
    if order.replace_seq > order.replace_applied_seq:
        return Terms(
            order.pending_qty,
            order.pending_limit_price,
            order.pending_stop_price,
            order.pending_protection_price,
        )
    return Terms(order.qty, order.limit_price, order.stop_price, order.protection_price)


async def request_replace(
    conn: AsyncConnection,
    account_id: uuid.UUID,
    order_id: uuid.UUID,
    change: ReplaceOrderRequest,
    price_of: Callable[[str], Awaitable[PriceTick | None]],
    collar_bps: int,
) -> tuple[Row[Any], ReplaceRequest]:
    """Validate a replace against the order's latest accepted terms and reserve any increase
    now, under the order's row lock; the engine applies it.

    The lock serialises every change of one order: a second PATCH sent at the same moment builds
    on the first one's terms and reservation, so the engine is never handed two changes that
    were each checked alone. Returns the order row with `replace_seq` set to this replace's.
    """
    order = await repository.lock_order(conn, account_id, order_id)
    if order is None:
        raise OrderNotFound()
    plan = await plan_replace(order, change, price_of, collar_bps)
    if plan.extra_cash > 0:
        if not await repository.reserve_cash(conn, account_id, plan.extra_cash):
            balance = await repository.get_balance(conn, account_id)
            raise replace_short_of_funds(plan, balance)
        await repository.add_order_reservation(conn, order.id, plan.extra_cash, 0)
    elif plan.extra_qty > 0:
        if not await repository.reserve_shares(conn, account_id, order.symbol, plan.extra_qty):
            holding = await repository.get_holding(conn, account_id, order.symbol)
            raise replace_short_of_shares(plan, order.symbol, holding)
        await repository.add_order_reservation(conn, order.id, Decimal("0"), plan.extra_qty)
    row = await repository.record_replace(conn, order.id, pending_values(plan.terms))
    return row, replace_message(row)


@dataclass(frozen=True, slots=True)
class ReplacePlan:
    """A replace checked against its order: the new terms and what it must reserve first."""

    terms: Terms
    extra_cash: Decimal  # > 0 only for a buy whose change needs more cash
    extra_qty: int  # > 0 only for a sell whose change needs more shares


async def plan_replace(
    order: Any,
    change: ReplaceOrderRequest,
    price_of: Callable[[str], Awaitable[PriceTick | None]],
    collar_bps: int,
) -> ReplacePlan:
    """Check a replace against the locked order's latest accepted terms (no SQL): raises what
    it is refused with. Reductions are given back by the engine when it applies the change, not
    here: until then the order may still fill on its old terms."""
    if order.status not in repository.OPEN_STATUSES or order.cancel_requested_at is not None:
        state = "cancel-requested" if order.status in repository.OPEN_STATUSES else order.status
        raise OrderNotOpen(f"order is {state}; only open orders can be replaced")
    kind = OrderType(order.type)
    if change.limit_price is not None and kind not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        raise UnprocessableEntity(f"a {kind} order has no limit_price to change")
    if change.stop_price is not None:
        if kind not in (OrderType.STOP, OrderType.STOP_LIMIT):
            raise UnprocessableEntity(f"a {kind} order has no stop_price to change")
        if order.triggered_at is not None:
            raise OrderNotOpen("the stop has already triggered; its stop_price is final")
    current = latest_terms(order)
    terms = Terms(
        change.qty if change.qty is not None else current.qty,
        change.limit_price if change.limit_price is not None else current.limit_price,
        change.stop_price if change.stop_price is not None else current.stop_price,
        current.protection_price,
    )
    if terms.qty <= order.filled_qty:
        raise UnprocessableEntity(f"qty must be above the {order.filled_qty} shares already filled")
    remaining = terms.qty - order.filled_qty
    if order.side != Side.BUY.value:
        return ReplacePlan(terms, Decimal("0"), max(remaining - order.reserved_qty, 0))
    if kind is OrderType.STOP and terms.stop_price != current.stop_price:
        # A buy stop reserves at a collar above its stop: a new stop needs a new collar.
        last = await price_of(order.symbol)
        if last is None:
            raise NoPrice(f"the price of {order.symbol} is reloading; try again")
        terms = dataclasses.replace(
            terms, protection_price=protection_price(last, terms.stop_price, collar_bps)
        )
    per_share = terms.limit_price or terms.protection_price or Decimal("0")
    extra = round_money(per_share * remaining) - order.reserved_cash
    return ReplacePlan(terms, max(extra, Decimal("0")), 0)


def pending_values(terms: Terms) -> dict[str, Any]:
    return {
        "pending_qty": terms.qty,
        "pending_limit_price": terms.limit_price,
        "pending_stop_price": terms.stop_price,
        "pending_protection_price": terms.protection_price,
    }


def replace_short_of_funds(plan: ReplacePlan, balance: repository.Balance) -> InsufficientFunds:
    return InsufficientFunds(
        f"the change needs {plan.extra_cash:.2f} more; buying power is "
        f"{balance.cash - balance.reserved_cash:.2f}"
    )


def replace_short_of_shares(
    plan: ReplacePlan, symbol: str, holding: repository.Holding
) -> InsufficientShares:
    return InsufficientShares(
        f"the change needs {plan.extra_qty} more {symbol}; "
        f"{holding.qty - holding.reserved_qty} are available"
    )


def replace_message(order: Row[Any]) -> ReplaceRequest:
    """Tells the engine to apply the order's pending terms (which it reads from Postgres)."""
    terms = latest_terms(order)
    return ReplaceRequest(
        order.id,
        order.account_id,
        terms.qty,
        None if terms.limit_price is None else to_ticks(terms.limit_price),
        None if terms.stop_price is None else to_ticks(terms.stop_price),
    )
