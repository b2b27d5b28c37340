"""Turns the core's events into money: fills, cash, positions, reservations — inside the
batch's transaction.

Rows are locked in one global order (orders, then accounts, then positions, each sorted) and the
API never takes them in another order, so engines and API requests cannot deadlock. All
arithmetic is Decimal on 2-place NUMERICs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import bindparam, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.money import TICK, from_ticks
from trading_service.engine.accounting import (
    Balance,
    Holding,
    ReplaceSettled,
    check_invariants,
)
from trading_service.engine.core.model import (
    Accepted,
    Canceled,
    Event,
    Expired,
    Rejected,
    Replaced,
    Trade,
    Triggered,
)
from trading_service.order_status import TERMINAL
from trading_service.tables import HOUSE_ACCOUNT_ID, accounts, fills, orders, positions, trades

# What the ledger applies: the core's events and the runner's settlement of replaces.
Entry = Event | ReplaceSettled
ZERO = Decimal("0.00")


@dataclass
class BatchResult:
    """What the batch changed, for the notifications sent after commit."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)
    # Users' fills, so the WebSocket stream can push them without reading them back.
    fills: list[dict[str, Any]] = field(default_factory=list)


def _order_ids(events: Sequence[Entry]) -> set[uuid.UUID]:
    ids: set[uuid.UUID] = set()
    for e in events:
        if isinstance(e, Trade):
            ids.update(i for i in (e.buy_order_id, e.sell_order_id) if i is not None)
        else:
            ids.add(e.order_id)
    return ids


def _reserve_per_share(order: dict[str, Any]) -> Decimal:
    price = order["limit_price"] if order["limit_price"] is not None else order["protection_price"]
    return price if price is not None else ZERO


