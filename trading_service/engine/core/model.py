"""Orders going into the core and the events coming out of it."""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeAlias

from typing_extensions import TypeVar

# What the caller names orders and accounts with. The core only hashes and compares ids, so the
# service passes its UUIDs (the default) and a benchmark plain ints, which hash much faster.
Id = TypeVar("Id", bound=Hashable, default=uuid.UUID)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


@dataclass(slots=True, eq=False)
class Order(Generic[Id]):
    """An order as the core sees it. `limit`, `stop`, `protection` are in ticks.

    `account_id` decides self-trade prevention: an order never trades with a resting order of
    the same account. Orders compare by identity: the book finds a queued order with a C scan."""

    id: Id
    account_id: Id
    symbol: str
    side: Side
    type: OrderType
    tif: TimeInForce
    qty: int
    limit: int | None = None
    stop: int | None = None
    # Worst price a market order (or a triggered stop) may trade at: a buy never pays more,
    # a sell never receives less. Market buys always carry one so cash cannot go negative.
    protection: int | None = None
    filled: int = 0
    # Time priority: lower is earlier. Assigned by the engine on acceptance; kept on restore.
    priority: int = 0
    # A stop / stop-limit order whose stop price has been crossed (it now acts as market / limit).
    triggered: bool = False

    @property
    def remaining(self) -> int:
        return self.qty - self.filled


# One execution as the plain-fields commands deliver it: (taker order id, maker order id, price,
# qty), the maker None when the house traded. A tuple, not an event object: delivering a fill
# then costs about as much as recording it.
Fill: TypeAlias = tuple[Id, Id | None, int, int]


class OrderRefused(ValueError):
    """A plain-fields command the core cannot accept at all (the event commands answer Rejected).
    Nothing changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- events: what the core did, in the order it did it ------------------------------------
# Read-only by convention, not `frozen`: a frozen dataclass's __init__ sets every field through
# object.__setattr__, ~4x slower, and the engine creates one or more events per order.


@dataclass(slots=True)
class Accepted(Generic[Id]):
    """The order entered the engine (it may fill, rest, or wait for its stop)."""

    order_id: Id
    priority: int


@dataclass(slots=True)
class Trade(Generic[Id]):
    """One execution. A `None` order id means the house took that side."""

    symbol: str
    price: int
    qty: int
    aggressor: Side
    buy_order_id: Id | None
    sell_order_id: Id | None


@dataclass(slots=True)
class Triggered(Generic[Id]):
    """A stop or stop-limit order's stop price was crossed; it is now live."""

    order_id: Id
    priority: int


@dataclass(slots=True)
class Canceled(Generic[Id]):
    """The rest of an order is gone: by request, IOC/FOK remainder, protection price, replace."""

    order_id: Id
    reason: str


@dataclass(slots=True)
class Expired(Generic[Id]):
    """A DAY order reached the end of the trading day."""

    order_id: Id


@dataclass(slots=True)
class Rejected(Generic[Id]):
    order_id: Id
    reason: str


@dataclass(slots=True)
class Replaced(Generic[Id]):
    """An order's qty / limit / stop changed; `priority` is new when time priority was lost."""

    order_id: Id
    qty: int
    limit: int | None
    stop: int | None
    priority: int


Event: TypeAlias = (
    Accepted[Id]
    | Trade[Id]
    | Triggered[Id]
    | Canceled[Id]
    | Expired[Id]
    | Rejected[Id]
    | Replaced[Id]
)
