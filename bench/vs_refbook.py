"""The matching core next to the naive reference book (`../shared/bench/refbook.py`), replaying
the same `stream.py` messages in one process.

A message is `(op, id, side, price_ticks, qty)`: a limit ('L'), a market order ('M',
immediate-or-cancel at any price) or a cancel ('C'). The core gets each two ways:
- by plain fields (`limit`, `market`, `withdraw`; ids are ints, every order its own account, as
  the stream has none): it delivers each fill as a tuple on its `fills` tape, as RefBook does;
- by its event commands: an `Order` to `submit` or an id to `cancel`, the events as the list each
  call returns;
- as the engine applies them (trading_service/engine/commands.py): the messages decoded
  (`NewOrder` / `CancelRequest`) and the order rows the repository would load (`StoredOrder`,
  UUID ids, Decimal prices), in batches, through `commands.match`, out as the entries
  accounting.settle consumes (events with `Trade`s).
Markets are real market orders: the symbol has a reference price and a house with no size, so
they are valid and trade with users only, like in RefBook.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from shared.money import from_ticks
from trading_service.engine import commands
from trading_service.engine.accounting import Entry
from trading_service.engine.core.matching import MatchingEngine
from trading_service.engine.core.model import Event, Order, OrderType, Side, TimeInForce, Trade
from trading_service.engine.records import StoredOrder
from trading_service.engine.scopes import ScopedCores
from trading_service.messages import CancelRequest, NewOrder, PriceTick
from trading_service.stored_orders import to_core_order

SYMBOL = "REF"
Message = tuple[str, int, str, int, int]
_SIDES = {"B": Side.BUY, "S": Side.SELL}
_LIMIT, _MARKET = OrderType.LIMIT, OrderType.MARKET
_GTC, _IOC = TimeInForce.GTC, TimeInForce.IOC


@dataclass(frozen=True)
class Outcome:
    """What a replay left behind, comparable between the two books."""

    # (taker id, maker id, price, qty) in order; a house fill (maker None) would differ
    trades: list[tuple[int, int | None, int, int]]
    traded_qty: int
    resting_buy: int
    resting_sell: int


def new_engine() -> MatchingEngine[int]:
    engine: MatchingEngine[int] = MatchingEngine(house_size=0)
    engine.set_reference(SYMBOL, 10_000)  # a house with no size: markets are valid, never fill
    return engine


def order_of(message: Message) -> Order[int]:
    op, oid, side, price, qty = message
    if op == "L":
        return Order(oid, oid, SYMBOL, _SIDES[side], _LIMIT, _GTC, qty, price)
    return Order(oid, oid, SYMBOL, _SIDES[side], _MARKET, _IOC, qty)


Clock = Callable[[], float]


def replay_refbook(
    refbook: ModuleType, messages: Sequence[Message], clock: Clock = time.perf_counter
) -> tuple[float, Any]:
    """Seconds for the replay loop alone, and the book."""
    book = refbook.RefBook()
    buy, sell = refbook.BUY, refbook.SELL
    limit, market, cancel = book.limit, book.market, book.cancel
    start = clock()
    for op, oid, side, price, qty in messages:
        if op == "L":
            limit(oid, buy if side == "B" else sell, price, qty)
        elif op == "M":
            market(oid, buy if side == "B" else sell, qty)
        else:
            cancel(oid)
    return clock() - start, book


def replay_core(
    messages: Sequence[Message], clock: Clock = time.perf_counter
) -> tuple[float, MatchingEngine[int]]:
    """Seconds for the replay loop alone through the plain-fields commands; the engine, its
    fills on its tape."""
    engine = new_engine()
    limit, market, withdraw = engine.limit, engine.market, engine.withdraw
    sides = _SIDES
    start = clock()
    for op, oid, side, price, qty in messages:
        if op == "L":
            limit(oid, oid, SYMBOL, sides[side], price, qty)
        elif op == "M":
            market(oid, oid, SYMBOL, sides[side], qty, None)
        else:
            withdraw(oid)
    return clock() - start, engine


def replay_core_given_orders(
    messages: Sequence[Message], clock: Clock = time.perf_counter
) -> tuple[float, MatchingEngine[int], list[list[Event[int]]]]:
    """The same with every `Order` built before the clock starts (in the service the message
    decoder builds them), so only the core's own work is timed."""
    engine = new_engine()
    calls: list[tuple[Callable[[Any], list[Event[int]]], object]] = [
        (engine.cancel, m[1]) if m[0] == "C" else (engine.submit, order_of(m)) for m in messages
    ]
    delivered: list[list[Event[int]]] = []
    deliver = delivered.append
    start = clock()
    for call, argument in calls:
        deliver(call(argument))
    return clock() - start, engine, delivered