async def apply_events(
    conn: AsyncConnection, events: Sequence[Entry], now: datetime
) -> BatchResult:
    """Apply `events` to the rows they touch and write them; raises InvariantBroken (writing
    nothing) if the result would break a money invariant."""
    result = BatchResult()
    if not events:
        return result
    order_rows = {
        r.id: dict(r._mapping)
        for r in await conn.execute(
            select(orders)
            .where(orders.c.id.in_(_order_ids(events)))
            .with_for_update(key_share=True)
        )
    }
    # Who is touched: every order's account, the house when it traded, their symbols.
    account_ids: set[uuid.UUID] = {o["account_id"] for o in order_rows.values()}
    position_keys: set[tuple[uuid.UUID, str]] = {
        (o["account_id"], o["symbol"]) for o in order_rows.values()
    }
    for e in events:
        if isinstance(e, Trade) and (e.buy_order_id is None or e.sell_order_id is None):
            account_ids.add(HOUSE_ACCOUNT_ID)
            position_keys.add((HOUSE_ACCOUNT_ID, e.symbol))

    acct = {
        r.id: Balance(r.cash, r.reserved_cash)
        for r in await conn.execute(
            select(accounts.c.id, accounts.c.cash, accounts.c.reserved_cash)
            .where(accounts.c.id.in_(sorted(account_ids)))
            .order_by(accounts.c.id)
            .with_for_update(key_share=True)
        )
    }
    pos: dict[tuple[uuid.UUID, str], Holding] = {
        (r.account_id, r.symbol): Holding(
            r.qty, r.reserved_qty, r.cost_basis, r.realized_pnl, r.house, True
        )
        for r in await conn.execute(
            select(positions)
            .where(tuple_(positions.c.account_id, positions.c.symbol).in_(sorted(position_keys)))
            .order_by(positions.c.account_id, positions.c.symbol)
            .with_for_update(key_share=True)
        )
    }

    def position(account_id: uuid.UUID, symbol: str) -> Holding:
        key = (account_id, symbol)
        if key not in pos:
            pos[key] = Holding(0, 0, ZERO, ZERO, account_id == HOUSE_ACCOUNT_ID, False)
        return pos[key]

    def release(order: dict[str, Any]) -> None:
        """A terminal order gives back whatever it still reserves."""
        if order["reserved_cash"]:
            acct[order["account_id"]].reserved_cash -= order["reserved_cash"]
            order["reserved_cash"] = ZERO
        if order["reserved_qty"]:
            position(order["account_id"], order["symbol"]).reserved_qty -= order["reserved_qty"]
            order["reserved_qty"] = 0

    def finish(order: dict[str, Any], status: str, reason: str | None) -> None:
        if order["status"] in TERMINAL:
            return
        order["status"] = status
        if reason is not None:
            order["reject_reason"] = reason
        order["accepted_at"] = order["accepted_at"] or now  # processed: never re-published
        release(order)

    trade_ids = await _next_trade_ids(conn, sum(isinstance(e, Trade) for e in events))
    trade_rows: list[dict[str, Any]] = []
    fill_rows: list[dict[str, Any]] = []
    touched: set[uuid.UUID] = set()

    for e in events:
        if isinstance(e, Trade):
            trade_id = trade_ids.pop()
            price = from_ticks(e.price)
            notional = price * e.qty
            trade_rows.append(
                {
                    "id": trade_id,
                    "symbol": e.symbol,
                    "price": price,
                    "qty": e.qty,
                    "aggressor_side": e.aggressor.value,
                    "buy_order_id": e.buy_order_id,
                    "sell_order_id": e.sell_order_id,
                    "ts": now,
                }
            )
            for side, order_id in (("buy", e.buy_order_id), ("sell", e.sell_order_id)):
                if order_id is None:
                    _house_side(
                        acct[HOUSE_ACCOUNT_ID],
                        position(HOUSE_ACCOUNT_ID, e.symbol),
                        side,
                        e.qty,
                        notional,
                    )
                    continue
                order = order_rows[order_id]
                touched.add(order_id)
                _fill_order(
                    order,
                    acct[order["account_id"]],
                    position(order["account_id"], e.symbol),
                    e.qty,
                    price,
                )
                fill_rows.append(
                    {
                        "trade_id": trade_id,
                        "order_id": order_id,
                        "account_id": order["account_id"],
                        "symbol": e.symbol,
                        "side": side,
                        "price": price,
                        "qty": e.qty,
                        "liquidity": "taker" if side == e.aggressor.value else "maker",
                        "ts": now,
                    }
                )
                if order["filled_qty"] == order["qty"]:
                    finish(order, "filled", None)
            result.trades.append(
                {
                    "symbol": e.symbol,
                    "price": f"{price:.2f}",
                    "qty": e.qty,
                    "aggressor_side": e.aggressor.value,
                    "ts": now.isoformat(),
                }
            )
            continue
        found = order_rows.get(e.order_id)
        if found is None:
            continue  # an order the API never committed; nothing to account for
        order = found
        touched.add(e.order_id)
        if isinstance(e, Accepted):
            order["accepted_at"] = order["accepted_at"] or now
            order["priority"] = e.priority
        elif isinstance(e, Triggered):
            order["triggered_at"] = now
            order["priority"] = e.priority
        elif isinstance(e, Canceled):
            finish(order, "canceled", e.reason)
        elif isinstance(e, Expired):
            finish(order, "expired", "end of the trading day")
        elif isinstance(e, Rejected):
            finish(order, "rejected", e.reason)
        elif isinstance(e, Replaced):
            _replace(
                order, acct[order["account_id"]], position(order["account_id"], order["symbol"]), e
            )
        elif isinstance(e, ReplaceSettled) and e.seq is not None:
            order["replace_applied_seq"] = max(order["replace_applied_seq"], e.seq)
            order["replace_reject_reason"] = e.refused
            if e.refused is None:
                # Applied: the core's Replaced follows and reserves at the new collar.
                order["protection_price"] = e.protection
            elif order["status"] not in TERMINAL:
                # Refused: give back what the API reserved for it; the old terms stand.
                _reserve_exactly(
                    order,
                    acct[order["account_id"]],
                    position(order["account_id"], order["symbol"]),
                )

    check_invariants(
        HOUSE_ACCOUNT_ID, acct, pos, [order_rows[i] for i in touched]
    )  # before any write: a refused command leaves no trace in this transaction
    if trade_rows:
        await conn.execute(trades.insert(), trade_rows)
    if fill_rows:
        await conn.execute(fills.insert(), fill_rows)
    await _write_orders(conn, [order_rows[i] for i in sorted(touched)], now)
    await _write_accounts(conn, acct, now)
    await _write_positions(conn, pos, now)
    result.orders = [
        {
            "id": str(o["id"]),
            "account_id": str(o["account_id"]),
            "symbol": o["symbol"],
            "status": o["status"],
            "filled_qty": o["filled_qty"],
            # Replaces settled so far: what a PATCH waits for (orders/executions.py).
            "replace_seq": o["replace_applied_seq"],
            # for the engine's metrics: orders by type and side, order-to-fill latency
            "type": o["type"],
            "side": o["side"],
            "created_at": o["created_at"].isoformat(),
        }
        for o in (order_rows[i] for i in sorted(touched))
    ]
    result.fills = [
        {
            "order_id": str(f["order_id"]),
            "account_id": str(f["account_id"]),
            "symbol": f["symbol"],
            "side": f["side"],
            "price": f"{f['price']:.2f}",
            "qty": f["qty"],
            "ts": f["ts"].isoformat(),
        }
        for f in fill_rows
    ]
    return result


def _fill_order(
    order: dict[str, Any], account: Balance, held: Holding, qty: int, price: Decimal
) -> None:
    notional = price * qty
    order["filled_qty"] += qty
    order["filled_notional"] += notional
    order["status"] = "partially_filled"
    if order["side"] == "buy":
        # Fills never exceed the reserved per-share price, so buying power never goes negative.
        released = _reserve_per_share(order) * qty
        order["reserved_cash"] -= released
        account.reserved_cash -= released
        account.cash -= notional
        held.qty += qty
        held.cost_basis += notional
    else:
        order["reserved_qty"] -= qty
        held.reserved_qty -= qty
        # Closing the whole position takes all its cost, so no rounding residue is left behind.
        cost = (
            held.cost_basis
            if qty == held.qty
            else (held.cost_basis * qty / held.qty).quantize(TICK, rounding=ROUND_HALF_EVEN)
        )
        held.qty -= qty
        held.cost_basis -= cost
        held.realized_pnl += notional - cost
        account.cash += notional


