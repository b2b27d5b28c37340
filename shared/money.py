"""Exact money: Decimal at the edges, integer ticks (cents) inside the engine. Never float."""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

TICK = Decimal("0.01")
TICKS_PER_UNIT = 100
# Largest price and notional we accept: far beyond any real stock, far inside NUMERIC(20, 2).
MAX_PRICE = Decimal("1000000")
MAX_QTY = 1_000_000


def to_ticks(price: Decimal) -> int:
    """An on-tick price as integer cents; raises ValueError when off the 0.01 grid."""
    scaled = price * TICKS_PER_UNIT
    if scaled != scaled.to_integral_value():
        raise ValueError(f"price {price} is not a multiple of the tick {TICK}")
    return int(scaled)


def from_ticks(ticks: int) -> Decimal:
    return (Decimal(ticks) / TICKS_PER_UNIT).quantize(TICK)


def round_money(amount: Decimal) -> Decimal:
    return amount.quantize(TICK, rounding=ROUND_HALF_EVEN)


def ticks_up(price: Decimal) -> int:
    """Round a price up to the tick grid (for buy-side protection prices)."""
    return int((price * TICKS_PER_UNIT).to_integral_value(rounding=ROUND_CEILING))


def ticks_down(price: Decimal) -> int:
    return int((price * TICKS_PER_UNIT).to_integral_value(rounding=ROUND_FLOOR))


def fmt(amount: Decimal) -> str:
    """Money as a plain 2-place string: never exponent notation, never '-0.00'."""
    q = round_money(amount)
    if q == 0:
        q = Decimal("0.00")
    return f"{q:.2f}"


# ASCII digits only: `\d` and Decimal() also take fullwidth, Arabic-Indic, Devanagari... digits.
# A client's string may not use an exponent (the documented pattern has none); a float's repr may.
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
_DECIMAL_REPR = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def _parse_price(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be a decimal number or a string holding one")
    # A float has already lost exactness; its shortest repr is what the client wrote.
    text = repr(value) if isinstance(value, float) else str(value).strip()
    # Decimal() also takes "1_000", "Infinity", "NaN" and non-ASCII digits: accept only plain
    # ASCII decimal literals.
    literal = _PLAIN_DECIMAL if isinstance(value, str) else _DECIMAL_REPR
    if not literal.fullmatch(text):
        raise ValueError(f"{text[:40]!r} is not a decimal number")
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None
    if not price.is_finite():
        raise ValueError("must be a finite number")
    if price <= 0:
        raise ValueError("must be greater than 0")
    if price > MAX_PRICE:
        raise ValueError(f"must be at most {MAX_PRICE}")
    if price != price.quantize(TICK, rounding=ROUND_HALF_EVEN):
        raise ValueError(f"must be a multiple of the tick {TICK}")
    return price.quantize(TICK)


# A price in a request: a JSON number or string, positive, on the 0.01 tick.
Price = Annotated[
    Decimal,
    BeforeValidator(_parse_price),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"},
                {"type": "number"},
            ],
            "examples": ["187.25"],
        },
        mode="validation",
    ),
]

# Money or a price in a response: always a 2-place decimal string.
Money = Annotated[
    Decimal,
    PlainSerializer(fmt, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "examples": ["1234.50"]},
        mode="serialization",
    ),
]
