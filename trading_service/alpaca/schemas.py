"""Alpaca's shapes (Trading API v2) as alpaca-py's models read them; money and quantities
as strings. Fields this exchange has no use for carry Alpaca's neutral value (docs/alpaca.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
)

from trading_service.orders.schemas import CLIENT_ORDER_ID_PATTERN

Decimalish = Annotated[
    StrictStr | StrictInt | StrictFloat | None,
    Field(description="A number or a string holding one (Alpaca's SDK sends floats)"),
]


class OrderRequest(BaseModel):
    """`POST /v2/orders` as Alpaca's SDK sends it. What we do not offer is refused by name."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "symbol": "AAPL",
                    "qty": 10,
                    "side": "buy",
                    "type": "market",
                    "time_in_force": "day",
                }
            ]
        },
    )

    symbol: Annotated[str, StringConstraints(min_length=1, max_length=10, pattern=r"^[A-Za-z.]+$")]
    qty: Decimalish = None
    notional: Decimalish = None
    side: Literal["buy", "sell"]
    type: Literal["market", "limit", "stop", "stop_limit", "trailing_stop"]
    time_in_force: Literal["day", "gtc", "opg", "cls", "ioc", "fok"]
    limit_price: Decimalish = None
    stop_price: Decimalish = None
    trail_price: Decimalish = None
    trail_percent: Decimalish = None
    extended_hours: bool | None = None
    client_order_id: (
        Annotated[
            str, StringConstraints(min_length=1, max_length=64, pattern=CLIENT_ORDER_ID_PATTERN)
        ]
        | None
    ) = None
    order_class: Literal["simple", "bracket", "oco", "oto", "mleg", ""] | None = None
    take_profit: dict[str, Any] | None = None
    stop_loss: dict[str, Any] | None = None
    position_intent: str | None = Field(default=None, max_length=32)


class ReplaceRequest(BaseModel):
    """`PATCH /v2/orders/{id}`: the new order's fields; the rest are taken from the old one."""

    model_config = ConfigDict(extra="ignore")

    qty: Decimalish = None
    time_in_force: Literal["day", "gtc", "opg", "cls", "ioc", "fok"] | None = None
    limit_price: Decimalish = None
    stop_price: Decimalish = None
    trail: Decimalish = None
    client_order_id: (
        Annotated[
            str, StringConstraints(min_length=1, max_length=64, pattern=CLIENT_ORDER_ID_PATTERN)
        ]
        | None
    ) = None


class OrderOut(BaseModel):
    id: uuid.UUID
    client_order_id: str
    created_at: datetime
    updated_at: datetime | None
    submitted_at: datetime
    filled_at: datetime | None
    expired_at: datetime | None
    canceled_at: datetime | None
    failed_at: datetime | None
    replaced_at: datetime | None
    replaced_by: uuid.UUID | None
    replaces: uuid.UUID | None
    asset_id: uuid.UUID
    symbol: str
    asset_class: Literal["us_equity"] = "us_equity"
    notional: str | None = None
    qty: str
    filled_qty: str
    filled_avg_price: str | None
    order_class: Literal["simple"] = "simple"
    order_type: str
    type: str
    side: str
    time_in_force: str
    limit_price: str | None
    stop_price: str | None
    status: str = Field(
        description="new, accepted, partially_filled, filled, canceled, expired, rejected, "
        "replaced or pending_cancel"
    )
    extended_hours: bool = False
    legs: list[OrderOut] | None = None
    trail_percent: str | None = None
    trail_price: str | None = None
    hwm: str | None = None
    position_intent: str | None = None


class CancelStatusOut(BaseModel):
    """One entry of `DELETE /v2/orders` (207): the order and how its cancel went."""

    id: uuid.UUID
    status: int
    body: OrderOut | dict[str, Any] | None = None


class AccountOut(BaseModel):
    id: uuid.UUID
    account_number: str
    status: Literal["ACTIVE"] = "ACTIVE"
    crypto_status: str | None = None
    currency: Literal["USD"] = "USD"
    buying_power: str
    regt_buying_power: str
    daytrading_buying_power: str
    non_marginable_buying_power: str
    effective_buying_power: str
    cash: str
    accrued_fees: str = "0"
    pending_transfer_in: str | None = None
    pending_transfer_out: str | None = None
    portfolio_value: str
    pattern_day_trader: bool = False
    trading_blocked: bool = False
    transfers_blocked: bool = True
    account_blocked: bool = False
    created_at: datetime
    trade_suspended_by_user: bool = False
    multiplier: str = "1"
    shorting_enabled: bool = False
    equity: str
    last_equity: str
    long_market_value: str
    short_market_value: str = "0"
    position_market_value: str
    initial_margin: str = "0"
    maintenance_margin: str = "0"
    last_maintenance_margin: str = "0"
    sma: str = "0"
    daytrade_count: int = 0
    balance_asof: str
    crypto_tier: int | None = None
    options_buying_power: str | None = None
    options_approved_level: int | None = None
    options_trading_level: int | None = None


class AssetOut(BaseModel):
    id: uuid.UUID
    class_: Literal["us_equity"] = Field(default="us_equity", alias="class")
    exchange: str = "OTC"
    symbol: str
    name: str
    status: Literal["active"] = "active"
    tradable: bool = True
    marginable: bool = False
    shortable: bool = False
    easy_to_borrow: bool = False
    fractionable: bool = False
    maintenance_margin_requirement: float | None = None
    margin_requirement_long: str | None = None
    margin_requirement_short: str | None = None
    attributes: list[str] = Field(default_factory=list)

    model_config = ConfigDict(populate_by_name=True)


class PositionOut(BaseModel):
    asset_id: uuid.UUID
    symbol: str
    exchange: str = "OTC"
    asset_class: Literal["us_equity"] = "us_equity"
    asset_marginable: bool = False
    avg_entry_price: str
    qty: str
    qty_available: str
    side: Literal["long"] = "long"
    market_value: str | None
    cost_basis: str
    unrealized_pl: str | None
    unrealized_plpc: str | None
    unrealized_intraday_pl: str | None
    unrealized_intraday_plpc: str | None
    current_price: str | None
    lastday_price: str | None
    change_today: str | None


class ClosePositionOut(BaseModel):
    """One entry of `DELETE /v2/positions` (207)."""

    order_id: uuid.UUID | None
    symbol: str
    status: int
    body: OrderOut | dict[str, Any]


class FillActivityOut(BaseModel):
    id: str
    activity_type: Literal["FILL"] = "FILL"
    transaction_time: datetime
    type: Literal["fill", "partial_fill"]
    price: str
    qty: str
    side: str
    symbol: str
    leaves_qty: str
    order_id: uuid.UUID
    cum_qty: str
    order_status: str


class ClockOut(BaseModel):
    timestamp: str
    is_open: bool
    next_open: str
    next_close: str


class CalendarDayOut(BaseModel):
    date: str
    open: str
    close: str
    session_open: str
    session_close: str
    settlement_date: str