def replay_commands(
    messages: Sequence[Message], clock: Clock = time.perf_counter, batch: int = 500
) -> tuple[float, MatchingEngine[Any], list[Entry]]:
    """The same as the engine's batches: decoded messages and their stored rows (built before
    the clock starts: the decoder and the repository make them) through `commands.match`, `batch`
    messages at a time; the entries accounting consumes."""
    cores = ScopedCores(spread_bps=10, house_size=0)  # a house that never trades, as above
    ref_seq: dict[str, int] = {}
    commands.match(cores, ref_seq, [PriceTick(SYMBOL, from_ticks(10_000), _TS, 1)], {}, {})
    batches: list[tuple[list[commands.Message], dict[uuid.UUID, StoredOrder]]] = []
    for at in range(0, len(messages), batch):
        decoded: list[commands.Message] = []
        rows: dict[uuid.UUID, StoredOrder] = {}
        for op, oid, side, price, qty in messages[at : at + batch]:
            order_id = uuid.UUID(int=oid)
            if op == "C":
                decoded.append(CancelRequest(order_id, order_id, request_id=None))
                continue
            row = _stored(order_id, side, op, price, qty)
            rows[order_id] = row
            decoded.append(NewOrder(to_core_order(row), request_id=None))
        batches.append((decoded, rows))
    delivered: list[Entry] = []
    match = commands.match
    start = clock()
    for decoded, rows in batches:
        delivered += match(cores, ref_seq, decoded, rows, {}).events
    return clock() - start, cores.public, delivered


_TS = "2026-01-05T15:00:00+00:00"


def _stored(order_id: uuid.UUID, side: str, op: str, price: int, qty: int) -> StoredOrder:
    return StoredOrder(
        order_id, order_id, None, SYMBOL, "buy" if side == "B" else "sell",
        "limit" if op == "L" else "market", "gtc" if op == "L" else "ioc", qty,
        from_ticks(price) if op == "L" else None, None, None, 0, None, None, None, 0, 0,
    )  # fmt: skip


def refbook_outcome(book: Any, refbook: ModuleType) -> Outcome:
    return Outcome(
        trades=list(book.fills),
        traded_qty=sum(f[3] for f in book.fills),
        resting_buy=book.resting_qty(refbook.BUY),
        resting_sell=book.resting_qty(refbook.SELL),
    )


def core_outcome(engine: MatchingEngine[int]) -> Outcome:
    """The plain-fields replay's outcome: its fills are RefBook's tuples already."""
    return _outcome(engine, list(engine.fills))


def events_outcome(engine: MatchingEngine[int], delivered: list[list[Event[int]]]) -> Outcome:
    """The event replay's outcome: its `Trade`s as (taker, maker, price, qty)."""
    trades: list[tuple[int, int | None, int, int]] = []
    for events in delivered:
        for e in events:
            if isinstance(e, Trade):
                assert e.buy_order_id is not None and e.sell_order_id is not None
                if e.aggressor is Side.BUY:
                    trades.append((e.buy_order_id, e.sell_order_id, e.price, e.qty))
                else:
                    trades.append((e.sell_order_id, e.buy_order_id, e.price, e.qty))
    return _outcome(engine, trades)


def entries_outcome(engine: MatchingEngine[Any], delivered: list[Entry]) -> Outcome:
    """The engine path's outcome: its `Trade`s with the UUIDs back to the stream's ints."""
    trades: list[tuple[int, int | None, int, int]] = []
    for e in delivered:
        if isinstance(e, Trade):
            assert e.buy_order_id is not None and e.sell_order_id is not None
            buy, sell = e.buy_order_id.int, e.sell_order_id.int
            taker, maker = (buy, sell) if e.aggressor is Side.BUY else (sell, buy)
            trades.append((taker, maker, e.price, e.qty))
    return _outcome(engine, trades)


def _outcome(
    engine: MatchingEngine[Any], trades: list[tuple[int, int | None, int, int]]
) -> Outcome:
    bids, asks = engine.book(SYMBOL).depth(10**9)
    return Outcome(
        trades=trades,
        traded_qty=sum(t[3] for t in trades),
        resting_buy=sum(qty for _, qty, _ in bids),
        resting_sell=sum(qty for _, qty, _ in asks),
    )