def _house_side(account: Balance, held: Holding, side: str, qty: int, notional: Decimal) -> None:
    if side == "buy":
        account.cash -= notional
        held.qty += qty
    else:
        account.cash += notional
        held.qty -= qty


def _replace(order: dict[str, Any], account: Balance, held: Holding, e: Replaced) -> None:
    order["qty"] = e.qty
    order["limit_price"] = None if e.limit is None else from_ticks(e.limit)
    order["stop_price"] = None if e.stop is None else from_ticks(e.stop)
    order["priority"] = e.priority
    # The API reserved any increase before sending the replace; here the reservation is set to
    # exactly what the new qty and price need, giving back the rest.
    _reserve_exactly(order, account, held)


def _reserve_exactly(order: dict[str, Any], account: Balance, held: Holding) -> None:
    """Set an open order's reservation to what its current terms need for the rest."""
    remaining = order["qty"] - order["filled_qty"]
    if order["side"] == "buy":
        wanted = _reserve_per_share(order) * remaining
        account.reserved_cash += wanted - order["reserved_cash"]
        order["reserved_cash"] = wanted
    else:
        held.reserved_qty += remaining - order["reserved_qty"]
        order["reserved_qty"] = remaining


async def _next_trade_ids(conn: AsyncConnection, n: int) -> list[int]:
    if n == 0:
        return []
    rows = await conn.execute(
        text("SELECT nextval(pg_get_serial_sequence('trades', 'id')) FROM generate_series(1, :n)"),
        {"n": n},
    )
    return sorted((r[0] for r in rows), reverse=True)  # pop() hands them out ascending


async def _write_orders(conn: AsyncConnection, rows: list[dict[str, Any]], now: datetime) -> None:
    if not rows:
        return
    await conn.execute(
        update(orders)
        .where(orders.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            filled_qty=bindparam("b_filled_qty"),
            filled_notional=bindparam("b_filled_notional"),
            reserved_cash=bindparam("b_reserved_cash"),
            reserved_qty=bindparam("b_reserved_qty"),
            reject_reason=bindparam("b_reject_reason"),
            priority=bindparam("b_priority"),
            accepted_at=bindparam("b_accepted_at"),
            triggered_at=bindparam("b_triggered_at"),
            qty=bindparam("b_qty"),
            limit_price=bindparam("b_limit_price"),
            stop_price=bindparam("b_stop_price"),
            protection_price=bindparam("b_protection_price"),
            replace_applied_seq=bindparam("b_replace_applied_seq"),
            replace_reject_reason=bindparam("b_replace_reject_reason"),
            updated_at=now,
        ),
        [
            {
                f"b_{k}": o[k]
                for k in (
                    "id",
                    "status",
                    "filled_qty",
                    "filled_notional",
                    "reserved_cash",
                    "reserved_qty",
                    "reject_reason",
                    "priority",
                    "accepted_at",
                    "triggered_at",
                    "qty",
                    "limit_price",
                    "stop_price",
                    "protection_price",
                    "replace_applied_seq",
                    "replace_reject_reason",
                )
            }
            for o in rows
        ],
    )


async def _write_accounts(
    conn: AsyncConnection, acct: dict[uuid.UUID, Balance], now: datetime
) -> None:
    if not acct:
        return
    await conn.execute(
        update(accounts)
        .where(accounts.c.id == bindparam("b_id"))
        .values(cash=bindparam("b_cash"), reserved_cash=bindparam("b_reserved"), updated_at=now),
        [{"b_id": k, "b_cash": a.cash, "b_reserved": a.reserved_cash} for k, a in acct.items()],
    )


async def _write_positions(
    conn: AsyncConnection, pos: dict[tuple[uuid.UUID, str], Holding], now: datetime
) -> None:
    if not pos:
        return
    stmt = pg_insert(positions)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[positions.c.account_id, positions.c.symbol],
            set_={
                "qty": stmt.excluded.qty,
                "reserved_qty": stmt.excluded.reserved_qty,
                "cost_basis": stmt.excluded.cost_basis,
                "realized_pnl": stmt.excluded.realized_pnl,
                "updated_at": func.now(),
            },
        ),
        [
            {
                "account_id": k[0],
                "symbol": k[1],
                "house": p.house,
                "qty": p.qty,
                "reserved_qty": p.reserved_qty,
                "cost_basis": p.cost_basis,
                "realized_pnl": p.realized_pnl,
                "updated_at": now,
            }
            for k, p in sorted(pos.items())
        ],
    )
