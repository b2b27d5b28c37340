"""Turns the core's events into money: fills, cash, positions, reservations. Pure: no I/O.

The repository loads (and locks) the typed records a batch touches, `settle` applies the batch's
events to them and checks the money invariants before anything is written: a command whose
effects would leave a user's cash, reservation or holding negative (or an order over-filled, or a
finished order still reserving) is refused here, with a reason, instead of by a CHECK constraint
that would roll back the whole batch. All arithmetic is Decimal on 2-place amounts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from shared.money import TICK, from_ticks
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
from trading_service.order_status import TERMINAL, OrderStatus

ZERO = Decimal("0.00")


@dataclass(slots=True)
class ReplaceSettled:
    """The engine settled the order's pending replace number `seq`: applied (the core's
    `Replaced` follows, priced with `protection`) or refused for `refused`. `seq` None: nothing
    was pending (a copy of a settled replace); the order is only reported again."""

    order_id: uuid.UUID
    seq: int | None
    protection: Decimal | None = None
    refused: str | None = None


# What the accounting applies: the core's events and the runner's settlement of replaces.
Entry = Event | ReplaceSettled


class InvariantBroken(Exception):
    """Applying the events would break a money invariant; nothing was written."""

    def __init__(self, reason: str, order_ids: set[uuid.UUID]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.order_ids = order_ids  # the touched orders of the accounts that would break


@dataclass(slots=True)
class Balance:
    cash: Decimal
    reserved_cash: Decimal


@dataclass(slots=True)
class Holding:
    qty: int
    reserved_qty: int
    cost_basis: Decimal
    realized_pnl: Decimal
    house: bool
    exists: bool


@dataclass(slots=True)
class OrderState:
    """An order's row as the engine reads and changes it."""

    id: uuid.UUID
    account_id: uuid.UUID
    symbol: str
    side: str
    type: str
    status: OrderStatus
    qty: int
    filled_qty: int
    filled_notional: Decimal
    reserved_cash: Decimal
    reserved_qty: int
    limit_price: Decimal | None
    stop_price: Decimal | None
    protection_price: Decimal | None
    reject_reason: str | None
    priority: int | None
    accepted_at: datetime | None
    triggered_at: datetime | None
    replace_applied_seq: int
    replace_reject_reason: str | None
    created_at: datetime


# Read-only by convention, not `frozen` (as the core's events): a frozen dataclass's __init__
# sets every field through object.__setattr__, and a batch builds one per trade and fill.
@dataclass(slots=True)
class TradeRecord:
    seq: int  # 1, 2, ... in the batch's event order: the database numbers them in this order
    symbol: str
    price: Decimal
    qty: int
    aggressor_side: str
    buy_order_id: uuid.UUID | None  # None: the house bought
    sell_order_id: uuid.UUID | None  # None: the house sold
    ts: datetime


@dataclass(slots=True)
class FillRecord:
    """One side of a trade for a user's order."""

    trade_seq: int  # the TradeRecord's seq
    order_id: uuid.UUID
    account_id: uuid.UUID
    symbol: str
    side: str
    price: Decimal
    qty: int
    liquidity: str  # maker | taker
    ts: datetime


PositionKey = tuple[uuid.UUID, str]


@dataclass
class Settlement:
    """A batch's effects, ready to write: every record it loaded, changed or created."""

    orders: list[OrderState] = field(default_factory=list)  # touched, sorted by id
    balances: dict[uuid.UUID, Balance] = field(default_factory=dict)
    holdings: dict[PositionKey, Holding] = field(default_factory=dict)
    trades: list[TradeRecord] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)


def order_ids(events: Iterable[Entry]) -> set[uuid.UUID]:
    """The orders whose rows `events` change (the house's side of a trade has none)."""
    ids: set[uuid.UUID] = set()
    for e in events:
        if isinstance(e, Trade):
            ids.update(i for i in (e.buy_order_id, e.sell_order_id) if i is not None)
        else:
            ids.add(e.order_id)
    return ids


def house_symbols(events: Iterable[Entry]) -> set[str]:
    """The symbols in which the house traded (a trade with no order on one side)."""
    return {
        e.symbol
        for e in events
        if isinstance(e, Trade) and (e.buy_order_id is None or e.sell_order_id is None)
    }


