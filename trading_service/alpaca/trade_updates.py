"""Alpaca trade_updates events from the engine's execution reports (pure, no I/O).

The engine publishes one report per committed batch: the orders it touched (id, account,
status, filled_qty, replace_seq) and the fills. An order's events are derived from the report
and what this process already told about it (`Seen`): Alpaca's `new` once, `replaced` when a
replace settles, `partial_fill`/`fill` per fill, then `canceled`/`expired`/`rejected`.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass

from trading_service.messages import FillReport, OrderReport

TERMINAL_EVENTS = {"canceled": "canceled", "expired": "expired", "rejected": "rejected"}
# Stable execution ids: the same fill has the same id on every replica.
_EXECUTION_NAMESPACE = uuid.UUID("5c0f6d0e-2b8a-4f4e-9a4b-5e1f0d6c7a21")


@dataclass(frozen=True, slots=True)
class Event:
    """One trade update before the order is rendered: `order_id` is read back for `order`."""

    event: str
    order_id: uuid.UUID
    timestamp: str | None = None  # of the fill; other events take the order's updated_at
    price: str | None = None
    qty: int | None = None
    side: str | None = None
    symbol: str | None = None
    execution_id: uuid.UUID | None = None


@dataclass(slots=True)
class Known:
    status: str
    replace_seq: int


class Seen:
    """What this process has already announced per order (bounded: the oldest are forgotten)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._orders: OrderedDict[uuid.UUID, Known] = OrderedDict()

    def get(self, order_id: uuid.UUID) -> Known | None:
        return self._orders.get(order_id)

    def put(self, order_id: uuid.UUID, known: Known) -> None:
        self._orders[order_id] = known
        self._orders.move_to_end(order_id)
        while len(self._orders) > self.capacity:
            self._orders.popitem(last=False)


def events_of(report: OrderReport, fills: list[FillReport], seen: Seen) -> list[Event]:
    """The events of one order's report, in Alpaca's order; updates `seen`."""
    order_id = report.id
    status = report.status
    replace_seq = report.replace_seq
    filled_now = sum(f.qty for f in fills)
    filled_before = report.filled_qty - filled_now
    known = seen.get(order_id)
    events: list[Event] = []
    if known is None:
        # First report this process sees: the engine's acceptance, unless the order had
        # already traded or been replaced before anyone listened.
        if status != "rejected" and filled_before == 0 and replace_seq == 0:
            events.append(Event("new", order_id))
    elif replace_seq > known.replace_seq:
        events.append(Event("replaced", order_id))
    cumulative = filled_before
    for fill in fills:
        cumulative += fill.qty
        kind = "fill" if cumulative == report.filled_qty and status == "filled" else None
        events.append(
            Event(
                kind or "partial_fill",
                order_id,
                timestamp=fill.ts.isoformat(),
                price=f"{fill.price:.2f}",
                qty=fill.qty,
                side=fill.side,
                symbol=fill.symbol,
                execution_id=uuid.uuid5(_EXECUTION_NAMESPACE, f"{order_id}:{cumulative}"),
            )
        )
    terminal = TERMINAL_EVENTS.get(status)
    if terminal is not None and (known is None or known.status != status):
        events.append(Event(terminal, order_id))
    seen.put(order_id, Known(status, replace_seq))
    return events
