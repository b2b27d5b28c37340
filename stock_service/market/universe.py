"""The listed symbols: a default set of well-known US stocks, or one given by configuration.

`STOCK_SYMBOLS_FILE` holds a JSON list of listings (`symbol`, `price`, optional `name`, `drift`,
`volatility`); `STOCK_SYMBOLS` ("AAPL:190.00,MSFT" ...) then adds listings or overrides prices.
A known ticker without its own parameters keeps the default name, drift and volatility.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from shared.money import Price

# Uppercase letters and digits, with the share-class separators real tickers use (BRK.B, BF-B).
SYMBOL_PATTERN = r"^[A-Z][A-Z0-9.\-]{0,9}$"
DEFAULT_DRIFT = 0.07
DEFAULT_VOLATILITY = 0.30


@dataclass(frozen=True, slots=True)
class Listing:
    symbol: str
    name: str
    start_price: Decimal
    drift: float  # expected annual log-drift parameter mu
    volatility: float  # annual sigma


def _listing(symbol: str, name: str, price: str, drift: float, volatility: float) -> Listing:
    return Listing(symbol, name, Decimal(price), drift, volatility)


DEFAULT_LISTINGS: tuple[Listing, ...] = (
    _listing("AAPL", "Apple Inc.", "190.00", 0.10, 0.25),
    _listing("MSFT", "Microsoft Corporation", "420.00", 0.10, 0.24),
    _listing("GOOGL", "Alphabet Inc. Class A", "170.00", 0.09, 0.28),
    _listing("AMZN", "Amazon.com, Inc.", "185.00", 0.11, 0.32),
    _listing("NVDA", "NVIDIA Corporation", "120.00", 0.15, 0.50),
    _listing("META", "Meta Platforms, Inc.", "500.00", 0.12, 0.38),
    _listing("TSLA", "Tesla, Inc.", "250.00", 0.08, 0.55),
    _listing("JPM", "JPMorgan Chase & Co.", "200.00", 0.07, 0.22),
    _listing("V", "Visa Inc.", "275.00", 0.08, 0.20),
    _listing("NFLX", "Netflix, Inc.", "650.00", 0.10, 0.40),
    _listing("MA", "Mastercard Incorporated", "460.00", 0.09, 0.21),
    _listing("AMD", "Advanced Micro Devices, Inc.", "160.00", 0.12, 0.52),
    _listing("INTC", "Intel Corporation", "30.00", 0.02, 0.40),
    _listing("DIS", "The Walt Disney Company", "100.00", 0.05, 0.30),
    _listing("KO", "The Coca-Cola Company", "63.00", 0.04, 0.14),
    _listing("PG", "The Procter & Gamble Company", "165.00", 0.05, 0.15),
    _listing("JNJ", "Johnson & Johnson", "155.00", 0.05, 0.16),
    _listing("WMT", "Walmart Inc.", "68.00", 0.06, 0.18),
    _listing("XOM", "Exxon Mobil Corporation", "115.00", 0.05, 0.26),
    _listing("BAC", "Bank of America Corporation", "38.00", 0.06, 0.28),
)
_KNOWN = {listing.symbol: listing for listing in DEFAULT_LISTINGS}

Symbol = Annotated[
    str,
    BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),
    StringConstraints(pattern=SYMBOL_PATTERN),
]


class ListingSpec(BaseModel):
    """One entry of `STOCK_SYMBOLS_FILE`."""

    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    price: Price | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    drift: float | None = Field(default=None, ge=-1.0, le=1.0)
    volatility: float | None = Field(default=None, ge=0.0, le=3.0)

    def to_listing(self) -> Listing:
        known = _KNOWN.get(self.symbol)
        if known is None:
            if self.price is None:
                raise ValueError(f"{self.symbol}: an unknown symbol needs a starting price")
            known = Listing(self.symbol, self.symbol, self.price, DEFAULT_DRIFT, DEFAULT_VOLATILITY)
        return Listing(
            symbol=self.symbol,
            name=self.name or known.name,
            start_price=known.start_price if self.price is None else self.price,
            drift=known.drift if self.drift is None else self.drift,
            volatility=known.volatility if self.volatility is None else self.volatility,
        )


_SPECS = TypeAdapter(list[ListingSpec])


def parse_symbols(text: str) -> list[ListingSpec]:
    """`"AAPL:190.00,MSFT,ACME:12.5"` -> specs; a price may be left out for a known ticker."""
    specs = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        symbol, _, price = entry.partition(":")
        specs.append({"symbol": symbol, "price": price.strip() or None})
    return _SPECS.validate_python(specs)


def _merge(*sources: Iterable[ListingSpec]) -> tuple[Listing, ...]:
    merged: dict[str, Listing] = {}
    for source in sources:
        seen: set[str] = set()
        for spec in source:
            if spec.symbol in seen:
                raise ValueError(f"{spec.symbol} is listed twice")
            seen.add(spec.symbol)
            earlier = merged.get(spec.symbol)
            if earlier is not None and spec.price is not None:
                # A later source only overrides the price of a listing an earlier one described.
                merged[spec.symbol] = replace(earlier, start_price=spec.price)
            elif earlier is None:
                merged[spec.symbol] = spec.to_listing()
    return tuple(merged.values())


def load_universe(
    symbols: str | None = None, symbols_file: Path | None = None
) -> tuple[Listing, ...]:
    """The configured listings, or the defaults; raises ValueError on a bad configuration."""
    sources: list[list[ListingSpec]] = []
    try:
        if symbols_file is not None:
            sources.append(_SPECS.validate_json(symbols_file.read_bytes()))
        if symbols is not None and symbols.strip():
            sources.append(parse_symbols(symbols))
    except ValidationError as exc:
        raise ValueError(f"invalid symbol configuration: {exc}") from exc
    except OSError as exc:
        raise ValueError(f"cannot read STOCK_SYMBOLS_FILE {symbols_file}: {exc}") from exc
    if not sources:
        return DEFAULT_LISTINGS
    listings = _merge(*sources)
    if not listings:
        raise ValueError("the symbol configuration lists no symbols")
    return listings