def settle(
    house_id: uuid.UUID,
    events: Sequence[Entry],
    orders: Mapping[uuid.UUID, OrderState],
    balances: dict[uuid.UUID, Balance],
    holdings: dict[PositionKey, Holding],
    now: datetime,
) -> Settlement:
    """Apply `events` to the loaded records (changing them) and return what to write; raises
    InvariantBroken if the result would break a money invariant."""
    ledger = _Ledger(house_id, orders, balances, holdings, now)
    for e in events:
        ledger.apply(e)
    touched = [orders[i] for i in sorted(ledger.touched)]
    check_invariants(house_id, balances, holdings, touched)
    return Settlement(touched, balances, holdings, ledger.trades, ledger.fills)


class _Ledger:
    """The records of one batch while its events are applied, in event order."""

    def __init__(
        self,
        house_id: uuid.UUID,
        orders: Mapping[uuid.UUID, OrderState],
        balances: dict[uuid.UUID, Balance],
        holdings: dict[PositionKey, Holding],
        now: datetime,
    ) -> None:
        self.house_id = house_id
        self.orders = orders
        self.balances = balances
        self.holdings = holdings
        self.now = now
        self.touched: set[uuid.UUID] = set()
        self.trades: list[TradeRecord] = []
        self.fills: list[FillRecord] = []

    def holding(self, account_id: uuid.UUID, symbol: str) -> Holding:
        key = (account_id, symbol)
        if key not in self.holdings:
            self.holdings[key] = Holding(0, 0, ZERO, ZERO, account_id == self.house_id, False)
        return self.holdings[key]

    def apply(self, e: Entry) -> None:
        if isinstance(e, Trade):
            self.trade(e)
            return
        order = self.orders.get(e.order_id)
        if order is None:
            return  # an order the API never committed; nothing to account for
        self.touched.add(order.id)
        if isinstance(e, Accepted):
            order.accepted_at = order.accepted_at or self.now
            order.priority = e.priority
        elif isinstance(e, Triggered):
            order.triggered_at = self.now
            order.priority = e.priority
        elif isinstance(e, Canceled):
            self.finish(order, OrderStatus.CANCELED, e.reason)
        elif isinstance(e, Expired):
            self.finish(order, OrderStatus.EXPIRED, "end of the trading day")
        elif isinstance(e, Rejected):
            self.finish(order, OrderStatus.REJECTED, e.reason)
        elif isinstance(e, Replaced):
            self.replace(order, e)
        elif isinstance(e, ReplaceSettled) and e.seq is not None:
            self.settle_replace(order, e)

    def trade(self, e: Trade) -> None:
        trade_seq = len(self.trades) + 1
        price = from_ticks(e.price)
        aggressor = e.aggressor.value
        self.trades.append(
            TradeRecord(
                trade_seq, e.symbol, price, e.qty, aggressor, e.buy_order_id, e.sell_order_id,
                self.now,
            )
        )  # fmt: skip
        for side, order_id in (("buy", e.buy_order_id), ("sell", e.sell_order_id)):
            if order_id is None:
                house = self.balances[self.house_id]
                _house_side(house, self.holding(self.house_id, e.symbol), side, e.qty, price)
                continue
            order = self.orders[order_id]
            self.touched.add(order_id)
            account = self.balances[order.account_id]
            _fill_order(order, account, self.holding(order.account_id, e.symbol), e.qty, price)
            liquidity = "taker" if side == aggressor else "maker"
            self.fills.append(
                FillRecord(
                    trade_seq, order_id, order.account_id, e.symbol, side, price, e.qty, liquidity,
                    self.now,
                )
            )  # fmt: skip
            if order.filled_qty == order.qty:
                self.finish(order, OrderStatus.FILLED, None)

    def finish(self, order: OrderState, status: OrderStatus, reason: str | None) -> None:
        if order.status in TERMINAL:
            return
        order.status = status
        if reason is not None:
            order.reject_reason = reason
        order.accepted_at = order.accepted_at or self.now  # processed: never re-published
        self.release(order)

    def release(self, order: OrderState) -> None:
        """A terminal order gives back whatever it still reserves."""
        if order.reserved_cash:
            self.balances[order.account_id].reserved_cash -= order.reserved_cash
            order.reserved_cash = ZERO
        if order.reserved_qty:
            self.holding(order.account_id, order.symbol).reserved_qty -= order.reserved_qty
            order.reserved_qty = 0

    def replace(self, order: OrderState, e: Replaced) -> None:
        order.qty = e.qty
        order.limit_price = None if e.limit is None else from_ticks(e.limit)
        order.stop_price = None if e.stop is None else from_ticks(e.stop)
        order.priority = e.priority
        # The API reserved any increase before sending the replace; here the reservation is set
        # to exactly what the new qty and price need, giving back the rest.
        self.reserve_exactly(order)

    def settle_replace(self, order: OrderState, e: ReplaceSettled) -> None:
        assert e.seq is not None
        order.replace_applied_seq = max(order.replace_applied_seq, e.seq)
        order.replace_reject_reason = e.refused
        if e.refused is None:
            # Applied: the core's Replaced follows and reserves at the new collar.
            order.protection_price = e.protection
        elif order.status not in TERMINAL:
            # Refused: give back what the API reserved for it; the old terms stand.
            self.reserve_exactly(order)

    def reserve_exactly(self, order: OrderState) -> None:
        """Set an open order's reservation to what its current terms need for the rest."""
        remaining = order.qty - order.filled_qty
        if order.side == "buy":
            wanted = _reserve_per_share(order) * remaining
            self.balances[order.account_id].reserved_cash += wanted - order.reserved_cash
            order.reserved_cash = wanted
        else:
            held = self.holding(order.account_id, order.symbol)
            held.reserved_qty += remaining - order.reserved_qty
            order.reserved_qty = remaining


