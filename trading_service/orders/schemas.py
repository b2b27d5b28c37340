"""Order requests and the order shape every client relies on."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.money import MAX_QTY, Money, Price
from trading_service.engine.core.model import OrderType, Side, TimeInForce

# Patterns also guard path and query parameters: PostgreSQL refuses text holding a NUL (a 500).
SYMBOL_PATTERN = r"^[A-Za-z][A-Za-z.]{0,9}$"
CLIENT_ORDER_ID_PATTERN = r"^[\x21-\x7e]+$"

Symbol = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=SYMBOL_PATTERN),
    Field(description="Ticker symbol, e.g. AAPL (case-insensitive).", examples=["AAPL"]),
]
Quantity = Annotated[
    int, Field(strict=True, gt=0, le=MAX_QTY, description="Whole shares.", examples=[10])
]
ClientOrderId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=CLIENT_ORDER_ID_PATTERN),
    Field(description="Your own id for the order; sending it again returns the same order."),
]


class TradeRequest(BaseModel):
    """The seed's market order body: `POST /trade/buy` and `POST /trade/sell`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"stock_symbol": "AAPL", "quantity": 10}]},
    )

    stock_symbol: Symbol
    quantity: Quantity

    def market_order(self, side: Side) -> OrderRequest:
        """The order `/trade/buy` or `/trade/sell` places for this body."""
        return OrderRequest(
            symbol=self.stock_symbol, qty=self.quantity, side=side, type=OrderType.MARKET
        )


class OrderRequest(BaseModel):
    """A new order of any type: `POST /orders`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"symbol": "AAPL", "qty": 10, "side": "buy", "type": "market"},
                {
                    "symbol": "AAPL",
                    "qty": 5,
                    "side": "buy",
                    "type": "limit",
                    "time_in_force": "gtc",
                    "limit_price": "180.50",
                    "client_order_id": "my-1",
                },
                {
                    "symbol": "MSFT",
                    "qty": 3,
                    "side": "sell",
                    "type": "stop",
                    "stop_price": "400.00",
                },
            ]
        },
    )

    symbol: Symbol
    qty: Quantity
    side: Side
    type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: Price | None = None
    stop_price: Price | None = None
    client_order_id: ClientOrderId | None = None

    @model_validator(mode="after")
    def _prices_match_type(self) -> OrderRequest:
        needs_limit = self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_limit and self.limit_price is None:
            raise ValueError(f"a {self.type} order needs limit_price")
        if not needs_limit and self.limit_price is not None:
            raise ValueError(f"a {self.type} order takes no limit_price")
        if needs_stop and self.stop_price is None:
            raise ValueError(f"a {self.type} order needs stop_price")
        if not needs_stop and self.stop_price is not None:
            raise ValueError(f"a {self.type} order takes no stop_price")
        return self


class ReplaceOrderRequest(BaseModel):
    """`PATCH /orders/{id}`: a new qty and/or prices. A price change or a larger qty loses
    time priority."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"qty": 8, "limit_price": "181.00"}]}
    )

    qty: Quantity | None = None
    limit_price: Price | None = None
    stop_price: Price | None = None

    @model_validator(mode="after")
    def _something_changes(self) -> ReplaceOrderRequest:
        if self.qty is None and self.limit_price is None and self.stop_price is None:
            raise ValueError("give at least one of qty, limit_price, stop_price")
        return self


class FillOut(BaseModel):
    price: Money
    qty: int
    ts: datetime


class OrderOut(BaseModel):
    """An order with its fills. Money and prices are decimal strings."""

    id: uuid.UUID
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    qty: int
    limit_price: Money | None
    stop_price: Money | None
    status: str = Field(
        description="new, partially_filled, filled, canceled, expired or rejected",
        examples=["filled"],
    )
    filled_qty: int
    filled_avg_price: Money | None
    reject_reason: str | None = Field(
        description="Why the order was rejected or why its rest was canceled."
    )
    created_at: datetime
    updated_at: datetime
    fills: list[FillOut]


class TradeOut(BaseModel):
    """One of your fills."""

    id: int
    order_id: uuid.UUID
    symbol: str
    side: Side
    price: Money
    qty: int
    liquidity: str = Field(description="maker (your order rested) or taker", examples=["taker"])
    ts: datetime = Field(description="When it filled, wall time (UTC)")
    market_time: datetime = Field(
        description="When it filled on the market clock (GET /clock), in the market zone: the "
        "time axis of GET /candles, so the fill belongs to the bar whose span holds it"
    )


def avg_price(notional: Decimal, qty: int) -> Decimal | None:
    return None if qty == 0 else notional / qty
