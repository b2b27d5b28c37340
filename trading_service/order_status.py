"""An order's status as stored in `orders.status` (its CHECK constraint lists the same values).

Here, outside both the API's and the engine's folders, so both import it and the engine needs
none of the API's modules.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"


# Tuples, not sets: they also go into SQL `IN (...)` lists, whose order should not vary.
# Open: the order may still trade (it holds a reservation); terminal: it never changes again.
OPEN: tuple[OrderStatus, ...] = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
TERMINAL: tuple[OrderStatus, ...] = (
    OrderStatus.FILLED,
    OrderStatus.CANCELED,
    OrderStatus.EXPIRED,
    OrderStatus.REJECTED,
)


def sql_list(statuses: tuple[OrderStatus, ...]) -> str:
    """`('new', 'partially_filled')`: statuses for an `IN` of SQL text (the audit, the soak)."""
    return "(" + ", ".join(f"'{status.value}'" for status in statuses) + ")"