def _reserve_per_share(order: OrderState) -> Decimal:
    price = order.limit_price if order.limit_price is not None else order.protection_price
    return price if price is not None else ZERO


def _fill_order(
    order: OrderState, account: Balance, held: Holding, qty: int, price: Decimal
) -> None:
    notional = price * qty
    order.filled_qty += qty
    order.filled_notional += notional
    order.status = OrderStatus.PARTIALLY_FILLED
    if order.side == "buy":
        # Fills never exceed the reserved per-share price, so buying power never goes negative.
        released = _reserve_per_share(order) * qty
        order.reserved_cash -= released
        account.reserved_cash -= released
        account.cash -= notional
        held.qty += qty
        held.cost_basis += notional
    else:
        order.reserved_qty -= qty
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


def _house_side(account: Balance, held: Holding, side: str, qty: int, price: Decimal) -> None:
    notional = price * qty
    if side == "buy":
        account.cash -= notional
        held.qty += qty
    else:
        account.cash += notional
        held.qty -= qty


def check_invariants(
    house_id: uuid.UUID,
    balances: Mapping[uuid.UUID, Balance],
    holdings: Mapping[PositionKey, Holding],
    orders: Iterable[OrderState],
) -> None:
    """Raise InvariantBroken if the state after a batch breaks invariant 1 or 3 for anyone."""
    problems: list[str] = []
    accounts: set[uuid.UUID] = set()
    positions: set[PositionKey] = set()
    for account_id, b in balances.items():
        if account_id != house_id and (b.reserved_cash < 0 or b.cash < b.reserved_cash):
            problems.append(
                f"account {account_id} would hold cash {b.cash} with {b.reserved_cash} reserved"
            )
            accounts.add(account_id)
    for key, h in holdings.items():
        if not h.house and (h.reserved_qty < 0 or h.qty < h.reserved_qty):
            problems.append(f"position {key[1]} would hold {h.qty} with {h.reserved_qty} reserved")
            positions.add(key)
    offending: set[uuid.UUID] = set()
    for o in orders:
        blamed = o.account_id in accounts or (o.account_id, o.symbol) in positions
        if (
            blamed
            or o.reserved_cash < 0
            or o.reserved_qty < 0
            or not 0 <= o.filled_qty <= o.qty
            or (o.status in TERMINAL and (o.reserved_cash or o.reserved_qty))
        ):
            offending.add(o.id)
            if not blamed:
                problems.append(
                    f"order {o.id} would be {o.status} reserving "
                    f"{o.reserved_cash} / {o.reserved_qty}"
                )
    if problems:
        raise InvariantBroken("; ".join(problems[:3]), offending)
